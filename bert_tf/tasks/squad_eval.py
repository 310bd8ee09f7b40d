"""SQuAD v1.1 and v2.0 evaluation (exact match and F1).

Computes the same numbers as the official evaluation scripts of SQuAD v1.1
and v2.0:

  * answers are normalised by lower-casing, removing ASCII punctuation
    (`string.punctuation`), removing the articles "a", "an", "the" and
    collapsing whitespace;
  * exact match compares normalised strings; F1 is the harmonic mean of the
    precision and recall of the normalised tokens (a multiset overlap);
  * a question's score is the maximum over its gold answers, and the totals
    are percentages over all questions.

SQuAD 2.0 adds unanswerable questions: gold answers that normalise to ""
are dropped (a question left with none has the single gold answer ""), F1
of two empty answers is 1, and results are also broken down into HasAns /
NoAns. With no-answer probabilities (`na_probs`) a question is predicted
unanswerable when its probability exceeds `na_prob_thresh`, and the best
threshold for exact match and for F1 is searched.

A question without a prediction scores 0 (the official v1.1 script does the
same; the v2.0 script crashes) and is reported through a warning.

Usage (the official scripts' command line; absl flags of its own):
  python -m bert_tf.tasks.squad_eval DATA_FILE PRED_FILE \\
      [--na-prob-file NA_PROB_FILE] [--na-prob-thresh T] [--version_2] \\
      [--out-file OUT_FILE]
"""

import collections
import json
import logging
import re
import string
import sys

from absl import flags

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES_RE = re.compile(r"\b(a|an|the)\b", re.UNICODE)

logger = logging.getLogger(__name__)


def normalize_answer(s):
  """Lower-cases, drops punctuation and articles, and collapses whitespace."""
  s = s.lower()
  s = "".join(ch for ch in s if ch not in _PUNCTUATION)
  s = _ARTICLES_RE.sub(" ", s)
  return " ".join(s.split())


def _tokens(s):
  return normalize_answer(s).split() if s else []


def exact_match_score(prediction, ground_truth):
  """1 if the normalised strings are equal, else 0."""
  return int(normalize_answer(prediction) == normalize_answer(ground_truth))


def f1_score(prediction, ground_truth, version_2=False):
  """Token-level F1 between a prediction and one gold answer.

  Args:
    prediction: str.
    ground_truth: str.
    version_2: SQuAD 2.0 rule: when either side has no tokens after
      normalisation, F1 is 1 if both are empty and 0 otherwise. (The v1.1
      rule gives 0 whenever nothing overlaps.)

  Returns:
    float in [0, 1].
  """
  prediction_tokens = _tokens(prediction)
  ground_truth_tokens = _tokens(ground_truth)
  if version_2 and (not prediction_tokens or not ground_truth_tokens):
    return float(prediction_tokens == ground_truth_tokens)
  common = (collections.Counter(prediction_tokens) &
            collections.Counter(ground_truth_tokens))
  num_same = sum(common.values())
  if num_same == 0:
    return 0.0
  precision = num_same / len(prediction_tokens)
  recall = num_same / len(ground_truth_tokens)
  return 2 * precision * recall / (precision + recall)


def metric_max_over_ground_truths(metric_fn, prediction, ground_truths):
  """The best score of `prediction` against any of `ground_truths`."""
  return max(metric_fn(prediction, gt) for gt in ground_truths)


def _articles(dataset):
  """Accepts the whole SQuAD JSON object or its "data" list."""
  if isinstance(dataset, dict):
    if "data" not in dataset:
      raise ValueError("SQuAD dataset object has no 'data' field")
    dataset = dataset["data"]
  if not isinstance(dataset, list):
    raise ValueError("SQuAD dataset should be a list of articles, found %s" %
                     type(dataset).__name__)
  return dataset


def _iter_qas(dataset):
  """Yields (qas_id, list of gold answer texts) for every question."""
  for article_index, article in enumerate(_articles(dataset)):
    for paragraph_index, paragraph in enumerate(article["paragraphs"]):
      for qa_index, qa in enumerate(paragraph["qas"]):
        where = "data[%d].paragraphs[%d].qas[%d]" % (
            article_index, paragraph_index, qa_index)
        if "id" not in qa:
          raise ValueError("%s: missing field 'id'" % where)
        if "answers" not in qa:
          raise ValueError("%s (question id %r): missing field 'answers'" %
                           (where, qa["id"]))
        yield qa["id"], [answer["text"] for answer in qa["answers"]]


def _report_missing(missing):
  if missing:
    logger.warning(
        "%d question(s) have no prediction and score 0: %s%s", len(missing),
        ", ".join(str(q) for q in missing[:20]),
        " ..." if len(missing) > 20 else "")


def evaluate_v1(dataset, predictions):
  """SQuAD v1.1 exact match and F1.

  Args:
    dataset: the SQuAD JSON object or its "data" list.
    predictions: dict qas_id -> predicted answer text.

  Returns:
    {"exact_match": float, "f1": float}, percentages over all questions.
  """
  exact_match = 0.0
  f1 = 0.0
  total = 0
  missing = []
  for qas_id, ground_truths in _iter_qas(dataset):
    total += 1
    if qas_id not in predictions:
      missing.append(qas_id)
      continue
    if not ground_truths:
      raise ValueError(
          "Question %s has no gold answers; SQuAD v1.1 evaluation needs at "
          "least one (use the v2.0 evaluation for unanswerable questions)" %
          qas_id)
    prediction = _check_prediction(qas_id, predictions[qas_id])
    exact_match += metric_max_over_ground_truths(exact_match_score,
                                                 prediction, ground_truths)
    f1 += metric_max_over_ground_truths(f1_score, prediction, ground_truths)
  _report_missing(missing)
  if total == 0:
    raise ValueError("The SQuAD dataset has no questions")
  return {"exact_match": 100.0 * exact_match / total,
          "f1": 100.0 * f1 / total}


def _check_prediction(qas_id, prediction):
  if not isinstance(prediction, str):
    raise ValueError("The prediction for question %s should be a string, "
                     "found %r" % (qas_id, prediction))
  return prediction


def _v2_raw_scores(dataset, predictions):
  """Per-question (exact, f1) before thresholding, and has-answer flags."""
  exact_scores = collections.OrderedDict()
  f1_scores = collections.OrderedDict()
  has_answer = collections.OrderedDict()
  missing = []
  for qas_id, answers in _iter_qas(dataset):
    has_answer[qas_id] = bool(answers)
    gold_answers = [a for a in answers if normalize_answer(a)]
    if not gold_answers:
      gold_answers = [""]
    if qas_id not in predictions:
      missing.append(qas_id)
      exact_scores[qas_id] = 0.0
      f1_scores[qas_id] = 0.0
      continue
    prediction = _check_prediction(qas_id, predictions[qas_id])
    exact_scores[qas_id] = float(max(
        exact_match_score(prediction, a) for a in gold_answers))
    f1_scores[qas_id] = max(
        f1_score(prediction, a, version_2=True) for a in gold_answers)
  _report_missing(missing)
  return exact_scores, f1_scores, has_answer, set(missing)


def _apply_no_answer_threshold(scores, na_probs, has_answer, na_prob_thresh,
                               missing):
  new_scores = collections.OrderedDict()
  for qas_id, score in scores.items():
    if qas_id not in missing and na_probs[qas_id] > na_prob_thresh:
      new_scores[qas_id] = float(not has_answer[qas_id])
    else:
      new_scores[qas_id] = score
  return new_scores


def _mean_percent(scores, qas_ids):
  return 100.0 * sum(scores[q] for q in qas_ids) / len(qas_ids)


def _find_best_threshold(predictions, scores, na_probs, has_answer, missing):
  """Best total score (percent) over no-answer thresholds, and the threshold.

  Starting from "every question predicted unanswerable" (the threshold below
  every probability), questions switch to their own prediction in order of
  increasing no-answer probability; the running score is tracked and the
  probability at which it peaks is the best threshold.
  """
  current = sum(1 for q, has in has_answer.items()
                if not has and q not in missing)
  best_score = current
  best_thresh = 0.0
  for qas_id in sorted(na_probs, key=lambda k: na_probs[k]):
    if qas_id not in scores or qas_id in missing:
      continue
    if has_answer[qas_id]:
      diff = scores[qas_id]
    else:
      diff = -1 if predictions[qas_id] else 0
    current += diff
    if current > best_score:
      best_score = current
      best_thresh = na_probs[qas_id]
  return 100.0 * best_score / len(scores), best_thresh


def evaluate_v2(dataset, predictions, na_probs=None, na_prob_thresh=1.0):
  """SQuAD v2.0 metrics, as the official v2.0 script computes them.

  Args:
    dataset: the SQuAD JSON object or its "data" list.
    predictions: dict qas_id -> predicted answer text ("" for no answer).
    na_probs: optional dict qas_id -> no-answer probability (or any score
      where larger means "more likely unanswerable", such as the null odds
      written by `squad.write_predictions`). When given, the best
      thresholds are searched too.
    na_prob_thresh: float, questions with na_prob above it are predicted
      unanswerable.

  Returns:
    OrderedDict with "exact", "f1", "total"; "HasAns_exact", "HasAns_f1",
    "HasAns_total" if there are answerable questions; "NoAns_exact",
    "NoAns_f1", "NoAns_total" if there are unanswerable ones; and with
    `na_probs` "best_exact", "best_exact_thresh", "best_f1",
    "best_f1_thresh".

  Raises:
    ValueError: if `na_probs` lacks a question that has a prediction.
  """
  exact_raw, f1_raw, has_answer, missing = _v2_raw_scores(dataset,
                                                          predictions)
  if not has_answer:
    raise ValueError("The SQuAD dataset has no questions")
  given_na_probs = na_probs is not None
  if not given_na_probs:
    na_probs = {q: 0.0 for q in predictions}
  lacking = [q for q in has_answer if q not in missing and q not in na_probs]
  if lacking:
    raise ValueError(
        "The no-answer probabilities lack %d question(s) that have a "
        "prediction: %s" % (len(lacking), ", ".join(map(str, lacking[:20]))))

  not_numbers = [q for q in has_answer
                 if q not in missing and (isinstance(na_probs[q], bool) or
                                          not isinstance(na_probs[q],
                                                         (int, float)))]
  if not_numbers:
    raise ValueError(
        "No-answer probabilities must be numbers; question %s has %r" %
        (not_numbers[0], na_probs[not_numbers[0]]))

  exact_thresh = _apply_no_answer_threshold(exact_raw, na_probs, has_answer,
                                            na_prob_thresh, missing)
  f1_thresh = _apply_no_answer_threshold(f1_raw, na_probs, has_answer,
                                         na_prob_thresh, missing)
  all_ids = list(has_answer)
  out = collections.OrderedDict()
  out["exact"] = _mean_percent(exact_thresh, all_ids)
  out["f1"] = _mean_percent(f1_thresh, all_ids)
  out["total"] = len(all_ids)
  for prefix, wanted in (("HasAns", True), ("NoAns", False)):
    ids = [q for q in all_ids if has_answer[q] == wanted]
    if ids:
      out[prefix + "_exact"] = _mean_percent(exact_thresh, ids)
      out[prefix + "_f1"] = _mean_percent(f1_thresh, ids)
      out[prefix + "_total"] = len(ids)
  if given_na_probs:
    best_exact, best_exact_thresh = _find_best_threshold(
        predictions, exact_raw, na_probs, has_answer, missing)
    best_f1, best_f1_thresh = _find_best_threshold(
        predictions, f1_raw, na_probs, has_answer, missing)
    out["best_exact"] = best_exact
    out["best_exact_thresh"] = best_exact_thresh
    out["best_f1"] = best_f1
    out["best_f1_thresh"] = best_f1_thresh
  return out


def _read_json(path, what):
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  if not tf.io.gfile.exists(path):
    raise FileNotFoundError("%s not found: %s" % (what, path))
  with tf.io.gfile.GFile(path, "r") as f:
    try:
      return json.load(f)
    except ValueError as e:
      raise ValueError("%s %s is not valid JSON: %s" % (what, path, e))


def evaluate_file(data_file, prediction_file, na_prob_file=None,
                  version_2=False, output_file=None, na_prob_thresh=1.0):
  """Evaluates a predictions JSON file against a SQuAD data file.

  Args:
    data_file: path of the SQuAD JSON (with gold answers).
    prediction_file: path of a JSON object qas_id -> answer text.
    na_prob_file: optional path of a JSON object qas_id -> no-answer
      probability (SQuAD 2.0 only).
    version_2: use the SQuAD 2.0 metrics.
    output_file: optional path; the metrics are written there as JSON
      (atomically).
    na_prob_thresh: float, SQuAD 2.0 no-answer threshold.

  Returns:
    The metrics dict of `evaluate_v1` or `evaluate_v2`.
  """
  dataset = _read_json(data_file, "SQuAD data file")
  predictions = _read_json(prediction_file, "Prediction file")
  if not isinstance(predictions, dict):
    raise ValueError("Prediction file %s should hold a JSON object "
                     "qas_id -> answer" % prediction_file)
  if version_2:
    na_probs = None
    if na_prob_file:
      na_probs = _read_json(na_prob_file, "No-answer probability file")
    result = evaluate_v2(dataset, predictions, na_probs, na_prob_thresh)
  else:
    if na_prob_file:
      raise ValueError("na_prob_file is only used with version_2=True")
    version = dataset.get("version") if isinstance(dataset, dict) else None
    if version is not None and version != "1.1":
      logger.warning("Evaluation expects SQuAD v1.1, but %s has version %s",
                     data_file, version)
    result = evaluate_v1(dataset, predictions)
  if output_file:
    from bert_tf import input_pipeline  # pylint: disable=g-import-not-at-top
    input_pipeline.atomic_write_text(output_file,
                                     json.dumps(result, indent=2) + "\n")
  return result


_PROG = "python -m bert_tf.tasks.squad_eval"
_USAGE = ("usage: %s DATA_FILE PRED_FILE [--na-prob-file NA_PROB_FILE] "
          "[--na-prob-thresh T] [--version_2] [--out-file OUT_FILE]" % _PROG)


def _cli_flags():
  """A fresh `flags.FlagValues` with the command line's flags: the official
  scripts' names (`--na-prob-file`, `-n`, ...) and their snake_case forms."""
  values = flags.FlagValues()
  flags.DEFINE_string("na_prob_file", None,
                      "JSON object qas_id -> no-answer probability "
                      "(SQuAD 2.0).", short_name="n", flag_values=values)
  flags.DEFINE_float("na_prob_thresh", 1.0,
                     "Predict no answer when na_prob is above this "
                     "(SQuAD 2.0).", short_name="t", flag_values=values)
  flags.DEFINE_bool("version_2", False, "Use the SQuAD 2.0 metrics.",
                    flag_values=values)
  flags.DEFINE_string("out_file", None, "Also write the metrics JSON here.",
                      short_name="o", flag_values=values)
  for name in ("na_prob_file", "na_prob_thresh", "version_2", "out_file"):
    flags.DEFINE_alias(name.replace("_", "-"), name, flag_values=values)
  return values


def main(argv=None):
  """Evaluates DATA_FILE PRED_FILE; returns the process exit status.

  Args:
    argv: the arguments after the program name (default: sys.argv[1:]).
  """
  argv = sys.argv[1:] if argv is None else list(argv)
  values = _cli_flags()
  if set(argv) & {"-h", "--help", "--helpfull"}:
    print("%s\n\nEvaluate SQuAD v1.1 / v2.0 predictions (EM and F1).\n"
          "DATA_FILE: SQuAD JSON file with gold answers; PRED_FILE: JSON "
          "object qas_id -> answer.\n\n%s" % (
              _USAGE, values.get_help(include_special_flags=False)))
    return 0
  try:
    positional = values([_PROG] + argv)[1:]
    if len(positional) != 2:
      raise flags.Error("expected DATA_FILE PRED_FILE, got %d argument(s)"
                        % len(positional))
  except flags.Error as e:
    print("%s\nerror: %s" % (_USAGE, e), file=sys.stderr)
    return 2
  logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
  try:
    result = evaluate_file(positional[0], positional[1], values.na_prob_file,
                           version_2=values.version_2,
                           output_file=values.out_file,
                           na_prob_thresh=values.na_prob_thresh)
  except (OSError, ValueError) as e:
    print("error: %s" % e, file=sys.stderr)
    return 2
  print(json.dumps(result, indent=2))
  return 0


if __name__ == "__main__":
  sys.exit(main())

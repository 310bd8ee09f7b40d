"""SQuAD 1.1 / 2.0 fine-tuning and prediction driver (what run_squad.py calls).

`SquadTask` is the plug-in of `bert_tf.driver`.

Data flow: `squad.read_squad_examples` -> `squad.convert_examples_to_features`
(windows over long contexts) -> `squad.FeatureWriter` TFRecords ->
Estimator(`model_fn_builder` with a `SpanHead`) -> `squad.write_predictions`
(`predictions.json`, `nbest_predictions.json`, `null_odds.json`) ->
optionally `squad_eval` (`eval_results.json`), and a SavedModel export.
"""

import dataclasses
import hashlib
import json
import os
import random
import time
from typing import Optional

import tensorflow.compat.v1 as tf

from bert_tf import driver
from bert_tf import export as export_lib
from bert_tf import input_pipeline
from bert_tf import runtime
from bert_tf.heads import SpanHead
from bert_tf.settings import setting
from bert_tf.tasks import squad
from bert_tf.tasks import squad_eval

FEATURE_FORMAT_VERSION = 1


@dataclasses.dataclass(kw_only=True)
class SquadConfig(driver.FineTuningSettings):
  """The run_squad.py settings (each defines its flag, same name)."""
  max_seq_length: int = setting(
      384, "The maximum total input sequence length after WordPiece "
      "tokenization. Sequences longer than this will be truncated, and "
      "sequences shorter than this will be padded.")
  do_eval: bool = setting(
      False, "Score the predictions of --predict_file against its answers "
      "with the official SQuAD definitions (eval_results.json).")
  do_predict: bool = setting(False, "Whether to run eval on the dev set.")
  train_file: Optional[str] = setting(
      None, "SQuAD json for training. E.g., train-v1.1.json")
  predict_file: Optional[str] = setting(
      None, "SQuAD json for predictions. E.g., dev-v1.1.json or "
      "test-v1.1.json")
  doc_stride: int = setting(
      128, "When splitting up a long document into chunks, how much stride "
      "to take between chunks.")
  max_query_length: int = setting(
      64, "The maximum number of tokens for the question. Questions longer "
      "than this will be truncated to this length.")
  predict_batch_size: int = setting(8, "Total batch size for predictions.")
  n_best_size: int = setting(
      20, "The total number of n-best predictions to generate in the "
      "nbest_predictions.json output file.")
  max_answer_length: int = setting(
      30, "The maximum length of an answer that can be generated. This is "
      "needed because the start and end predictions are not conditioned on "
      "one another.")
  verbose_logging: bool = setting(
      False, "If true, all of the warnings related to data processing will "
      "be printed.")
  version_2_with_negative: bool = setting(
      False, "If true, the SQuAD examples contain some that do not have an "
      "answer.")
  null_score_diff_threshold: float = setting(
      0.0, "If null_score - best_non_null is greater than the threshold "
      "predict null.")


class SquadTask(driver.Task):
  """SQuAD 1.1 / 2.0 span prediction as a driver plug-in."""
  name = "squad"
  feature_version = FEATURE_FORMAT_VERSION
  default_metric = "f1"
  produced_by = "run_squad.py"

  def __init__(self):
    self._train_examples = None
    self._eval = None   # (examples, features, record path), made once

  def validate(self, run):
    cfg = run.cfg
    if cfg.do_train and not cfg.train_file:
      raise ValueError(
          "If `do_train` is True, then `train_file` must be given.")
    if (cfg.do_predict or cfg.do_eval or cfg.eval_every_steps or
        cfg.eval_every_epochs) and not cfg.predict_file:
      raise ValueError(
          "If `do_predict` or `do_eval` is True (or evaluating during "
          "training), then `predict_file` must be given.")
    if cfg.max_seq_length <= cfg.max_query_length + 3:
      raise ValueError(
          "The max_seq_length (%d) must be greater than max_query_length "
          "(%d) + 3" % (cfg.max_seq_length, cfg.max_query_length))
    if not cfg.vocab_file and not cfg.spm_model_file:
      raise ValueError("Give --vocab_file (or --spm_model_file).")
    for name in ("train_file", "predict_file"):
      path = getattr(cfg, name)
      if path and (cfg.do_train if name == "train_file" else True) and \
          not tf.io.gfile.exists(path):
        raise FileNotFoundError("--%s not found: %s" % (name, path))

  def prepare(self, run):
    run.make_tokenizer()
    cfg = run.cfg
    if cfg.do_train:
      examples, skipped = squad.read_squad_examples(
          cfg.train_file, is_training=True,
          version_2_with_negative=cfg.version_2_with_negative,
          return_skipped=True)
      self.skipped_train_questions = len(skipped)
      if not examples:
        raise ValueError("No usable training questions in %s" %
                         cfg.train_file)
      # Shuffle before windowing so that windows of one long document do
      # not cluster in the TFRecord.
      random.Random(12345 if cfg.random_seed is None else cfg.random_seed
                   ).shuffle(examples)
      self._train_examples = examples

  def num_train_examples(self, run):
    return len(self._train_examples)

  def head(self, run):
    return SpanHead(initializer=run.cfg.head_initializer)

  def _content_key(self, run, source, is_training):
    cfg = run.cfg
    return [_file_digest(source), cfg.doc_stride, cfg.max_query_length,
            cfg.version_2_with_negative, is_training,
            cfg.random_seed if is_training else None]

  def train_records(self, run):
    cfg = run.cfg
    path = run.features_file(
        "train", self._content_key(run, cfg.train_file, True),
        lambda p: _write_features(self._train_examples, run.tokenizer, cfg,
                                  p, True))
    return [path], squad.name_to_features(cfg.max_seq_length, True)

  def _eval_data(self, run):
    """The evaluation examples, their windows and TFRecord (made once)."""
    if self._eval is None:
      cfg = run.cfg
      examples = squad.read_squad_examples(
          cfg.predict_file, is_training=False,
          version_2_with_negative=cfg.version_2_with_negative)
      path = run.output_path("eval.tf_record")
      features, num_features = _write_features(examples, run.tokenizer, cfg,
                                               path, False)
      tf.logging.info("  Num orig examples = %d, num split examples = %d",
                      len(examples), num_features)
      self._eval = (examples, features, path)
    return self._eval

  def _predictions(self, run, estimator, checkpoint_path, write_dir):
    """Predicts the eval windows; writes the prediction files into
    `write_dir`; returns (predictions, null_odds, files dict)."""
    cfg = run.cfg
    examples, features, path = self._eval_data(run)
    tf.logging.info("***** Running predictions *****")
    # With use_bucketing each batch is trimmed to its longest window: the
    # logits of real tokens are unchanged, the padding's are simply absent.
    hook = runtime.ThroughputHook(
        cfg.predict_batch_size,
        total_steps=-(-len(features) // cfg.predict_batch_size),
        every_n_steps=cfg.log_every_n_steps, name="predict",
        count_global_steps=False)
    all_results = []
    for prediction in run.predict_records(
        estimator, [path], squad.name_to_features(cfg.max_seq_length, False),
        cfg.predict_batch_size, checkpoint_path=checkpoint_path,
        hooks=[hook]):
      if len(all_results) % 1000 == 0:
        tf.logging.info("Processing example: %d of %d", len(all_results),
                        len(features))
      all_results.append(squad.RawResult(
          unique_id=int(prediction["unique_ids"]),
          start_logits=[float(x) for x in prediction["start_logits"].flat],
          end_logits=[float(x) for x in prediction["end_logits"].flat]))
    tf.io.gfile.makedirs(write_dir)
    files = {
        "predictions_file": os.path.join(write_dir, "predictions.json"),
        "nbest_file": os.path.join(write_dir, "nbest_predictions.json")}
    null_file = None
    if cfg.version_2_with_negative:
      null_file = files["null_odds_file"] = os.path.join(write_dir,
                                                          "null_odds.json")
    predictions, _, null_odds = squad.write_predictions(
        examples, features, all_results, cfg.n_best_size,
        cfg.max_answer_length, run.tokenizer.do_lower_case,
        files["predictions_file"], files["nbest_file"], null_file,
        cfg.version_2_with_negative, cfg.null_score_diff_threshold,
        cfg.verbose_logging)
    files["predict_summary"] = hook.summary
    return predictions, null_odds, files

  def predict(self, run, estimator, checkpoint_path=None):
    if run.cfg.do_eval and self._final is not None:
      return self._final
    _, _, files = self._predictions(run, estimator, checkpoint_path,
                                    run.output_dir)
    return files

  _final = None

  def evaluate(self, run, estimator, checkpoint_path=None, final=True):
    cfg = run.cfg
    write_dir = (cfg.output_dir if final else
                 os.path.join(cfg.output_dir, "eval_during_training"))
    predictions, null_odds, files = self._predictions(
        run, estimator, checkpoint_path, write_dir)
    with tf.io.gfile.GFile(cfg.predict_file, "r") as f:
      dataset = json.load(f)
    if cfg.version_2_with_negative:
      metrics = squad_eval.evaluate_v2(dataset, predictions,
                                       na_probs=null_odds)
    else:
      metrics = squad_eval.evaluate_v1(dataset, predictions)
    for k in sorted(metrics):
      tf.logging.info("  %s = %s", k, metrics[k])
    if final:
      input_pipeline.atomic_write_text(
          run.output_path("eval_results.json"),
          json.dumps(metrics, indent=2, sort_keys=True) + "\n")
      # The predictions of the final evaluation are --do_predict's too.
      self._final = files
    return metrics

  def export(self, run, estimator, export_dir, checkpoint_path=None):
    return export_lib.export_saved_model(
        estimator, export_dir, run.cfg.max_seq_length,
        extra_int_features=("unique_ids",), checkpoint_path=checkpoint_path,
        vocab_file=run.cfg.vocab_file,
        do_lower_case=run.tokenizer.do_lower_case, task="squad")


def _file_digest(path):
  h = hashlib.sha256()
  with tf.io.gfile.GFile(path, "rb") as f:
    h.update(f.read())
  return h.hexdigest()


def _write_features(examples, tokenizer, cfg, path, is_training):
  """Converts and writes features atomically; returns (features list, count)."""
  features = []
  writer = squad.FeatureWriter(path, is_training)
  start = time.time()

  def output_fn(feature):
    if not is_training:
      features.append(feature)
    writer.process_feature(feature)

  try:
    squad.convert_examples_to_features(
        examples=examples, tokenizer=tokenizer,
        max_seq_length=cfg.max_seq_length, doc_stride=cfg.doc_stride,
        max_query_length=cfg.max_query_length, is_training=is_training,
        output_fn=output_fn)
  except BaseException:
    writer.abort()
    raise
  writer.close()
  tf.logging.info("Wrote %d features for %d examples to %s (%.1f s)",
                  writer.num_features, len(examples), path,
                  time.time() - start)
  return features, writer.num_features


def run(cfg):
  """Trains, predicts, evaluates and/or exports as `cfg` asks.

  Returns:
    the dict of `driver.run`: "train_summary", "predictions_file", "eval"
    (official-equivalent metrics), "export_path", "eval_history", ... where
    those ran.
  """
  task = SquadTask()
  result = driver.run(task, cfg)
  if task._train_examples is not None:  # pylint: disable=protected-access
    result["skipped_train_questions"] = task.skipped_train_questions
  if task._final is not None:  # pylint: disable=protected-access
    result.update(task._final)  # pylint: disable=protected-access
  return result

"""Named-entity recognition / token classification: data, windows, outputs.

Data flow:

  CoNLL / WNUT file --read_conll--> [Sentence(words, tags)]
    --convert_sentences--> [Window] (WordPiece pieces, [CLS] ... [SEP],
        windows over long sentences) --write_windows--> TFRecord
    -> Estimator(model_fn(TokenClassificationHead)) predictions per window
    --assemble_word_predictions--> one prediction per word of every sentence
    --ner_eval.evaluate / write_predictions--> eval_results.txt,
        the input file with the predicted tag appended.

Input formats (`read_conll`): one token per line with its tag in the last
column (CoNLL-2003's `word POS chunk TAG`, WNUT-17's `word<TAB>tag`, or any
number of columns), fields separated by tabs (when the line has one) or by
spaces; sentences separated by an empty line or a line holding only
whitespace; `-DOCSTART-` lines are document breaks. Tags may be IOB1, IOB2
or BIOES (`O`, `B-TYPE`, `I-TYPE`, `E-TYPE`, `S-TYPE`); a file for
prediction may have no tag column at all.

Features: every word is split into WordPiece pieces; the word's label sits on
its first piece, and the other pieces carry `label_mask` 0 (out of the loss
and the scoring). A sentence with more pieces than `max_seq_length - 2` is
cut into overlapping windows whose starts are `doc_stride` pieces apart
(SQuAD's `make_doc_spans`); each word is labelled (`label_mask` 1) in exactly
one window, the one where its first piece has the most context (SQuAD's
`check_is_max_context`), so every word gets exactly one prediction and
nothing is silently truncated. A word the tokenizer turns into no piece at
all (e.g. only control characters) is given one `[UNK]` piece.

TFRecord features (int64 on disk, int32 in the graph):
  input_ids, input_mask, segment_ids, label_ids, label_mask [max_seq_length],
  unique_ids [] (the window's index).

`NerTask` is the `bert_tf.driver` plug-in that run_ner.py runs (settings:
`NerConfig`): labels (given, saved with the model as labels.txt, or the
training file's tags), cached window TFRecords, `TokenClassificationHead`,
an exact evaluation over whole sentences (windows predicted, one prediction
per word, scored with `ner_eval`: eval_results.txt, eval_predictions.txt),
predictions.txt, and a "tagging" export that `bert_tf.predictor` serves on
raw text. `--class_weights` weighs each labelled word's training loss by its
tag (`driver.class_weights`; "balanced" counts the labelled words of each
tag, `labelled_tag_counts`).

This module never reads absl FLAGS.
"""

import collections
import dataclasses
import hashlib
import json
import os
import random
import re
from typing import List, Optional

import numpy as np
import tensorflow.compat.v1 as tf

from bert_tf import distributed
from bert_tf import driver
from bert_tf import export as export_lib
from bert_tf import heads
from bert_tf import input_pipeline
from bert_tf import runtime
from bert_tf import tokenization
from bert_tf.settings import setting
from bert_tf.tasks import ner_eval
from bert_tf.tasks import squad

DOCSTART = "-DOCSTART-"
LABELS_FILE = "labels.txt"
FEATURE_FORMAT_VERSION = 1
# The tags the readers accept: O, or a prefix B/I/E/S, a dash and a type.
TAG_PATTERN = re.compile(r"^(O|[BIES]-\S+)$")
SEQUENCE_FEATURES = ("input_ids", "input_mask", "segment_ids", "label_ids",
                     "label_mask")


class NerFormatError(ValueError):
  """A tagged file that does not follow the expected layout."""


@dataclasses.dataclass
class Sentence:
  """One sentence of a tagged file.

  Attributes:
    guid: str, "<file basename>-<index>".
    words: list of str.
    tags: list of str (one per word), or None for untagged input.
    line_numbers: list of int, the 1-based line of each word in its file.
  """
  guid: str
  words: List[str]
  tags: Optional[List[str]] = None
  line_numbers: Optional[List[int]] = None


def _split_fields(line):
  """Fields of a token line: tab-separated if it has a tab, else spaces."""
  if "\t" in line:
    return [f.strip() for f in line.split("\t")]
  return line.split()


def _read_lines(path):
  if not tf.io.gfile.exists(path):
    raise FileNotFoundError("Tagged file not found: %s" % path)
  with tf.io.gfile.GFile(path, "rb") as f:
    data = f.read()
  try:
    text = data.decode("utf-8")
  except UnicodeDecodeError as e:
    line = data[:e.start].count(b"\n") + 1
    raise NerFormatError("%s:%d: not UTF-8 text (%s)" % (path, line, e))
  if text.startswith("\ufeff"):
    text = text[1:]
  return text.split("\n") if text else []


def _looks_tagged(rows):
  """True if every token row has >= 2 fields and its last field is a tag."""
  return bool(rows) and all(
      len(fields) >= 2 and TAG_PATTERN.match(fields[-1]) for _, fields in rows)


def read_conll(path, has_tags=True):
  """Reads a CoNLL-style tagged file into sentences.

  Args:
    path: the file (UTF-8; a byte-order mark is skipped).
    has_tags: True: the last column of every token line is its tag (at least
      two columns); False: no tag column (the word is the first column, any
      others are ignored); None: decide from the file (tagged if every token
      line has at least two columns and ends with a valid tag).

  Returns:
    list of `Sentence` (empty sentences are never returned).

  Raises:
    NerFormatError: naming the file, the line number and what was expected
      (a token line with too few columns, a tag that is not O/B-/I-/E-/S-,
      a different number of columns than the file's first token line).
  """
  lines = _read_lines(path)
  rows = []  # (line number, fields) or (line number, None) for a break
  for number, raw in enumerate(lines, 1):
    line = raw.rstrip("\r")
    if not line.strip():
      rows.append((number, None))
      continue
    fields = _split_fields(line.rstrip())
    if fields[0] == DOCSTART:
      rows.append((number, None))
      continue
    rows.append((number, fields))
  token_rows = [r for r in rows if r[1] is not None]
  if has_tags is None:
    has_tags = _looks_tagged(token_rows)
  base = os.path.basename(path)
  sentences = []
  words, tags, numbers = [], [], []
  num_columns = None

  def flush():
    if words:
      sentences.append(Sentence(
          guid="%s-%d" % (base, len(sentences)), words=list(words),
          tags=list(tags) if has_tags else None, line_numbers=list(numbers)))
    del words[:], tags[:], numbers[:]

  for number, fields in rows:
    if fields is None:
      flush()
      continue
    if has_tags:
      if len(fields) < 2 or not fields[0]:
        raise NerFormatError(
            "%s:%d: expected a token and its tag (at least two columns, the "
            "tag last, separated by a tab or spaces), got %r" %
            (path, number, lines[number - 1]))
      if num_columns is None:
        num_columns = len(fields)
      elif len(fields) != num_columns:
        raise NerFormatError(
            "%s:%d: expected %d columns like the file's first token line, "
            "got %d: %r" % (path, number, num_columns, len(fields),
                            lines[number - 1]))
      tag = fields[-1]
      if not TAG_PATTERN.match(tag):
        raise NerFormatError(
            "%s:%d: expected a tag in the last column (O, or B-, I-, E-, S- "
            "followed by a type; IOB1, IOB2 or BIOES), got %r" %
            (path, number, tag))
      tags.append(tag)
    elif not fields[0]:
      raise NerFormatError("%s:%d: expected a token in the first column, got "
                           "%r" % (path, number, lines[number - 1]))
    words.append(fields[0])
    numbers.append(number)
  flush()
  return sentences


# ---------------------------------------------------------------------------
# Labels.


def label_sort_key(tag):
  """Stable order of tags: O first, then by type, then B, I, E, S."""
  prefix, entity_type = ner_eval.split_tag(tag)
  if prefix == ner_eval.OUTSIDE:
    return (0, "", 0)
  return (1, entity_type, ner_eval.PREFIXES.index(prefix))


def labels_from_sentences(sentences):
  """The tags found in `sentences`, in `label_sort_key` order (O first).

  "O" is always included, so a model can always predict "no entity".
  """
  found = {ner_eval.OUTSIDE}
  for sentence in sentences:
    found.update(sentence.tags or ())
  return sorted(found, key=label_sort_key)


def parse_labels(text, source="--labels"):
  """Labels from a comma-separated string or one-per-line text, validated."""
  if "\n" in text:
    labels = [x.strip() for x in text.splitlines() if x.strip()]
  else:
    labels = [x.strip() for x in text.split(",") if x.strip()]
  bad = [x for x in labels if not TAG_PATTERN.match(x)]
  if bad:
    raise ValueError("%s: %s are not tags (expected O, or B-, I-, E-, S- "
                     "followed by a type)" % (source, ", ".join(
                         repr(x) for x in bad)))
  dups = sorted({x for x in labels if labels.count(x) > 1})
  if dups:
    raise ValueError("%s: duplicate labels %s" % (source, ", ".join(dups)))
  if not labels:
    raise ValueError("%s: no labels" % source)
  return labels


def read_labels_file(path):
  """The labels of a labels file (one per line), validated."""
  if not tf.io.gfile.exists(path):
    raise FileNotFoundError("Labels file not found: %s" % path)
  with tf.io.gfile.GFile(path, "r") as f:
    return parse_labels(f.read() + "\n", source=path)


def write_labels_file(path, labels):
  """Writes one label per line, atomically."""
  input_pipeline.atomic_write_text(path, "".join(x + "\n" for x in labels))


def check_tags_in_labels(sentences, labels, path):
  """Raises ValueError naming the first tag of `sentences` not in `labels`."""
  known = set(labels)
  for sentence in sentences:
    for tag, number in zip(sentence.tags or (), sentence.line_numbers):
      if tag not in known:
        raise ValueError("%s:%d: tag %r is not one of the model's labels (%s)"
                         % (path, number, tag, ", ".join(labels)))


# ---------------------------------------------------------------------------
# Windows.


@dataclasses.dataclass
class Window:
  """One model input: a window of a sentence's pieces.

  Attributes:
    unique_id: int, the window's index in its set.
    sentence_index: int, the sentence it comes from.
    tokens: list of str, [CLS] pieces [SEP] (unpadded).
    input_ids, input_mask, segment_ids, label_ids, label_mask: lists of int
      [max_seq_length].
    word_positions: list of (position, word_index): the positions labelled
      in this window (label_mask 1) and the words they stand for.
  """
  unique_id: int
  sentence_index: int
  tokens: List[str]
  input_ids: List[int]
  input_mask: List[int]
  segment_ids: List[int]
  label_ids: List[int]
  label_mask: List[int]
  word_positions: List[tuple]


def word_pieces(words, tokenizer):
  """WordPiece pieces of each word (at least one: `[UNK]` if none).

  Returns:
    (pieces: list of str, word_starts: list of int, the index in `pieces` of
    each word's first piece).
  """
  pieces, starts = [], []
  for word in words:
    sub = tokenizer.tokenize(word) or ["[UNK]"]
    starts.append(len(pieces))
    pieces.extend(sub)
  return pieces, starts


def sentence_windows(num_pieces, word_starts, max_seq_length, doc_stride):
  """Windows over one sentence's pieces and the words each one labels.

  Args:
    num_pieces: int, pieces in the sentence.
    word_starts: list of int, each word's first piece.
    max_seq_length: int; a window holds at most max_seq_length - 2 pieces.
    doc_stride: int, pieces between the starts of successive windows.

  Returns:
    list of (DocSpan(start, length), [(piece index, word index)]) where
    every word appears in exactly one window's list: the window in which its
    first piece has the most context.
  """
  max_pieces = max_seq_length - 2
  if max_pieces < 1:
    raise ValueError("max_seq_length must be at least 3, got %d" %
                     max_seq_length)
  spans = squad.make_doc_spans(num_pieces, max_pieces, doc_stride)
  owned = [[] for _ in spans]
  for word_index, start in enumerate(word_starts):
    best = None
    for span_index, span in enumerate(spans):
      if span.start <= start < span.start + span.length and (
          squad.check_is_max_context(spans, span_index, start)):
        best = span_index
        break
    owned[best].append((start, word_index))
  return list(zip(spans, owned))


def convert_sentences(sentences, tokenizer, max_seq_length, doc_stride,
                      label_map=None, log_examples=0):
  """Converts sentences into windows.

  Args:
    sentences: list of `Sentence`.
    tokenizer: `tokenization.FullTokenizer`.
    max_seq_length: int, padded window length (pieces + [CLS] + [SEP]).
    doc_stride: int, pieces between successive window starts.
    label_map: dict tag -> id; None for untagged sentences (label_ids 0).
    log_examples: log the first this many windows.

  Returns:
    list of `Window`, the windows of each sentence in order.

  Raises:
    ValueError: for a tag not in `label_map`, naming the sentence and word.
  """
  windows = []
  cls_id, sep_id = tokenizer.convert_tokens_to_ids(["[CLS]", "[SEP]"])
  for sentence_index, sentence in enumerate(sentences):
    pieces, starts = word_pieces(sentence.words, tokenizer)
    piece_ids = tokenizer.convert_tokens_to_ids(pieces)
    tag_ids = None
    if label_map is not None and sentence.tags is not None:
      tag_ids = []
      for i, tag in enumerate(sentence.tags):
        if tag not in label_map:
          where = ("line %d" % sentence.line_numbers[i]
                   if sentence.line_numbers else "word %d" % i)
          raise ValueError("%s, %s: tag %r is not one of the labels %s" %
                           (sentence.guid, where, tag, sorted(label_map)))
        tag_ids.append(label_map[tag])
    for span, owned in sentence_windows(len(pieces), starts, max_seq_length,
                                        doc_stride):
      tokens = ["[CLS]"] + pieces[span.start:span.start + span.length] + [
          "[SEP]"]
      input_ids = [cls_id] + piece_ids[span.start:span.start + span.length] + [
          sep_id]
      n = len(input_ids)
      pad = max_seq_length - n
      label_ids = [0] * max_seq_length
      label_mask = [0] * max_seq_length
      positions = []
      for piece_index, word_index in owned:
        position = piece_index - span.start + 1
        label_mask[position] = 1
        if tag_ids is not None:
          label_ids[position] = tag_ids[word_index]
        positions.append((position, word_index))
      window = Window(
          unique_id=len(windows), sentence_index=sentence_index,
          tokens=tokens, input_ids=input_ids + [0] * pad,
          input_mask=[1] * n + [0] * pad, segment_ids=[0] * max_seq_length,
          label_ids=label_ids, label_mask=label_mask,
          word_positions=positions)
      if len(windows) < log_examples:
        tf.logging.info("*** Window %d (%s) ***", window.unique_id,
                        sentence.guid)
        tf.logging.info("tokens: %s", " ".join(
            tokenization.printable_text(t) for t in tokens))
        tf.logging.info("label_ids: %s", " ".join(
            str(label_ids[p]) for p, _ in positions))
      windows.append(window)
  return windows


def window_to_example(window):
  """The tf.train.Example of one window."""
  f = collections.OrderedDict()
  for name in SEQUENCE_FEATURES:
    f[name] = input_pipeline.create_int_feature(getattr(window, name))
  f["unique_ids"] = input_pipeline.create_int_feature([window.unique_id])
  return input_pipeline.make_example(f)


def name_to_features(seq_length):
  """The tf.io feature spec of the NER TFRecords."""
  spec = {name: tf.io.FixedLenFeature([seq_length], tf.int64)
          for name in SEQUENCE_FEATURES}
  spec["unique_ids"] = tf.io.FixedLenFeature([], tf.int64)
  return spec


def write_windows(windows, path):
  """Writes the windows' Examples to `path` atomically; returns the count."""
  return input_pipeline.write_examples(
      (window_to_example(w) for w in windows), path)


def feature_key(path, tokenizer, max_seq_length, doc_stride, labels):
  """A hash of everything the windows of `path` depend on (cache names)."""
  h = hashlib.sha256()
  h.update(json.dumps([FEATURE_FORMAT_VERSION, max_seq_length, doc_stride,
                       tokenizer.do_lower_case, list(labels or [])]
                      ).encode("utf-8"))
  for source in (path, tokenizer.vocab_file, tokenizer.spm_model_file):
    if source:
      with tf.io.gfile.GFile(source, "rb") as f:
        h.update(hashlib.sha256(f.read()).digest())
  return h.hexdigest()[:16]


# ---------------------------------------------------------------------------
# From window predictions back to words.


def assemble_word_predictions(windows, window_values, num_sentences,
                              sentence_lengths=None):
  """One value per word of every sentence, from the windows' outputs.

  Args:
    windows: list of `Window`.
    window_values: list (one per window, same order) or dict unique_id ->
      np.ndarray [seq_len, ...] (seq_len may be trimmed by bucketing, but
      covers every labelled position).
    num_sentences: int.
    sentence_lengths: optional list of int (words per sentence), checked.

  Returns:
    list (per sentence) of np.ndarray [num_words, ...].

  Raises:
    ValueError: if a word has no prediction or more than one.
  """
  per_sentence = [dict() for _ in range(num_sentences)]
  for index, window in enumerate(windows):
    values = (window_values[window.unique_id]
              if isinstance(window_values, dict) else window_values[index])
    values = np.asarray(values)
    for position, word_index in window.word_positions:
      if word_index in per_sentence[window.sentence_index]:
        raise ValueError("Word %d of sentence %d is predicted in two windows"
                         % (word_index, window.sentence_index))
      per_sentence[window.sentence_index][word_index] = values[position]
  out = []
  for s, found in enumerate(per_sentence):
    n = len(found) if sentence_lengths is None else sentence_lengths[s]
    if sorted(found) != list(range(n)):
      missing = sorted(set(range(n)) - set(found))
      raise ValueError("Sentence %d: words %s have no prediction" %
                       (s, missing[:10]))
    out.append(np.stack([found[i] for i in range(n)]) if n else
               np.zeros([0]))
  return out


def write_predictions(input_path, sentences, predicted_tags, output_path):
  """Writes `input_path` back with the predicted tag as a last column.

  Token lines get ` TAG` (or `<TAB>TAG` when the line is tab-separated)
  appended; sentence breaks are written as empty lines and -DOCSTART- lines
  are kept, so the output has the same tokens in the same order with the
  same sentence breaks (the layout conlleval reads: token, gold tag,
  predicted tag). Written atomically.

  Args:
    input_path: the file the sentences were read from.
    sentences: list of `Sentence` from `read_conll(input_path, ...)`.
    predicted_tags: list (per sentence) of lists of str.
    output_path: where to write.
  """
  by_line = {}
  for sentence, tags in zip(sentences, predicted_tags):
    if len(tags) != len(sentence.words):
      raise ValueError("%s has %d words but %d predicted tags" %
                       (sentence.guid, len(sentence.words), len(tags)))
    for number, tag in zip(sentence.line_numbers, tags):
      by_line[number] = tag
  out = []
  lines = _read_lines(input_path)
  for number, raw in enumerate(lines, 1):
    line = raw.rstrip("\r")
    if number in by_line:
      body = line.rstrip()
      out.append(body + ("\t" if "\t" in body else " ") + by_line[number])
    elif not line.strip():
      out.append("")
    else:
      out.append(line)
  if out and out[-1] == "" and lines and lines[-1] == "":
    out.pop()  # the input's final newline
  if len(by_line) != sum(len(s.words) for s in sentences):
    raise ValueError("%s: the sentences do not come from this file" %
                     input_path)
  input_pipeline.atomic_write_text(output_path, "\n".join(out) + "\n")


# ---------------------------------------------------------------------------
# Raw text (serving).


def split_text(text):
  """Splits raw text into words with character offsets, as BERT's basic
  tokenizer splits it (whitespace, each punctuation character, each CJK
  character), without changing case or dropping characters.

  Args:
    text: str.

  Returns:
    list of (word, start, end): `text[start:end] == word`.
  """
  words = []
  start = None
  for i, char in enumerate(text):
    if tokenization._is_whitespace(char) or (  # pylint: disable=protected-access
        tokenization._is_control(char)):  # pylint: disable=protected-access
      if start is not None:
        words.append((text[start:i], start, i))
        start = None
    elif tokenization._is_punctuation(char) or (  # pylint: disable=protected-access
        tokenization._is_chinese_char(ord(char))):  # pylint: disable=protected-access
      if start is not None:
        words.append((text[start:i], start, i))
        start = None
      words.append((char, i, i + 1))
    elif start is None:
      start = i
  if start is not None:
    words.append((text[start:], start, len(text)))
  return words


def entities_from_tags(text, spans, tags, scores=None):
  """Entities of raw text from its words' tags.

  Args:
    text: str, the raw text.
    spans: list of (word, start, end) from `split_text`.
    tags: list of str, one per word.
    scores: optional list of float, one per word (the predicted tag's
      probability); an entity's score is the mean over its words.

  Returns:
    list of dicts {"type", "text", "start", "end"} (+ "score"): character
    offsets with text[start:end] == the entity's text.
  """
  entities = []
  for entity_type, first, last in ner_eval.get_entities(tags):
    start, end = spans[first][1], spans[last][2]
    entity = {"type": entity_type, "text": text[start:end], "start": start,
              "end": end}
    if scores is not None:
      entity["score"] = float(np.mean(scores[first:last + 1]))
    entities.append(entity)
  return entities


# ---------------------------------------------------------------------------
# The driver plug-in (run_ner.py).

DATA_DIR_FILES = {"train_file": "train.txt", "eval_file": "dev.txt",
                  "predict_file": "test.txt"}
EVAL_RESULTS_FILE = "eval_results.txt"
EVAL_PREDICTIONS_FILE = "eval_predictions.txt"
PREDICTIONS_FILE = "predictions.txt"


@dataclasses.dataclass(kw_only=True)
class NerConfig(driver.ClassWeightSettings, driver.FineTuningSettings):
  """The run_ner.py settings (each defines its flag, same name)."""
  max_seq_length: int = setting(
      128, "The maximum total input sequence length after WordPiece "
      "tokenization (pieces + [CLS] + [SEP]). Longer sentences are split "
      "into overlapping windows (--doc_stride); nothing is truncated.")
  doc_stride: int = setting(
      64, "When splitting a long sentence into windows, how many pieces "
      "to advance between window starts.")
  do_eval: bool = setting(
      False, "Score --eval_file: entity-level precision/recall/F1 (conlleval) "
      "and token accuracy in eval_results.txt, the tagged file in "
      "eval_predictions.txt.")
  do_predict: bool = setting(
      False, "Tag --predict_file: predictions.txt is the file with the "
      "predicted tag appended to each token line.")
  data_dir: Optional[str] = setting(
      None, "A directory holding train.txt, dev.txt and test.txt (the "
      "defaults of --train_file, --eval_file and --predict_file).")
  train_file: Optional[str] = setting(
      None, "Tagged training file (CoNLL: token ... tag per line, sentences "
      "separated by blank lines).")
  eval_file: Optional[str] = setting(None, "Tagged evaluation file.")
  predict_file: Optional[str] = setting(
      None, "File to tag (tagged or not: a tag column, if any, is kept).")
  labels: Optional[str] = setting(
      None, "Comma-separated tag list, in the model's order (default: "
      "<output_dir>/labels.txt if it exists, else the tags of the training "
      "file, O first, then by type and B, I, E, S).")
  labels_file: Optional[str] = setting(
      None, "A file of tags, one per line, instead of --labels.")
  eval_batch_size: int = setting(32, "Total batch size for eval.")
  predict_batch_size: int = setting(32, "Total batch size for predict.")
  head_initializer: str = setting(
      "normal", "Distribution of the tagging head's initial weights, with "
      "the bert_config's initializer_range as the normal's standard "
      "deviation: normal (the default here, as Hugging Face's "
      "BertForTokenClassification) or truncated_normal (the reference's "
      "draw for its heads). On WNUT-17, Hugging Face started from the "
      "truncated draw lost 1.7 entity F1 on average over 10 seeds, and "
      "bert_tf with it collapsed at 2 seeds in 10; see docs/benchmarks.md.",
      choices=list(heads.HEAD_INITIALIZERS))


def flatten_metrics(metrics):
  """The flat dict of `ner_eval.evaluate`'s metrics (per type: TYPE_f1...)."""
  flat = {k: v for k, v in metrics.items() if k != "per_type"}
  for entity_type, m in metrics.get("per_type", {}).items():
    for key, value in m.items():
      flat["%s_%s" % (entity_type, key)] = value
  return flat


def labelled_tag_counts(windows, labels):
  """dict label -> how many labelled positions (label_mask 1) of `windows`
  carry it: the words of each tag (each word is labelled in one window)."""
  counts = collections.Counter(
      t for w in windows for t, m in zip(w.label_ids, w.label_mask) if m)
  return {label: counts.get(i, 0) for i, label in enumerate(labels)}


def _file_digest(path):
  h = hashlib.sha256()
  with tf.io.gfile.GFile(path, "rb") as f:
    h.update(f.read())
  return h.hexdigest()


class NerTask(driver.Task):
  """Token classification (NER) on CoNLL-style files, a driver plug-in."""
  name = "ner"
  feature_version = FEATURE_FORMAT_VERSION
  default_metric = "f1"
  produced_by = "run_ner.py"

  def __init__(self):
    self.labels = None
    self.class_weights = None  # one per label, or None (unweighted)
    self._train = None   # (sentences, windows)
    self._eval = None    # (sentences, windows, record path)
    self._final = None   # files of the final evaluation

  def validate(self, run):
    cfg = run.cfg
    if cfg.data_dir:
      for name, base in DATA_DIR_FILES.items():
        path = os.path.join(cfg.data_dir, base)
        if getattr(cfg, name) is None and tf.io.gfile.exists(path):
          setattr(cfg, name, path)
    during = cfg.eval_every_steps or cfg.eval_every_epochs
    needs = [("train_file", cfg.do_train, "do_train"),
             ("eval_file", cfg.do_eval or during,
              "do_eval (or evaluation during training)"),
             ("predict_file", cfg.do_predict, "do_predict")]
    for name, wanted, why in needs:
      if wanted and not getattr(cfg, name):
        raise ValueError("--%s needs --%s (or --data_dir holding %s)" %
                         (why, name, DATA_DIR_FILES[name]))
      if wanted and not tf.io.gfile.exists(getattr(cfg, name)):
        raise FileNotFoundError("--%s not found: %s" %
                                (name, getattr(cfg, name)))
    if not cfg.vocab_file and not cfg.spm_model_file:
      raise ValueError("Give --vocab_file (or --spm_model_file).")
    if cfg.max_seq_length < 3:
      raise ValueError("--max_seq_length must be at least 3, got %d" %
                       cfg.max_seq_length)
    if not 1 <= cfg.doc_stride:
      raise ValueError("--doc_stride must be positive, got %d" %
                       cfg.doc_stride)
    if cfg.labels and cfg.labels_file:
      raise ValueError("Give one of --labels and --labels_file.")

  def _resolve_labels(self, run):
    """The label list: given, saved with the model, or from the train file."""
    cfg = run.cfg
    if cfg.labels:
      return parse_labels(cfg.labels)
    if cfg.labels_file:
      return read_labels_file(cfg.labels_file)
    candidates = [os.path.join(cfg.output_dir, LABELS_FILE)]
    if cfg.init_checkpoint:
      base = (cfg.init_checkpoint if tf.io.gfile.isdir(cfg.init_checkpoint)
              else os.path.dirname(cfg.init_checkpoint))
      candidates.append(os.path.join(base, LABELS_FILE))
    for path in candidates:
      if tf.io.gfile.exists(path):
        tf.logging.info("Labels from %s", path)
        return read_labels_file(path)
    if self._train is not None:
      return labels_from_sentences(self._train[0])
    raise ValueError(
        "No labels: give --labels or --labels_file, train (the training "
        "file's tags), or use an --output_dir (or --init_checkpoint "
        "directory) holding the %s that training saved." % LABELS_FILE)

  def prepare(self, run):
    cfg = run.cfg
    run.make_tokenizer()
    if cfg.do_train:
      self._train = (read_conll(cfg.train_file, has_tags=True), None)
      if not self._train[0]:
        raise ValueError("No sentences in %s" % cfg.train_file)
    self.labels = self._resolve_labels(run)
    tf.logging.info("Labels (%d): %s", len(self.labels),
                    ", ".join(self.labels))
    if cfg.do_train:
      sentences = self._train[0]
      check_tags_in_labels(sentences, self.labels, cfg.train_file)
      windows = convert_sentences(
          sentences, run.tokenizer, cfg.max_seq_length, cfg.doc_stride,
          self.label_map(), log_examples=3 if run.is_chief else 0)
      # Windows in a seeded random order, so that the shuffle buffer mixes
      # the whole file (and windows of one sentence do not cluster).
      random.Random(12345 if cfg.random_seed is None else cfg.random_seed
                   ).shuffle(windows)
      self._train = (sentences, windows)
      tf.logging.info("Training: %d sentences, %d words, %d windows",
                      len(sentences), sum(len(s.words) for s in sentences),
                      len(windows))
    self.class_weights = driver.class_weights(
        run, self.labels, lambda: labelled_tag_counts(self._train[1],
                                                      self.labels))
    if run.is_chief:
      tf.io.gfile.makedirs(cfg.output_dir)
      path = os.path.join(cfg.output_dir, LABELS_FILE)
      if not tf.io.gfile.exists(path):
        write_labels_file(path, self.labels)

  def label_map(self):
    return {label: i for i, label in enumerate(self.labels)}

  def num_train_examples(self, run):
    return len(self._train[1])

  def head(self, run):
    labelled = None
    weighted = None
    if run.groups_by_length and self._train and self._train[1]:
      # Length bucketing batches sentences of similar length: a constant
      # loss denominator keeps every word's weight what it is in randomly
      # composed batches (on WNUT-17, batches divided by their own count
      # gave windows of <= 20 pieces 20% of the loss weight instead of 11%).
      windows = self._train[1]
      labelled = sum(sum(w.label_mask) for w in windows) / len(windows)
      tf.logging.info("Length bucketing: the loss is divided by batch size x "
                      "%.3f labelled words per window", labelled)
      if self.class_weights is not None:
        # The weighted loss: batch size x the mean class weight of a
        # window's labelled words (its sum per window), the same count as
        # sum(w[y]) of randomly composed batches on average.
        weighted = sum(self.class_weights[t] for w in windows
                       for t, m in zip(w.label_ids, w.label_mask) if m
                       ) / len(windows)
        tf.logging.info("Class weights with length bucketing: the training "
                        "loss is divided by batch size x %.3f (the class "
                        "weights of a window's labelled words)", weighted)
    return heads.TokenClassificationHead(
        len(self.labels), initializer=run.cfg.head_initializer,
        labelled_per_example=labelled, class_weights=self.class_weights,
        class_weight_per_example=weighted)

  def _content_key(self, run, path, extra=None):
    return [_file_digest(path), run.cfg.doc_stride, list(self.labels),
            extra]

  def train_records(self, run):
    cfg = run.cfg
    windows = self._train[1]
    path = run.features_file(
        "train", self._content_key(run, cfg.train_file, cfg.random_seed),
        lambda p: write_windows(windows, p))
    return [path], name_to_features(cfg.max_seq_length)

  def _eval_data(self, run):
    """The evaluation sentences, windows and TFRecord (made once)."""
    if self._eval is None:
      cfg = run.cfg
      sentences = read_conll(cfg.eval_file, has_tags=True)
      check_tags_in_labels(sentences, self.labels, cfg.eval_file)
      windows = convert_sentences(sentences, run.tokenizer,
                                  cfg.max_seq_length, cfg.doc_stride,
                                  self.label_map())
      path = run.features_file(
          "eval", self._content_key(run, cfg.eval_file),
          lambda p: write_windows(windows, p))
      tf.logging.info("Evaluation: %d sentences, %d windows (%s)",
                      len(sentences), len(windows), cfg.eval_file)
      self._eval = (sentences, windows, path)
    return self._eval

  def _predict_windows(self, run, estimator, windows, path, batch_size,
                       checkpoint_path):
    """Runs the windows of `path`; returns {unique_id: prediction dict}."""
    hook = runtime.ThroughputHook(
        batch_size, total_steps=-(-len(windows) // batch_size),
        every_n_steps=run.cfg.log_every_n_steps, name="predict",
        count_global_steps=False)
    out = {}
    for prediction in run.predict_records(
        estimator, [path], name_to_features(run.cfg.max_seq_length),
        batch_size, checkpoint_path=checkpoint_path, hooks=[hook]):
      out[int(prediction["unique_ids"])] = prediction
    if len(out) != len(windows):
      raise ValueError("%s: %d windows predicted, %d expected" %
                       (path, len(out), len(windows)))
    return out

  def evaluate(self, run, estimator, checkpoint_path=None, final=True):
    cfg = run.cfg
    sentences, windows, path = self._eval_data(run)
    tf.logging.info("***** Running evaluation *****")
    outputs = self._predict_windows(run, estimator, windows, path,
                                    cfg.eval_batch_size, checkpoint_path)
    lengths = [len(s.words) for s in sentences]
    ids = assemble_word_predictions(
        windows, {k: v["predictions"] for k, v in outputs.items()},
        len(sentences), lengths)
    losses = assemble_word_predictions(
        windows, {k: v["per_token_loss"] for k, v in outputs.items()},
        len(sentences), lengths)
    predicted = [[self.labels[i] for i in s] for s in ids]
    metrics = ner_eval.evaluate([s.tags for s in sentences], predicted)
    num_words = sum(lengths)
    extra = {
        "eval_loss": float(sum(float(np.sum(x)) for x in losses) /
                           max(1, num_words)),
        "global_step": int(runtime.checkpoint_step(cfg.output_dir)
                           if checkpoint_path is None else
                           _step_of(checkpoint_path)),
    }
    flat = dict(flatten_metrics(metrics), **extra)
    tf.logging.info("  f1 = %.4f, precision = %.4f, recall = %.4f, "
                    "accuracy = %.4f, eval_loss = %.4f", metrics["f1"],
                    metrics["precision"], metrics["recall"],
                    metrics["accuracy"], extra["eval_loss"])
    if final:
      input_pipeline.atomic_write_text(
          run.output_path(EVAL_RESULTS_FILE),
          ner_eval.format_results(metrics, extra))
      eval_predictions = run.output_path(EVAL_PREDICTIONS_FILE)
      write_predictions(cfg.eval_file, sentences, predicted, eval_predictions)
      self._final = {"eval_results_file": run.output_path(EVAL_RESULTS_FILE),
                     "eval_predictions_file": eval_predictions,
                     "eval_per_type": metrics["per_type"]}
    return flat

  def predict(self, run, estimator, checkpoint_path=None):
    cfg = run.cfg
    sentences = read_conll(cfg.predict_file, has_tags=None)
    tagged = sentences and sentences[0].tags is not None
    known = tagged and all(t in self.labels for s in sentences
                           for t in s.tags)
    windows = convert_sentences(sentences, run.tokenizer, cfg.max_seq_length,
                                cfg.doc_stride,
                                self.label_map() if known else None)
    path = run.features_file(
        "predict", self._content_key(run, cfg.predict_file, bool(known)),
        lambda p: write_windows(windows, p))
    tf.logging.info("***** Running prediction *****")
    tf.logging.info("  %d sentences, %d windows (%s)", len(sentences),
                    len(windows), cfg.predict_file)
    outputs = self._predict_windows(run, estimator, windows, path,
                                    cfg.predict_batch_size, checkpoint_path)
    ids = assemble_word_predictions(
        windows, {k: v["predictions"] for k, v in outputs.items()},
        len(sentences), [len(s.words) for s in sentences])
    predicted = [[self.labels[i] for i in s] for s in ids]
    output = run.output_path(PREDICTIONS_FILE)
    write_predictions(cfg.predict_file, sentences, predicted, output)
    tf.logging.info("Wrote %s", output)
    return {"predictions_file": output}

  def export(self, run, estimator, export_dir, checkpoint_path=None):
    return export_lib.export_saved_model(
        estimator, export_dir, run.cfg.max_seq_length,
        checkpoint_path=checkpoint_path, vocab_file=run.cfg.vocab_file,
        do_lower_case=run.tokenizer.do_lower_case, task="tagging",
        labels=self.labels, extra_metadata={"doc_stride": run.cfg.doc_stride})


def _step_of(checkpoint_path):
  """The global step in a checkpoint prefix's name (model.ckpt-123), or 0."""
  match = re.search(r"-(\d+)$", checkpoint_path or "")
  return int(match.group(1)) if match else 0


def run(cfg):
  """Trains, evaluates, predicts and/or exports as `cfg` (a `NerConfig`)
  asks.

  Returns:
    the dict of `driver.run` ("eval": the flat metrics, "predictions_file",
    "export_path", "eval_history", ...), plus "labels" and, after a final
    evaluation, "eval_results_file", "eval_predictions_file" and
    "eval_per_type".
  """
  task = NerTask()
  result = driver.run(task, cfg)
  result["labels"] = task.labels
  if task._final is not None:  # pylint: disable=protected-access
    result.update(task._final)  # pylint: disable=protected-access
  return result

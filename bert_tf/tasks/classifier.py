"""Sentence(-pair) classification and regression: features and the driver.

Data flow: a processor from `bert_tf.tasks.glue` reads `InputExample`s ->
`convert_single_example` builds `[CLS] a [SEP] b [SEP]` features ->
`file_based_convert_examples_to_features` writes them once to a TFRecord
(`driver.RunContext.features_file`: cached under a key of the examples,
vocabulary, case, length and labels, so a cache is never stale) ->
`input_pipeline` -> Estimator(`model_fn_builder` with a `ClassificationHead`)
-> `eval_results.txt`, `test_results.tsv` (with `labels.txt` and
`test_predictions.tsv` beside it: see `ClassifierTask.predict`), SavedModel.

Classification evaluations also score every label (precision, recall, F1,
support), the macro F1 and the confusion matrix (`heads.ClassificationHead`
with the label names): `eval_results.txt` holds each cell of the matrix as
a line `confusion_matrix[<true label>][<predicted label>] = <count>`
(`results_lines`), `confusion_matrix.png` draws it. `--class_weights`
weighs the training loss by class (`driver.class_weights`).

Long documents (`LongDocumentSettings`, --doc_stride): text a becomes
overlapping windows (`convert_example_to_windows`), each a record with its
document's `doc_index`; training sees every window with the document's
label, and evaluation (`heads.ClassificationHead.pooled_document_scores`),
--do_predict (`pooled_predictions`) and the export's Predictor pool each
document's windows' logits (mean or max) into one prediction per document.

Multi-label (`--multi_label`, the generic task): a label is a tuple of
labels, `label_ids` a 0/1 vector over the label list, the head
`heads.MultiLabelHead` (a sigmoid per label); `--tune_thresholds` picks each
label's threshold on the dev set after training (thresholds.txt, the
export's metadata), and --do_predict writes label sets.

`ClassifierTask` is the plug-in of `bert_tf.driver`; `run(ClassifierConfig(
...))` is what `run_classifier.py` calls.
"""

import collections
import dataclasses
import hashlib
import json
import os
import re
import time
from typing import List, Optional

import numpy as np
import tensorflow.compat.v1 as tf

from bert_tf import driver
from bert_tf import export as export_lib
from bert_tf import input_pipeline
from bert_tf import metrics as metrics_lib
from bert_tf import plots
from bert_tf import settings
from bert_tf import tfrecord
from bert_tf import tokenization
from bert_tf.heads import ClassificationHead
from bert_tf.heads import MultiLabelHead
from bert_tf.heads import multi_label_metric_values
from bert_tf.settings import setting
from bert_tf.tasks import glue
from bert_tf.tasks import squad

CACHE_FORMAT_VERSION = 1

# The files of --do_predict (in output_dir).
RESULTS_FILE = "test_results.tsv"
LABELS_FILE = export_lib.LABELS_FILE
PREDICTIONS_FILE = "test_predictions.tsv"
# Multi-label: the thresholds tuned on the dev set (label<TAB>threshold).
THRESHOLDS_FILE = "thresholds.txt"
# test_predictions.tsv shows the first characters of each text; a pair's two
# texts are joined by the separator.
TEXT_PREVIEW_CHARS = 60
PAIR_SEPARATOR = " ||| "
# Tabs and line breaks (str.splitlines' boundaries) in a text of one cell.
_BREAKS = re.compile(r"[\t\n\r\v\f\x1c-\x1e\x85\u2028\u2029]")
# The metric of the confusion matrix, and its PNG after the evaluation after
# training (in output_dir; MNLI's mismatched dev set:
# confusion_matrix_mismatched.png).
CONFUSION_MATRIX = "confusion_matrix"
CONFUSION_MATRIX_PNG = "confusion_matrix.png"


class InputFeatures(object):
  """Features of one example: int lists of length max_seq_length."""

  def __init__(self, input_ids, input_mask, segment_ids, label_id,
               is_real_example=True, doc_index=None):
    self.input_ids = input_ids
    self.input_mask = input_mask
    self.segment_ids = segment_ids
    self.label_id = label_id
    self.is_real_example = is_real_example
    # Long documents (`convert_example_to_windows`): the window's document
    # (-1 for padding); None where each example is one record.
    self.doc_index = doc_index


def truncate_seq_pair(tokens_a, tokens_b, max_length):
  """Truncates the longer of two token lists, one token at a time, in place."""
  while len(tokens_a) + len(tokens_b) > max_length:
    if len(tokens_a) > len(tokens_b):
      tokens_a.pop()
    else:
      tokens_b.pop()


def tokenize_and_pad(text_a, text_b, max_seq_length, tokenizer):
  """Tokenizes one text or pair into BERT's input layout.

  Layout: `[CLS] a [SEP]` (segment 0) `b [SEP]` (segment 1), then zero
  padding to `max_seq_length` (mask 0). Pairs are truncated longest-first to
  `max_seq_length - 3` tokens, single texts (or a `text_b` that yields no
  tokens) to `max_seq_length - 2`.

  Args:
    text_a: str, the first text.
    text_b: str or None, the second text of a pair.
    max_seq_length: int, the padded length.
    tokenizer: a `FullTokenizer`.

  Returns:
    (tokens, input_ids, input_mask, segment_ids): the unpadded token strings
    and three lists of `max_seq_length` ints.
  """
  tokens_a = tokenizer.tokenize(text_a)
  tokens_b = tokenizer.tokenize(text_b) if text_b else None
  if tokens_b:
    truncate_seq_pair(tokens_a, tokens_b, max_seq_length - 3)
  elif len(tokens_a) > max_seq_length - 2:
    tokens_a = tokens_a[:max_seq_length - 2]
  return layout(tokens_a, tokens_b, max_seq_length, tokenizer)


def layout(tokens_a, tokens_b, max_seq_length, tokenizer):
  """BERT's input layout of token lists that fit (see `tokenize_and_pad`).

  Returns:
    (tokens, input_ids, input_mask, segment_ids).
  """
  tokens = ["[CLS]"] + tokens_a + ["[SEP]"]
  segment_ids = [0] * len(tokens)
  if tokens_b:
    tokens += tokens_b + ["[SEP]"]
    segment_ids += [1] * (len(tokens_b) + 1)
  input_ids = tokenizer.convert_tokens_to_ids(tokens)
  input_mask = [1] * len(input_ids)
  padding = max_seq_length - len(input_ids)
  return (tokens, input_ids + [0] * padding, input_mask + [0] * padding,
          segment_ids + [0] * padding)


def convert_single_example(ex_index, example, label_list, max_seq_length,
                           tokenizer, is_regression=False):
  """Converts one `InputExample` into `InputFeatures`.

  Layout: `[CLS] a [SEP]` (segment 0) `b [SEP]` (segment 1), then zero
  padding to `max_seq_length` (mask 0). Pairs are truncated longest-first to
  fit `max_seq_length - 3`, single sentences to `max_seq_length - 2`.

  Raises:
    ValueError: for a label outside `label_list`, naming the example.
  """
  if isinstance(example, glue.PaddingInputExample):
    return InputFeatures(
        input_ids=[0] * max_seq_length,
        input_mask=[0] * max_seq_length,
        segment_ids=[0] * max_seq_length,
        label_id=0.0 if is_regression else 0,
        is_real_example=False)

  tokens, input_ids, input_mask, segment_ids = tokenize_and_pad(
      example.text_a, example.text_b, max_seq_length, tokenizer)
  label_id = label_id_of(example, label_list, is_regression)
  if ex_index < 3:
    _log_example(example, tokens, input_ids, label_id)
  return InputFeatures(input_ids, input_mask, segment_ids, label_id, True)


def label_id_of(example, label_list, is_regression=False):
  """The label id (float for regression; for a multi-label example, whose
  label is a tuple, the 0/1 list over `label_list`) of `example`.

  Raises:
    ValueError: for a label outside `label_list`, naming the example.
  """
  if is_regression:
    try:
      return float(example.label)
    except (TypeError, ValueError):
      raise ValueError("Example %s: regression label %r is not a number" %
                       (example.guid, example.label))
  label_map = {label: i for i, label in enumerate(label_list)}
  if isinstance(example.label, tuple):  # multi-label: a multi-hot vector
    unknown = [label for label in example.label if label not in label_map]
    if unknown:
      raise ValueError("Example %s: label %r is not in the task's labels %s"
                       % (example.guid, unknown[0], list(label_list)))
    return [int(label in example.label) for label in label_list]
  if example.label not in label_map:
    raise ValueError("Example %s: label %r is not in the task's labels %s" %
                     (example.guid, example.label, list(label_list)))
  return label_map[example.label]


def _log_example(example, tokens, input_ids, label_id):
  tf.logging.info("*** Example %s ***", example.guid)
  tf.logging.info("tokens: %s", " ".join(
      tokenization.printable_text(t) for t in tokens))
  tf.logging.info("input_ids: %s", " ".join(str(x) for x in input_ids))
  tf.logging.info("label: %s (id = %s)", example.label, label_id)


def window_pair(tokens_a, tokens_b, max_seq_length):
  """How many tokens of text b each window keeps, and text a's window.

  Text b (the second segment of a pair) is kept whole in every window where
  it leaves text a at least half of the window's text tokens
  (`(max_seq_length - 3) // 2`); a longer text b is cut to the other half
  (its end dropped), as the reference truncates. Text a takes the rest.

  Returns:
    (tokens of b to keep, text a's window length in tokens).
  """
  if not tokens_b:
    return 0, max_seq_length - 2
  room = max_seq_length - 3
  keep_b = min(len(tokens_b), room - room // 2)
  return keep_b, room - keep_b


def convert_example_to_windows(doc_index, example, label_list,
                               max_seq_length, tokenizer, doc_stride,
                               max_windows=None, is_regression=False,
                               log=True):
  """Converts one document into the features of its overlapping windows.

  Text a is cut into windows of `window_pair`'s length whose starts are
  `doc_stride` tokens apart (the last window ends at its last token; a text
  that fits is one window, exactly `convert_single_example`'s features);
  each window is laid out `[CLS] window [SEP] (b [SEP])` with text b as
  `window_pair` keeps it. Every window carries the document's label and
  `doc_index`. Where text b leaves a window no longer than the stride, the
  windows abut instead of overlapping (no token is skipped).

  Args:
    doc_index: int, the document's index (0-based, input order).
    example: `InputExample` (or `PaddingInputExample`: one padding record
      with doc_index -1).
    label_list, max_seq_length, tokenizer, is_regression: as
      `convert_single_example`.
    doc_stride: int, tokens between the starts of successive windows.
    max_windows: optional int, keep at most the first this many windows.
    log: log the first window of documents 0-2 (as the reference logs its
      first examples).

  Returns:
    list of `InputFeatures`, at least one.
  """
  if isinstance(example, glue.PaddingInputExample):
    feature = convert_single_example(3, example, label_list, max_seq_length,
                                     tokenizer, is_regression)
    feature.doc_index = -1
    return [feature]
  label_id = label_id_of(example, label_list, is_regression)
  tokens_a = tokenizer.tokenize(example.text_a)
  tokens_b = tokenizer.tokenize(example.text_b) if example.text_b else None
  keep_b, window = window_pair(tokens_a, tokens_b, max_seq_length)
  tokens_b = tokens_b[:keep_b] if tokens_b else None
  spans = squad.make_doc_spans(len(tokens_a), window, doc_stride) or [
      squad.DocSpan(start=0, length=0)]
  if max_windows:
    spans = spans[:max_windows]
  features = []
  for span in spans:
    tokens, input_ids, input_mask, segment_ids = layout(
        tokens_a[span.start:span.start + span.length], tokens_b,
        max_seq_length, tokenizer)
    if log and doc_index < 3 and not features:
      _log_example(example, tokens, input_ids, label_id)
    features.append(InputFeatures(input_ids, input_mask, segment_ids,
                                  label_id, True, doc_index))
  return features


def features_to_example(feature, is_regression=False, num_labels=None):
  """Returns the tf.train.Example with the reference's feature names
  (`num_labels`: multi-label, `label_ids` holds that many 0/1 values)."""
  f = collections.OrderedDict()
  f["input_ids"] = input_pipeline.create_int_feature(feature.input_ids)
  f["input_mask"] = input_pipeline.create_int_feature(feature.input_mask)
  f["segment_ids"] = input_pipeline.create_int_feature(feature.segment_ids)
  if num_labels is not None:
    label_ids = feature.label_id
    if not isinstance(label_ids, list):  # a padding example
      label_ids = [0] * num_labels
    f["label_ids"] = input_pipeline.create_int_feature(label_ids)
  elif is_regression:
    f["label_ids"] = input_pipeline.create_float_feature([feature.label_id])
  else:
    f["label_ids"] = input_pipeline.create_int_feature([feature.label_id])
  f["is_real_example"] = input_pipeline.create_int_feature(
      [int(feature.is_real_example)])
  if feature.doc_index is not None:
    f["doc_index"] = input_pipeline.create_int_feature([feature.doc_index])
  return input_pipeline.make_example(f)


def name_to_features(seq_length, is_regression=False, windowed=False,
                     num_labels=None):
  """The tf.io feature spec of the classification TFRecords (`windowed`:
  long documents' windows, which also carry `doc_index`; `num_labels`:
  multi-label, `label_ids` int64 [num_labels])."""
  spec = {
      "input_ids": tf.io.FixedLenFeature([seq_length], tf.int64),
      "input_mask": tf.io.FixedLenFeature([seq_length], tf.int64),
      "segment_ids": tf.io.FixedLenFeature([seq_length], tf.int64),
      "label_ids": tf.io.FixedLenFeature(
          [] if num_labels is None else [num_labels],
          tf.float32 if is_regression else tf.int64),
      "is_real_example": tf.io.FixedLenFeature([], tf.int64),
  }
  if windowed:
    spec["doc_index"] = tf.io.FixedLenFeature([], tf.int64)
  return spec


def cache_key(examples, label_list, is_regression):
  """A digest of the examples and labels (the task's part of the feature
  cache key; the driver adds the vocabulary, case and length)."""
  h = hashlib.sha256()
  h.update(json.dumps([bool(is_regression), list(label_list or [])]
                      ).encode("utf-8"))
  for ex in examples:
    if isinstance(ex, glue.PaddingInputExample):
      h.update(b"\x00PAD")
      continue
    h.update(json.dumps([ex.guid, ex.text_a, ex.text_b,
                         list(ex.label) if isinstance(ex.label, tuple)
                         else ex.label],
                        ensure_ascii=False).encode("utf-8"))
  return h.hexdigest()


def file_based_convert_examples_to_features(examples, label_list,
                                            max_seq_length, tokenizer,
                                            output_file, is_regression=False,
                                            doc_stride=None,
                                            max_windows=None,
                                            multi_label=False):
  """Converts `examples` and writes them (atomically) to `output_file`.

  With `doc_stride`, each example becomes the records of its windows
  (`convert_example_to_windows`); the log counts the documents that were
  longer than one window and those `max_windows` cut. `multi_label`: the
  examples' labels are tuples (label sets).
  """
  counts = collections.Counter()
  num_labels = len(label_list) if multi_label else None

  def generate():
    start = time.time()
    for i, example in enumerate(examples):
      if i and i % 10000 == 0:
        tf.logging.info("Writing example %d of %d (%.0f examples/sec)", i,
                        len(examples), i / max(time.time() - start, 1e-9))
      if doc_stride is None:
        features = [convert_single_example(i, example, label_list,
                                           max_seq_length, tokenizer,
                                           is_regression)]
      else:
        features = convert_example_to_windows(
            i, example, label_list, max_seq_length, tokenizer, doc_stride,
            None, is_regression)
        counts["windows_uncut"] += len(features)
        counts["long"] += len(features) > 1
        if max_windows and len(features) > max_windows:
          counts["cut"] += 1
          features = features[:max_windows]
        counts["windows"] += len(features)
      for feature in features:
        yield features_to_example(feature, is_regression, num_labels)

  written = input_pipeline.write_examples(generate(), output_file)
  if doc_stride is not None:
    tf.logging.info(
        "%s: %d documents as %d windows (stride %d); %d longer than one "
        "window; %d cut to --max_windows_per_doc=%s (%d windows left out)",
        output_file, len(examples), counts["windows"], doc_stride,
        counts["long"], counts["cut"], max_windows,
        counts["windows_uncut"] - counts["windows"])
  return written


def one_line(text):
  """`text` with tabs and line breaks replaced by spaces (one TSV cell)."""
  return _BREAKS.sub(" ", str(text))


def preview_text(example, max_chars=TEXT_PREVIEW_CHARS):
  """The first `max_chars` characters of each text of `example`, on one line.

  Tabs and line breaks become spaces; a pair's texts (each cut to
  `max_chars`) are joined by `PAIR_SEPARATOR`.
  """
  texts = [example.text_a]
  if example.text_b is not None:
    texts.append(example.text_b)
  return PAIR_SEPARATOR.join(one_line(t[:max_chars]) for t in texts)


def format_test_predictions(examples, cells, label_list=None):
  """The text of test_predictions.tsv: a header, then a row per example.

  Args:
    examples: the test `InputExample`s, in input order.
    cells: per example, the list of its test_results.tsv cells (str): the
      class probabilities, or the one regression value.
    label_list: the labels of the cells' columns; None for regression.

  Returns:
    str: tab-separated rows `id, predicted_label, probability, text`
    (regression: `id, predicted_value, text`). The id is the example's
    `example_id` (its file's id column), else its 0-based index; the
    predicted label is that of the row's largest cell (the first on a tie)
    and the probability that cell, exactly as test_results.tsv has it; the
    text is `preview_text`.
  """
  if label_list is None:
    out = ["id\tpredicted_value\ttext\n"]
  else:
    out = ["id\tpredicted_label\tprobability\ttext\n"]
  for i, (example, row) in enumerate(zip(examples, cells)):
    example_id = getattr(example, "example_id", None)
    fields = [one_line(i if example_id is None else example_id)]
    if label_list is None:
      fields.append(row[0])
    else:
      values = [float(x) for x in row]
      best = max(range(len(values)), key=values.__getitem__)
      fields += [one_line(label_list[best]), row[best]]
    fields.append(preview_text(example))
    out.append("\t".join(fields) + "\n")
  return "".join(out)


@dataclasses.dataclass(kw_only=True)
class GenericTaskSettings:
  """The columns, files and labels of `--task_name=generic` (and XNLI's
  language). Given for any other task they are refused, naming them."""
  text_a_column: Optional[str] = setting(
      None, "generic: column (0-based index or header name) of text a.")
  text_b_column: Optional[str] = setting(
      None, "generic: optional column of text b (sentence pairs).")
  label_column: Optional[str] = setting(None, "generic: column of the label.")
  labels: Optional[List[str]] = setting(
      None, "generic: the label list (default: sorted labels of train).")
  delimiter: str = setting("tab", "generic: field delimiter (tab = TSV, "
                           "comma = CSV).", choices=["tab", "comma"])
  has_header: bool = setting(True, "generic: the files have a header row.")
  regression: bool = setting(False, "generic: the label is a number.")
  train_file: str = setting("train.tsv", "generic: training file name.")
  dev_file: str = setting("dev.tsv", "generic: dev file name.")
  test_file: str = setting("test.tsv", "generic: test file name.")
  id_column: Optional[str] = setting(
      None, "generic: optional column of the test file's example ids, "
      "written to test_predictions.tsv (default: the 0-based row index).")
  multi_label: bool = setting(
      False, "generic: multi-label classification: the label column holds "
      "zero or more labels separated by --label_separator (an empty field "
      "is the empty set); a sigmoid per label, binary cross-entropy.")
  label_separator: str = setting(
      "|", "generic, --multi_label: the separator of the labels of a row.")
  xnli_language: str = setting("zh", "xnli: the language to use.")


@dataclasses.dataclass(kw_only=True)
class MultiLabelSettings:
  """The thresholds of --multi_label (refused without it)."""
  threshold: float = setting(
      0.5, "--multi_label: a label is predicted where its probability is at "
      "least this.")
  tune_thresholds: bool = setting(
      False, "--multi_label: after training, choose each label's threshold "
      "by its F1 on the dev set (needs --do_eval); saved as thresholds.txt "
      "and in the export, used by --do_predict.")


@dataclasses.dataclass(kw_only=True)
class LongDocumentSettings:
  """Documents longer than max_seq_length as overlapping windows.

  Unset (the default), text a is truncated as the reference truncates.
  With --doc_stride every window of a document is a training example with
  the document's label, and evaluation, --do_predict and the export's
  Predictor score each window and pool the windows' logits per document
  (`metrics.pool_windows`, before the softmax) into one row per document,
  in input order.
  """
  doc_stride: Optional[int] = setting(
      None, "Long documents: cut text a into overlapping windows whose "
      "starts are this many tokens apart (smaller than the window, "
      "max_seq_length - 2 tokens for one text; a pair's text b is kept in "
      "every window). Unset: truncate, as the reference.")
  max_windows_per_doc: Optional[int] = setting(
      None, "With --doc_stride: keep at most the first N windows of a "
      "document (unset: all).")
  window_pooling: str = setting(
      "mean", "With --doc_stride: how the windows' logits are combined per "
      "document before the softmax (element-wise mean or max).",
      choices=list(metrics_lib.WINDOW_POOLING))


def check_long_document_settings(cfg):
  """Refuses long-document settings that do not fit together.

  Raises:
    ValueError: naming the flag: a stride that is not positive or not
      smaller than a single text's window (max_seq_length - 2 tokens), a
      --max_windows_per_doc below 1, or --max_windows_per_doc /
      --window_pooling given without --doc_stride.
  """
  if cfg.doc_stride is None:
    stray = [name for name, default in (("max_windows_per_doc", None),
                                        ("window_pooling", "mean"))
             if getattr(cfg, name) != default]
    if stray:
      raise ValueError(
          "%s applies to long documents cut into windows: give --doc_stride "
          "too (without it documents are truncated to --max_seq_length)."
          % ", ".join("--%s=%s" % (n, getattr(cfg, n)) for n in stray))
    return
  if cfg.use_tpu:
    raise ValueError(
        "--doc_stride (long documents as windows) does not run on TPUs: a "
        "document's windows are a variable number of records, and TPU "
        "evaluation needs a fixed number of batches. Leave --doc_stride "
        "unset (truncation) or --use_tpu=false.")
  window = cfg.max_seq_length - 2
  if not 1 <= cfg.doc_stride < window:
    raise ValueError(
        "--doc_stride=%d must be at least 1 and smaller than the window: "
        "--max_seq_length=%d leaves %d tokens of text per window ([CLS] and "
        "[SEP] take 2), so successive windows overlap only with a stride "
        "below %d." % (cfg.doc_stride, cfg.max_seq_length, window, window))
  if cfg.max_windows_per_doc is not None and cfg.max_windows_per_doc < 1:
    raise ValueError("--max_windows_per_doc=%d must be at least 1." %
                     cfg.max_windows_per_doc)


def results_lines(metrics, label_list):
  """The metrics as eval_results.txt writes them: one number per key.

  The confusion matrix (nested lists, rows the true labels) becomes one
  key per cell, `confusion_matrix[<true label>][<predicted label>]`, so
  that every line of the file stays `key = number`.

  Args:
    metrics: dict of an evaluation (`ClassifierTask._evaluate`).
    label_list: the labels, in the matrix's order.

  Returns:
    dict key -> value for `RunContext.write_results`.
  """
  out = dict(metrics)
  matrix = out.pop(CONFUSION_MATRIX, None)
  if matrix is not None:
    for true_label, row in zip(label_list, matrix):
      for predicted_label, count in zip(label_list, row):
        out["%s[%s][%s]" % (CONFUSION_MATRIX, true_label,
                            predicted_label)] = int(count)
  return out


@dataclasses.dataclass(kw_only=True)
class ClassifierConfig(GenericTaskSettings, MultiLabelSettings,
                       LongDocumentSettings,
                       driver.ClassWeightSettings, driver.FineTuningSettings):
  """The run_classifier.py settings (each defines its flag, same name)."""
  task_name: Optional[str] = setting(
      None, "The name of the task to train.", required=True)
  data_dir: Optional[str] = setting(
      None, "The input data dir. Should contain the .tsv files (or other "
      "data files) for the task.", required=True)
  do_predict: bool = setting(
      False, "Whether to run the model in inference mode on the test set.")
  eval_batch_size: int = setting(8, "Total batch size for eval.")
  predict_batch_size: int = setting(8, "Total batch size for predict.")
  cache_dir: Optional[str] = setting(
      None, "Where feature TFRecords are cached (default: output_dir).")
  # Library callers may give the processor's keyword arguments directly
  # (they replace the generic settings above).
  processor_kwargs: Optional[dict] = setting(None, flag=False)


def processor_for(cfg):
  """The task's processor, with the generic/XNLI settings of `cfg`.

  Raises:
    ValueError: for a generic/XNLI setting given to a task that has no use
      for it (naming the setting).
  """
  if cfg.processor_kwargs is not None:
    return glue.get_processor(cfg.task_name, **cfg.processor_kwargs)
  name = (cfg.task_name or "").lower()
  values = {f.name: getattr(cfg, f.name)
            for f in dataclasses.fields(GenericTaskSettings)}
  applies = (set(values) - {"xnli_language"} if name == "generic" else
             {"xnli_language"} if name == "xnli" else set())
  defaults = settings.defaults(GenericTaskSettings)
  stray = sorted(n for n in values
                 if n not in applies and values[n] != defaults[n])
  if stray:
    raise ValueError(
        "%s applies to --task_name=%s only, not to --task_name=%s." % (
            ", ".join("--" + n for n in stray),
            "xnli" if stray == ["xnli_language"] else "generic",
            cfg.task_name))
  return glue.get_processor(cfg.task_name,
                            **glue.processor_kwargs(cfg.task_name, values))


class ClassifierTask(driver.Task):
  """Sentence(-pair) classification and regression as a driver plug-in.

  Args:
    bert_config: optional `BertConfig` used instead of reading
      `cfg.bert_config_file` (TF-Hub: inferred from the module).
    tokenizer: optional `FullTokenizer` used instead of `cfg.vocab_file`
      and `cfg.do_lower_case` (TF-Hub: from the module's tokenization_info).
    model_builder: optional encoder builder for `model_fn_builder` (TF-Hub).
  """
  name = "classifier"
  feature_version = CACHE_FORMAT_VERSION
  default_metric = "eval_accuracy"
  produced_by = "run_classifier.py"

  def __init__(self, bert_config=None, tokenizer=None, model_builder=None):
    self._bert_config = bert_config
    self._tokenizer = tokenizer
    self.model_builder = model_builder
    self.processor = None
    self.label_list = None
    self.is_regression = False
    self.class_weights = None
    self.is_multi_label = False
    # Multi-label: the thresholds of the predictions (the head's, updated
    # when tuned on the dev set).
    self.thresholds = None
    self._head = None
    self._train_examples = None

  def load_bert_config(self, cfg):
    if self._bert_config is not None:
      return self._bert_config
    return super().load_bert_config(cfg)

  def validate(self, run):
    cfg = run.cfg
    if not cfg.task_name:
      raise ValueError("--task_name is required.")
    if not cfg.data_dir:
      raise ValueError("--data_dir is required.")
    if cfg.max_seq_length < 3:
      raise ValueError("max_seq_length must be at least 3 ([CLS] x [SEP]).")
    if (self._tokenizer is None and not cfg.vocab_file and
        not cfg.spm_model_file):
      raise ValueError("Give --vocab_file (or --spm_model_file).")
    self.processor = processor_for(cfg)
    check_long_document_settings(cfg)
    self.is_multi_label = bool(getattr(self.processor, "is_multi_label",
                                       False))
    check_multi_label_settings(cfg, self.is_multi_label)
    if self.is_multi_label:
      self.default_metric = "micro_f1"
    weights = cfg.class_weights
    if self.is_regression_task():
      self.default_metric = "eval_loss"
      if weights is not None and str(weights).strip():
        raise ValueError(
            "--class_weights=%s weighs the classes of a classification "
            "loss; --task_name=%s here is a regression (mean squared "
            "error), which has no classes." % (weights, cfg.task_name))

  def is_regression_task(self):
    return bool(getattr(self.processor, "is_regression", False))

  def prepare(self, run):
    self.is_regression = self.is_regression_task()
    if self._tokenizer is not None:
      run.tokenizer = self._tokenizer
      driver.check_vocab_size(self._tokenizer, run.bert_config, run.cfg)
    else:
      run.make_tokenizer()
    if run.cfg.do_train:
      self._train_examples = self.processor.get_train_examples(
          run.cfg.data_dir)
      if not self._train_examples:
        raise ValueError("No training examples in %s" % run.cfg.data_dir)
    self.label_list = self.processor.get_labels()
    if self.is_multi_label:
      self.thresholds = [float(run.cfg.threshold)] * len(self.label_list)
    elif not self.is_regression:
      self.class_weights = driver.class_weights(
          run, self.label_list, lambda: collections.Counter(
              example.label for example in self._train_examples))

  @staticmethod
  def windowed(run):
    """Whether documents are cut into windows (--doc_stride)."""
    return run.cfg.doc_stride is not None

  def num_train_examples(self, run):
    if not self.windowed(run):
      return len(self._train_examples)
    # Every window is a training example: count the records written.
    files, _ = self.train_records(run)
    return sum(tfrecord.count_records(path) for path in files)

  def head(self, run):
    if self.is_multi_label:
      # Kept: tuned thresholds reach the graphs built after the tuning
      # (prediction, export), which call the head again.
      self._head = MultiLabelHead(self.label_list, self.thresholds,
                                  initializer=run.cfg.head_initializer)
      return self._head
    # eval_accuracy and eval_loss stream; the task's other metrics (F1, MCC,
    # Pearson, Spearman) are computed exactly over the whole dev set.
    metric_fns = {name: fn for name, fn in
                  glue.metric_functions(self.processor).items()
                  if name != "accuracy"}
    num_labels = 1 if self.is_regression else len(self.label_list)
    return ClassificationHead(
        num_labels, is_regression=self.is_regression, metric_fns=metric_fns,
        initializer=run.cfg.head_initializer,
        label_names=None if self.is_regression else self.label_list,
        class_weights=self.class_weights,
        window_pooling=run.cfg.window_pooling if self.windowed(run) else None)

  def spec(self, run):
    return name_to_features(
        run.cfg.max_seq_length, self.is_regression,
        windowed=self.windowed(run),
        num_labels=len(self.label_list) if self.is_multi_label else None)

  def features(self, run, examples, split):
    """The cached TFRecord of `examples`' features."""
    cfg = run.cfg
    key = cache_key(examples, self.label_list, self.is_regression)
    if self.windowed(run):
      key = [key, cfg.doc_stride, cfg.max_windows_per_doc]

    def write(path):
      file_based_convert_examples_to_features(
          examples, self.label_list, cfg.max_seq_length, run.tokenizer,
          path, self.is_regression, doc_stride=cfg.doc_stride,
          max_windows=cfg.max_windows_per_doc,
          multi_label=self.is_multi_label)

    return run.features_file(split, key, write)

  def train_records(self, run):
    return [self.features(run, self._train_examples, "train")], self.spec(run)

  def evaluate(self, run, estimator, checkpoint_path=None, final=True):
    cfg = run.cfg
    dev_examples = self.processor.get_dev_examples(cfg.data_dir)
    metrics = self._evaluate(run, estimator, dev_examples, "eval",
                             checkpoint_path)
    if final and self.is_multi_label and cfg.tune_thresholds:
      metrics = self._tune_thresholds(run, estimator, dev_examples, metrics,
                                      checkpoint_path)
    if final:
      self._write_results(run, "eval_results.txt", metrics,
                          CONFUSION_MATRIX_PNG, "dev")
    extra = getattr(self.processor, "get_dev_mismatched_examples", None)
    if final and extra is not None and tf.io.gfile.exists(
        os.path.join(cfg.data_dir, "dev_mismatched.tsv")):
      mismatched = self._evaluate(run, estimator, extra(cfg.data_dir),
                                  "eval_mismatched", checkpoint_path)
      self._write_results(run, "eval_results_mismatched.txt", mismatched,
                          "confusion_matrix_mismatched.png",
                          "dev mismatched")
      metrics = dict(metrics)
      metrics["mismatched"] = mismatched
    return metrics

  def _tune_thresholds(self, run, estimator, examples, metrics,
                       checkpoint_path):
    """Chooses each label's threshold by its F1 on the dev set
    (`metrics.tune_thresholds`), writes thresholds.txt and returns the dev
    metrics at the tuned thresholds (eval_loss and global_step unchanged;
    `threshold_<label>` added)."""
    probabilities = np.array([p["probabilities"] for p in run.predict_records(
        estimator, [self.features(run, examples, "eval")], self.spec(run),
        run.cfg.eval_batch_size, checkpoint_path=checkpoint_path)])
    labels = np.array([label_id_of(e, self.label_list) for e in examples])
    tuned = metrics_lib.tune_thresholds(probabilities, labels,
                                        run.cfg.threshold)
    self.thresholds = [float(t) for t in tuned]
    if self._head is not None:
      self._head.thresholds = list(self.thresholds)
    path = run.output_path(THRESHOLDS_FILE)
    input_pipeline.atomic_write_text(path, "".join(
        "%s\t%.8f\n" % (label, t) for label, t in zip(self.label_list,
                                                      self.thresholds)))
    tf.logging.info("Thresholds tuned on the dev set (%s): %s", path,
                    ", ".join("%s=%.4f" % lt for lt in zip(
                        self.label_list, self.thresholds)))
    out = {k: v for k, v in metrics.items()
           if k in ("eval_loss", "global_step")}
    for key, value in multi_label_metric_values(
        self.label_list, probabilities, labels, self.thresholds).items():
      out[key] = value.item() if hasattr(value, "item") else value
    for label, t in zip(self.label_list, self.thresholds):
      out["threshold_%s" % label] = t
    return out

  def _write_results(self, run, name, metrics, png, split):
    """Writes the results file `name` and, for a classification, the
    confusion matrix PNG `png` (both in output_dir, atomically)."""
    run.write_results(name, results_lines(metrics, self.label_list))
    matrix = metrics.get(CONFUSION_MATRIX)
    if matrix is not None:
      path = plots.plot_confusion_matrix(
          matrix, self.label_list, run.output_path(png),
          title="%s %s, step %s" % (run.cfg.task_name, split,
                                    metrics.get("global_step")))
      tf.logging.info("Wrote %s", path)

  def _evaluate(self, run, estimator, examples, split, checkpoint_path):
    cfg = run.cfg
    num_actual = len(examples)
    if cfg.use_tpu:
      # TPUs need fixed-size batches: pad with fake examples of weight 0.
      while len(examples) % cfg.eval_batch_size != 0:
        examples.append(glue.PaddingInputExample())
    eval_file = self.features(run, examples, split)
    tf.logging.info("***** Running evaluation (%s) *****", split)
    tf.logging.info("  Num examples = %d (%d actual, %d padding)",
                    len(examples), num_actual, len(examples) - num_actual)
    steps = len(examples) // cfg.eval_batch_size if cfg.use_tpu else None
    return run.evaluate_records(
        estimator, [eval_file], self.spec(run), cfg.eval_batch_size,
        steps=steps, name=None if split == "eval" else split,
        checkpoint_path=checkpoint_path)

  def predict(self, run, estimator, checkpoint_path=None):
    """Predicts the test set; writes the prediction files to output_dir.

    The driver calls this on the chief (rank 0) only. Each file is written
    atomically:
      test_results.tsv: the reference's, one row per test example: the
        tab-separated class probabilities (regression: the value).
      labels.txt: the label of each column of test_results.tsv, one per
        line, in column order (not written for regression).
      test_predictions.tsv: a header, then per test example, in input
        order, its id, predicted label, probability and the start of its
        text(s) (see `format_test_predictions`).

    Returns:
      dict with "predict_file" (test_results.tsv), "predictions_file" and,
      for classification, "labels_file".
    """
    cfg = run.cfg
    examples = self.processor.get_test_examples(cfg.data_dir)
    num_actual = len(examples)
    if cfg.use_tpu:
      while len(examples) % cfg.predict_batch_size != 0:
        examples.append(glue.PaddingInputExample())
    predict_file = self.features(run, examples, "predict")
    predictions = run.predict_records(
        estimator, [predict_file], self.spec(run), cfg.predict_batch_size,
        checkpoint_path=checkpoint_path)
    if self.is_multi_label:
      return self._predict_label_sets(run, examples[:num_actual],
                                      predictions)
    if self.windowed(run):
      rows = pooled_predictions(
          [(p["doc_index"], p["logits"]) for p in predictions],
          cfg.window_pooling, self.is_regression)
    else:
      rows = [p["predictions"] if self.is_regression else p["probabilities"]
              for _, p in zip(range(num_actual), predictions)]
    cells = []
    for row in rows[:num_actual]:
      if self.is_regression:
        cells.append(["%.6f" % float(row)])
      else:
        cells.append(["%.8f" % p for p in row])
    if len(cells) != num_actual:
      raise RuntimeError("Predicted %d of %d examples" % (len(cells),
                                                          num_actual))
    output_path = run.output_path(RESULTS_FILE)
    input_pipeline.atomic_write_text(
        output_path, "".join("\t".join(row) + "\n" for row in cells))
    tf.logging.info("Wrote %d predictions to %s", num_actual, output_path)
    result = {"predict_file": output_path}
    labels = None if self.is_regression else self.label_list
    if labels is not None:
      result["labels_file"] = run.output_path(LABELS_FILE)
      input_pipeline.atomic_write_text(
          result["labels_file"], "".join("%s\n" % label for label in labels))
    result["predictions_file"] = run.output_path(PREDICTIONS_FILE)
    input_pipeline.atomic_write_text(
        result["predictions_file"],
        format_test_predictions(examples[:num_actual], cells, labels))
    tf.logging.info("Wrote %s", ", ".join(
        result[k] for k in ("labels_file", "predictions_file") if k in result))
    return result

  def _predict_label_sets(self, run, examples, predictions):
    """--do_predict of a multi-label task: test_results.tsv (each label's
    probability), labels.txt and test_predictions.tsv (id, the predicted
    label set joined by the separator, text)."""
    rows = [p["probabilities"] for _, p in zip(examples, predictions)]
    if len(rows) != len(examples):
      raise RuntimeError("Predicted %d of %d examples" % (len(rows),
                                                          len(examples)))
    result = {"predict_file": run.output_path(RESULTS_FILE),
              "labels_file": run.output_path(LABELS_FILE),
              "predictions_file": run.output_path(PREDICTIONS_FILE)}
    input_pipeline.atomic_write_text(result["predict_file"], "".join(
        "\t".join("%.8f" % p for p in row) + "\n" for row in rows))
    input_pipeline.atomic_write_text(result["labels_file"], "".join(
        "%s\n" % label for label in self.label_list))
    separator = self.processor.label_separator
    out = ["id\tpredicted_labels\ttext\n"]
    for i, (example, row) in enumerate(zip(examples, rows)):
      example_id = getattr(example, "example_id", None)
      chosen = label_set(row, self.label_list, self.thresholds)
      out.append("%s\t%s\t%s\n" % (
          one_line(i if example_id is None else example_id),
          one_line(separator.join(chosen)), preview_text(example)))
    input_pipeline.atomic_write_text(result["predictions_file"], "".join(out))
    tf.logging.info("Wrote %d predictions to %s, %s, %s", len(rows),
                    *[result[k] for k in ("predict_file", "labels_file",
                                          "predictions_file")])
    return result

  def export(self, run, estimator, export_dir, checkpoint_path=None):
    tokenizer = run.tokenizer
    return export_lib.export_saved_model(
        estimator, export_dir, run.cfg.max_seq_length,
        checkpoint_path=checkpoint_path,
        vocab_file=None if tokenizer.sp_model else tokenizer.vocab_file,
        do_lower_case=tokenizer.do_lower_case, task="classifier",
        labels=self.label_list, is_regression=self.is_regression,
        extra_metadata=export_metadata(run.cfg, self.thresholds))


def export_metadata(cfg, thresholds=None):
  """What the export records of the run for `predictor.Predictor`: the
  task name; for long documents the windows and their pooling; for a
  multi-label task its separator and the labels' `thresholds`."""
  meta = {"task_name": cfg.task_name}
  if cfg.multi_label:
    meta.update(multi_label=True, label_separator=cfg.label_separator,
                thresholds=None if thresholds is None else
                [float(t) for t in thresholds])
  if cfg.doc_stride is not None:
    meta.update(doc_stride=cfg.doc_stride,
                max_windows_per_doc=cfg.max_windows_per_doc,
                window_pooling=cfg.window_pooling)
  return meta


def label_set(probabilities, labels, thresholds):
  """The labels whose probability is at least their threshold, in label
  order (a multi-label prediction)."""
  return [label for label, p, t in zip(labels, probabilities, thresholds)
          if p >= t]


def check_multi_label_settings(cfg, multi_label):
  """Refuses multi-label settings that do not apply or do not fit.

  Raises:
    ValueError: naming the flag: --threshold, --tune_thresholds or
      --label_separator without --multi_label; a threshold outside (0, 1);
      --tune_thresholds without --do_eval; --class_weights or --doc_stride
      with --multi_label.
  """
  if not multi_label:
    stray = ["--%s=%s" % (name, getattr(cfg, name)) for name, default in (
        ("threshold", 0.5), ("tune_thresholds", False),
        ("label_separator", "|")) if getattr(cfg, name) != default]
    if stray:
      raise ValueError("%s applies to multi-label classification only: give "
                       "--multi_label (with --task_name=generic)." %
                       ", ".join(stray))
    return
  if not 0.0 < cfg.threshold < 1.0:
    raise ValueError("--threshold=%s must lie strictly between 0 and 1 (a "
                     "probability)." % cfg.threshold)
  if cfg.tune_thresholds and not cfg.do_eval:
    raise ValueError("--tune_thresholds chooses the thresholds on the dev "
                     "set after training: give --do_eval too.")
  if cfg.class_weights is not None and str(cfg.class_weights).strip():
    raise ValueError("--class_weights=%s weighs the classes of a single-label "
                     "(softmax) loss; --multi_label has a binary loss per "
                     "label." % cfg.class_weights)
  if cfg.doc_stride is not None:
    raise ValueError("--doc_stride (windows over long documents) is not "
                     "available with --multi_label yet; leave it unset "
                     "(documents are truncated).")


def pooled_predictions(windows, method, is_regression=False):
  """One prediction per document from its windows' logits.

  Args:
    windows: iterable of (doc_index, logits float [num_labels]) per window
      (padding windows have doc_index < 0 and are left out).
    method: "mean" or "max" (`metrics.pool_windows`).
    is_regression: the one logit is the value.

  Returns:
    list, in document order: the class probabilities (softmax of the pooled
    logits, float64 [num_labels]) or the regression value (float).

  Raises:
    RuntimeError: where the documents are not 0, 1, ..., D - 1 (a window
      lost on the way).
  """
  pairs = list(windows)
  if not pairs:
    return []
  docs, pooled = metrics_lib.pool_windows(
      [logits for _, logits in pairs], [d for d, _ in pairs], method)
  if not np.array_equal(docs, np.arange(len(docs))):
    raise RuntimeError("The predicted windows cover documents %s, expected "
                       "0..%d" % (docs.tolist()[:10], len(docs) - 1))
  if is_regression:
    return [float(v) for v in pooled[:, 0]]
  return list(metrics_lib.softmax(pooled))


def run(cfg, bert_config=None, tokenizer=None, model_builder=None):
  """Trains, evaluates, predicts and/or exports as `cfg` asks.

  Args:
    cfg: `ClassifierConfig`.
    bert_config, tokenizer, model_builder: see `ClassifierTask` (TF-Hub).

  Returns:
    the dict of `driver.run` ("eval", "predict_file", "predictions_file",
    "labels_file", "export_path",
    "train_summary", "eval_history", "best", ... where those ran).
  """
  return driver.run(ClassifierTask(bert_config, tokenizer, model_builder),
                    cfg)

"""Data processors for GLUE, XNLI and user-supplied TSV/CSV classification data.

A processor turns a task's data directory into `InputExample`s and knows the
task's label list, whether it is a regression task and which metrics it is
scored by. The GLUE processors read the files exactly as the GLUE download
script writes them and pick the same columns as Google's reference
`run_classifier.py` (CoLA, MNLI, MRPC, XNLI) and the GLUE baselines (the rest):

  task    file columns used (0-based; -1 = last)              labels
  CoLA    train/dev (no header): text 3, label 1;             "0", "1"
          test (header): text 1
  SST-2   train/dev: sentence 0, label 1; test: sentence 1    "0", "1"
  MRPC    text_a 3, text_b 4, label 0 (test: same texts)      "0", "1"
  QQP     question1 3, question2 4, label 5;                  "0", "1"
          test: question1 1, question2 2
  STS-B   sentence1 7, sentence2 8, score -1 (a float)        None (regression)
  MNLI    text_a 8, text_b 9, label -1                        contradiction,
                                                              entailment,
                                                              neutral
  QNLI    text_a 1, text_b 2, label -1                        entailment,
  RTE     (same as QNLI)                                      not_entailment
  WNLI    text_a 1, text_b 2, label -1                        "0", "1"
  XNLI    see `XnliProcessor`                                 as MNLI

Test files carry no gold labels; their examples get a placeholder label (the
first label of `get_labels()`, or 0.0 for regression) so that features can be
built for them, as the reference does. A test example's `example_id` is the
value of its file's id column (column 0 of every GLUE test file; the generic
task's `id_column`), or None where there is none (XNLI; the generic task
without `id_column`).

Files are read by `read_rows`: tab-separated, no quoting (a `"` is literal
text), UTF-8 with an optional byte-order mark, `\\n` or `\\r\\n` line ends,
blank lines skipped. Every problem is reported as `path:line: what was
expected`. Train and dev labels are checked against `get_labels()`.

`PROCESSORS` maps task names to processor classes; `get_processor(name)` builds
one, `compute_metrics(task, predictions, labels)` scores predictions with the
task's `metric_names` (see `bert_tf.metrics`) and `metric_functions(task)`
returns those metrics as functions.

This module never reads absl FLAGS.
"""

import collections
import csv
import io
import os

import numpy as np
import tensorflow.compat.v1 as tf

from bert_tf import metrics


class InputExample(object):
  """A single training/test example for sequence (pair) classification."""

  def __init__(self, guid, text_a, text_b=None, label=None, example_id=None):
    """Constructs an InputExample.

    Args:
      guid: str, unique id of the example, e.g. "train-12".
      text_a: str, the untokenized text of the first sequence.
      text_b: optional str, the untokenized text of the second sequence, for
        sequence-pair tasks.
      label: the label: a str from the processor's `get_labels()` for
        classification, a float for regression; None if unknown.
      example_id: optional str, the id the data file gives the example (its
        id or index column), e.g. for the rows of test_predictions.tsv;
        None if the file has none.
    """
    self.guid = guid
    self.text_a = text_a
    self.text_b = text_b
    self.label = label
    self.example_id = example_id

  def __repr__(self):
    return "InputExample(guid=%r, text_a=%r, text_b=%r, label=%r)" % (
        self.guid, self.text_a, self.text_b, self.label)


class PaddingInputExample(object):
  """A fake example that pads an eval/predict set to a multiple of the batch.

  TPUs need every batch to have the same size, so the number of eval and
  predict examples is rounded up with these. Feature conversion turns one into
  all-zero features with `is_real_example=0`, so it does not count towards the
  metrics, and its predictions are dropped. Using padding instead of dropping
  the remainder means no real example is ever left out.
  """


Row = collections.namedtuple("Row", ["line_number", "fields"])
Row.__doc__ = """One non-blank record of a data file.

Attributes:
  line_number: int, the 1-based line of the file on which the record starts.
  fields: list of str, the record's columns.
"""


def _read_bytes(path):
  """Returns the contents of `path` (local or any tf.io.gfile filesystem)."""
  if not tf.io.gfile.exists(path):
    raise FileNotFoundError("Data file not found: %s" % path)
  if tf.io.gfile.isdir(path):
    raise ValueError("Expected a data file but found a directory: %s" % path)
  with tf.io.gfile.GFile(path, "rb") as f:
    return f.read()


def read_rows(path, delimiter="\t", quotechar=None):
  """Reads a delimited text file into `Row`s, keeping each record's line.

  Args:
    path: the file; local or any `tf.io.gfile` filesystem (e.g. gs://).
    delimiter: the column separator, "\\t" for TSV or "," for CSV.
    quotechar: None for no quoting at all (the GLUE TSV files: quote
      characters are ordinary text and a record is exactly one line), or a
      character such as '"' for CSV-style quoting, where a quoted field may
      hold the delimiter, doubled quotes and line breaks.

  Returns:
    A list of `Row(line_number, fields)`, one per non-blank record, in file
    order. A UTF-8 byte-order mark before the first line is removed, and so is
    the `\\r` of `\\r\\n` line ends.

  Raises:
    FileNotFoundError: if `path` does not exist.
    ValueError: naming the path (and line) if it is a directory, empty, not
      UTF-8 or, with quoting, malformed.
  """
  data = _read_bytes(path)
  try:
    text = data.decode("utf-8")
  except UnicodeDecodeError as e:
    line_number = data.count(b"\n", 0, e.start) + 1
    raise ValueError(
        "%s:%d: expected UTF-8 text, found the byte 0x%02x that is not valid "
        "UTF-8" % (path, line_number, data[e.start]))
  if text.startswith(u"\ufeff"):
    text = text[1:]
  if not text.strip():
    raise ValueError("Data file is empty: %s" % path)

  rows = []
  if quotechar is None:
    # No quoting: split on line feeds only, so that no other character (a
    # quote, a lone "\r", a Unicode line separator) can end or merge records.
    for line_number, line in enumerate(text.split("\n"), start=1):
      if line.endswith("\r"):
        line = line[:-1]
      if line:
        rows.append(Row(line_number, line.split(delimiter)))
    return rows

  # strict: a quote that is never closed, or text right after a closing
  # quote, is an error rather than silently merged into one field.
  reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter,
                      quotechar=quotechar, strict=True)
  start_line = 1
  try:
    for fields in reader:
      if fields:
        rows.append(Row(start_line, fields))
      start_line = reader.line_num + 1
  except csv.Error as e:
    raise ValueError("%s:%d: malformed %s record: %s (expected each quoted "
                     "field to be closed by %s and followed by the delimiter "
                     "or the line end)" %
                     (path, start_line, "CSV" if delimiter == "," else
                      "delimited", e, quotechar))
  return rows


def _required_columns(columns):
  """The least number of fields a row needs for every index in `columns`."""
  required = 0
  for column in columns:
    if column is None:
      continue
    required = max(required, column + 1 if column >= 0 else -column)
  return required


def _check_columns(path, row, required):
  if len(row.fields) < required:
    raise ValueError("%s:%d: expected at least %d columns, found %d" %
                     (path, row.line_number, required, len(row.fields)))


class DataProcessor(object):
  """Base class for the data processors of sequence classification tasks.

  Attributes:
    is_regression: bool, True for a real-valued target (mean-squared-error
      loss, `get_labels()` is None), False for classification (softmax
      cross-entropy over `get_labels()`).
    metric_names: tuple of metric names that `compute_metrics` reports, from
      `METRIC_FUNCTIONS`.
  """

  is_regression = False
  # Multi-label (the generic task's multi_label): a label is a tuple of zero
  # or more labels of `get_labels()`, in their order.
  is_multi_label = False
  metric_names = ("accuracy",)

  def get_train_examples(self, data_dir):
    """Gets a list of `InputExample`s for the train set."""
    raise NotImplementedError()

  def get_dev_examples(self, data_dir):
    """Gets a list of `InputExample`s for the dev set."""
    raise NotImplementedError()

  def get_test_examples(self, data_dir):
    """Gets a list of `InputExample`s for prediction (placeholder labels)."""
    raise NotImplementedError()

  def get_labels(self):
    """Gets the list of labels (str) for this task; None for regression."""
    raise NotImplementedError()

  @property
  def num_labels(self):
    """Width of the output layer: 1 for regression, else len(get_labels())."""
    return 1 if self.is_regression else len(self.get_labels())

  @property
  def loss_type(self):
    """"mean_squared_error" for regression, else "softmax_cross_entropy"."""
    if self.is_regression:
      return "mean_squared_error"
    return "softmax_cross_entropy"

  @classmethod
  def _read_tsv(cls, input_file, quotechar=None):
    """Reads a tab-separated file as the GLUE download writes it.

    Args:
      input_file: path of the file.
      quotechar: None (the default) for no quoting; see `read_rows`.

    Returns:
      A list of rows, each a list of str fields; blank lines are skipped.
    """
    return [row.fields for row in read_rows(input_file, "\t", quotechar)]

  def _placeholder_label(self):
    """The label given to test examples, which have no gold label."""
    if self.is_regression:
      return 0.0
    if self.is_multi_label:
      return ()
    return self.get_labels()[0]

  def _parse_label(self, path, row, raw_label):
    """Returns the checked label of a train/dev row.

    Raises:
      ValueError: naming the file and line, for a label outside `get_labels()`
        or, for regression, a value that is not a number.
    """
    if self.is_regression:
      try:
        return float(raw_label)
      except ValueError:
        raise ValueError("%s:%d: expected a real-valued label, found %r" %
                         (path, row.line_number, raw_label))
    labels = self.get_labels()
    if self.is_multi_label:
      return self._parse_label_set(path, row, raw_label, labels)
    if raw_label not in labels:
      known = ", ".join(repr(label) for label in labels)
      if not raw_label.strip():
        raise ValueError(
            "%s:%d: the label is empty; a single-label task needs exactly "
            "one of the labels %s on every row (several or none: "
            "--multi_label)" % (path, row.line_number, known))
      origin = getattr(self, "labels_origin", None)
      raise ValueError("%s:%d: label %r is not one of the labels %s%s" % (
          path, row.line_number, raw_label, known,
          " (those of the training file %s, which never has %r: training "
          "never saw it)" % (origin, raw_label) if origin else ""))
    return raw_label

  def split_label_set(self, raw_label):
    """The labels of a multi-label field: split on the separator, each
    stripped, empty parts dropped (an empty field is the empty set)."""
    return [part.strip() for part in raw_label.split(self.label_separator)
            if part.strip()]

  def _parse_label_set(self, path, row, raw_label, labels):
    """The checked label set (a tuple in label order) of a multi-label row.

    Raises:
      ValueError: naming the file and line, for a label outside `labels` or
        a label given twice.
    """
    parts = self.split_label_set(raw_label)
    unknown = [part for part in parts if part not in labels]
    if unknown:
      origin = getattr(self, "labels_origin", None)
      raise ValueError(
          "%s:%d: label %r (of the label set %r, separator %r) is not one of "
          "the labels %s%s" % (
              path, row.line_number, unknown[0], raw_label,
              self.label_separator, ", ".join(repr(l) for l in labels),
              " (those of the training file %s: training never saw it)" %
              origin if origin else ""))
    if len(set(parts)) != len(parts):
      raise ValueError("%s:%d: the label set %r names a label twice" %
                       (path, row.line_number, raw_label))
    return tuple(label for label in labels if label in parts)

  def _create_examples(self, path, rows, set_type, text_a_column,
                       text_b_column=None, label_column=None,
                       guid_column=None, has_header=True, id_column=None):
    """Builds `InputExample`s from `rows` of the file `path`.

    Args:
      path: the file the rows came from (for error messages).
      rows: list of `Row`.
      set_type: "train", "dev", "test", ...: the prefix of every guid.
      text_a_column: int, column of the first text.
      text_b_column: int or None, column of the second text.
      label_column: int, column of the label; None for test data, which gets
        `_placeholder_label()`.
      guid_column: int or None. If None the guid is "<set_type>-<i>", with i
        the row's index in the file (the header, if any, is row 0), as in the
        reference; otherwise "<set_type>-<that column's value>".
      has_header: whether rows[0] is a header to skip.
      id_column: int or None, the column of the examples' `example_id`
        (default: `guid_column`; None for neither: no `example_id`).

    Returns:
      A list of `InputExample`.
    """
    if id_column is None:
      id_column = guid_column
    required = _required_columns(
        [text_a_column, text_b_column, label_column, guid_column, id_column])
    examples = []
    for i, row in enumerate(rows):
      if has_header and i == 0:
        continue
      _check_columns(path, row, required)
      fields = row.fields
      if guid_column is None:
        guid = "%s-%d" % (set_type, i)
      else:
        guid = "%s-%s" % (set_type, fields[guid_column])
      text_a = fields[text_a_column]
      text_b = None if text_b_column is None else fields[text_b_column]
      if label_column is None:
        label = self._placeholder_label()
      else:
        label = self._parse_label(path, row, fields[label_column])
      example_id = None if id_column is None else fields[id_column]
      examples.append(InputExample(guid, text_a, text_b, label, example_id))
    return examples


Split = collections.namedtuple("Split", [
    "filename", "set_type", "has_header", "guid_column", "text_a_column",
    "text_b_column", "label_column", "id_column"
], defaults=(None,))
Split.__doc__ = """Where one split of a task lives in its TSV file.

Attributes:
  filename: the file's name inside the data directory.
  set_type: the guid prefix ("train", "dev", "test", ...).
  has_header: whether the first line is a header.
  guid_column: int column whose value goes into the guid, or None for the
    row index.
  text_a_column, text_b_column: int columns of the texts (text_b may be None).
  label_column: int column of the label, or None for unlabelled test data.
  id_column: int column of the examples' `example_id` (default: guid_column,
    or no id where that is None too).
"""


class TsvTaskProcessor(DataProcessor):
  """A processor whose splits are described by `Split`s (class attributes).

  Subclasses set LABELS, TRAIN, DEV and TEST.
  """

  LABELS = None
  TRAIN = None
  DEV = None
  TEST = None

  def get_labels(self):
    return None if self.LABELS is None else list(self.LABELS)

  def _examples_for(self, data_dir, split):
    path = os.path.join(data_dir, split.filename)
    return self._create_examples(
        path, read_rows(path), split.set_type, split.text_a_column,
        split.text_b_column, split.label_column, split.guid_column,
        split.has_header, split.id_column)

  def get_train_examples(self, data_dir):
    return self._examples_for(data_dir, self.TRAIN)

  def get_dev_examples(self, data_dir):
    return self._examples_for(data_dir, self.DEV)

  def get_test_examples(self, data_dir):
    return self._examples_for(data_dir, self.TEST)


class ColaProcessor(TsvTaskProcessor):
  """CoLA: single-sentence acceptability; scored by Matthews correlation.

  train.tsv/dev.tsv have no header: source, label, original label, sentence.
  test.tsv has a header: index, sentence.
  """

  LABELS = ("0", "1")
  metric_names = ("mcc",)
  TRAIN = Split("train.tsv", "train", False, None, 3, None, 1)
  DEV = Split("dev.tsv", "dev", False, None, 3, None, 1)
  TEST = Split("test.tsv", "test", True, None, 1, None, None, id_column=0)


class Sst2Processor(TsvTaskProcessor):
  """SST-2: single-sentence sentiment; header `sentence<TAB>label`.

  test.tsv: `index<TAB>sentence`.
  """

  LABELS = ("0", "1")
  TRAIN = Split("train.tsv", "train", True, None, 0, None, 1)
  DEV = Split("dev.tsv", "dev", True, None, 0, None, 1)
  TEST = Split("test.tsv", "test", True, None, 1, None, None, id_column=0)


class MrpcProcessor(TsvTaskProcessor):
  """MRPC: paraphrase pairs; header `Quality, #1 ID, #2 ID, #1 String, ...`.

  test.tsv: `index, #1 ID, #2 ID, #1 String, #2 String`, so the texts are in
  the same columns. Scored by accuracy and F1 (positive class "1").
  """

  LABELS = ("0", "1")
  metric_names = ("accuracy", "f1")
  TRAIN = Split("train.tsv", "train", True, None, 3, 4, 0)
  DEV = Split("dev.tsv", "dev", True, None, 3, 4, 0)
  TEST = Split("test.tsv", "test", True, None, 3, 4, None, id_column=0)


class QqpProcessor(TsvTaskProcessor):
  """QQP: question pairs; `id, qid1, qid2, question1, question2, is_duplicate`.

  test.tsv: `id, question1, question2`. Scored by accuracy and F1.
  """

  LABELS = ("0", "1")
  metric_names = ("accuracy", "f1")
  TRAIN = Split("train.tsv", "train", True, 0, 3, 4, 5)
  DEV = Split("dev.tsv", "dev", True, 0, 3, 4, 5)
  TEST = Split("test.tsv", "test", True, 0, 1, 2, None)


class StsbProcessor(TsvTaskProcessor):
  """STS-B: sentence-pair similarity scores in [0, 5]; a regression task.

  Columns: index, genre, filename, year, old_index, source1, source2,
  sentence1, sentence2, score (test.tsv has no score). Scored by Pearson and
  Spearman correlation; trained with a mean-squared-error loss.
  """

  LABELS = None
  is_regression = True
  metric_names = ("pearson", "spearman")
  TRAIN = Split("train.tsv", "train", True, 0, 7, 8, -1)
  DEV = Split("dev.tsv", "dev", True, 0, 7, 8, -1)
  TEST = Split("test.tsv", "test", True, 0, 7, 8, None)


class MnliProcessor(TsvTaskProcessor):
  """MultiNLI: sentence1 in column 8, sentence2 in 9, gold label last.

  `get_dev_examples` reads dev_matched.tsv; `get_dev_mismatched_examples`
  reads dev_mismatched.tsv. Likewise for test_matched.tsv/test_mismatched.tsv.
  """

  LABELS = ("contradiction", "entailment", "neutral")
  TRAIN = Split("train.tsv", "train", True, 0, 8, 9, -1)
  DEV = Split("dev_matched.tsv", "dev_matched", True, 0, 8, 9, -1)
  DEV_MISMATCHED = Split("dev_mismatched.tsv", "dev_mismatched", True, 0, 8, 9,
                         -1)
  TEST = Split("test_matched.tsv", "test", True, 0, 8, 9, None)
  TEST_MISMATCHED = Split("test_mismatched.tsv", "test_mismatched", True, 0, 8,
                          9, None)

  def get_dev_mismatched_examples(self, data_dir):
    return self._examples_for(data_dir, self.DEV_MISMATCHED)

  def get_test_mismatched_examples(self, data_dir):
    return self._examples_for(data_dir, self.TEST_MISMATCHED)


class QnliProcessor(TsvTaskProcessor):
  """QNLI: `index, question, sentence, label` (test.tsv without label)."""

  LABELS = ("entailment", "not_entailment")
  TRAIN = Split("train.tsv", "train", True, 0, 1, 2, -1)
  DEV = Split("dev.tsv", "dev", True, 0, 1, 2, -1)
  TEST = Split("test.tsv", "test", True, 0, 1, 2, None)


class RteProcessor(QnliProcessor):
  """RTE: `index, sentence1, sentence2, label`, as QNLI."""


class WnliProcessor(TsvTaskProcessor):
  """WNLI: `index, sentence1, sentence2, label` with labels "0" and "1"."""

  LABELS = ("0", "1")
  TRAIN = Split("train.tsv", "train", True, 0, 1, 2, -1)
  DEV = Split("dev.tsv", "dev", True, 0, 1, 2, -1)
  TEST = Split("test.tsv", "test", True, 0, 1, 2, None)


class XnliProcessor(DataProcessor):
  """XNLI for one language, laid out as the reference expects.

  train: `<data_dir>/multinli/multinli.train.<language>.tsv` with a header and
    columns premise, hypo, label; the label "contradictory" is read as
    "contradiction".
  dev: `<data_dir>/xnli.dev.tsv`, all languages in one file with a header;
    rows whose column 0 is the language are kept, with the label in column 1
    and the texts in columns 6 and 7.
  test: `<data_dir>/xnli.test.tsv`, laid out as dev; placeholder labels.
  """

  LABELS = ("contradiction", "entailment", "neutral")

  def __init__(self, language="zh"):
    if not language:
      raise ValueError("XnliProcessor needs a language code such as 'zh'")
    self.language = language

  def get_labels(self):
    return list(self.LABELS)

  def get_train_examples(self, data_dir):
    path = os.path.join(data_dir, "multinli",
                        "multinli.train.%s.tsv" % self.language)
    examples = []
    for i, row in enumerate(read_rows(path)):
      if i == 0:
        continue
      _check_columns(path, row, 3)
      label = row.fields[2]
      if label == "contradictory":
        label = "contradiction"
      label = self._parse_label(path, row, label)
      examples.append(InputExample("train-%d" % i, row.fields[0],
                                   row.fields[1], label))
    return examples

  def _language_examples(self, path, set_type, labelled):
    examples = []
    languages = set()
    for i, row in enumerate(read_rows(path)):
      if i == 0:
        continue
      _check_columns(path, row, 8)
      languages.add(row.fields[0])
      if row.fields[0] != self.language:
        continue
      if labelled:
        label = self._parse_label(path, row, row.fields[1])
      else:
        label = self._placeholder_label()
      examples.append(InputExample("%s-%d" % (set_type, i), row.fields[6],
                                   row.fields[7], label))
    if not examples:
      raise ValueError("%s: expected rows for the language %r in column 1, "
                       "found %s" % (path, self.language,
                                     ", ".join(sorted(languages)) or "none"))
    return examples

  def get_dev_examples(self, data_dir):
    return self._language_examples(
        os.path.join(data_dir, "xnli.dev.tsv"), "dev", labelled=True)

  def get_test_examples(self, data_dir):
    return self._language_examples(
        os.path.join(data_dir, "xnli.test.tsv"), "test", labelled=False)


class GenericProcessor(DataProcessor):
  """Single-sentence or sentence-pair data in any TSV or CSV layout.

  Columns are 0-based indices (negative ones count from the end) or, when the
  files have a header, column names looked up in each file's own header (so a
  test file may order its columns differently). Labels are read as str; pass
  `labels`, or leave it None to use the sorted distinct labels of the train
  file. The guid of an example is "<set>-<i>", i counting the file's rows with
  the header as row 0; `id_column` gives the test examples an `example_id`.
  """

  _AUTO = object()

  def __init__(self, text_a_column, text_b_column=None, label_column=-1,
               labels=None, delimiter="\t", has_header=True,
               quotechar=_AUTO, train_file="train.tsv", dev_file="dev.tsv",
               test_file="test.tsv", is_regression=False, data_dir=None,
               test_text_a_column=None, test_text_b_column=None,
               metric_names=None, id_column=None, multi_label=False,
               label_separator="|"):
    """Describes the data.

    Args:
      text_a_column: int index or str header name of the first text.
      text_b_column: int/str column of the second text, or None.
      label_column: int/str column of the label (default: the last column).
      labels: list of the label strings (the id of a label is its index), or
        None to infer them from the train file. Ignored for regression.
      delimiter: "\\t" (TSV) or "," (CSV), or any single character.
      has_header: whether each file's first record is a header.
      quotechar: None for no quoting, or a quote character such as '"'.
        Default: None for "\\t", '"' for any other delimiter.
      train_file, dev_file, test_file: file names inside the data directory.
      is_regression: if True the label is a float and `get_labels()` is None.
      data_dir: optional directory to infer labels from when `get_labels()`
        is called before any examples were read.
      test_text_a_column, test_text_b_column: columns of the texts in the
        test file, if it is laid out differently (default: as train/dev). The
        test file's labels are never read.
      metric_names: the metrics to report (default: accuracy, or Pearson and
        Spearman for regression).
      id_column: optional int/str column of the test file holding each
        example's id (its `example_id`, written to test_predictions.tsv);
        train and dev files need not have it.
      multi_label: the label column holds zero or more labels separated by
        `label_separator` (an empty field is the empty set); an example's
        label is then the tuple of its labels, in `get_labels()` order, and
        inferred labels are the sorted union of the train file's.
      label_separator: the separator of multi-label fields.
    """
    if not isinstance(delimiter, str) or len(delimiter) != 1:
      raise ValueError("delimiter must be one character, got %r" % delimiter)
    if quotechar is GenericProcessor._AUTO:
      quotechar = None if delimiter == "\t" else '"'
    for name, column in (("text_a_column", text_a_column),
                         ("text_b_column", text_b_column),
                         ("label_column", label_column),
                         ("test_text_a_column", test_text_a_column),
                         ("test_text_b_column", test_text_b_column),
                         ("id_column", id_column)):
      if column is None and name != "text_a_column":
        continue
      if isinstance(column, bool) or not isinstance(column, (int, str)):
        raise ValueError("%s must be a column index (int) or a header name "
                         "(str), got %r" % (name, column))
      if isinstance(column, str) and not has_header:
        raise ValueError("%s=%r names a column, which needs has_header=True" %
                         (name, column))
    if label_column is None:
      raise ValueError("label_column must be a column index or header name")
    self.text_a_column = text_a_column
    self.text_b_column = text_b_column
    self.label_column = label_column
    self.test_text_a_column = test_text_a_column
    self.test_text_b_column = test_text_b_column
    self.id_column = id_column
    self.delimiter = delimiter
    self.has_header = has_header
    self.quotechar = quotechar
    self.train_file = train_file
    self.dev_file = dev_file
    self.test_file = test_file
    self.is_regression = bool(is_regression)
    self.is_multi_label = bool(multi_label)
    if self.is_multi_label and self.is_regression:
      raise ValueError("multi_label and regression exclude each other: a "
                       "multi-label row holds label names, not a number")
    if not isinstance(label_separator, str) or not label_separator.strip():
      raise ValueError("label_separator must be a non-blank string, got %r" %
                       (label_separator,))
    self.label_separator = label_separator
    self.data_dir = data_dir
    if self.is_regression:
      self._labels = None
    elif labels is not None:
      self._labels = [str(label) for label in labels]
      if not self._labels or len(set(self._labels)) != len(self._labels):
        raise ValueError("labels must be a non-empty list of distinct labels, "
                         "got %r" % (labels,))
    else:
      self._labels = None
    if metric_names is None:
      metric_names = (("pearson", "spearman") if self.is_regression else
                      ("accuracy",))
    unknown = [name for name in metric_names if name not in METRIC_FUNCTIONS]
    if unknown:
      raise ValueError(
          "Unknown metric(s) %s; known: %s" %
          (", ".join(unknown), ", ".join(sorted(METRIC_FUNCTIONS))))
    self.metric_names = tuple(metric_names)

  def get_labels(self):
    if self.is_regression:
      return None
    if self._labels is None:
      if self.data_dir is None:
        raise ValueError(
            "The labels are not known yet: pass labels=[...] or data_dir= to "
            "GenericProcessor, or call get_train_examples first")
      self._infer_labels(self.data_dir)
    return list(self._labels)

  def _read(self, data_dir, filename):
    path = os.path.join(data_dir, filename)
    return path, read_rows(path, self.delimiter, self.quotechar)

  def _resolve(self, path, rows, column):
    """Turns a column name into its index in the header of `path`."""
    if column is None or isinstance(column, int):
      return column
    header = [name.strip() for name in rows[0].fields]
    if column not in header:
      raise ValueError("%s:%d: expected a header with a column named %r, "
                       "found %s" % (path, rows[0].line_number, column,
                                     ", ".join(repr(h) for h in header)))
    return header.index(column)

  def _infer_labels(self, data_dir):
    path, rows = self._read(data_dir, self.train_file)
    label_column = self._resolve(path, rows, self.label_column)
    required = _required_columns([label_column])
    labels = set()
    for i, row in enumerate(rows):
      if self.has_header and i == 0:
        continue
      _check_columns(path, row, required)
      label = row.fields[label_column]
      if self.is_multi_label:
        labels.update(self.split_label_set(label))
        continue
      if not label.strip():
        raise ValueError(
            "%s:%d: the label is empty; a single-label task needs exactly "
            "one label on every row (several or none: --multi_label)" % (
                path, row.line_number))
      labels.add(label)
    if not labels:
      raise ValueError("%s: expected labelled rows to infer the labels from, "
                       "found none" % path)
    self._labels = sorted(labels)
    self.labels_origin = path

  def _labelled_examples(self, data_dir, filename, set_type):
    if not self.is_regression and self._labels is None:
      self._infer_labels(data_dir)
    path, rows = self._read(data_dir, filename)
    return self._create_examples(
        path, rows, set_type,
        self._resolve(path, rows, self.text_a_column),
        self._resolve(path, rows, self.text_b_column),
        self._resolve(path, rows, self.label_column),
        has_header=self.has_header)

  def get_train_examples(self, data_dir):
    return self._labelled_examples(data_dir, self.train_file, "train")

  def get_dev_examples(self, data_dir):
    return self._labelled_examples(data_dir, self.dev_file, "dev")

  def get_test_examples(self, data_dir):
    if not self.is_regression and self._labels is None:
      self._infer_labels(data_dir)
    path, rows = self._read(data_dir, self.test_file)
    text_a = self.text_a_column
    text_b = self.text_b_column
    if self.test_text_a_column is not None:
      text_a = self.test_text_a_column
    if self.test_text_b_column is not None:
      text_b = self.test_text_b_column
    return self._create_examples(
        path, rows, "test", self._resolve(path, rows, text_a),
        self._resolve(path, rows, text_b), None, has_header=self.has_header,
        id_column=self._resolve(path, rows, self.id_column))


METRIC_FUNCTIONS = {
    "accuracy": metrics.accuracy,
    "f1": metrics.f1_score,
    "precision": metrics.precision,
    "recall": metrics.recall,
    "mcc": metrics.matthews_corrcoef,
    "pearson": metrics.pearson,
    "spearman": metrics.spearman,
}

PROCESSORS = {
    "cola": ColaProcessor,
    "sst-2": Sst2Processor,
    "sst2": Sst2Processor,
    "mrpc": MrpcProcessor,
    "qqp": QqpProcessor,
    "sts-b": StsbProcessor,
    "stsb": StsbProcessor,
    "mnli": MnliProcessor,
    "qnli": QnliProcessor,
    "rte": RteProcessor,
    "wnli": WnliProcessor,
    "xnli": XnliProcessor,
    "generic": GenericProcessor,
}


def register_processor(name, cls, overwrite=False):
  """Adds a processor class to `PROCESSORS` under the lower-cased `name`.

  Args:
    name: task name, matched case-insensitively by `get_processor`.
    cls: a subclass of `DataProcessor`.
    overwrite: allow replacing an existing entry.

  Raises:
    ValueError: if `name` is taken (and not `overwrite`) or `cls` is not a
      `DataProcessor` subclass.
  """
  if not (isinstance(cls, type) and issubclass(cls, DataProcessor)):
    raise ValueError("register_processor(%r, ...) needs a DataProcessor "
                     "subclass, got %r" % (name, cls))
  key = name.strip().lower()
  if key in PROCESSORS and not overwrite and PROCESSORS[key] is not cls:
    raise ValueError("A processor is already registered as %r (%s); pass "
                     "overwrite=True to replace it" %
                     (key, PROCESSORS[key].__name__))
  PROCESSORS[key] = cls


# The run_classifier.py flags that configure a task's processor.
PROCESSOR_FLAG_DEFAULTS = {
    "text_a_column": None, "text_b_column": None, "label_column": None,
    "labels": None, "delimiter": "tab", "has_header": True,
    "regression": False, "train_file": "train.tsv", "dev_file": "dev.tsv",
    "test_file": "test.tsv", "id_column": None, "multi_label": False,
    "label_separator": "|", "xnli_language": "zh",
}


def _column(value):
  """A column flag: an int index ("0", "-1") or a header name."""
  if value is None:
    return None
  value = str(value)
  return int(value) if value.lstrip("-").isdigit() else value


def processor_kwargs(task_name, values):
  """`get_processor` keyword arguments from run_classifier.py flag values.

  Args:
    task_name: the --task_name value.
    values: dict flag name -> typed value for the names in
      PROCESSOR_FLAG_DEFAULTS (missing names take their defaults); `labels`
      may be a list or a comma-separated string.

  Returns:
    dict: the generic task's columns, delimiter, files, ...; XNLI's
    language; {} for the other tasks.
  """
  v = dict(PROCESSOR_FLAG_DEFAULTS)
  v.update({k: x for k, x in values.items() if k in v})
  name = (task_name or "").lower()
  if name == "generic":
    csv = v["delimiter"] == "comma"
    labels = v["labels"]
    return dict(
        text_a_column=_column(v["text_a_column"]),
        text_b_column=_column(v["text_b_column"]),
        label_column=_column(v["label_column"]),
        labels=labels.split(",") if isinstance(labels, str) else labels,
        delimiter="," if csv else "\t",
        quotechar='"' if csv else None,
        has_header=v["has_header"],
        train_file=v["train_file"],
        dev_file=v["dev_file"],
        test_file=v["test_file"],
        is_regression=v["regression"],
        id_column=_column(v["id_column"]),
        multi_label=v["multi_label"],
        label_separator=v["label_separator"])
  if name == "xnli":
    return dict(language=v["xnli_language"])
  return {}


def get_processor(task_name, **kwargs):
  """Returns a new processor for `task_name` (case-insensitive).

  Args:
    task_name: a key of `PROCESSORS`, e.g. "MRPC", "sst-2", "generic".
    **kwargs: passed to the processor's constructor (e.g. `language` for
      "xnli", the columns for "generic").

  Raises:
    ValueError: for an unknown task, listing the known ones.
  """
  key = task_name.strip().lower()
  if key not in PROCESSORS:
    raise ValueError("Unknown task %r; known tasks: %s" %
                     (task_name, ", ".join(sorted(PROCESSORS))))
  return PROCESSORS[key](**kwargs)


def _label_ids(values, labels, name):
  """Maps an array of label strings to their indices in `labels`."""
  index = {label: i for i, label in enumerate(labels)}
  ids = []
  for value in values.reshape(-1):
    if value not in index:
      raise ValueError("%s holds %r, which is not one of the labels %s" %
                       (name, value, ", ".join(repr(l) for l in labels)))
    ids.append(index[value])
  return np.array(ids, dtype=np.int64).reshape(values.shape)


def _as_processor(task_name_or_processor):
  if isinstance(task_name_or_processor, DataProcessor):
    return task_name_or_processor
  try:
    return get_processor(task_name_or_processor)
  except TypeError:
    raise ValueError("Task %r needs constructor arguments; pass the processor "
                     "itself" % (task_name_or_processor,))


def metric_functions(task_name_or_processor):
  """The task's metrics as functions, e.g. for `heads.ClassificationHead`.

  Args:
    task_name_or_processor: a task name for `get_processor` or a processor.

  Returns:
    OrderedDict metric name -> fn(predictions [n], labels [n]) -> float, in
    the order of the processor's `metric_names`; predictions are class ids
    (or real values for regression).
  """
  processor = _as_processor(task_name_or_processor)
  return collections.OrderedDict(
      (name, METRIC_FUNCTIONS[name]) for name in processor.metric_names)


def compute_metrics(task_name_or_processor, predictions, labels, loss=None):
  """Scores predictions with the task's `metric_names`.

  Args:
    task_name_or_processor: a task name for `get_processor` or a processor.
    predictions: classification: shape [n] label ids (or label strings), or
      shape [n, num_labels] logits/probabilities (argmax is taken).
      Regression: shape [n] or [n, 1] real values.
    labels: shape [n] label ids or label strings (classification) or real
      values (regression).
    loss: optional mean loss, reported as "loss".

  Returns:
    dict metric name -> float, in the order of `metric_names`, plus "loss".
  """
  processor = _as_processor(task_name_or_processor)
  predictions = np.asarray(predictions)
  labels = np.asarray(labels)
  if processor.is_regression:
    predictions = predictions.astype(np.float64)
    labels = labels.astype(np.float64)
  else:
    if predictions.ndim == 2 and predictions.shape[1] > 1:
      predictions = np.argmax(predictions, axis=-1)
    if predictions.dtype.kind in "USO":
      predictions = _label_ids(predictions, processor.get_labels(),
                               "predictions")
    if labels.dtype.kind in "USO":
      labels = _label_ids(labels, processor.get_labels(), "labels")
  result = collections.OrderedDict()
  for name, fn in metric_functions(processor).items():
    result[name] = fn(predictions, labels)
  if loss is not None:
    result["loss"] = float(loss)
  return result

"""Fast prediction from an exported SavedModel, with a warm session.

`Predictor(export_dir)` loads the SavedModel once into a persistent session
and tokenizes in Python with `FullTokenizer` (the vocabulary and casing come
from the export's `assets.extra`, written by `export.export_saved_model`, or
are given). Features are built exactly as `tasks.classifier` builds them
(`convert_single_example`), so predictions equal `estimator.predict`'s.

  predictor = Predictor("/tmp/export")           # or a timestamped child
  probs = predictor.predict(["a sentence", ("text a", "text b")])
  # float32 [2, num_labels]; regression exports give float32 [2]

A tagging (NER) export (`task` "tagging", written by run_ner.py or
`python -m bert_tf.export --task=tagging`) takes raw text instead and returns
its entities with their type, text and character offsets:

  predictor = Predictor("/tmp/ner_export")
  predictor.entities(["Empire State Building = ESB"])
  # [[{"type": "location", "text": "Empire State Building", "start": 0,
  #    "end": 21, "score": 0.97}, ...]]

The text is split into words as BERT's basic tokenizer splits it
(`tasks.ner.split_text`: whitespace, punctuation, CJK characters), the words
into WordPiece windows exactly as run_ner.py builds them
(`tasks.ner.convert_sentences`, with the export's max_seq_length and
doc_stride), and each word takes the tag predicted on its first piece in the
window where it has the most context.

The fast CPU path: an export's graph is written in the op patterns that
TensorFlow's oneDNN graph rewriter fuses (`modeling.fusible_ops`, the
default), so the Predictor's session runs dense + GELU and the attention
scores as fused ops; `graph_report()` lists the fused and bfloat16 ops that
really ran. `use_bf16=True` (`--use_bf16`) adds oneDNN's automatic bfloat16
rewrite (float32 weights; matmuls in bfloat16): faster on CPUs with
AVX512-BF16 or AMX, outputs within about 5e-2 of float32 (probabilities of
order one; bfloat16 keeps 8 bits of mantissa). Elsewhere it runs but
does not pay: oneDNN emulates bfloat16 (AVX512 without it), or, without
AVX512, TensorFlow's generic kernels run the rewritten graph without the
fusions; the log says which.

Command:

  python -m bert_tf.predictor --export_dir=DIR --input_file=F.tsv|F.txt \
    [--output_file=OUT.tsv] [--batch_size=32] [--use_bf16]

A .tsv line is `text_a` or `text_a<TAB>text_b`; any other file is one text per
line. The output has one line per input line: the tab-separated class
probabilities (or the regression value), as run_classifier's
test_results.tsv. For a tagging export every input line is a text, and each
output line is a JSON object {"text": ..., "entities": [...]}.

This module never reads absl FLAGS (flags are defined only when it runs as a
script).
"""

import json
import os
import uuid

import numpy as np
import tensorflow.compat.v1 as tf

from bert_tf import export as export_lib
from bert_tf import host
from bert_tf import runtime
from bert_tf import tokenization
from bert_tf.tasks import classifier
from bert_tf.tasks import glue
from bert_tf.tasks import ner

_TEXT_INPUTS = ("input_ids", "input_mask", "segment_ids")


def _as_pair(item, index):
  """Returns (text_a, text_b or None) of one input item."""
  if isinstance(item, (str, bytes)):
    return tokenization.convert_to_unicode(item), None
  if isinstance(item, (tuple, list)) and 1 <= len(item) <= 2:
    a = tokenization.convert_to_unicode(item[0])
    b = item[1] if len(item) == 2 else None
    return a, (tokenization.convert_to_unicode(b) if b else None)
  raise ValueError("Input %d must be a text or a (text_a, text_b) pair, got "
                   "%r" % (index, item))


class Predictor(object):
  """A SavedModel in a persistent session, with the classifier's features.

  Args:
    export_dir: a SavedModel directory, or a parent of timestamped ones (the
      newest is used).
    vocab_file: vocabulary (default: the export's assets.extra/vocab.txt).
    do_lower_case: casing (default: recorded in the export).
    signature_key: the signature to run.
    session_config: optional tf.ConfigProto.
    use_bf16: turn on oneDNN's automatic bfloat16 rewrite in the session
      (on top of `session_config`); see the module docstring.
  """

  def __init__(self, export_dir, vocab_file=None, do_lower_case=None,
               signature_key="serving_default", session_config=None,
               use_bf16=False):
    self.saved_model_dir = export_lib.latest_saved_model(export_dir)
    self.use_bf16 = bool(use_bf16)
    if self.use_bf16:
      config = tf.ConfigProto()
      if session_config is not None:
        config.CopyFrom(session_config)
      session_config = runtime.enable_bf16_rewrite(config, inference=True)
      # Said at warning level where it does not pay (the command line logs
      # warnings only).
      log = (tf.logging.info if host.cpu_flags() & host.NATIVE_BF16_FLAGS
             else tf.logging.warning)
      log("Predictor use_bf16: oneDNN automatic bfloat16 rewrite; %s.",
          host.bf16_note())
    self.metadata = export_lib.read_export_metadata(self.saved_model_dir)
    if vocab_file is None:
      vocab_file = os.path.join(self.saved_model_dir, export_lib.EXTRA_DIR,
                                export_lib.VOCAB_FILE)
      if not tf.io.gfile.exists(vocab_file):
        raise FileNotFoundError(
            "The export %s carries no %s/%s: pass vocab_file (and "
            "do_lower_case)" % (self.saved_model_dir, export_lib.EXTRA_DIR,
                                export_lib.VOCAB_FILE))
    if do_lower_case is None:
      do_lower_case = self.metadata.get("do_lower_case")
      if do_lower_case is None:
        raise ValueError("The export %s does not record do_lower_case: pass it"
                         % self.saved_model_dir)
    self.tokenizer = tokenization.FullTokenizer(vocab_file, do_lower_case)
    self.labels = self.metadata.get("labels")
    self.is_regression = bool(self.metadata.get("is_regression"))
    self.task = export_lib.TASK_ALIASES.get(self.metadata.get("task"),
                                            self.metadata.get("task"))

    self.graph = tf.Graph()
    self.session = tf.Session(graph=self.graph, config=session_config)
    with self.graph.as_default():
      meta_graph = tf.saved_model.loader.load(
          self.session, [tf.saved_model.tag_constants.SERVING],
          self.saved_model_dir)
    if signature_key not in meta_graph.signature_def:
      raise ValueError("%s has no signature %r (it has: %s)" % (
          self.saved_model_dir, signature_key,
          ", ".join(sorted(meta_graph.signature_def))))
    signature = meta_graph.signature_def[signature_key]
    self.input_names = sorted(signature.inputs)
    self.output_names = sorted(signature.outputs)
    for name in _TEXT_INPUTS:
      if name not in signature.inputs:
        raise ValueError("Signature %r of %s lacks the input %r (inputs: %s)"
                         % (signature_key, self.saved_model_dir, name,
                            ", ".join(self.input_names)))
    dims = signature.inputs["input_ids"].tensor_shape.dim
    seq = dims[1].size if len(dims) == 2 else -1
    self.max_seq_length = seq if seq > 0 else self.metadata.get(
        "max_seq_length")
    if not self.max_seq_length:
      raise ValueError("Cannot tell the sequence length of %s" %
                       self.saved_model_dir)
    inputs = [self.graph.get_tensor_by_name(signature.inputs[n].name)
              for n in self.input_names]
    outputs = [self.graph.get_tensor_by_name(signature.outputs[n].name)
               for n in self.output_names]
    self._inputs = inputs
    self._outputs = outputs
    self._run = self.session.make_callable(outputs, feed_list=inputs)

  def featurize(self, inputs):
    """Classifier features of `inputs` (texts or (text_a, text_b) pairs).

    An export of long documents (its metadata records `doc_stride`) gets
    one row per window, as run_classifier.py cut them
    (`classifier.convert_example_to_windows`), and `doc_index` [n] int64,
    the input each row belongs to.

    Returns:
      dict name -> int32 np.ndarray: input_ids, input_mask, segment_ids
      [n, max_seq_length] (plus unique_ids [n] = 0..n-1 if the signature
      takes them, doc_index for windows).
    """
    if isinstance(inputs, (str, bytes)):
      inputs = [inputs]
    feats = []
    doc_stride = self.metadata.get("doc_stride")
    for i, item in enumerate(inputs):
      a, b = _as_pair(item, i)
      example = glue.InputExample("predict-%d" % i, a, b, "0")
      if doc_stride:
        feats += classifier.convert_example_to_windows(
            i, example, ["0"], self.max_seq_length, self.tokenizer,
            int(doc_stride), self.metadata.get("max_windows_per_doc"),
            log=False)
        continue
      # ex_index >= 3 keeps convert_single_example from logging examples.
      feats.append(classifier.convert_single_example(
          3 + i, example, ["0"], self.max_seq_length, self.tokenizer))
    arrays = {name: np.array([getattr(f, name) for f in feats],
                             np.int32).reshape([-1, self.max_seq_length])
              for name in _TEXT_INPUTS}
    if doc_stride:
      # Not an input of the model: each window's document (0-based).
      arrays["doc_index"] = np.array([f.doc_index for f in feats],
                                     np.int64)
    if "unique_ids" in self.input_names:
      arrays["unique_ids"] = np.arange(len(feats), dtype=np.int32)
    return arrays

  def run(self, features, batch_size=32):
    """Runs the signature over `features` in batches.

    Args:
      features: dict input name -> np.ndarray with a leading batch axis.
      batch_size: examples per session run.

    Returns:
      dict output name -> np.ndarray, concatenated over the batches.
    """
    missing = [n for n in self.input_names if n not in features]
    if missing:
      raise ValueError("Missing inputs %s (the signature takes %s)" %
                       (", ".join(missing), ", ".join(self.input_names)))
    n = len(features["input_ids"])
    chunks = {name: [] for name in self.output_names}
    for start in range(0, n, max(1, batch_size)):
      values = self._run(*[features[name][start:start + batch_size]
                           for name in self.input_names])
      for name, value in zip(self.output_names, values):
        chunks[name].append(value)
    if n == 0:
      return {name: np.zeros([0]) for name in self.output_names}
    return {name: np.concatenate(parts, axis=0)
            for name, parts in chunks.items()}

  def graph_report(self, features):
    """The ops TensorFlow really ran for one batch, after its rewrites.

    Args:
      features: dict input name -> np.ndarray (one batch), e.g.
        `featurize(["some text"])`.

    Returns:
      dict: "fused_ops" {fused op (with its fused_ops attribute): count},
      "low_precision" {"bfloat16", "float16", "Cast", "total": op counts}
      (see `bert_tf.benchmark.graphs`).
    """
    from bert_tf.benchmark import graphs  # pylint: disable=g-import-not-at-top
    metadata = tf.RunMetadata()
    self.session.run(
        self._outputs,
        feed_dict={t: features[n] for n, t in zip(self.input_names,
                                                  self._inputs)},
        options=tf.RunOptions(output_partition_graphs=True),
        run_metadata=metadata)
    return {
        "fused_ops": graphs.count_fused_ops(metadata.partition_graphs),
        "low_precision": graphs.count_low_precision_ops(
            metadata.partition_graphs)}

  def predict_outputs(self, inputs, batch_size=32):
    """All outputs of the signature for texts or pairs (see `featurize`)."""
    return self.run(self.featurize(inputs), batch_size)

  def tag_words(self, sentences, batch_size=32):
    """Tags pre-split words (tagging exports).

    Args:
      sentences: list of lists of str (words).
      batch_size: windows per session run.

    Returns:
      list (per sentence) of (tags: list of str, scores: float32 np.ndarray
      [num_words], the predicted tag's probability).
    """
    self._check_tagging()
    sentences = [ner.Sentence(guid="predict-%d" % i, words=list(words))
                 for i, words in enumerate(sentences)]
    doc_stride = int(self.metadata.get("doc_stride") or
                     max(1, self.max_seq_length // 2))
    windows = ner.convert_sentences(sentences, self.tokenizer,
                                    self.max_seq_length, doc_stride)
    features = {name: np.array([getattr(w, name) for w in windows],
                               np.int32).reshape([-1, self.max_seq_length])
                for name in _TEXT_INPUTS}
    probabilities = self.run(features, batch_size)["probabilities"]
    per_word = ner.assemble_word_predictions(
        windows, list(probabilities), len(sentences),
        [len(s.words) for s in sentences])
    out = []
    for probs in per_word:
      if not len(probs):  # pylint: disable=g-explicit-length-test
        out.append(([], np.zeros([0], np.float32)))
        continue
      ids = np.argmax(probs, axis=-1)
      out.append(([self.labels[i] for i in ids],
                  probs[np.arange(len(ids)), ids].astype(np.float32)))
    return out

  def entities(self, texts, batch_size=32):
    """Entities of raw texts (tagging exports).

    Args:
      texts: a str or a list of str.
      batch_size: windows per session run.

    Returns:
      list (per text) of lists of dicts {"type": str, "text": str,
      "start": int, "end": int, "score": float}: text[start:end] is the
      entity's text (character offsets into the given str); score is the
      mean probability of its words' predicted tags.
    """
    if isinstance(texts, (str, bytes)):
      texts = [texts]
    texts = [tokenization.convert_to_unicode(t) for t in texts]
    spans = [ner.split_text(t) for t in texts]
    tagged = self.tag_words([[w for w, _, _ in s] for s in spans], batch_size)
    return [ner.entities_from_tags(text, s, tags, scores)
            for text, s, (tags, scores) in zip(texts, spans, tagged)]

  def _check_tagging(self):
    if self.task != "tagging" or "probabilities" not in self.output_names:
      raise ValueError(
          "%s is not a tagging export (task %r, outputs: %s)" %
          (self.saved_model_dir, self.task, ", ".join(self.output_names)))
    if not self.labels:
      raise ValueError("The tagging export %s records no labels" %
                       self.saved_model_dir)

  def predict(self, inputs, batch_size=32):
    """Class probabilities float32 [n, num_labels] (regression: values [n];
    multi-label: each label's own probability, see `predict_label_sets`).

    For a tagging export: the entities of each text (see `entities`).

    Args:
      inputs: a text, or a list of texts and/or (text_a, text_b) pairs.
      batch_size: examples per session run.
    """
    if self.task == "tagging":
      return self.entities(inputs, batch_size)
    if self.metadata.get("doc_stride"):
      return self._predict_documents(inputs, batch_size)
    if "probabilities" in self.output_names:
      key = "probabilities"
    elif "predictions" in self.output_names:
      key = "predictions"
    else:
      raise ValueError(
          "%s is not a classifier export (outputs: %s); use predict_outputs"
          % (self.saved_model_dir, ", ".join(self.output_names)))
    return self.predict_outputs(inputs, batch_size)[key]

  def predict_label_sets(self, inputs, batch_size=32):
    """The predicted label set of each input (multi-label exports): the
    labels whose probability is at least their threshold (as recorded by
    run_classifier.py --multi_label, tuned or not), in label order.

    Returns:
      list (per input) of lists of str.
    """
    if not self.metadata.get("multi_label"):
      raise ValueError("%s is not a multi-label export; use predict" %
                       self.saved_model_dir)
    thresholds = self.metadata.get("thresholds") or [0.5] * len(self.labels)
    return [classifier.label_set(row, self.labels, thresholds)
            for row in self.predict(inputs, batch_size)]

  def _predict_documents(self, inputs, batch_size):
    """`predict` for an export of long documents: each input's windows'
    logits pooled as the export's run pooled them (mean or max), then the
    softmax (regression: the pooled value)."""
    if "logits" not in self.output_names:
      raise ValueError(
          "%s records doc_stride but has no logits output to pool (outputs: "
          "%s); export it with run_classifier.py --doc_stride" % (
              self.saved_model_dir, ", ".join(self.output_names)))
    features = self.featurize(inputs)
    logits = self.run(features, batch_size)["logits"]
    rows = classifier.pooled_predictions(
        zip(features["doc_index"], logits),
        self.metadata.get("window_pooling") or "mean", self.is_regression)
    return np.array(rows, np.float32)

  def close(self):
    self.session.close()

  def __enter__(self):
    return self

  def __exit__(self, *unused):
    self.close()
    return False


def read_inputs(input_file):
  """Reads texts / pairs: TSV `a[<TAB>b]` lines, or one text per line."""
  if not tf.io.gfile.exists(input_file):
    raise FileNotFoundError("Input file not found: %s" % input_file)
  with tf.io.gfile.GFile(input_file, "rb") as f:
    data = f.read()
  try:
    lines = data.decode("utf-8").splitlines()
  except UnicodeDecodeError as e:
    raise ValueError("%s is not UTF-8 text: %s" % (input_file, e))
  if not input_file.endswith(".tsv"):
    return lines
  items = []
  for number, line in enumerate(lines, 1):
    fields = line.split("\t")
    if len(fields) > 2:
      raise ValueError("%s:%d has %d tab-separated fields; expected text_a "
                       "or text_a<TAB>text_b" % (input_file, number,
                                                 len(fields)))
    items.append(tuple(fields))
  return items


def read_texts(input_file):
  """One text per line (tagging exports); the line is taken whole."""
  if not tf.io.gfile.exists(input_file):
    raise FileNotFoundError("Input file not found: %s" % input_file)
  with tf.io.gfile.GFile(input_file, "rb") as f:
    data = f.read()
  try:
    return data.decode("utf-8").splitlines()
  except UnicodeDecodeError as e:
    raise ValueError("%s is not UTF-8 text: %s" % (input_file, e))


def format_predictions(values):
  """Lines of test_results.tsv: tab-separated probabilities, or a value."""
  values = np.asarray(values)
  if values.ndim == 1:
    return "".join("%.6f\n" % float(v) for v in values)
  return "".join("\t".join("%.8f" % p for p in row) + "\n" for row in values)


def predict_file(export_dir, input_file, output_file=None, batch_size=32,
                 vocab_file=None, do_lower_case=None, use_bf16=False):
  """Predicts every line of `input_file`; writes `output_file` atomically.

  Returns:
    np.ndarray, the predictions (also printed to stdout without
    `output_file`); for a tagging export, the list (per line) of entity
    lists, written as one JSON object per line.
  """
  with Predictor(export_dir, vocab_file, do_lower_case,
                 use_bf16=use_bf16) as predictor:
    if predictor.task == "tagging":
      items = read_texts(input_file)
      values = predictor.entities(items, batch_size)
      text = "".join(json.dumps({"text": t, "entities": e},
                                ensure_ascii=False) + "\n"
                     for t, e in zip(items, values))
    else:
      items = read_inputs(input_file)
      values = predictor.predict(items, batch_size)
      text = format_predictions(values)
  if output_file:
    directory = os.path.dirname(os.path.abspath(output_file))
    tf.io.gfile.makedirs(directory)
    tmp = os.path.join(directory, ".%s.tmp-%s" % (
        os.path.basename(output_file), uuid.uuid4().hex[:8]))
    with tf.io.gfile.GFile(tmp, "w") as f:
      f.write(text)
    tf.io.gfile.rename(tmp, output_file, overwrite=True)
  else:
    print(text, end="")
  return values


def _define_cli_flags():
  """Defines the command's flags (only when run as a script)."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_string("export_dir", None,
                      "SavedModel directory (or parent of timestamped ones).")
  flags.DEFINE_string("input_file", None,
                      ".tsv (text_a[<TAB>text_b]) or text, one per line.")
  flags.DEFINE_string("output_file", None,
                      "Where to write the predictions (default: stdout).")
  flags.DEFINE_integer("batch_size", 32, "Examples per session run.")
  flags.DEFINE_string("vocab_file", None,
                      "Vocabulary (default: the export's own).")
  flags.DEFINE_bool("do_lower_case", None,
                    "Casing (default: recorded in the export).")
  flags.DEFINE_bool("use_bf16", False,
                    "oneDNN's automatic bfloat16 rewrite (CPUs with "
                    "AVX512-BF16 or AMX; outputs within about 5e-2 of "
                    "float32).")
  flags.mark_flag_as_required("export_dir")
  flags.mark_flag_as_required("input_file")
  return flags.FLAGS


def _cli_main(flag_values):
  runtime.set_verbosity(tf.logging.WARN)
  predict_file(flag_values.export_dir, flag_values.input_file,
               flag_values.output_file, flag_values.batch_size,
               flag_values.vocab_file, flag_values.do_lower_case,
               flag_values.use_bf16)


if __name__ == "__main__":
  from bert_tf import flags as _bert_flags  # pylint: disable=g-import-not-at-top
  _flags = _define_cli_flags()
  _bert_flags.run_main(lambda argv: _cli_main(_flags))

"""SavedModel export for every task and for the bare encoder.

`export_saved_model(estimator, export_dir, max_seq_length)` writes a SavedModel
whose `serving_default` signature takes int32 `input_ids`, `input_mask`,
`segment_ids` [batch, max_seq_length] (plus any `extra_int_features`, e.g.
`unique_ids` [batch] for SQuAD) and returns the head's predictions:

  task        head                  outputs
  classifier  ClassificationHead    probabilities [batch, num_labels] float32,
                                    predictions [batch] int32 (regression:
                                    predictions [batch] float32 only)
  squad       SpanHead              start_logits, end_logits [batch, seq]
                                    float32, unique_ids [batch] int32
  encoder     EncoderHead           pooled_output [batch, H] float32,
                                    sequence_output [batch, seq, H] float32
  tagging     TokenClassification-  predictions [batch, seq] int32,
  (or ner)    Head                  probabilities [batch, seq, num_labels]
                                    float32 (one window of WordPiece pieces
                                    per row; see bert_tf.tasks.ner)

Estimator writes into a temporary directory and renames it when complete.
Given `vocab_file` (and the other metadata), the export also carries
`assets.extra/vocab.txt` and `assets.extra/bert_tf_export.json` (task,
max_seq_length, do_lower_case, labels, ...), so `bert_tf.predictor.Predictor`
needs nothing but the export directory. Given `labels` (classification and
tagging), `assets.extra/labels.txt` names the label of each output index, one
per line in index order (the `probabilities` columns of a classifier; the
labels.txt that run_classifier.py writes beside test_results.tsv).

`export_from_checkpoint(...)` exports an existing checkpoint without
retraining; it is also a command:

  python -m bert_tf.export --task=classifier|squad|encoder|tagging \
    --bert_config_file=bert_config.json --checkpoint=DIR_OR_PREFIX \
    --max_seq_length=128 --num_labels=2 [--regression] \
    [--vocab_file=vocab.txt --do_lower_case=true] --export_dir=DIR

A tagging export needs --labels (the tag list, in the model's order, e.g.
the labels.txt that run_ner.py saves: --labels_file) and records
`doc_stride` for the Predictor's windows over long texts.

This module never reads absl FLAGS (flags are defined only when it runs as a
script).
"""

import json
import os
import shutil
import tempfile

import tensorflow.compat.v1 as tf

from bert_tf import model_fn as model_fn_lib
from bert_tf import modeling
from bert_tf.heads import ClassificationHead
from bert_tf.heads import HeadOutput
from bert_tf.heads import SpanHead
from bert_tf.heads import TokenClassificationHead

METADATA_FILE = "bert_tf_export.json"
VOCAB_FILE = "vocab.txt"
LABELS_FILE = "labels.txt"
EXTRA_DIR = "assets.extra"
TASKS = ("classifier", "squad", "encoder", "tagging")
# Other names of tasks.
TASK_ALIASES = {"ner": "tagging"}
# Extra int32 [batch] serving inputs of each task.
TASK_EXTRA_FEATURES = {"classifier": (), "squad": ("unique_ids",),
                       "encoder": (), "tagging": ()}


class EncoderHead(object):
  """Serves the encoder itself: predictions are its pooled/sequence outputs.

  Predictions:
    pooled_output: float32 [batch_size, hidden_size].
    sequence_output: float32 [batch_size, seq_length, hidden_size].

  The head has no loss; use it for PREDICT and export only.
  """

  def __call__(self, bert_config, model, features, is_training):
    del bert_config, features
    if is_training:
      raise ValueError("EncoderHead has no loss and cannot be trained; use it "
                       "for prediction and export only.")
    predictions = {"pooled_output": model.get_pooled_output(),
                   "sequence_output": model.get_sequence_output()}
    return HeadOutput(loss=None, predictions=predictions, metric_fn=None,
                      metric_tensors={})


def make_head(task, num_labels=2, is_regression=False):
  """Returns the head for `task` ("classifier", "squad", "encoder",
  "tagging"/"ner")."""
  task = TASK_ALIASES.get(task, task)
  if task == "classifier":
    return ClassificationHead(num_labels, is_regression=is_regression)
  if task == "squad":
    return SpanHead()
  if task == "encoder":
    return EncoderHead()
  if task == "tagging":
    return TokenClassificationHead(num_labels)
  raise ValueError("Unknown export task %r; expected one of %s" %
                   (task, ", ".join(TASKS)))


def serving_input_receiver_fn_builder(max_seq_length, extra_int_features=()):
  """Returns a serving_input_receiver_fn with int32 placeholders.

  Args:
    max_seq_length: int, the sequence length the model was trained with.
    extra_int_features: names of extra int32 [batch] inputs.
  """

  def serving_input_receiver_fn():
    features = {}
    for name in ("input_ids", "input_mask", "segment_ids"):
      features[name] = tf.placeholder(tf.int32, [None, max_seq_length],
                                      name=name)
    for name in extra_int_features:
      features[name] = tf.placeholder(tf.int32, [None], name=name)
    return tf.estimator.export.ServingInputReceiver(features, features)

  return serving_input_receiver_fn


def export_metadata(max_seq_length, task=None, do_lower_case=None,
                    labels=None, is_regression=None, has_vocab=False,
                    extra=None):
  """The dict written to `assets.extra/bert_tf_export.json`."""
  has_labels_file = labels is not None and not is_regression
  meta = {
      "format": "bert_tf_export",
      "format_version": 1,
      "task": task,
      "max_seq_length": int(max_seq_length),
      "do_lower_case": None if do_lower_case is None else bool(do_lower_case),
      "labels": None if labels is None else [str(x) for x in labels],
      "is_regression": None if is_regression is None else bool(is_regression),
      "vocab_file": VOCAB_FILE if has_vocab else None,
      "labels_file": LABELS_FILE if has_labels_file else None,
  }
  meta.update(extra or {})
  return meta


def export_saved_model(estimator, export_dir, max_seq_length,
                       extra_int_features=(), checkpoint_path=None,
                       vocab_file=None, do_lower_case=None, task=None,
                       labels=None, is_regression=None, extra_metadata=None):
  """Exports the estimator's latest (or given) checkpoint as a SavedModel.

  Args:
    estimator: a tf.estimator.Estimator whose model_fn comes from
      `model_fn.model_fn_builder`.
    export_dir: parent directory; the SavedModel goes to a timestamped child.
    max_seq_length: int, sequence length of the serving inputs.
    extra_int_features: names of extra int32 [batch] inputs ("unique_ids").
    checkpoint_path: checkpoint to export (default: the latest in the
      estimator's model_dir).
    vocab_file: optional vocabulary, copied to `assets.extra/vocab.txt`.
    do_lower_case, task, labels, is_regression, extra_metadata: recorded in
      `assets.extra/bert_tf_export.json` for `bert_tf.predictor`; `labels`
      (unless `is_regression`) also as `assets.extra/labels.txt`, one per
      line in output-index order.

  Returns:
    str, the path of the new SavedModel directory.
  """
  if vocab_file and not tf.io.gfile.exists(vocab_file):
    raise FileNotFoundError("Vocabulary file to export not found: %s" %
                            vocab_file)
  tf.io.gfile.makedirs(export_dir)
  staging = tempfile.mkdtemp(prefix="bert_tf_export_meta_")
  try:
    meta_path = os.path.join(staging, METADATA_FILE)
    meta = export_metadata(max_seq_length, task, do_lower_case, labels,
                           is_regression, bool(vocab_file), extra_metadata)
    with open(meta_path, "w", encoding="utf-8") as f:
      f.write(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    assets_extra = {METADATA_FILE: meta_path}
    if meta["labels_file"]:
      labels_path = os.path.join(staging, LABELS_FILE)
      with open(labels_path, "w", encoding="utf-8") as f:
        f.write("".join("%s\n" % label for label in meta["labels"]))
      assets_extra[LABELS_FILE] = labels_path
    if vocab_file:
      assets_extra[VOCAB_FILE] = vocab_file
    # Estimator writes into temp-<timestamp> and renames it when complete.
    path = estimator.export_saved_model(
        export_dir,
        serving_input_receiver_fn_builder(max_seq_length, extra_int_features),
        assets_extra=assets_extra,
        checkpoint_path=checkpoint_path)
  finally:
    shutil.rmtree(staging, ignore_errors=True)
  if isinstance(path, bytes):
    path = path.decode("utf-8")
  tf.logging.info("Exported SavedModel to %s", path)
  return path


def latest_saved_model(export_dir):
  """Returns the newest timestamped SavedModel directory under `export_dir`.

  `export_dir` may also be a SavedModel directory itself.
  """
  if tf.io.gfile.exists(os.path.join(export_dir, "saved_model.pb")):
    return export_dir
  if not tf.io.gfile.isdir(export_dir):
    raise FileNotFoundError("Export directory not found: %s" % export_dir)
  candidates = [d.strip("/") for d in tf.io.gfile.listdir(export_dir)
                if d.strip("/").isdigit()]
  candidates = [d for d in candidates if tf.io.gfile.exists(
      os.path.join(export_dir, d, "saved_model.pb"))]
  if not candidates:
    raise FileNotFoundError(
        "No SavedModel under %s (expected saved_model.pb there or in a "
        "timestamped subdirectory)" % export_dir)
  return os.path.join(export_dir, sorted(candidates, key=int)[-1])


def read_export_metadata(saved_model_dir):
  """Returns the `bert_tf_export.json` dict of an export, or {} if absent."""
  path = os.path.join(saved_model_dir, EXTRA_DIR, METADATA_FILE)
  if not tf.io.gfile.exists(path):
    return {}
  with tf.io.gfile.GFile(path, "r") as f:
    try:
      return json.loads(f.read())
    except ValueError as e:
      raise ValueError("%s is not valid JSON: %s" % (path, e))


def resolve_checkpoint(checkpoint):
  """Returns the checkpoint prefix of a directory (latest) or a prefix.

  Raises:
    FileNotFoundError: naming the path, when no checkpoint is there.
  """
  if tf.io.gfile.isdir(checkpoint):
    latest = tf.train.latest_checkpoint(checkpoint)
    if latest is None:
      raise FileNotFoundError("No checkpoint found in directory %s" %
                              checkpoint)
    return latest
  if not tf.io.gfile.exists(checkpoint + ".index"):
    raise FileNotFoundError(
        "Checkpoint not found: %s (expected %s.index and data files, or a "
        "directory with a `checkpoint` file)" % (checkpoint, checkpoint))
  return checkpoint


def _checkpoint_for_export(model_fn, checkpoint, max_seq_length,
                           extra_int_features, task, staging_dir):
  """Checks `checkpoint` against the PREDICT graph; stages it if needed.

  Every variable of the serving graph must be in the checkpoint with the same
  shape, except `global_step` (Google's released checkpoints have none); when
  it is missing, the weights are re-saved with one under `staging_dir`.

  Returns:
    str, the checkpoint prefix to export.

  Raises:
    model_fn.CheckpointMismatchError: naming the missing or misshapen tensors.
  """
  ckpt_shapes = dict(tf.train.list_variables(checkpoint))
  with tf.Graph().as_default():
    global_step = tf.train.get_or_create_global_step()
    receiver = serving_input_receiver_fn_builder(max_seq_length,
                                                 extra_int_features)()
    model_fn(receiver.features, None, tf.estimator.ModeKeys.PREDICT, {})
    graph_vars = tf.global_variables()
    missing, misshapen = [], []
    for var in graph_vars:
      name = var.op.name
      if name not in ckpt_shapes:
        if var is not global_step:
          missing.append("%s %s" % (name, var.shape.as_list()))
      elif list(ckpt_shapes[name]) != var.shape.as_list():
        misshapen.append("%s: checkpoint has shape %s, model expects %s" %
                         (name, list(ckpt_shapes[name]), var.shape.as_list()))
    if misshapen:
      raise model_fn_lib.CheckpointMismatchError(
          "The checkpoint %s does not match the --task=%s model built from "
          "the BERT config (wrong bert_config.json or --num_labels?):\n  %s" %
          (checkpoint, task, "\n  ".join(misshapen)))
    if missing:
      raise model_fn_lib.CheckpointMismatchError(
          "The checkpoint %s lacks %d variable(s) of the --task=%s model "
          "(was it fine-tuned for this task?):\n  %s" %
          (checkpoint, len(missing), task, "\n  ".join(missing[:20])))
    if global_step.op.name in ckpt_shapes:
      return checkpoint
    restore_vars = [v for v in graph_vars if v is not global_step]
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      tf.train.Saver(restore_vars).restore(sess, checkpoint)
      staged = tf.train.Saver(graph_vars).save(
          sess, os.path.join(staging_dir, "model.ckpt"), write_meta_graph=False)
  tf.logging.info("Staged %s with a global_step as %s", checkpoint, staged)
  return staged


def export_from_checkpoint(task, bert_config_file, checkpoint, export_dir,
                           max_seq_length=128, num_labels=2,
                           is_regression=False, vocab_file=None,
                           do_lower_case=None, labels=None, doc_stride=None):
  """Exports a trained checkpoint as a SavedModel, without retraining.

  Args:
    task: "classifier", "squad", "encoder" or "tagging" (alias "ner").
    bert_config_file: the model's bert_config.json.
    checkpoint: a checkpoint prefix, or a directory (its latest checkpoint).
      For "encoder" a pre-trained (e.g. Google's) checkpoint will do; the
      task heads need a checkpoint fine-tuned for the task.
    export_dir: parent directory of the timestamped SavedModel.
    max_seq_length: int, sequence length of the serving inputs.
    num_labels: int, classes of the classifier (ignored for regression).
    is_regression: classifier is a regression (one output).
    vocab_file, do_lower_case, labels: optional, recorded in the export for
      `bert_tf.predictor.Predictor`. A tagging export needs `labels` (the
      tags in the model's order); `num_labels` is then len(labels).
    doc_stride: tagging: pieces between the windows' starts over a long
      text (recorded for the Predictor; default max_seq_length // 2).

  Returns:
    str, the path of the new SavedModel directory.
  """
  task = TASK_ALIASES.get(task, task)
  if task == "tagging":
    if not labels:
      raise ValueError("A tagging export needs the labels (the tags in the "
                       "model's order, e.g. run_ner.py's labels.txt)")
    num_labels = len(labels)
  if task not in TASKS:
    raise ValueError("Unknown export task %r; expected one of %s" %
                     (task, ", ".join(TASKS)))
  bert_config = modeling.BertConfig.from_json_file(bert_config_file)
  if max_seq_length > bert_config.max_position_embeddings:
    raise ValueError(
        "max_seq_length %d exceeds max_position_embeddings %d of %s" %
        (max_seq_length, bert_config.max_position_embeddings,
         bert_config_file))
  if labels is not None and task == "classifier" and not is_regression:
    if len(labels) != num_labels:
      raise ValueError("%d labels given (%s) but num_labels is %d" %
                       (len(labels), ", ".join(labels), num_labels))
  checkpoint = resolve_checkpoint(checkpoint)
  extra = TASK_EXTRA_FEATURES[task]
  model_fn = model_fn_lib.model_fn_builder(
      bert_config, make_head(task, num_labels, is_regression))
  work = tempfile.mkdtemp(prefix="bert_tf_export_")
  try:
    staged = _checkpoint_for_export(model_fn, checkpoint, max_seq_length,
                                    extra, task, work)
    estimator = tf.estimator.Estimator(
        model_fn=model_fn, model_dir=os.path.join(work, "model_dir"))
    return export_saved_model(
        estimator, export_dir, max_seq_length, extra_int_features=extra,
        checkpoint_path=staged, vocab_file=vocab_file,
        do_lower_case=do_lower_case, task=task,
        labels=labels if task in ("classifier", "tagging") else None,
        is_regression=is_regression if task == "classifier" else None,
        extra_metadata=dict(
            {"checkpoint": checkpoint},
            **({"doc_stride": int(doc_stride or max(1, max_seq_length // 2))}
               if task == "tagging" else {})))
  finally:
    shutil.rmtree(work, ignore_errors=True)


def save_random_checkpoint(bert_config, checkpoint_prefix, num_labels=None,
                           span_head=False, seed=12345, init_checkpoint=None):
  """Writes a checkpoint of a randomly initialised model (tests, benchmarks).

  Args:
    bert_config: `BertConfig`.
    checkpoint_prefix: where to save (e.g. ".../model.ckpt").
    num_labels: if set, adds the classifier's output_weights/output_bias.
    span_head: adds the SQuAD head's cls/squad/output_{weights,bias}.
    seed: graph-level seed.
    init_checkpoint: optional checkpoint; the variables it holds (e.g. a
      pre-trained encoder's bert/*) are taken from it, the rest stay random.

  Returns:
    str, the saved checkpoint prefix.
  """
  from bert_tf import heads  # pylint: disable=g-import-not-at-top
  with tf.Graph().as_default():
    tf.set_random_seed(seed)
    input_ids = tf.zeros([1, 4], tf.int32)
    model = modeling.BertModel(bert_config, False, input_ids)
    if num_labels:
      heads.create_classification_output(
          bert_config, model.get_pooled_output(), tf.zeros([1], tf.int32),
          num_labels, False)
    if span_head:
      heads.create_span_logits(bert_config, model.get_sequence_output())
    tf.train.get_or_create_global_step()
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      if init_checkpoint:
        init_checkpoint = resolve_checkpoint(init_checkpoint)
        have = dict(tf.train.list_variables(init_checkpoint))
        tf.train.Saver([v for v in tf.global_variables()
                        if v.op.name in have]).restore(sess, init_checkpoint)
      return tf.train.Saver().save(sess, checkpoint_prefix,
                                   write_meta_graph=False)


def _define_cli_flags():
  """Defines the command's flags (only when run as a script)."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_enum("task", "classifier", list(TASKS) + list(TASK_ALIASES),
                    "What to export.")
  flags.DEFINE_string("bert_config_file", None, "The model's bert_config.json.")
  flags.DEFINE_string("checkpoint", None,
                      "Checkpoint prefix, or a directory (its latest one).")
  flags.DEFINE_integer("max_seq_length", 128,
                       "Sequence length of the serving inputs.")
  flags.DEFINE_integer("num_labels", 2, "classifier: number of classes.")
  flags.DEFINE_bool("regression", False, "classifier: a regression head.")
  flags.DEFINE_list("labels", None,
                    "classifier, tagging: the label names, recorded for the "
                    "Predictor.")
  flags.DEFINE_string("labels_file", None,
                      "tagging: a file of labels, one per line (run_ner.py's "
                      "labels.txt), instead of --labels.")
  flags.DEFINE_integer("doc_stride", None,
                       "tagging: pieces between window starts over long "
                       "texts (default max_seq_length // 2).")
  flags.DEFINE_string("vocab_file", None,
                      "Optional vocabulary copied into the export.")
  flags.DEFINE_bool("do_lower_case", None,
                    "Recorded in the export for the Predictor.")
  flags.DEFINE_string("export_dir", None,
                      "Parent directory of the timestamped SavedModel.")
  for name in ("bert_config_file", "checkpoint", "export_dir"):
    flags.mark_flag_as_required(name)
  return flags.FLAGS


def _cli_main(flag_values):
  from bert_tf import runtime  # pylint: disable=g-import-not-at-top
  runtime.set_verbosity()
  labels = flag_values.labels
  if flag_values.labels_file:
    from bert_tf.tasks import ner  # pylint: disable=g-import-not-at-top
    labels = ner.read_labels_file(flag_values.labels_file)
  path = export_from_checkpoint(
      task=flag_values.task, bert_config_file=flag_values.bert_config_file,
      checkpoint=flag_values.checkpoint, export_dir=flag_values.export_dir,
      max_seq_length=flag_values.max_seq_length,
      num_labels=flag_values.num_labels, is_regression=flag_values.regression,
      vocab_file=flag_values.vocab_file,
      do_lower_case=flag_values.do_lower_case, labels=labels,
      doc_stride=flag_values.doc_stride)
  print(path)


if __name__ == "__main__":
  from bert_tf import flags as _bert_flags  # pylint: disable=g-import-not-at-top
  _flags = _define_cli_flags()
  _bert_flags.run_main(lambda argv: _cli_main(_flags))

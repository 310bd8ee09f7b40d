"""SavedModel export for Estimator models.

`export_saved_model(estimator, export_dir, max_seq_length)` writes a SavedModel
whose `serving_default` signature takes int32 `input_ids`, `input_mask`,
`segment_ids` [batch, max_seq_length] (plus any `extra_int_features`, e.g.
`unique_ids` [batch] for SQuAD) and returns the head's predictions. Estimator
writes into a temporary directory and renames it when complete.
"""

import os

import tensorflow.compat.v1 as tf


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


def export_saved_model(estimator, export_dir, max_seq_length,
                       extra_int_features=(), checkpoint_path=None):
  """Exports the estimator's latest (or given) checkpoint as a SavedModel.

  Returns:
    str, the path of the new SavedModel directory (a timestamped child of
    `export_dir`).
  """
  tf.io.gfile.makedirs(export_dir)
  path = estimator.export_saved_model(
      export_dir,
      serving_input_receiver_fn_builder(max_seq_length, extra_int_features),
      checkpoint_path=checkpoint_path)
  if isinstance(path, bytes):
    path = path.decode("utf-8")
  tf.logging.info("Exported SavedModel to %s", path)
  return path


def latest_saved_model(export_dir):
  """Returns the newest timestamped SavedModel directory under `export_dir`."""
  candidates = [d for d in tf.io.gfile.listdir(export_dir)
                if d.strip("/").isdigit()]
  if not candidates:
    raise FileNotFoundError("No SavedModel under %s" % export_dir)
  return os.path.join(export_dir, sorted(candidates)[-1].strip("/"))

"""Google -> Hugging Face: `google_to_hf`."""

import collections
import glob
import os

import numpy as np
import tensorflow.compat.v1 as tf

from bert_tf.convert import configs
from bert_tf.convert import io
from bert_tf.convert import names
from bert_tf.convert import reporting


def resolve_checkpoint(path):
  """Returns the checkpoint prefix for a directory, prefix or .index path.

  Raises:
    ConversionError: when no checkpoint is found.
  """
  if os.path.isdir(path):
    latest = tf.train.latest_checkpoint(path)
    if latest:
      return latest
    indexes = sorted(glob.glob(os.path.join(path, "*.index")))
    if len(indexes) == 1:
      return indexes[0][:-len(".index")]
    raise reporting.ConversionError(
        "%s: no 'checkpoint' state file and %d *.index files; pass the "
        "checkpoint prefix (e.g. %s)" %
        (path, len(indexes), os.path.join(path, io.CHECKPOINT_PREFIX)))
  if path.endswith(".index"):
    path = path[:-len(".index")]
  if not os.path.isfile(path + ".index"):
    raise reporting.ConversionError(
        "no TF checkpoint at %s (expected %s.index)" %
        (path, path))
  return path


def google_to_hf(checkpoint, output_dir, bert_config_file=None,
                 vocab_file=None, prefix=None, overwrite=False):
  """Converts a Google BERT checkpoint to a Hugging Face directory.

  Args:
    checkpoint: str, a checkpoint prefix (".../bert_model.ckpt"), its .index
      file, or a directory holding one.
    output_dir: str, the directory to create: config.json, model.safetensors
      (+ vocab.txt and tokenizer/licence files found beside the checkpoint).
    bert_config_file: str or None; defaults to bert_config.json beside the
      checkpoint.
    vocab_file: str or None; defaults to vocab.txt beside the checkpoint.
    prefix: None, "" or "bert.": the key prefix of the body tensors. None
      chooses as Hugging Face does: "" (BertModel) without heads, "bert."
      with heads.
    overwrite: bool, replace a non-empty output_dir.

  Returns:
    A ConversionReport. Optimizer slots (adam_m/adam_v), global_step and
    other non-model variables are listed in `skipped`/`unknown`.

  Raises:
    ConversionError: for a bad config, a missing tensor, a shape or dtype
      mismatch, or prefix "" with heads; nothing is written in that case.
  """
  if prefix not in (None, "", names.HF_BODY_PREFIX):
    raise reporting.ConversionError("prefix must be None, '' or %r, got %r" %
                                    (names.HF_BODY_PREFIX, prefix))
  io.check_output_dir(output_dir, overwrite)
  report = reporting.ConversionReport("google2hf", output_dir)
  checkpoint = resolve_checkpoint(checkpoint)
  report.source = checkpoint
  source_dir = os.path.dirname(os.path.abspath(checkpoint))
  if bert_config_file is None:
    bert_config_file = os.path.join(source_dir, io.BERT_CONFIG_NAME)
  bert_config = io.read_json(bert_config_file)

  reader = tf.train.load_checkpoint(checkpoint)
  shapes = reader.get_variable_to_shape_map()
  dtypes = reader.get_variable_to_dtype_map()
  num_labels = None
  if "output_weights" in shapes:
    shape = shapes["output_weights"]
    num_labels = shape[0] if len(shape) == 2 else 0
  missing_fields = [f for f in configs.BERT_CONFIG_FIELDS
                    if f not in bert_config]
  if missing_fields:
    raise reporting.ConversionError(
        "%s lacks required field(s): %s" %
        (bert_config_file, ", ".join(missing_fields)))
  configs.check_bert_config(bert_config, bert_config_file)
  specs = names.tensor_specs(bert_config, num_labels)
  selected, groups = names.select_specs(specs, shapes, lambda s: s.google_name,
                                        checkpoint)
  names.check_tensors(selected, lambda s: shapes[s.google_name],
                      lambda s: dtypes[s.google_name].as_numpy_dtype,
                      lambda s: s.google_name, checkpoint, "google")
  report.heads = [g for g in groups if g in names.HEAD_GROUPS]
  if "pooler" not in groups:
    report.warn("no bert/pooler/dense tensors: Hugging Face will initialise "
                "the pooler randomly")
  if prefix is None:
    prefix = names.HF_BODY_PREFIX if report.heads else ""
  if report.heads and not prefix:
    raise reporting.ConversionError(
        "%s has head tensors (%s); Hugging Face keys for a model with heads "
        "need the %r prefix" % (checkpoint, ", ".join(report.heads),
                                names.HF_BODY_PREFIX))
  report.hf_prefix = prefix
  architectures = names.hf_architectures(report.heads)
  hf_config = configs.bert_config_to_hf_config(
      bert_config, architectures,
      num_labels if "classifier" in report.heads else None, bert_config_file)
  report.source_activation = bert_config["hidden_act"]
  report.target_activation = hf_config["hidden_act"]

  known = set(s.google_name for s in selected)
  for name in sorted(shapes):
    if name in known:
      continue
    if names.is_training_state(name):
      report.skipped.append(name)
    else:
      report.unknown.append(name)
      report.warn("unknown variable %r in %s: skipped" % (name, checkpoint))

  state = collections.OrderedDict()
  for spec in selected:
    value = reader.get_tensor(spec.google_name)
    if spec.transpose:
      value = value.T
    key = spec.hf_name
    if spec.group in names.BODY_GROUPS:
      key = prefix + key
    state[key] = np.ascontiguousarray(value)

  import safetensors.numpy  # pylint: disable=g-import-not-at-top
  with io.StagedDirectory(output_dir, overwrite) as staging:
    io.write_json(os.path.join(staging, io.HF_CONFIG_NAME), hf_config)
    weights_path = os.path.join(staging, io.HF_SAFETENSORS_NAME)
    safetensors.numpy.save_file(state, weights_path,
                                metadata={"format": "pt"})
    # safetensors creates the file 0600; give it the mode config.json got.
    os.chmod(weights_path,
             os.stat(os.path.join(staging, io.HF_CONFIG_NAME)).st_mode & 0o777)
    if vocab_file is None and os.path.isfile(
        os.path.join(source_dir, io.VOCAB_NAME)):
      vocab_file = os.path.join(source_dir, io.VOCAB_NAME)
    io.copy_side_files(source_dir, staging, report, vocab_file=vocab_file)
    io.check_vocab_size(os.path.join(staging, io.VOCAB_NAME),
                        bert_config["vocab_size"], report)
  reporting.fill_counts(report, state.values())
  return report

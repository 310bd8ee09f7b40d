"""Hugging Face -> Google: `hf_to_google`."""

import collections
import os

import numpy as np

from bert_tf.convert import configs
from bert_tf.convert import io
from bert_tf.convert import names
from bert_tf.convert import reporting


def hf_to_google(hf_dir, output_dir, overwrite=False):
  """Converts a Hugging Face BERT directory to Google's checkpoint layout.

  Args:
    hf_dir: str, directory with config.json, model.safetensors (or
      pytorch_model.bin, loaded weights-only) and usually vocab.txt. Keys may
      carry the "bert." prefix (BertForPreTraining and friends) or not
      (BertModel).
    output_dir: str, the directory to create: bert_config.json,
      bert_model.ckpt.{index,data-00000-of-00001}, checkpoint, vocab.txt and
      any tokenizer/licence files.
    overwrite: bool, replace a non-empty output_dir.

  Returns:
    A ConversionReport.

  Raises:
    ConversionError: for an unsupported config, a missing tensor, or a shape
      or dtype mismatch; nothing is written in that case.
  """
  io.check_output_dir(output_dir, overwrite)
  report = reporting.ConversionReport("hf2google", output_dir)
  config_path = os.path.join(hf_dir, io.HF_CONFIG_NAME)
  hf_config = io.read_json(config_path)
  bert_config = configs.hf_config_to_bert_config(hf_config, report, config_path)
  report.source_activation = hf_config.get(
      "hidden_act", configs.HF_BERT_DEFAULTS["hidden_act"])
  report.target_activation = bert_config["hidden_act"]

  state, source = io.load_hf_weights(hf_dir)
  report.source = source
  canonical, report.hf_prefix = _strip_hf_prefix(state, source)
  _fold_tied_hf_tensors(canonical, report)
  for name in names.HF_IGNORED_BUFFERS:
    if name in canonical:
      report.skipped.append(canonical.pop(name)[0])

  num_labels = None
  if "classifier.weight" in canonical:
    labels = hf_config.get("id2label")
    if isinstance(labels, dict) and labels:
      num_labels = len(labels)
    elif canonical["classifier.weight"][1].ndim == 2:
      num_labels = canonical["classifier.weight"][1].shape[0]
    else:
      num_labels = 0  # Reported as a shape mismatch below.
  specs = names.tensor_specs(bert_config, num_labels)
  selected, report.heads = names.select_specs(specs, canonical,
                                              lambda s: s.hf_name, source)
  names.check_tensors(selected, lambda s: canonical[s.hf_name][1].shape,
                      lambda s: canonical[s.hf_name][1].dtype,
                      lambda s: canonical[s.hf_name][0], source, "hf")
  if "pooler" not in report.heads:
    report.warn("no pooler tensors (pooler.dense.*): Google's BertModel will "
                "initialise bert/pooler/dense randomly")
  report.heads = [g for g in report.heads if g in names.HEAD_GROUPS]
  known = set(s.hf_name for s in selected)
  report.unknown = [key for name, (key, _) in canonical.items()
                    if name not in known]
  for key in report.unknown:
    report.warn("unknown tensor %r in %s: skipped" % (key, source))

  tensors = collections.OrderedDict()
  for spec in selected:
    value = canonical[spec.hf_name][1]
    if spec.transpose:
      value = value.T
    tensors[spec.google_name] = np.ascontiguousarray(value)

  with io.StagedDirectory(output_dir, overwrite) as staging:
    io.write_json(os.path.join(staging, io.BERT_CONFIG_NAME), bert_config)
    io.write_tf_checkpoint(tensors, os.path.join(staging, io.CHECKPOINT_PREFIX))
    io.copy_side_files(hf_dir, staging, report)
    io.check_vocab_size(os.path.join(staging, io.VOCAB_NAME),
                        bert_config["vocab_size"], report)
  reporting.fill_counts(report, tensors.values())
  return report


def _strip_hf_prefix(state, source):
  """Returns ({canonical name: (original key, array)}, prefix seen)."""
  canonical = collections.OrderedDict()
  prefix = ""
  for key in sorted(state):
    name = key
    if key.startswith(names.HF_BODY_PREFIX):
      name = key[len(names.HF_BODY_PREFIX):]
      prefix = names.HF_BODY_PREFIX
    if name in canonical:
      raise reporting.ConversionError(
          "%s: tensors %r and %r name the same parameter" %
          (source, canonical[name][0], key))
    canonical[name] = (key, state[key])
  return canonical, prefix


def _fold_tied_hf_tensors(canonical, report):
  """Drops the MLM decoder tensors Hugging Face ties to other tensors."""
  if names.HF_TIED_DECODER_BIAS in canonical:
    key, value = canonical.pop(names.HF_TIED_DECODER_BIAS)
    if names.HF_MLM_BIAS not in canonical:
      canonical[names.HF_MLM_BIAS] = (key, value)
    else:
      report.skipped.append(key)
      if not _same_tensor(value, canonical[names.HF_MLM_BIAS][1]):
        report.warn("%s differs from %s; kept %s (Google has one MLM output "
                    "bias)" % (key, canonical[names.HF_MLM_BIAS][0],
                               canonical[names.HF_MLM_BIAS][0]))
  if names.HF_TIED_DECODER_WEIGHT in canonical:
    key, value = canonical.pop(names.HF_TIED_DECODER_WEIGHT)
    report.skipped.append(key)
    embeddings = canonical.get(names.HF_WORD_EMBEDDINGS)
    if embeddings is not None and not _same_tensor(value, embeddings[1]):
      report.warn(
          "%s differs from %s, but Google's BERT ties the MLM output weights "
          "to the word embeddings: the decoder weights are dropped and the "
          "converted MLM head will use the word embeddings" %
          (key, embeddings[0]))


def _same_tensor(a, b):
  return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b)

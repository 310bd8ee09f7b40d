"""Hugging Face <-> Google BERT checkpoint conversion (library and CLI).

Two directions, both exact (float32 stays float32, bit for bit):

  * `hf_to_google(hf_dir, output_dir)`: a Hugging Face BERT directory
    (`config.json` + `model.safetensors` or `pytorch_model.bin`, `vocab.txt`)
    becomes a Google directory: `bert_config.json`, a TF1 checkpoint
    `bert_model.ckpt.{index,data-*}` with the reference's variable names, a
    `checkpoint` state file (so `tf.train.latest_checkpoint` works) and the
    vocabulary / tokenizer files.
  * `google_to_hf(checkpoint, output_dir, ...)`: the reverse, producing
    `config.json` + `model.safetensors` (+ `vocab.txt`).

Every tensor's shape is checked against the configuration before anything is
written; tensors a configuration requires but the source lacks are errors
naming them; tensors nobody maps are reported by name and skipped. Output is
staged in a temporary sibling directory and renamed into place only when
complete, so a failed conversion leaves nothing under `output_dir`.

Activation names differ: Hugging Face's "gelu" is the exact erf GELU, which
bert_tf calls "gelu_exact"; Google's "gelu" is the tanh approximation, which
Hugging Face calls "gelu_new" (also "gelu_pytorch_tanh", "gelu_fast").

Command line:

  python -m bert_tf.convert hf2google --hf_dir D --output_dir O
  python -m bert_tf.convert google2hf --checkpoint C --bert_config_file F \
      --output_dir O [--vocab_file V]

This module never reads absl FLAGS; `main` parses its own arguments.
"""

import argparse
import collections
import glob
import json
import os
import shutil
import sys
import uuid

import numpy as np
import tensorflow.compat.v1 as tf

BERT_CONFIG_NAME = "bert_config.json"
CHECKPOINT_PREFIX = "bert_model.ckpt"
HF_CONFIG_NAME = "config.json"
HF_SAFETENSORS_NAME = "model.safetensors"
HF_SAFETENSORS_INDEX_NAME = "model.safetensors.index.json"
HF_PYTORCH_NAME = "pytorch_model.bin"
HF_PYTORCH_INDEX_NAME = "pytorch_model.bin.index.json"
VOCAB_NAME = "vocab.txt"

# Files copied beside the weights in either direction when present.
TOKENIZER_FILES = ("vocab.txt", "tokenizer_config.json",
                   "special_tokens_map.json", "tokenizer.json",
                   "added_tokens.json", "spiece.model")
LICENSE_PATTERNS = ("LICENSE*", "NOTICE*")

# The bert_config.json fields, in the reference's order.
BERT_CONFIG_FIELDS = ("vocab_size", "hidden_size", "num_hidden_layers",
                      "num_attention_heads", "intermediate_size", "hidden_act",
                      "hidden_dropout_prob", "attention_probs_dropout_prob",
                      "max_position_embeddings", "type_vocab_size",
                      "initializer_range")

# Hugging Face BertConfig's defaults, used when its config.json omits a field
# (as Hugging Face itself would when loading it).
HF_BERT_DEFAULTS = {
    "vocab_size": 30522,
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
    "max_position_embeddings": 512,
    "type_vocab_size": 2,
    "initializer_range": 0.02,
    "layer_norm_eps": 1e-12,
    "position_embedding_type": "absolute",
}

# Google's BertModel hard-codes these.
GOOGLE_LAYER_NORM_EPS = 1e-12
GOOGLE_POSITION_EMBEDDING_TYPE = "absolute"

HF_TO_GOOGLE_ACTIVATION = {
    "gelu": "gelu_exact",
    "gelu_new": "gelu",
    "gelu_pytorch_tanh": "gelu",
    "gelu_fast": "gelu",
    "relu": "relu",
    "tanh": "tanh",
    "linear": "linear",
}
GOOGLE_TO_HF_ACTIVATION = {
    "gelu_exact": "gelu",
    "gelu_erf": "gelu",  # bert_tf.modeling's alias of "gelu_exact".
    "gelu": "gelu_new",
    "relu": "relu",
    "tanh": "tanh",
    "linear": "linear",
}

# Hugging Face buffers that are not parameters: dropped without comment.
HF_IGNORED_BUFFERS = ("embeddings.position_ids", "embeddings.token_type_ids")
HF_BODY_PREFIX = "bert."
HF_TIED_DECODER_WEIGHT = "cls.predictions.decoder.weight"
HF_TIED_DECODER_BIAS = "cls.predictions.decoder.bias"
HF_MLM_BIAS = "cls.predictions.bias"
HF_WORD_EMBEDDINGS = "embeddings.word_embeddings.weight"

# Tensor groups. Required groups must be complete; an optional group is either
# entirely absent or entirely present.
REQUIRED_GROUPS = ("embeddings", "encoder")
HEAD_GROUPS = ("mlm", "nsp", "squad", "classifier")
_BODY_GROUPS = ("embeddings", "encoder", "pooler")

_HEAD_ARCHITECTURES = collections.OrderedDict([
    (("mlm", "nsp"), "BertForPreTraining"),
    (("mlm",), "BertForMaskedLM"),
    (("nsp",), "BertForNextSentencePrediction"),
    (("squad",), "BertForQuestionAnswering"),
    (("classifier",), "BertForSequenceClassification"),
])

_SUPPORTED_DTYPES = (np.dtype(np.float16), np.dtype(np.float32),
                     np.dtype(np.float64))

# Google checkpoint variables that are training state, not model tensors.
_OPTIMIZER_SUFFIXES = ("/adam_m", "/adam_v", "/Adam", "/Adam_1", "/Momentum",
                       "/lamb_m", "/lamb_v")
_TRAINING_STATE_NAMES = ("global_step", "good_steps", "loss_scale",
                         "current_loss_scale", "beta1_power", "beta2_power")


class ConversionError(ValueError):
  """A checkpoint or configuration cannot be converted as it stands."""


class TensorSpec(
    collections.namedtuple(
        "TensorSpec", ["google_name", "hf_name", "shape", "transpose",
                       "group"])):
  """One model tensor under both naming schemes.

  Attributes:
    google_name: str, the Google checkpoint variable name.
    hf_name: str, the Hugging Face state-dict key without the "bert." prefix
      (heads are top level in Hugging Face: "cls.*", "qa_outputs.*",
      "classifier.*").
    shape: tuple of int, the Google-side shape.
    transpose: bool, True for dense kernels ([in, out] in Google, [out, in] in
      Hugging Face).
    group: str, one of REQUIRED_GROUPS, "pooler" or HEAD_GROUPS.
  """

  __slots__ = ()

  @property
  def hf_shape(self):
    """The Hugging Face-side shape (reversed for transposed kernels)."""
    return tuple(reversed(self.shape)) if self.transpose else tuple(self.shape)


class ConversionReport(object):
  """What a conversion did: counts, activation mapping, skipped tensors.

  Attributes:
    direction: "hf2google" or "google2hf".
    source: str, the weights file(s) read.
    output_dir: str, where the result was written.
    num_tensors: int, tensors written.
    num_parameters: int, total elements of the tensors written.
    dtypes: sorted list of str, the dtypes written.
    source_activation / target_activation: str, hidden_act on either side.
    heads: list of str, the head groups converted (subset of HEAD_GROUPS).
    hf_prefix: str, "bert." or "" (the Hugging Face key prefix read or
      written).
    unknown: list of str, source tensors that map to nothing (skipped).
    skipped: list of str, other source tensors deliberately not written
      (buffers, tied weights, optimizer slots, training state).
    copied_files: list of str, vocabulary/tokenizer/licence files copied.
    warnings: list of str.
  """

  def __init__(self, direction, output_dir):
    self.direction = direction
    self.output_dir = output_dir
    self.source = ""
    self.num_tensors = 0
    self.num_parameters = 0
    self.dtypes = []
    self.source_activation = ""
    self.target_activation = ""
    self.heads = []
    self.hf_prefix = ""
    self.unknown = []
    self.skipped = []
    self.copied_files = []
    self.warnings = []

  def warn(self, message):
    self.warnings.append(message)
    tf.logging.warning(message)

  def summary(self, max_names=10):
    """Returns a human-readable multi-line summary."""

    def names(items):
      shown = ", ".join(items[:max_names])
      if len(items) > max_names:
        shown += ", ... (%d more)" % (len(items) - max_names)
      return shown

    lines = [
        "%s: %s -> %s" % (self.direction, self.source, self.output_dir),
        "  tensors: %d, parameters: %d (%s)" %
        (self.num_tensors, self.num_parameters, ", ".join(self.dtypes)),
        "  hidden_act: %s -> %s" % (self.source_activation,
                                    self.target_activation),
        "  heads: %s; Hugging Face key prefix: %r" %
        (", ".join(self.heads) or "none", self.hf_prefix),
    ]
    if self.unknown:
      lines.append("  unknown tensors skipped (%d): %s" %
                   (len(self.unknown), names(self.unknown)))
    if self.skipped:
      lines.append("  other tensors skipped (%d): %s" %
                   (len(self.skipped), names(self.skipped)))
    if self.copied_files:
      lines.append("  copied: %s" % ", ".join(self.copied_files))
    for warning in self.warnings:
      lines.append("  warning: %s" % warning)
    return "\n".join(lines)


def tensor_specs(bert_config, num_labels=None):
  """Lists every tensor a BERT model with `bert_config` can have.

  Args:
    bert_config: dict with (at least) the structural bert_config.json fields.
    num_labels: int or None; when set, the classifier head tensors
      (`output_weights` [num_labels, H], `output_bias` [num_labels]) are
      included.

  Returns:
    A list of TensorSpec, body first, then pooler and heads.
  """
  h = bert_config["hidden_size"]
  specs = []

  def add(group, google_name, hf_name, shape, transpose=False):
    specs.append(TensorSpec(google_name, hf_name, tuple(shape), transpose,
                            group))

  def dense(group, google_scope, hf_scope, n_in, n_out):
    add(group, google_scope + "/kernel", hf_scope + ".weight", (n_in, n_out),
        transpose=True)
    add(group, google_scope + "/bias", hf_scope + ".bias", (n_out,))

  def layer_norm(group, google_scope, hf_scope):
    add(group, google_scope + "/gamma", hf_scope + ".weight", (h,))
    add(group, google_scope + "/beta", hf_scope + ".bias", (h,))

  add("embeddings", "bert/embeddings/word_embeddings",
      "embeddings.word_embeddings.weight", (bert_config["vocab_size"], h))
  add("embeddings", "bert/embeddings/token_type_embeddings",
      "embeddings.token_type_embeddings.weight",
      (bert_config["type_vocab_size"], h))
  add("embeddings", "bert/embeddings/position_embeddings",
      "embeddings.position_embeddings.weight",
      (bert_config["max_position_embeddings"], h))
  layer_norm("embeddings", "bert/embeddings/LayerNorm",
             "embeddings.LayerNorm")

  intermediate = bert_config["intermediate_size"]
  for index in range(bert_config["num_hidden_layers"]):
    google_layer = "bert/encoder/layer_%d/" % index
    hf_layer = "encoder.layer.%d." % index
    for name in ("query", "key", "value"):
      dense("encoder", google_layer + "attention/self/" + name,
            hf_layer + "attention.self." + name, h, h)
    dense("encoder", google_layer + "attention/output/dense",
          hf_layer + "attention.output.dense", h, h)
    layer_norm("encoder", google_layer + "attention/output/LayerNorm",
               hf_layer + "attention.output.LayerNorm")
    dense("encoder", google_layer + "intermediate/dense",
          hf_layer + "intermediate.dense", h, intermediate)
    dense("encoder", google_layer + "output/dense", hf_layer + "output.dense",
          intermediate, h)
    layer_norm("encoder", google_layer + "output/LayerNorm",
               hf_layer + "output.LayerNorm")

  dense("pooler", "bert/pooler/dense", "pooler.dense", h, h)

  dense("mlm", "cls/predictions/transform/dense",
        "cls.predictions.transform.dense", h, h)
  layer_norm("mlm", "cls/predictions/transform/LayerNorm",
             "cls.predictions.transform.LayerNorm")
  add("mlm", "cls/predictions/output_bias", HF_MLM_BIAS,
      (bert_config["vocab_size"],))
  # Both sides store these as [2, H]: no transpose.
  add("nsp", "cls/seq_relationship/output_weights",
      "cls.seq_relationship.weight", (2, h))
  add("nsp", "cls/seq_relationship/output_bias", "cls.seq_relationship.bias",
      (2,))
  add("squad", "cls/squad/output_weights", "qa_outputs.weight", (2, h))
  add("squad", "cls/squad/output_bias", "qa_outputs.bias", (2,))
  if num_labels is not None:
    add("classifier", "output_weights", "classifier.weight", (num_labels, h))
    add("classifier", "output_bias", "classifier.bias", (num_labels,))
  return specs


# ----------------------------------------------------------------------------
# Configurations.


def hf_config_to_bert_config(hf_config, report=None, source="config.json"):
  """Maps a Hugging Face BERT config.json dict to a bert_config.json dict.

  Args:
    hf_config: dict, the parsed Hugging Face config.json.
    report: optional ConversionReport collecting warnings (fields defaulted).
    source: str, the file name used in error messages.

  Returns:
    An OrderedDict with exactly BERT_CONFIG_FIELDS, hidden_act mapped to
    bert_tf's name ("gelu" -> "gelu_exact", "gelu_new" -> "gelu", ...).

  Raises:
    ConversionError: for a non-BERT model_type, an activation Google's code
      lacks, layer_norm_eps != 1e-12, position_embedding_type != "absolute",
      or inconsistent sizes.
  """
  model_type = hf_config.get("model_type", "bert")
  if model_type != "bert":
    raise ConversionError("%s: model_type is %r; only 'bert' can be converted"
                          % (source, model_type))
  values = {}
  defaulted = []
  for key, default in HF_BERT_DEFAULTS.items():
    if key in hf_config and hf_config[key] is not None:
      values[key] = hf_config[key]
    else:
      values[key] = default
      defaulted.append(key)
  if defaulted and report is not None:
    report.warn("%s lacks %s; used Hugging Face BertConfig defaults" %
                (source, ", ".join(defaulted)))

  if values["layer_norm_eps"] != GOOGLE_LAYER_NORM_EPS:
    raise ConversionError(
        "%s: layer_norm_eps is %r but Google's BertModel hard-codes %r; the "
        "converted model would compute different outputs" %
        (source, values["layer_norm_eps"], GOOGLE_LAYER_NORM_EPS))
  if values["position_embedding_type"] != GOOGLE_POSITION_EMBEDDING_TYPE:
    raise ConversionError(
        "%s: position_embedding_type is %r but Google's BertModel only has %r "
        "position embeddings" % (source, values["position_embedding_type"],
                                 GOOGLE_POSITION_EMBEDDING_TYPE))
  activation = values["hidden_act"]
  if not isinstance(activation, str) or (activation
                                         not in HF_TO_GOOGLE_ACTIVATION):
    raise ConversionError(
        "%s: hidden_act %r has no Google equivalent; expected one of %s" %
        (source, activation, ", ".join(sorted(HF_TO_GOOGLE_ACTIVATION))))

  bert_config = collections.OrderedDict()
  for field in BERT_CONFIG_FIELDS:
    bert_config[field] = values[field]
  bert_config["hidden_act"] = HF_TO_GOOGLE_ACTIVATION[activation]
  _check_bert_config(bert_config, source)
  return bert_config


def bert_config_to_hf_config(bert_config, architectures=("BertModel",),
                             num_labels=None, source=BERT_CONFIG_NAME):
  """Maps a bert_config.json dict to a Hugging Face BERT config.json dict.

  Args:
    bert_config: dict with BERT_CONFIG_FIELDS.
    architectures: sequence of Hugging Face class names for "architectures".
    num_labels: int or None; when set, generic id2label/label2id are written
      (for a sequence classification head).
    source: str, the file name used in error messages.

  Returns:
    An OrderedDict for config.json: model_type "bert", layer_norm_eps 1e-12,
    absolute position embeddings, hidden_act mapped back ("gelu_exact" ->
    "gelu", "gelu" -> "gelu_new").

  Raises:
    ConversionError: for a missing field or an unknown activation.
  """
  missing = [f for f in BERT_CONFIG_FIELDS if f not in bert_config]
  if missing:
    raise ConversionError("%s lacks required field(s): %s" %
                          (source, ", ".join(missing)))
  _check_bert_config(bert_config, source)
  activation = bert_config["hidden_act"]
  if activation not in GOOGLE_TO_HF_ACTIVATION:
    raise ConversionError(
        "%s: hidden_act %r has no Hugging Face equivalent; expected one of %s"
        % (source, activation, ", ".join(sorted(GOOGLE_TO_HF_ACTIVATION))))
  hf_config = collections.OrderedDict()
  hf_config["architectures"] = list(architectures)
  hf_config["model_type"] = "bert"
  for field in BERT_CONFIG_FIELDS:
    hf_config[field] = bert_config[field]
  hf_config["hidden_act"] = GOOGLE_TO_HF_ACTIVATION[activation]
  hf_config["layer_norm_eps"] = GOOGLE_LAYER_NORM_EPS
  hf_config["position_embedding_type"] = GOOGLE_POSITION_EMBEDDING_TYPE
  hf_config["pad_token_id"] = 0
  if num_labels is not None:
    labels = ["LABEL_%d" % i for i in range(num_labels)]
    hf_config["id2label"] = {str(i): label for i, label in enumerate(labels)}
    hf_config["label2id"] = {label: i for i, label in enumerate(labels)}
  return hf_config


def _check_bert_config(bert_config, source):
  """Raises ConversionError unless the structural fields are sane."""
  for field in ("vocab_size", "hidden_size", "num_hidden_layers",
                "num_attention_heads", "intermediate_size",
                "max_position_embeddings", "type_vocab_size"):
    value = bert_config.get(field)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
      raise ConversionError("%s: %s must be a positive integer, got %r" %
                            (source, field, value))
  if bert_config["hidden_size"] % bert_config["num_attention_heads"]:
    raise ConversionError(
        "%s: hidden_size %d is not a multiple of num_attention_heads %d" %
        (source, bert_config["hidden_size"],
         bert_config["num_attention_heads"]))


def _read_json(path):
  if not os.path.isfile(path):
    raise ConversionError("no such file: %s" % path)
  with open(path, "r", encoding="utf-8") as reader:
    try:
      value = json.load(reader)
    except ValueError as e:
      raise ConversionError("%s is not valid JSON: %s" % (path, e)) from e
  if not isinstance(value, dict):
    raise ConversionError("%s: expected a JSON object, got %s" %
                          (path, type(value).__name__))
  return value


# ----------------------------------------------------------------------------
# Reading Hugging Face weights.


def load_hf_weights(hf_dir):
  """Reads a Hugging Face state dict as numpy arrays.

  Prefers `model.safetensors` (read with `safetensors.numpy`, no torch), then
  a sharded `model.safetensors.index.json`, then `pytorch_model.bin` (or its
  index). A `.bin` file is a pickle: it is loaded only with
  `torch.load(..., map_location="cpu", weights_only=True)`, which refuses to
  build arbitrary Python objects.

  Args:
    hf_dir: str, a Hugging Face model directory.

  Returns:
    (state, source): state is a dict key -> np.ndarray (dtypes as stored);
    source is a str naming the file(s) read.

  Raises:
    ConversionError: when no weights file is found or one cannot be read.
  """
  path = os.path.join(hf_dir, HF_SAFETENSORS_NAME)
  if os.path.isfile(path):
    return _load_safetensors(path), path
  path = os.path.join(hf_dir, HF_SAFETENSORS_INDEX_NAME)
  if os.path.isfile(path):
    state = {}
    for shard in _index_shards(path):
      _merge_shard(state, _load_safetensors(shard), shard)
    return state, path
  pickle_note = " (a pickle, loaded with torch.load(weights_only=True))"
  path = os.path.join(hf_dir, HF_PYTORCH_NAME)
  if os.path.isfile(path):
    return _load_pytorch(path), path + pickle_note
  path = os.path.join(hf_dir, HF_PYTORCH_INDEX_NAME)
  if os.path.isfile(path):
    state = {}
    for shard in _index_shards(path):
      _merge_shard(state, _load_pytorch(shard), shard)
    return state, path + pickle_note
  raise ConversionError(
      "%s has no weights: expected %s, %s, %s or %s" %
      (hf_dir, HF_SAFETENSORS_NAME, HF_SAFETENSORS_INDEX_NAME, HF_PYTORCH_NAME,
       HF_PYTORCH_INDEX_NAME))


def _index_shards(index_path):
  weight_map = _read_json(index_path).get("weight_map")
  if not isinstance(weight_map, dict) or not weight_map:
    raise ConversionError("%s: expected a non-empty 'weight_map' object" %
                          index_path)
  directory = os.path.dirname(index_path)
  return [os.path.join(directory, name)
          for name in sorted(set(weight_map.values()))]


def _merge_shard(state, shard_state, shard_path):
  for key, value in shard_state.items():
    if key in state:
      raise ConversionError("%s: tensor %r also appears in another shard" %
                            (shard_path, key))
    state[key] = value


def _load_safetensors(path):
  import safetensors.numpy  # pylint: disable=g-import-not-at-top
  try:
    return dict(safetensors.numpy.load_file(path))
  except Exception as e:  # pylint: disable=broad-except
    raise ConversionError(
        "cannot read %s with safetensors.numpy (%s: %s); bfloat16 tensors "
        "are not supported, cast the model to float32 first" %
        (path, type(e).__name__, e)) from e


def _load_pytorch(path):
  """Loads a torch state dict in weights-only mode; returns numpy arrays."""
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ConversionError("%s needs torch to read; or provide %s" %
                          (path, HF_SAFETENSORS_NAME)) from e
  tf.logging.info("Loading %s: a pickle, read with torch.load(weights_only="
                  "True), which refuses arbitrary Python objects", path)
  try:
    loaded = torch.load(path, map_location="cpu", weights_only=True)
  except Exception as e:  # pylint: disable=broad-except
    raise ConversionError(
        "refusing %s: torch.load(weights_only=True) failed (%s: %s); it is "
        "a pickle holding more than tensors, which this tool never unpickles"
        % (path, type(e).__name__, e)) from e
  if not isinstance(loaded, dict):
    raise ConversionError("%s: expected a state dict (name -> tensor), got %s"
                          % (path, type(loaded).__name__))
  state = {}
  for key, value in loaded.items():
    if not isinstance(key, str) or not isinstance(value, torch.Tensor):
      raise ConversionError(
          "%s: expected a flat state dict of tensors, got %r -> %s" %
          (path, key, type(value).__name__))
    if value.dtype == torch.bfloat16:
      raise ConversionError(
          "%s: tensor %r is bfloat16, which this converter does not handle; "
          "cast the model to float32 first" % (path, key))
    state[key] = value.detach().cpu().numpy()
  return state


# ----------------------------------------------------------------------------
# Matching tensors to specs.


def _strip_hf_prefix(state, source):
  """Returns ({canonical name: (original key, array)}, prefix seen)."""
  canonical = collections.OrderedDict()
  prefix = ""
  for key in sorted(state):
    name = key
    if key.startswith(HF_BODY_PREFIX):
      name = key[len(HF_BODY_PREFIX):]
      prefix = HF_BODY_PREFIX
    if name in canonical:
      raise ConversionError("%s: tensors %r and %r name the same parameter" %
                            (source, canonical[name][0], key))
    canonical[name] = (key, state[key])
  return canonical, prefix


def _fold_tied_hf_tensors(canonical, report):
  """Drops the MLM decoder tensors Hugging Face ties to other tensors."""
  if HF_TIED_DECODER_BIAS in canonical:
    key, value = canonical.pop(HF_TIED_DECODER_BIAS)
    if HF_MLM_BIAS not in canonical:
      canonical[HF_MLM_BIAS] = (key, value)
    else:
      report.skipped.append(key)
      if not _same_tensor(value, canonical[HF_MLM_BIAS][1]):
        report.warn("%s differs from %s; kept %s (Google has one MLM output "
                    "bias)" % (key, canonical[HF_MLM_BIAS][0],
                               canonical[HF_MLM_BIAS][0]))
  if HF_TIED_DECODER_WEIGHT in canonical:
    key, value = canonical.pop(HF_TIED_DECODER_WEIGHT)
    report.skipped.append(key)
    embeddings = canonical.get(HF_WORD_EMBEDDINGS)
    if embeddings is not None and not _same_tensor(value, embeddings[1]):
      report.warn(
          "%s differs from %s, but Google's BERT ties the MLM output weights "
          "to the word embeddings: the decoder weights are dropped and the "
          "converted MLM head will use the word embeddings" %
          (key, embeddings[0]))


def _same_tensor(a, b):
  return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b)


def _select_specs(specs, available, name_of, source):
  """Returns the specs present in `available`; raises on missing tensors.

  Args:
    specs: list of TensorSpec.
    available: container of names on the source side.
    name_of: function TensorSpec -> source-side name.
    source: str, for messages.

  Returns:
    (selected specs, sorted list of optional groups present).

  Raises:
    ConversionError: naming every tensor a required group lacks, or that an
      optional group present only in part lacks.
  """
  present_groups = set(s.group for s in specs if name_of(s) in available)
  missing = [name_of(s) for s in specs
             if (s.group in REQUIRED_GROUPS or s.group in present_groups) and
             name_of(s) not in available]
  if missing:
    shown = ", ".join(missing[:20])
    if len(missing) > 20:
      shown += ", ... (%d more)" % (len(missing) - 20)
    raise ConversionError("%s lacks %d required tensor(s): %s" %
                          (source, len(missing), shown))
  selected = [s for s in specs if name_of(s) in available]
  return selected, sorted(present_groups - set(REQUIRED_GROUPS))


def _check_tensors(selected, shape_of, dtype_of, name_of, source,
                   shape_field):
  """Raises ConversionError listing every shape or dtype mismatch."""
  problems = []
  for spec in selected:
    expected = spec.hf_shape if shape_field == "hf" else spec.shape
    actual = tuple(shape_of(spec))
    if actual != tuple(expected):
      problems.append("tensor %r (%s) has shape %s but the config implies %s"
                      % (name_of(spec), _other_name(spec, shape_field),
                         _shape_str(actual), _shape_str(expected)))
    dtype = np.dtype(dtype_of(spec))
    if dtype not in _SUPPORTED_DTYPES:
      problems.append("tensor %r has dtype %s; expected float16, float32 or "
                      "float64" % (name_of(spec), dtype))
  if problems:
    raise ConversionError("%s does not match its config:\n  %s" %
                          (source, "\n  ".join(problems)))


def _other_name(spec, side):
  if side == "hf":
    return "Google %s" % spec.google_name
  return "Hugging Face %s" % spec.hf_name


def _shape_str(shape):
  return "[%s]" % ", ".join(str(d) for d in shape)


def _architectures(heads):
  names = []
  remaining = set(heads)
  for combination, name in _HEAD_ARCHITECTURES.items():
    if set(combination) <= remaining:
      names.append(name)
      remaining -= set(combination)
  return names or ["BertModel"]


def _is_training_state(name):
  base = name.split("/")[-1]
  return (name.endswith(_OPTIMIZER_SUFFIXES) or base in _TRAINING_STATE_NAMES
          or name in _TRAINING_STATE_NAMES)


# ----------------------------------------------------------------------------
# Output staging.


def _check_output_dir(output_dir, overwrite):
  if os.path.lexists(output_dir):
    if not os.path.isdir(output_dir):
      raise ConversionError("output_dir %s exists and is not a directory" %
                            output_dir)
    if os.listdir(output_dir) and not overwrite:
      raise ConversionError(
          "output_dir %s exists and is not empty; pass overwrite=True "
          "(--overwrite) to replace it" % output_dir)


class _StagedDirectory(object):
  """A temporary sibling of `output_dir`, renamed onto it on success."""

  def __init__(self, output_dir, overwrite):
    self._final = os.path.abspath(output_dir)
    self._overwrite = overwrite
    self.path = None

  def __enter__(self):
    parent, base = os.path.split(self._final)
    os.makedirs(parent, exist_ok=True)
    self.path = os.path.join(parent,
                             ".%s.tmp-%s" % (base, uuid.uuid4().hex[:8]))
    os.mkdir(self.path)
    return self.path

  def __exit__(self, exc_type, exc_value, traceback):
    if exc_type is not None:
      shutil.rmtree(self.path, ignore_errors=True)
      return False
    try:
      self._commit()
    except BaseException:
      shutil.rmtree(self.path, ignore_errors=True)
      raise
    return False

  def _commit(self):
    backup = None
    if os.path.lexists(self._final):
      _check_output_dir(self._final, self._overwrite)
      if os.listdir(self._final):
        backup = self.path + ".old"
        os.rename(self._final, backup)
      else:
        os.rmdir(self._final)
    os.rename(self.path, self._final)
    if backup is not None:
      shutil.rmtree(backup, ignore_errors=True)


def _write_json(path, value):
  with open(path, "w", encoding="utf-8") as writer:
    json.dump(value, writer, indent=2)
    writer.write("\n")


def _copy_side_files(source_dir, target_dir, report, vocab_file=None,
                     exclude=()):
  """Copies vocab/tokenizer/licence files from source_dir into target_dir."""
  names = []
  if vocab_file is not None:
    if not os.path.isfile(vocab_file):
      raise ConversionError("vocab_file %s does not exist" % vocab_file)
    shutil.copyfile(vocab_file, os.path.join(target_dir, VOCAB_NAME))
    names.append(VOCAB_NAME)
  candidates = [os.path.join(source_dir, n) for n in TOKENIZER_FILES]
  for pattern in LICENSE_PATTERNS:
    candidates.extend(sorted(glob.glob(os.path.join(source_dir, pattern))))
  for path in candidates:
    name = os.path.basename(path)
    if name in names or name in exclude or not os.path.isfile(path):
      continue
    shutil.copyfile(path, os.path.join(target_dir, name))
    names.append(name)
  if VOCAB_NAME not in names:
    report.warn("no %s found beside the source; copy the vocabulary into %s "
                "yourself" % (VOCAB_NAME, report.output_dir))
  report.copied_files = names


def _check_vocab_size(vocab_path, vocab_size, report):
  if not os.path.isfile(vocab_path):
    return
  with open(vocab_path, "r", encoding="utf-8") as reader:
    lines = sum(1 for line in reader if line.strip())
  if lines > vocab_size:
    report.warn("%s has %d tokens but vocab_size is %d: ids past %d have no "
                "embedding" % (vocab_path, lines, vocab_size, vocab_size - 1))


def write_tf_checkpoint(tensors, checkpoint_prefix):
  """Writes numpy arrays as a TF1 checkpoint with exactly the given names.

  The values enter the graph through placeholders (no constants embedded),
  initialise `tf.get_variable`s one by one and are saved by `tf.train.Saver`
  with relative paths, so the directory can be moved afterwards.

  Args:
    tensors: ordered mapping variable name -> np.ndarray (its dtype is kept).
    checkpoint_prefix: str, e.g. ".../bert_model.ckpt".

  Returns:
    The saved checkpoint path (the prefix).
  """
  graph = tf.Graph()
  with graph.as_default():
    variables = collections.OrderedDict()
    placeholders = {}
    for index, (name, value) in enumerate(tensors.items()):
      placeholder = tf.placeholder(tf.as_dtype(value.dtype), shape=value.shape,
                                   name="convert_feed_%d" % index)
      variable = tf.get_variable(name, initializer=placeholder)
      variables[name] = variable
      placeholders[name] = placeholder
    saver = tf.train.Saver(var_list=variables, save_relative_paths=True,
                           max_to_keep=None)
    config = tf.ConfigProto(device_count={"GPU": 0})
    with tf.Session(graph=graph, config=config) as sess:
      for name, variable in variables.items():
        sess.run(variable.initializer,
                 feed_dict={placeholders[name]: tensors[name]})
      return saver.save(sess, checkpoint_prefix, write_meta_graph=False)


# ----------------------------------------------------------------------------
# Hugging Face -> Google.


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
  _check_output_dir(output_dir, overwrite)
  report = ConversionReport("hf2google", output_dir)
  config_path = os.path.join(hf_dir, HF_CONFIG_NAME)
  hf_config = _read_json(config_path)
  bert_config = hf_config_to_bert_config(hf_config, report, config_path)
  report.source_activation = hf_config.get("hidden_act",
                                           HF_BERT_DEFAULTS["hidden_act"])
  report.target_activation = bert_config["hidden_act"]

  state, source = load_hf_weights(hf_dir)
  report.source = source
  canonical, report.hf_prefix = _strip_hf_prefix(state, source)
  _fold_tied_hf_tensors(canonical, report)
  for name in HF_IGNORED_BUFFERS:
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
  specs = tensor_specs(bert_config, num_labels)
  selected, report.heads = _select_specs(specs, canonical,
                                         lambda s: s.hf_name, source)
  _check_tensors(selected, lambda s: canonical[s.hf_name][1].shape,
                 lambda s: canonical[s.hf_name][1].dtype,
                 lambda s: canonical[s.hf_name][0], source, "hf")
  if "pooler" not in report.heads:
    report.warn("no pooler tensors (pooler.dense.*): Google's BertModel will "
                "initialise bert/pooler/dense randomly")
  report.heads = [g for g in report.heads if g in HEAD_GROUPS]
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

  with _StagedDirectory(output_dir, overwrite) as staging:
    _write_json(os.path.join(staging, BERT_CONFIG_NAME), bert_config)
    write_tf_checkpoint(tensors, os.path.join(staging, CHECKPOINT_PREFIX))
    _copy_side_files(hf_dir, staging, report)
    _check_vocab_size(os.path.join(staging, VOCAB_NAME),
                      bert_config["vocab_size"], report)
  _fill_counts(report, tensors.values())
  return report


def _fill_counts(report, arrays):
  arrays = list(arrays)
  report.num_tensors = len(arrays)
  report.num_parameters = int(sum(a.size for a in arrays))
  report.dtypes = sorted(set(str(a.dtype) for a in arrays))


# ----------------------------------------------------------------------------
# Google -> Hugging Face.


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
    raise ConversionError(
        "%s: no 'checkpoint' state file and %d *.index files; pass the "
        "checkpoint prefix (e.g. %s)" %
        (path, len(indexes), os.path.join(path, CHECKPOINT_PREFIX)))
  if path.endswith(".index"):
    path = path[:-len(".index")]
  if not os.path.isfile(path + ".index"):
    raise ConversionError("no TF checkpoint at %s (expected %s.index)" %
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
  if prefix not in (None, "", HF_BODY_PREFIX):
    raise ConversionError("prefix must be None, '' or %r, got %r" %
                          (HF_BODY_PREFIX, prefix))
  _check_output_dir(output_dir, overwrite)
  report = ConversionReport("google2hf", output_dir)
  checkpoint = resolve_checkpoint(checkpoint)
  report.source = checkpoint
  source_dir = os.path.dirname(os.path.abspath(checkpoint))
  if bert_config_file is None:
    bert_config_file = os.path.join(source_dir, BERT_CONFIG_NAME)
  bert_config = _read_json(bert_config_file)

  reader = tf.train.load_checkpoint(checkpoint)
  shapes = reader.get_variable_to_shape_map()
  dtypes = reader.get_variable_to_dtype_map()
  num_labels = None
  if "output_weights" in shapes:
    shape = shapes["output_weights"]
    num_labels = shape[0] if len(shape) == 2 else 0
  missing_fields = [f for f in BERT_CONFIG_FIELDS if f not in bert_config]
  if missing_fields:
    raise ConversionError("%s lacks required field(s): %s" %
                          (bert_config_file, ", ".join(missing_fields)))
  _check_bert_config(bert_config, bert_config_file)
  specs = tensor_specs(bert_config, num_labels)
  selected, groups = _select_specs(specs, shapes, lambda s: s.google_name,
                                   checkpoint)
  _check_tensors(selected, lambda s: shapes[s.google_name],
                 lambda s: dtypes[s.google_name].as_numpy_dtype,
                 lambda s: s.google_name, checkpoint, "google")
  report.heads = [g for g in groups if g in HEAD_GROUPS]
  if "pooler" not in groups:
    report.warn("no bert/pooler/dense tensors: Hugging Face will initialise "
                "the pooler randomly")
  if prefix is None:
    prefix = HF_BODY_PREFIX if report.heads else ""
  if report.heads and not prefix:
    raise ConversionError(
        "%s has head tensors (%s); Hugging Face keys for a model with heads "
        "need the %r prefix" % (checkpoint, ", ".join(report.heads),
                                HF_BODY_PREFIX))
  report.hf_prefix = prefix
  architectures = _architectures(report.heads)
  hf_config = bert_config_to_hf_config(
      bert_config, architectures,
      num_labels if "classifier" in report.heads else None, bert_config_file)
  report.source_activation = bert_config["hidden_act"]
  report.target_activation = hf_config["hidden_act"]

  known = set(s.google_name for s in selected)
  for name in sorted(shapes):
    if name in known:
      continue
    if _is_training_state(name):
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
    if spec.group in _BODY_GROUPS:
      key = prefix + key
    state[key] = np.ascontiguousarray(value)

  import safetensors.numpy  # pylint: disable=g-import-not-at-top
  with _StagedDirectory(output_dir, overwrite) as staging:
    _write_json(os.path.join(staging, HF_CONFIG_NAME), hf_config)
    weights_path = os.path.join(staging, HF_SAFETENSORS_NAME)
    safetensors.numpy.save_file(state, weights_path,
                                metadata={"format": "pt"})
    # safetensors creates the file 0600; give it the mode config.json got.
    os.chmod(weights_path,
             os.stat(os.path.join(staging, HF_CONFIG_NAME)).st_mode & 0o777)
    if vocab_file is None and os.path.isfile(
        os.path.join(source_dir, VOCAB_NAME)):
      vocab_file = os.path.join(source_dir, VOCAB_NAME)
    _copy_side_files(source_dir, staging, report, vocab_file=vocab_file)
    _check_vocab_size(os.path.join(staging, VOCAB_NAME),
                      bert_config["vocab_size"], report)
  _fill_counts(report, state.values())
  return report


# ----------------------------------------------------------------------------
# Command line.


def _parse_args(argv):
  parser = argparse.ArgumentParser(
      prog="python -m bert_tf.convert",
      description="Convert BERT checkpoints between the Hugging Face and "
      "Google (TF1) layouts.")
  commands = parser.add_subparsers(dest="command", required=True)

  to_google = commands.add_parser(
      "hf2google", help="Hugging Face directory -> Google checkpoint.")
  to_google.add_argument("--hf_dir", required=True,
                         help="Directory with config.json and "
                         "model.safetensors or pytorch_model.bin.")
  to_google.add_argument("--output_dir", required=True)
  to_google.add_argument("--overwrite", action="store_true",
                         help="Replace a non-empty output_dir.")

  to_hf = commands.add_parser(
      "google2hf", help="Google checkpoint -> Hugging Face directory.")
  to_hf.add_argument("--checkpoint", required=True,
                     help="Checkpoint prefix (e.g. .../bert_model.ckpt) or "
                     "its directory.")
  to_hf.add_argument("--bert_config_file", default=None,
                     help="Defaults to bert_config.json beside the "
                     "checkpoint.")
  to_hf.add_argument("--output_dir", required=True)
  to_hf.add_argument("--vocab_file", default=None,
                     help="Defaults to vocab.txt beside the checkpoint.")
  to_hf.add_argument("--prefix", choices=("auto", "bert", "none"),
                     default="auto",
                     help="Key prefix of the body tensors: 'bert.' (bert), "
                     "none, or auto (bert. only when there are heads).")
  to_hf.add_argument("--overwrite", action="store_true",
                     help="Replace a non-empty output_dir.")
  return parser.parse_args(argv)


def main(argv=None):
  """Runs the CLI; returns the process exit status."""
  args = _parse_args(sys.argv[1:] if argv is None else argv)
  import bert_tf  # pylint: disable=g-import-not-at-top
  bert_tf.quiet_tensorflow()
  try:
    if args.command == "hf2google":
      report = hf_to_google(args.hf_dir, args.output_dir,
                            overwrite=args.overwrite)
    else:
      prefix = {"auto": None, "bert": HF_BODY_PREFIX, "none": ""}[args.prefix]
      report = google_to_hf(args.checkpoint, args.output_dir,
                            bert_config_file=args.bert_config_file,
                            vocab_file=args.vocab_file, prefix=prefix,
                            overwrite=args.overwrite)
  except ConversionError as e:
    print("error: %s" % e, file=sys.stderr)
    return 1
  print(report.summary())
  return 0


if __name__ == "__main__":
  sys.exit(main())

"""The Hugging Face <-> Google variable-name mapping: every tensor of a BERT
model under both names (`tensor_specs`), its groups, and the checks of a
source's tensors against them."""

import collections

import numpy as np

from bert_tf.convert import reporting

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
BODY_GROUPS = ("embeddings", "encoder", "pooler")

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


def select_specs(specs, available, name_of, source):
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
    raise reporting.ConversionError("%s lacks %d required tensor(s): %s" %
                                    (source, len(missing), shown))
  selected = [s for s in specs if name_of(s) in available]
  return selected, sorted(present_groups - set(REQUIRED_GROUPS))


def check_tensors(selected, shape_of, dtype_of, name_of, source,
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
    raise reporting.ConversionError("%s does not match its config:\n  %s" %
                                    (source, "\n  ".join(problems)))


def _other_name(spec, side):
  if side == "hf":
    return "Google %s" % spec.google_name
  return "Hugging Face %s" % spec.hf_name


def _shape_str(shape):
  return "[%s]" % ", ".join(str(d) for d in shape)


def hf_architectures(heads):
  names = []
  remaining = set(heads)
  for combination, name in _HEAD_ARCHITECTURES.items():
    if set(combination) <= remaining:
      names.append(name)
      remaining -= set(combination)
  return names or ["BertModel"]


def is_training_state(name):
  base = name.split("/")[-1]
  return (name.endswith(_OPTIMIZER_SUFFIXES) or base in _TRAINING_STATE_NAMES
          or name in _TRAINING_STATE_NAMES)

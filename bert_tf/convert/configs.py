"""bert_config.json <-> Hugging Face config.json (fields, defaults,
activation names)."""

import collections

from bert_tf.convert import io
from bert_tf.convert import reporting

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
    raise reporting.ConversionError(
        "%s: model_type is %r; only 'bert' can be converted"
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
    raise reporting.ConversionError(
        "%s: layer_norm_eps is %r but Google's BertModel hard-codes %r; the "
        "converted model would compute different outputs" %
        (source, values["layer_norm_eps"], GOOGLE_LAYER_NORM_EPS))
  if values["position_embedding_type"] != GOOGLE_POSITION_EMBEDDING_TYPE:
    raise reporting.ConversionError(
        "%s: position_embedding_type is %r but Google's BertModel only has %r "
        "position embeddings" % (source, values["position_embedding_type"],
                                 GOOGLE_POSITION_EMBEDDING_TYPE))
  activation = values["hidden_act"]
  if not isinstance(activation, str) or (activation
                                         not in HF_TO_GOOGLE_ACTIVATION):
    raise reporting.ConversionError(
        "%s: hidden_act %r has no Google equivalent; expected one of %s" %
        (source, activation, ", ".join(sorted(HF_TO_GOOGLE_ACTIVATION))))

  bert_config = collections.OrderedDict()
  for field in BERT_CONFIG_FIELDS:
    bert_config[field] = values[field]
  bert_config["hidden_act"] = HF_TO_GOOGLE_ACTIVATION[activation]
  check_bert_config(bert_config, source)
  return bert_config


def bert_config_to_hf_config(bert_config, architectures=("BertModel",),
                             num_labels=None, source=io.BERT_CONFIG_NAME):
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
    raise reporting.ConversionError("%s lacks required field(s): %s" %
                                    (source, ", ".join(missing)))
  check_bert_config(bert_config, source)
  activation = bert_config["hidden_act"]
  if activation not in GOOGLE_TO_HF_ACTIVATION:
    raise reporting.ConversionError(
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


def check_bert_config(bert_config, source):
  """Raises ConversionError unless the structural fields are sane."""
  for field in ("vocab_size", "hidden_size", "num_hidden_layers",
                "num_attention_heads", "intermediate_size",
                "max_position_embeddings", "type_vocab_size"):
    value = bert_config.get(field)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
      raise reporting.ConversionError(
          "%s: %s must be a positive integer, got %r" %
          (source, field, value))
  if bert_config["hidden_size"] % bert_config["num_attention_heads"]:
    raise reporting.ConversionError(
        "%s: hidden_size %d is not a multiple of num_attention_heads %d" %
        (source, bert_config["hidden_size"],
         bert_config["num_attention_heads"]))

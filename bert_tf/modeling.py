"""The BERT model: `BertConfig`, `BertModel` and the helpers users call.

Public names, checkpoint variable names and numerics follow Google's reference
`modeling.py`, so a Google checkpoint loads unchanged and code written against
`modeling.BertModel` works with `from bert_tf import modeling`:

  bert/embeddings/{word,token_type,position}_embeddings, bert/embeddings/LayerNorm
  bert/encoder/layer_N/attention/self/{query,key,value}
  bert/encoder/layer_N/attention/output/{dense,LayerNorm}
  bert/encoder/layer_N/intermediate/dense
  bert/encoder/layer_N/output/{dense,LayerNorm}
  bert/pooler/dense

Layer norm epsilon is 1e-12, weights start from a truncated normal with
`initializer_range`, masked attention positions get -10000.0 added to their
scores, and `"gelu"` is the tanh approximation. `"gelu_exact"` selects the erf
form (Hugging Face's "gelu"), for checkpoints trained with it.

This module never reads absl FLAGS.
"""

import collections
import contextlib
import copy
import json
import math
import re

import numpy as np
import tensorflow.compat.v1 as tf


class BertConfig(object):
  """Hyper-parameters of a `BertModel` (the reference's fields and defaults)."""

  def __init__(self,
               vocab_size,
               hidden_size=768,
               num_hidden_layers=12,
               num_attention_heads=12,
               intermediate_size=3072,
               hidden_act="gelu",
               hidden_dropout_prob=0.1,
               attention_probs_dropout_prob=0.1,
               max_position_embeddings=512,
               type_vocab_size=16,
               initializer_range=0.02):
    """Builds a config.

    Args:
      vocab_size: int, size of the WordPiece vocabulary (`input_ids` range).
      hidden_size: int, width of the encoder layers and the pooler.
      num_hidden_layers: int, number of Transformer layers.
      num_attention_heads: int, heads per attention layer; must divide
        `hidden_size`.
      intermediate_size: int, width of the feed-forward ("intermediate") layer.
      hidden_act: str or callable, feed-forward activation: "gelu" (tanh
        approximation, as Google's BERT), "gelu_exact" (erf), "relu", "tanh".
      hidden_dropout_prob: float, dropout on embeddings, encoder and pooler.
      attention_probs_dropout_prob: float, dropout on attention probabilities.
      max_position_embeddings: int, longest sequence the model accepts.
      type_vocab_size: int, number of `token_type_ids` values.
      initializer_range: float, stddev of the truncated-normal initializer.
    """
    self.vocab_size = vocab_size
    self.hidden_size = hidden_size
    self.num_hidden_layers = num_hidden_layers
    self.num_attention_heads = num_attention_heads
    self.hidden_act = hidden_act
    self.intermediate_size = intermediate_size
    self.hidden_dropout_prob = hidden_dropout_prob
    self.attention_probs_dropout_prob = attention_probs_dropout_prob
    self.max_position_embeddings = max_position_embeddings
    self.type_vocab_size = type_vocab_size
    self.initializer_range = initializer_range

  @classmethod
  def from_dict(cls, json_object):
    """Builds a config from a dict; unknown keys are kept as attributes."""
    config = BertConfig(vocab_size=None)
    for key, value in json_object.items():
      config.__dict__[key] = value
    return config

  @classmethod
  def from_json_file(cls, json_file):
    """Reads a `bert_config.json` file.

    Raises:
      FileNotFoundError / ValueError naming the file when it is missing or is
      not a JSON object with an integer `vocab_size`.
    """
    if not tf.io.gfile.exists(json_file):
      raise FileNotFoundError("BERT config file not found: %s" % json_file)
    with tf.io.gfile.GFile(json_file, "r") as reader:
      text = reader.read()
    try:
      data = json.loads(text)
    except ValueError as e:
      raise ValueError("%s is not valid JSON: %s" % (json_file, e))
    if not isinstance(data, dict) or not isinstance(data.get("vocab_size"), int):
      raise ValueError("%s must be a JSON object with an integer `vocab_size`"
                       " (a bert_config.json)." % json_file)
    return cls.from_dict(data)

  def to_dict(self):
    """Returns the config as a plain dict."""
    return copy.deepcopy(self.__dict__)

  def to_json_string(self):
    """Returns the config as a JSON string (sorted keys, 2-space indent)."""
    return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"


class BertModel(object):
  """BERT: embeddings, a Transformer encoder and a pooler.

  Example:

    input_ids = tf.constant([[31, 51, 99], [15, 5, 0]])   # int32 [2, 3]
    input_mask = tf.constant([[1, 1, 1], [1, 1, 0]])
    token_type_ids = tf.constant([[0, 0, 1], [0, 2, 0]])
    config = modeling.BertConfig(vocab_size=32000, hidden_size=512,
        num_hidden_layers=8, num_attention_heads=8, intermediate_size=1024)
    model = modeling.BertModel(config=config, is_training=True,
        input_ids=input_ids, input_mask=input_mask,
        token_type_ids=token_type_ids)
    pooled_output = model.get_pooled_output()             # float32 [2, 512]
  """

  def __init__(self,
               config,
               is_training,
               input_ids,
               input_mask=None,
               token_type_ids=None,
               use_one_hot_embeddings=False,
               scope=None,
               output_positions=None):
    """Builds the graph.

    Args:
      config: `BertConfig`.
      is_training: bool; False disables dropout.
      input_ids: int32 Tensor [batch_size, seq_length].
      input_mask: optional int32 Tensor [batch_size, seq_length], 1 for real
        tokens and 0 for padding. Defaults to all ones.
      token_type_ids: optional int32 Tensor [batch_size, seq_length]. Defaults
        to all zeros.
      use_one_hot_embeddings: look embeddings up with a one-hot matmul (faster
        on TPUs) instead of a gather.
      scope: variable scope; defaults to "bert".
      output_positions: optional int32 Tensor [batch_size, num_positions]
        (num_positions may be 0): the positions whose last-layer output the
        caller reads. The last layer then computes only these rows and the
        [CLS] row the pooler needs (its keys and values still span the whole
        sequence), which saves most of one layer's work: a classifier reads
        none (`tf.zeros([batch_size, 0], tf.int32)`), masked-LM pretraining
        reads `masked_lm_positions`. `get_sequence_output()` and the last of
        `get_all_encoder_layers()` are then [batch_size, num_positions,
        hidden_size], row p being position output_positions[:, p]; the other
        layers, the pooled output and every variable are as without it.
        None (the reference's behaviour): every position.

    Raises:
      ValueError: if the config is inconsistent or the inputs have the wrong
        rank or are longer than `max_position_embeddings`.
    """
    config = copy.deepcopy(config)
    if not is_training:
      config.hidden_dropout_prob = 0.0
      config.attention_probs_dropout_prob = 0.0

    input_shape = get_shape_list(input_ids, expected_rank=2, name="input_ids")
    batch_size, seq_length = input_shape[0], input_shape[1]

    if input_mask is None:
      input_mask = tf.ones(shape=[batch_size, seq_length], dtype=tf.int32)
    if token_type_ids is None:
      token_type_ids = tf.zeros(shape=[batch_size, seq_length], dtype=tf.int32)

    # Inference graphs get the layer norm oneDNN fuses (see `layer_norm`).
    with tf.variable_scope(scope, default_name="bert"), \
        _inference_layer_norm(not is_training):
      with tf.variable_scope("embeddings"):
        (self.embedding_output, self.embedding_table) = embedding_lookup(
            input_ids=input_ids,
            vocab_size=config.vocab_size,
            embedding_size=config.hidden_size,
            initializer_range=config.initializer_range,
            word_embedding_name="word_embeddings",
            use_one_hot_embeddings=use_one_hot_embeddings)
        self.embedding_output = embedding_postprocessor(
            input_tensor=self.embedding_output,
            use_token_type=True,
            token_type_ids=token_type_ids,
            token_type_vocab_size=config.type_vocab_size,
            token_type_embedding_name="token_type_embeddings",
            use_position_embeddings=True,
            position_embedding_name="position_embeddings",
            initializer_range=config.initializer_range,
            max_position_embeddings=config.max_position_embeddings,
            dropout_prob=config.hidden_dropout_prob)

      with tf.variable_scope("encoder"):
        # [batch_size, seq_length, seq_length] float32
        attention_mask = create_attention_mask_from_input_mask(
            input_ids, input_mask)
        self.all_encoder_layers = transformer_model(
            input_tensor=self.embedding_output,
            attention_mask=attention_mask,
            hidden_size=config.hidden_size,
            num_hidden_layers=config.num_hidden_layers,
            num_attention_heads=config.num_attention_heads,
            intermediate_size=config.intermediate_size,
            intermediate_act_fn=get_activation(config.hidden_act),
            hidden_dropout_prob=config.hidden_dropout_prob,
            attention_probs_dropout_prob=config.attention_probs_dropout_prob,
            initializer_range=config.initializer_range,
            do_return_all_layers=True,
            last_layer_positions=output_positions)

      if output_positions is None:
        self.sequence_output = self.all_encoder_layers[-1]
        # The first token ([CLS]) summarises the sequence.
        # [batch_size, hidden_size]
        first_token_tensor = self.sequence_output[:, 0, :]
      else:
        # The last layer computed [CLS] first, then output_positions.
        last_layer = self.all_encoder_layers[-1]  # [batch, 1 + positions, H]
        first_token_tensor = last_layer[:, 0, :]
        self.sequence_output = last_layer[:, 1:, :]
        self.all_encoder_layers[-1] = self.sequence_output
      self.output_positions = output_positions
      with tf.variable_scope("pooler"):
        self.pooled_output = dense_layer(
            first_token_tensor,
            config.hidden_size,
            name="dense",
            activation=tf.tanh,
            initializer=create_initializer(config.initializer_range))

  def get_pooled_output(self):
    """float32 Tensor [batch_size, hidden_size]: tanh(dense([CLS] output))."""
    return self.pooled_output

  def get_sequence_output(self):
    """float32 Tensor [batch_size, seq_length, hidden_size]: last layer.

    [batch_size, num_positions, hidden_size] where the model was built with
    `output_positions`.
    """
    return self.sequence_output

  def get_all_encoder_layers(self):
    """List of num_hidden_layers float32 Tensors [batch, seq, hidden]."""
    return self.all_encoder_layers

  def get_embedding_output(self):
    """float32 Tensor [batch, seq, hidden]: summed, normalised embeddings."""
    return self.embedding_output

  def get_embedding_table(self):
    """float32 Variable [vocab_size, hidden_size]: word embeddings."""
    return self.embedding_table


def gelu(x):
  """Gaussian Error Linear Unit, tanh approximation (Google BERT's "gelu").

  0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))

  With the fusible ops (the default, see `fusible_ops`) the same function is
  written in the op order of `tf.nn.gelu(approximate=True)`, which oneDNN's
  graph rewriter fuses with a preceding MatMul + BiasAdd into one
  `_MklNativeFusedMatMul` (fused_ops BiasAdd, GeluApproximate) in inference
  graphs; otherwise in the reference's op order. The two agree to float32 rounding (~1e-7).

  Args:
    x: float Tensor of any shape.

  Returns:
    Tensor of the same shape and dtype.
  """
  if _FUSIBLE_OPS:
    # Both the op order and a name scope "Gelu" are needed: TF 2.15's
    # remapper leaves the same ops unfused under another scope.
    with tf.name_scope("Gelu"):
      coeff = tf.cast(0.044715, x.dtype)
      return 0.5 * x * (1.0 + tf.tanh(
          0.7978845608028654 * (x + coeff * tf.pow(x, 3))))
  cdf = 0.5 * (1.0 + tf.tanh(
      (math.sqrt(2.0 / math.pi) * (x + 0.044715 * tf.pow(x, 3)))))
  return x * cdf


def gelu_exact(x):
  """GELU with the exact Gaussian CDF: 0.5 * x * (1 + erf(x / sqrt(2))).

  This op order is the one oneDNN's rewriter fuses after MatMul + BiasAdd
  (fused_ops BiasAdd, GeluExact).
  """
  with tf.name_scope("Gelu"):
    return 0.5 * x * (1.0 + tf.math.erf(x / math.sqrt(2.0)))


# Whether the graph is written in the op patterns that TensorFlow's oneDNN
# graph rewriter (grappler remapper) fuses: dense + GELU, layer norm (one
# kernel in inference graphs, a shorter op sequence in training), and the
# attention mask that lets every layer fuse its scores. Same variables, same
# math (float32 outputs within ~1e-6). False builds the reference's op
# sequence (for comparisons: `python -m bert_tf.benchmark`).
_FUSIBLE_OPS = True

# Set while a `BertModel` with is_training=False is built: its layer norms
# take the form oneDNN fuses in inference graphs (`_layer_norm_onednn`).
_INFERENCE_LAYER_NORM = False

_ONEDNN_CPU_ONLY = None


def onednn_cpu_only():
  """True when TensorFlow runs oneDNN's CPU kernels and sees no GPU.

  Where it is False (TF_ENABLE_ONEDNN_OPTS=0, non-x86 builds, a GPU),
  `layer_norm` keeps its elementwise form in inference graphs too. Checked
  once per process.
  """
  global _ONEDNN_CPU_ONLY
  if _ONEDNN_CPU_ONLY is None:
    try:
      from tensorflow.python.util import _pywrap_util_port  # pylint: disable=g-import-not-at-top
      onednn = bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):
      onednn = False
    _ONEDNN_CPU_ONLY = onednn and not tf.config.list_physical_devices("GPU")
  return _ONEDNN_CPU_ONLY


@contextlib.contextmanager
def _inference_layer_norm(enabled):
  """Context manager: `layer_norm` calls inside build inference graphs."""
  global _INFERENCE_LAYER_NORM
  previous = _INFERENCE_LAYER_NORM
  _INFERENCE_LAYER_NORM = bool(enabled)
  try:
    yield
  finally:
    _INFERENCE_LAYER_NORM = previous


def fusible_ops_enabled():
  """True when new graphs are built in the fusible op patterns (default)."""
  return _FUSIBLE_OPS


def set_fusible_ops(enabled):
  """Builds later graphs in the fusible (True) or reference (False) pattern.

  Returns:
    The previous setting.
  """
  global _FUSIBLE_OPS
  previous = _FUSIBLE_OPS
  _FUSIBLE_OPS = bool(enabled)
  return previous


@contextlib.contextmanager
def fusible_ops(enabled):
  """Context manager: graphs built inside use (or not) the fusible patterns.

    with modeling.fusible_ops(False):
      model = modeling.BertModel(...)   # the reference's op sequence
  """
  previous = set_fusible_ops(enabled)
  try:
    yield
  finally:
    set_fusible_ops(previous)


_ACTIVATIONS = {
    "linear": None,
    "relu": tf.nn.relu,
    "gelu": gelu,
    "gelu_exact": gelu_exact,
    "gelu_erf": gelu_exact,
    "tanh": tf.tanh,
}


def get_activation(activation_string):
  """Maps an activation name to its function.

  Args:
    activation_string: "linear", "relu", "gelu" (tanh approximation),
      "gelu_exact" (erf), "tanh", an empty value (-> None, linear) or an
      already-callable activation (returned unchanged).

  Returns:
    A callable, or None for a linear activation.

  Raises:
    ValueError: for an unknown name.
  """
  if not isinstance(activation_string, str):
    return activation_string
  if not activation_string:
    return None
  act = activation_string.lower()
  if act not in _ACTIVATIONS:
    raise ValueError("Unsupported activation %r; expected one of %s" %
                     (activation_string, ", ".join(sorted(_ACTIVATIONS))))
  return _ACTIVATIONS[act]


def get_assignment_map_from_checkpoint(tvars, init_checkpoint):
  """Matches graph variables to checkpoint variables by name.

  Args:
    tvars: list of tf.Variable.
    init_checkpoint: checkpoint path (prefix).

  Returns:
    (assignment_map, initialized_variable_names): an OrderedDict checkpoint
    name -> checkpoint name for `tf.train.init_from_checkpoint`, and a dict
    whose keys are the matched names, with and without ":0".
  """
  name_to_variable = collections.OrderedDict()
  for var in tvars:
    name = var.name
    m = re.match(r"^(.*):\d+$", name)
    if m is not None:
      name = m.group(1)
    name_to_variable[name] = var

  assignment_map = collections.OrderedDict()
  initialized_variable_names = {}
  for name, _ in tf.train.list_variables(init_checkpoint):
    if name not in name_to_variable:
      continue
    assignment_map[name] = name
    initialized_variable_names[name] = 1
    initialized_variable_names[name + ":0"] = 1
  return assignment_map, initialized_variable_names


def dropout(input_tensor, dropout_prob):
  """Applies dropout with drop probability `dropout_prob` (None/0: identity).

  Args:
    input_tensor: float Tensor.
    dropout_prob: float, the probability of dropping a value (not of keeping).

  Returns:
    Tensor of the same shape.
  """
  if dropout_prob is None or dropout_prob == 0.0:
    return input_tensor
  return tf.nn.dropout(input_tensor, rate=dropout_prob)


LAYER_NORM_EPSILON = 1e-12


def layer_norm(input_tensor, name=None):
  """Layer normalisation over the last axis, epsilon 1e-12.

  Creates `<name>/gamma` (ones) and `<name>/beta` (zeros), each [last_dim].

  Args:
    input_tensor: float Tensor [..., d].
    name: variable scope name; the reference uses "LayerNorm".

  Returns:
    Tensor of the same shape.
  """
  with tf.variable_scope(name, default_name="LayerNorm"):
    dim = input_tensor.shape[-1]
    beta = tf.get_variable(
        "beta", shape=[dim], initializer=tf.zeros_initializer())
    gamma = tf.get_variable(
        "gamma", shape=[dim], initializer=tf.ones_initializer())
    if not _FUSIBLE_OPS:
      mean, variance = tf.nn.moments(input_tensor, axes=[-1], keepdims=True)
      return tf.nn.batch_normalization(
          input_tensor, mean, variance, offset=beta, scale=gamma,
          variance_epsilon=LAYER_NORM_EPSILON)
    if (_INFERENCE_LAYER_NORM and input_tensor.shape.ndims in (2, 3) and
        input_tensor.dtype == tf.float32 and onednn_cpu_only()):
      return _layer_norm_onednn(input_tensor, gamma, beta)
    # The same normalisation in fewer full-size ops (and a cheaper gradient)
    # than moments + batch_normalization: the centred input is computed once
    # and reused for the variance and the output. Under the oneDNN bfloat16
    # rewrite these ops, statistics included, run in float32.
    mean = tf.reduce_mean(input_tensor, axis=[-1], keepdims=True)
    centred = input_tensor - mean
    variance = tf.reduce_mean(tf.square(centred), axis=[-1], keepdims=True)
    scale = tf.math.rsqrt(variance + LAYER_NORM_EPSILON) * gamma
    return centred * scale + beta


def _layer_norm_onednn(input_tensor, gamma, beta):
  """Layer norm in the one op pattern TF 2.15 fuses into `_MklLayerNorm`.

  Each row is a channel of a one-image NCHW batch norm in training mode (so
  its statistics are the row's own), scale 1 and offset 0 from `Fill` nodes,
  then `* gamma + beta`: Keras' form, which TensorFlow 2.15's grappler
  remapper replaces, on CPUs with oneDNN, by one `_MklLayerNorm` kernel (about
  4x faster than the elementwise ops at BERT-Base's shapes). The remapper
  needs the `Fill` nodes at run time: where the row count is static, it comes
  from a `placeholder_with_default`, which constant folding leaves alone.
  Without the remapper (training graphs, where the batch norm's gradient
  needs its outputs) the graph runs as oneDNN's batch norm, slower than the
  elementwise form: hence inference graphs only.

  Args:
    input_tensor: float32 Tensor [rows, d] or [batch, seq, d].
    gamma, beta: float32 [d].

  Returns:
    float32 Tensor of `input_tensor`'s shape.
  """
  shape = get_shape_list(input_tensor)
  width = shape[-1]
  rows = 1
  for dim in shape[:-1]:
    rows = rows * dim
  if isinstance(rows, int):
    dims = tf.placeholder_with_default(
        tf.constant([rows], tf.int32), shape=[1], name="rows")
  else:
    dims = tf.reshape(rows, [1])
  # [1, rows, d, 1]: NCHW, one channel per row.
  as_image = tf.reshape(input_tensor, [1, rows, width, 1])
  normalised = tf.raw_ops.FusedBatchNormV3(
      x=as_image, scale=tf.fill(dims, 1.0), offset=tf.fill(dims, 0.0),
      mean=tf.constant([], tf.float32), variance=tf.constant([], tf.float32),
      epsilon=LAYER_NORM_EPSILON, data_format="NCHW", is_training=True)[0]
  # Back to the input's shape. Where it is dynamic, through the input's own
  # Shape op: grappler then knows the output's shape equals the input's, which
  # the remapper requires (a shape rebuilt from its dimensions is not matched).
  back = shape if isinstance(rows, int) else tf.shape(input_tensor)
  return tf.reshape(normalised, back) * gamma + beta


def layer_norm_and_dropout(input_tensor, dropout_prob, name=None):
  """Layer norm (variables under `name`, default "LayerNorm") then dropout."""
  output_tensor = layer_norm(input_tensor, name)
  return dropout(output_tensor, dropout_prob)


def create_initializer(initializer_range=0.02):
  """A truncated-normal initializer with stddev `initializer_range`."""
  return tf.truncated_normal_initializer(stddev=initializer_range)


def dense_layer(input_tensor, units, name, activation=None, initializer=None):
  """A fully-connected layer with variables `<name>/kernel` and `<name>/bias`.

  Args:
    input_tensor: float Tensor [..., in_dim] (rank 2 is the fast path).
    units: int, out_dim.
    name: variable scope of the layer.
    activation: optional callable applied to the result.
    initializer: kernel initializer (bias starts at zero).

  Returns:
    float Tensor [..., units].
  """
  in_dim = input_tensor.shape[-1]
  with tf.variable_scope(name):
    kernel = tf.get_variable(
        "kernel", shape=[in_dim, units], initializer=initializer)
    bias = tf.get_variable(
        "bias", shape=[units], initializer=tf.zeros_initializer())
  if input_tensor.shape.ndims == 2:
    output = tf.matmul(input_tensor, kernel)
  else:
    output = tf.tensordot(input_tensor, kernel, axes=[[-1], [0]])
  output = tf.nn.bias_add(output, bias)
  if activation is not None:
    output = activation(output)
  return output


def embedding_lookup(input_ids,
                     vocab_size,
                     embedding_size=128,
                     initializer_range=0.02,
                     word_embedding_name="word_embeddings",
                     use_one_hot_embeddings=False):
  """Looks up word embeddings.

  Args:
    input_ids: int32 Tensor [batch_size, seq_length] (a trailing dimension of 1
      is accepted too).
    vocab_size: int.
    embedding_size: int.
    initializer_range: float.
    word_embedding_name: variable name of the table.
    use_one_hot_embeddings: one-hot matmul instead of a gather.

  Returns:
    (float32 Tensor [batch_size, seq_length, embedding_size],
     float32 Variable [vocab_size, embedding_size]).
  """
  if input_ids.shape.ndims == 3:
    input_ids = tf.squeeze(input_ids, axis=[-1])
  embedding_table = tf.get_variable(
      name=word_embedding_name,
      shape=[vocab_size, embedding_size],
      initializer=create_initializer(initializer_range))
  input_shape = get_shape_list(input_ids)
  # [batch_size * seq_length]
  flat_input_ids = tf.reshape(input_ids, [-1])
  if use_one_hot_embeddings:
    one_hot_input_ids = tf.one_hot(flat_input_ids, depth=vocab_size)
    output = tf.matmul(one_hot_input_ids, embedding_table)
  else:
    output = tf.gather(embedding_table, flat_input_ids)
  # [batch_size, seq_length, embedding_size]
  output = tf.reshape(output, input_shape + [embedding_size])
  return output, embedding_table


def embedding_postprocessor(input_tensor,
                            use_token_type=False,
                            token_type_ids=None,
                            token_type_vocab_size=16,
                            token_type_embedding_name="token_type_embeddings",
                            use_position_embeddings=True,
                            position_embedding_name="position_embeddings",
                            initializer_range=0.02,
                            max_position_embeddings=512,
                            dropout_prob=0.1):
  """Adds token-type and position embeddings, then layer norm and dropout.

  Args:
    input_tensor: float32 Tensor [batch_size, seq_length, width].
    use_token_type: add `token_type_ids` embeddings.
    token_type_ids: int32 Tensor [batch_size, seq_length].
    token_type_vocab_size: int.
    token_type_embedding_name: str.
    use_position_embeddings: add learned absolute position embeddings.
    position_embedding_name: str.
    initializer_range: float.
    max_position_embeddings: int; seq_length may not exceed it.
    dropout_prob: float.

  Returns:
    float32 Tensor [batch_size, seq_length, width].
  """
  input_shape = get_shape_list(input_tensor, expected_rank=3)
  batch_size, seq_length, width = input_shape
  output = input_tensor

  if use_token_type:
    if token_type_ids is None:
      raise ValueError("`token_type_ids` must be given when use_token_type.")
    token_type_table = tf.get_variable(
        name=token_type_embedding_name,
        shape=[token_type_vocab_size, width],
        initializer=create_initializer(initializer_range))
    # The token-type vocabulary is tiny, so a one-hot matmul is always used.
    # [batch_size * seq_length]
    flat_token_type_ids = tf.reshape(token_type_ids, [-1])
    one_hot_ids = tf.one_hot(flat_token_type_ids, depth=token_type_vocab_size)
    token_type_embeddings = tf.matmul(one_hot_ids, token_type_table)
    # [batch_size, seq_length, width]
    token_type_embeddings = tf.reshape(token_type_embeddings,
                                       [batch_size, seq_length, width])
    output += token_type_embeddings

  if use_position_embeddings:
    if isinstance(seq_length, int) and seq_length > max_position_embeddings:
      raise ValueError(
          "Sequence length %d is longer than max_position_embeddings=%d of the"
          " BERT config; lower --max_seq_length to at most %d." %
          (seq_length, max_position_embeddings, max_position_embeddings))
    full_position_embeddings = tf.get_variable(
        name=position_embedding_name,
        shape=[max_position_embeddings, width],
        initializer=create_initializer(initializer_range))
    if isinstance(seq_length, int):
      position_embeddings = tf.slice(full_position_embeddings, [0, 0],
                                     [seq_length, -1])
    else:
      assert_op = tf.debugging.assert_less_equal(
          seq_length, max_position_embeddings,
          message="sequence length exceeds max_position_embeddings")
      with tf.control_dependencies([assert_op]):
        position_embeddings = tf.slice(full_position_embeddings, [0, 0],
                                       [seq_length, -1])
    # Broadcast over the batch: [1, seq_length, width]
    position_embeddings = tf.expand_dims(position_embeddings, 0)
    output += position_embeddings

  output = layer_norm_and_dropout(output, dropout_prob)
  return output


def create_attention_mask_from_input_mask(from_tensor, to_mask):
  """Builds a 3D attention mask from a 2D padding mask.

  Args:
    from_tensor: Tensor [batch_size, from_seq_length, ...] (only its shape is
      used).
    to_mask: int32 Tensor [batch_size, to_seq_length], 1 = attend.

  Returns:
    float32 Tensor [batch_size, from_seq_length, to_seq_length].
  """
  from_shape = get_shape_list(from_tensor, expected_rank=[2, 3])
  batch_size, from_seq_length = from_shape[0], from_shape[1]
  to_shape = get_shape_list(to_mask, expected_rank=2)
  to_seq_length = to_shape[1]
  # [batch_size, 1, to_seq_length]
  to_mask = tf.cast(
      tf.reshape(to_mask, [batch_size, 1, to_seq_length]), tf.float32)
  # Every query position may attend to the same keys; broadcast over queries.
  broadcast_ones = tf.ones(
      shape=[batch_size, from_seq_length, 1], dtype=tf.float32)
  return broadcast_ones * to_mask


def attention_layer(from_tensor,
                    to_tensor,
                    attention_mask=None,
                    num_attention_heads=1,
                    size_per_head=512,
                    query_act=None,
                    key_act=None,
                    value_act=None,
                    attention_probs_dropout_prob=0.0,
                    initializer_range=0.02,
                    do_return_2d_tensor=False,
                    batch_size=None,
                    from_seq_length=None,
                    to_seq_length=None):
  """Multi-headed scaled dot-product attention from `from_tensor` to `to_tensor`.

  Variables: `query`, `key`, `value` dense layers in the current scope.

  Args:
    from_tensor: float32 [batch_size, from_seq_length, from_width] or the 2D
      matrix [batch_size * from_seq_length, from_width].
    to_tensor: float32 [batch_size, to_seq_length, to_width] or 2D likewise.
    attention_mask: optional [batch_size, from_seq_length, to_seq_length],
      1 = attend, 0 = masked (gets -10000.0 added to its score).
    num_attention_heads: int.
    size_per_head: int.
    query_act, key_act, value_act: optional activations.
    attention_probs_dropout_prob: float.
    initializer_range: float.
    do_return_2d_tensor: return [batch_size * from_seq_length, heads * size]
      instead of [batch_size, from_seq_length, heads * size].
    batch_size, from_seq_length, to_seq_length: ints, required when the
      inputs are 2D.

  Returns:
    float32 Tensor as described by `do_return_2d_tensor`.
  """

  def transpose_for_scores(input_tensor, seq_length):
    # [B*S, N*H] -> [B, S, N, H] -> [B, N, S, H]
    output_tensor = tf.reshape(
        input_tensor,
        [batch_size, seq_length, num_attention_heads, size_per_head])
    return tf.transpose(output_tensor, [0, 2, 1, 3])

  from_shape = get_shape_list(from_tensor, expected_rank=[2, 3])
  to_shape = get_shape_list(to_tensor, expected_rank=[2, 3])
  if len(from_shape) != len(to_shape):
    raise ValueError("`from_tensor` and `to_tensor` must have the same rank.")
  if len(from_shape) == 3:
    batch_size, from_seq_length = from_shape[0], from_shape[1]
    to_seq_length = to_shape[1]
  elif batch_size is None or from_seq_length is None or to_seq_length is None:
    raise ValueError("With 2D inputs, batch_size, from_seq_length and "
                     "to_seq_length must all be given.")

  # B = batch size, F = from length, T = to length, N = heads, H = head size.
  from_tensor_2d = reshape_to_matrix(from_tensor)  # [B*F, from_width]
  to_tensor_2d = reshape_to_matrix(to_tensor)  # [B*T, to_width]
  init = create_initializer(initializer_range)
  width = num_attention_heads * size_per_head

  query_layer = dense_layer(from_tensor_2d, width, "query", query_act, init)
  key_layer = dense_layer(to_tensor_2d, width, "key", key_act, init)
  value_layer = dense_layer(to_tensor_2d, width, "value", value_act, init)

  query_layer = transpose_for_scores(query_layer, from_seq_length)  # [B,N,F,H]
  key_layer = transpose_for_scores(key_layer, to_seq_length)  # [B,N,T,H]

  # [B, N, F, T]
  attention_scores = tf.matmul(query_layer, key_layer, transpose_b=True)
  attention_scores = attention_scores * (1.0 / math.sqrt(float(size_per_head)))

  if attention_mask is not None:
    # [B, 1, F, T]
    attention_mask = tf.expand_dims(attention_mask, axis=[1])
    if _FUSIBLE_OPS:
      # The same values (0 and -10000), but the last op is not a Mul: the
      # remapper tells the scaled scores (a Mul) from the mask by op type
      # when it fuses BatchMatMul + Mul + Add, and fails where both are Muls
      # and the mask comes first (grappler orders them by node name).
      adder = tf.cast(attention_mask, attention_scores.dtype) * 10000.0
      adder = adder - 10000.0
    else:
      adder = (1.0 - tf.cast(attention_mask, attention_scores.dtype)) * (
          -10000.0)
    attention_scores += adder

  attention_probs = tf.nn.softmax(attention_scores)  # [B, N, F, T]
  attention_probs = dropout(attention_probs, attention_probs_dropout_prob)

  value_layer = transpose_for_scores(value_layer, to_seq_length)  # [B,N,T,H]
  context_layer = tf.matmul(attention_probs, value_layer)  # [B, N, F, H]
  context_layer = tf.transpose(context_layer, [0, 2, 1, 3])  # [B, F, N, H]

  if do_return_2d_tensor:
    # [B*F, N*H]
    rows = batch_size * from_seq_length
    if (_FUSIBLE_OPS and not isinstance(rows, int) and len(from_shape) == 2
        and from_shape[-1] == width):
      # A dynamic B*F: reshaped through the 2D input's own Shape op, grappler
      # knows the result has the residual's shape (the product of B and F is
      # a new unknown to it), and the remapper fuses the output dense layer
      # with the residual add.
      return tf.reshape(context_layer, tf.shape(from_tensor_2d))
    return tf.reshape(context_layer, [rows, width])
  # [B, F, N*H]
  return tf.reshape(context_layer, [batch_size, from_seq_length, width])


def transformer_model(input_tensor,
                      attention_mask=None,
                      hidden_size=768,
                      num_hidden_layers=12,
                      num_attention_heads=12,
                      intermediate_size=3072,
                      intermediate_act_fn=gelu,
                      hidden_dropout_prob=0.1,
                      attention_probs_dropout_prob=0.1,
                      initializer_range=0.02,
                      do_return_all_layers=False,
                      last_layer_positions=None):
  """The Transformer encoder of "Attention is All You Need" as BERT uses it.

  Args:
    input_tensor: float32 [batch_size, seq_length, hidden_size].
    attention_mask: optional float32 [batch_size, seq_length, seq_length].
    hidden_size, num_hidden_layers, num_attention_heads, intermediate_size:
      ints; hidden_size must be a multiple of num_attention_heads.
    intermediate_act_fn: feed-forward activation.
    hidden_dropout_prob, attention_probs_dropout_prob: floats.
    initializer_range: float.
    do_return_all_layers: return every layer's output, not just the last.
    last_layer_positions: optional int32 [batch_size, num_positions]: the
      last layer computes only position 0 and these positions (queries,
      output dense, feed-forward; keys and values over every position), so
      its output is [batch_size, 1 + num_positions, hidden_size], row 0 being
      position 0. Variables are the same.

  Returns:
    float32 [batch_size, seq_length, hidden_size], or a list of them.
  """
  if hidden_size % num_attention_heads != 0:
    raise ValueError(
        "The hidden size (%d) is not a multiple of the number of attention "
        "heads (%d)" % (hidden_size, num_attention_heads))
  attention_head_size = int(hidden_size / num_attention_heads)
  input_shape = get_shape_list(input_tensor, expected_rank=3)
  batch_size, seq_length, input_width = input_shape
  if input_width != hidden_size:
    raise ValueError("The width of the input tensor (%d) != hidden size (%d)" %
                     (input_width, hidden_size))
  init = create_initializer(initializer_range)

  # Layers work on the 2D matrix [batch_size * seq_length, hidden_size] so
  # that the dense layers are plain matmuls.
  prev_output = reshape_to_matrix(input_tensor)
  all_layer_outputs = []
  for layer_idx in range(num_hidden_layers):
    with tf.variable_scope("layer_%d" % layer_idx):
      layer_input = prev_output
      query_input, query_mask, query_length = (
          layer_input, attention_mask, seq_length)
      if (last_layer_positions is not None and
          layer_idx == num_hidden_layers - 1):
        query_input, query_mask, query_length = _rows_at_positions(
            layer_input, attention_mask, last_layer_positions, batch_size,
            seq_length)
      with tf.variable_scope("attention"):
        with tf.variable_scope("self"):
          attention_output = attention_layer(
              from_tensor=query_input,
              to_tensor=layer_input,
              attention_mask=query_mask,
              num_attention_heads=num_attention_heads,
              size_per_head=attention_head_size,
              attention_probs_dropout_prob=attention_probs_dropout_prob,
              initializer_range=initializer_range,
              do_return_2d_tensor=True,
              batch_size=batch_size,
              from_seq_length=query_length,
              to_seq_length=seq_length)
        with tf.variable_scope("output"):
          attention_output = dense_layer(attention_output, hidden_size,
                                         "dense", initializer=init)
          attention_output = dropout(attention_output, hidden_dropout_prob)
          attention_output = layer_norm(attention_output + query_input)
      with tf.variable_scope("intermediate"):
        intermediate_output = dense_layer(attention_output, intermediate_size,
                                          "dense", intermediate_act_fn, init)
      with tf.variable_scope("output"):
        layer_output = dense_layer(intermediate_output, hidden_size, "dense",
                                   initializer=init)
        layer_output = dropout(layer_output, hidden_dropout_prob)
        layer_output = layer_norm(layer_output + attention_output)
      prev_output = layer_output
      all_layer_outputs.append(layer_output)

  shapes = [input_shape] * num_hidden_layers
  if last_layer_positions is not None:
    # [batch_size, 1 + num_positions, hidden_size]
    shapes[-1] = [batch_size, query_length, hidden_size]
  if do_return_all_layers:
    return [reshape_from_matrix(o, shape)
            for o, shape in zip(all_layer_outputs, shapes)]
  return reshape_from_matrix(prev_output, shapes[-1])


def _rows_at_positions(layer_input, attention_mask, positions, batch_size,
                       seq_length):
  """The rows of position 0 and `positions` of every sequence.

  Args:
    layer_input: float32 [batch_size * seq_length, width].
    attention_mask: None or float32 [batch_size, seq_length, seq_length].
    positions: int32 [batch_size, num_positions].
    batch_size, seq_length: ints or scalar int32 Tensors.

  Returns:
    (rows float32 [batch_size * (1 + num_positions), width], their attention
     mask [batch_size, 1 + num_positions, seq_length] or None,
     1 + num_positions as an int or a scalar Tensor).
  """
  num_positions = get_shape_list(positions, expected_rank=2,
                                 name="output_positions")[1]
  width = layer_input.shape[-1]
  if isinstance(num_positions, int) and num_positions == 0:
    # Only [CLS]: a slice, no gather.
    # [batch_size * seq_length, width] -> [batch_size, seq_length, width]
    rows = tf.reshape(layer_input, [batch_size, seq_length, width])[:, 0, :]
    mask = None if attention_mask is None else attention_mask[:, 0:1, :]
    return rows, mask, 1
  positions = tf.cast(positions, tf.int32)
  # [batch_size, 1 + num_positions]
  positions = tf.concat([tf.zeros_like(positions[:, :1]), positions], axis=1)
  query_length = 1 + num_positions
  # Offsets of each sequence in the flattened [batch_size * seq_length] axis.
  flat_offsets = tf.reshape(
      tf.range(0, batch_size, dtype=tf.int32) * seq_length, [-1, 1])
  flat_positions = tf.reshape(positions + flat_offsets, [-1])
  rows = tf.gather(layer_input, flat_positions)
  mask = None
  if attention_mask is not None:
    mask = tf.gather(attention_mask, positions, batch_dims=1)
  return rows, mask, query_length


def get_shape_list(tensor, expected_rank=None, name=None):
  """Returns the shape of `tensor`, static dimensions as ints.

  Args:
    tensor: a Tensor.
    expected_rank: optional int or list of ints.
    name: optional name for error messages.

  Returns:
    A list with a Python int for every static dimension and a scalar int32
    Tensor for every dynamic one.
  """
  if expected_rank is not None:
    assert_rank(tensor, expected_rank, name)
  shape = tensor.shape.as_list()
  dynamic = tf.shape(tensor) if any(d is None for d in shape) else None
  return [dynamic[i] if d is None else d for i, d in enumerate(shape)]


def reshape_to_matrix(input_tensor):
  """Reshapes [d0, ..., dn-1, width] to [d0 * ... * dn-1, width]."""
  ndims = input_tensor.shape.ndims
  if ndims < 2:
    raise ValueError("Input tensor must have at least rank 2. Shape = %s" %
                     (input_tensor.shape))
  if ndims == 2:
    return input_tensor
  width = input_tensor.shape[-1]
  return tf.reshape(input_tensor, [-1, width])


def reshape_from_matrix(output_tensor, orig_shape_list):
  """Reshapes a 2D [rows, width] tensor back to `orig_shape_list[:-1] + [width]`."""
  if len(orig_shape_list) == 2:
    return output_tensor
  output_shape = get_shape_list(output_tensor)
  orig_dims = orig_shape_list[0:-1]
  width = output_shape[-1]
  return tf.reshape(output_tensor, orig_dims + [width])


def assert_rank(tensor, expected_rank, name=None):
  """Raises ValueError if `tensor`'s static rank is not `expected_rank`.

  Args:
    tensor: a Tensor.
    expected_rank: int or list of ints.
    name: optional name for the message (defaults to the tensor's name).
  """
  if name is None:
    name = getattr(tensor, "name", "tensor")
  if isinstance(expected_rank, (int, np.integer)):
    expected_rank = [expected_rank]
  actual_rank = tensor.shape.ndims
  if actual_rank not in expected_rank:
    scope_name = tf.get_variable_scope().name
    raise ValueError(
        "For the tensor `%s` in scope `%s`, the actual rank `%s` (shape = %s) "
        "is not equal to the expected rank `%s`" %
        (name, scope_name, actual_rank, tensor.shape, expected_rank))

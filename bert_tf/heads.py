"""Task heads on top of `BertModel`, with the reference's variable names.

Each head is a callable `head(bert_config, model, features, is_training)`
returning a `HeadOutput`; `model_fn.model_fn_builder` turns it into an
Estimator spec. Heads:

  * `ClassificationHead`: `output_weights` [num_labels, H], `output_bias`
    [num_labels] on the pooled output; the reference's loss (softmax,
    log-softmax, one-hot labels, per-example loss, mean) or, for regression,
    the mean squared error.
  * `SpanHead`: `cls/squad/output_weights` [2, H], `cls/squad/output_bias` [2]
    for SQuAD start/end logits.
  * `PretrainingHead`: masked LM (`cls/predictions/...`, output weights tied to
    the word embeddings) plus next-sentence prediction (`cls/seq_relationship`).
  * `TokenClassificationHead`: `output_weights` [num_labels, H], `output_bias`
    [num_labels] on every position of the sequence output (NER, tagging);
    the loss is averaged over labelled positions (`label_mask`) only.

A head that reads only some positions of the last layer says which with a
method `output_positions(features)` -> int32 [batch_size, num_positions]:
`model_fn.model_fn_builder` then builds `BertModel(output_positions=...)`,
whose last layer computes only those rows and [CLS] (same variables, same
outputs there). `ClassificationHead` reads none (the pooled output only),
`PretrainingHead` the masked positions; heads without the method read every
position.

The task heads' weights start from the reference's truncated normal, or
from a plain normal as Hugging Face's heads (`HEAD_INITIALIZERS`, chosen
with `--head_initializer`); either way with the bert_config's
`initializer_range` as the normal's standard deviation.

The module-level functions keep the reference's names
(`get_masked_lm_output`, `get_next_sentence_output`, `gather_indexes`).
"""

import collections

import numpy as np
import tensorflow.compat.v1 as tf

from bert_tf import modeling

HeadOutput = collections.namedtuple(
    "HeadOutput",
    ["loss",          # float32 scalar
     "predictions",   # dict name -> Tensor [batch_size, ...] (PREDICT mode)
     "metric_fn",     # callable(**metric_tensors) -> dict of metric ops
     "metric_tensors"  # dict name -> Tensor [batch_size, ...]
    ])


# The distributions a task head's weights can start from.
HEAD_INITIALIZERS = ("truncated_normal", "normal")


def head_initializer(bert_config, distribution="truncated_normal"):
  """The initializer of a task head's output weights.

  Args:
    bert_config: `BertConfig`; `initializer_range` is the standard deviation
      of the normal distribution.
    distribution: "truncated_normal" (the reference's
      `tf.truncated_normal_initializer`: values beyond two standard
      deviations are drawn again, so the weights' own standard deviation is
      0.88 x initializer_range) or "normal" (Hugging Face's
      `normal_(0, initializer_range)`, no cut).

  Returns:
    A TF1 initializer.

  Raises:
    ValueError: for another distribution, naming the choices.
  """
  stddev = bert_config.initializer_range
  if distribution == "truncated_normal":
    return tf.truncated_normal_initializer(stddev=stddev)
  if distribution == "normal":
    return tf.random_normal_initializer(stddev=stddev)
  raise ValueError("head_initializer=%r: expected one of %s" % (
      distribution, ", ".join(HEAD_INITIALIZERS)))


# ---------------------------------------------------------------------------
# Streaming metrics that keep every value, so any metric (F1, MCC, Pearson,
# Spearman, ...) is computed exactly over the whole evaluation set.


def _accumulate(values, name):
  """Returns (accumulated, update_op) for a metric that keeps all `values`.

  Args:
    values: Tensor [batch_size] (any dtype).
    name: variable name.

  Returns:
    (read op of the accumulated 1-D Tensor, update op).
  """
  values = tf.reshape(values, [-1])
  acc = tf.Variable(
      initial_value=tf.zeros([0], dtype=values.dtype),
      trainable=False,
      shape=tf.TensorShape([None]),
      validate_shape=False,
      collections=[tf.GraphKeys.LOCAL_VARIABLES,
                   tf.GraphKeys.METRIC_VARIABLES],
      name=name)
  update = acc.assign(tf.concat([acc.read_value(), values], axis=0))
  return acc.read_value(), update


def exact_metrics(named_fns, predictions, labels, weights=None,
                  scope="exact_metrics"):
  """Builds eval_metric_ops computed by numpy functions over all examples.

  Args:
    named_fns: dict metric name -> fn(predictions np.ndarray [n],
      labels np.ndarray [n]) -> float.
    predictions: Tensor [batch_size] (class ids or regression values).
    labels: Tensor [batch_size].
    weights: optional Tensor [batch_size]; examples with weight 0 (padding
      examples) are left out.
    scope: variable scope.

  Returns:
    dict name -> (value_op, update_op).
  """
  with tf.variable_scope(None, default_name=scope):
    all_preds, up_p = _accumulate(predictions, "predictions")
    all_labels, up_l = _accumulate(labels, "labels")
    if weights is None:
      weights = tf.ones_like(tf.reshape(labels, [-1]), tf.float32)
    all_weights, up_w = _accumulate(tf.cast(weights, tf.float32), "weights")
    update = tf.group(up_p, up_l, up_w)
  ops = {}
  for name, fn in named_fns.items():
    def compute(p, l, w, fn=fn):
      keep = w > 0
      if not np.any(keep):
        return np.float32(0.0)
      return np.float32(fn(p[keep], l[keep]))
    value = tf.py_func(compute, [all_preds, all_labels, all_weights],
                       tf.float32, stateful=False, name=name)
    value.set_shape([])
    ops[name] = (value, update)
  return ops


# ---------------------------------------------------------------------------
# Classification and regression.


def create_classification_output(bert_config, pooled_output, labels,
                                 num_labels, is_training, is_regression=False,
                                 initializer="truncated_normal"):
  """Logits, probabilities and loss for sentence(-pair) tasks.

  Args:
    bert_config: `BertConfig`.
    pooled_output: float32 [batch_size, hidden_size].
    labels: int32 [batch_size] class ids, or float32 [batch_size] targets for
      regression.
    num_labels: int (1 for regression).
    is_training: bool; dropout on the pooled output when True: 0.1 as the
      reference, or the bert_config's optional `classifier_dropout` (the
      name Hugging Face's configs give it; 0 turns it off, e.g. for a
      dropout-off comparison).
    is_regression: mean-squared-error on a single output.
    initializer: distribution of `output_weights` (`head_initializer`).

  Returns:
    (loss scalar, per_example_loss [batch_size], logits [batch_size,
    num_labels], probabilities [batch_size, num_labels] — for regression the
    predicted value [batch_size]).
  """
  hidden_size = pooled_output.shape[-1]
  output_weights = tf.get_variable(
      "output_weights", [num_labels, hidden_size],
      initializer=head_initializer(bert_config, initializer))
  output_bias = tf.get_variable(
      "output_bias", [num_labels], initializer=tf.zeros_initializer())
  with tf.variable_scope("loss"):
    rate = getattr(bert_config, "classifier_dropout", None)
    rate = 0.1 if rate is None else rate
    if is_training and rate > 0:
      pooled_output = tf.nn.dropout(pooled_output, rate=rate)
    logits = tf.matmul(pooled_output, output_weights, transpose_b=True)
    logits = tf.nn.bias_add(logits, output_bias)  # [batch_size, num_labels]
    if is_regression:
      values = tf.squeeze(logits, axis=[-1])  # [batch_size]
      labels = tf.cast(labels, tf.float32)
      per_example_loss = tf.square(values - labels)
      loss = tf.reduce_mean(per_example_loss)
      return loss, per_example_loss, logits, values
    probabilities = tf.nn.softmax(logits, axis=-1)
    log_probs = tf.nn.log_softmax(logits, axis=-1)
    one_hot_labels = tf.one_hot(labels, depth=num_labels, dtype=tf.float32)
    per_example_loss = -tf.reduce_sum(one_hot_labels * log_probs, axis=-1)
    loss = tf.reduce_mean(per_example_loss)
    return loss, per_example_loss, logits, probabilities


class ClassificationHead(object):
  """Sentence / sentence-pair classification or regression on [CLS].

  Features used: `label_ids` (int32, or float32 for regression) and
  `is_real_example` (weights for evaluation).

  Args:
    num_labels: int; ignored (1) for regression.
    is_regression: bool.
    metric_fns: optional dict name -> fn(predictions, labels) -> float, the
      task's metrics computed exactly over the whole evaluation set.
    initializer: distribution of the output weights (`HEAD_INITIALIZERS`).
  """

  def __init__(self, num_labels, is_regression=False, metric_fns=None,
               initializer="truncated_normal"):
    self.initializer = initializer
    self.is_regression = is_regression
    self.num_labels = 1 if is_regression else num_labels
    self.metric_fns = dict(metric_fns or {})

  def output_positions(self, features):
    """None of the last layer's positions (int32 [batch_size, 0]): the head
    reads the pooled output, which the model computes from [CLS] anyway."""
    batch_size = modeling.get_shape_list(features["input_ids"])[0]
    return tf.zeros([batch_size, 0], tf.int32)

  def __call__(self, bert_config, model, features, is_training):
    labels = features.get("label_ids")
    if labels is None:  # serving: no labels
      batch = tf.shape(features["input_ids"])[0]
      labels = tf.zeros([batch], tf.float32 if self.is_regression else tf.int32)
    labels = tf.reshape(labels, [-1])
    loss, per_example_loss, logits, probs = create_classification_output(
        bert_config, model.get_pooled_output(), labels, self.num_labels,
        is_training, self.is_regression, initializer=self.initializer)
    if self.is_regression:
      predictions = {"predictions": probs}
    else:
      predictions = {"probabilities": probs,
                     "predictions": tf.argmax(logits, axis=-1,
                                              output_type=tf.int32)}
    is_real = features.get("is_real_example")
    if is_real is None:
      is_real = tf.ones_like(per_example_loss)
    metric_tensors = {
        "per_example_loss": per_example_loss,
        "label_ids": labels,
        "logits": logits,
        "is_real_example": tf.cast(tf.reshape(is_real, [-1]), tf.float32),
    }
    return HeadOutput(loss, predictions, self._metric_fn, metric_tensors)

  def _metric_fn(self, per_example_loss, label_ids, logits, is_real_example):
    ops = {"eval_loss": tf.metrics.mean(values=per_example_loss,
                                        weights=is_real_example)}
    if self.is_regression:
      preds = tf.squeeze(logits, axis=[-1])
    else:
      preds = tf.argmax(logits, axis=-1, output_type=tf.int32)
      ops["eval_accuracy"] = tf.metrics.accuracy(
          labels=label_ids, predictions=preds, weights=is_real_example)
    if self.metric_fns:
      ops.update(exact_metrics(self.metric_fns, preds, label_ids,
                               is_real_example))
    return ops


# ---------------------------------------------------------------------------
# SQuAD span prediction.


def create_span_logits(bert_config, sequence_output,
                       initializer="truncated_normal"):
  """Start and end logits from the sequence output.

  Args:
    bert_config: `BertConfig`.
    sequence_output: float32 [batch_size, seq_length, hidden_size].
    initializer: distribution of `cls/squad/output_weights`
      (`head_initializer`).

  Returns:
    (start_logits, end_logits), each float32 [batch_size, seq_length].
  """
  shape = modeling.get_shape_list(sequence_output, expected_rank=3)
  batch_size, seq_length, hidden_size = shape
  output_weights = tf.get_variable(
      "cls/squad/output_weights", [2, hidden_size],
      initializer=head_initializer(bert_config, initializer))
  output_bias = tf.get_variable(
      "cls/squad/output_bias", [2], initializer=tf.zeros_initializer())
  # [batch_size * seq_length, hidden_size]
  matrix = tf.reshape(sequence_output, [-1, hidden_size])
  logits = tf.matmul(matrix, output_weights, transpose_b=True)
  logits = tf.nn.bias_add(logits, output_bias)
  # [batch_size, seq_length, 2] -> [2, batch_size, seq_length]
  logits = tf.reshape(logits, [batch_size, seq_length, 2])
  logits = tf.transpose(logits, [2, 0, 1])
  start_logits, end_logits = tf.unstack(logits, axis=0)
  return start_logits, end_logits


def span_loss(logits, positions):
  """Mean cross-entropy of `positions` int32 [batch] under logits [batch, seq]."""
  seq_length = modeling.get_shape_list(logits)[1]
  one_hot = tf.one_hot(positions, depth=seq_length, dtype=tf.float32)
  log_probs = tf.nn.log_softmax(logits, axis=-1)
  return -tf.reduce_mean(tf.reduce_sum(one_hot * log_probs, axis=-1))


class SpanHead(object):
  """SQuAD start/end prediction; loss = mean of start and end cross-entropy.

  Features used: `start_positions`, `end_positions` (training), `unique_ids`.

  Args:
    initializer: distribution of the output weights (`HEAD_INITIALIZERS`).
  """

  def __init__(self, initializer="truncated_normal"):
    self.initializer = initializer

  def __call__(self, bert_config, model, features, is_training):
    start_logits, end_logits = create_span_logits(
        bert_config, model.get_sequence_output(), self.initializer)
    predictions = {"start_logits": start_logits, "end_logits": end_logits}
    if "unique_ids" in features:
      predictions["unique_ids"] = tf.reshape(features["unique_ids"], [-1])
    loss = None
    metric_tensors = {}
    if "start_positions" in features and "end_positions" in features:
      start_positions = tf.reshape(features["start_positions"], [-1])
      end_positions = tf.reshape(features["end_positions"], [-1])
      start_loss = span_loss(start_logits, start_positions)
      end_loss = span_loss(end_logits, end_positions)
      loss = (start_loss + end_loss) / 2.0
      metric_tensors = {"start_logits": start_logits,
                        "end_logits": end_logits,
                        "start_positions": start_positions,
                        "end_positions": end_positions}
    return HeadOutput(loss, predictions, self._metric_fn, metric_tensors)

  @staticmethod
  def _metric_fn(start_logits, end_logits, start_positions, end_positions):
    start = tf.argmax(start_logits, axis=-1, output_type=tf.int32)
    end = tf.argmax(end_logits, axis=-1, output_type=tf.int32)
    return {
        "start_accuracy": tf.metrics.accuracy(start_positions, start),
        "end_accuracy": tf.metrics.accuracy(end_positions, end),
    }


# ---------------------------------------------------------------------------
# Pretraining: masked LM + next sentence.


def gather_indexes(sequence_tensor, positions):
  """Gathers the vectors at `positions` of every sequence in the batch.

  Args:
    sequence_tensor: float32 [batch_size, seq_length, width].
    positions: int32 [batch_size, num_positions].

  Returns:
    float32 [batch_size * num_positions, width].
  """
  shape = modeling.get_shape_list(sequence_tensor, expected_rank=3)
  batch_size, seq_length, width = shape
  # Offsets of each sequence in the flattened [batch_size * seq_length] axis.
  flat_offsets = tf.reshape(
      tf.range(0, batch_size, dtype=tf.int32) * seq_length, [-1, 1])
  flat_positions = tf.reshape(positions + flat_offsets, [-1])
  flat_sequence = tf.reshape(sequence_tensor, [batch_size * seq_length, width])
  return tf.gather(flat_sequence, flat_positions)


def get_masked_lm_output(bert_config, input_tensor, output_weights, positions,
                         label_ids, label_weights):
  """Masked-LM loss and log-probabilities.

  Args:
    bert_config: `BertConfig`.
    input_tensor: float32 [batch_size, seq_length, hidden_size].
    output_weights: float32 [vocab_size, hidden_size] (the word embeddings).
    positions: int32 [batch_size, max_predictions_per_seq].
    label_ids: int32 [batch_size, max_predictions_per_seq].
    label_weights: float32 [batch_size, max_predictions_per_seq], 0 for pads.

  Returns:
    (loss scalar, per_example_loss [batch*max_pred],
     log_probs [batch*max_pred, vocab_size]).
  """
  return _masked_lm_output(bert_config, gather_indexes(input_tensor, positions),
                           output_weights, label_ids, label_weights)


def _masked_lm_output(bert_config, input_tensor, output_weights, label_ids,
                      label_weights):
  """`get_masked_lm_output` on the already gathered input_tensor, float32
  [batch_size * max_predictions_per_seq, hidden_size]."""
  with tf.variable_scope("cls/predictions"):
    with tf.variable_scope("transform"):
      input_tensor = modeling.dense_layer(
          input_tensor, bert_config.hidden_size, "dense",
          activation=modeling.get_activation(bert_config.hidden_act),
          initializer=modeling.create_initializer(
              bert_config.initializer_range))
      input_tensor = modeling.layer_norm(input_tensor)
    output_bias = tf.get_variable(
        "output_bias", shape=[bert_config.vocab_size],
        initializer=tf.zeros_initializer())
    logits = tf.matmul(input_tensor, output_weights, transpose_b=True)
    logits = tf.nn.bias_add(logits, output_bias)
    log_probs = tf.nn.log_softmax(logits, axis=-1)

    label_ids = tf.reshape(label_ids, [-1])
    label_weights = tf.reshape(tf.cast(label_weights, tf.float32), [-1])
    one_hot_labels = tf.one_hot(
        label_ids, depth=bert_config.vocab_size, dtype=tf.float32)
    # Padding predictions carry weight 0, so they add nothing to the loss.
    per_example_loss = -tf.reduce_sum(log_probs * one_hot_labels, axis=[-1])
    numerator = tf.reduce_sum(label_weights * per_example_loss)
    denominator = tf.reduce_sum(label_weights) + 1e-5
    loss = numerator / denominator
  return loss, per_example_loss, log_probs


def get_next_sentence_output(bert_config, input_tensor, labels):
  """Next-sentence loss and log-probabilities (0 = is next, 1 = random).

  Args:
    bert_config: `BertConfig`.
    input_tensor: float32 [batch_size, hidden_size] (pooled output).
    labels: int32 [batch_size] or [batch_size, 1].

  Returns:
    (loss scalar, per_example_loss [batch_size], log_probs [batch_size, 2]).
  """
  with tf.variable_scope("cls/seq_relationship"):
    output_weights = tf.get_variable(
        "output_weights", shape=[2, bert_config.hidden_size],
        initializer=modeling.create_initializer(bert_config.initializer_range))
    output_bias = tf.get_variable(
        "output_bias", shape=[2], initializer=tf.zeros_initializer())
    logits = tf.matmul(input_tensor, output_weights, transpose_b=True)
    logits = tf.nn.bias_add(logits, output_bias)
    log_probs = tf.nn.log_softmax(logits, axis=-1)
    labels = tf.reshape(labels, [-1])
    one_hot_labels = tf.one_hot(labels, depth=2, dtype=tf.float32)
    per_example_loss = -tf.reduce_sum(one_hot_labels * log_probs, axis=-1)
    loss = tf.reduce_mean(per_example_loss)
  return loss, per_example_loss, log_probs


class PretrainingHead(object):
  """Masked LM + next-sentence prediction; loss is their sum.

  Features used: `masked_lm_positions`, `masked_lm_ids`, `masked_lm_weights`,
  `next_sentence_labels`.
  """

  def output_positions(self, features):
    """The masked positions, int32 [batch_size, max_predictions_per_seq]."""
    return features["masked_lm_positions"]

  def __call__(self, bert_config, model, features, is_training):
    sequence_output = model.get_sequence_output()
    if getattr(model, "output_positions", None) is not None:
      # Built with output_positions(features): the sequence output holds
      # the masked positions' rows already, [batch, max_predictions, H].
      hidden_size = modeling.get_shape_list(sequence_output)[-1]
      # -> [batch * max_predictions, H]
      masked_rows = tf.reshape(sequence_output, [-1, hidden_size])
    else:
      masked_rows = gather_indexes(sequence_output,
                                   features["masked_lm_positions"])
    mlm_loss, mlm_example_loss, mlm_log_probs = _masked_lm_output(
        bert_config, masked_rows, model.get_embedding_table(),
        features["masked_lm_ids"], features["masked_lm_weights"])
    nsp_loss, nsp_example_loss, nsp_log_probs = get_next_sentence_output(
        bert_config, model.get_pooled_output(),
        features["next_sentence_labels"])
    loss = mlm_loss + nsp_loss
    predictions = {
        "masked_lm_predictions": tf.reshape(
            tf.argmax(mlm_log_probs, axis=-1, output_type=tf.int32),
            tf.shape(features["masked_lm_positions"])),
        "next_sentence_probabilities": tf.exp(nsp_log_probs),
    }
    metric_tensors = {
        "masked_lm_example_loss": mlm_example_loss,
        "masked_lm_log_probs": mlm_log_probs,
        "masked_lm_ids": features["masked_lm_ids"],
        "masked_lm_weights": features["masked_lm_weights"],
        "next_sentence_example_loss": nsp_example_loss,
        "next_sentence_log_probs": nsp_log_probs,
        "next_sentence_labels": features["next_sentence_labels"],
    }
    return HeadOutput(loss, predictions, pretraining_metric_fn, metric_tensors)


def pretraining_metric_fn(masked_lm_example_loss, masked_lm_log_probs,
                          masked_lm_ids, masked_lm_weights,
                          next_sentence_example_loss, next_sentence_log_probs,
                          next_sentence_labels):
  """The reference's pretraining eval metrics (weighted by masked_lm_weights)."""
  masked_lm_predictions = tf.argmax(
      masked_lm_log_probs, axis=-1, output_type=tf.int32)
  masked_lm_ids = tf.reshape(masked_lm_ids, [-1])
  masked_lm_weights = tf.reshape(tf.cast(masked_lm_weights, tf.float32), [-1])
  next_sentence_predictions = tf.argmax(
      next_sentence_log_probs, axis=-1, output_type=tf.int32)
  next_sentence_labels = tf.reshape(next_sentence_labels, [-1])
  return {
      "masked_lm_accuracy": tf.metrics.accuracy(
          labels=masked_lm_ids, predictions=masked_lm_predictions,
          weights=masked_lm_weights),
      "masked_lm_loss": tf.metrics.mean(
          values=tf.reshape(masked_lm_example_loss, [-1]),
          weights=masked_lm_weights),
      "next_sentence_accuracy": tf.metrics.accuracy(
          labels=next_sentence_labels, predictions=next_sentence_predictions),
      "next_sentence_loss": tf.metrics.mean(values=next_sentence_example_loss),
  }


# ---------------------------------------------------------------------------
# Token classification (named-entity recognition, tagging).


def create_token_classification_output(bert_config, sequence_output,
                                       num_labels, is_training,
                                       initializer="truncated_normal"):
  """Per-token logits and log-probabilities over the sequence output.

  Variables (the classifier's names, so a tagging checkpoint converts to
  Hugging Face's `classifier.weight`/`classifier.bias`): `output_weights`
  [num_labels, hidden_size], `output_bias` [num_labels].

  Args:
    bert_config: `BertConfig`; dropout `hidden_dropout_prob` on the sequence
      output when training (Hugging Face's BertForTokenClassification).
    sequence_output: float32 [batch_size, seq_length, hidden_size].
    num_labels: int.
    is_training: bool.
    initializer: distribution of `output_weights` (`head_initializer`).

  Returns:
    (logits, log_probs), each float32 [batch_size, seq_length, num_labels].
  """
  batch_size, seq_length, hidden_size = modeling.get_shape_list(
      sequence_output, expected_rank=3)
  output_weights = tf.get_variable(
      "output_weights", [num_labels, hidden_size],
      initializer=head_initializer(bert_config, initializer))
  output_bias = tf.get_variable(
      "output_bias", [num_labels], initializer=tf.zeros_initializer())
  with tf.variable_scope("loss"):
    sequence_output = tf.cast(sequence_output, tf.float32)
    if is_training and bert_config.hidden_dropout_prob > 0:
      sequence_output = tf.nn.dropout(
          sequence_output, rate=bert_config.hidden_dropout_prob)
    matrix = tf.reshape(sequence_output, [-1, hidden_size])
    logits = tf.matmul(matrix, output_weights, transpose_b=True)
    logits = tf.nn.bias_add(logits, output_bias)
    logits = tf.reshape(logits, [batch_size, seq_length, num_labels])
    log_probs = tf.nn.log_softmax(logits, axis=-1)
  return logits, log_probs


def token_classification_loss(log_probs, label_ids, label_mask,
                              labelled_per_example=None):
  """Mean one-hot cross-entropy over the labelled positions only.

  Args:
    log_probs: float32 [batch_size, seq_length, num_labels].
    label_ids: int32 [batch_size, seq_length].
    label_mask: int or float [batch_size, seq_length], 1 where a word's
      label sits (its first piece), 0 elsewhere.
    labelled_per_example: optional float, the mean number of labelled
      positions per example over the training set. None: the summed loss
      is divided by this batch's labelled positions (Hugging Face's mean).
      Given: it is divided by batch_size * labelled_per_example, the same
      count on average, but a constant, so that every labelled position
      weighs the same whatever batch it falls in. Batches that group
      examples by length (length bucketing) then train the objective of
      randomly composed batches; divided by their own count, batches of
      short sentences would weigh each of their words several times more.

  Returns:
    (loss scalar, per_token_loss float32 [batch_size, seq_length], zero
    where label_mask is 0).
  """
  num_labels = modeling.get_shape_list(log_probs)[-1]
  one_hot = tf.one_hot(label_ids, depth=num_labels, dtype=tf.float32)
  weights = tf.cast(label_mask, tf.float32)
  per_token_loss = -tf.reduce_sum(one_hot * log_probs, axis=-1) * weights
  if labelled_per_example is None:
    # Every window labels at least one word in practice; max(., 1) keeps a
    # batch that labels none from dividing by zero.
    count = tf.maximum(tf.reduce_sum(weights), 1.0)
  else:
    batch_size = tf.cast(tf.shape(label_ids)[0], tf.float32)
    count = batch_size * float(labelled_per_example)
  loss = tf.reduce_sum(per_token_loss) / count
  return loss, per_token_loss


class TokenClassificationHead(object):
  """One label per token (NER); loss averaged over labelled positions.

  Features used: `label_ids` int32 [batch, seq] and `label_mask` [batch, seq]
  (training, evaluation, and prediction from records), `unique_ids` [batch]
  (passed through when present).

  Predictions:
    predictions: int32 [batch, seq], the most likely label of each position.
    probabilities: float32 [batch, seq, num_labels].
    per_token_loss: float32 [batch, seq] (only when the features carry
      labels, i.e. never in a serving signature), for an exact evaluation
      loss computed from predictions.
    unique_ids: int32 [batch] (when the features have them).

  Args:
    num_labels: int.
    initializer: distribution of the output weights (`HEAD_INITIALIZERS`).
    labelled_per_example: optional float, the training set's mean number of
      labelled positions per example: the loss's constant denominator per
      example (see `token_classification_loss`; for length bucketing).
  """

  def __init__(self, num_labels, initializer="truncated_normal",
               labelled_per_example=None):
    self.num_labels = int(num_labels)
    self.initializer = initializer
    self.labelled_per_example = labelled_per_example

  def __call__(self, bert_config, model, features, is_training):
    logits, log_probs = create_token_classification_output(
        bert_config, model.get_sequence_output(), self.num_labels,
        is_training, initializer=self.initializer)
    predictions = {
        "predictions": tf.argmax(logits, axis=-1, output_type=tf.int32),
        "probabilities": tf.exp(log_probs),
    }
    if "unique_ids" in features:
      predictions["unique_ids"] = tf.reshape(features["unique_ids"], [-1])
    loss = None
    metric_tensors = {}
    if "label_ids" in features and "label_mask" in features:
      # Length bucketing may trim only the input features of a batch to its
      # longest member; the positions cut off are padding, never labelled.
      seq_length = tf.shape(logits)[1]
      label_ids = features["label_ids"][:, :seq_length]
      label_mask = tf.cast(features["label_mask"][:, :seq_length],
                           tf.float32)
      loss, per_token_loss = token_classification_loss(
          log_probs, label_ids, label_mask, self.labelled_per_example)
      predictions["per_token_loss"] = per_token_loss
      metric_tensors = {"per_token_loss": per_token_loss,
                        "label_ids": label_ids,
                        "predictions": predictions["predictions"],
                        "label_mask": label_mask}
    return HeadOutput(loss, predictions, self._metric_fn, metric_tensors)

  @staticmethod
  def _metric_fn(per_token_loss, label_ids, predictions, label_mask):
    """Streaming loss and token accuracy over labelled positions (the
    entity-level scores need whole sentences: see `bert_tf.tasks.ner`)."""
    return {
        "eval_loss": tf.metrics.mean(values=per_token_loss,
                                     weights=label_mask),
        "eval_token_accuracy": tf.metrics.accuracy(
            labels=label_ids, predictions=predictions, weights=label_mask),
    }

"""Task heads on top of `BertModel`, with the reference's variable names.

Each head is a callable `head(bert_config, model, features, is_training)`
returning a `HeadOutput`; `model_fn.model_fn_builder` turns it into an
Estimator spec. Heads:

  * `ClassificationHead`: `output_weights` [num_labels, H], `output_bias`
    [num_labels] on the pooled output; the reference's loss (softmax,
    log-softmax, one-hot labels, per-example loss, mean) or, for regression,
    the mean squared error. Given the label names, its evaluation adds every
    label's precision, recall, F1 and support, the macro F1 and the
    confusion matrix (`classification_report`).
  * `SpanHead`: `cls/squad/output_weights` [2, H], `cls/squad/output_bias` [2]
    for SQuAD start/end logits.
  * `PretrainingHead`: masked LM (`cls/predictions/...`, output weights tied to
    the word embeddings) plus next-sentence prediction (`cls/seq_relationship`).
  * `TokenClassificationHead`: `output_weights` [num_labels, H], `output_bias`
    [num_labels] on every position of the sequence output (NER, tagging);
    the loss is averaged over labelled positions (`label_mask`) only.

Class weights (`--class_weights`, `class_weights_from_setting`): the
classifier's and the tagger's training loss may weigh each example (word) by
the weight of its true class, w[y]. The loss is then the weighted mean
sum_i w[y_i] * loss_i / sum_i w[y_i], as PyTorch's `cross_entropy(weight=w)`
with reduction="mean" (and scikit-learn's sample-weighted log loss). The
weights are constants of the graph (no variable, so checkpoints are
unchanged) and apply in training only: evaluation losses and metrics stay
those of the plain cross-entropy, comparable between runs with and without
weights. Without weights the graph is the reference's, op for op.

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
import math
import re

import numpy as np
import tensorflow.compat.v1 as tf

from bert_tf import metrics as metrics_lib
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


def _op_name(name):
  """`name` made a valid TF op name (metric names may hold label names)."""
  name = re.sub(r"[^A-Za-z0-9_.\-/]", "_", name)
  return name if re.match(r"^[A-Za-z0-9.]", name) else "m" + name


def scored_metric_ops(names, specs, score_fn, tensors, scope):
  """eval_metric_ops of metrics that one numpy function scores at once.

  Every value of `tensors` is kept over the whole evaluation (flattened);
  at the end one py_func calls `score_fn` on them and each metric takes its
  slice of the result.

  Args:
    names: the metric names, in order.
    specs: name -> (tf dtype, shape) for metrics that are not float32
      scalars.
    score_fn: fn(*arrays) -> dict name -> value (scalar or array of the
      spec's shape), over the accumulated 1-D arrays of `tensors`.
    tensors: list of (Tensor, variable name) to accumulate.
    scope: variable scope.

  Returns:
    dict name -> (value_op, update_op).
  """
  shapes = [specs.get(n, (tf.float32, []))[1] for n in names]
  sizes = [int(np.prod(shape)) for shape in shapes]
  with tf.variable_scope(None, default_name=scope):
    acc = [_accumulate(t, n) for t, n in tensors]
    update = tf.group(*[u for _, u in acc])

    def compute(*arrays):
      scores = score_fn(*arrays)
      return np.concatenate([np.asarray(scores[n], np.float64).reshape(
          [-1]) for n in names]).astype(np.float64)

    vector = tf.py_func(compute, [v for v, _ in acc], tf.float64,
                        stateful=False, name=_op_name(scope))
    vector.set_shape([sum(sizes)])
  ops, offset = {}, 0
  for name, shape, size in zip(names, shapes, sizes):
    dtype = specs.get(name, (tf.float32, []))[0]
    value = tf.cast(tf.reshape(vector[offset:offset + size], shape), dtype)
    offset += size
    ops[name] = (value, update)
  return ops


# The scores of every label, in the order of their metric names.
PER_LABEL_SCORES = ("precision", "recall", "f1", "support")


def classification_report_names(label_names):
  """(names, specs) of `classification_report`'s metrics, for
  `scored_metric_ops`.

  Raises:
    ValueError: for duplicate label names (their metric names would clash).
  """
  names = [str(x) for x in label_names]
  if len(set(names)) != len(names):
    raise ValueError("Duplicate labels %s: per-label metric names would "
                     "clash." % names)
  out, specs = [], {}
  for label in names:
    out += ["%s_%s" % (key, label) for key in PER_LABEL_SCORES]
    specs["support_%s" % label] = (tf.int64, [])
  specs["confusion_matrix"] = (tf.int64, [len(names), len(names)])
  return out + ["macro_f1", "confusion_matrix"], specs


def classification_report(predictions, labels, label_names):
  """Per-label scores, macro F1 and the confusion matrix.

  Metrics (over the given examples, `bert_tf.metrics`): for every label L,
  `precision_L`, `recall_L`, `f1_L` (0 where undefined: a label never
  predicted has precision 0) and `support_L` (its number of examples);
  `macro_f1` (scikit-learn's macro average: over the labels that occur
  among the true labels or the predictions); `confusion_matrix` (int64
  [C, C], rows the true labels and columns the predicted ones, both in
  label order).

  Args:
    predictions: int [n], predicted class ids.
    labels: int [n], true class ids.
    label_names: the labels (str), in class-id order.

  Returns:
    OrderedDict metric name -> value.
  """
  num = len(label_names)
  scores = metrics_lib.per_class_scores(predictions, labels, num)
  out = collections.OrderedDict()
  for index, label in enumerate(label_names):
    for key in PER_LABEL_SCORES:
      out["%s_%s" % (key, label)] = scores[key][index]
  out["macro_f1"] = metrics_lib.macro_f1(predictions, labels, num)
  out["confusion_matrix"] = metrics_lib.confusion_matrix(predictions, labels,
                                                         num)
  return out


# ---------------------------------------------------------------------------
# Class weights of the classification and tagging losses.

# The --class_weights value that weighs each class by its inverse frequency.
BALANCED = "balanced"


def balanced_class_weights(labels, counts):
  """scikit-learn's "balanced" class weights.

  w_c = n_samples / (n_classes * count_c), as scikit-learn's
  `compute_class_weight("balanced", classes=labels, y=...)`: the weighted
  count of every class is n_samples / n_classes, and the mean weight of a
  training example is 1.

  Args:
    labels: the task's labels, in order (n_classes = len(labels)).
    counts: dict label -> its number of training examples (NER: of
      labelled words); n_samples is their sum.

  Returns:
    list of float, one weight per label.

  Raises:
    ValueError: for a label with no training example (its weight would be
      infinite) or a counted label that is not one of `labels`, naming them.
  """
  labels = list(labels)
  stray = sorted(str(x) for x in counts if x not in labels and counts[x])
  if stray:
    raise ValueError("--class_weights=balanced: the training labels %s are "
                     "not among the task's labels (%s)." % (
                         ", ".join(stray), ", ".join(map(str, labels))))
  missing = [str(x) for x in labels if not counts.get(x)]
  if missing:
    raise ValueError(
        "--class_weights=balanced: the label(s) %s never occur in the "
        "training data, so n_samples / (n_classes * count) is undefined. "
        "Give one weight per label instead (--class_weights=w1,w2,..., in "
        "the order %s), or leave those labels out of the label list." % (
            ", ".join(missing), ", ".join(map(str, labels))))
  total = float(sum(counts[x] for x in labels))
  return [total / (len(labels) * counts[x]) for x in labels]


def class_weights_from_setting(value, labels, counts=None):
  """The loss weight of each label that a --class_weights value asks for.

  Args:
    value: None or "" (no weights: the unweighted loss), "balanced"
      (`balanced_class_weights` of `counts`), or comma-separated numbers
      (or, from library callers, a list of numbers), one positive finite
      weight per label in the order of `labels`.
    labels: the task's labels, in order.
    counts: for "balanced": dict label -> its training count, or a
      callable returning that dict (called for "balanced" only).

  Returns:
    list of float [len(labels)], or None for no weights.

  Raises:
    ValueError: naming --class_weights, the labels and what was expected.
  """
  if isinstance(value, (list, tuple)):
    value = ",".join(str(x) for x in value)
  if value is None or not str(value).strip():
    return None
  labels = list(labels)
  text = str(value).strip()
  order = ", ".join(map(str, labels))
  if text.lower() == BALANCED:
    if counts is None:
      raise ValueError("--class_weights=balanced needs the training data's "
                       "label counts.")
    return balanced_class_weights(labels, counts() if callable(counts)
                                  else counts)
  parts = [p.strip() for p in text.split(",")]
  try:
    weights = [float(p) for p in parts]
  except ValueError:
    raise ValueError(
        "--class_weights=%s: expected 'balanced' or %d comma-separated "
        "numbers, one per label in the order %s." % (text, len(labels),
                                                     order)) from None
  if len(weights) != len(labels):
    raise ValueError(
        "--class_weights=%s gives %d weight(s); expected %d, one per label "
        "in the order %s." % (text, len(weights), len(labels), order))
  bad = ["%s=%s" % (label, part) for label, part, w in
         zip(labels, parts, weights) if not (math.isfinite(w) and w > 0)]
  if bad:
    raise ValueError(
        "--class_weights=%s: every weight must be a positive finite number; "
        "got %s (labels in the order %s)." % (text, ", ".join(bad), order))
  return weights


def _class_weight_of(labels, class_weights):
  """float32 Tensor shaped like `labels`: the weight of each one's class."""
  table = tf.constant(class_weights, dtype=tf.float32, name="class_weights")
  return tf.gather(table, labels)


def class_weighted_mean(losses, labels, class_weights):
  """The class-weighted mean of per-example losses.

  sum_i w[y_i] * loss_i / sum_i w[y_i]: PyTorch's
  `cross_entropy(logits, labels, weight=w)` (reduction="mean") when `losses`
  are the examples' cross-entropies.

  Args:
    losses: float32 [batch_size].
    labels: int32 [batch_size], class ids.
    class_weights: list of float [num_labels], positive.

  Returns:
    float32 scalar.
  """
  weights = _class_weight_of(labels, class_weights)  # [batch_size]
  return tf.reduce_sum(weights * losses) / tf.reduce_sum(weights)


# ---------------------------------------------------------------------------
# Classification and regression.


def _output_variables(bert_config, pooled_output, num_labels, initializer):
  """(output_weights [num_labels, H], output_bias [num_labels]): the
  reference's classifier variables, in the current scope."""
  hidden_size = pooled_output.shape[-1]
  output_weights = tf.get_variable(
      "output_weights", [num_labels, hidden_size],
      initializer=head_initializer(bert_config, initializer))
  output_bias = tf.get_variable(
      "output_bias", [num_labels], initializer=tf.zeros_initializer())
  return output_weights, output_bias


def _output_logits(bert_config, pooled_output, layer, is_training):
  """Logits float32 [batch_size, num_labels] of the pooled output: dropout
  in training (`classifier_dropout`, default 0.1), then `layer`
  (`_output_variables`)."""
  output_weights, output_bias = layer
  rate = getattr(bert_config, "classifier_dropout", None)
  rate = 0.1 if rate is None else rate
  if is_training and rate > 0:
    pooled_output = tf.nn.dropout(pooled_output, rate=rate)
  logits = tf.matmul(pooled_output, output_weights, transpose_b=True)
  return tf.nn.bias_add(logits, output_bias)  # [batch_size, num_labels]


def create_classification_output(bert_config, pooled_output, labels,
                                 num_labels, is_training, is_regression=False,
                                 initializer="truncated_normal",
                                 class_weights=None):
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
    class_weights: optional list of float [num_labels]: the loss is then
      `class_weighted_mean` of the per-example losses (PyTorch's
      cross_entropy(weight=...)); None: their plain mean (the reference's).

  Returns:
    (loss scalar, per_example_loss [batch_size] (unweighted), logits
    [batch_size, num_labels], probabilities [batch_size, num_labels] — for
    regression the predicted value [batch_size]).

  Raises:
    ValueError: for class_weights with a regression or of another length
      than num_labels.
  """
  if class_weights is not None:
    if is_regression:
      raise ValueError("Class weights apply to classification, not to a "
                       "regression.")
    if len(class_weights) != num_labels:
      raise ValueError("%d class weights for %d labels." % (
          len(class_weights), num_labels))
  layer = _output_variables(bert_config, pooled_output, num_labels,
                            initializer)
  with tf.variable_scope("loss"):
    logits = _output_logits(bert_config, pooled_output, layer, is_training)
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
    if class_weights is None:
      loss = tf.reduce_mean(per_example_loss)
    else:
      loss = class_weighted_mean(per_example_loss, labels, class_weights)
    return loss, per_example_loss, logits, probabilities


def _example_metric_tensors(features, per_example_loss, labels, **outputs):
  """The metric tensors of a per-example head: its loss, labels, `outputs`
  and `is_real_example` (float32; 1 where the features have none)."""
  is_real = features.get("is_real_example")
  if is_real is None:
    is_real = tf.ones_like(per_example_loss)
  tensors = {"per_example_loss": per_example_loss, "label_ids": labels,
             "is_real_example": tf.cast(tf.reshape(is_real, [-1]),
                                        tf.float32)}
  tensors.update(outputs)
  return tensors


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
    label_names: optional list of num_labels str (classification): the
      evaluation then adds `classification_report`'s per-label scores,
      macro F1 and confusion matrix.
    class_weights: optional list of num_labels positive floats: the
      training loss is `class_weighted_mean` (evaluation is unweighted).
    window_pooling: None, or "mean"/"max" for long documents scored as
      windows (`tasks.classifier`): the predictions then also hold the
      `logits` (float32 [batch, num_labels]) and, given the feature
      `doc_index` (int [batch], the window's document), `doc_index`; and
      every evaluation metric is computed over documents, not windows
      (`pooled_document_scores`).

  Raises:
    ValueError: for label_names or class_weights of another length than
      num_labels, class_weights with a regression, or an unknown
      window_pooling.
  """

  def __init__(self, num_labels, is_regression=False, metric_fns=None,
               initializer="truncated_normal", label_names=None,
               class_weights=None, window_pooling=None):
    if (window_pooling is not None and
        window_pooling not in metrics_lib.WINDOW_POOLING):
      raise ValueError("window_pooling %r is not one of %s" % (
          window_pooling, ", ".join(metrics_lib.WINDOW_POOLING)))
    self.window_pooling = window_pooling
    self.initializer = initializer
    self.is_regression = is_regression
    self.num_labels = 1 if is_regression else num_labels
    self.metric_fns = dict(metric_fns or {})
    if is_regression and (class_weights is not None or label_names):
      raise ValueError("Class weights and per-label metrics apply to "
                       "classification, not to a regression.")
    for name, values in (("label_names", label_names),
                         ("class_weights", class_weights)):
      if values is not None and len(values) != self.num_labels:
        raise ValueError("%s has %d entries for %d labels." % (
            name, len(values), self.num_labels))
    self.label_names = None if label_names is None else list(label_names)
    self.class_weights = (None if class_weights is None else
                          [float(w) for w in class_weights])

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
        is_training, self.is_regression, initializer=self.initializer,
        class_weights=self.class_weights if is_training else None)
    if self.is_regression:
      predictions = {"predictions": probs}
    else:
      predictions = {"probabilities": probs,
                     "predictions": tf.argmax(logits, axis=-1,
                                              output_type=tf.int32)}
    metric_tensors = _example_metric_tensors(features, per_example_loss,
                                             labels, logits=logits)
    metric_fn = self._metric_fn
    if self.window_pooling:
      predictions["logits"] = logits
      if "doc_index" in features:
        doc_index = tf.reshape(features["doc_index"], [-1])
        predictions["doc_index"] = doc_index
        metric_tensors["doc_index"] = doc_index
        metric_fn = self._pooled_metric_fn
    return HeadOutput(loss, predictions, metric_fn, metric_tensors)

  def metric_names(self):
    """(names, specs): the evaluation's metrics in order, and the (dtype,
    shape) of those that are not float32 scalars."""
    names = ["eval_loss"] + ([] if self.is_regression else ["eval_accuracy"])
    exact, specs = self._exact_metric_names()
    return names + exact, specs

  def _exact_metric_names(self):
    """(names, specs) of the metrics `example_scores` computes."""
    names, specs = list(self.metric_fns), {}
    if not self.is_regression and self.label_names is not None:
      report, specs = classification_report_names(self.label_names)
      names += report
    return names, specs

  def example_scores(self, predictions, labels):
    """The task's metric functions and, given label names, the
    `classification_report`, over examples (or documents).

    Args:
      predictions: [n] class ids (regression: values).
      labels: [n] class ids (regression: values).

    Returns:
      dict metric name -> value.
    """
    out = {name: fn(predictions, labels)
           for name, fn in self.metric_fns.items()}
    if not self.is_regression and self.label_names is not None:
      out.update(classification_report(predictions, labels,
                                       self.label_names))
    return out

  def pooled_document_scores(self, logits, label_ids, weights, doc_index):
    """The evaluation metrics over documents, each its windows pooled.

    A document's logits are `metrics.pool_windows` of its windows' logits
    (mean or max, element-wise, before the softmax); its label is that of
    its windows (each window carries the document's). Its loss is the
    cross-entropy of softmax(pooled logits) (regression: the squared error
    of the pooled value), `eval_loss` the mean over documents.

    Args:
      logits: float [n, num_labels] (or flat [n * num_labels]): per window.
      label_ids: [n] labels of the windows.
      weights: [n]; windows of weight 0 (padding) are left out.
      doc_index: int [n], each window's document.

    Returns:
      dict metric name (`metric_names`) -> float, or an int64 array for the
      confusion matrix; zeros where no window has weight.
    """
    names, specs = self.metric_names()
    keep = np.asarray(weights).reshape([-1]) > 0
    logits = np.asarray(logits, np.float64).reshape(
        [-1, self.num_labels])[keep]
    label_ids = np.asarray(label_ids).reshape([-1])[keep]
    doc_index = np.asarray(doc_index).reshape([-1])[keep]
    if not len(label_ids):  # pylint: disable=g-explicit-length-test
      return {n: np.zeros(specs.get(n, (None, []))[1]) for n in names}
    docs, pooled = metrics_lib.pool_windows(logits, doc_index,
                                            self.window_pooling)
    first = np.unique(doc_index, return_index=True)[1]
    labels = label_ids[first]
    out = {}
    if self.is_regression:
      predictions = pooled[:, 0]
      labels = labels.astype(np.float64)
      out["eval_loss"] = float(np.mean(np.square(predictions - labels)))
    else:
      labels = labels.astype(np.int64)
      probabilities = metrics_lib.softmax(pooled)
      out["eval_loss"] = float(np.mean(-np.log(np.maximum(
          probabilities[np.arange(len(docs)), labels], 1e-300))))
      predictions = np.argmax(pooled, axis=-1)
      out["eval_accuracy"] = metrics_lib.accuracy(predictions, labels)
    out.update(self.example_scores(predictions, labels))
    return out

  def _pooled_metric_fn(self, per_example_loss, label_ids, logits,
                        is_real_example, doc_index):
    """eval_metric_ops over documents (`pooled_document_scores`): every
    window is kept until the end of the evaluation, then one py_func pools
    and scores them all."""
    del per_example_loss  # recomputed per document
    names, specs = self.metric_names()
    return scored_metric_ops(
        names, specs, self.pooled_document_scores,
        [(tf.cast(logits, tf.float32), "logits"), (label_ids, "labels"),
         (tf.cast(is_real_example, tf.float32), "weights"),
         (tf.cast(doc_index, tf.int64), "doc_index")],
        scope="pooled_metrics")

  def _metric_fn(self, per_example_loss, label_ids, logits, is_real_example):
    ops = {"eval_loss": tf.metrics.mean(values=per_example_loss,
                                        weights=is_real_example)}
    if self.is_regression:
      preds = tf.squeeze(logits, axis=[-1])
    else:
      preds = tf.argmax(logits, axis=-1, output_type=tf.int32)
      ops["eval_accuracy"] = tf.metrics.accuracy(
          labels=label_ids, predictions=preds, weights=is_real_example)
    names, specs = self._exact_metric_names()
    if names:
      # Computed exactly over the whole evaluation set (F1, MCC, Pearson,
      # Spearman, per-label scores, ...), in one py_func at its end.
      def score(p, l, w):
        keep = w > 0
        if not np.any(keep):
          return {n: np.zeros(specs.get(n, (None, []))[1]) for n in names}
        return self.example_scores(p[keep], l[keep])

      ops.update(scored_metric_ops(
          names, specs, score, [(preds, "predictions"), (label_ids, "labels"),
                                (is_real_example, "weights")],
          scope="exact_metrics"))
    return ops


# The scores of a multi-label evaluation besides eval_loss, then per label.
MULTI_LABEL_METRICS = ("micro_f1", "micro_precision", "micro_recall",
                       "macro_f1", "macro_precision", "macro_recall",
                       "exact_match")


def multi_label_metric_values(label_names, probabilities, labels,
                              thresholds):
  """The multi-label metrics as eval_results.txt keys: `MULTI_LABEL_METRICS`
  and, per label L, `precision_L`, `recall_L`, `f1_L`, `support_L`
  (`metrics.multi_label_scores`)."""
  scores = metrics_lib.multi_label_scores(probabilities, labels, thresholds)
  out = collections.OrderedDict((k, scores[k]) for k in MULTI_LABEL_METRICS)
  for i, label in enumerate(label_names):
    for key in PER_LABEL_SCORES:
      out["%s_%s" % (key, label)] = scores[key][i]
  return out


class MultiLabelHead(object):
  """Multi-label classification on [CLS]: an independent sigmoid per label.

  The output layer is the classification head's (`output_weights` [C, H],
  `output_bias` [C], dropout on the pooled output in training). The loss
  is the binary cross-entropy of every label's logit, averaged over labels
  and examples (PyTorch's `BCEWithLogitsLoss()`).

  Features used: `label_ids` (int [batch, C], 0/1: the example's label
  set) and `is_real_example`.

  Predictions: `probabilities` float32 [batch, C] (sigmoids) and
  `predictions` int32 [batch, C] (1 where the probability is at least the
  label's threshold).

  Args:
    label_names: the C labels (str), in output order.
    thresholds: one float, or C floats (one per label).
    initializer: distribution of the output weights.
  """

  def __init__(self, label_names, thresholds=0.5,
               initializer="truncated_normal"):
    self.label_names = [str(x) for x in label_names]
    self.num_labels = len(self.label_names)
    if len(set(self.label_names)) != self.num_labels or not self.num_labels:
      raise ValueError("Multi-label heads need distinct labels, got %s" %
                       self.label_names)
    values = np.broadcast_to(np.asarray(thresholds, np.float64),
                             [self.num_labels])
    self.thresholds = [float(t) for t in values]
    self.initializer = initializer

  def output_positions(self, features):
    batch_size = modeling.get_shape_list(features["input_ids"])[0]
    return tf.zeros([batch_size, 0], tf.int32)

  def __call__(self, bert_config, model, features, is_training):
    pooled = model.get_pooled_output()
    labels = features.get("label_ids")
    if labels is None:  # serving: no labels
      labels = tf.zeros([tf.shape(pooled)[0], self.num_labels], tf.int32)
    labels = tf.reshape(labels, [-1, self.num_labels])
    layer = _output_variables(bert_config, pooled, self.num_labels,
                              self.initializer)
    with tf.variable_scope("loss"):
      logits = _output_logits(bert_config, pooled, layer, is_training)
      per_label = tf.nn.sigmoid_cross_entropy_with_logits(
          labels=tf.cast(labels, tf.float32), logits=logits)
      per_example_loss = tf.reduce_mean(per_label, axis=-1)  # [batch_size]
      loss = tf.reduce_mean(per_example_loss)
      probabilities = tf.sigmoid(logits)
    predictions = {
        "probabilities": probabilities,
        "predictions": tf.cast(probabilities >= tf.constant(
            self.thresholds, tf.float32), tf.int32)}
    metric_tensors = _example_metric_tensors(
        features, per_example_loss, labels, probabilities=probabilities)
    return HeadOutput(loss, predictions, self._metric_fn, metric_tensors)

  def metric_names(self):
    names = list(MULTI_LABEL_METRICS)
    specs = {}
    for label in self.label_names:
      names += ["%s_%s" % (k, label) for k in PER_LABEL_SCORES]
      specs["support_%s" % label] = (tf.int64, [])
    return names, specs

  def scores(self, probabilities, label_ids, weights):
    """`multi_label_metric_values` of the examples of weight > 0."""
    keep = np.asarray(weights).reshape([-1]) > 0
    probabilities = np.asarray(probabilities).reshape(
        [-1, self.num_labels])[keep]
    label_ids = np.asarray(label_ids).reshape([-1, self.num_labels])[keep]
    names, specs = self.metric_names()
    if not len(label_ids):  # pylint: disable=g-explicit-length-test
      return {n: np.zeros(specs.get(n, (None, []))[1]) for n in names}
    return multi_label_metric_values(self.label_names, probabilities,
                                     label_ids, self.thresholds)

  def _metric_fn(self, per_example_loss, label_ids, probabilities,
                 is_real_example):
    ops = {"eval_loss": tf.metrics.mean(values=per_example_loss,
                                        weights=is_real_example)}
    names, specs = self.metric_names()
    ops.update(scored_metric_ops(
        names, specs, self.scores,
        [(probabilities, "probabilities"), (label_ids, "labels"),
         (is_real_example, "weights")], scope="multi_label_metrics"))
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
                              labelled_per_example=None, class_weights=None):
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
      With class_weights: the mean per example of its labelled positions'
      class weights (their weighted count).
    class_weights: optional list of float [num_labels]: each labelled
      position's loss is weighted by the weight of its label, w[y], and the
      sum is divided by the weights' sum sum(w[y]) over the batch's labelled
      positions (PyTorch's cross_entropy(weight=w) with the unlabelled
      positions ignored; 0 for a batch that labels none), or, with
      labelled_per_example, by batch_size * labelled_per_example.

  Returns:
    (loss scalar, per_token_loss float32 [batch_size, seq_length]
    (unweighted), zero where label_mask is 0).
  """
  num_labels = modeling.get_shape_list(log_probs)[-1]
  one_hot = tf.one_hot(label_ids, depth=num_labels, dtype=tf.float32)
  weights = tf.cast(label_mask, tf.float32)
  per_token_loss = -tf.reduce_sum(one_hot * log_probs, axis=-1) * weights
  if class_weights is not None:
    if len(class_weights) != num_labels:
      raise ValueError("%d class weights for %d labels." % (
          len(class_weights), num_labels))
    # [batch_size, seq_length]: w[y] at labelled positions, 0 elsewhere.
    token_weights = weights * _class_weight_of(label_ids, class_weights)
    numerator = tf.reduce_sum(token_weights * per_token_loss)
    if labelled_per_example is None:
      loss = tf.math.divide_no_nan(numerator, tf.reduce_sum(token_weights))
    else:
      batch_size = tf.cast(tf.shape(label_ids)[0], tf.float32)
      loss = numerator / (batch_size * float(labelled_per_example))
    return loss, per_token_loss
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
    class_weights: optional list of num_labels positive floats: the training
      loss weighs each labelled position by its label's weight (see
      `token_classification_loss`); evaluation is unweighted.
    class_weight_per_example: with class_weights and labelled_per_example,
      the training set's mean per example of its labelled positions' class
      weights: the training loss's constant denominator per example.

  Raises:
    ValueError: for class_weights of another length than num_labels, or
      with labelled_per_example but no class_weight_per_example.
  """

  def __init__(self, num_labels, initializer="truncated_normal",
               labelled_per_example=None, class_weights=None,
               class_weight_per_example=None):
    self.num_labels = int(num_labels)
    self.initializer = initializer
    self.labelled_per_example = labelled_per_example
    if class_weights is not None and len(class_weights) != self.num_labels:
      raise ValueError("class_weights has %d entries for %d labels." % (
          len(class_weights), self.num_labels))
    if (class_weights is not None and labelled_per_example is not None and
        class_weight_per_example is None):
      raise ValueError("class_weights with labelled_per_example need "
                       "class_weight_per_example (the constant denominator "
                       "of the weighted loss).")
    self.class_weights = (None if class_weights is None else
                          [float(w) for w in class_weights])
    self.class_weight_per_example = class_weight_per_example

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
      if is_training and self.class_weights is not None:
        loss, per_token_loss = token_classification_loss(
            log_probs, label_ids, label_mask,
            (None if self.labelled_per_example is None else
             self.class_weight_per_example), self.class_weights)
      else:
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

"""Evaluation metrics for GLUE-style tasks, in pure numpy (no scipy/sklearn).

Classification metrics take integer class ids; regression metrics take real
numbers. Every function accepts lists or arrays of shape `[n]` (a trailing axis
of size 1, `[n, 1]`, is also accepted and flattened) and raises ValueError when
the two inputs differ in length or are empty.

  * `accuracy(predictions, labels)`
  * `precision`, `recall`, `f1_score(predictions, labels, positive_label=1)`:
    binary, for one positive class; other ids count as negative.
  * `matthews_corrcoef(predictions, labels)`: any number of classes.
  * `confusion_matrix(predictions, labels, num_classes)`,
    `per_class_scores(predictions, labels, num_classes)` (precision, recall,
    F1 and support of every class) and `macro_f1(predictions, labels,
    num_classes)`: any number of classes, ids 0 .. num_classes - 1.
  * `pearson(predictions, labels)`, `spearman(predictions, labels)`: Spearman's
    rho is Pearson's r of the ranks, tied values sharing their average rank.
  * `multi_label_scores(probabilities, labels, thresholds)`: micro and macro
    precision/recall/F1, the exact-match ratio and per-label scores of a
    multi-label classification; `tune_thresholds` picks each label's
    threshold by its F1.
  * `pool_windows(values, doc_index, method)`: the windows' outputs of each
    document of a long-document classification combined into one row
    (`WINDOW_POOLING`: mean or max), and `softmax(logits)`.

Degenerate cases follow scikit-learn / scipy: precision, recall and F1 are 0.0
when their denominator is 0 (a class never predicted has precision 0, a class
with no true example recall 0: scikit-learn's `zero_division=0`), MCC is 0.0
when either side has a single class, and Pearson/Spearman are NaN when either
input is constant.
"""

import numpy as np


def _as_vector(values, name):
  """Returns `values` as a 1-D numpy array, accepting shape [n] or [n, 1]."""
  array = np.asarray(values)
  if array.ndim == 2 and array.shape[1] == 1:
    array = array[:, 0]
  if array.ndim != 1:
    raise ValueError("%s must have shape [n] (or [n, 1]), got shape %s" %
                     (name, array.shape))
  return array


def _check_pair(predictions, labels):
  """Validates and returns (predictions, labels) as equal-length vectors."""
  predictions = _as_vector(predictions, "predictions")
  labels = _as_vector(labels, "labels")
  if predictions.shape[0] != labels.shape[0]:
    raise ValueError("predictions and labels differ in length: %d vs %d" %
                     (predictions.shape[0], labels.shape[0]))
  if predictions.shape[0] == 0:
    raise ValueError("predictions and labels are empty")
  return predictions, labels


def _safe_divide(numerator, denominator):
  return float(numerator) / denominator if denominator else 0.0


def accuracy(predictions, labels):
  """Fraction of positions where `predictions == labels`.

  Args:
    predictions: shape [n], predicted class ids.
    labels: shape [n], true class ids.

  Returns:
    float in [0, 1].
  """
  predictions, labels = _check_pair(predictions, labels)
  return float(np.mean(predictions == labels))


def _binary_counts(predictions, labels, positive_label):
  """Returns (true positives, false positives, false negatives)."""
  predictions, labels = _check_pair(predictions, labels)
  predicted_positive = predictions == positive_label
  actual_positive = labels == positive_label
  tp = int(np.sum(predicted_positive & actual_positive))
  fp = int(np.sum(predicted_positive & ~actual_positive))
  fn = int(np.sum(~predicted_positive & actual_positive))
  return tp, fp, fn


def precision(predictions, labels, positive_label=1):
  """Binary precision tp / (tp + fp); 0.0 when nothing is predicted positive.

  Args:
    predictions: shape [n], predicted class ids.
    labels: shape [n], true class ids.
    positive_label: the id of the positive class; every other id is negative.

  Returns:
    float in [0, 1].
  """
  tp, fp, _ = _binary_counts(predictions, labels, positive_label)
  return _safe_divide(tp, tp + fp)


def recall(predictions, labels, positive_label=1):
  """Binary recall tp / (tp + fn); 0.0 when no label is positive.

  Args:
    predictions: shape [n], predicted class ids.
    labels: shape [n], true class ids.
    positive_label: the id of the positive class; every other id is negative.

  Returns:
    float in [0, 1].
  """
  tp, _, fn = _binary_counts(predictions, labels, positive_label)
  return _safe_divide(tp, tp + fn)


def f1_score(predictions, labels, positive_label=1):
  """Binary F1, the harmonic mean of precision and recall.

  Computed as 2tp / (2tp + fp + fn), which equals 2PR / (P + R) and is 0.0
  when there are no true positives.

  Args:
    predictions: shape [n], predicted class ids.
    labels: shape [n], true class ids.
    positive_label: the id of the positive class; every other id is negative.

  Returns:
    float in [0, 1].
  """
  tp, fp, fn = _binary_counts(predictions, labels, positive_label)
  return _safe_divide(2 * tp, 2 * tp + fp + fn)


def matthews_corrcoef(predictions, labels):
  """Matthews correlation coefficient for any number of classes.

  With C the confusion matrix, s = n, c = trace(C), p_k the count of
  predictions of class k and t_k the count of labels of class k:

    MCC = (c * s - sum_k p_k t_k) /
          sqrt((s^2 - sum_k p_k^2) * (s^2 - sum_k t_k^2))

  which for two classes is (tp*tn - fp*fn) /
  sqrt((tp+fp)(tp+fn)(tn+fp)(tn+fn)).

  Args:
    predictions: shape [n], predicted class ids (any hashable numpy values).
    labels: shape [n], true class ids.

  Returns:
    float in [-1, 1]; 0.0 when the denominator is 0 (one side has one class).
  """
  predictions, labels = _check_pair(predictions, labels)
  classes, inverse = np.unique(
      np.concatenate([predictions, labels]), return_inverse=True)
  n = predictions.shape[0]
  predicted_ids, true_ids = inverse[:n], inverse[n:]
  num_classes = classes.shape[0]
  p = np.bincount(predicted_ids, minlength=num_classes).astype(np.float64)
  t = np.bincount(true_ids, minlength=num_classes).astype(np.float64)
  c = float(np.sum(predicted_ids == true_ids))
  s = float(n)
  numerator = c * s - float(np.dot(p, t))
  denominator = (s * s - float(np.dot(p, p))) * (s * s - float(np.dot(t, t)))
  if denominator <= 0.0:
    return 0.0
  return float(numerator / np.sqrt(denominator))


def pearson(predictions, labels):
  """Pearson's correlation coefficient r.

  Args:
    predictions: shape [n], real values.
    labels: shape [n], real values.

  Returns:
    float in [-1, 1]; NaN when either input is constant.
  """
  predictions, labels = _check_pair(predictions, labels)
  x = predictions.astype(np.float64)
  y = labels.astype(np.float64)
  dx = x - np.mean(x)
  dy = y - np.mean(y)
  denominator = np.sqrt(np.dot(dx, dx) * np.dot(dy, dy))
  if denominator == 0.0:
    return float("nan")
  r = np.dot(dx, dy) / denominator
  return float(np.clip(r, -1.0, 1.0))


def average_ranks(values):
  """1-based ranks of `values`; tied values share the mean of their ranks.

  For example [10, 20, 20, 5] -> [2.0, 3.5, 3.5, 1.0].

  Args:
    values: shape [n], sortable values.

  Returns:
    float64 array of shape [n].
  """
  values = _as_vector(values, "values")
  n = values.shape[0]
  if n == 0:
    return np.zeros([0], dtype=np.float64)
  order = np.argsort(values, kind="mergesort")
  sorted_values = values[order]
  # Start index (in sorted order) of each run of equal values, plus n.
  is_new = np.ones(n, dtype=bool)
  is_new[1:] = sorted_values[1:] != sorted_values[:-1]
  starts = np.flatnonzero(is_new)
  ends = np.append(starts[1:], n)
  # A run occupying sorted positions [start, end) has ranks start+1 .. end,
  # whose mean is (start + 1 + end) / 2.
  run_ranks = (starts + 1 + ends) / 2.0
  ranks = np.empty(n, dtype=np.float64)
  ranks[order] = np.repeat(run_ranks, ends - starts)
  return ranks


def spearman(predictions, labels):
  """Spearman's rank correlation rho, with average ranks for ties.

  Args:
    predictions: shape [n], real values.
    labels: shape [n], real values.

  Returns:
    float in [-1, 1]; NaN when either input is constant.
  """
  predictions, labels = _check_pair(predictions, labels)
  return pearson(average_ranks(predictions), average_ranks(labels))


def _check_class_ids(predictions, labels, num_classes):
  """(predictions, labels) as int64 vectors of ids in [0, num_classes)."""
  predictions, labels = _check_pair(predictions, labels)
  num_classes = int(num_classes)
  if num_classes < 1:
    raise ValueError("num_classes must be >= 1, got %d" % num_classes)
  out = []
  for name, values in (("predictions", predictions), ("labels", labels)):
    ids = values.astype(np.int64)
    if not np.array_equal(ids, values) or np.any(ids < 0) or np.any(
        ids >= num_classes):
      raise ValueError("%s must be class ids in [0, %d), got %s" % (
          name, num_classes, np.unique(values)[:10].tolist()))
    out.append(ids)
  return out[0], out[1]


def confusion_matrix(predictions, labels, num_classes):
  """Counts of (true class, predicted class) pairs.

  Args:
    predictions: shape [n], predicted class ids in [0, num_classes).
    labels: shape [n], true class ids in [0, num_classes).
    num_classes: int, the number of classes C.

  Returns:
    int64 array [C, C]: entry [i, j] counts the examples of true class i
    predicted as class j (scikit-learn's `confusion_matrix(labels,
    predictions, labels=range(C))`: rows are true classes).
  """
  predictions, labels = _check_class_ids(predictions, labels, num_classes)
  flat = np.bincount(labels * num_classes + predictions,
                     minlength=num_classes * num_classes)
  return flat.reshape([num_classes, num_classes]).astype(np.int64)


def per_class_scores(predictions, labels, num_classes):
  """Precision, recall, F1 and support of every class (one against the rest).

  For class c with tp, fp, fn its true positives, false positives and false
  negatives: precision tp / (tp + fp), recall tp / (tp + fn), F1 2tp / (2tp
  + fp + fn), each 0.0 where its denominator is 0 (a class never predicted
  has precision 0, a class absent from `labels` recall 0), and support tp +
  fn. The same as scikit-learn's `precision_recall_fscore_support(labels,
  predictions, labels=range(C), zero_division=0)`.

  Args:
    predictions: shape [n], predicted class ids in [0, num_classes).
    labels: shape [n], true class ids in [0, num_classes).
    num_classes: int, the number of classes C.

  Returns:
    dict "precision", "recall", "f1": float64 arrays [C]; "support": int64
    array [C].
  """
  matrix = confusion_matrix(predictions, labels, num_classes)
  tp = np.diag(matrix).astype(np.float64)
  predicted = matrix.sum(axis=0).astype(np.float64)  # tp + fp
  support = matrix.sum(axis=1)                        # tp + fn

  def divide(numerator, denominator):
    out = np.zeros_like(numerator)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out

  return {"precision": divide(tp, predicted),
          "recall": divide(tp, support.astype(np.float64)),
          "f1": divide(2.0 * tp, predicted + support),
          "support": support.astype(np.int64)}


def macro_f1(predictions, labels, num_classes):
  """The unweighted mean of the classes' F1 (`per_class_scores`).

  The mean runs over the classes that occur among `labels` or
  `predictions`, as scikit-learn's `f1_score(labels, predictions,
  average="macro")`: a class of the task that appears on neither side (no
  example, never predicted) has no F1 to count. A class with examples that
  is never predicted counts with F1 0.

  Args:
    predictions: shape [n], predicted class ids in [0, num_classes).
    labels: shape [n], true class ids in [0, num_classes).
    num_classes: int, the number of classes C.

  Returns:
    float in [0, 1].
  """
  predictions, labels = _check_class_ids(predictions, labels, num_classes)
  scores = per_class_scores(predictions, labels, num_classes)
  present = np.union1d(np.unique(labels), np.unique(predictions))
  return float(np.mean(scores["f1"][present]))


# How a long document's windows' outputs are combined (--window_pooling).
WINDOW_POOLING = ("mean", "max")


def pool_windows(values, doc_index, method="mean"):
  """Combines the rows of each document's windows into one row.

  Args:
    values: float array [n, ...]: one row per window (a classifier's logits
      [n, C], a regression's values [n]).
    doc_index: int array [n]: the document of each window; windows of one
      document need not be adjacent. Negative indices (padding) are left out.
    method: "mean" (the element-wise mean of the document's rows) or "max"
      (the element-wise maximum).

  Returns:
    (docs, pooled): docs int64 [D], the distinct document indices in
    increasing order; pooled float64 [D, ...], the pooled row of each.

  Raises:
    ValueError: for an unknown method or arrays of different lengths.
  """
  if method not in WINDOW_POOLING:
    raise ValueError("Window pooling %r is not one of %s" %
                     (method, ", ".join(WINDOW_POOLING)))
  values = np.asarray(values, np.float64)
  doc_index = np.asarray(doc_index).reshape([-1]).astype(np.int64)
  if len(values) != len(doc_index):
    raise ValueError("values has %d rows but doc_index %d entries" %
                     (len(values), len(doc_index)))
  keep = doc_index >= 0
  values, doc_index = values[keep], doc_index[keep]
  docs, inverse = np.unique(doc_index, return_inverse=True)
  shape = (len(docs),) + values.shape[1:]
  if method == "mean":
    pooled = np.zeros(shape, np.float64)
    np.add.at(pooled, inverse, values)
    counts = np.bincount(inverse, minlength=len(docs)).astype(np.float64)
    pooled /= counts.reshape((-1,) + (1,) * (values.ndim - 1))
  else:
    pooled = np.full(shape, -np.inf, np.float64)
    np.maximum.at(pooled, inverse, values)
  return docs, pooled


def softmax(logits):
  """Row-wise softmax of float logits [n, C] (float64)."""
  logits = np.asarray(logits, np.float64)
  shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
  return shifted / shifted.sum(axis=-1, keepdims=True)


def _multi_hot(values, name):
  array = np.asarray(values)
  if array.ndim != 2:
    raise ValueError("%s must have shape [n, num_labels], got %s" %
                     (name, array.shape))
  return array


def multi_label_scores(probabilities, labels, thresholds=0.5):
  """Scores of a multi-label classification (scikit-learn's definitions).

  A label is predicted where its probability is at least its threshold.
  Micro scores pool every (example, label) decision; macro scores average
  the labels' own scores over all labels; each score is 0.0 where its
  denominator is 0 (scikit-learn's `zero_division=0`). `exact_match` is
  the fraction of examples whose predicted set equals the true set
  (scikit-learn's `accuracy_score` on indicator arrays).

  Args:
    probabilities: float [n, C].
    labels: 0/1 [n, C], the true label sets.
    thresholds: a float, or float [C] (one per label).

  Returns:
    dict: "micro_precision", "micro_recall", "micro_f1", "macro_precision",
    "macro_recall", "macro_f1", "exact_match" (floats); "precision",
    "recall", "f1" (float64 [C]) and "support" (int64 [C]) per label.
  """
  probabilities = _multi_hot(probabilities, "probabilities").astype(
      np.float64)
  labels = _multi_hot(labels, "labels").astype(bool)
  if probabilities.shape != labels.shape:
    raise ValueError("probabilities %s and labels %s differ in shape" %
                     (probabilities.shape, labels.shape))
  if not len(labels):  # pylint: disable=g-explicit-length-test
    raise ValueError("No examples to score")
  predicted = probabilities >= np.asarray(thresholds, np.float64)
  tp = np.sum(predicted & labels, axis=0).astype(np.float64)
  fp = np.sum(predicted & ~labels, axis=0).astype(np.float64)
  fn = np.sum(~predicted & labels, axis=0).astype(np.float64)

  def divide(numerator, denominator):
    numerator = np.asarray(numerator, np.float64)
    out = np.zeros_like(numerator)
    np.divide(numerator, denominator, out=out, where=np.asarray(
        denominator) > 0)
    return out

  precision = divide(tp, tp + fp)
  recall = divide(tp, tp + fn)
  f1 = divide(2 * tp, 2 * tp + fp + fn)
  return {
      "micro_precision": float(divide(tp.sum(), tp.sum() + fp.sum())),
      "micro_recall": float(divide(tp.sum(), tp.sum() + fn.sum())),
      "micro_f1": float(divide(2 * tp.sum(), 2 * tp.sum() + fp.sum() +
                               fn.sum())),
      "macro_precision": float(precision.mean()),
      "macro_recall": float(recall.mean()),
      "macro_f1": float(f1.mean()),
      "exact_match": float(np.mean(np.all(predicted == labels, axis=1))),
      "precision": precision, "recall": recall, "f1": f1,
      "support": labels.sum(axis=0).astype(np.int64),
  }


def tune_thresholds(probabilities, labels, default=0.5):
  """Per label, the threshold of the best F1 on these examples.

  The candidates of a label are the probabilities it was given (a label is
  predicted at probability >= threshold) and `default`; the best F1 wins,
  a tie going to the candidate closest to `default`. A winning probability
  p is returned as the midpoint between p and the next lower probability
  given (p / 2 if none is lower): the same decisions on these examples,
  and a margin against rounding on either side. A label with no true
  example keeps `default`.

  Args:
    probabilities: float [n, C].
    labels: 0/1 [n, C].
    default: the threshold of labels that cannot be tuned.

  Returns:
    float64 [C].
  """
  probabilities = _multi_hot(probabilities, "probabilities").astype(
      np.float64)
  labels = _multi_hot(labels, "labels").astype(bool)
  out = np.full(probabilities.shape[1], float(default))
  for c in range(probabilities.shape[1]):
    truth = labels[:, c]
    if not truth.any():
      continue
    best = None
    given = np.unique(probabilities[:, c])
    for t in np.unique(np.append(given, default)):
      predicted = probabilities[:, c] >= t
      tp = np.sum(predicted & truth)
      f1 = 2.0 * tp / (np.sum(predicted) + np.sum(truth))
      key = (f1, -abs(t - default))
      if best is None or key > best[0]:
        best = (key, t)
    t = best[1]
    if t != default:
      lower = given[given < t]
      t = (t + (lower[-1] if len(lower) else 0.0)) / 2.0
    out[c] = t
  return out

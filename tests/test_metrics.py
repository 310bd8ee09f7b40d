"""Tests for bert_tf.metrics against hand-computed values.

Each golden value's arithmetic is written beside it. Where scikit-learn or
scipy is importable the functions are also checked against them; otherwise
only those cross-checks skip. A plain-Python reference (independent of the
numpy code paths) is used as a second cross-check on random data.
"""

import math

import numpy as np
import pytest

from bert_tf import metrics

# Shared binary example:
#   position     0  1  2  3  4  5  6  7
#   predictions  1  1  0  1  0  0  1  0
#   labels       1  0  0  1  1  0  1  1
# tp = {0, 3, 6} = 3, fp = {1} = 1, fn = {4, 7} = 2, tn = {2, 5} = 2.
PREDICTIONS = [1, 1, 0, 1, 0, 0, 1, 0]
LABELS = [1, 0, 0, 1, 1, 0, 1, 1]

# Shared regression example: x = [1, 2, 3, 4, 5], y = [2, 4, 5, 4, 5].
X = [1.0, 2.0, 3.0, 4.0, 5.0]
Y = [2.0, 4.0, 5.0, 4.0, 5.0]


def test_accuracy():
  # Correct at 0, 2, 3, 5, 6 -> 5 / 8.
  assert metrics.accuracy(PREDICTIONS, LABELS) == 0.625
  assert metrics.accuracy(np.array([[2], [1]]), [2, 2]) == 0.5


def test_precision_recall_f1():
  # precision = tp / (tp + fp) = 3 / 4; recall = tp / (tp + fn) = 3 / 5.
  assert metrics.precision(PREDICTIONS, LABELS) == pytest.approx(0.75)
  assert metrics.recall(PREDICTIONS, LABELS) == pytest.approx(0.6)
  # F1 = 2 * 0.75 * 0.6 / (0.75 + 0.6) = 0.9 / 1.35 = 2 / 3
  #    = 2tp / (2tp + fp + fn) = 6 / 9.
  assert metrics.f1_score(PREDICTIONS, LABELS) == pytest.approx(2.0 / 3.0)
  # With 0 as the positive class: tp = 2, fp = 2 (4, 7), fn = 1 (1):
  # P = 2/4, R = 2/3, F1 = 4 / (4 + 2 + 1) = 4/7.
  assert metrics.precision(PREDICTIONS, LABELS, positive_label=0) == 0.5
  assert metrics.recall(PREDICTIONS, LABELS, positive_label=0) == (
      pytest.approx(2.0 / 3.0))
  assert metrics.f1_score(PREDICTIONS, LABELS, positive_label=0) == (
      pytest.approx(4.0 / 7.0))


def test_binary_degenerate_cases_are_zero():
  # No predicted positives: precision 0/0 -> 0; no true positives: F1 0.
  assert metrics.precision([0, 0], [1, 0]) == 0.0
  assert metrics.recall([1, 1], [0, 0]) == 0.0
  assert metrics.f1_score([0, 0], [0, 0]) == 0.0


def test_matthews_corrcoef_binary():
  # (tp*tn - fp*fn) / sqrt((tp+fp)(tp+fn)(tn+fp)(tn+fn))
  #   = (3*2 - 1*2) / sqrt(4 * 5 * 3 * 4) = 4 / sqrt(240) = 0.2581988897...
  assert metrics.matthews_corrcoef(PREDICTIONS, LABELS) == pytest.approx(
      0.2581988897471611)
  assert metrics.matthews_corrcoef(LABELS, LABELS) == pytest.approx(1.0)
  flipped = [1 - label for label in LABELS]
  assert metrics.matthews_corrcoef(flipped, LABELS) == pytest.approx(-1.0)
  # A constant predictor has a zero denominator -> 0.
  assert metrics.matthews_corrcoef([1, 1, 1], [0, 1, 1]) == 0.0


def test_matthews_corrcoef_multiclass():
  # predictions [0, 1, 2, 2, 1, 0], labels [0, 1, 1, 2, 2, 0]:
  # correct c = 4 (positions 0, 1, 3, 5), s = 6,
  # predicted counts p = [2, 2, 2], true counts t = [2, 2, 2]:
  # (c*s - p.t) / sqrt((s^2 - p.p)(s^2 - t.t)) = (24 - 12) / sqrt(24 * 24)
  #   = 0.5.
  assert metrics.matthews_corrcoef([0, 1, 2, 2, 1, 0],
                                   [0, 1, 1, 2, 2, 0]) == pytest.approx(0.5)


def test_pearson():
  # mean x = 3, mean y = 4; dx = [-2, -1, 0, 1, 2], dy = [-2, 0, 1, 0, 1]
  # sum dx*dy = 4 + 0 + 0 + 0 + 2 = 6; sum dx^2 = 10; sum dy^2 = 6
  # r = 6 / sqrt(60) = 0.7745966692...
  assert metrics.pearson(X, Y) == pytest.approx(0.7745966692414834)
  assert metrics.pearson(X, [-2.0 * x + 1.0 for x in X]) == pytest.approx(-1.0)
  assert math.isnan(metrics.pearson(X, [3.0] * 5))


def test_average_ranks_and_spearman_with_ties():
  # [10, 20, 20, 5]: 5 -> 1, 10 -> 2, the two 20s share (3 + 4) / 2 = 3.5.
  np.testing.assert_array_equal(metrics.average_ranks([10, 20, 20, 5]),
                                [2.0, 3.5, 3.5, 1.0])
  # ranks(x) = [1, 2, 3, 4, 5]; y = [2, 4, 5, 4, 5] -> 2 is rank 1, the 4s
  # share (2 + 3) / 2 = 2.5, the 5s share (4 + 5) / 2 = 4.5:
  # ranks(y) = [1, 2.5, 4.5, 2.5, 4.5], mean 3, deviations
  # [-2, -0.5, 1.5, -0.5, 1.5]; sum dx*dy = 4 + 0.5 + 0 - 0.5 + 3 = 7,
  # sum dy^2 = 4 + 0.25 + 2.25 + 0.25 + 2.25 = 9
  # rho = 7 / sqrt(10 * 9) = 0.7378647873...
  assert metrics.spearman(X, Y) == pytest.approx(0.7378647873726218)
  # Monotone but non-linear: rho = 1 while r < 1.
  cubes = [x ** 3 for x in X]
  assert metrics.spearman(X, cubes) == pytest.approx(1.0)
  assert metrics.pearson(X, cubes) < 0.99


def test_input_checks():
  with pytest.raises(ValueError, match="differ in length: 2 vs 3"):
    metrics.accuracy([0, 1], [0, 1, 1])
  with pytest.raises(ValueError, match="empty"):
    metrics.pearson([], [])
  with pytest.raises(ValueError, match=r"shape \[n\].*\(2, 2\)"):
    metrics.f1_score([[0, 1], [1, 0]], [0, 1])


# ------------------------------------------------------------ cross-checks --


def _random_cases():
  rng = np.random.RandomState(1234)
  for _ in range(5):
    n = rng.randint(5, 40)
    yield (rng.randint(0, 3, size=n), rng.randint(0, 3, size=n),
           rng.randint(0, 6, size=n).astype(np.float64),  # many ties
           rng.normal(size=n))


def _python_mcc(predictions, labels):
  """MCC as the Pearson correlation of one-hot class indicators (Gorodkin)."""
  classes = sorted(set(predictions) | set(labels))
  n = len(labels)
  cov_xy = cov_xx = cov_yy = 0.0
  for k in classes:
    x = [1.0 if p == k else 0.0 for p in predictions]
    y = [1.0 if t == k else 0.0 for t in labels]
    mx, my = sum(x) / n, sum(y) / n
    cov_xy += sum((a - mx) * (b - my) for a, b in zip(x, y))
    cov_xx += sum((a - mx) ** 2 for a in x)
    cov_yy += sum((b - my) ** 2 for b in y)
  if cov_xx == 0 or cov_yy == 0:
    return 0.0
  return cov_xy / math.sqrt(cov_xx * cov_yy)


def _python_ranks(values):
  """Average rank = (#smaller) + (#equal + 1) / 2, by counting."""
  return [sum(v < w for v in values) + (sum(v == w for v in values) + 1) / 2.0
          for w in values]


def test_cross_check_against_plain_python():
  for predictions, labels, ties, noise in _random_cases():
    p, t = predictions.tolist(), labels.tolist()
    assert metrics.matthews_corrcoef(p, t) == pytest.approx(_python_mcc(p, t))
    tp = sum(a == 1 and b == 1 for a, b in zip(p, t))
    fp = sum(a == 1 and b != 1 for a, b in zip(p, t))
    fn = sum(a != 1 and b == 1 for a, b in zip(p, t))
    assert metrics.f1_score(p, t) == pytest.approx(
        2.0 * tp / (2 * tp + fp + fn) if tp else 0.0)
    np.testing.assert_allclose(metrics.average_ranks(ties),
                               _python_ranks(ties.tolist()))
    y = ties + noise
    assert metrics.pearson(ties, y) == pytest.approx(np.corrcoef(ties, y)[0, 1])
    assert metrics.spearman(ties, y) == pytest.approx(
        np.corrcoef(_python_ranks(ties.tolist()),
                    _python_ranks(y.tolist()))[0, 1])


def test_cross_check_against_sklearn():
  from sklearn import metrics as sklearn_metrics  # pylint: disable=g-import-not-at-top
  for predictions, labels, _, _ in _random_cases():
    assert metrics.matthews_corrcoef(predictions, labels) == pytest.approx(
        sklearn_metrics.matthews_corrcoef(labels, predictions))
    assert metrics.accuracy(predictions, labels) == pytest.approx(
        sklearn_metrics.accuracy_score(labels, predictions))
    p, t = predictions % 2, labels % 2
    assert metrics.f1_score(p, t) == pytest.approx(
        sklearn_metrics.f1_score(t, p))
    assert metrics.precision(p, t) == pytest.approx(
        sklearn_metrics.precision_score(t, p, zero_division=0))
    assert metrics.recall(p, t) == pytest.approx(
        sklearn_metrics.recall_score(t, p, zero_division=0))


def test_cross_check_against_scipy():
  from scipy import stats  # pylint: disable=g-import-not-at-top
  for _, _, ties, noise in _random_cases():
    y = ties + noise
    assert metrics.pearson(ties, y) == pytest.approx(stats.pearsonr(ties, y)[0])
    assert metrics.spearman(ties, y) == pytest.approx(
        stats.spearmanr(ties, y)[0])
    np.testing.assert_allclose(metrics.average_ranks(ties),
                               stats.rankdata(ties))

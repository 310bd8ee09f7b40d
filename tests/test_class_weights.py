"""Class weights of the classifier's and the tagger's loss, and the per-label
evaluation of classification (precision, recall, F1, support, macro F1, the
confusion matrix in eval_results.txt and confusion_matrix.png).

Golden values come from independent implementations: the weighted loss from
PyTorch's `cross_entropy(weight=...)`, the balanced weights from
scikit-learn's `compute_class_weight("balanced", ...)`, the per-label scores
from scikit-learn's `precision_recall_fscore_support`, `f1_score` and
`confusion_matrix` (zero_division=0).
"""

import collections
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from bert_tf import distributed
from bert_tf import driver
from bert_tf import heads
from bert_tf import metrics
from bert_tf import modeling
from bert_tf.tasks import classifier
from bert_tf.tasks import ner

from test_classifier import write_tiny_config

torch = pytest.importorskip("torch")
sk_metrics = pytest.importorskip("sklearn.metrics")
sk_utils = pytest.importorskip("sklearn.utils")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NO_DROPOUT = modeling.BertConfig.from_dict(
    dict(vocab_size=10, classifier_dropout=0.0, hidden_dropout_prob=0.0))


def _sklearn_balanced(labels, y):
  return sk_utils.compute_class_weight(
      "balanced", classes=np.array(labels), y=np.array(y)).tolist()


# ---------------------------------------------------------------------------
# The weighted losses against PyTorch.


def _classifier_loss(pooled, labels, num_labels, class_weights,
                     is_training=True):
  """(loss, logits) of `create_classification_output` (no dropout)."""
  with tf.Graph().as_default():
    tf.set_random_seed(0)
    loss, _, logits, _ = heads.create_classification_output(
        NO_DROPOUT, tf.constant(pooled), tf.constant(labels), num_labels,
        is_training, class_weights=class_weights)
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      return sess.run([loss, logits])


def test_weighted_classifier_loss_equals_torch():
  rng = np.random.RandomState(0)
  pooled = rng.randn(16, 8).astype(np.float32)
  labels = np.array([0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 0],
                    np.int32)
  weights = [0.4, 1.7, 3.25]
  loss, logits = _classifier_loss(pooled, labels, 3, weights)
  golden = torch.nn.functional.cross_entropy(
      torch.tensor(logits, dtype=torch.float64),
      torch.tensor(labels, dtype=torch.long),
      weight=torch.tensor(weights, dtype=torch.float64)).item()
  assert loss == pytest.approx(golden, rel=1e-6)
  plain = torch.nn.functional.cross_entropy(
      torch.tensor(logits, dtype=torch.float64),
      torch.tensor(labels, dtype=torch.long)).item()
  assert abs(golden - plain) > 1e-3  # the weights matter here
  # Scaling every weight by a constant leaves the weighted mean unchanged.
  scaled, _ = _classifier_loss(pooled, labels, 3, [w * 10 for w in weights])
  assert scaled == pytest.approx(loss, rel=1e-6)
  # Weights of 1 are the plain mean.
  ones, _ = _classifier_loss(pooled, labels, 3, [1.0, 1.0, 1.0])
  assert ones == pytest.approx(plain, rel=1e-6)


def test_weighted_token_loss_equals_torch():
  rng = np.random.RandomState(1)
  batch, seq, num = 3, 7, 4
  logits = rng.randn(batch, seq, num).astype(np.float32)
  label_ids = rng.randint(0, num, size=(batch, seq)).astype(np.int32)
  mask = (rng.rand(batch, seq) < 0.6).astype(np.int32)
  mask[0, :] = 0  # a window that labels nothing
  mask[1, 1] = 1
  weights = [0.3, 2.0, 1.1, 5.0]
  log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
  with tf.Graph().as_default(), tf.Session() as sess:
    loss, per_token = sess.run(heads.token_classification_loss(
        tf.constant(log_probs), tf.constant(label_ids), tf.constant(mask),
        class_weights=weights))
    none, _ = sess.run(heads.token_classification_loss(
        tf.constant(log_probs), tf.constant(label_ids),
        tf.zeros_like(tf.constant(mask)), class_weights=weights))
    constant, _ = sess.run(heads.token_classification_loss(
        tf.constant(log_probs), tf.constant(label_ids), tf.constant(mask),
        labelled_per_example=2.5, class_weights=weights))
  # Torch: the unlabelled positions are ignored (ignore_index).
  targets = np.where(mask > 0, label_ids, -100).reshape(-1)
  golden = torch.nn.functional.cross_entropy(
      torch.tensor(logits.reshape(-1, num), dtype=torch.float64),
      torch.tensor(targets, dtype=torch.long),
      weight=torch.tensor(weights, dtype=torch.float64),
      ignore_index=-100).item()
  assert loss == pytest.approx(golden, rel=1e-6)
  # The per-token losses stay unweighted; no labelled position: 0.
  nll = -np.take_along_axis(log_probs, label_ids[..., None], -1)[..., 0]
  np.testing.assert_allclose(per_token, nll * mask, rtol=1e-5, atol=1e-6)
  assert none == 0.0
  # The constant denominator (length bucketing): batch x the mean weighted
  # count per example.
  w = np.array(weights)[label_ids] * mask
  assert constant == pytest.approx((w * nll).sum() / (batch * 2.5),
                                   rel=1e-5)


# ---------------------------------------------------------------------------
# No weights: the graph of before, op for op.


def _old_create_classification_output(bert_config, pooled_output, labels,
                                      num_labels, is_training):
  """The function before class weights (verbatim, classification only)."""
  hidden_size = pooled_output.shape[-1]
  output_weights = tf.get_variable(
      "output_weights", [num_labels, hidden_size],
      initializer=heads.head_initializer(bert_config, "truncated_normal"))
  output_bias = tf.get_variable(
      "output_bias", [num_labels], initializer=tf.zeros_initializer())
  with tf.variable_scope("loss"):
    rate = getattr(bert_config, "classifier_dropout", None)
    rate = 0.1 if rate is None else rate
    if is_training and rate > 0:
      pooled_output = tf.nn.dropout(pooled_output, rate=rate)
    logits = tf.matmul(pooled_output, output_weights, transpose_b=True)
    logits = tf.nn.bias_add(logits, output_bias)  # [batch_size, num_labels]
    probabilities = tf.nn.softmax(logits, axis=-1)
    log_probs = tf.nn.log_softmax(logits, axis=-1)
    one_hot_labels = tf.one_hot(labels, depth=num_labels, dtype=tf.float32)
    per_example_loss = -tf.reduce_sum(one_hot_labels * log_probs, axis=-1)
    loss = tf.reduce_mean(per_example_loss)
    return loss, per_example_loss, logits, probabilities


def _old_token_classification_loss(log_probs, label_ids, label_mask,
                                   labelled_per_example=None):
  """The function before class weights (verbatim)."""
  num_labels = modeling.get_shape_list(log_probs)[-1]
  one_hot = tf.one_hot(label_ids, depth=num_labels, dtype=tf.float32)
  weights = tf.cast(label_mask, tf.float32)
  per_token_loss = -tf.reduce_sum(one_hot * log_probs, axis=-1) * weights
  if labelled_per_example is None:
    count = tf.maximum(tf.reduce_sum(weights), 1.0)
  else:
    batch_size = tf.cast(tf.shape(label_ids)[0], tf.float32)
    count = batch_size * float(labelled_per_example)
  loss = tf.reduce_sum(per_token_loss) / count
  return loss, per_token_loss


def _graph_and_values(build):
  with tf.Graph().as_default() as graph:
    tf.set_random_seed(5)
    outputs = build()
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      values = sess.run(outputs)
  return graph.as_graph_def().node, values


@pytest.mark.parametrize("is_training", [True, False])
def test_unset_weights_build_the_old_classifier_graph(is_training):
  rng = np.random.RandomState(2)
  pooled = rng.randn(6, 8).astype(np.float32)
  labels = np.array([0, 1, 1, 2, 0, 2], np.int32)
  config = modeling.BertConfig(vocab_size=10)  # dropout 0.1 when training
  old_nodes, old = _graph_and_values(lambda: _old_create_classification_output(
      config, tf.constant(pooled), tf.constant(labels), 3, is_training))
  new_nodes, new = _graph_and_values(lambda: heads.create_classification_output(
      config, tf.constant(pooled), tf.constant(labels), 3, is_training,
      class_weights=None))
  assert new_nodes == old_nodes
  for a, b in zip(old, new):
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("labelled_per_example", [None, 2.5])
def test_unset_weights_build_the_old_token_loss_graph(labelled_per_example):
  rng = np.random.RandomState(3)
  log_probs = np.log(rng.dirichlet(np.ones(3), size=(2, 5))).astype(
      np.float32)
  label_ids = rng.randint(0, 3, size=(2, 5)).astype(np.int32)
  mask = np.array([[0, 1, 1, 0, 0], [0, 1, 0, 1, 1]], np.int32)
  args = lambda: (tf.constant(log_probs), tf.constant(label_ids),
                  tf.constant(mask), labelled_per_example)
  old_nodes, old = _graph_and_values(
      lambda: _old_token_classification_loss(*args()))
  new_nodes, new = _graph_and_values(
      lambda: heads.token_classification_loss(*args(), class_weights=None))
  assert new_nodes == old_nodes
  for a, b in zip(old, new):
    np.testing.assert_array_equal(a, b)


class _FakeModel(object):

  def __init__(self, pooled=None, sequence=None):
    self._pooled, self._sequence = pooled, sequence

  def get_pooled_output(self):
    return self._pooled

  def get_sequence_output(self):
    return self._sequence


def test_weights_are_graph_constants_of_training_only():
  """The heads with weights have the same variables (checkpoints are
  unchanged); the weights change the training loss, not evaluation's."""
  rng = np.random.RandomState(4)
  pooled = rng.randn(6, 8).astype(np.float32)
  labels = np.array([0, 1, 1, 1, 1, 1], np.int32)
  seq = rng.randn(2, 5, 8).astype(np.float32)
  tags = rng.randint(0, 3, size=(2, 5)).astype(np.int32)
  mask = np.ones([2, 5], np.int32)

  def run(head, features, model, is_training):
    with tf.Graph().as_default():
      tf.set_random_seed(9)
      out = head(NO_DROPOUT, model(), features(), is_training)
      names = sorted(v.op.name for v in tf.global_variables())
      with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        return names, sess.run(out.loss)

  cases = [
      (lambda w: heads.ClassificationHead(2, class_weights=w), [1.0, 4.0],
       lambda: {"label_ids": tf.constant(labels),
                "input_ids": tf.zeros([6, 4], tf.int32)},
       lambda: _FakeModel(pooled=tf.constant(pooled))),
      (lambda w: heads.TokenClassificationHead(3, class_weights=w),
       [1.0, 4.0, 0.5],
       lambda: {"label_ids": tf.constant(tags),
                "label_mask": tf.constant(mask)},
       lambda: _FakeModel(sequence=tf.constant(seq)))]
  for make, weights, features, model in cases:
    plain_vars, plain_train = run(make(None), features, model, True)
    vars_, weighted_train = run(make(weights), features, model, True)
    assert vars_ == plain_vars
    assert not [v for v in vars_ if "weight" in v and "output" not in v]
    assert abs(weighted_train - plain_train) > 1e-4
    _, plain_eval = run(make(None), features, model, False)
    _, weighted_eval = run(make(weights), features, model, False)
    assert weighted_eval == plain_eval == plain_train


# ---------------------------------------------------------------------------
# The --class_weights value: balanced, explicit, errors.


def test_explicit_weights_and_their_errors():
  labels = ["neg", "neu", "pos"]
  assert heads.class_weights_from_setting(None, labels) is None
  assert heads.class_weights_from_setting("", labels) is None
  assert heads.class_weights_from_setting("1, 2.5,0.25", labels) == [
      1.0, 2.5, 0.25]
  assert heads.class_weights_from_setting([1, 2, 4], labels) == [1.0, 2.0,
                                                                 4.0]
  with pytest.raises(ValueError) as e:
    heads.class_weights_from_setting("1,2", labels)
  assert str(e.value) == (
      "--class_weights=1,2 gives 2 weight(s); expected 3, one per label in "
      "the order neg, neu, pos.")
  with pytest.raises(ValueError, match=r"--class_weights=1,0,-2: every "
                     r"weight must be a positive finite number; got neu=0, "
                     r"pos=-2 \(labels in the order neg, neu, pos\)"):
    heads.class_weights_from_setting("1,0,-2", labels)
  with pytest.raises(ValueError, match="positive finite.*neg=inf"):
    heads.class_weights_from_setting("inf,1,1", labels)
  with pytest.raises(ValueError, match="expected 'balanced' or 3 comma-"
                     "separated numbers, one per label in the order neg, "
                     "neu, pos"):
    heads.class_weights_from_setting("balance", labels)
  with pytest.raises(ValueError, match="the label.s. pos never occur in the "
                     "training data"):
    heads.class_weights_from_setting("balanced", labels,
                                     {"neg": 3, "neu": 1, "pos": 0})
  with pytest.raises(ValueError, match="2 class weights for 3 labels"):
    heads.create_classification_output(
        NO_DROPOUT, tf.zeros([2, 4]), tf.zeros([2], tf.int32), 3, True,
        class_weights=[1.0, 2.0])
  with pytest.raises(ValueError, match="not to a regression"):
    heads.ClassificationHead(1, is_regression=True, class_weights=[1.0])


def test_balanced_equals_sklearn():
  y = ["b"] * 7 + ["a"] * 2 + ["c"] * 3
  labels = ["a", "b", "c"]
  assert heads.class_weights_from_setting(
      "balanced", labels, lambda: collections.Counter(y)) == pytest.approx(
          _sklearn_balanced(labels, y), rel=1e-12)


def _generic_data(data_dir, counts, seed=0):
  """A 3-class TSV whose label shows in its words (header text, label)."""
  rng = np.random.RandomState(seed)
  words = {"neg": ["bad", "terrible", "hate"],
           "neu": ["book", "car", "house"],
           "pos": ["good", "great", "love"]}
  filler = ["the", "a", "is", "it", "this", "very"]
  os.makedirs(data_dir, exist_ok=True)
  rows = {}
  for name, per_label in counts.items():
    rows[name] = []
    for label, n in per_label.items():
      for _ in range(n):
        text = list(rng.choice(filler, size=3)) + [rng.choice(words[label])]
        rng.shuffle(text)
        rows[name].append((" ".join(text), label))
    rng.shuffle(rows[name])
    with open(os.path.join(data_dir, name), "w", encoding="utf-8") as f:
      f.write("text\tlabel\n")
      for text, label in rows[name]:
        f.write("%s\t%s\n" % (text, label))
  return rows


LABELS = ["neg", "neu", "pos"]


def _generic_cfg(tmp_path, vocab, **kw):
  values = dict(
      task_name="generic", data_dir=str(tmp_path / "data"),
      text_a_column="text", label_column="label", labels=list(LABELS),
      test_file="dev.tsv", bert_config_file=write_tiny_config(
          tmp_path / "bert_config.json"),
      output_dir=str(tmp_path / "out"), vocab_file=vocab, max_seq_length=16,
      train_batch_size=8, eval_batch_size=8, predict_batch_size=8,
      learning_rate=1e-3, num_train_epochs=3.0, random_seed=1,
      save_checkpoints_steps=1000, log_every_n_steps=1000)
  values.update(kw)
  return classifier.ClassifierConfig(**values)


def _prepared(task, cfg):
  context = driver.RunContext(task, cfg, modeling.BertConfig(vocab_size=120),
                              distributed.setup(cfg, log=False))
  task.validate(context)
  task.prepare(context)
  return context


def test_classifier_balanced_weights_from_the_training_file(
    tmp_path, tiny_vocab_file):
  rows = _generic_data(str(tmp_path / "data"), {
      "train.tsv": {"neg": 20, "neu": 6, "pos": 3},
      "dev.tsv": {"neg": 2, "neu": 2, "pos": 2}})
  task = classifier.ClassifierTask()
  context = _prepared(task, _generic_cfg(
      tmp_path, tiny_vocab_file, do_train=True, class_weights="balanced"))
  assert task.class_weights == pytest.approx(_sklearn_balanced(
      LABELS, [label for _, label in rows["train.tsv"]]), rel=1e-12)
  head = task.head(context)
  assert head.class_weights == task.class_weights
  assert head.label_names == LABELS
  # An explicit list, in label order; of the wrong length a clear error.
  task = classifier.ClassifierTask()
  _prepared(task, _generic_cfg(tmp_path, tiny_vocab_file, do_train=True,
                               class_weights="1,2,4"))
  assert task.class_weights == [1.0, 2.0, 4.0]
  with pytest.raises(ValueError, match=r"--class_weights=1,2 gives 2 "
                     r"weight\(s\); expected 3, one per label in the order "
                     r"neg, neu, pos"):
    _prepared(classifier.ClassifierTask(), _generic_cfg(
        tmp_path, tiny_vocab_file, do_train=True, class_weights="1,2"))
  # Without training there is nothing to weigh (a list is still checked).
  task = classifier.ClassifierTask()
  _prepared(task, _generic_cfg(tmp_path, tiny_vocab_file, do_eval=True,
                               class_weights="balanced"))
  assert task.class_weights is None
  with pytest.raises(ValueError, match="gives 1 weight"):
    _prepared(classifier.ClassifierTask(), _generic_cfg(
        tmp_path, tiny_vocab_file, do_eval=True, class_weights="3"))
  # Unset: no weights.
  task = classifier.ClassifierTask()
  _prepared(task, _generic_cfg(tmp_path, tiny_vocab_file, do_train=True))
  assert task.class_weights is None


def test_regression_refuses_class_weights(tmp_path, tiny_vocab_file):
  data = tmp_path / "data"
  data.mkdir()
  (data / "train.tsv").write_text("text\tscore\nthe dog\t0.5\n")
  cfg = _generic_cfg(tmp_path, tiny_vocab_file, do_train=True, labels=None,
                     label_column="score", regression=True,
                     class_weights="balanced")
  with pytest.raises(ValueError, match="--class_weights=balanced weighs the "
                     "classes of a classification loss; --task_name=generic "
                     "here is a regression"):
    _prepared(classifier.ClassifierTask(), cfg)


def test_script_names_the_flag_in_its_error(tmp_path, tiny_vocab_file):
  _generic_data(str(tmp_path / "data"), {
      "train.tsv": {"neg": 4, "neu": 2, "pos": 2},
      "dev.tsv": {"neg": 1, "neu": 1, "pos": 1}})
  cmd = [sys.executable, os.path.join(ROOT, "run_classifier.py"),
         "--task_name=generic", "--data_dir=%s" % (tmp_path / "data"),
         "--text_a_column=text", "--label_column=label",
         "--labels=neg,neu,pos", "--do_train",
         "--vocab_file=" + tiny_vocab_file, "--max_seq_length=16",
         "--bert_config_file=" + write_tiny_config(tmp_path / "c.json"),
         "--output_dir=%s" % (tmp_path / "out"), "--class_weights=1,2"]
  proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 1, proc.stderr[-3000:]
  assert ("error: --class_weights=1,2 gives 2 weight(s); expected 3, one "
          "per label in the order neg, neu, pos.") in proc.stderr
  assert "Traceback" not in proc.stderr


# ---------------------------------------------------------------------------
# Per-label evaluation.


def _head_metrics(label_names, logits, labels, is_real):
  head = heads.ClassificationHead(len(label_names), label_names=label_names,
                                  metric_fns={"f1": metrics.f1_score})
  with tf.Graph().as_default():
    logits_t = tf.placeholder(tf.float32, [None, len(label_names)])
    labels_t = tf.placeholder(tf.int32, [None])
    real_t = tf.placeholder(tf.float32, [None])
    metric_fn = head._metric_fn  # pylint: disable=protected-access
    ops = metric_fn(tf.zeros_like(real_t), labels_t, logits_t, real_t)
    with tf.Session() as sess:
      sess.run(tf.local_variables_initializer())
      for rows in (slice(0, 5), slice(5, None)):  # two batches
        sess.run([u for _, u in ops.values()],
                 {logits_t: logits[rows], labels_t: labels[rows],
                  real_t: is_real[rows]})
      return sess.run({k: v for k, (v, _) in ops.items()})


def test_per_label_metrics_equal_sklearn_with_a_label_never_predicted():
  names = ["contradiction", "entailment", "neutral", "other"]
  labels = np.array([0, 1, 2, 2, 1, 0, 2, 1, 0, 1, 2, 0])
  preds = np.array([0, 1, 1, 0, 1, 0, 1, 1, 1, 0, 0, 3])
  # "neutral" (2) is never predicted; "other" (3) has no example; the last
  # example is padding (weight 0) and is left out.
  is_real = np.array([1.0] * 11 + [0.0], np.float32)
  logits = np.eye(4, dtype=np.float32)[preds] * 3.0
  got = _head_metrics(names, logits, labels, is_real)
  y, p = labels[:11], preds[:11]
  precision, recall, f1, support = sk_metrics.precision_recall_fscore_support(
      y, p, labels=range(4), zero_division=0)
  for i, name in enumerate(names):
    assert got["precision_%s" % name] == pytest.approx(precision[i], abs=1e-7)
    assert got["recall_%s" % name] == pytest.approx(recall[i], abs=1e-7)
    assert got["f1_%s" % name] == pytest.approx(f1[i], abs=1e-7)
    assert got["support_%s" % name] == support[i]
    assert got["support_%s" % name].dtype == np.int64
  assert got["precision_neutral"] == 0.0 and got["recall_other"] == 0.0
  # Macro F1 over the labels that occur (here all 4: "other" is predicted).
  assert got["macro_f1"] == pytest.approx(
      sk_metrics.f1_score(y, p, average="macro", zero_division=0), abs=1e-7)
  np.testing.assert_array_equal(
      got["confusion_matrix"],
      sk_metrics.confusion_matrix(y, p, labels=range(4)))
  # The existing metrics keep their values.
  assert got["eval_accuracy"] == pytest.approx(np.mean(y == p))
  assert got["f1"] == pytest.approx(metrics.f1_score(p, y))
  # A label on neither side has no F1 in scikit-learn's macro mean.
  y2, p2 = np.array([0, 1, 1, 0]), np.array([0, 1, 0, 0])
  assert metrics.macro_f1(p2, y2, 3) == pytest.approx(
      sk_metrics.f1_score(y2, p2, average="macro"), abs=1e-12)
  scores = metrics.per_class_scores(p2, y2, 3)
  assert scores["f1"][2] == 0.0 and scores["support"][2] == 0


def test_heads_without_label_names_keep_their_metrics():
  head = heads.ClassificationHead(2)
  with tf.Graph().as_default():
    metric_fn = head._metric_fn  # pylint: disable=protected-access
    ops = metric_fn(tf.zeros([3]), tf.constant([0, 1, 1]), tf.zeros([3, 2]),
                    tf.ones([3]))
  assert sorted(ops) == ["eval_accuracy", "eval_loss"]


def test_results_lines_are_one_number_per_key():
  lines = classifier.results_lines(
      {"eval_accuracy": 0.5, "confusion_matrix": [[3, 1], [0, 2]]},
      ["no", "yes"])
  assert lines == {"eval_accuracy": 0.5, "confusion_matrix[no][no]": 3,
                   "confusion_matrix[no][yes]": 1,
                   "confusion_matrix[yes][no]": 0,
                   "confusion_matrix[yes][yes]": 2}


def test_tiny_balanced_run_reports_sklearns_per_label_metrics(
    tmp_path, tiny_vocab_file):
  rows = _generic_data(str(tmp_path / "data"), {
      "train.tsv": {"neg": 30, "neu": 10, "pos": 5},
      "dev.tsv": {"neg": 9, "neu": 5, "pos": 4}})
  cfg = _generic_cfg(tmp_path, tiny_vocab_file, do_train=True, do_eval=True,
                     do_predict=True, class_weights="balanced")
  task = classifier.ClassifierTask()
  result = driver.run(task, cfg)
  out = cfg.output_dir
  assert task.class_weights == pytest.approx(_sklearn_balanced(
      LABELS, [label for _, label in rows["train.tsv"]]), rel=1e-12)
  # Checkpoints hold the same variables as without weights.
  names = [n for n, _ in tf.train.list_variables(out)]
  assert "output_weights" in names
  assert not [n for n in names if "class_weight" in n]

  # The dev predictions (test_file is dev.tsv): argmax of the probabilities.
  probs = np.array([[float(x) for x in line.split("\t")] for line in
                    open(result["predict_file"]).read().splitlines()])
  preds = probs.argmax(-1)
  y = np.array([LABELS.index(label) for _, label in rows["dev.tsv"]])
  text = open(os.path.join(out, "eval_results.txt")).read().splitlines()
  values = {}
  for line in text:
    key, value = line.split(" = ")
    values[key] = float(value)  # every line is `key = number`
  precision, recall, f1, support = sk_metrics.precision_recall_fscore_support(
      y, preds, labels=range(3), zero_division=0)
  for i, name in enumerate(LABELS):
    assert values["precision_%s" % name] == pytest.approx(precision[i],
                                                          abs=1e-6)
    assert values["recall_%s" % name] == pytest.approx(recall[i], abs=1e-6)
    assert values["f1_%s" % name] == pytest.approx(f1[i], abs=1e-6)
    assert values["support_%s" % name] == support[i]
  assert values["macro_f1"] == pytest.approx(
      sk_metrics.f1_score(y, preds, average="macro", zero_division=0),
      abs=1e-6)
  assert values["eval_accuracy"] == pytest.approx(np.mean(y == preds))
  matrix = sk_metrics.confusion_matrix(y, preds, labels=range(3))
  for i, true_label in enumerate(LABELS):
    for j, predicted in enumerate(LABELS):
      assert values["confusion_matrix[%s][%s]" % (true_label, predicted)] \
          == matrix[i, j]
  assert result["eval"]["confusion_matrix"] == matrix.tolist()
  assert result["eval"]["support_neg"] == 9
  # The PNG, complete (no temporary file left).
  png = os.path.join(out, classifier.CONFUSION_MATRIX_PNG)
  with open(png, "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  assert plt.imread(png).ndim == 3
  assert not [n for n in os.listdir(out) if ".tmp" in n]


# ---------------------------------------------------------------------------
# NER.


def _tagged(path, sentences):
  with open(path, "w", encoding="utf-8") as f:
    for sentence in sentences:
      for word, tag in sentence:
        f.write("%s\t%s\n" % (word, tag))
      f.write("\n")
  return str(path)


def _ner_sentences(n, seed, long_every=0):
  rng = np.random.RandomState(seed)
  out = []
  for i in range(n):
    length = 20 if long_every and i % long_every == 0 else rng.randint(3, 8)
    sentence = []
    for _ in range(length):
      r = rng.rand()
      if r < 0.12:
        sentence.append((rng.choice(["dog", "cat"]), "B-ANIMAL"))
      elif r < 0.2:
        sentence.append((rng.choice(["red", "blue"]), "B-COLOR"))
      else:
        sentence.append((rng.choice(["the", "a", "is", "runs", "house"]),
                         "O"))
    out.append(sentence)
  return out


def _ner_cfg(tmp_path, vocab, **kw):
  values = dict(
      bert_config_file=write_tiny_config(
          str(tmp_path / "bert_config.json"), hidden_dropout_prob=0.0,
          attention_probs_dropout_prob=0.0),
      vocab_file=vocab, output_dir=str(tmp_path / "out"), max_seq_length=12,
      doc_stride=4, train_batch_size=8, learning_rate=3e-3,
      num_train_epochs=1.0, save_checkpoints_steps=1000, random_seed=1,
      log_every_n_steps=1000)
  values.update(kw)
  return ner.NerConfig(**values)


def test_ner_balanced_weights_count_labelled_words(tmp_path, tiny_vocab_file):
  sentences = _ner_sentences(30, 0, long_every=6)
  train = _tagged(tmp_path / "train.txt", sentences)
  task = ner.NerTask()
  cfg = _ner_cfg(tmp_path, tiny_vocab_file, do_train=True, train_file=train,
                 class_weights="balanced", use_bucketing=True,
                 bucket_width=4)
  context = driver.RunContext(task, cfg, modeling.BertConfig(vocab_size=120),
                              distributed.setup(cfg, log=False))
  task.validate(context)
  task.prepare(context)
  windows = task._train[1]  # pylint: disable=protected-access
  assert len(windows) > len(sentences)  # long sentences span windows
  tags = [tag for s in sentences for _, tag in s]
  assert task.labels == ["O", "B-ANIMAL", "B-COLOR"]
  assert task.class_weights == pytest.approx(
      _sklearn_balanced(task.labels, tags), rel=1e-12)
  # Length bucketing: the weighted loss's constant denominator is the mean
  # class weight per window, which balanced weights make the word count.
  head = task.head(context)
  assert head.class_weights == task.class_weights
  assert head.class_weight_per_example == pytest.approx(
      head.labelled_per_example, rel=1e-9)
  assert head.labelled_per_example == pytest.approx(len(tags) / len(windows))
  # An explicit list of the wrong length names the labels.
  cfg.class_weights = "1,2"
  with pytest.raises(ValueError, match=r"expected 3, one per label in the "
                     r"order O, B-ANIMAL, B-COLOR"):
    task.prepare(context)
  cfg.class_weights = "1,2,2"
  task.prepare(context)
  head = task.head(context)
  weights = {"O": 1.0, "B-ANIMAL": 2.0, "B-COLOR": 2.0}
  assert head.class_weight_per_example == pytest.approx(
      sum(weights[t] for t in tags) / len(windows))


def test_ner_tiny_run_with_balanced_weights(tmp_path, tiny_vocab_file):
  train = _tagged(tmp_path / "train.txt", _ner_sentences(48, 1))
  dev = _tagged(tmp_path / "dev.txt", _ner_sentences(8, 2))
  result = ner.run(_ner_cfg(
      tmp_path, tiny_vocab_file, do_train=True, do_eval=True,
      train_file=train, eval_file=dev, class_weights="balanced",
      use_bucketing=True, bucket_width=4))
  assert result["num_train_steps"] == 6
  assert tf.train.latest_checkpoint(str(tmp_path / "out")).endswith("-6")
  assert np.isfinite(result["eval"]["eval_loss"])
  assert "f1" in result["eval"]

"""The task heads' initial weights: the reference's truncated normal or HF's normal."""

import types

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from bert_tf import heads
from bert_tf import modeling
from bert_tf.tasks import classifier
from bert_tf.tasks import glue
from bert_tf.tasks import ner
from bert_tf.tasks import squad_runner

HIDDEN = 32


def _draw(distribution, shape=(500, 400), seed=7):
  config = modeling.BertConfig(vocab_size=10, initializer_range=0.02)
  with tf.Graph().as_default():
    tf.set_random_seed(seed)
    init = heads.head_initializer(config, distribution)
    value = init(shape, dtype=tf.float32)
    with tf.Session() as sess:
      return sess.run(value)


def test_truncated_normal_is_cut_at_two_standard_deviations():
  w = _draw("truncated_normal")
  assert np.abs(w).max() <= 0.04
  # The sd of a standard normal cut at +-2 is 0.8796.
  assert w.std() == pytest.approx(0.8796 * 0.02, rel=0.01)
  assert abs(w.mean()) < 1e-4


def test_normal_has_the_full_spread_and_tails():
  w = _draw("normal")
  assert w.std() == pytest.approx(0.02, rel=0.01)
  # P(|z| > 2) = 4.55% for a normal; the truncated draw has none.
  assert np.mean(np.abs(w) > 0.04) == pytest.approx(0.0455, abs=0.003)
  assert abs(w.mean()) < 1e-4


def test_an_unknown_distribution_is_named():
  config = modeling.BertConfig(vocab_size=10)
  with pytest.raises(ValueError, match="'uniform'.*truncated_normal, normal"):
    heads.head_initializer(config, "uniform")


class _FakeModel(object):

  def __init__(self, batch=2, seq=5):
    rng = np.random.RandomState(0)
    self._seq = tf.constant(rng.randn(batch, seq, HIDDEN).astype(np.float32))

  def get_sequence_output(self):
    return self._seq

  def get_pooled_output(self):
    return self._seq[:, 0]


def _task_heads(distribution):
  """Each fine-tuning task's head, made by the task from a run's settings."""
  run = types.SimpleNamespace(
      use_bucketing=False, groups_by_length=False,
      cfg=types.SimpleNamespace(head_initializer=distribution,
                                doc_stride=None))
  tagger = ner.NerTask()
  tagger.labels = ["O", "B-X", "I-X"]
  sentence = classifier.ClassifierTask()
  sentence.processor = glue.MrpcProcessor()
  sentence.label_list = sentence.processor.get_labels()
  return {"classifier": sentence.head(run),
          "squad": squad_runner.SquadTask().head(run),
          "ner": tagger.head(run)}


@pytest.mark.parametrize("distribution, op_type", [
    ("truncated_normal", "TruncatedNormal"),
    ("normal", "RandomStandardNormal")])
def test_every_task_head_draws_from_the_setting(distribution, op_type):
  config = modeling.BertConfig(vocab_size=10, hidden_size=HIDDEN,
                               initializer_range=0.02)
  for name, head in _task_heads(distribution).items():
    with tf.Graph().as_default() as graph:
      head(config, _FakeModel(), {"input_ids": tf.zeros([2, 5], tf.int32)},
           is_training=False)
      weights = [v for v in tf.global_variables()
                 if v.op.name.endswith("output_weights")]
      assert len(weights) == 1, (name, tf.global_variables())
      # The random op that feeds the weights' initial value.
      random_ops = {op.type for op in graph.get_operations()
                    if op.type in ("TruncatedNormal", "RandomStandardNormal")}
      assert random_ops == {op_type}, (name, random_ops)
      with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        w = sess.run(weights[0])
      assert w.shape[-1] == HIDDEN and 0.005 < w.std() < 0.04, (name, w.std())


def test_the_reference_draw_stays_the_default():
  from bert_tf import driver  # pylint: disable=g-import-not-at-top
  assert driver.HeadSettings().head_initializer == "truncated_normal"
  assert classifier.ClassifierConfig().head_initializer == "truncated_normal"
  assert squad_runner.SquadConfig().head_initializer == "truncated_normal"
  # No reference script tags tokens; the tagger draws as Hugging Face's
  # BertForTokenClassification (measured on WNUT-17, docs/benchmarks.md).
  assert ner.NerConfig().head_initializer == "normal"
  assert heads.SpanHead().initializer == "truncated_normal"
  assert heads.TokenClassificationHead(3).initializer == "truncated_normal"
  assert heads.ClassificationHead(2).initializer == "truncated_normal"


def _last_layer_ffn_rows(config, head, features, mode):
  """Rows of the last layer's feed-forward matmul in model_fn's graph."""
  from bert_tf import model_fn as model_fn_lib  # pylint: disable=g-import-not-at-top
  with tf.Graph().as_default() as graph:
    model_fn_lib.model_fn_builder(config, head, num_train_steps=10)(
        {k: tf.constant(v) for k, v in features.items()}, None, mode, {})
    scope = "bert/encoder/layer_%d/intermediate/" % (
        config.num_hidden_layers - 1)
    (matmul,) = [op for op in graph.get_operations()
                 if op.name.startswith(scope) and op.type == "MatMul"]
    return matmul.outputs[0].shape.as_list()[0]


@pytest.mark.parametrize("mode", [tf.estimator.ModeKeys.TRAIN,
                                  tf.estimator.ModeKeys.PREDICT])
def test_model_fn_computes_only_the_last_layer_rows_a_head_reads(mode):
  """A classifier reads [CLS] only, pretraining the masked positions; span
  and token heads read every position (`output_positions`)."""
  config = modeling.BertConfig(vocab_size=50, hidden_size=HIDDEN,
                               num_hidden_layers=2, num_attention_heads=2,
                               intermediate_size=24)
  batch, seq, predictions = 3, 10, 4
  ids = np.ones([batch, seq], np.int32)
  base = {"input_ids": ids, "input_mask": ids, "segment_ids": 0 * ids}
  pretraining = dict(
      base, masked_lm_positions=np.tile(np.arange(1, 5, dtype=np.int32),
                                        [batch, 1]),
      masked_lm_ids=np.ones([batch, predictions], np.int32),
      masked_lm_weights=np.ones([batch, predictions], np.float32),
      next_sentence_labels=np.zeros([batch, 1], np.int32))
  cases = [
      (heads.ClassificationHead(2), dict(base, label_ids=ids[:, 0]), batch),
      (heads.PretrainingHead(), pretraining, batch * (1 + predictions)),
      (heads.SpanHead(), dict(base, start_positions=ids[:, 0],
                              end_positions=ids[:, 0]), batch * seq),
      (heads.TokenClassificationHead(3), dict(base, label_ids=ids,
                                              label_mask=ids), batch * seq),
  ]
  for head, features, rows in cases:
    assert _last_layer_ffn_rows(config, head, features, mode) == rows, head

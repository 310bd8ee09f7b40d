"""Fine-tuning part of the model: --freeze_embeddings, --train_top_layers.

Frozen variables are bit-identical after training and get no optimizer
slots; the others change; the checkpoint keeps every variable.
"""

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from bert_tf import model_fn as model_fn_lib
from bert_tf import modeling
from bert_tf.tasks import classifier
from test_classifier import write_mrpc_like
from test_classifier import write_tiny_config


def _names(variables):
  return sorted(v.op.name for v in variables)


def test_which_variables_train():
  config = modeling.BertConfig(vocab_size=50, hidden_size=16,
                               num_hidden_layers=3, num_attention_heads=2,
                               intermediate_size=20)
  with tf.Graph().as_default():
    model = modeling.BertModel(config, is_training=True,
                               input_ids=tf.zeros([2, 8], tf.int32))
    tf.get_variable("output_weights", [2, 16])
    del model
    everything = _names(tf.trainable_variables())
    trained, frozen = model_fn_lib.trainable_variables(3)
    assert _names(trained) == everything and not frozen
    trained, frozen = model_fn_lib.trainable_variables(
        3, freeze_embeddings=True)
    assert _names(frozen) == [n for n in everything
                              if n.startswith("bert/embeddings/")]
    assert len(frozen) == 5  # word, token type, position, layer norm x 2
    trained, frozen = model_fn_lib.trainable_variables(3, train_top_layers=1)
    assert all(n.startswith(("bert/encoder/layer_2/", "bert/pooler/",
                             "output_weights")) for n in _names(trained))
    assert {n.split("/")[2] for n in _names(frozen)
            if n.startswith("bert/encoder/")} == {"layer_0", "layer_1"}
    assert "output_weights" in _names(trained)
    trained, _ = model_fn_lib.trainable_variables(3, train_top_layers=0)
    assert {n.split("/")[1] for n in _names(trained) if "/" in n} == {
        "pooler"}
    for bad in (-1, 4):
      with pytest.raises(ValueError, match=r"--train_top_layers=%d: the "
                         r"model has 3 layers" % bad):
        model_fn_lib.trainable_variables(3, train_top_layers=bad)


def _checkpoint(directory):
  reader = tf.train.load_checkpoint(directory)
  return {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()}


def _train(tmp_path, vocab, name, init=None, **kwargs):
  data_dir = str(tmp_path / "data")
  write_mrpc_like(data_dir)
  cfg = classifier.ClassifierConfig(
      task_name="MRPC", data_dir=data_dir,
      bert_config_file=write_tiny_config(tmp_path / "bert_config.json"),
      output_dir=str(tmp_path / name), vocab_file=vocab, max_seq_length=32,
      do_train=True, train_batch_size=8, learning_rate=1e-2,
      num_train_epochs=1.0, random_seed=1, init_checkpoint=init, **kwargs)
  classifier.run(cfg)
  return _checkpoint(str(tmp_path / name))


@pytest.mark.parametrize("kwargs,frozen_prefixes", [
    (dict(freeze_embeddings=True), ("bert/embeddings/",)),
    (dict(train_top_layers=1), ("bert/embeddings/", "bert/encoder/layer_0/")),
])
def test_frozen_variables_are_bit_identical(tmp_path, tiny_vocab_file,
                                            kwargs, frozen_prefixes):
  start = _train(tmp_path, tiny_vocab_file, "start")
  init = tf.train.latest_checkpoint(str(tmp_path / "start"))
  after = _train(tmp_path, tiny_vocab_file, "after", init=init, **kwargs)
  model_vars = [n for n in start if n.startswith(("bert/", "output_")) and
                "adam_" not in n]
  assert len(model_vars) > 20
  assert all(n in after for n in model_vars)  # the checkpoint keeps all
  frozen = [n for n in model_vars if n.startswith(frozen_prefixes)]
  trained = [n for n in model_vars if n not in frozen]
  assert frozen and trained
  for name in frozen:
    assert np.array_equal(after[name], start[name]), name
    assert name + "/adam_m" not in after and name + "/adam_v" not in after
  changed = [n for n in trained if not np.array_equal(after[n], start[n])]
  assert set(changed) == set(trained)
  assert all(n + "/adam_m" in after for n in trained)

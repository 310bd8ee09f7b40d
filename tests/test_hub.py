"""TF-Hub: the TF1 module, fine-tuning through it, the TF2 SavedModel."""

import math
import os

import numpy as np
import tensorflow.compat.v1 as tf

from bert_tf import hub as bert_hub
from bert_tf.tasks import classifier
import serving_helpers as helpers
from test_classifier import write_mrpc_like


def test_tf1_module_tokenization_info_and_fine_tuning(tmp_path):
  tiny = helpers.make_tiny_model(tmp_path / "m", with_global_step=False)
  module_dir = str(tmp_path / "module")
  bert_hub.export_tf1_hub_module(tiny.config_file, tiny.checkpoint,
                                 tiny.vocab_file, False, module_dir)
  assert not [n for n in os.listdir(tmp_path) if ".tmp-" in n]

  vocab_file, do_lower_case = bert_hub.read_tokenization_info(module_dir)
  assert do_lower_case is False
  assert os.path.dirname(vocab_file) == os.path.join(module_dir, "assets")
  assert open(vocab_file).read() == open(tiny.vocab_file).read()
  inferred = bert_hub.bert_config_from_hub_module(module_dir)
  for key in ("vocab_size", "hidden_size", "num_hidden_layers",
              "intermediate_size", "max_position_embeddings",
              "type_vocab_size"):
    assert getattr(inferred, key) == getattr(tiny.bert_config, key), key

  # Both graph variants answer like BertModel run directly (no dropout in
  # the default variant; the "train" variant has its variables trainable).
  hub = bert_hub.import_tensorflow_hub()
  features = helpers.random_inputs(3, 10, tiny.bert_config.vocab_size)
  direct = helpers.direct_bert_outputs(tiny.bert_config, tiny.checkpoint,
                                       **features)
  with tf.Graph().as_default():
    module = hub.Module(module_dir)
    out = module(features, signature="tokens", as_dict=True)
    hub.Module(module_dir, tags={"train"}, trainable=True, name="train")
    assert len(tf.trainable_variables()) == len(module.variable_map)
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      pooled, sequence = sess.run([out["pooled_output"],
                                   out["sequence_output"]])
  np.testing.assert_allclose(pooled, direct["pooled_output"], atol=1e-5)
  np.testing.assert_allclose(sequence, direct["sequence_output"], atol=1e-5)

  # Fine-tuning through the module, as run_classifier_with_tfhub.py does.
  data_dir = str(tmp_path / "data")
  write_mrpc_like(data_dir, 16, 8, 4)
  out_dir = str(tmp_path / "out")
  cfg = classifier.ClassifierConfig(
      task_name="MRPC", data_dir=data_dir, bert_config_file=module_dir,
      output_dir=out_dir, max_seq_length=24, do_train=True, do_eval=True,
      train_batch_size=4, learning_rate=1e-3, num_train_epochs=1.0,
      log_every_n_steps=2)
  result = bert_hub.run_classifier(cfg, module_dir)
  latest = tf.train.latest_checkpoint(out_dir)
  assert latest is not None and latest.endswith("model.ckpt-4")
  names = dict(tf.train.list_variables(latest))
  assert names["output_weights"] == [2, 32]
  assert "module/bert/pooler/dense/kernel" in names
  # Fine-tuning moved the encoder's weights away from the module's.
  tuned = tf.train.load_checkpoint(latest).get_tensor(
      "module/bert/pooler/dense/kernel")
  original = tf.train.load_checkpoint(tiny.checkpoint).get_tensor(
      "bert/pooler/dense/kernel")
  assert np.abs(tuned - original).max() > 1e-4
  assert math.isfinite(result["eval"]["loss"])
  assert math.isfinite(result["eval"]["eval_loss"])
  assert os.path.exists(os.path.join(out_dir, "eval_results.txt"))


def test_tf2_saved_model_keras_layer(tmp_path):
  tiny = helpers.make_tiny_model(tmp_path / "m", with_global_step=False)
  path = str(tmp_path / "tf2")
  bert_hub.export_tf2_saved_model(tiny.config_file, tiny.checkpoint_dir, path,
                                  vocab_file=tiny.vocab_file,
                                  do_lower_case=True)
  features = helpers.random_inputs(3, 12, tiny.bert_config.vocab_size, 5)
  direct = helpers.direct_bert_outputs(tiny.bert_config, tiny.checkpoint,
                                       **features)
  hub = bert_hub.import_tensorflow_hub()
  tf2 = bert_hub._tf2()  # pylint: disable=protected-access
  inputs = {k: tf2.constant(v) for k, v in features.items()}

  layer = hub.KerasLayer(path, trainable=True)
  out = layer(inputs)
  np.testing.assert_allclose(out["pooled_output"].numpy(),
                             direct["pooled_output"], atol=1e-5)
  np.testing.assert_allclose(out["sequence_output"].numpy(),
                             direct["sequence_output"], atol=1e-5)
  assert len(layer.trainable_weights) == len(
      tf.train.list_variables(tiny.checkpoint))

  loaded = hub.load(path)
  pooled, sequence = loaded([inputs["input_ids"], inputs["input_mask"],
                             inputs["segment_ids"]])
  np.testing.assert_allclose(pooled.numpy(), direct["pooled_output"],
                             atol=1e-5)
  assert sequence.shape == (3, 12, 32)
  assert bool(loaded.do_lower_case.numpy()) is True
  asset = loaded.vocab_file.asset_path.numpy().decode("utf-8")
  assert open(asset).read() == open(tiny.vocab_file).read()


def test_cli_exports_both_formats(tmp_path):
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  tiny = helpers.make_tiny_model(tmp_path / "m", with_global_step=False)
  features = helpers.random_inputs(2, 9, tiny.bert_config.vocab_size, 3)
  direct = helpers.direct_bert_outputs(tiny.bert_config, tiny.checkpoint,
                                       **features)
  hub = bert_hub.import_tensorflow_hub()
  for fmt in ("tf1", "tf2"):
    path = str(tmp_path / fmt)
    proc = subprocess.run(
        [sys.executable, "-m", "bert_tf.hub", "--format=" + fmt,
         "--bert_config_file=" + tiny.config_file,
         "--checkpoint=" + tiny.checkpoint_dir,
         "--vocab_file=" + tiny.vocab_file, "--do_lower_case=false",
         "--export_path=" + path],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == path
    if fmt == "tf1":
      assert bert_hub.read_tokenization_info(path)[1] is False
      with tf.Graph().as_default():
        module = hub.Module(path)
        out = module({k: tf.constant(v) for k, v in features.items()},
                     signature="tokens", as_dict=True)
        with tf.Session() as sess:
          sess.run(tf.global_variables_initializer())
          pooled = sess.run(out["pooled_output"])
    else:
      tf2 = bert_hub._tf2()  # pylint: disable=protected-access
      loaded = hub.load(path)
      pooled = loaded({k: tf2.constant(v) for k, v in features.items()}
                     )["pooled_output"].numpy()
      assert bool(loaded.do_lower_case.numpy()) is False
    np.testing.assert_allclose(pooled, direct["pooled_output"], atol=1e-5)
  # An existing path is refused without --overwrite, and left as it was.
  before = sorted(os.listdir(str(tmp_path / "tf1")))
  proc = subprocess.run(
      [sys.executable, "-m", "bert_tf.hub", "--format=tf1",
       "--bert_config_file=" + tiny.config_file,
       "--checkpoint=" + tiny.checkpoint_dir, "--vocab_file=" + tiny.vocab_file,
       "--export_path=" + str(tmp_path / "tf1")],
      capture_output=True, text=True, timeout=300)
  assert proc.returncode == 1 and "error:" in proc.stderr
  assert sorted(os.listdir(str(tmp_path / "tf1"))) == before

"""Mixed precision (float16 loss scaling, oneDNN bfloat16) and XLA.

The float16 graph rewrite acts on NVIDIA GPUs only, so on CPU these tests
check the part that is not GPU-specific: dynamic loss scaling (the same
updates as without it, skipped updates on inf/NaN, the scale's schedule) and
that `use_fp16` training runs through the library with it. bfloat16 and XLA
train tiny models through the real driver/script paths with the flags.
"""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from bert_tf import distributed
from bert_tf import optimization
from bert_tf.tasks import pretrainer
from bert_tf import runtime
from bert_tf.tasks import classifier
from test_classifier import write_mrpc_like
from test_classifier import write_tiny_config
from test_pretraining_model import PRED
from test_pretraining_model import SEQ
from test_pretraining_model import tiny_config
from test_pretraining_model import write_pretraining_records

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _scalars(output_dir, tag):
  """{step: value} of the scalar summary `tag` in output_dir's events
  (`tag` is a regular expression for the whole tag)."""
  values = {}
  for path in tf.io.gfile.glob(os.path.join(output_dir, "events.out.*")):
    for event in tf.train.summary_iterator(path):
      for value in event.summary.value:
        if re.fullmatch(tag, value.tag):
          values[event.step] = value.simple_value
  return values


def _assert_loss_falls(output_dir, factor=0.7, window=4):
  # The Estimator's "loss" summary is "loss_1" where a head already named
  # an op "loss".
  losses = _scalars(output_dir, r"loss(_\d+)?")
  steps = sorted(losses)
  assert len(steps) >= 2 * window, losses
  first = np.mean([losses[s] for s in steps[:window]])
  last = np.mean([losses[s] for s in steps[-window:]])
  assert last < factor * first, (first, last, losses)
  return first, last


def _linear_problem():
  rng = np.random.RandomState(5)
  w0 = rng.randn(3, 2).astype(np.float32)
  xs = rng.randn(48, 3).astype(np.float32)
  ys = (xs @ w0 + 1.0 + 0.1 * rng.randn(48, 2)).astype(np.float32)
  return w0, xs, ys


def _train_linear(init_loss_scale, optimizer_type="adamw", k=1, factors=None,
                  increment_period=3, steps=12):
  """Runs `steps` train-op runs on 4-example batches; returns the state."""
  w0, xs, ys = _linear_problem()
  with tf.Graph().as_default(), tf.Session() as sess:
    x = tf.placeholder(tf.float32, [None, 3])
    y = tf.placeholder(tf.float32, [None, 2])
    factor = tf.placeholder_with_default(1.0, [])
    w = tf.get_variable("linear/kernel", initializer=w0)
    b = tf.get_variable("linear/bias", initializer=np.ones(2, np.float32))
    loss = factor * tf.reduce_mean(tf.square(tf.matmul(x, w) + b - y))
    train_op = optimization.create_optimizer(
        loss, 0.05, num_train_steps=20, num_warmup_steps=2, use_tpu=False,
        optimizer_type=optimizer_type, num_accumulation_steps=k,
        init_loss_scale=init_loss_scale,
        loss_scale_increment_period=increment_period)
    slot = "lamb_m" if optimizer_type == "lamb" else "adam_m"
    m = [v for v in tf.global_variables()
         if v.op.name == "linear/kernel/" + slot][0]
    scale = tf.get_collection(optimization.LOSS_SCALE_COLLECTION)
    sess.run(tf.global_variables_initializer())
    history = []
    for i in range(steps):
      feed = {x: xs[4 * i:4 * i + 4], y: ys[4 * i:4 * i + 4]}
      if factors is not None:
        feed[factor] = factors[i]
      sess.run(train_op, feed)
      state = sess.run({"w": w, "b": b, "m": m,
                        "step": tf.train.get_global_step()})
      if scale:
        state["scale"] = sess.run(scale[0])
      history.append(state)
    return history


@pytest.mark.parametrize("optimizer_type,k", [
    ("adamw", 1), ("lamb", 1), ("adamw", 2), ("adamw_bias_corrected", 1),
    ("adamw_bias_corrected", 2)])
def test_loss_scaling_gives_the_unscaled_updates(optimizer_type, k):
  plain = _train_linear(None, optimizer_type, k)
  scaled = _train_linear(2.0 ** 12, optimizer_type, k)
  for a, b in zip(plain, scaled):
    assert a["step"] == b["step"]
    np.testing.assert_allclose(b["w"], a["w"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b["b"], a["b"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b["m"], a["m"], rtol=1e-5, atol=1e-7)
  assert plain[-1]["step"] == 12 // k
  assert not np.allclose(plain[-1]["b"], 1.0)
  # The scale doubles after every 3 finite updates in a row.
  expected = [2.0 ** 12 * 2 ** (s["step"] // 3) for s in scaled]
  assert [s["scale"] for s in scaled] == expected


@pytest.mark.parametrize("k,optimizer_type", [
    (1, "adamw"), (2, "adamw"), (2, "adamw_bias_corrected")])
def test_non_finite_gradients_skip_the_update_and_halve_the_scale(
    k, optimizer_type):
  steps = 4 * k
  factors = [1.0] * steps
  bad = 2 * k - 1  # the last micro-step of the second update
  factors[bad] = float("inf")
  history = _train_linear(2.0 ** 10, optimizer_type, k, factors=factors,
                          increment_period=100, steps=steps)
  before, after = history[bad - 1], history[bad]
  for key in ("w", "b", "m"):
    np.testing.assert_array_equal(after[key], before[key])
  assert after["step"] == before["step"] == 1
  assert after["scale"] == 2.0 ** 9 and before["scale"] == 2.0 ** 10
  # Training goes on: the next update applies (with accumulation, from
  # fresh accumulators: the skipped update's finite micro-step is gone).
  assert history[-1]["step"] == 3
  assert not np.allclose(history[-1]["w"], after["w"])
  assert all(np.isfinite(s["w"]).all() for s in history)


def _pretraining_config(tmp_path, **kwargs):
  data = str(tmp_path / "train.tfrecord")
  write_pretraining_records(data, n=64)
  config_file = str(tmp_path / "bert_config.json")
  with open(config_file, "w") as f:
    f.write(tiny_config().to_json_string())
  values = dict(input_file=data, bert_config_file=config_file,
                output_dir=str(tmp_path / "out"), max_seq_length=SEQ,
                max_predictions_per_seq=PRED, do_train=True,
                train_batch_size=16, learning_rate=2e-3, num_train_steps=40,
                num_warmup_steps=4, random_seed=3, log_every_n_steps=1)
  values.update(kwargs)
  return pretrainer.PretrainingConfig(**values)


def test_fp16_pretraining_runs_with_loss_scaling_on_cpu(tmp_path, caplog):
  """use_fp16 through the pretraining driver: the loss falls, the loss scale
  is summarised, logged and checkpointed, and the log says plainly that the
  float16 rewrite needs a GPU."""
  caplog.set_level("INFO")
  cfg = _pretraining_config(tmp_path, use_fp16=True, init_loss_scale=2.0 ** 15)
  pretrainer.run(cfg)
  _assert_loss_falls(cfg.output_dir)
  scales = _scalars(cfg.output_dir, "loss_scale")
  assert scales and scales[min(scales)] == 2.0 ** 15
  checkpoint = tf.train.latest_checkpoint(cfg.output_dir)
  assert checkpoint.endswith("model.ckpt-40")
  names = dict(tf.train.list_variables(checkpoint))
  assert "dynamic_loss_scale/current_loss_scale" in names
  assert tf.train.load_variable(
      checkpoint, "bert/embeddings/word_embeddings").dtype == np.float32
  text = caplog.text
  assert "loss scale = 32768" in text
  assert "Mixed precision: float16 graph rewrite" in text
  if not tf.config.list_physical_devices("GPU"):
    assert "acts only on NVIDIA GPUs and there is none here" in text
  # The session config asks for the float16 rewrite.
  rewrite = distributed.setup(cfg, log=False).session_config(
      ).graph_options.rewrite_options
  assert rewrite.auto_mixed_precision == 1  # RewriterConfig.ON


def test_bf16_classifier_training_loss_falls(tmp_path, tiny_vocab_file,
                                             caplog):
  """use_bf16 through classifier.run on a tiny generated MRPC-like task."""
  caplog.set_level("INFO")
  data_dir = str(tmp_path / "data")
  write_mrpc_like(data_dir, n_train=16, n_dev=8, n_test=2)
  cfg = classifier.ClassifierConfig(
      task_name="MRPC", data_dir=data_dir,
      bert_config_file=write_tiny_config(tmp_path / "bert_config.json",
                                         hidden_dropout_prob=0.0,
                                         attention_probs_dropout_prob=0.0),
      output_dir=str(tmp_path / "out"), vocab_file=tiny_vocab_file,
      max_seq_length=24, do_train=True, train_batch_size=8,
      learning_rate=1e-3, num_train_epochs=20.0, random_seed=2,
      log_every_n_steps=1, use_bf16=True)
  result = classifier.run(cfg)
  assert result["num_train_steps"] == 40
  _assert_loss_falls(cfg.output_dir, factor=0.5)
  assert "use_bf16: oneDNN automatic bfloat16 rewrite" in caplog.text
  rewrite = distributed.setup(cfg, log=False).session_config(
      ).graph_options.rewrite_options
  assert rewrite.auto_mixed_precision_onednn_bfloat16 == 1  # ON


_GRAPH_DTYPES_SCRIPT = """
import json, os, sys
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1"  # as the scripts set it
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow.compat.v1 as tf
from tensorflow.python.util import _pywrap_util_port
from bert_tf import runtime
tf.disable_eager_execution()
out = {"onednn": bool(_pywrap_util_port.IsMklEnabled())}
for use_bf16 in (False, True):
  with tf.Graph().as_default():
    x = tf.random.normal([32, 64], seed=1)
    w = tf.get_variable("w", [64, 64])
    loss = tf.reduce_mean(tf.matmul(tf.nn.relu(tf.matmul(x, w)), w))
    grad = tf.gradients(loss, w)[0]
    with tf.Session(config=runtime.make_session_config(
        use_bf16=use_bf16)) as sess:
      sess.run(tf.global_variables_initializer())
      metadata = tf.RunMetadata()
      sess.run(grad, options=tf.RunOptions(output_partition_graphs=True),
               run_metadata=metadata)
  dtypes = set()
  for graph in metadata.partition_graphs:
    for node in graph.node:
      for key in ("T", "SrcT", "DstT"):
        if key in node.attr:
          dtypes.add(tf.DType(node.attr[key].type).name)
  out["bf16" if use_bf16 else "fp32"] = sorted(dtypes)
print("RESULT " + json.dumps(out))
"""


def test_bf16_rewrite_computes_in_bfloat16():
  """The dtypes in the executed (rewritten) graph of a small matmul net,
  with oneDNN on as the scripts turn it on (bert_tf.script_env). On every
  x86 CPU, AVX2-only ones included: there the graph is rewritten all the
  same and runs on TensorFlow's generic kernels (host.bf16_note)."""
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  proc = subprocess.run(
      [sys.executable, "-c", _GRAPH_DTYPES_SCRIPT], capture_output=True,
      text=True, cwd=root, timeout=300,
      env=dict(os.environ, PYTHONPATH=root))
  assert proc.returncode == 0, proc.stderr[-3000:]
  line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")][-1]
  out = json.loads(line[len("RESULT "):])
  if not out["onednn"]:
    pytest.skip("TensorFlow's oneDNN (MKL) kernels are not enabled in this "
                "build (non-x86), so the oneDNN bfloat16 rewrite cannot act")
  assert "bfloat16" not in out["fp32"]
  assert "bfloat16" in out["bf16"]


def test_xla_pretraining_script_compiles_and_loss_falls(tmp_path):
  """run_pretraining.py --use_xla (with LAMB and 2 accumulation steps, also
  by flag): XLA compiles clusters on CPU, the loss falls, and the global
  step counts updates."""
  data = str(tmp_path / "train.tfrecord")
  write_pretraining_records(data, n=64)
  config_file = str(tmp_path / "bert_config.json")
  with open(config_file, "w") as f:
    f.write(tiny_config().to_json_string())
  out = str(tmp_path / "out")
  cmd = [sys.executable, os.path.join(ROOT, "run_pretraining.py"),
         "--input_file=" + data, "--output_dir=" + out, "--do_train",
         "--bert_config_file=" + config_file, "--train_batch_size=8",
         "--max_seq_length=%d" % SEQ, "--max_predictions_per_seq=%d" % PRED,
         "--num_train_steps=30", "--num_warmup_steps=3",
         "--learning_rate=3e-2", "--random_seed=3", "--log_every_n_steps=1",
         "--use_xla", "--optimizer_type=lamb", "--num_accumulation_steps=2"]
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="0")
  env.pop("TF_XLA_FLAGS", None)
  proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                        env=env)
  assert proc.returncode == 0, proc.stderr[-3000:]
  log = proc.stderr
  # TF's own line, printed once per process when XLA compiled a cluster.
  assert "Compiled cluster using XLA" in log
  assert re.search(r"XLA: JIT compilation of the graph on \(TF_XLA_FLAGS=.*"
                   r"--tf_xla_cpu_global_jit", log)
  assert "Optimizer: lamb, 2 accumulation step(s) per update." in log
  assert ("Effective batch size: 8 per process x 2 accumulation step(s) x 1 "
          "process(es) = 16 examples per update.") in log
  assert tf.train.latest_checkpoint(out).endswith("model.ckpt-30")
  # Masked-LM + next-sentence loss from ~4.8 (LAMB: 3.7 after 30 updates
  # without XLA).
  _assert_loss_falls(out, factor=0.85)

"""oneDNN fusions of modeling.py's graph (issue 17).

The default graph (`modeling.fusible_ops(True)`) writes dense + GELU and layer
norm in the op patterns TensorFlow 2.15's grappler remapper fuses on CPU with
oneDNN: the optimized graph of an inference model must contain
`_MklNativeFusedMatMul` with fused_ops [BiasAdd, GeluApproximate] (tanh GELU,
the reference's "gelu") or [BiasAdd, GeluExact] ("gelu_exact"), and its outputs
must equal the reference op sequence's (`fusible_ops(False)`) to 1e-5.

The graph checks run in a subprocess with TF_ENABLE_ONEDNN_OPTS=1 set before
TensorFlow is imported (the variable is read once per process); they are
skipped, naming the reason, where oneDNN is not available (non-x86 builds).
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from bert_tf import modeling

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TINY = dict(vocab_size=100, hidden_size=32, num_hidden_layers=2,
            num_attention_heads=4, intermediate_size=37,
            hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
            max_position_embeddings=64, type_vocab_size=2,
            initializer_range=0.02)

_SCRIPT = textwrap.dedent("""
    import json, os, sys
    os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    import tensorflow.compat.v1 as tf
    tf.disable_eager_execution()
    from tensorflow.python.util import _pywrap_util_port
    from bert_tf import benchmark, modeling, runtime

    args = json.loads(sys.argv[1])
    onednn = bool(_pywrap_util_port.IsMklEnabled())
    config = modeling.BertConfig.from_dict(args["config"])
    rng = np.random.RandomState(0)
    ids = rng.randint(1, config.vocab_size, size=(3, 16)).astype(np.int32)
    mask = np.ones((3, 16), np.int32)
    mask[1, 10:] = 0
    out = {"onednn": onednn}
    for fusible in (True, False):
      graph = tf.Graph()
      with graph.as_default(), modeling.fusible_ops(fusible):
        tf.set_random_seed(7)
        # Inputs held in variables: nothing is constant-folded away. With
        # "dynamic", fed placeholders whose batch axis is unknown until run
        # time (as in exports).
        feed = {}
        if args.get("dynamic"):
          input_ids = tf.placeholder(tf.int32, [None, 16])
          input_mask = tf.placeholder(tf.int32, [None, 16])
          feed = {input_ids: ids, input_mask: mask}
        else:
          input_ids = tf.Variable(ids, trainable=False)
          input_mask = tf.Variable(mask, trainable=False)
        model = modeling.BertModel(config, is_training=False,
                                   input_ids=input_ids, input_mask=input_mask)
        fetch = [model.get_sequence_output(), model.get_pooled_output()]
        names = sorted(v.name for v in tf.global_variables())
        init = tf.global_variables_initializer()
      session_config = runtime.make_session_config(
          use_bf16=args["bf16"], intra_op_threads=1, inter_op_threads=1,
          bf16_inference=args["bf16"])
      with tf.Session(graph=graph, config=session_config) as sess:
        sess.run(init)
        metadata = tf.RunMetadata()
        values = sess.run(fetch, feed, options=tf.RunOptions(
            output_partition_graphs=True), run_metadata=metadata)
      key = "fused" if fusible else "reference"
      out[key] = {
          "fused_ops": benchmark.count_fused_ops(metadata.partition_graphs),
          "low_precision": benchmark.count_low_precision_ops(
              metadata.partition_graphs),
          "ops": sorted({n.op for g in metadata.partition_graphs
                         for n in g.node}),
          "variables": names,
          "values": [v.tolist() for v in values]}
    print("RESULT " + json.dumps(out))
""")


def _run_script(script, args):
  """Runs `script` with oneDNN on (and the bfloat16 lists as TF ships them);
  returns its RESULT json, or skips where oneDNN is not enabled."""
  env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS="1", PYTHONPATH=ROOT)
  for name in ("INFERLIST_ADD", "INFERLIST_REMOVE", "DENYLIST_ADD",
               "DENYLIST_REMOVE"):
    env.pop("TF_AUTO_MIXED_PRECISION_GRAPH_REWRITE_" + name, None)
  proc = subprocess.run(
      [sys.executable, "-c", script, json.dumps(args)],
      capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")][-1]
  out = json.loads(line[len("RESULT "):])
  if not out["onednn"]:
    pytest.skip("TensorFlow's oneDNN (MKL) kernels are not enabled in this "
                "build, so grappler's oneDNN rewrites cannot be observed")
  return out


def _run_graphs(hidden_act, bf16=False, dynamic=False):
  return _run_script(_SCRIPT, {"config": dict(TINY, hidden_act=hidden_act),
                               "bf16": bf16, "dynamic": dynamic})


@pytest.mark.parametrize("hidden_act,gelu_op,dynamic", [
    ("gelu", "GeluApproximate", False), ("gelu_exact", "GeluExact", False),
    ("gelu", "GeluApproximate", True)])
def test_optimized_graph_fuses_dense_and_gelu(hidden_act, gelu_op, dynamic):
  out = _run_graphs(hidden_act, dynamic=dynamic)
  fused, reference = out["fused"], out["reference"]
  key = "_MklNativeFusedMatMul[BiasAdd,%s]" % gelu_op
  # One intermediate dense layer per encoder layer.
  assert fused["fused_ops"].get(key) == TINY["num_hidden_layers"], fused[
      "fused_ops"]
  if hidden_act == "gelu":
    # The reference's op order is not matched: GELU stays separate ops.
    assert key not in reference["fused_ops"], reference["fused_ops"]
    assert "Tanh" in reference["ops"]
  # The attention scores: BatchMatMul + scale + mask in one op, in both.
  for graph in (fused, reference):
    assert graph["fused_ops"].get("_MklFusedBatchMatMulV2[Mul,Add]") == 2
  # Every layer norm (embeddings, then two per layer) in one oneDNN kernel in
  # the inference graph; the reference's moments + batch_normalization stays
  # elementwise.
  layer_norms = 2 * TINY["num_hidden_layers"] + 1
  assert fused["fused_ops"].get("_MklLayerNorm") == layer_norms, fused[
      "fused_ops"]
  assert "_MklLayerNorm" not in reference["fused_ops"]
  # Both residual adds of every layer fused with their dense layer, with a
  # dynamic batch axis too (the reference's attention output loses it there:
  # grappler cannot tell its rows B*F equal the residual's).
  residual = "_MklNativeFusedMatMul[BiasAdd,Add]"
  assert fused["fused_ops"].get(residual) == 2 * TINY["num_hidden_layers"]
  if dynamic:
    assert reference["fused_ops"].get(residual) == TINY["num_hidden_layers"]
  # Same variables, same outputs (float32) to 1e-5.
  assert fused["variables"] == reference["variables"]
  for a, b in zip(fused["values"], reference["values"]):
    np.testing.assert_allclose(np.array(a), np.array(b), rtol=0, atol=1e-5)


def test_every_layer_fuses_attention_scores_and_mask():
  """With 12 layers grappler's common-subexpression pass shares one mask
  adder among the layers and orders each AddV2's inputs by node name, so in
  layers 2-9 the mask comes first. The remapper tells the scaled scores from
  the mask by op type, and the reference writes both as Muls: 4 of 12 layers
  fuse there. bert_tf's mask ends in a Sub, and all 12 fuse."""
  config = dict(TINY, hidden_act="gelu", num_hidden_layers=12)
  out = _run_script(_SCRIPT, {"config": config, "bf16": False})
  key = "_MklFusedBatchMatMulV2[Mul,Add]"
  assert out["fused"]["fused_ops"].get(key) == 12, out["fused"]["fused_ops"]
  assert out["reference"]["fused_ops"].get(key, 0) < 12
  assert out["fused"]["fused_ops"].get("_MklLayerNorm") == 25
  for a, b in zip(out["fused"]["values"], out["reference"]["values"]):
    np.testing.assert_allclose(np.array(a), np.array(b), rtol=0, atol=1e-5)


@pytest.mark.parametrize("shape,static", [
    ((6, 32), True), ((2, 5, 32), True), ((2, 5, 32), False)])
def test_onednn_layer_norm_form_values_and_gradients(shape, static):
  """The form oneDNN fuses (`modeling._layer_norm_onednn`: a training-mode
  NCHW batch norm per row, then gamma and beta) against numpy, values and
  gradients, with a static row count (placeholder_with_default) and a
  dynamic one; whatever the backend (without oneDNN it runs as TensorFlow's
  own FusedBatchNormV3)."""
  rng = np.random.RandomState(4)
  # Rows of very different scales: epsilon must be 1e-12, not 1e-3.
  x = (rng.randn(*shape) * np.logspace(-2, 1, shape[-1])).astype(np.float32)
  gamma = (rng.rand(shape[-1]) + 0.5).astype(np.float32)
  beta = rng.randn(shape[-1]).astype(np.float32)
  upstream = rng.randn(*shape).astype(np.float32)
  with tf.Graph().as_default():
    ph = tf.placeholder(tf.float32, shape if static else
                        [None] + list(shape[1:]))
    g, b = tf.constant(gamma), tf.constant(beta)
    outputs = {}
    for name, fn in (("onednn", modeling._layer_norm_onednn),
                     ("elementwise", None)):
      if fn is None:
        mean = tf.reduce_mean(ph, axis=-1, keepdims=True)
        var = tf.reduce_mean(tf.square(ph - mean), axis=-1, keepdims=True)
        y = (ph - mean) * tf.math.rsqrt(var + 1e-12) * g + b
      else:
        y = fn(ph, g, b)
      assert y.shape.as_list() == ph.shape.as_list()
      grads = tf.gradients(tf.reduce_sum(y * upstream), [ph, g, b])
      outputs[name] = [y] + grads
    with tf.Session() as sess:
      values = sess.run(outputs, {ph: x})
  m = x.mean(-1, keepdims=True)
  expected = (x - m) / np.sqrt(((x - m) ** 2).mean(-1, keepdims=True) +
                               1e-12) * gamma + beta
  np.testing.assert_allclose(values["onednn"][0], expected, rtol=0,
                             atol=2e-5)
  for got, want in zip(values["onednn"], values["elementwise"]):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_layer_norm_form_follows_training_and_backend(monkeypatch):
  """Inference graphs on oneDNN CPUs take the fusible form; training graphs,
  and every graph where oneDNN is off or a GPU is seen, keep the
  elementwise one (oneDNN's batch norm and its gradient are slower there,
  TensorFlow's own NCHW batch norm about 3.5x slower)."""
  config = modeling.BertConfig.from_dict(dict(TINY, hidden_act="gelu"))
  ids = np.ones((2, 8), np.int32)

  def batch_norms(is_training, onednn):
    monkeypatch.setattr(modeling, "_ONEDNN_CPU_ONLY", onednn)
    with tf.Graph().as_default() as graph:
      modeling.BertModel(config, is_training, tf.constant(ids))
      return sum(op.type == "FusedBatchNormV3"
                 for op in graph.get_operations())

  assert batch_norms(False, True) == 2 * TINY["num_hidden_layers"] + 1
  assert batch_norms(True, True) == 0
  assert batch_norms(False, False) == 0
  with modeling.fusible_ops(False):
    assert batch_norms(False, True) == 0


def test_fusible_switch_keeps_names_and_numerics_without_onednn():
  """Whatever the backend: the two op sequences compute the same function
  (1e-5) with the same variables, and gelu() equals the reference formula."""
  config = modeling.BertConfig.from_dict(dict(TINY, hidden_act="gelu"))
  ids = np.random.RandomState(1).randint(1, 100, size=(2, 12)).astype(
      np.int32)
  results = {}
  for fusible in (True, False):
    with tf.Graph().as_default():
      with modeling.fusible_ops(fusible):
        tf.set_random_seed(3)
        model = modeling.BertModel(config, False, tf.constant(ids))
        x = tf.constant(np.linspace(-6, 6, 101).astype(np.float32))
        g = modeling.gelu(x)
      names = sorted(v.name for v in tf.global_variables())
      with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        results[fusible] = (names, sess.run(
            [model.get_sequence_output(), model.get_pooled_output(), g]))
  assert modeling.fusible_ops_enabled()  # the default, restored
  assert results[True][0] == results[False][0]
  for a, b in zip(results[True][1], results[False][1]):
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
  xs = np.linspace(-6, 6, 101)
  expected = 0.5 * xs * (1 + np.tanh(np.sqrt(2 / np.pi) *
                                      (xs + 0.044715 * xs ** 3)))
  np.testing.assert_allclose(results[True][1][2], expected, atol=1e-6)


def _has_cpu_flag(flag):
  try:
    with open("/proc/cpuinfo") as f:
      return any(flag in line.split() for line in f
                 if line.startswith("flags"))
  except OSError:
    return False


def _require_native_bf16():
  if not _has_cpu_flag("avx512_bf16") and not _has_cpu_flag("amx_bf16"):
    pytest.skip("this CPU lacks avx512_bf16 (and amx_bf16): oneDNN's "
                "bfloat16 rewrite would be emulated or not act")


def test_bf16_rewrite_acts_and_keeps_accuracy():
  _require_native_bf16()
  out = _run_graphs("gelu", bf16=True)
  fused = out["fused"]
  assert fused["low_precision"]["bfloat16"] > 0
  assert fused["fused_ops"].get("_MklFusedBatchMatMulV2[Mul,Add]") == 2
  for a, b in zip(fused["values"], out["reference"]["values"]):
    # bfloat16 has 8 bits of mantissa: outputs of order one within ~5e-2.
    np.testing.assert_allclose(np.array(a), np.array(b), rtol=0, atol=0.1)


def test_bf16_inference_rewrite_keeps_dense_gelu_fusion():
  """With `bf16_inference` (runtime.BF16_INFERENCE_PASSES) the intermediate
  dense layer and its GELU run as one bfloat16 fused op in both op
  sequences' graphs; the default bfloat16 rewrite would leave GELU in
  float32 (Pow denied, Tanh unlisted in TF 2.15) and unfused."""
  _require_native_bf16()
  out = _run_graphs("gelu", bf16=True)
  assert out["fused"]["fused_ops"].get(
      "_MklNativeFusedMatMul[BiasAdd,GeluApproximate]") == 2, out["fused"][
          "fused_ops"]


_TRAIN_SCRIPT = textwrap.dedent("""
    import collections, json, os, sys
    os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    import tensorflow.compat.v1 as tf
    tf.disable_eager_execution()
    from tensorflow.python.util import _pywrap_util_port
    from bert_tf import heads, modeling, optimization, runtime

    args = json.loads(sys.argv[1])
    config = modeling.BertConfig.from_dict(args["config"])
    rng = np.random.RandomState(0)
    ids = rng.randint(1, config.vocab_size, size=(4, 16)).astype(np.int32)
    out = {"onednn": bool(_pywrap_util_port.IsMklEnabled())}
    for fusible in (True, False):
      graph = tf.Graph()
      with graph.as_default():
        tf.set_random_seed(7)
        input_ids = tf.Variable(ids, trainable=False)
        labels = tf.Variable([0, 1, 1, 0], trainable=False)
        with modeling.fusible_ops(fusible):
          model = modeling.BertModel(config, is_training=True,
                                     input_ids=input_ids)
        loss = heads.create_classification_output(
            config, model.get_pooled_output(), labels, 2, True)[0]
        train_op = optimization.create_optimizer(loss, 1e-4, 10, 1, False,
                                                 fused=fusible)
        init = tf.global_variables_initializer()
        trainable = len(tf.trainable_variables())
      session_config = runtime.make_session_config(
          use_bf16=True, intra_op_threads=1, inter_op_threads=1)
      with tf.Session(graph=graph, config=session_config) as sess:
        sess.run(init)
        metadata = tf.RunMetadata()
        sess.run([train_op, loss], options=tf.RunOptions(
            output_partition_graphs=True), run_metadata=metadata)
      dtypes = collections.defaultdict(list)
      casts = 0
      for g in metadata.partition_graphs:
        for n in g.node:
          if n.op == "Cast":
            casts += 1
          elif "T" in n.attr:
            dtypes[n.op].append(tf.as_dtype(n.attr["T"].type).name)
      out["fused" if fusible else "reference"] = {
          "casts": casts, "dtypes": dtypes, "trainable": trainable}
    print("RESULT " + json.dumps(out))
""")


def test_bf16_training_graph_keeps_loss_and_update_in_float32():
  """Issue 17, point 2, in a training graph under the bfloat16 rewrite:
  bert_tf's graph has no Cast the reference op sequence lacks (it has fewer:
  the fused optimizer update is not split into bfloat16 pieces), the loss's
  log-softmax runs in float32 (runtime.BF16_FLOAT32_OPS) and the Adam update
  (ResourceApplyAdam) in float32, while the matmuls run in bfloat16. The
  rewrite acts on every x86 oneDNN build (emulated without AVX512-BF16), so
  this runs everywhere oneDNN is on."""
  out = _run_script(_TRAIN_SCRIPT, {"config": dict(TINY, hidden_act="gelu")})
  fused, reference = out["fused"], out["reference"]
  assert fused["casts"] <= reference["casts"], (fused["casts"],
                                                reference["casts"])
  for graph in (fused, reference):
    assert set(graph["dtypes"]["LogSoftmax"]) == {"float32"}, graph["dtypes"][
        "LogSoftmax"]
    # The matmuls run in bfloat16: as oneDNN's _MklMatMul/_MklNativeFusedMatMul
    # where the CPU has AVX-512, as plain MatMul (oneDNN's layout pass leaves
    # bfloat16 to Eigen) on an AVX2-only CPU.
    matmul_dtypes = [t for op, types in graph["dtypes"].items()
                     if op.endswith("MatMul") for t in types]
    assert "bfloat16" in matmul_dtypes, dict(graph["dtypes"])
  assert set(fused["dtypes"]["ResourceApplyAdam"]) == {"float32"}
  # One fused update per trainable variable.
  assert len(fused["dtypes"]["ResourceApplyAdam"]) == fused["trainable"]
  assert "ResourceApplyAdam" not in reference["dtypes"]


@pytest.mark.parametrize("use_tpu", [False, True])
def test_model_fn_builds_the_oneDNN_patterns_except_for_tpus(use_tpu,
                                                            monkeypatch):
  """The Estimator's prediction graph takes the layer norm oneDNN fuses on
  a oneDNN CPU; with use_tpu (XLA on a TPU) the reference's op sequence."""
  from bert_tf import heads  # pylint: disable=g-import-not-at-top
  from bert_tf import model_fn as model_fn_lib  # pylint: disable=g-import-not-at-top
  monkeypatch.setattr(modeling, "_ONEDNN_CPU_ONLY", True)
  config = modeling.BertConfig.from_dict(dict(TINY, hidden_act="gelu"))
  model_fn = model_fn_lib.model_fn_builder(
      config, heads.ClassificationHead(2), use_tpu=use_tpu)
  with tf.Graph().as_default() as graph:
    features = {name: tf.ones([2, 8], tf.int32) for name in (
        "input_ids", "input_mask", "segment_ids")}
    features["label_ids"] = tf.zeros([2], tf.int32)
    model_fn(features, None, tf.estimator.ModeKeys.PREDICT, {})
    types = [op.type for op in graph.get_operations()]
  if use_tpu:
    assert "FusedBatchNormV3" not in types
    assert "SquaredDifference" in types  # the reference's moments
  else:
    assert types.count("FusedBatchNormV3") == 2 * TINY["num_hidden_layers"] + 1
  assert modeling.fusible_ops_enabled()

"""Tests for bert_tf.modeling: names, shapes, config JSON and numerics."""

import json
import math

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from bert_tf import modeling


def tiny_config(**overrides):
  values = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2,
                num_attention_heads=4, intermediate_size=37,
                hidden_act="gelu", hidden_dropout_prob=0.1,
                attention_probs_dropout_prob=0.1, max_position_embeddings=64,
                type_vocab_size=3, initializer_range=0.02)
  values.update(overrides)
  return modeling.BertConfig(**values)


def build(config, batch=3, seq=7, is_training=False, seed=1):
  rng = np.random.RandomState(seed)
  ids = rng.randint(0, config.vocab_size, size=(batch, seq)).astype(np.int32)
  mask = np.ones((batch, seq), np.int32)
  mask[1, 4:] = 0
  types = rng.randint(0, config.type_vocab_size, size=(batch, seq)).astype(
      np.int32)
  model = modeling.BertModel(
      config=config, is_training=is_training, input_ids=tf.constant(ids),
      input_mask=tf.constant(mask), token_type_ids=tf.constant(types))
  return model, ids, mask, types


def test_config_defaults_and_json_round_trip(tmp_path):
  config = modeling.BertConfig(vocab_size=30522)
  assert config.type_vocab_size == 16
  assert config.hidden_act == "gelu"
  assert config.hidden_size == 768 and config.num_hidden_layers == 12
  assert config.initializer_range == 0.02
  path = tmp_path / "bert_config.json"
  path.write_text(config.to_json_string())
  loaded = modeling.BertConfig.from_json_file(str(path))
  assert loaded.to_dict() == config.to_dict()
  assert json.loads(config.to_json_string())["vocab_size"] == 30522
  again = modeling.BertConfig.from_dict({"vocab_size": 5, "hidden_size": 8})
  assert again.hidden_size == 8 and again.num_hidden_layers == 12


def test_config_errors_name_the_file(tmp_path):
  with pytest.raises(FileNotFoundError, match="nope.json"):
    modeling.BertConfig.from_json_file(str(tmp_path / "nope.json"))
  bad = tmp_path / "bad.json"
  bad.write_text("{not json")
  with pytest.raises(ValueError, match="bad.json"):
    modeling.BertConfig.from_json_file(str(bad))


def test_configs_directory_loads():
  import pathlib
  configs = sorted(
      (pathlib.Path(__file__).parents[1] / "configs").glob("*.json"))
  assert len(configs) >= 7
  for path in configs:
    config = modeling.BertConfig.from_json_file(str(path))
    assert config.hidden_size % config.num_attention_heads == 0, path


def test_variable_names_and_shapes():
  config = tiny_config()
  with tf.Graph().as_default():
    build(config)
    shapes = {v.name[:-2]: v.shape.as_list() for v in tf.global_variables()}
  h, i, v = 32, 37, 99
  expected = {
      "bert/embeddings/word_embeddings": [v, h],
      "bert/embeddings/token_type_embeddings": [3, h],
      "bert/embeddings/position_embeddings": [64, h],
      "bert/embeddings/LayerNorm/gamma": [h],
      "bert/embeddings/LayerNorm/beta": [h],
      "bert/pooler/dense/kernel": [h, h],
      "bert/pooler/dense/bias": [h],
  }
  for layer in range(2):
    p = "bert/encoder/layer_%d/" % layer
    for name in ("query", "key", "value"):
      expected[p + "attention/self/%s/kernel" % name] = [h, h]
      expected[p + "attention/self/%s/bias" % name] = [h]
    expected[p + "attention/output/dense/kernel"] = [h, h]
    expected[p + "attention/output/dense/bias"] = [h]
    expected[p + "attention/output/LayerNorm/gamma"] = [h]
    expected[p + "attention/output/LayerNorm/beta"] = [h]
    expected[p + "intermediate/dense/kernel"] = [h, i]
    expected[p + "intermediate/dense/bias"] = [i]
    expected[p + "output/dense/kernel"] = [i, h]
    expected[p + "output/dense/bias"] = [h]
    expected[p + "output/LayerNorm/gamma"] = [h]
    expected[p + "output/LayerNorm/beta"] = [h]
  assert shapes == expected


def test_output_shapes_and_dropout_only_in_training():
  config = tiny_config()
  with tf.Graph().as_default():
    model, _, _, _ = build(config, is_training=False)
    assert model.get_pooled_output().shape.as_list() == [3, 32]
    assert model.get_sequence_output().shape.as_list() == [3, 7, 32]
    assert model.get_embedding_output().shape.as_list() == [3, 7, 32]
    assert model.get_embedding_table().shape.as_list() == [99, 32]
    assert len(model.get_all_encoder_layers()) == 2
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      a = sess.run(model.get_sequence_output())
      b = sess.run(model.get_sequence_output())
    np.testing.assert_array_equal(a, b)  # no dropout at inference
    ops = [op.type for op in tf.get_default_graph().get_operations()]
    assert "RandomUniform" not in ops
  with tf.Graph().as_default():
    tf.set_random_seed(0)
    model, _, _, _ = build(config, is_training=True)
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      a = sess.run(model.get_sequence_output())
      b = sess.run(model.get_sequence_output())
    assert not np.allclose(a, b)


def test_every_op_feeds_the_outputs():
  """No op is left unreachable from the model's outputs (bar variable plumbing)."""
  config = tiny_config()
  with tf.Graph().as_default() as graph:
    model, _, _, _ = build(config, is_training=True)
    outputs = ([model.get_pooled_output(), model.get_embedding_table()] +
               model.get_all_encoder_layers())
    reachable = set()
    stack = [t.op for t in outputs]
    while stack:
      op = stack.pop()
      if op.name in reachable:
        continue
      reachable.add(op.name)
      stack.extend(t.op for t in op.inputs)
      stack.extend(op.control_inputs)
    # Variable plumbing (initializers, assigns, is-initialized checks) lives
    # under the variable's own name scope.
    var_scopes = tuple(v.op.name + "/" for v in tf.global_variables())
    orphans = [op.name for op in graph.get_operations()
               if op.name not in reachable and
               not op.name.startswith(var_scopes)]
    assert orphans == []


def _np_gelu_tanh(x):
  return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)))


def test_activations_against_formulas():
  x = np.linspace(-6, 6, 101).astype(np.float32)
  exact = np.array([0.5 * v * (1.0 + math.erf(v / math.sqrt(2.0))) for v in x])
  with tf.Graph().as_default(), tf.Session() as sess:
    g, ge = sess.run([modeling.gelu(tf.constant(x)),
                      modeling.gelu_exact(tf.constant(x))])
  np.testing.assert_allclose(g, _np_gelu_tanh(x.astype(np.float64)), atol=1e-6)
  np.testing.assert_allclose(ge, exact, atol=1e-6)
  # The two variants genuinely differ (by up to ~1e-3 around |x| ~ 2).
  assert np.max(np.abs(g - ge)) > 1e-4
  assert modeling.get_activation("gelu") is modeling.gelu
  assert modeling.get_activation("gelu_exact") is modeling.gelu_exact
  assert modeling.get_activation("linear") is None
  assert modeling.get_activation("") is None
  assert modeling.get_activation(tf.nn.relu) is tf.nn.relu
  with pytest.raises(ValueError, match="swish"):
    modeling.get_activation("swish")


def test_layer_norm_epsilon_and_values():
  rng = np.random.RandomState(0)
  x = rng.randn(4, 6).astype(np.float32) * 3 + 1
  x[0] = 2.5  # constant row: variance 0, epsilon decides the result
  with tf.Graph().as_default(), tf.Session() as sess:
    out = modeling.layer_norm(tf.constant(x), name="LayerNorm")
    sess.run(tf.global_variables_initializer())
    y = sess.run(out)
    names = sorted(v.name for v in tf.global_variables())
  assert names == ["LayerNorm/beta:0", "LayerNorm/gamma:0"]
  mean = x.mean(-1, keepdims=True)
  var = x.var(-1, keepdims=True)
  np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-12), atol=2e-5)
  np.testing.assert_array_equal(y[0], np.zeros(6, np.float32))


def test_attention_mask_and_masked_positions_are_ignored():
  """Changing a padded token's id must not change the real tokens' outputs."""
  config = tiny_config()
  with tf.Graph().as_default():
    ids = tf.placeholder(tf.int32, [2, 6])
    mask = tf.constant([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]])
    model = modeling.BertModel(config, False, ids, input_mask=mask)
    attention_mask = modeling.create_attention_mask_from_input_mask(ids, mask)
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      m = sess.run(attention_mask)
      base = np.array([[5, 6, 7, 8, 9, 10], [5, 6, 7, 8, 9, 10]], np.int32)
      changed = base.copy()
      changed[1, 3:] = [50, 60, 70]
      a = sess.run(model.get_sequence_output(), {ids: base})
      b = sess.run(model.get_sequence_output(), {ids: changed})
  assert m.shape == (2, 6, 6)
  np.testing.assert_array_equal(m[1], np.tile([1, 1, 1, 0, 0, 0], (6, 1)))
  np.testing.assert_allclose(a[1, :3], b[1, :3], atol=1e-6)
  np.testing.assert_array_equal(a[0], b[0])
  assert not np.allclose(a[1, 3:], b[1, 3:])


def test_single_layer_against_numpy():
  """One encoder layer recomputed in numpy from the graph's own variables."""
  config = tiny_config(num_hidden_layers=1, hidden_act="gelu")
  with tf.Graph().as_default():
    model, ids, mask, types = build(config, batch=2, seq=5)
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      # Give biases and LayerNorm params non-trivial values.
      rng = np.random.RandomState(3)
      for var in tf.global_variables():
        if var.name.endswith(("bias:0", "beta:0", "gamma:0")):
          var.load(rng.randn(*var.shape.as_list()).astype(np.float32) * 0.1 +
                   (1.0 if "gamma" in var.name else 0.0), sess)
      w = {v.name[:-2]: sess.run(v) for v in tf.global_variables()}
      seq_out, pooled = sess.run(
          [model.get_sequence_output(), model.get_pooled_output()])

  def ln(x, p):
    mu = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + 1e-12) * w[p + "/gamma"] + w[p + "/beta"]

  def dense(x, p):
    return x @ w[p + "/kernel"] + w[p + "/bias"]

  e = (w["bert/embeddings/word_embeddings"][ids] +
       w["bert/embeddings/token_type_embeddings"][types] +
       w["bert/embeddings/position_embeddings"][:ids.shape[1]][None])
  x = ln(e, "bert/embeddings/LayerNorm")
  p = "bert/encoder/layer_0/"
  b, s, h, n = 2, 5, 32, 4
  d = h // n

  def heads(t):
    return t.reshape(b, s, n, d).transpose(0, 2, 1, 3)

  q = heads(dense(x, p + "attention/self/query"))
  k = heads(dense(x, p + "attention/self/key"))
  v = heads(dense(x, p + "attention/self/value"))
  scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(d)
  scores += (1.0 - mask[:, None, None, :]) * -10000.0
  probs = np.exp(scores - scores.max(-1, keepdims=True))
  probs /= probs.sum(-1, keepdims=True)
  ctx = (probs @ v).transpose(0, 2, 1, 3).reshape(b, s, h)
  attn = ln(dense(ctx, p + "attention/output/dense") + x,
            p + "attention/output/LayerNorm")
  inter = _np_gelu_tanh(dense(attn, p + "intermediate/dense"))
  out = ln(dense(inter, p + "output/dense") + attn, p + "output/LayerNorm")
  np.testing.assert_allclose(seq_out, out, atol=2e-5)
  np.testing.assert_allclose(
      pooled, np.tanh(dense(out[:, 0], "bert/pooler/dense")), atol=2e-5)


def test_max_position_embeddings_is_enforced():
  config = tiny_config(max_position_embeddings=8)
  with tf.Graph().as_default():
    with pytest.raises(ValueError, match="max_position_embeddings=8"):
      modeling.BertModel(config, False, tf.zeros([2, 9], tf.int32))


def test_hidden_size_must_divide_heads():
  config = tiny_config(num_attention_heads=5)
  with tf.Graph().as_default():
    with pytest.raises(ValueError, match="multiple of the number of attention"):
      modeling.BertModel(config, False, tf.zeros([2, 4], tf.int32))


def test_rank_errors_name_the_tensor():
  with tf.Graph().as_default():
    with pytest.raises(ValueError, match="input_ids"):
      modeling.BertModel(tiny_config(), False, tf.zeros([2, 4, 5, 6], tf.int32))


def test_dynamic_batch_and_length():
  config = tiny_config()
  with tf.Graph().as_default():
    ids = tf.placeholder(tf.int32, [None, None])
    model = modeling.BertModel(config, False, ids)
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      out = sess.run(model.get_pooled_output(),
                     {ids: np.ones((5, 11), np.int32)})
  assert out.shape == (5, 32)


def _last_layer_rows(graph, num_layers):
  """Rows of the last layer's intermediate (feed-forward) matmul, as run."""
  scope = "bert/encoder/layer_%d/intermediate/" % (num_layers - 1)
  (matmul,) = [op for op in graph.get_operations()
               if op.name.startswith(scope) and op.type == "MatMul"]
  return matmul.outputs[0]


@pytest.mark.parametrize("dynamic", [False, True])
@pytest.mark.parametrize("is_training", [False, True])
def test_output_positions_compute_only_the_rows_read(dynamic, is_training):
  """`output_positions`: the last layer computes [CLS] and the given rows
  only; pooled output, those rows and every gradient equal the full model's
  (dropout off), with the same variables."""
  config = tiny_config(num_hidden_layers=3, hidden_dropout_prob=0.0,
                       attention_probs_dropout_prob=0.0)
  rng = np.random.RandomState(3)
  batch, seq = 4, 9
  ids = rng.randint(0, config.vocab_size, size=(batch, seq)).astype(np.int32)
  mask = np.ones((batch, seq), np.int32)
  mask[1, 5:] = 0
  mask[3, 2:] = 0
  positions = np.array([[3, 0, 8], [4, 4, 1], [0, 2, 7], [1, 6, 5]],
                       np.int32)
  shape = [None, None] if dynamic else [batch, seq]
  results = {}
  for variant in ("full", "none", "some"):
    with tf.Graph().as_default() as graph:
      tf.set_random_seed(5)
      id_in = tf.placeholder(tf.int32, shape)
      mask_in = tf.placeholder(tf.int32, shape)
      pos_in = tf.placeholder(tf.int32, shape[:1] + [None] if dynamic
                              else positions.shape)
      output_positions = {
          "full": None,
          "none": tf.zeros([tf.shape(id_in)[0] if dynamic else batch, 0],
                           tf.int32),
          "some": pos_in}[variant]
      model = modeling.BertModel(config, is_training, id_in, mask_in,
                                 output_positions=output_positions)
      sequence = model.get_sequence_output()
      if variant == "full":
        rows = tf.gather(sequence, pos_in, batch_dims=1)
      else:
        rows = sequence
      loss = tf.reduce_sum(tf.sin(model.get_pooled_output()))
      if variant != "none":
        loss += tf.reduce_sum(tf.cos(rows) * tf.range(1.0, 4.0)[None, :, None])
      variables = tf.trainable_variables()
      grads = [tf.convert_to_tensor(g) for g in tf.gradients(loss, variables)]
      with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        feed = {id_in: ids, mask_in: mask, pos_in: positions}
        # Same seed, same variables in the same order: same initial values.
        results[variant] = sess.run(
            dict(pooled=model.get_pooled_output(), rows=rows, grads=grads,
                 sequence=sequence,
                 ffn_rows=tf.shape(_last_layer_rows(graph, 3))[0],
                 layer_1=model.get_all_encoder_layers()[1]), feed)
        results[variant]["names"] = [v.op.name for v in variables]
  full, none, some = results["full"], results["none"], results["some"]
  assert none["names"] == full["names"] == some["names"]
  assert full["ffn_rows"] == batch * seq
  assert none["ffn_rows"] == batch  # [CLS] only
  assert some["ffn_rows"] == batch * (1 + positions.shape[1])
  assert none["sequence"].shape == (batch, 0, 32)
  assert some["sequence"].shape == (batch, 3, 32)
  for other in (none, some):
    np.testing.assert_allclose(other["pooled"], full["pooled"], atol=1e-6)
    np.testing.assert_allclose(other["layer_1"], full["layer_1"], atol=1e-6)
  np.testing.assert_allclose(some["rows"], full["rows"], atol=1e-5)
  for g_some, g_full in zip(some["grads"], full["grads"]):
    np.testing.assert_allclose(g_some, g_full, rtol=1e-4, atol=1e-6)
  # The classifier's loss (pooled output only): the same gradients as the
  # full model's, to which the last layer's other rows contribute nothing.
  with tf.Graph().as_default():
    tf.set_random_seed(5)
    id_in = tf.placeholder(tf.int32, shape)
    mask_in = tf.placeholder(tf.int32, shape)
    model = modeling.BertModel(config, is_training, id_in, mask_in)
    loss = tf.reduce_sum(tf.sin(model.get_pooled_output()))
    grads = [tf.convert_to_tensor(g)
             for g in tf.gradients(loss, tf.trainable_variables())]
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      full_grads = sess.run(grads, {id_in: ids, mask_in: mask})
  for g_none, g_full in zip(none["grads"], full_grads):
    np.testing.assert_allclose(g_none, g_full, rtol=1e-4, atol=1e-6)


def test_one_hot_embeddings_match_gather():
  config = tiny_config()
  ids = np.random.RandomState(0).randint(0, 99, (2, 6)).astype(np.int32)
  outs = []
  for one_hot in (False, True):
    with tf.Graph().as_default():
      tf.set_random_seed(7)
      model = modeling.BertModel(config, False, tf.constant(ids),
                                 use_one_hot_embeddings=one_hot)
      with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        outs.append(sess.run(model.get_sequence_output()))
  np.testing.assert_allclose(outs[0], outs[1], atol=1e-5)


def test_init_from_checkpoint_round_trip(tmp_path):
  config = tiny_config()
  prefix = str(tmp_path / "bert_model.ckpt")
  with tf.Graph().as_default():
    model, _, _, _ = build(config)
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      expected = sess.run(model.get_pooled_output())
      saved = {v.name: sess.run(v) for v in tf.global_variables()}
      tf.train.Saver().save(sess, prefix)
  with tf.Graph().as_default():
    model, _, _, _ = build(config)
    # A head variable not in the checkpoint must be left alone.
    with tf.variable_scope("cls"):
      extra = tf.get_variable("output_bias", [2],
                              initializer=tf.ones_initializer())
    tvars = tf.trainable_variables()
    assignment_map, initialized = modeling.get_assignment_map_from_checkpoint(
        tvars, prefix)
    tf.train.init_from_checkpoint(prefix, assignment_map)
    assert "cls/output_bias" not in assignment_map
    assert "bert/pooler/dense/kernel" in initialized
    assert "bert/pooler/dense/kernel:0" in initialized
    assert len(assignment_map) == len(saved)
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      got = sess.run(model.get_pooled_output())
      for v in tf.global_variables():
        if v.name in saved:
          np.testing.assert_array_equal(sess.run(v), saved[v.name])
      np.testing.assert_array_equal(sess.run(extra), [1.0, 1.0])
  np.testing.assert_array_equal(got, expected)


def test_shape_helpers():
  with tf.Graph().as_default():
    t = tf.placeholder(tf.float32, [None, 4, 6])
    shape = modeling.get_shape_list(t, expected_rank=3)
    assert isinstance(shape[0], tf.Tensor) and shape[1:] == [4, 6]
    m = modeling.reshape_to_matrix(t)
    assert m.shape.as_list() == [None, 6]
    back = modeling.reshape_from_matrix(m, shape)
    assert back.shape.as_list()[1:] == [4, 6]
    with pytest.raises(ValueError, match="expected rank"):
      modeling.assert_rank(t, 2)
    x = tf.ones([4, 5])
    assert modeling.dropout(x, 0.0) is x
    assert modeling.dropout(x, None) is x

"""Tests for bert_tf.optimization.

Golden values come from hand computation, from small NumPy
re-implementations of the published update equations (BERT's Adam with
decoupled weight decay and no bias correction; LAMB from You et al., 2019),
or from `torch.optim.AdamW` itself for the bias-corrected AdamW.
"""

import contextlib
import inspect

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from bert_tf import optimization

EXCLUDE = ["LayerNorm", "layer_norm", "bias"]


@contextlib.contextmanager
def _graph(legacy=False):
  """A fresh graph and session; `legacy` uses ref variables and v1 cond."""
  resource = tf.resource_variables_enabled()
  cf_v2 = tf.control_flow_v2_enabled()
  if legacy:
    tf.disable_resource_variables()
    tf.disable_control_flow_v2()
  try:
    with tf.Graph().as_default() as graph:
      tf.set_random_seed(0)
      with tf.Session(graph=graph) as sess:
        yield sess
  finally:
    if legacy:
      if resource:
        tf.enable_resource_variables()
      if cf_v2:
        tf.enable_control_flow_v2()


# The weight of g^2 in v that ResourceApplyAdam (the fused update) forms in
# float32: 1 - float32(0.999) = 0.00099998713.
FUSED_G2_WEIGHT = float(np.float32(1) - np.float32(0.999))


def _np_adamw(w, g, m, v, lr, wd, decay, b1=0.9, b2=0.999, eps=1e-6,
              g2_weight=None):
  """BERT's AdamWeightDecay step in NumPy (no bias correction).

  `g2_weight` replaces (1 - b2) as the weight of g^2 in v (None: 1 - b2).
  """
  m = b1 * m + (1 - b1) * g
  v = b2 * v + (1 - b2 if g2_weight is None else g2_weight) * g * g
  u = m / (np.sqrt(v) + eps)
  if decay:
    u = u + wd * w
  return w - lr * u, m, v


def _np_lamb(w, g, m, v, t, lr, wd, decay, adapt, b1=0.9, b2=0.999,
             eps=1e-6):
  """LAMB step in NumPy with bias correction; t is 1-based."""
  m = b1 * m + (1 - b1) * g
  v = b2 * v + (1 - b2) * g * g
  m_hat = m / (1 - b1**t)
  v_hat = v / (1 - b2**t)
  u = m_hat / (np.sqrt(v_hat) + eps)
  if decay:
    u = u + wd * w
  ratio = 1.0
  if adapt:
    w_norm, u_norm = np.linalg.norm(w), np.linalg.norm(u)
    if w_norm > 0 and u_norm > 0:
      ratio = w_norm / u_norm
  return w - lr * ratio * u, m, v


# ---------------------------------------------------------------------------
# Learning-rate schedule.
# ---------------------------------------------------------------------------


def test_learning_rate_schedule_with_warmup():
  with _graph() as sess:
    step = tf.placeholder(tf.int64, [])
    lr = optimization.get_learning_rate(0.1, step, num_train_steps=100,
                                        num_warmup_steps=10)
    # Warmup: 0.1 * s / 10. Afterwards: 0.1 * (1 - s / 100), floored at 0.
    expected = {0: 0.0, 1: 0.01, 5: 0.05, 9: 0.09, 10: 0.09, 55: 0.045,
                99: 0.001, 100: 0.0, 150: 0.0}
    for s, want in expected.items():
      assert sess.run(lr, {step: s}) == pytest.approx(want, abs=1e-7), s


def test_learning_rate_schedule_without_warmup():
  with _graph() as sess:
    step = tf.placeholder(tf.int64, [])
    lr = optimization.get_learning_rate(2e-5, step, num_train_steps=40,
                                        num_warmup_steps=0)
    for s, want in {0: 2e-5, 10: 1.5e-5, 30: 5e-6, 40: 0.0}.items():
      assert sess.run(lr, {step: s}) == pytest.approx(want, rel=1e-5), s


# ---------------------------------------------------------------------------
# AdamWeightDecayOptimizer.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("fused", [False, True])
def test_adamw_matches_numpy_and_excludes_decay(fused):
  """Both op sequences compute BERT's update. The fused one
  (ResourceApplyAdam with beta powers 0) forms the weight of g^2 in v as
  1 - float32(0.999) = 0.00099998713 instead of the reference's 0.001 (1.3e-5
  relative; the weight of v is float32(0.999) in both): that is what the
  NumPy model below uses for it, and the wrong weight would fail rtol 1e-5."""
  g2_weight = FUSED_G2_WEIGHT if fused else None
  rng = np.random.RandomState(0)
  init = {
      "layer/kernel": rng.randn(2, 3),
      "layer/LayerNorm/gamma": rng.randn(3),
      "layer/bias": rng.randn(3),
  }
  grads = [{k: rng.randn(*w.shape) for k, w in init.items()}
           for _ in range(2)]
  lr, wd = 0.01, 0.1
  with _graph() as sess:
    variables = {k: tf.get_variable(k, initializer=w.astype(np.float32))
                 for k, w in init.items()}
    feeds = {k: tf.placeholder(tf.float32, w.shape) for k, w in init.items()}
    opt = optimization.AdamWeightDecayOptimizer(
        lr, weight_decay_rate=wd, exclude_from_weight_decay=EXCLUDE,
        fused=fused)
    train_op = opt.apply_gradients(
        [(feeds[k], variables[k]) for k in init])
    ops = {op.type for op in tf.get_default_graph().get_operations()}
    assert ("ResourceApplyAdam" in ops) == fused
    sess.run(tf.global_variables_initializer())
    state = {k: (w, np.zeros_like(w), np.zeros_like(w))
             for k, w in init.items()}
    for step_grads in grads:
      sess.run(train_op, {feeds[k]: step_grads[k] for k in init})
      for k in init:
        decay = k == "layer/kernel"
        state[k] = _np_adamw(*state[k][:1], step_grads[k], *state[k][1:],
                             lr=lr, wd=wd, decay=decay, g2_weight=g2_weight)
    for k in init:
      w, m, v = state[k]
      np.testing.assert_allclose(sess.run(variables[k]), w, rtol=1e-5,
                                 atol=1e-7)
      np.testing.assert_allclose(sess.run(opt.get_slot(variables[k], "adam_m")),
                                 m, rtol=1e-5, atol=1e-8)
      np.testing.assert_allclose(sess.run(opt.get_slot(variables[k], "adam_v")),
                                 v, rtol=1e-5, atol=1e-10)


@pytest.mark.parametrize("fused", [False, True])
def test_adamw_has_no_bias_correction_and_decay_is_decoupled(fused):
  # First step: m = 0.1 g, v = 0.001 g^2, so m / sqrt(v) = 0.1 / sqrt(0.001)
  # = 3.16228 per unit sign of g (bias-corrected Adam would give 1.0). The
  # fused kernel forms the two weights in float32 (1 - float32(beta)).
  with _graph() as sess:
    w = tf.get_variable("w/kernel", initializer=[2.0, -4.0])
    opt = optimization.AdamWeightDecayOptimizer(
        0.5, weight_decay_rate=0.25, epsilon=0.0, fused=fused)
    train_op = opt.apply_gradients([(tf.constant([3.0, -0.02]), w)])
    sess.run(tf.global_variables_initializer())
    sess.run(train_op)
    ratio = 0.1 / np.sqrt(0.001)
    if fused:
      one = np.float32(1)
      ratio = float(one - np.float32(0.9)) / np.sqrt(
          float(one - np.float32(0.999)))
    # w - lr * (sign(g) * ratio + wd * w)
    expected = [2.0 - 0.5 * (ratio + 0.25 * 2.0),
                -4.0 - 0.5 * (-ratio + 0.25 * -4.0)]
    np.testing.assert_allclose(sess.run(w), expected, rtol=1e-5)


def test_adamw_slot_names_and_properties():
  with _graph() as sess:
    name = "bert/encoder/layer_0/attention/self/query/kernel"
    w = tf.get_variable(name, shape=[4, 2])
    b = tf.get_variable("cls/predictions/output_bias", shape=[2])
    opt = optimization.AdamWeightDecayOptimizer(0.1)
    assert isinstance(opt, tf.train.Optimizer)
    opt.apply_gradients([(tf.ones([4, 2]), w), (None, b)])
    slots = {v.op.name: v for v in tf.global_variables()
             if v.op.name.startswith(name + "/")}
    assert sorted(slots) == [name + "/adam_m", name + "/adam_v"]
    assert opt.get_slot_names() == ["adam_m", "adam_v"]
    assert opt.get_slot(w, "adam_m") is slots[name + "/adam_m"]
    assert opt.get_slot(b, "adam_m") is None  # No gradient, no slot.
    trainable = {v.op.name for v in tf.trainable_variables()}
    assert trainable == {name, "cls/predictions/output_bias"}
    sess.run(tf.global_variables_initializer())
    np.testing.assert_array_equal(sess.run(slots[name + "/adam_v"]),
                                  np.zeros([4, 2]))
    assert slots[name + "/adam_v"].shape.as_list() == [4, 2]


def test_adamw_sparse_gradient_from_gather():
  table_init = np.arange(12, dtype=np.float32).reshape(4, 3) / 10.0
  with _graph() as sess:
    table = tf.get_variable("emb/word_embeddings", initializer=table_init)
    loss = tf.reduce_sum(tf.square(tf.gather(table, [1, 3, 1])))
    grad = tf.gradients(loss, [table])[0]
    assert isinstance(grad, tf.IndexedSlices)
    opt = optimization.AdamWeightDecayOptimizer(0.1, weight_decay_rate=0.01)
    train_op = opt.apply_gradients([(grad, table)])
    sess.run(tf.global_variables_initializer())
    sess.run(train_op)
    dense_g = np.zeros_like(table_init)
    dense_g[1] = 2 * 2 * table_init[1]  # Row 1 gathered twice.
    dense_g[3] = 2 * table_init[3]
    # The default (fused) update: the kernel's float32 weight of g^2.
    want, _, _ = _np_adamw(table_init, dense_g, 0.0, 0.0, 0.1, 0.01, True,
                           g2_weight=FUSED_G2_WEIGHT)
    np.testing.assert_allclose(sess.run(table), want, rtol=1e-5, atol=1e-7)


def _apply_with_global_step(optimizer, init, grads):
  """Runs `optimizer` over `grads`, the global step counting the updates.

  As `create_optimizer` does, the global step is incremented after each
  update (the bias-corrected optimizers read it as the updates so far).

  Args:
    optimizer: a `_DecoupledWeightDecayOptimizer`.
    init: dict variable name -> float array, the initial values.
    grads: list (one per update) of dicts name -> gradient array.

  Returns:
    dict slot suffix ("value", "adam_m", ...) -> dict name -> numpy array,
    the variables and their slots after the last update.
  """
  with _graph() as sess:
    global_step = tf.train.get_or_create_global_step()
    variables = {k: tf.get_variable(k, initializer=w.astype(np.float32))
                 for k, w in init.items()}
    feeds = {k: tf.placeholder(tf.float32, w.shape) for k, w in init.items()}
    apply_op = optimizer.apply_gradients(
        [(feeds[k], variables[k]) for k in init], global_step=global_step)
    with tf.control_dependencies([apply_op]):
      train_op = global_step.assign_add(1)
    sess.run(tf.global_variables_initializer())
    for step_grads in grads:
      sess.run(train_op, {feeds[k]: step_grads[k] for k in init})
    out = {"value": sess.run(variables)}
    for suffix in optimizer.get_slot_names():
      out[suffix] = sess.run({k: optimizer.get_slot(v, suffix)
                              for k, v in variables.items()})
    return out


# ---------------------------------------------------------------------------
# LAMBOptimizer.
# ---------------------------------------------------------------------------


def test_lamb_matches_numpy_trust_ratio():
  rng = np.random.RandomState(1)
  init = {
      "layer/kernel": rng.randn(3, 2),
      "layer/LayerNorm/gamma": rng.randn(2),
      "zero/kernel": np.zeros([2, 2]),  # ||w|| = 0: trust ratio 1.
  }
  grads = [{k: rng.randn(*w.shape) for k, w in init.items()}
           for _ in range(2)]
  lr, wd = 0.05, 0.01
  got = _apply_with_global_step(
      optimization.LAMBOptimizer(lr, weight_decay_rate=wd,
                                 exclude_from_weight_decay=EXCLUDE),
      init, grads)
  assert sorted(got) == ["lamb_m", "lamb_v", "value"]
  state = {k: (w, np.zeros_like(w), np.zeros_like(w))
           for k, w in init.items()}
  for t, step_grads in enumerate(grads, start=1):
    for k in init:
      excluded = "LayerNorm" in k
      state[k] = _np_lamb(state[k][0], step_grads[k], *state[k][1:], t=t,
                          lr=lr, wd=wd, decay=not excluded,
                          adapt=not excluded)
  for k in init:
    np.testing.assert_allclose(got["value"][k], state[k][0], rtol=1e-5,
                               atol=1e-7)


def test_lamb_first_step_by_hand():
  # w = [3, 4] (norm 5), g = [1, -1], no decay. Bias-corrected first step:
  # m_hat = g, v_hat = g^2, u = g / (|g| + eps) ~= [1, -1] (norm sqrt 2).
  # Trust ratio 5 / sqrt(2); w <- w - lr * 5 / sqrt(2) * u.
  with _graph() as sess:
    step = tf.train.get_or_create_global_step()
    w = tf.get_variable("w", initializer=[3.0, 4.0])
    opt = optimization.LAMBOptimizer(0.1, epsilon=0.0)
    train_op = opt.apply_gradients([(tf.constant([1.0, -1.0]), w)],
                                   global_step=step)
    sess.run(tf.global_variables_initializer())
    sess.run(train_op)
    r = 5.0 / np.sqrt(2.0)
    np.testing.assert_allclose(sess.run(w), [3.0 - 0.1 * r, 4.0 + 0.1 * r],
                               rtol=1e-6)


@pytest.mark.parametrize("optimizer_class", [
    optimization.LAMBOptimizer, optimization.BiasCorrectedAdamWOptimizer])
def test_bias_corrected_optimizers_need_global_step(optimizer_class):
  with _graph():
    w = tf.get_variable("w", initializer=[1.0])
    opt = optimizer_class(0.1)
    with pytest.raises(ValueError, match="global step"):
      opt.apply_gradients([(tf.constant([1.0]), w)])


# ---------------------------------------------------------------------------
# create_optimizer.
# ---------------------------------------------------------------------------


def test_create_optimizer_clips_to_global_norm_one():
  # Gradient of sum(c * w) is c. With c = [3, 4] (norm 5) the clipped
  # gradient is [0.6, 0.8], seen through the first moment m = 0.1 * g.
  for c, clipped in (([3.0, 4.0], [0.6, 0.8]), ([0.3, 0.4], [0.3, 0.4])):
    with _graph() as sess:
      w = tf.get_variable("w/kernel", initializer=[1.0, 1.0])
      loss = tf.reduce_sum(tf.constant(c) * w)
      train_op = optimization.create_optimizer(
          loss, 0.1, num_train_steps=10, num_warmup_steps=0, use_tpu=False)
      opt_m = [v for v in tf.global_variables()
               if v.op.name == "w/kernel/adam_m"][0]
      sess.run(tf.global_variables_initializer())
      sess.run(train_op)
      np.testing.assert_allclose(sess.run(opt_m), 0.1 * np.array(clipped),
                                 rtol=1e-5)


def test_create_optimizer_end_to_end_matches_numpy():
  # Three steps of the full recipe: warmup lr, clipping, decay 0.01 on the
  # kernel only, global step incremented after each update.
  rng = np.random.RandomState(2)
  x = rng.randn(8, 3).astype(np.float32)
  y = rng.randn(8, 2).astype(np.float32)
  k0 = rng.randn(3, 2).astype(np.float32)
  init_lr, train_steps, warmup = 0.2, 6, 2
  with _graph() as sess:
    kernel = tf.get_variable("dense/kernel", initializer=k0)
    bias = tf.get_variable("dense/bias", initializer=np.zeros(2, np.float32))
    pred = tf.matmul(tf.constant(x), kernel) + bias
    loss = tf.reduce_mean(tf.square(pred - y))
    train_op = optimization.create_optimizer(loss, init_lr, train_steps,
                                             warmup, use_tpu=False)
    sess.run(tf.global_variables_initializer())
    k, b = k0.astype(np.float64), np.zeros(2)
    mk, vk, mb, vb = 0.0, 0.0, 0.0, 0.0
    for step in range(3):
      sess.run(train_op)
      r = x @ k + b - y
      gk = 2.0 * x.T @ r / r.size
      gb = 2.0 * r.sum(axis=0) / r.size
      norm = np.sqrt(np.sum(gk**2) + np.sum(gb**2))
      scale = 1.0 / max(norm, 1.0)
      if step < warmup:
        lr = init_lr * step / warmup
      else:
        lr = init_lr * (1.0 - step / train_steps)
      k, mk, vk = _np_adamw(k, gk * scale, mk, vk, lr, 0.01, True)
      b, mb, vb = _np_adamw(b, gb * scale, mb, vb, lr, 0.01, False)
    assert sess.run(tf.train.get_global_step()) == 3
    np.testing.assert_allclose(sess.run(kernel), k, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(sess.run(bias), b, rtol=1e-4, atol=1e-6)


def test_create_optimizer_increments_global_step():
  with _graph() as sess:
    w = tf.get_variable("w", initializer=[1.0])
    train_op = optimization.create_optimizer(
        tf.reduce_sum(w * w), 0.1, 10, 2, use_tpu=False)
    global_step = tf.train.get_global_step()
    sess.run(tf.global_variables_initializer())
    assert sess.run(global_step) == 0
    for expected in (1, 2, 3):
      sess.run(train_op)
      assert sess.run(global_step) == expected


@pytest.mark.parametrize("optimizer_type", list(optimization.OPTIMIZER_TYPES))
def test_create_optimizer_converges_on_linear_regression(optimizer_type):
  rng = np.random.RandomState(3)
  x = rng.randn(64, 4).astype(np.float32)
  true_w = rng.randn(4, 1).astype(np.float32)
  y = x @ true_w + 0.5
  with _graph() as sess:
    w = tf.get_variable("linear/kernel", shape=[4, 1],
                        initializer=tf.zeros_initializer())
    b = tf.get_variable("linear/bias", shape=[1],
                        initializer=tf.zeros_initializer())
    loss = tf.reduce_mean(tf.square(tf.matmul(x, w) + b - y))
    train_op = optimization.create_optimizer(
        loss, init_lr=0.1, num_train_steps=200, num_warmup_steps=10,
        use_tpu=False, optimizer_type=optimizer_type)
    sess.run(tf.global_variables_initializer())
    initial = sess.run(loss)
    for _ in range(200):
      sess.run(train_op)
    final = sess.run(loss)
    assert final < 0.1 * initial, (initial, final)


def _slot_prefix(optimizer_type):
  return "lamb" if optimizer_type == "lamb" else "adam"


def _run_linear_training(legacy, optimizer_type, num_accumulation_steps,
                         batches, w0):
  """Trains y = xW + b on `batches` (one per train_op run); returns state."""
  with _graph(legacy=legacy) as sess:
    x = tf.placeholder(tf.float32, [None, 3])
    y = tf.placeholder(tf.float32, [None, 2])
    w = tf.get_variable("linear/kernel", initializer=w0)
    b = tf.get_variable("linear/bias", initializer=np.ones(2, np.float32))
    loss = tf.reduce_mean(tf.square(tf.matmul(x, w) + b - y))
    train_op = optimization.create_optimizer(
        loss, 0.05, num_train_steps=10, num_warmup_steps=1, use_tpu=False,
        optimizer_type=optimizer_type,
        num_accumulation_steps=num_accumulation_steps)
    # Reference variables show up as VariableV2 ops, resource ones as
    # VarHandleOp: make sure both code paths are really exercised.
    assert (w.op.type == "VariableV2") == legacy
    m_slot = [v for v in tf.global_variables()
              if v.op.name == "linear/kernel/%s_m" % (
                  _slot_prefix(optimizer_type))][0]
    sess.run(tf.global_variables_initializer())
    for bx, by in batches:
      sess.run(train_op, {x: bx, y: by})
    return sess.run([w, b, tf.train.get_global_step(), m_slot])


@pytest.mark.parametrize("optimizer_type,legacy", [
    ("adamw", False), ("lamb", False), ("adamw", True),
    ("adamw_bias_corrected", False), ("adamw_bias_corrected", True)])
def test_gradient_accumulation_equals_large_batch(optimizer_type, legacy):
  rng = np.random.RandomState(5)
  k, micro, updates = 4, 2, 3
  w0 = rng.randn(3, 2).astype(np.float32)
  xs = rng.randn(updates * k * micro, 3).astype(np.float32)
  # Targets near the initial fit keep the gradient norm below the clipping
  # threshold, so clipping cannot hide a summed (k times too large) gradient.
  ys = (xs @ w0 + 1.0 + 0.1 * rng.randn(len(xs), 2)).astype(np.float32)
  big = [(xs[i:i + k * micro], ys[i:i + k * micro])
         for i in range(0, len(xs), k * micro)]
  small = [(xs[i:i + micro], ys[i:i + micro])
           for i in range(0, len(xs), micro)]
  w_big, b_big, step_big, m_big = _run_linear_training(
      legacy, optimizer_type, 1, big, w0)
  w_acc, b_acc, step_acc, m_acc = _run_linear_training(
      legacy, optimizer_type, k, small, w0)
  assert step_big == step_acc == updates
  # Adam-style updates barely depend on the gradient's scale, but the first
  # moment is linear in it: this catches a sum used in place of the mean.
  np.testing.assert_allclose(m_acc, m_big, rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(w_acc, w_big, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(b_acc, b_big, rtol=1e-5, atol=1e-6)
  # Not a no-op: the parameters did move.
  assert not np.allclose(b_big, 1.0)


def test_gradient_accumulation_applies_every_k_runs():
  with _graph() as sess:
    w = tf.get_variable("w", initializer=[1.0, -2.0])
    train_op = optimization.create_optimizer(
        tf.reduce_sum(w * w), 0.1, 10, 0, use_tpu=False,
        num_accumulation_steps=3)
    global_step = tf.train.get_global_step()
    accum = [v for v in tf.global_variables()
             if v.op.name == "w/accum_grad"][0]
    sess.run(tf.global_variables_initializer())
    history = []
    for _ in range(7):
      sess.run(train_op)
      history.append((sess.run(global_step), sess.run(w).tolist()))
    assert [s for s, _ in history] == [0, 0, 1, 1, 1, 2, 2]
    assert history[0][1] == history[1][1] == [1.0, -2.0]
    assert history[2][1] != [1.0, -2.0]
    assert history[3][1] == history[4][1] == history[2][1]
    # One micro-step accumulated after the second update: grad 2w.
    np.testing.assert_allclose(sess.run(accum), 2 * np.array(history[6][1]),
                               rtol=1e-6)


def test_create_optimizer_rejects_bad_arguments():
  with _graph():
    w = tf.get_variable("w", initializer=[1.0])
    loss = tf.reduce_sum(w)
    with pytest.raises(ValueError, match="optimizer_type"):
      optimization.create_optimizer(loss, 0.1, 10, 1, False,
                                    optimizer_type="sgd")
    with pytest.raises(ValueError, match="num_accumulation_steps"):
      optimization.create_optimizer(loss, 0.1, 10, 1, False,
                                    num_accumulation_steps=0)


@pytest.mark.parametrize("num_accumulation_steps,optimizer_type", [
    (1, "adamw"), (2, "adamw"), (2, "adamw_bias_corrected")])
def test_create_optimizer_tpu_wraps_in_cross_shard_optimizer(
    num_accumulation_steps, optimizer_type):
  # Only graph construction: CrossReplicaSum cannot run on CPU.
  with _graph():
    w = tf.get_variable("w/kernel", initializer=[1.0, 2.0])
    optimization.create_optimizer(
        tf.reduce_sum(w * w), 0.1, 10, 1, use_tpu=True,
        num_accumulation_steps=num_accumulation_steps,
        optimizer_type=optimizer_type)
    graph = tf.get_default_graph()
    op_types = {op.type for op in graph.get_operations()}
    for function in graph._functions.values():  # pylint: disable=protected-access
      op_types.update(node.op for node in function.definition.node_def)
    assert "CrossReplicaSum" in op_types
    names = {v.op.name for v in tf.global_variables()}
    assert {"w/kernel/adam_m", "w/kernel/adam_v"} <= names


# ---------------------------------------------------------------------------
# BiasCorrectedAdamWOptimizer ("adamw_bias_corrected"): torch.optim.AdamW.
# ---------------------------------------------------------------------------

# Names that BERT's exclusions ("LayerNorm", "layer_norm", "bias") leave out
# of the weight decay, and names that keep it.
_DECAYED = ("bert/encoder/layer_0/attention/self/query/kernel",
            "bert/embeddings/word_embeddings")
_EXCLUDED = ("bert/encoder/layer_0/output/LayerNorm/gamma",
             "cls/predictions/output_bias", "head/layer_norm/beta",
             "bert/encoder/layer_0/output/dense/bias")


class _TorchAdamW(object):
  """`torch.optim.AdamW` in float64 on named parameters.

  Betas (0.9, 0.999), eps 1e-6; weight decay `wd` on the names in
  `decayed`, 0 on the others (BERT's parameter groups).
  """

  def __init__(self, init, decayed, wd=0.01):
    """Args: init: dict name -> array; decayed: names; wd: float."""
    self.torch = pytest.importorskip("torch")
    self.params = {
        k: self.torch.tensor(w, dtype=self.torch.float64, requires_grad=True)
        for k, w in init.items()}
    self.opt = self.torch.optim.AdamW(
        [{"params": [p for k, p in self.params.items() if k in decayed],
          "weight_decay": wd},
         {"params": [p for k, p in self.params.items() if k not in decayed],
          "weight_decay": 0.0}],
        lr=0.0, betas=(0.9, 0.999), eps=1e-6)

  def step(self, grads, lr):
    """One update with `grads` (dict name -> array) at rate `lr`."""
    for group in self.opt.param_groups:
      group["lr"] = lr
    for k, p in self.params.items():
      p.grad = self.torch.tensor(grads[k], dtype=self.torch.float64)
    self.opt.step()

  def values(self):
    return {k: p.detach().numpy() for k, p in self.params.items()}

  def state(self, key):
    """dict name -> float64 array of torch's state `key` ("exp_avg", ...)."""
    return {k: self.opt.state[p][key].numpy()
            for k, p in self.params.items()}


def _bert_like_init(seed):
  rng = np.random.RandomState(seed)
  shapes = {_DECAYED[0]: (4, 3), _DECAYED[1]: (5, 3), _EXCLUDED[0]: (3,),
            _EXCLUDED[1]: (5,), _EXCLUDED[2]: (3,), _EXCLUDED[3]: (3,)}
  return rng, {k: rng.randn(*shape) for k, shape in shapes.items()}


def test_bias_corrected_adamw_equals_torch_adamw_over_steps():
  # Six steps on the same gradients (of varied scales, signs flipping):
  # parameters and both moments equal torch's to float32 accuracy, with
  # decay 0.01 on kernels and embeddings and none on LayerNorm/bias.
  rng, init = _bert_like_init(7)
  steps, lr = 6, 1e-2
  grads = [{k: rng.randn(*w.shape) * 10.0 ** rng.uniform(-3, 1)
            for k, w in init.items()} for _ in range(steps)]
  reference = _TorchAdamW(init, _DECAYED)
  for step_grads in grads:
    reference.step(step_grads, lr)
  got = _apply_with_global_step(
      optimization.BiasCorrectedAdamWOptimizer(
          lr, weight_decay_rate=0.01, epsilon=1e-6,
          exclude_from_weight_decay=EXCLUDE), init, grads)
  want = reference.values()
  for k in init:
    np.testing.assert_allclose(got["value"][k], want[k], rtol=0, atol=1e-6,
                               err_msg=k)
    np.testing.assert_allclose(got["adam_m"][k], reference.state("exp_avg")[k],
                               rtol=1e-5, atol=1e-9, err_msg=k)
    np.testing.assert_allclose(got["adam_v"][k],
                               reference.state("exp_avg_sq")[k], rtol=1e-5,
                               atol=1e-12, err_msg=k)
    # The parameters moved by many times the tolerance.
    assert np.abs(got["value"][k] - init[k]).max() > 1e-2, k


def test_bias_corrected_adamw_decays_only_what_bert_decays():
  # A zero gradient leaves m = v = 0, so the Adam term is 0 / (0 + eps) = 0
  # and only the decoupled decay acts: w <- w * (1 - lr * wd) on kernels and
  # embeddings, nothing on LayerNorm and bias variables.
  _, init = _bert_like_init(8)
  lr, wd = 0.1, 0.01
  with _graph() as sess:
    global_step = tf.train.get_or_create_global_step()
    variables = {k: tf.get_variable(k, initializer=w.astype(np.float32))
                 for k, w in init.items()}
    opt = optimization.BiasCorrectedAdamWOptimizer(
        lr, weight_decay_rate=wd,
        exclude_from_weight_decay=list(
            optimization.DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY))
    train_op = opt.apply_gradients(
        [(tf.zeros(w.shape), variables[k]) for k, w in init.items()],
        global_step=global_step)
    sess.run(tf.global_variables_initializer())
    sess.run(train_op)
    for k in init:
      factor = 1.0 - lr * wd if k in _DECAYED else 1.0
      np.testing.assert_allclose(sess.run(variables[k]), init[k] * factor,
                                 rtol=1e-6, err_msg=k)


def test_bias_corrected_adamw_first_step_by_hand():
  # t = 1: m_hat = g and sqrt(v_hat) = |g|, so with epsilon 0 the step is
  # lr * sign(g) whatever the gradient's scale (BERT's update: 3.16 times
  # that), plus the decoupled decay lr * wd * w.
  with _graph() as sess:
    step = tf.train.get_or_create_global_step()
    w = tf.get_variable("w/kernel", initializer=[2.0, -4.0])
    opt = optimization.BiasCorrectedAdamWOptimizer(
        0.5, weight_decay_rate=0.25, epsilon=0.0)
    train_op = opt.apply_gradients([(tf.constant([3.0, -0.02]), w)],
                                   global_step=step)
    sess.run(tf.global_variables_initializer())
    sess.run(train_op)
    np.testing.assert_allclose(
        sess.run(w), [2.0 - 0.5 * (1.0 + 0.25 * 2.0),
                      -4.0 - 0.5 * (-1.0 + 0.25 * -4.0)], rtol=1e-6)


def _linear_problem(seed=2):
  rng = np.random.RandomState(seed)
  x = rng.randn(8, 3).astype(np.float32)
  y = rng.randn(8, 2).astype(np.float32)
  k0 = rng.randn(3, 2).astype(np.float32)
  return x, y, k0


def _linear_graph(x, y, k0, **optimizer_kwargs):
  """dense/kernel and dense/bias fitted to y by create_optimizer."""
  kernel = tf.get_variable("dense/kernel", initializer=k0)
  bias = tf.get_variable("dense/bias", initializer=np.zeros(2, np.float32))
  loss = tf.reduce_mean(tf.square(tf.matmul(tf.constant(x), kernel) + bias -
                                  y))
  train_op = optimization.create_optimizer(loss, 0.2, 6, 2, False,
                                           **optimizer_kwargs)
  return kernel, bias, train_op


def test_create_optimizer_bias_corrected_equals_torch_recipe():
  # Four updates of the full recipe (warmup then decay, clipping to norm 1,
  # decay on the kernel only), with torch's AdamW taking the same clipped
  # gradients at the same scheduled rates: the step count t of the bias
  # correction is global_step + 1.
  x, y, k0 = _linear_problem()
  init_lr, train_steps, warmup = 0.2, 6, 2
  with _graph() as sess:
    kernel, bias, train_op = _linear_graph(
        x, y, k0, optimizer_type="adamw_bias_corrected")
    sess.run(tf.global_variables_initializer())
    reference = _TorchAdamW({"dense/kernel": k0, "dense/bias": np.zeros(2)},
                            decayed=("dense/kernel",))
    for step in range(4):
      sess.run(train_op)
      now = reference.values()
      r = x @ now["dense/kernel"] + now["dense/bias"] - y
      g = {"dense/kernel": 2.0 * x.T @ r / r.size,
           "dense/bias": 2.0 * r.sum(axis=0) / r.size}
      norm = np.sqrt(sum(np.sum(v**2) for v in g.values()))
      if step < warmup:
        lr = init_lr * step / warmup
      else:
        lr = init_lr * (1.0 - step / train_steps)
      reference.step({n: v / max(norm, 1.0) for n, v in g.items()}, lr)
    k, b = reference.values()["dense/kernel"], reference.values()["dense/bias"]
    assert sess.run(tf.train.get_global_step()) == 4
    np.testing.assert_allclose(sess.run(kernel), k, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sess.run(bias), b, rtol=1e-5, atol=1e-6)
    assert not np.allclose(b, 0.0)


def test_bias_corrected_checkpoint_resumes_exactly(tmp_path):
  # The moments are saved as <variable>/adam_m and <variable>/adam_v and the
  # step is the global step: 2 updates, save, restore in a new graph and 2
  # more equal 4 updates in one go. Nothing else is added to checkpoints.
  x, y, k0 = _linear_problem(4)
  with _graph() as sess:
    kernel, _, train_op = _linear_graph(
        x, y, k0, optimizer_type="adamw_bias_corrected")
    sess.run(tf.global_variables_initializer())
    for _ in range(4):
      sess.run(train_op)
    want = sess.run(kernel)
  path = str(tmp_path / "model.ckpt")
  with _graph() as sess:
    kernel, _, train_op = _linear_graph(
        x, y, k0, optimizer_type="adamw_bias_corrected")
    saved = sorted(v.op.name for v in tf.global_variables())
    assert saved == ["dense/bias", "dense/bias/adam_m", "dense/bias/adam_v",
                     "dense/kernel", "dense/kernel/adam_m",
                     "dense/kernel/adam_v", "global_step"]
    sess.run(tf.global_variables_initializer())
    for _ in range(2):
      sess.run(train_op)
    tf.train.Saver().save(sess, path)
  with _graph() as sess:
    kernel, _, train_op = _linear_graph(
        x, y, k0, optimizer_type="adamw_bias_corrected")
    tf.train.Saver().restore(sess, path)
    assert sess.run(tf.train.get_global_step()) == 2
    for _ in range(2):
      sess.run(train_op)
    np.testing.assert_allclose(sess.run(kernel), want, rtol=1e-6, atol=1e-7)


def test_bias_corrected_with_gradient_reducer_reduces_once_per_update():
  # The Horovod path: the reducer sees each applied update's gradients once
  # (with accumulation, the mean of k micro-steps), and an averaging reducer
  # over identical workers changes nothing.
  x, y, k0 = _linear_problem(5)
  calls = []

  def reducer(grads):
    calls.append(len(grads))
    return [tf.identity(g) for g in grads]

  results = []
  for kwargs in (dict(), dict(gradient_reducer=reducer)):
    with _graph() as sess:
      kernel, _, train_op = _linear_graph(
          x, y, k0, optimizer_type="adamw_bias_corrected",
          num_accumulation_steps=2, **kwargs)
      sess.run(tf.global_variables_initializer())
      for _ in range(4):
        sess.run(train_op)
      assert sess.run(tf.train.get_global_step()) == 2
      results.append(sess.run(kernel))
  assert calls == [2]  # built once, for kernel and bias
  np.testing.assert_allclose(results[1], results[0], rtol=1e-6)
  assert not np.allclose(results[0], k0)


def test_reference_update_stays_the_default():
  # create_optimizer keeps the reference's positional signature and update;
  # the scripts' --optimizer_type defaults to it too.
  from bert_tf import distributed  # pylint: disable=g-import-not-at-top
  params = list(inspect.signature(optimization.create_optimizer).parameters)
  assert params[:5] == ["loss", "init_lr", "num_train_steps",
                        "num_warmup_steps", "use_tpu"]
  default = inspect.signature(optimization.create_optimizer).parameters[
      "optimizer_type"].default
  assert default == "adamw" == distributed.ScaleConfig().optimizer_type
  assert type(optimization._make_optimizer(default, 0.1)) is (  # pylint: disable=protected-access
      optimization.AdamWeightDecayOptimizer)
  assert set(optimization.OPTIMIZER_TYPES) == {
      "adamw", "adamw_bias_corrected", "lamb"}
  x, y, k0 = _linear_problem()
  kernels = []
  for kwargs in (dict(), dict(optimizer_type="adamw"),
                 dict(optimizer_type="adamw_bias_corrected")):
    with _graph() as sess:
      kernel, _, train_op = _linear_graph(x, y, k0, **kwargs)
      sess.run(tf.global_variables_initializer())
      for _ in range(3):
        sess.run(train_op)
      kernels.append(sess.run(kernel))
  np.testing.assert_array_equal(kernels[0], kernels[1])
  assert np.abs(kernels[2] - kernels[0]).max() > 1e-3


def test_classifier_trains_with_bias_corrected_adamw(tmp_path,
                                                     tiny_vocab_file):
  # The library call of run_classifier.py with --optimizer_type=
  # adamw_bias_corrected: a tiny BERT (dropout off) fits 8 MRPC-layout
  # pairs, whose label says whether sentence a is "good good ..." or
  # "bad bad ...", in 20 updates at a rate suited to that model; the
  # checkpoint holds the moments under the reference's slot names.
  from bert_tf import plots  # pylint: disable=g-import-not-at-top
  from bert_tf.tasks import classifier  # pylint: disable=g-import-not-at-top
  from test_classifier import write_tiny_config  # pylint: disable=g-import-not-at-top
  rng = np.random.RandomState(0)
  words = ["the", "dog", "cat", "runs", "movie", "film", "man", "city"]
  rows = ["Quality\t#1 ID\t#2 ID\t#1 String\t#2 String"]
  for i in range(8):
    a = " ".join(["good" if i % 2 else "bad"] * 4)
    rows.append("%d\t%d\t%d\t%s\t%s" % (i % 2, i, i + 100, a,
                                        " ".join(rng.choice(words, 4))))
  data_dir = tmp_path / "data"
  data_dir.mkdir()
  (data_dir / "train.tsv").write_text("\n".join(rows) + "\n",
                                      encoding="utf-8")
  out = str(tmp_path / "out")
  result = classifier.run(classifier.ClassifierConfig(
      task_name="MRPC", data_dir=str(data_dir),
      bert_config_file=write_tiny_config(
          tmp_path / "bert_config.json", hidden_dropout_prob=0.0,
          attention_probs_dropout_prob=0.0),
      vocab_file=tiny_vocab_file, output_dir=out, max_seq_length=16,
      do_train=True, train_batch_size=8, learning_rate=1e-2,
      num_train_epochs=20.0, random_seed=3, log_every_n_steps=1,
      save_checkpoints_steps=1000, optimizer_type="adamw_bias_corrected"))
  assert result["num_train_steps"] == 20
  scalars = plots.read_scalars(out)
  steps, losses = scalars[plots.loss_tag(scalars)]
  assert len(steps) >= 15, steps
  # Measured: 0.694 at the first step, 0.03 at the last.
  assert losses[0] > 0.6 and losses[-3:].mean() < 0.25, losses
  saved = {name for name, _ in tf.train.list_variables(out)}
  kernel = "bert/encoder/layer_0/attention/self/query/kernel"
  assert {kernel + "/adam_m", kernel + "/adam_v"} <= saved
  assert not any(name.endswith(("/lamb_m", "/lamb_v")) for name in saved)

"""Optimizers and learning-rate schedule for BERT pre-training and fine-tuning.

Public API (names follow Google's reference `optimization` module):

  * `create_optimizer(loss, init_lr, num_train_steps, num_warmup_steps,
    use_tpu, ...)`: builds the whole training op: linear warmup then linear
    decay of the learning rate, gradients clipped to global norm 1.0, an
    update chosen by `optimizer_type` (see `OPTIMIZER_TYPES`: BERT's AdamW
    by default, torch's bias-corrected AdamW, or LAMB), optional gradient
    accumulation, optional averaging over data-parallel workers
    (`gradient_reducer`, e.g. Horovod's allreduce from
    `bert_tf.distributed`), optional dynamic loss scaling
    (`init_loss_scale`, for float16 mixed precision), and the global-step
    increment.
  * `get_learning_rate(init_lr, global_step, num_train_steps,
    num_warmup_steps)`: the scheduled learning rate as a scalar tensor.
  * `AdamWeightDecayOptimizer`: Adam with decoupled weight decay and no bias
    correction, as used to train BERT. Its slots are named
    `<variable>/adam_m` and `<variable>/adam_v`, the names found in Google's
    checkpoints.
  * `BiasCorrectedAdamWOptimizer`: the update of `torch.optim.AdamW` (and,
    up to where epsilon goes, Keras' `AdamW`): the same moments, the same
    decoupled decay and the same slot names, with both moments
    bias-corrected.
  * `LAMBOptimizer`: layer-wise adaptive moments (You et al., 2019, "Large
    Batch Optimization for Deep Learning: Training BERT in 76 minutes"), with
    bias correction and the per-variable trust ratio ||w|| / ||update||.

Graph mode only (`tensorflow.compat.v1`). Works with both reference and
resource variables and with v1 and v2 control flow. Never reads absl FLAGS.
"""

import math
import re

import tensorflow.compat.v1 as tf
from tensorflow.python.ops import resource_variable_ops  # pylint: disable=g-direct-tensorflow-import

# The updates `create_optimizer` offers, by their `optimizer_type` name (also
# the values of the scripts' --optimizer_type), with what each is for.
OPTIMIZER_DESCRIPTIONS = {
    "adamw": "BERT's own update (AdamWeightDecayOptimizer, the default, as "
             "in Google's reference): AdamW without bias correction, so its "
             "first few hundred updates are several times larger than "
             "torch's or Keras' AdamW at the same learning rate. Pick it for "
             "the reference's recipes and learning rates (2e-5 to 5e-5 for "
             "fine-tuning) and to reproduce the reference's results.",
    "adamw_bias_corrected": "The update of torch.optim.AdamW and Keras' "
                            "AdamW: both moments bias-corrected, the same "
                            "decoupled weight decay and exclusions. Pick it "
                            "for learning rates tuned with PyTorch/Hugging "
                            "Face or Keras (e.g. 1e-4), which can stall "
                            "with BERT's update.",
    "lamb": "LAMB (layer-wise trust ratio, bias-corrected) for very large "
            "batches, e.g. pretraining with thousands of examples per "
            "update.",
}
OPTIMIZER_TYPES = tuple(OPTIMIZER_DESCRIPTIONS)

# With dynamic loss scaling, the current loss scale (float32 scalar tensor)
# is added to this graph collection (for logging hooks).
LOSS_SCALE_COLLECTION = "bert_tf_loss_scale"
DEFAULT_LOSS_SCALE_INCREMENT_PERIOD = 2000

# Variables whose name matches one of these (re.search) get no weight decay.
DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY = ("LayerNorm", "layer_norm", "bias")
DEFAULT_WEIGHT_DECAY_RATE = 0.01


def get_learning_rate(init_lr, global_step, num_train_steps, num_warmup_steps):
  """Returns the learning rate for `global_step`: linear warmup, linear decay.

  While `global_step < num_warmup_steps` the rate is
  `init_lr * global_step / num_warmup_steps`; afterwards it is
  `init_lr * (1 - min(global_step, num_train_steps) / num_train_steps)`
  (`tf.train.polynomial_decay` with power 1 down to 0). As in the reference,
  the decay is measured from step 0, not from the end of warmup.

  Args:
    init_lr: float, peak learning rate.
    global_step: scalar integer tensor or variable (usually the global step).
    num_train_steps: int, step at which the rate reaches 0.
    num_warmup_steps: int; 0 or None means no warmup.

  Returns:
    Scalar float32 tensor.
  """
  learning_rate = tf.train.polynomial_decay(
      tf.constant(init_lr, shape=[], dtype=tf.float32),
      global_step,
      num_train_steps,
      end_learning_rate=0.0,
      power=1.0,
      cycle=False)
  if num_warmup_steps:
    step_int = tf.cast(global_step, tf.int32)
    warmup_int = tf.constant(num_warmup_steps, dtype=tf.int32)
    warmup_fraction = (tf.cast(step_int, tf.float32) /
                       tf.cast(warmup_int, tf.float32))
    warmup_learning_rate = init_lr * warmup_fraction
    in_warmup = tf.cast(step_int < warmup_int, tf.float32)
    learning_rate = ((1.0 - in_warmup) * learning_rate +
                     in_warmup * warmup_learning_rate)
  return learning_rate


def create_optimizer(loss, init_lr, num_train_steps, num_warmup_steps, use_tpu,
                     optimizer_type="adamw", num_accumulation_steps=1,
                     clip_norm=1.0, tvars=None, gradient_reducer=None,
                     init_loss_scale=None,
                     loss_scale_increment_period=(
                         DEFAULT_LOSS_SCALE_INCREMENT_PERIOD),
                     fused=True):
  """Creates the training op for `loss`.

  Gradients of `loss` are clipped to global norm `clip_norm` and applied with
  weight decay 0.01 (not on variables named like LayerNorm, layer_norm or
  bias). The returned op also adds 1 to the global step (the optimizers
  themselves never touch it), after the update, so the update of step `t`
  uses the learning rate of step `t`.

  With `num_accumulation_steps = k > 1`, each run of the op adds the
  gradients of `loss` to non-trainable accumulators (`<variable>/accum_grad`);
  every k-th run applies their mean (then clipped), zeroes them and
  increments the global step. The global step therefore counts applied
  updates, and `num_train_steps` / `num_warmup_steps` are in updates too.

  Each applied update, in order: the (accumulated mean) gradients go through
  `gradient_reducer` once (with accumulation: once per k micro-steps, not
  per micro-step), are divided by the loss scale, clipped, and applied.

  With `init_loss_scale` (dynamic loss scaling, as float16 training needs),
  gradients are taken of `loss * scale` and divided by `scale` after the
  reduction; if any is inf or NaN the update is skipped (variables, slots and
  the global step are left alone) and the scale halved; after
  `loss_scale_increment_period` finite updates in a row it doubles. The
  scale lives in the non-trainable variable
  `dynamic_loss_scale/current_loss_scale` (saved in checkpoints), is
  summarised as "loss_scale" and is added to `LOSS_SCALE_COLLECTION`.
  Variables stay float32 (the master weights).

  Args:
    loss: scalar float tensor to minimise.
    init_lr: float, peak learning rate.
    num_train_steps: int, total number of (applied) training steps.
    num_warmup_steps: int, steps of linear warmup (0 for none).
    use_tpu: bool; if True, wrap the optimizer in
      `tf.tpu.CrossShardOptimizer` so gradients are summed across shards.
    optimizer_type: "adamw" (`AdamWeightDecayOptimizer`, the reference's
      update), "adamw_bias_corrected" (`BiasCorrectedAdamWOptimizer`, the
      update of `torch.optim.AdamW`) or "lamb" (`LAMBOptimizer`); see
      `OPTIMIZER_DESCRIPTIONS`. The bias-corrected updates count steps with
      the global step, i.e. in applied updates.
    num_accumulation_steps: int >= 1, micro-batches per applied update.
    clip_norm: float, global-norm clipping threshold (the reference uses 1.0).
    tvars: list of variables to train; defaults to `tf.trainable_variables()`.
    gradient_reducer: optional callable(list of gradients) -> list of
      gradients of the same shapes (None entries kept), applied once per
      update; Horovod's averaging allreduce for data parallelism.
    init_loss_scale: None (no loss scaling) or float, the initial dynamic
      loss scale (2**15 is usual).
    loss_scale_increment_period: finite updates in a row before the loss
      scale doubles.
    fused: for "adamw", update with TensorFlow's fused Adam kernel
      (`AdamWeightDecayOptimizer(fused=True)`); False builds the
      reference's op sequence (for comparisons).

  Returns:
    A `tf.Operation` that runs one training (micro-)step.

  Raises:
    ValueError: for an unknown `optimizer_type`, `num_accumulation_steps`
      below 1, or a `gradient_reducer` or loss scaling with `use_tpu`.
  """
  if optimizer_type not in OPTIMIZER_TYPES:
    raise ValueError("Unknown optimizer_type %r; expected one of %s." %
                     (optimizer_type, ", ".join(OPTIMIZER_TYPES)))
  if int(num_accumulation_steps) != num_accumulation_steps or (
      num_accumulation_steps < 1):
    raise ValueError("num_accumulation_steps must be an integer >= 1, got %r."
                     % (num_accumulation_steps,))
  num_accumulation_steps = int(num_accumulation_steps)
  if use_tpu and (gradient_reducer is not None or init_loss_scale is not None):
    raise ValueError("gradient_reducer (Horovod) and loss scaling (float16) "
                     "are for GPUs/CPUs, not for use_tpu.")

  global_step = tf.train.get_or_create_global_step()
  learning_rate = get_learning_rate(init_lr, global_step, num_train_steps,
                                    num_warmup_steps)
  if not use_tpu:
    # For TensorBoard and `bert_tf.plots` (TPU training loops run no
    # summaries): the rate used by the update of this step.
    tf.summary.scalar("learning_rate", learning_rate)
  optimizer = _make_optimizer(optimizer_type, learning_rate, fused)
  if use_tpu:
    optimizer = tf.tpu.CrossShardOptimizer(optimizer)

  if tvars is None:
    tvars = tf.trainable_variables()
  tvars = list(tvars)
  loss_scale = None
  if init_loss_scale is not None:
    with tf.name_scope("dynamic_loss_scale"):
      loss_scale = tf.mixed_precision.DynamicLossScale(
          initial_loss_scale=float(init_loss_scale),
          increment_period=int(loss_scale_increment_period), multiplier=2.0)
    current = tf.identity(loss_scale(), name="current_loss_scale_value")
    tf.add_to_collection(LOSS_SCALE_COLLECTION, current)
    tf.summary.scalar("loss_scale", current)
    grads = tf.gradients(loss * current, tvars)
  else:
    grads = tf.gradients(loss, tvars)

  finish = _UpdateFinisher(optimizer, global_step, clip_norm, gradient_reducer,
                           loss_scale)
  if num_accumulation_steps == 1:
    return finish(grads, tvars)
  return _accumulate_then_apply(optimizer, grads, tvars, finish,
                                num_accumulation_steps)


def _make_optimizer(optimizer_type, learning_rate, fused=True):
  """Returns the optimizer named by `optimizer_type` with BERT's settings."""
  kwargs = dict(
      learning_rate=learning_rate,
      weight_decay_rate=DEFAULT_WEIGHT_DECAY_RATE,
      beta_1=0.9,
      beta_2=0.999,
      epsilon=1e-6,
      exclude_from_weight_decay=list(DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY))
  if optimizer_type == "adamw":
    return AdamWeightDecayOptimizer(fused=fused, **kwargs)
  if optimizer_type == "adamw_bias_corrected":
    return BiasCorrectedAdamWOptimizer(**kwargs)
  return LAMBOptimizer(**kwargs)


def _clip_apply_and_step(optimizer, grads, tvars, global_step, clip_norm):
  """Clips `grads`, applies them and increments `global_step` afterwards."""
  clipped, _ = tf.clip_by_global_norm(grads, clip_norm=clip_norm)
  apply_op = optimizer.apply_gradients(
      list(zip(clipped, tvars)), global_step=global_step)
  with tf.control_dependencies([apply_op]):
    new_global_step = global_step + 1
    increment = global_step.assign(new_global_step)
  return tf.group(apply_op, increment, name="train_op")


def _scale_gradient(grad, factor):
  """`grad * factor` for a dense gradient or `tf.IndexedSlices`."""
  if grad is None:
    return None
  if isinstance(grad, tf.IndexedSlices):
    return tf.IndexedSlices(grad.values * factor, grad.indices,
                            grad.dense_shape)
  return grad * factor


class _UpdateFinisher(object):
  """Reduces over workers, unscales, checks, clips and applies gradients.

  Called once per applied update (see `create_optimizer`); returns the
  training op.
  """

  def __init__(self, optimizer, global_step, clip_norm, gradient_reducer,
               loss_scale):
    self.optimizer = optimizer
    self.global_step = global_step
    self.clip_norm = clip_norm
    self.gradient_reducer = gradient_reducer
    self.loss_scale = loss_scale

  def __call__(self, grads, tvars):
    grads = list(grads)
    if self.gradient_reducer is not None:
      reduced = list(self.gradient_reducer(grads))
      if len(reduced) != len(grads):
        raise ValueError("gradient_reducer returned %d gradients for %d." %
                         (len(reduced), len(grads)))
      grads = reduced
    if self.loss_scale is None:
      return _clip_apply_and_step(self.optimizer, grads, tvars,
                                  self.global_step, self.clip_norm)
    # The scale read here precedes its update: the update's cond depends on
    # the finiteness of these unscaled gradients.
    inverse = 1.0 / self.loss_scale()
    grads = [_scale_gradient(g, inverse) for g in grads]
    update_scale, is_finite = self.loss_scale.update(
        [g for g in grads if g is not None])

    def _apply():
      train_op = _clip_apply_and_step(self.optimizer, grads, tvars,
                                      self.global_step, self.clip_norm)
      with tf.control_dependencies([train_op]):
        return tf.constant(True)

    def _skip():
      return tf.constant(False)

    applied = tf.cond(is_finite, _apply, _skip)
    return tf.group(applied, update_scale, name="train_op")


def _accumulate_then_apply(optimizer, grads, tvars, finish,
                           num_accumulation_steps):
  """Gradient accumulation; see `create_optimizer`."""
  pairs = [(g, v) for g, v in zip(grads, tvars) if g is not None]
  if not pairs:
    raise ValueError("No variable in tvars receives a gradient from loss.")
  variables = [v for _, v in pairs]
  accumulators = [
      tf.get_variable(
          name=_get_variable_name(v.name) + "/accum_grad",
          shape=v.shape.as_list(),
          dtype=v.dtype.base_dtype,
          trainable=False,
          initializer=tf.zeros_initializer()) for v in variables
  ]
  micro_step = tf.get_variable(
      name="gradient_accumulation_step",
      shape=[],
      dtype=tf.int32,
      trainable=False,
      initializer=tf.zeros_initializer())
  # Slots must exist before the conditional: variables cannot be created
  # inside a cond branch.
  _base_optimizer(optimizer).create_slots(variables)

  # assign_add returns the updated sums; feeding those tensors into the
  # branch orders the reads after the accumulation for either variable kind.
  summed = [acc.assign_add(_to_dense(g))
            for acc, (g, _) in zip(accumulators, pairs)]
  with tf.control_dependencies(summed):
    count = micro_step.assign_add(1)
  apply_now = tf.greater_equal(count, num_accumulation_steps)

  def _apply():
    mean_grads = [s / float(num_accumulation_steps) for s in summed]
    train_op = finish(mean_grads, variables)
    with tf.control_dependencies([train_op]):
      resets = [acc.assign(tf.zeros_like(acc)) for acc in accumulators]
      resets.append(micro_step.assign(0))
    with tf.control_dependencies(resets):
      return tf.constant(True)

  def _skip():
    return tf.constant(False)

  applied = tf.cond(apply_now, _apply, _skip)
  return tf.group(applied, name="train_op")


def _base_optimizer(optimizer):
  """Unwraps `tf.tpu.CrossShardOptimizer` (which keeps the inner in `_opt`)."""
  while not isinstance(optimizer, _DecoupledWeightDecayOptimizer):
    inner = getattr(optimizer, "_opt", None)
    if inner is None:
      raise TypeError("Cannot find the BERT optimizer inside %r." % optimizer)
    optimizer = inner
  return optimizer


def _to_dense(grad):
  """Converts `tf.IndexedSlices` (from embedding gathers) to a dense tensor."""
  if isinstance(grad, tf.IndexedSlices):
    return tf.convert_to_tensor(grad)
  return grad


def _get_variable_name(param_name):
  """Strips the output index from a tensor name: "a/b:0" -> "a/b"."""
  match = re.match(r"^(.*):\d+$", param_name)
  if match is not None:
    param_name = match.group(1)
  return param_name


class _DecoupledWeightDecayOptimizer(tf.train.Optimizer):
  """Shared machinery of the Adam-style optimizers with decoupled decay.

  Subclasses set `_SLOT_SUFFIXES` (first and second moment) and implement
  `_compute_update`. Slots are created with `tf.get_variable` in the caller's
  variable scope, named `<variable name>/<suffix>`.
  """

  _SLOT_SUFFIXES = ("m", "v")

  def __init__(self, learning_rate, weight_decay_rate, beta_1, beta_2,
               epsilon, exclude_from_weight_decay, name):
    super(_DecoupledWeightDecayOptimizer, self).__init__(False, name)
    self.learning_rate = learning_rate
    self.weight_decay_rate = weight_decay_rate
    self.beta_1 = beta_1
    self.beta_2 = beta_2
    self.epsilon = epsilon
    self.exclude_from_weight_decay = (
        list(exclude_from_weight_decay) if exclude_from_weight_decay else None)
    self._moment_slots = {}  # variable name -> (m, v)

  def create_slots(self, var_list):
    """Creates (or returns existing) moment slots for each variable.

    Args:
      var_list: list of variables.

    Returns:
      List of (m, v) variable pairs, zero-initialised, non-trainable, with
      the variable's shape and dtype.
    """
    slots = []
    for param in var_list:
      param_name = _get_variable_name(param.name)
      if param_name not in self._moment_slots:
        self._moment_slots[param_name] = tuple(
            tf.get_variable(
                name=param_name + "/" + suffix,
                shape=param.shape.as_list(),
                dtype=param.dtype.base_dtype,
                trainable=False,
                initializer=tf.zeros_initializer())
            for suffix in self._SLOT_SUFFIXES)
      slots.append(self._moment_slots[param_name])
    return slots

  def get_slot_names(self):
    return list(self._SLOT_SUFFIXES)

  def get_slot(self, var, name):
    """Returns the slot `name` ("adam_m", ...) of `var`, or None."""
    if name not in self._SLOT_SUFFIXES:
      return None
    pair = self._moment_slots.get(_get_variable_name(var.name))
    if pair is None:
      return None
    return pair[self._SLOT_SUFFIXES.index(name)]

  def apply_gradients(self, grads_and_vars, global_step=None, name=None):
    """Returns an op applying one update to every (gradient, variable) pair.

    Pairs whose gradient is None are skipped. Like the reference, this does
    not increment `global_step` (`create_optimizer` does).

    Args:
      grads_and_vars: iterable of (gradient tensor or IndexedSlices, variable).
      global_step: optional scalar integer variable (default: the graph's);
        the bias-corrected optimizers read it (before `create_optimizer`
        increments it) as the number of updates already applied.
      name: optional name of the returned op.

    Returns:
      A `tf.Operation` grouping the variable and slot assignments.
    """
    assignments = []
    step = self._prepare(global_step)
    for grad, param in grads_and_vars:
      if grad is None or param is None:
        continue
      grad = _to_dense(grad)
      param_name = _get_variable_name(param.name)
      m, v = self.create_slots([param])[0]
      next_m = self.beta_1 * m + (1.0 - self.beta_1) * grad
      next_v = self.beta_2 * v + (1.0 - self.beta_2) * tf.square(grad)
      update_with_lr = self._compute_update(param, param_name, next_m, next_v,
                                            step)
      assignments.extend([
          param.assign(param - update_with_lr),
          m.assign(next_m),
          v.assign(next_v),
      ])
    return tf.group(*assignments, name=name or self.get_name())

  def _prepare(self, global_step):
    """Returns per-call state shared by all variables (e.g. the step)."""
    del global_step
    return None

  def _compute_update(self, param, param_name, next_m, next_v, step):
    """Returns the amount to subtract from `param` (already times the lr)."""
    raise NotImplementedError

  def _get_variable_name(self, param_name):
    """The reference's method: "a/b:0" -> "a/b"."""
    return _get_variable_name(param_name)

  def _do_use_weight_decay(self, param_name):
    """Whether to apply weight decay to the variable named `param_name`."""
    if not self.weight_decay_rate:
      return False
    return not _matches_any(param_name, self.exclude_from_weight_decay)

  # tf.train.Optimizer's per-variable hooks are unused: apply_gradients is
  # overridden as in the reference.
  def _apply_dense(self, grad, var):
    raise NotImplementedError("Use apply_gradients.")

  def _resource_apply_dense(self, grad, handle):
    raise NotImplementedError("Use apply_gradients.")

  def _apply_sparse(self, grad, var):
    raise NotImplementedError("Use apply_gradients.")

  def _resource_apply_sparse(self, grad, handle, indices):
    raise NotImplementedError("Use apply_gradients.")


def _matches_any(param_name, patterns):
  return any(re.search(p, param_name) is not None for p in patterns or ())


def _bias_corrections(global_step, beta_1, beta_2, who):
  """The bias corrections 1 - beta_1^t and 1 - beta_2^t at t = step + 1.

  Computed as -expm1(t * log(beta)) with log(beta) taken in double
  precision, which keeps them to float32's relative precision (1 - 0.999^t
  in float32 loses about 1e-5 of it at t = 1) without float64 ops (which
  TPUs lack).

  Args:
    global_step: scalar integer variable or tensor, or None for the graph's
      global step: the number of updates applied before this one.
    beta_1: float in [0, 1), first-moment decay.
    beta_2: float in [0, 1), second-moment decay.
    who: the optimizer's name, for the error message.

  Returns:
    (bias_correction_1, bias_correction_2): float32 scalar tensors.

  Raises:
    ValueError: when there is no global step.
  """
  if global_step is None:
    global_step = tf.train.get_global_step()
  if global_step is None:
    raise ValueError("%s needs a global step for bias correction: pass "
                     "global_step= or create one first." % who)
  t = tf.cast(global_step, tf.float32) + 1.0

  def correction(beta):
    if beta == 0.0:
      return tf.constant(1.0)
    return -tf.math.expm1(t * math.log(beta))

  return correction(beta_1), correction(beta_2)


class AdamWeightDecayOptimizer(_DecoupledWeightDecayOptimizer):
  """Adam with decoupled weight decay and no bias correction (BERT's optimizer).

  For each variable w with gradient g (float tensors of w's shape):

    m <- beta_1 * m + (1 - beta_1) * g
    v <- beta_2 * v + (1 - beta_2) * g^2
    u  = m / (sqrt(v) + epsilon) + weight_decay_rate * w
    w <- w - learning_rate * u

  The decay term is left out for variables whose name matches (re.search) a
  pattern of `exclude_from_weight_decay`. Slots: `<name>/adam_m`,
  `<name>/adam_v`.
  """

  _SLOT_SUFFIXES = ("adam_m", "adam_v")

  def __init__(self, learning_rate, weight_decay_rate=0.0, beta_1=0.9,
               beta_2=0.999, epsilon=1e-6, exclude_from_weight_decay=None,
               name="AdamWeightDecayOptimizer", fused=True):
    """Constructs an AdamWeightDecayOptimizer.

    Args:
      learning_rate: float or scalar float32 tensor.
      weight_decay_rate: float, decoupled weight-decay coefficient.
      beta_1: float, first-moment decay.
      beta_2: float, second-moment decay.
      epsilon: float, added to sqrt(v).
      exclude_from_weight_decay: list of regex strings; matching variables
        get no weight decay.
      name: str, name of the op `apply_gradients` returns.
      fused: apply the update to resource variables with TensorFlow's
        `ResourceApplyAdam` kernel (see `apply_gradients`): one pass over
        each variable and its moments instead of about ten element-wise ops;
        the same update, except that the kernel weights g^2 in v by
        1 - float32(beta_2) (0.00099998713 for 0.999, 1.3e-5 relative).
        False builds the reference's op sequence.
    """
    super(AdamWeightDecayOptimizer, self).__init__(
        learning_rate, weight_decay_rate, beta_1, beta_2, epsilon,
        exclude_from_weight_decay, name)
    self.fused = bool(fused)

  def apply_gradients(self, grads_and_vars, global_step=None, name=None):
    """Returns an op applying one update to every (gradient, variable) pair.

    With `fused` (the default), resource variables are updated by
    `ResourceApplyAdam` with beta powers 0, whose step size
    lr * sqrt(1 - 0) / (1 - 0) is the learning rate itself, so that it
    computes exactly this class's uncorrected update
    m / (sqrt(v) + epsilon); the decoupled decay `w -= lr * rate * w` is
    applied just before it (the decay uses the weight before this update, as
    in the reference). The moments live in the same slots, so checkpoints
    are unchanged. Subclasses that change the Adam direction (bias
    correction), and other variable kinds, use the reference's op sequence.

    Args: as `_DecoupledWeightDecayOptimizer.apply_gradients`.

    Returns:
      A `tf.Operation` grouping the variable and slot updates.
    """
    if not (self.fused and type(self)._adam_direction is
            AdamWeightDecayOptimizer._adam_direction):
      return super(AdamWeightDecayOptimizer, self).apply_gradients(
          grads_and_vars, global_step=global_step, name=name)
    updates = []
    unfused = []
    for grad, param in grads_and_vars:
      if grad is None or param is None:
        continue
      if not resource_variable_ops.is_resource_variable(param):
        unfused.append((grad, param))
        continue
      grad = _to_dense(grad)
      dtype = param.dtype.base_dtype
      param_name = _get_variable_name(param.name)
      m, v = self.create_slots([param])[0]
      learning_rate = tf.cast(self.learning_rate, dtype)
      decay = []
      if self._do_use_weight_decay(param_name):
        # w -= (lr * rate) * w in one pass over w.
        decay = [tf.raw_ops.ResourceApplyGradientDescent(
            var=param.handle, alpha=learning_rate * self.weight_decay_rate,
            delta=param.read_value())]
      with tf.control_dependencies(decay):
        zero = tf.constant(0.0, dtype=dtype)
        updates.append(tf.raw_ops.ResourceApplyAdam(
            var=param.handle, m=m.handle, v=v.handle, beta1_power=zero,
            beta2_power=zero, lr=learning_rate,
            beta1=tf.constant(self.beta_1, dtype=dtype),
            beta2=tf.constant(self.beta_2, dtype=dtype),
            epsilon=tf.constant(self.epsilon, dtype=dtype), grad=grad))
    if unfused:
      updates.append(super(AdamWeightDecayOptimizer, self).apply_gradients(
          unfused, global_step=global_step))
    return tf.group(*updates, name=name or self.get_name())

  def _compute_update(self, param, param_name, next_m, next_v, step):
    update = self._adam_direction(next_m, next_v, step)
    if self._do_use_weight_decay(param_name):
      update += self.weight_decay_rate * param
    return self.learning_rate * update

  def _adam_direction(self, next_m, next_v, step):
    """m / (sqrt(v) + epsilon): the reference's direction, uncorrected.

    Args:
      next_m: float tensor, the updated first moment (the variable's shape).
      next_v: float tensor, the updated second moment (the same shape).
      step: what `_prepare` returned (unused here).

    Returns:
      Float tensor of the variable's shape.
    """
    del step
    return next_m / (tf.sqrt(next_v) + self.epsilon)


class BiasCorrectedAdamWOptimizer(AdamWeightDecayOptimizer):
  """AdamW with bias correction: the update of `torch.optim.AdamW`.

  For each variable w with gradient g (float tensors of w's shape), at step
  t = global_step + 1 (global_step: updates applied before this one):

    m <- beta_1 * m + (1 - beta_1) * g
    v <- beta_2 * v + (1 - beta_2) * g^2
    u  = (m / (1 - beta_1^t)) / (sqrt(v) / sqrt(1 - beta_2^t) + epsilon)
         + weight_decay_rate * w
    w <- w - learning_rate * u

  which is torch's `w *= 1 - lr * weight_decay` followed by
  `w -= lr / (1 - beta_1^t) * m / (sqrt(v) / sqrt(1 - beta_2^t) + eps)`.
  Keras' `AdamW` differs only in adding epsilon to sqrt(v) before the
  correction (an epsilon smaller by sqrt(1 - beta_2^t), which matters only
  while v is about epsilon^2).

  The moments are those of `AdamWeightDecayOptimizer` (a subclass: only the
  Adam direction differs), in slots of the same names (`<name>/adam_m`,
  `<name>/adam_v`), so a checkpoint of either optimizer resumes with the
  other; the step comes from the global step, which the checkpoint holds
  too, and counts applied updates (with gradient accumulation, one per k
  micro-batches; a float16 update skipped for an inf/NaN gradient does not
  count, as with torch's GradScaler). The decay term is left out for
  variables matching `exclude_from_weight_decay`.

  `apply_gradients` needs the global step (passed, or the graph's), read
  before `create_optimizer` increments it.
  """

  def __init__(self, learning_rate, name="BiasCorrectedAdamWOptimizer",
               **kwargs):
    """Constructs a BiasCorrectedAdamWOptimizer.

    Args:
      learning_rate: float or scalar float32 tensor.
      name: str, name of the op `apply_gradients` returns.
      **kwargs: the other arguments of `AdamWeightDecayOptimizer`
        (`weight_decay_rate`, torch's `weight_decay`; `beta_1`, `beta_2`;
        `epsilon`, here added to the bias-corrected sqrt(v);
        `exclude_from_weight_decay`).
    """
    super(BiasCorrectedAdamWOptimizer, self).__init__(learning_rate,
                                                      name=name, **kwargs)

  def _prepare(self, global_step):
    beta_1_correction, beta_2_correction = _bias_corrections(
        global_step, self.beta_1, self.beta_2, type(self).__name__)
    return beta_1_correction, tf.sqrt(beta_2_correction)

  def _adam_direction(self, next_m, next_v, step):
    """m_hat / (sqrt(v_hat) + epsilon), torch's bias-corrected direction."""
    beta_1_correction, beta_2_correction_sqrt = step
    denominator = tf.sqrt(next_v) / beta_2_correction_sqrt + self.epsilon
    return (next_m / beta_1_correction) / denominator


class LAMBOptimizer(_DecoupledWeightDecayOptimizer):
  """LAMB: Adam-style moments with bias correction and a layer-wise trust ratio.

  For each variable w with gradient g, at step t = global_step + 1:

    m <- beta_1 * m + (1 - beta_1) * g
    v <- beta_2 * v + (1 - beta_2) * g^2
    u  = (m / (1 - beta_1^t)) / (sqrt(v / (1 - beta_2^t)) + epsilon)
         + weight_decay_rate * w
    r  = ||w||_2 / ||u||_2   (1 if either norm is 0)
    w <- w - learning_rate * r * u

  The decay term is left out for variables matching
  `exclude_from_weight_decay`, and r is 1 for variables matching
  `exclude_from_layer_adaptation` (which defaults to the decay exclusions,
  as in ALBERT's LAMB). Slots: `<name>/lamb_m`, `<name>/lamb_v`.

  `apply_gradients` needs the global step (passed, or the graph's), read
  before `create_optimizer` increments it.
  """

  _SLOT_SUFFIXES = ("lamb_m", "lamb_v")

  def __init__(self, learning_rate, weight_decay_rate=0.0, beta_1=0.9,
               beta_2=0.999, epsilon=1e-6, exclude_from_weight_decay=None,
               exclude_from_layer_adaptation=None, name="LAMBOptimizer"):
    """Constructs a LAMBOptimizer.

    Args:
      learning_rate: float or scalar float32 tensor.
      weight_decay_rate: float, decoupled weight-decay coefficient.
      beta_1: float, first-moment decay.
      beta_2: float, second-moment decay.
      epsilon: float, added to the bias-corrected sqrt(v).
      exclude_from_weight_decay: list of regex strings; matching variables
        get no weight decay.
      exclude_from_layer_adaptation: list of regex strings; matching variables
        use trust ratio 1. None means `exclude_from_weight_decay`.
      name: str, name of the op `apply_gradients` returns.
    """
    super(LAMBOptimizer, self).__init__(
        learning_rate, weight_decay_rate, beta_1, beta_2, epsilon,
        exclude_from_weight_decay, name)
    if exclude_from_layer_adaptation is None:
      exclude_from_layer_adaptation = exclude_from_weight_decay
    self.exclude_from_layer_adaptation = (
        list(exclude_from_layer_adaptation)
        if exclude_from_layer_adaptation else None)

  def _prepare(self, global_step):
    return _bias_corrections(global_step, self.beta_1, self.beta_2,
                             type(self).__name__)

  def _compute_update(self, param, param_name, next_m, next_v, step):
    beta_1_correction, beta_2_correction = step
    m_hat = next_m / beta_1_correction
    v_hat = next_v / beta_2_correction
    update = m_hat / (tf.sqrt(v_hat) + self.epsilon)
    if self._do_use_weight_decay(param_name):
      update += self.weight_decay_rate * param
    ratio = 1.0
    if not _matches_any(param_name, self.exclude_from_layer_adaptation):
      w_norm = tf.norm(param, ord=2)
      u_norm = tf.norm(update, ord=2)
      ratio = tf.where(
          tf.greater(w_norm, 0.0),
          tf.where(tf.greater(u_norm, 0.0), w_norm / u_norm, 1.0),
          1.0)
    return ratio * self.learning_rate * update

"""One model_fn builder for every task: BertModel + a head -> Estimator spec.

`model_fn_builder(bert_config, head, ...)` builds the model, applies the head
(see `bert_tf.heads`), initialises from a checkpoint (logging which variables
came from where and refusing shape mismatches with both shapes named), and
returns a `tf.estimator.EstimatorSpec` (or a `TPUEstimatorSpec` when
`use_tpu`) for TRAIN, EVAL and PREDICT. Scripts never write their own model_fn.
"""

import re

import numpy as np
import tensorflow.compat.v1 as tf

from bert_tf import modeling
from bert_tf import optimization


class CheckpointMismatchError(ValueError):
  """The checkpoint does not fit the model built from the BERT config."""


def init_from_checkpoint(init_checkpoint, tvars=None, log=True):
  """Initialises matching variables from `init_checkpoint`.

  Variables are matched by name. A variable whose checkpoint tensor has a
  different shape raises `CheckpointMismatchError` naming the tensor and both
  shapes (the usual cause: a bert_config.json that does not belong to the
  checkpoint).

  Args:
    init_checkpoint: checkpoint prefix or directory.
    tvars: variables to consider (default: all trainable variables).
    log: log one line per variable (", *INIT_FROM_CKPT*" for restored ones)
      and a summary.

  Returns:
    dict name -> checkpoint name of the initialised variables.
  """
  if tf.io.gfile.isdir(init_checkpoint):
    latest = tf.train.latest_checkpoint(init_checkpoint)
    if latest is None:
      raise FileNotFoundError("No checkpoint found in directory %s" %
                              init_checkpoint)
    init_checkpoint = latest
  if not tf.io.gfile.exists(init_checkpoint + ".index"):
    raise FileNotFoundError(
        "Checkpoint not found: %s (expected %s.index and data files)" %
        (init_checkpoint, init_checkpoint))
  if tvars is None:
    tvars = tf.trainable_variables()
  ckpt_shapes = dict(tf.train.list_variables(init_checkpoint))
  mismatches = []
  for var in tvars:
    name = var.op.name
    if name in ckpt_shapes:
      want = var.shape.as_list()
      have = list(ckpt_shapes[name])
      if want != have:
        mismatches.append("%s: checkpoint has shape %s, model expects %s" %
                          (name, have, want))
  if mismatches:
    raise CheckpointMismatchError(
        "The checkpoint %s does not match the model built from the BERT "
        "config (is --bert_config_file the checkpoint's own?):\n  %s" %
        (init_checkpoint, "\n  ".join(mismatches)))
  assignment_map, initialized = modeling.get_assignment_map_from_checkpoint(
      tvars, init_checkpoint)
  tf.train.init_from_checkpoint(init_checkpoint, assignment_map)
  if log:
    tf.logging.info("**** Trainable Variables ****")
    for var in tvars:
      init_string = ", *INIT_FROM_CKPT*" if var.name in initialized else ""
      tf.logging.info("  name = %s, shape = %s%s", var.name, var.shape,
                      init_string)
    fresh = [v.op.name for v in tvars if v.name not in initialized]
    tf.logging.info(
        "Initialised %d of %d trainable variables from %s; %d start fresh%s",
        len(assignment_map), len(tvars), init_checkpoint, len(fresh),
        (": " + ", ".join(fresh[:20]) + (" ..." if len(fresh) > 20 else ""))
        if fresh else "")
  return dict(assignment_map)


_LAYER = re.compile(r"^bert/encoder/layer_(\d+)/")


def trainable_variables(num_hidden_layers, freeze_embeddings=False,
                        train_top_layers=None, variables=None):
  """The variables fine-tuning updates, the others frozen.

  Args:
    num_hidden_layers: the encoder's number of layers, L.
    freeze_embeddings: leave `bert/embeddings/*` (word, position and
      token-type embeddings, their layer norm) as they are.
    train_top_layers: None (every layer trains) or N in [0, L]: only the
      top N encoder layers `bert/encoder/layer_{L-N}` ... `layer_{L-1}`
      train, with the pooler and the head; the embeddings and the lower
      layers are frozen.
    variables: the candidates (default `tf.trainable_variables()`).

  Returns:
    (trained, frozen): lists of variables. Frozen variables get no gradient,
    no update and no optimizer slot; they stay in the checkpoint.

  Raises:
    ValueError: N outside [0, L], or a freeze asked of a graph without the
      reference's variable names (e.g. a TF-Hub module).
  """
  variables = list(tf.trainable_variables() if variables is None
                   else variables)
  if train_top_layers is not None and not (
      0 <= train_top_layers <= num_hidden_layers):
    raise ValueError("--train_top_layers=%d: the model has %d layers; give "
                     "0 (only the pooler and the head) to %d (every layer)."
                     % (train_top_layers, num_hidden_layers,
                        num_hidden_layers))
  if not freeze_embeddings and train_top_layers is None:
    return variables, []
  lowest = (num_hidden_layers - train_top_layers
            if train_top_layers is not None else 0)

  def frozen(name):
    if name.startswith("bert/embeddings/"):
      return freeze_embeddings or train_top_layers is not None
    match = _LAYER.match(name)
    return bool(match) and int(match.group(1)) < lowest

  if not any(v.op.name.startswith("bert/embeddings/") for v in variables):
    raise ValueError("--freeze_embeddings / --train_top_layers need the "
                     "reference's variable names (bert/embeddings/..., "
                     "bert/encoder/layer_N/...); this model has none.")
  trained = [v for v in variables if not frozen(v.op.name)]
  held = [v for v in variables if frozen(v.op.name)]
  return trained, held


def model_fn_builder(bert_config,
                     head,
                     init_checkpoint=None,
                     learning_rate=5e-5,
                     num_train_steps=0,
                     num_warmup_steps=0,
                     use_tpu=False,
                     use_one_hot_embeddings=False,
                     optimizer_kwargs=None,
                     training_hooks=None,
                     model_builder=None,
                     freeze_embeddings=False,
                     train_top_layers=None):
  """Returns a `model_fn(features, labels, mode, params)` for an Estimator.

  Args:
    bert_config: `modeling.BertConfig`.
    head: a callable from `bert_tf.heads` (ClassificationHead, SpanHead,
      PretrainingHead, ...).
    init_checkpoint: optional checkpoint to initialise from (ignored when the
      Estimator resumes from its own model_dir).
    learning_rate: float, peak learning rate.
    num_train_steps, num_warmup_steps: ints for the schedule.
    use_tpu: return TPUEstimatorSpecs (for TPUEstimator).
    use_one_hot_embeddings: one-hot embedding lookup (TPU).
    optimizer_kwargs: extra keyword arguments for
      `optimization.create_optimizer` (optimizer type, accumulation, ...).
    training_hooks: optional list of SessionRunHooks for training.
    model_builder: optional callable(features, is_training) -> an object with
      get_pooled_output() float32 [batch, H], get_sequence_output() float32
      [batch, seq, H] (and get_embedding_table() for heads that need it),
      used instead of `modeling.BertModel` (e.g. a TF-Hub module, see
      `bert_tf.hub.hub_model_builder`). `bert_config` still goes to the head.
    freeze_embeddings, train_top_layers: train only part of the model (see
      `trainable_variables`).

  Returns:
    model_fn.
  """
  optimizer_kwargs = dict(optimizer_kwargs or {})

  def model_fn(features, labels, mode, params):  # pylint: disable=unused-argument
    """Builds the graph for `mode`; features are int32 tensors [batch, ...]."""
    del labels, params
    tf.logging.info("*** Features ***")
    for name in sorted(features.keys()):
      tf.logging.info("  name = %s, shape = %s", name, features[name].shape)
    is_training = mode == tf.estimator.ModeKeys.TRAIN

    if model_builder is not None:
      model = model_builder(features, is_training)
    else:
      # The op patterns for oneDNN's CPU fusions mean nothing to XLA on a
      # TPU: there the model is built in the reference's op sequence.
      # A head that reads few positions of the last layer (a classifier:
      # none but [CLS]) has the model compute only those there.
      output_positions = (head.output_positions(features)
                          if hasattr(head, "output_positions") else None)
      with modeling.fusible_ops(modeling.fusible_ops_enabled() and
                                not use_tpu):
        model = modeling.BertModel(
            config=bert_config,
            is_training=is_training,
            input_ids=features["input_ids"],
            input_mask=features.get("input_mask"),
            token_type_ids=features.get("segment_ids"),
            use_one_hot_embeddings=use_one_hot_embeddings,
            output_positions=output_positions)
    out = head(bert_config, model, features, is_training)

    scaffold_fn = None
    if init_checkpoint:
      if use_tpu:
        def tpu_scaffold():
          init_from_checkpoint(init_checkpoint)
          return tf.train.Scaffold()
        scaffold_fn = tpu_scaffold
      else:
        init_from_checkpoint(init_checkpoint)

    if mode == tf.estimator.ModeKeys.TRAIN:
      kwargs = dict(optimizer_kwargs)
      if freeze_embeddings or train_top_layers is not None:
        trained, frozen = trainable_variables(
            bert_config.num_hidden_layers, freeze_embeddings,
            train_top_layers)
        count = lambda vs: sum(int(np.prod(v.shape.as_list())) for v in vs)  # pylint: disable=g-long-lambda
        tf.logging.info(
            "Training %d variables (%d parameters); %d frozen (%d "
            "parameters: no update, no optimizer slots).", len(trained),
            count(trained), len(frozen), count(frozen))
        kwargs["tvars"] = trained
      train_op = optimization.create_optimizer(
          out.loss, learning_rate, num_train_steps, num_warmup_steps, use_tpu,
          **kwargs)
      if use_tpu:
        return tf.estimator.tpu.TPUEstimatorSpec(
            mode=mode, loss=out.loss, train_op=train_op,
            scaffold_fn=scaffold_fn, training_hooks=training_hooks)
      return tf.estimator.EstimatorSpec(
          mode=mode, loss=out.loss, train_op=train_op,
          training_hooks=training_hooks)

    if mode == tf.estimator.ModeKeys.EVAL:
      names = sorted(out.metric_tensors)
      tensors = [out.metric_tensors[n] for n in names]

      def metric_fn(*args):
        return out.metric_fn(**dict(zip(names, args)))

      if use_tpu:
        return tf.estimator.tpu.TPUEstimatorSpec(
            mode=mode, loss=out.loss, eval_metrics=(metric_fn, tensors),
            scaffold_fn=scaffold_fn)
      return tf.estimator.EstimatorSpec(
          mode=mode, loss=out.loss, eval_metric_ops=metric_fn(*tensors))

    # PREDICT
    predictions = dict(out.predictions)
    if use_tpu:
      return tf.estimator.tpu.TPUEstimatorSpec(
          mode=mode, predictions=predictions, scaffold_fn=scaffold_fn)
    export_outputs = {
        tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY:
            tf.estimator.export.PredictOutput(predictions)
    }
    return tf.estimator.EstimatorSpec(
        mode=mode, predictions=predictions, export_outputs=export_outputs)

  return model_fn

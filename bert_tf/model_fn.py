"""One model_fn builder for every task: BertModel + a head -> Estimator spec.

`model_fn_builder(bert_config, head, ...)` builds the model, applies the head
(see `bert_tf.heads`), initialises from a checkpoint (logging which variables
came from where and refusing shape mismatches with both shapes named), and
returns a `tf.estimator.EstimatorSpec` (or a `TPUEstimatorSpec` when
`use_tpu`) for TRAIN, EVAL and PREDICT. Scripts never write their own model_fn.
"""

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
                     model_builder=None):
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
      train_op = optimization.create_optimizer(
          out.loss, learning_rate, num_train_steps, num_warmup_steps, use_tpu,
          **optimizer_kwargs)
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

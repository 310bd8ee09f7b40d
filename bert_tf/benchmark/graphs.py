"""The bert_tf graphs a benchmark times, and what ran in them.

`TFRunner` builds `modeling.BertModel` + the classification loss
(`heads.create_classification_output`) + AdamW with the reference's
schedule and global-norm clipping (`optimization.create_optimizer`) in a
plain `tf.Session` graph: random weights, synthetic inputs held in variables
(no input pipeline, nothing constant-folded). Training runs the train op;
prediction runs the probabilities with `is_training=False`. bert_tf's graph
computes only the [CLS] row of the last layer, as its classifier does
(`BertModel(output_positions=...)`). With `fusible=False` the model is built
in the reference's op sequence (`modeling.fusible_ops(False)`), with every
position of the last layer, and so is its optimizer update
(`create_optimizer(..., fused=False)`). `prune_last_layer` sets the last
layer apart from `fusible`.

`count_low_precision_ops` and `count_fused_ops` read the partition graphs
TensorFlow really executed (after grappler and oneDNN's rewrites).
"""

import numpy as np

from bert_tf.benchmark import inputs


class TFRunner(object):
  """One bert_tf graph and session for one mode."""

  def __init__(self, bert_config, cfg, mode, threads, hvd=None,
               fusible=True, prune_last_layer=None, fp16_allreduce=False):
    import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
    from bert_tf import heads  # pylint: disable=g-import-not-at-top
    from bert_tf import modeling  # pylint: disable=g-import-not-at-top
    from bert_tf import optimization  # pylint: disable=g-import-not-at-top
    from bert_tf import runtime  # pylint: disable=g-import-not-at-top
    self.tf = tf
    self.mode = mode
    training = mode == "train"
    data = inputs.synthetic_batch(bert_config, cfg, mode)
    self.batch_size = data.batch_size
    self.graph = tf.Graph()
    with self.graph.as_default():
      tf.set_random_seed(cfg.seed)

      def held(value, name):
        # Inputs live in (local) variables: nothing is constant-folded.
        return tf.Variable(value.astype(np.int32), trainable=False,
                           name=name, collections=[
                               tf.GraphKeys.LOCAL_VARIABLES])

      input_ids = held(data.input_ids, "bench_input_ids")
      input_mask = held(np.ones_like(data.input_ids), "bench_input_mask")
      segment_ids = held(data.segment_ids, "bench_segment_ids")
      label_ids = held(data.label_ids, "bench_label_ids")
      if prune_last_layer is None:
        prune_last_layer = fusible
      # A classifier reads no position of the last layer but [CLS].
      positions = (tf.zeros([self.batch_size, 0], tf.int32)
                   if prune_last_layer else None)
      with modeling.fusible_ops(fusible):
        model = modeling.BertModel(
            config=bert_config, is_training=training, input_ids=input_ids,
            input_mask=input_mask, token_type_ids=segment_ids,
            output_positions=positions)
      loss, _, _, probs = heads.create_classification_output(
          bert_config, model.get_pooled_output(), label_ids, cfg.num_labels,
          is_training=training)
      if training:
        kwargs = {}
        if cfg.precision == "fp16":
          kwargs["init_loss_scale"] = 2.0 ** 15
        if hvd is not None and hvd.size() > 1:
          from bert_tf import distributed  # pylint: disable=g-import-not-at-top
          kwargs["gradient_reducer"] = distributed.make_gradient_allreduce(
              hvd, fp16_allreduce)
        train_op = optimization.create_optimizer(
            loss, 2e-5, 10000, 1000, False, fused=fusible, **kwargs)
        self.fetch = [train_op, loss]
      else:
        self.fetch = [probs]
      init = [tf.global_variables_initializer(),
              tf.local_variables_initializer()]
      bcast = None
      if hvd is not None and hvd.size() > 1:
        bcast = hvd.broadcast_global_variables(0)
      self.graph.finalize()
    session_config = runtime.make_session_config(
        use_xla=cfg.xla, use_bf16=cfg.precision == "bf16",
        use_fp16=cfg.precision == "fp16", intra_op_threads=threads,
        inter_op_threads=1, bf16_inference=not training)
    self.session = tf.Session(graph=self.graph, config=session_config)
    self.session.run(init)
    if bcast is not None:
      self.session.run(bcast)

  def step(self):
    out = self.session.run(self.fetch)
    if self.mode == "train" and not np.isfinite(out[1]):
      raise FloatingPointError("bert_tf training loss is %s" % out[1])

  def executed_graph(self):
    """The partition graphs TensorFlow ran for one step (after grappler)."""
    tf = self.tf
    options = tf.RunOptions(output_partition_graphs=True)
    metadata = tf.RunMetadata()
    self.session.run(self.fetch, options=options, run_metadata=metadata)
    return list(metadata.partition_graphs)

  def low_precision_ops(self):
    """Counts of bfloat16 / float16 ops in the graph that ran (one step)."""
    return count_low_precision_ops(self.executed_graph())

  def fused_ops(self):
    """Fused ops of the graph that ran, e.g. {"_MklNativeFusedMatMul[BiasAdd,
    GeluApproximate]": 12} (see `count_fused_ops`)."""
    return count_fused_ops(self.executed_graph())

  def op_profile(self):
    """Op time by op type of one traced step (see `profile_ops`)."""
    tf = self.tf
    metadata = tf.RunMetadata()
    self.session.run(self.fetch, options=tf.RunOptions(
        trace_level=tf.RunOptions.FULL_TRACE), run_metadata=metadata)
    return profile_ops(metadata.step_stats)

  def close(self):
    self.session.close()


def _is_matmul(op):
  return "MatMul" in op


def profile_ops(step_stats):
  """Where one traced step's op time went.

  Args:
    step_stats: the `StepStats` of a run with trace_level FULL_TRACE.

  Returns:
    dict: "total_ms" (the ops' summed run times: ops that ran side by side
    count twice), "matmul_share" (the part in MatMul / BatchMatMul ops,
    fused or not, 0..1) and "by_op" {op type: {"ms", "count"}}, largest
    first. Times are wall times of each op on the CPU, trace overhead
    included.
  """
  by_op = {}
  for device in step_stats.dev_stats:
    for node in device.node_stats:
      # timeline_label is "name = Op(inputs)"; _SOURCE and such have none.
      label = node.timeline_label
      op = (label.split(" = ", 1)[1].split("(", 1)[0] if " = " in label
            else node.node_name)
      entry = by_op.setdefault(op, {"ms": 0.0, "count": 0})
      entry["ms"] += node.all_end_rel_micros / 1e3
      entry["count"] += 1
  return summarize_op_times(by_op, _is_matmul)


def summarize_op_times(by_op, is_matmul):
  """The profile dict of `profile_ops` from {op: {"ms", "count"}}.

  Args:
    by_op: op time (ms) and calls per op name.
    is_matmul: op name -> whether its time is a matrix product's.

  Returns:
    dict: "total_ms", "matmul_share" (0..1; None if no time) and "by_op",
    largest first, times rounded to the microsecond.
  """
  total = sum(e["ms"] for e in by_op.values())
  matmul = sum(e["ms"] for op, e in by_op.items() if is_matmul(op))
  ordered = sorted(by_op.items(), key=lambda kv: -kv[1]["ms"])
  return {"total_ms": round(total, 3),
          "matmul_share": round(matmul / total, 4) if total else None,
          "by_op": {op: {"ms": round(e["ms"], 3), "count": e["count"]}
                    for op, e in ordered}}


def count_low_precision_ops(graph_defs):
  """{"bfloat16", "float16", "total", "Cast"}: ops by their "T" dtype."""
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  counts = {"bfloat16": 0, "float16": 0, "total": 0, "Cast": 0}
  for graph_def in graph_defs:
    for node in graph_def.node:
      counts["total"] += 1
      if node.op == "Cast":
        counts["Cast"] += 1
      dtype = node.attr["T"].type if "T" in node.attr else None
      if dtype == tf.bfloat16.as_datatype_enum:
        counts["bfloat16"] += 1
      elif dtype == tf.float16.as_datatype_enum:
        counts["float16"] += 1
  return counts


def count_fused_ops(graph_defs):
  """Counts the fused ops (_Fused*, _Mkl*Fused*, _MklLayerNorm) of graphs.

  A contraction is keyed with its fused_ops attribute, e.g.
  "_MklNativeFusedMatMul[BiasAdd,GeluApproximate]".
  """
  counts = {}
  for graph_def in graph_defs:
    for node in graph_def.node:
      op = node.op
      if not (op.startswith("_Fused") or "Fused" in op or
              op == "_MklLayerNorm"):
        continue
      if "fused_ops" in node.attr:
        op += "[%s]" % ",".join(
            x.decode() for x in node.attr["fused_ops"].list.s)
      counts[op] = counts.get(op, 0) + 1
  return dict(sorted(counts.items()))

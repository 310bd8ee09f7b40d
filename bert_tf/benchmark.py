"""Training and prediction throughput of BertModel, against Hugging Face.

  python -m bert_tf.benchmark --config=base --seq_length=128 --batch_size=16 \
      --predict_batch_size=32 --precision=fp32 --xla=off --json=out.json

For a named shape (`configs/bert_<name>_*.json`: tiny, mini, small, medium,
base, large, minilm; or a path to any bert_config.json) this measures, in one
process and one run:

* bert_tf: `modeling.BertModel` + the classification loss
  (`heads.create_classification_output`) + AdamW with the reference's
  schedule and global-norm clipping (`optimization.create_optimizer`) in a
  plain `tf.Session` graph: random weights, synthetic inputs held in
  variables (no input pipeline, nothing constant-folded). Training runs the
  train op; prediction runs the probabilities with `is_training=False`.
* bert_tf with the reference's op sequence (`--unfused=on`, the default):
  the same model built under `modeling.fusible_ops(False)`, i.e. without
  the op patterns oneDNN's graph rewriter fuses (dense + GELU into one
  `_MklNativeFusedMatMul`, the shorter layer norm), timed in alternation
  with the default graph; `fusion_speedup` is their ratio and `fused_ops`
  lists the fused ops each graph really ran.
* Hugging Face transformers + PyTorch on the CPU: `BertForSequenceClassification`
  from a `transformers.BertConfig` of the same shape (same activation:
  "gelu" here is the tanh approximation, HF's "gelu_new"), `torch.optim.AdamW`
  with the same clipping, `torch.set_num_threads(threads)`; prediction under
  `torch.inference_mode()`. bf16 uses `torch.autocast("cpu", bfloat16)`.
* The machine's dense matmul rate: a chain of `matmul_size`^2 `tf.matmul`s
  in float32 and in bfloat16.

Each mode (train, predict) warms both frameworks up, then alternates timed
blocks of steps between bert_tf and HF for `rounds` rounds, so that load from
other processes hits both alike; rates use the median step time. The load
average is recorded before and after.

Model FLOPs (matmuls only; embeddings lookups, softmax, layer norm and the
optimizer are not counted). For L layers, hidden H, intermediate I, sequence
S, per example, forward:

    F = L * (8 * S * H^2        # Q, K, V and attention-output projections
             + 4 * S^2 * H      # scores Q.K^T and probabilities.V
             + 4 * S * H * I)   # the two feed-forward matmuls
        + 2 * H^2 + 2 * H * C   # pooler and classifier (C labels)

and training = 3 * F (the backward pass computes two matmuls per forward
matmul: the gradients of its input and of its weight). Model FLOP
utilisation (MFU) = F_mode * examples/sec / measured matmul rate.

Precision: "fp32"; "bf16" turns on TensorFlow's oneDNN automatic bfloat16
rewrite (float32 variables; it acts only on CPUs with native bfloat16,
AVX512-BF16 or AMX, and the JSON counts the bfloat16 ops that were really
in the executed graph); "fp16" turns on the float16 automatic mixed
precision rewrite (NVIDIA GPUs only; on a CPU the graph stays float32) with
dynamic loss scaling in training. `--xla=on` JIT-compiles the graph.
`--num_ranks=N > 1` re-runs this command under `horovodrun -np N`: every
rank trains bert_tf on its own batch with gradients averaged by Horovod
(`bert_tf.distributed`), with cores / N threads each; throughput counts all
ranks; HF and the matmul rate run on rank 0 alone while the others wait.

Writes a JSON file (see `run`) and prints a table. This module never reads
absl FLAGS; `main` parses its own arguments.
"""

import argparse
import dataclasses
import glob
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from typing import Optional, Tuple

import numpy as np

import bert_tf

PRECISIONS = ("fp32", "bf16", "fp16")
MODES = ("train", "predict")
_WORKER_ENV = "BERT_TF_BENCHMARK_HOROVOD_WORKER"
CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "configs")


@dataclasses.dataclass
class BenchmarkConfig:
  """What `run` measures.

  Attributes:
    config: a shape name of configs/ ("tiny", "mini", "small", "medium",
      "base", "large", "minilm") or a path to a bert_config.json.
    seq_length: tokens per example.
    batch_size: training batch size (per rank).
    predict_batch_size: prediction batch size.
    precision: "fp32", "bf16" or "fp16".
    xla: XLA JIT compilation of the bert_tf graph.
    num_ranks: Horovod processes for bert_tf training (1: none).
    modes: subset of ("train", "predict").
    hf: also measure Hugging Face transformers + PyTorch.
    unfused: also measure bert_tf built in the reference's op sequence
      (`modeling.fusible_ops(False)`: no dense+GELU fusion, the reference's
      layer norm), timed in alternation with the default graph, so that the
      gain of the fusions is measured in the same run.
    warmup_steps: untimed steps per framework and mode.
    steps: timed steps per framework, mode and round.
    rounds: alternations bert_tf / HF per mode.
    max_block_seconds: a timed block stops early (after at least 2 steps)
      once it has run this long.
    threads: CPU threads for TF (intra-op) and torch; 0 = all cores.
    matmul_size: side of the square matmuls of the matmul-rate measurement.
    num_labels: classifier labels.
    seed: random seed of the weights and inputs.
    json_path: where to write the results (None: nowhere).
  """
  config: str = "base"
  seq_length: int = 128
  batch_size: int = 16
  predict_batch_size: int = 32
  precision: str = "fp32"
  xla: bool = False
  num_ranks: int = 1
  modes: Tuple[str, ...] = MODES
  hf: bool = True
  unfused: bool = True
  warmup_steps: int = 2
  steps: int = 5
  rounds: int = 2
  max_block_seconds: float = 120.0
  threads: int = 0
  matmul_size: int = 2048
  num_labels: int = 2
  seed: int = 12345
  json_path: Optional[str] = None


def resolve_config(name):
  """Returns (path, short name) of a configs/ shape name or a json path."""
  if os.path.isfile(name):
    return name, os.path.splitext(os.path.basename(name))[0]
  matches = sorted(glob.glob(os.path.join(CONFIG_DIR, "*%s_*.json" %
                                          name.lower())))
  if not matches:
    known = sorted(os.path.basename(p) for p in
                   glob.glob(os.path.join(CONFIG_DIR, "*.json")))
    raise ValueError("Unknown config %r: give a path to a bert_config.json "
                     "or one of %s" % (name, ", ".join(known)))
  return matches[0], name.lower()


def model_flops_per_example(bert_config, seq_length, num_labels=2,
                            training=False):
  """Matmul FLOPs per example (see the module docstring for the formula).

  Args:
    bert_config: `modeling.BertConfig`.
    seq_length: int, S.
    num_labels: int, classifier outputs C.
    training: forward + backward (3x the forward).

  Returns:
    float, FLOPs per example.
  """
  s = float(seq_length)
  h = float(bert_config.hidden_size)
  i = float(bert_config.intermediate_size)
  per_layer = 8 * s * h * h + 4 * s * s * h + 4 * s * h * i
  forward = (bert_config.num_hidden_layers * per_layer + 2 * h * h +
             2 * h * num_labels)
  return 3.0 * forward if training else forward


def num_cpus():
  """CPU cores this process may use."""
  try:
    return len(os.sched_getaffinity(0))
  except AttributeError:  # pragma: no cover (not Linux)
    return os.cpu_count() or 1


def cpu_info():
  """(model name, has native bf16) from /proc/cpuinfo where readable."""
  model, flags = platform.processor() or platform.machine(), set()
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          model = line.split(":", 1)[1].strip()
        elif line.startswith("flags"):
          flags = set(line.split(":", 1)[1].split())
  except OSError:
    pass
  return model, bool(flags & {"avx512_bf16", "amx_bf16"})


def _median_rate(step_times, batch_size):
  med = statistics.median(step_times)
  return batch_size / med, med


# ---------------------------------------------------------------------------
# bert_tf (TensorFlow graph)


class _TFRunner(object):
  """One bert_tf graph and session for one mode."""

  def __init__(self, bert_config, cfg, mode, threads, hvd=None,
               fusible=True):
    import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
    from bert_tf import heads  # pylint: disable=g-import-not-at-top
    from bert_tf import modeling  # pylint: disable=g-import-not-at-top
    from bert_tf import optimization  # pylint: disable=g-import-not-at-top
    from bert_tf import runtime  # pylint: disable=g-import-not-at-top
    self.tf = tf
    self.mode = mode
    training = mode == "train"
    batch = cfg.batch_size if training else cfg.predict_batch_size
    self.batch_size = batch
    rng = np.random.RandomState(cfg.seed)
    s = cfg.seq_length
    ids = rng.randint(1, bert_config.vocab_size, size=(batch, s))
    segments = np.zeros((batch, s), np.int32)
    segments[:, s // 2:] = 1
    labels = rng.randint(0, cfg.num_labels, size=(batch,))
    self.graph = tf.Graph()
    with self.graph.as_default():
      tf.set_random_seed(cfg.seed)

      def held(value, name):
        # Inputs live in (local) variables: nothing is constant-folded.
        return tf.Variable(value.astype(np.int32), trainable=False,
                           name=name, collections=[
                               tf.GraphKeys.LOCAL_VARIABLES])

      input_ids = held(ids, "bench_input_ids")
      input_mask = held(np.ones((batch, s)), "bench_input_mask")
      segment_ids = held(segments, "bench_segment_ids")
      label_ids = held(labels, "bench_label_ids")
      with modeling.fusible_ops(fusible):
        model = modeling.BertModel(
            config=bert_config, is_training=training, input_ids=input_ids,
            input_mask=input_mask, token_type_ids=segment_ids)
      loss, _, _, probs = heads.create_classification_output(
          bert_config, model.get_pooled_output(), label_ids, cfg.num_labels,
          is_training=training)
      if training:
        kwargs = {}
        if cfg.precision == "fp16":
          kwargs["init_loss_scale"] = 2.0 ** 15
        if hvd is not None and hvd.size() > 1:
          from bert_tf import distributed  # pylint: disable=g-import-not-at-top
          kwargs["gradient_reducer"] = distributed.make_gradient_allreduce(hvd)
        train_op = optimization.create_optimizer(
            loss, 2e-5, 10000, 1000, False, **kwargs)
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
        inter_op_threads=1)
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

  def close(self):
    self.session.close()


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


# ---------------------------------------------------------------------------
# Hugging Face transformers + PyTorch


_HF_ACTIVATIONS = {"gelu": "gelu_new", "gelu_exact": "gelu",
                   "gelu_erf": "gelu", "relu": "relu", "tanh": "tanh"}


class _HFRunner(object):
  """BertForSequenceClassification of the same shape, for one mode."""

  def __init__(self, bert_config, cfg, mode, threads):
    import torch  # pylint: disable=g-import-not-at-top
    import transformers  # pylint: disable=g-import-not-at-top
    torch.set_num_threads(threads)
    torch.manual_seed(cfg.seed)
    self.torch = torch
    self.mode = mode
    training = mode == "train"
    batch = cfg.batch_size if training else cfg.predict_batch_size
    self.batch_size = batch
    act = bert_config.hidden_act
    hf_config = transformers.BertConfig(
        vocab_size=bert_config.vocab_size,
        hidden_size=bert_config.hidden_size,
        num_hidden_layers=bert_config.num_hidden_layers,
        num_attention_heads=bert_config.num_attention_heads,
        intermediate_size=bert_config.intermediate_size,
        hidden_act=_HF_ACTIVATIONS.get(act, act),
        hidden_dropout_prob=bert_config.hidden_dropout_prob,
        attention_probs_dropout_prob=bert_config.attention_probs_dropout_prob,
        max_position_embeddings=bert_config.max_position_embeddings,
        type_vocab_size=bert_config.type_vocab_size,
        initializer_range=bert_config.initializer_range,
        num_labels=cfg.num_labels)
    self.model = transformers.BertForSequenceClassification(hf_config)
    rng = np.random.RandomState(cfg.seed)
    s = cfg.seq_length
    segments = np.zeros((batch, s), np.int64)
    segments[:, s // 2:] = 1
    self.inputs = dict(
        input_ids=torch.from_numpy(
            rng.randint(1, bert_config.vocab_size, size=(batch, s))),
        attention_mask=torch.ones((batch, s), dtype=torch.long),
        token_type_ids=torch.from_numpy(segments))
    self.labels = torch.from_numpy(rng.randint(0, cfg.num_labels,
                                               size=(batch,)))
    self.autocast = cfg.precision == "bf16"
    if training:
      self.model.train()
      self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=2e-5,
                                         weight_decay=0.01, eps=1e-6)
    else:
      self.model.eval()

  def _forward(self, **kwargs):
    if self.autocast:
      with self.torch.autocast("cpu", dtype=self.torch.bfloat16):
        return self.model(**self.inputs, **kwargs)
    return self.model(**self.inputs, **kwargs)

  def step(self):
    torch = self.torch
    if self.mode == "train":
      loss = self._forward(labels=self.labels).loss
      loss.backward()
      torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
      self.optimizer.step()
      self.optimizer.zero_grad(set_to_none=True)
      if not torch.isfinite(loss):
        raise FloatingPointError("HF training loss is %s" % loss.item())
    else:
      with torch.inference_mode():
        self._forward().logits.sum().item()

  def close(self):
    self.model = None
    self.optimizer = None


# ---------------------------------------------------------------------------
# Matmul rate


def measure_matmul_rate(size=2048, dtype="float32", threads=0, chain=8,
                        repeats=3):
  """Dense matmul rate of TensorFlow on this machine, GFLOP/s.

  Runs a chain of `chain` dependent [size, size] x [size, size] `tf.matmul`s
  (`dtype` "float32" or "bfloat16") `repeats` times after one warm-up and
  returns the best rate (2 * size^3 FLOPs per matmul).
  """
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  from bert_tf import runtime  # pylint: disable=g-import-not-at-top
  graph = tf.Graph()
  rng = np.random.RandomState(0)
  with graph.as_default():
    tf_dtype = tf.bfloat16 if dtype == "bfloat16" else tf.float32
    a = tf.Variable(tf.cast(rng.randn(size, size).astype(np.float32),
                            tf_dtype))
    # Scaled so that the chain's values stay of order one.
    b = tf.Variable(tf.cast((rng.randn(size, size) / np.sqrt(size)).astype(
        np.float32), tf_dtype))
    c = a
    for _ in range(chain):
      c = tf.matmul(c, b)
    done = tf.reduce_sum(tf.cast(c[:1, :1], tf.float32))
    init = tf.global_variables_initializer()
  config = runtime.make_session_config(intra_op_threads=threads,
                                       inter_op_threads=1)
  with tf.Session(graph=graph, config=config) as sess:
    sess.run(init)
    sess.run(done)
    best = float("inf")
    for _ in range(repeats):
      start = time.perf_counter()
      sess.run(done)
      best = min(best, time.perf_counter() - start)
  return chain * 2.0 * size ** 3 / best / 1e9


# ---------------------------------------------------------------------------
# The run


def _time_block(runner, steps, max_seconds):
  times = []
  start = time.perf_counter()
  for _ in range(steps):
    t0 = time.perf_counter()
    runner.step()
    times.append(time.perf_counter() - t0)
    if len(times) >= 2 and time.perf_counter() - start > max_seconds:
      break
  return times


def _barrier(hvd, name):
  """Waits for all Horovod ranks (a tiny allreduce)."""
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  with tf.Graph().as_default():
    op = hvd.allreduce(tf.constant([1.0]), name="bench_barrier_" + name)
    with tf.Session() as sess:
      sess.run(op)


def _log(message):
  sys.stdout.write(message + "\n")
  sys.stdout.flush()


def run(cfg, hvd=None):
  """Runs the benchmark; returns (and writes, with cfg.json_path) a dict.

  The dict holds the settings, `flops_per_example` {"forward", "train"},
  `matmul_gflops` {"float32", "bfloat16"}, and per mode in `results`:
  `bert_tf` and `hf_torch` {"examples_per_sec", "step_time_sec" (median),
  "step_times_sec", "batch_size"}, `ratio_vs_hf` (bert_tf / HF examples per
  second), `model_gflops` (FLOPs x examples/sec), `mfu_vs_fp32_matmul` and
  `mfu_vs_bf16_matmul`; plus `loadavg_start` / `loadavg_end`, versions and
  the CPU. With `hvd` (a Horovod worker), rank 0 alone measures HF and the
  matmul rate and writes.
  """
  bert_tf.quiet_tensorflow()
  from bert_tf import modeling  # pylint: disable=g-import-not-at-top
  import tensorflow as tf2  # pylint: disable=g-import-not-at-top
  if cfg.precision not in PRECISIONS:
    raise ValueError("precision must be one of %s, got %r" %
                     (", ".join(PRECISIONS), cfg.precision))
  for mode in cfg.modes:
    if mode not in MODES:
      raise ValueError("modes must be among %s, got %r" % (MODES, mode))
  if cfg.xla:
    from bert_tf import distributed  # pylint: disable=g-import-not-at-top
    distributed.enable_xla_on_cpu()
  config_path, config_name = resolve_config(cfg.config)
  bert_config = modeling.BertConfig.from_json_file(config_path)
  if cfg.seq_length > bert_config.max_position_embeddings:
    raise ValueError("seq_length %d > max_position_embeddings %d of %s" % (
        cfg.seq_length, bert_config.max_position_embeddings, config_path))
  size = hvd.size() if hvd is not None else 1
  rank = hvd.rank() if hvd is not None else 0
  chief = rank == 0
  cores = num_cpus()
  threads = cfg.threads or cores
  tf_threads = max(1, threads // size)
  cpu_model, native_bf16 = cpu_info()
  loadavg_start = os.getloadavg()
  flops = {"forward": model_flops_per_example(
               bert_config, cfg.seq_length, cfg.num_labels, training=False),
           "train": model_flops_per_example(
               bert_config, cfg.seq_length, cfg.num_labels, training=True)}

  matmul = {}
  if hvd is not None and size > 1:
    _barrier(hvd, "matmul_start")  # the other ranks wait, idle
  if chief:
    _log("Measuring the matmul rate (%dx%d, %d threads)..." % (
        cfg.matmul_size, cfg.matmul_size, threads))
    matmul["float32"] = measure_matmul_rate(cfg.matmul_size, "float32",
                                            threads)
    matmul["bfloat16"] = measure_matmul_rate(cfg.matmul_size, "bfloat16",
                                             threads)
    _log("  float32 %.1f GFLOP/s, bfloat16 %.1f GFLOP/s" % (
        matmul["float32"], matmul["bfloat16"]))
  if hvd is not None and size > 1:
    _barrier(hvd, "matmul_end")

  results = {}
  low_precision = None
  low_precision_by_mode, low_precision_unfused, fused = {}, {}, {}
  for mode in cfg.modes:
    if mode == "predict" and size > 1:
      continue  # prediction has no gradients to average: one process
    flops_mode = flops["train" if mode == "train" else "forward"]
    ours = _TFRunner(bert_config, cfg, mode, tf_threads, hvd=hvd)
    unfused = _TFRunner(bert_config, cfg, mode, tf_threads, fusible=False) if (
        cfg.unfused and size == 1) else None
    hf = _HFRunner(bert_config, cfg, mode, threads) if (
        cfg.hf and chief) else None
    _log("%s: warming up (%d steps each)..." % (mode, cfg.warmup_steps))
    for _ in range(cfg.warmup_steps):
      ours.step()
    if chief and cfg.precision != "fp32" and low_precision is None:
      low_precision = ours.low_precision_ops()
    if chief:
      fused[mode] = ours.fused_ops()
    if unfused is not None:
      for _ in range(cfg.warmup_steps):
        unfused.step()
      fused[mode + "_unfused"] = unfused.fused_ops()
      if cfg.precision != "fp32":
        low_precision_unfused[mode] = unfused.low_precision_ops()
    if chief and cfg.precision != "fp32":
      low_precision_by_mode[mode] = ours.low_precision_ops()
    if hf is not None:
      for _ in range(cfg.warmup_steps):
        hf.step()
    ours_times, unfused_times, hf_times = [], [], []
    for r in range(cfg.rounds):
      ours_times += _time_block(ours, cfg.steps, cfg.max_block_seconds)
      _log("  round %d bert_tf: %.3f s/step" % (
          r + 1, statistics.median(ours_times[-cfg.steps:])))
      if unfused is not None:
        unfused_times += _time_block(unfused, cfg.steps,
                                     cfg.max_block_seconds)
        _log("  round %d bert_tf, reference ops: %.3f s/step" % (
            r + 1, statistics.median(unfused_times[-cfg.steps:])))
      if hvd is not None and size > 1:
        _barrier(hvd, "%s_%d" % (mode, r))
      if hf is not None:
        hf_times += _time_block(hf, cfg.steps, cfg.max_block_seconds)
        _log("  round %d HF:      %.3f s/step" % (
            r + 1, statistics.median(hf_times[-cfg.steps:])))
      if hvd is not None and size > 1:
        _barrier(hvd, "%s_%d_hf" % (mode, r))
    ours.close()
    if unfused is not None:
      unfused.close()
    if hf is not None:
      hf.close()
    global_batch = ours.batch_size * (size if mode == "train" else 1)
    rate, med = _median_rate(ours_times, global_batch)
    entry = {"bert_tf": {"examples_per_sec": rate, "step_time_sec": med,
                         "step_times_sec": ours_times,
                         "batch_size": global_batch}}
    entry["model_gflops"] = flops_mode * rate / 1e9
    if matmul:
      entry["mfu_vs_fp32_matmul"] = entry["model_gflops"] / matmul["float32"]
      entry["mfu_vs_bf16_matmul"] = entry["model_gflops"] / matmul["bfloat16"]
    if unfused is not None:
      un_rate, un_med = _median_rate(unfused_times, unfused.batch_size)
      entry["bert_tf_unfused"] = {"examples_per_sec": un_rate,
                                  "step_time_sec": un_med,
                                  "step_times_sec": unfused_times,
                                  "batch_size": unfused.batch_size,
                                  "model_gflops": flops_mode * un_rate / 1e9}
      entry["fusion_speedup"] = rate / un_rate
    if hf is not None:
      hf_rate, hf_med = _median_rate(hf_times, hf.batch_size)
      entry["hf_torch"] = {"examples_per_sec": hf_rate,
                           "step_time_sec": hf_med,
                           "step_times_sec": hf_times,
                           "batch_size": hf.batch_size,
                           "model_gflops": flops_mode * hf_rate / 1e9}
      entry["ratio_vs_hf"] = rate / hf_rate
      if unfused is not None:
        entry["bert_tf_unfused"]["ratio_vs_hf"] = un_rate / hf_rate
    results[mode] = entry

  if not chief:
    return None
  import torch  # pylint: disable=g-import-not-at-top
  import transformers  # pylint: disable=g-import-not-at-top
  record = {
      "benchmark": "bert_tf.benchmark",
      "date": time.strftime("%Y-%m-%d %H:%M:%S"),
      "config": config_name,
      "config_file": os.path.relpath(config_path),
      "shape": {k: getattr(bert_config, k) for k in (
          "num_hidden_layers", "hidden_size", "num_attention_heads",
          "intermediate_size", "vocab_size", "hidden_act")},
      "seq_length": cfg.seq_length,
      "batch_size": cfg.batch_size,
      "predict_batch_size": cfg.predict_batch_size,
      "precision": cfg.precision,
      "xla": cfg.xla,
      "num_ranks": size,
      "threads": threads,
      "threads_per_rank": tf_threads,
      "warmup_steps": cfg.warmup_steps,
      "steps": cfg.steps,
      "rounds": cfg.rounds,
      "flops_per_example": flops,
      "matmul_gflops": matmul,
      "matmul_size": cfg.matmul_size,
      "low_precision_ops": low_precision,
      "low_precision_ops_by_mode": low_precision_by_mode,
      "low_precision_ops_unfused": low_precision_unfused,
      "fused_ops": fused,
      "results": results,
      "loadavg_start": [round(x, 2) for x in loadavg_start],
      "loadavg_end": [round(x, 2) for x in os.getloadavg()],
      "cpu": cpu_model,
      "cores": cores,
      "native_bf16": native_bf16,
      "nice": os.nice(0),
      "versions": {"bert_tf": bert_tf.__version__,
                   "tensorflow": tf2.__version__,
                   "torch": torch.__version__,
                   "transformers": transformers.__version__,
                   "python": platform.python_version()},
  }
  notes = []
  if cfg.precision == "bf16" and not native_bf16:
    notes.append("This CPU has no native bfloat16 (AVX512-BF16/AMX): "
                 "TensorFlow's oneDNN kernels fall back to emulated "
                 "bfloat16, slower than float32.")
  if cfg.precision == "fp16":
    notes.append("The float16 rewrite acts on NVIDIA GPUs only: on a CPU "
                 "the graph computes in float32 (plus loss scaling).")
  if loadavg_start[0] > 1.5 * cores or record["loadavg_end"][0] > 1.5 * cores:
    notes.append("The machine was busy (load average above 1.5x its %d "
                 "cores): absolute rates are low and noisy." % cores)
  record["notes"] = notes
  _log(format_table(record))
  for note in notes:
    _log("Note: " + note)
  if cfg.json_path:
    directory = os.path.dirname(os.path.abspath(cfg.json_path))
    os.makedirs(directory, exist_ok=True)
    tmp = cfg.json_path + ".tmp"
    with open(tmp, "w") as f:
      json.dump(record, f, indent=2)
    os.replace(tmp, cfg.json_path)
    _log("JSON: %s" % cfg.json_path)
  return record


def format_table(record):
  """The results as a Markdown table (one row per mode and framework)."""
  lines = [
      "%s (L=%d H=%d), seq %d, %s, XLA %s, %d rank(s), %d threads; matmul "
      "float32 %s GFLOP/s, bfloat16 %s GFLOP/s; load %s -> %s" % (
          record["config"], record["shape"]["num_hidden_layers"],
          record["shape"]["hidden_size"], record["seq_length"],
          record["precision"], "on" if record["xla"] else "off",
          record["num_ranks"], record["threads"],
          _fmt(record["matmul_gflops"].get("float32")),
          _fmt(record["matmul_gflops"].get("bfloat16")),
          record["loadavg_start"], record["loadavg_end"]),
      "",
      "| mode | framework | batch | examples/sec | step time (s) | "
      "model GFLOP/s | MFU vs fp32 matmul | bert_tf / HF |",
      "|---|---|---|---|---|---|---|---|"]
  for mode, entry in record["results"].items():
    ours = entry["bert_tf"]
    lines.append("| %s | bert_tf | %d | %.2f | %.3f | %.1f | %s | %s |" % (
        mode, ours["batch_size"], ours["examples_per_sec"],
        ours["step_time_sec"], entry["model_gflops"],
        _pct(entry.get("mfu_vs_fp32_matmul")),
        "%.2fx" % entry["ratio_vs_hf"] if "ratio_vs_hf" in entry else "-"))
    un = entry.get("bert_tf_unfused")
    if un:
      lines.append(
          "| %s | bert_tf, reference ops | %d | %.2f | %.3f | %.1f | %s | %s |"
          % (mode, un["batch_size"], un["examples_per_sec"],
             un["step_time_sec"], un["model_gflops"],
             _pct(un["model_gflops"] / record["matmul_gflops"]["float32"]
                  if record["matmul_gflops"] else None),
             "%.2fx" % un["ratio_vs_hf"] if "ratio_vs_hf" in un else "-"))
    hf = entry.get("hf_torch")
    if hf:
      mfu = (hf["model_gflops"] / record["matmul_gflops"]["float32"]
             if record["matmul_gflops"] else None)
      lines.append("| %s | HF torch | %d | %.2f | %.3f | %.1f | %s | |" % (
          mode, hf["batch_size"], hf["examples_per_sec"],
          hf["step_time_sec"], hf["model_gflops"], _pct(mfu)))
  for mode, entry in record["results"].items():
    if "fusion_speedup" in entry:
      lines.append("%s: fusions %.2fx the reference's op sequence (same run)"
                   % (mode, entry["fusion_speedup"]))
  return "\n".join(lines)


def _fmt(x):
  return "-" if x is None else "%.1f" % x


def _pct(x):
  return "-" if x is None else "%.0f%%" % (100 * x)


def _on_off(value):
  value = value.lower()
  if value in ("on", "true", "1", "yes"):
    return True
  if value in ("off", "false", "0", "no"):
    return False
  raise argparse.ArgumentTypeError("expected on or off, got %r" % value)


def parse_args(argv=None):
  """Parses the command line into a `BenchmarkConfig`."""
  d = BenchmarkConfig()
  p = argparse.ArgumentParser(
      prog="python -m bert_tf.benchmark",
      description="Training/prediction throughput of bert_tf vs Hugging Face "
                  "transformers + PyTorch, and model FLOP utilisation.")
  p.add_argument("--config", default=d.config,
                 help="tiny, mini, small, medium, base, large, minilm, or a "
                      "bert_config.json path")
  p.add_argument("--seq_length", type=int, default=d.seq_length)
  p.add_argument("--batch_size", type=int, default=d.batch_size,
                 help="training batch size (per rank)")
  p.add_argument("--predict_batch_size", type=int,
                 default=d.predict_batch_size)
  p.add_argument("--precision", choices=PRECISIONS, default=d.precision)
  p.add_argument("--xla", type=_on_off, default=d.xla, help="on or off")
  p.add_argument("--num_ranks", type=int, default=d.num_ranks,
                 help="Horovod processes for bert_tf training")
  p.add_argument("--modes", default=",".join(d.modes),
                 help="comma-separated: train, predict")
  p.add_argument("--hf", type=_on_off, default=d.hf,
                 help="also measure HF transformers + PyTorch (on/off)")
  p.add_argument("--unfused", type=_on_off, default=d.unfused,
                 help="also measure the graph without the fusions, in the "
                      "reference's op sequence (on/off)")
  p.add_argument("--warmup_steps", type=int, default=d.warmup_steps)
  p.add_argument("--steps", type=int, default=d.steps,
                 help="timed steps per framework, mode and round")
  p.add_argument("--rounds", type=int, default=d.rounds)
  p.add_argument("--max_block_seconds", type=float,
                 default=d.max_block_seconds)
  p.add_argument("--threads", type=int, default=d.threads,
                 help="0 = all cores")
  p.add_argument("--matmul_size", type=int, default=d.matmul_size)
  p.add_argument("--seed", type=int, default=d.seed)
  p.add_argument("--json", default=None,
                 help="output JSON (default: benchmark-<config>-seq<S>-"
                      "<precision>[-xla].json in the current directory)")
  a = p.parse_args(argv)
  if a.num_ranks < 1 or a.steps < 1 or a.rounds < 1 or a.warmup_steps < 0:
    p.error("num_ranks, steps and rounds must be >= 1, warmup_steps >= 0")
  json_path = a.json or "benchmark-%s-seq%d-%s%s.json" % (
      os.path.splitext(os.path.basename(a.config))[0], a.seq_length,
      a.precision, "-xla" if a.xla else "")
  return BenchmarkConfig(
      config=a.config, seq_length=a.seq_length, batch_size=a.batch_size,
      predict_batch_size=a.predict_batch_size, precision=a.precision,
      xla=a.xla, num_ranks=a.num_ranks,
      modes=tuple(m.strip() for m in a.modes.split(",") if m.strip()),
      hf=a.hf, unfused=a.unfused, warmup_steps=a.warmup_steps, steps=a.steps, rounds=a.rounds,
      max_block_seconds=a.max_block_seconds, threads=a.threads,
      matmul_size=a.matmul_size, seed=a.seed, json_path=json_path)


def _launch_horovod(cfg, argv):
  """Re-runs this command under `horovodrun -np num_ranks`; returns its rc."""
  horovodrun = shutil.which("horovodrun") or os.path.join(
      os.path.dirname(sys.executable), "horovodrun")
  if not os.path.exists(horovodrun):
    raise ValueError("--num_ranks=%d needs Horovod's horovodrun, which is "
                     "not installed here." % cfg.num_ranks)
  env = dict(os.environ, **{_WORKER_ENV: "1"})
  command = [horovodrun, "-np", str(cfg.num_ranks), "-H",
             "localhost:%d" % cfg.num_ranks, sys.executable, "-m",
             "bert_tf.benchmark"] + list(argv)
  _log("Launching: %s" % " ".join(command))
  return subprocess.call(command, env=env)


def main(argv=None):
  argv = list(sys.argv[1:] if argv is None else argv)
  cfg = parse_args(argv)
  if cfg.num_ranks > 1 and not os.environ.get(_WORKER_ENV):
    return _launch_horovod(cfg, argv)
  hvd = None
  if os.environ.get(_WORKER_ENV):
    from bert_tf import distributed  # pylint: disable=g-import-not-at-top
    hvd = distributed.import_horovod()
    hvd.init()
    if hvd.size() != cfg.num_ranks:
      raise ValueError("Started with %d Horovod ranks, --num_ranks=%d" %
                       (hvd.size(), cfg.num_ranks))
  run(cfg, hvd=hvd)
  return 0


if __name__ == "__main__":
  sys.exit(main())

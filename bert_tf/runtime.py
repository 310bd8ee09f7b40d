"""Estimator plumbing shared by every script: configs, estimators, progress.

* `make_session_config`: threads, XLA JIT, oneDNN bfloat16 rewrite.
* `make_run_config` / `make_estimator`: a plain `tf.estimator.Estimator` on
  CPU/GPU, a `TPUEstimator` when `use_tpu` (same model_fn).
* `ThroughputHook`: examples/sec (after warm-up), step time and ETA in the
  log, a JSON line per N steps, and a summary line at the end.
* `set_verbosity`: TF logging at INFO, each line once, without the
  deprecation noise.

This module never reads absl FLAGS.
"""

import dataclasses
import json
import os
import time
from typing import Optional

import tensorflow.compat.v1 as tf

import bert_tf
from bert_tf import host
from bert_tf import input_pipeline
from bert_tf.settings import setting


@dataclasses.dataclass(kw_only=True)
class TpuConfig:
  """The reference's TPU settings, shared by every training script's config."""
  use_tpu: bool = setting(False, "Whether to use TPU or GPU/CPU.")
  tpu_name: Optional[str] = setting(
      None, "The Cloud TPU to use for training. This should be either the "
      "name used when creating the Cloud TPU, or a "
      "grpc://ip.address.of.tpu:8470 url.")
  tpu_zone: Optional[str] = setting(
      None, "[Optional] GCE zone where the Cloud TPU is located in. If not "
      "specified, we will attempt to automatically detect the GCE project "
      "from metadata.")
  gcp_project: Optional[str] = setting(
      None, "[Optional] Project name for the Cloud TPU-enabled project. If "
      "not specified, we will attempt to automatically detect the GCE "
      "project from metadata.")
  master: Optional[str] = setting(None, "[Optional] TensorFlow master URL.")
  num_tpu_cores: int = setting(
      8, "Only used if `use_tpu` is True. Total number of TPU cores to use.")


@dataclasses.dataclass(kw_only=True)
class RunSettings:
  """Checkpoint, seed, export, logging and input-order settings of a run."""
  save_checkpoints_steps: int = setting(
      1000, "How often to save the model checkpoint.")
  iterations_per_loop: int = setting(
      1000, "How many steps to make in each estimator call.")
  keep_checkpoint_max: int = setting(
      5, "How many recent checkpoints to keep.")
  random_seed: Optional[int] = setting(
      None, "Graph-level random seed (initialisation, dropout, shuffling).")
  export_dir: Optional[str] = setting(
      None, "If set, export a SavedModel for serving under this directory "
      "(of the best checkpoint with --keep_best_checkpoint_by).")
  log_every_n_steps: int = setting(
      50, "Log throughput (examples/sec, ETA) every this many steps.")
  use_bucketing: bool = setting(
      False, "Length bucketing (CPU/GPU, ignored with --use_tpu): training "
      "batches hold examples of similar length, and every training, eval "
      "and predict batch is padded only to its longest member instead of "
      "--max_seq_length. Eval and predict keep the example order and give "
      "the same results as fixed padding.")
  bucket_width: int = setting(
      input_pipeline.DEFAULT_BUCKET_WIDTH,
      "With --use_bucketing: the width of a length bucket, in tokens (a "
      "training batch holds examples whose lengths fall in one bucket). "
      "A width of at least --max_seq_length makes one bucket: batches "
      "composed at random, as with fixed padding, each padded only to its "
      "longest member.")
  shuffle_buffer: int = setting(
      100, "Training records held in the shuffle buffer (100, as the "
      "reference). 0 shuffles all records, reshuffled every epoch: a full "
      "permutation per epoch instead of the file order perturbed by 100 "
      "places (holds every record in memory).")


def bucket_width(cfg):
  """A run's --bucket_width (the default where a config has none)."""
  return getattr(cfg, "bucket_width", input_pipeline.DEFAULT_BUCKET_WIDTH)


def set_verbosity(level=tf.logging.INFO):
  """INFO logging for progress, each line once, without deprecation noise."""
  bert_tf.quiet_tensorflow()
  _print_each_log_line_once()
  tf.logging.set_verbosity(level)


# The handler TensorFlow made for its own logger, once moved to the root.
_moved_tf_handlers = []


def _print_each_log_line_once():
  """Leaves exactly one handler printing TensorFlow's log records.

  TensorFlow gives its logger a handler of its own when it is first used
  while the root logger has none, and its records also propagate to the
  root. Once anything configures the root (absl's `app.run`, or absl's first
  log call outside an app), every line is printed twice. Here TensorFlow's
  handler moves to the root if the root has none (so absl's first log call
  finds it configured), and is dropped if the root has another one (absl's,
  or pytest's), so records reach the one handler through propagation.
  Idempotent.
  """
  import logging  # pylint: disable=g-import-not-at-top
  root = logging.getLogger()
  tf_logger = tf.get_logger()
  for handler in list(tf_logger.handlers):
    tf_logger.removeHandler(handler)
    if not root.handlers:
      root.addHandler(handler)
      _moved_tf_handlers.append(handler)
  others = [h for h in root.handlers if h not in _moved_tf_handlers]
  if others:
    for handler in _moved_tf_handlers:
      root.removeHandler(handler)


def make_session_config(use_xla=False, use_bf16=False, intra_op_threads=0,
                        inter_op_threads=0, gpu_index=None, use_fp16=False,
                        bf16_inference=False):
  """Returns a tf.ConfigProto.

  Args:
    use_xla: turn on XLA JIT for the whole graph (on CPU this also needs
      TF_XLA_FLAGS=--tf_xla_cpu_global_jit, which is set here).
    use_bf16: turn on the oneDNN automatic bfloat16 rewrite (CPUs with
      AVX512-BF16 / AMX); variables stay float32.
    intra_op_threads, inter_op_threads: 0 lets TF choose.
    gpu_index: pin this process to one GPU (Horovod's local rank).
    use_fp16: turn on the automatic mixed-precision (float16) graph rewrite;
      it acts on NVIDIA GPUs only (on CPU TF logs that it skips it).
      Variables stay float32; pair it with loss scaling
      (`optimization.create_optimizer(..., init_loss_scale=...)`).
    bf16_inference: with `use_bf16`, for inference-only graphs: also fuse
      dense + GELU in bfloat16 (`enable_bf16_rewrite(inference=True)`).
  """
  config = tf.ConfigProto(
      allow_soft_placement=True,
      intra_op_parallelism_threads=intra_op_threads,
      inter_op_parallelism_threads=inter_op_threads)
  if use_xla:
    flags = os.environ.get("TF_XLA_FLAGS", "")
    if "--tf_xla_cpu_global_jit" not in flags:
      os.environ["TF_XLA_FLAGS"] = (flags + " --tf_xla_cpu_global_jit").strip()
    config.graph_options.optimizer_options.global_jit_level = (
        tf.OptimizerOptions.ON_1)
  from tensorflow.core.protobuf import rewriter_config_pb2  # pylint: disable=g-import-not-at-top
  if use_bf16:
    enable_bf16_rewrite(config, inference=bf16_inference)
  if use_fp16:
    config.graph_options.rewrite_options.auto_mixed_precision = (
        rewriter_config_pb2.RewriterConfig.ON)
  if gpu_index is not None:
    config.gpu_options.visible_device_list = str(gpu_index)
    config.gpu_options.allow_growth = True
  return config


# Ops that the bfloat16 rewrite must leave in float32 although TF 2.15's
# oneDNN lists would convert them: the loss's log-softmax (an "infer" op that
# follows the bfloat16 logits MatMul, so it would run in bfloat16, and with
# it the loss and the first gradient ops). Denied ops also keep the float32
# ops downstream of them (the loss) in float32.
BF16_FLOAT32_OPS = ("LogSoftmax",)

_AMP_ENV = "TF_AUTO_MIXED_PRECISION_GRAPH_REWRITE_%s"

# For inference graphs (`enable_bf16_rewrite(inference=True)`): GELU's ops
# join the bfloat16 region (Pow off the deny list, Pow and Tanh on the infer
# list), and grappler's passes run in this order, constant folding once more
# after the bfloat16 rewrite (it turns the rewrite's Cast(Const) nodes into
# bfloat16 constants, which the remapper's GELU pattern needs), so that the
# intermediate dense layer runs as one bfloat16
# `_MklNativeFusedMatMul[BiasAdd,GeluApproximate]`. The names are those of
# grappler's `custom_optimizers`; the list is TF 2.15's default CPU pipeline.
BF16_INFERENCE_INFER_OPS = ("Tanh", "Pow")
BF16_INFERENCE_PASSES = (
    "pruning", "function", "common_subgraph_elimination", "arithmetic",
    "debug_stripper", "constfold", "shape",
    "auto_mixed_precision_onednn_bfloat16", "constfold", "arithmetic",
    "layout", "remap", "loop", "dependency", "memory")


def enable_bf16_rewrite(config, inference=False):
  """Turns on oneDNN's automatic bfloat16 rewrite in a tf.ConfigProto (in
  place; variables stay float32); returns it.

  What the rewrite converts comes from TF 2.15's lists
  (`auto_mixed_precision_lists.h`): MatMul and BatchMatMul run in bfloat16,
  with the element-wise ops between them (bias, softmax of the attention);
  layer norm's Mean and GELU's Pow are on its deny list and Tanh on none (a
  missing comma in 2.15 turns "Sum", "Tanh" into "SumTanh"), so layer norm,
  GELU and the residual adds stay float32, in bert_tf's graph as in the
  reference's. `BF16_FLOAT32_OPS` (the loss's log-softmax) are moved to the
  deny list here, through the rewrite's documented environment variables
  (read whenever a session optimizes a graph; values a user set are kept).

  With `inference=True` (the Predictor, prediction benchmarks), on CPUs
  with native bfloat16 (AVX512-BF16 or AMX), GELU runs in bfloat16 too,
  fused with its dense layer (`BF16_INFERENCE_PASSES`): 1.3x faster BERT-Base prediction than the plain rewrite on an AMX CPU
  (docs/benchmarks.md). Not for training graphs: there GELU cannot fuse (its
  input is kept for the gradient) and bfloat16 element-wise ops do not pay.
  The list change is process-wide (environment variables); it only matters
  to sessions with the bfloat16 rewrite on.

  Args:
    config: a tf.ConfigProto, changed in place.
    inference: the graphs this config runs are inference-only.

  Returns:
    `config`.
  """
  from tensorflow.core.protobuf import rewriter_config_pb2  # pylint: disable=g-import-not-at-top
  rewrite = config.graph_options.rewrite_options
  rewrite.auto_mixed_precision_onednn_bfloat16 = (
      rewriter_config_pb2.RewriterConfig.ON)
  for list_name in ("INFERLIST_REMOVE", "DENYLIST_ADD"):
    _add_to_env_list(_AMP_ENV % list_name, BF16_FLOAT32_OPS)
  if inference and host.cpu_flags() & host.NATIVE_BF16_FLAGS:
    # (Without native bfloat16 oneDNN runs none of it: left as it was.)
    _add_to_env_list(_AMP_ENV % "INFERLIST_ADD", BF16_INFERENCE_INFER_OPS)
    _add_to_env_list(_AMP_ENV % "DENYLIST_REMOVE", ("Pow",))
    if not rewrite.custom_optimizers:
      for name in BF16_INFERENCE_PASSES:
        rewrite.custom_optimizers.add().name = name
  return config


def _add_to_env_list(name, ops):
  """Adds `ops` to the comma-separated list in environment variable `name`."""
  current = [x for x in os.environ.get(name, "").split(",") if x]
  missing = [op for op in ops if op not in current]
  if missing:
    os.environ[name] = ",".join(current + missing)


def make_run_config(output_dir, save_checkpoints_steps=1000,
                    keep_checkpoint_max=5, iterations_per_loop=1000,
                    use_tpu=False, tpu_name=None, tpu_zone=None,
                    gcp_project=None, master=None, num_tpu_cores=8,
                    random_seed=None, session_config=None,
                    log_step_count_steps=100, save_summary_steps=None):
  """Returns a RunConfig (a tpu.RunConfig when `use_tpu`).

  Summaries (loss, learning_rate) are written every `save_summary_steps`
  steps, by default as often as the step log (`log_step_count_steps`).
  """
  if save_summary_steps is None:
    save_summary_steps = log_step_count_steps
  if use_tpu:
    cluster = None
    if tpu_name:
      cluster = tf.distribute.cluster_resolver.TPUClusterResolver(
          tpu_name, zone=tpu_zone, project=gcp_project)
    return tf.estimator.tpu.RunConfig(
        cluster=cluster,
        master=master,
        model_dir=output_dir,
        save_checkpoints_steps=save_checkpoints_steps,
        keep_checkpoint_max=keep_checkpoint_max,
        tf_random_seed=random_seed,
        save_summary_steps=save_summary_steps,
        tpu_config=tf.estimator.tpu.TPUConfig(
            iterations_per_loop=iterations_per_loop,
            num_shards=num_tpu_cores,
            per_host_input_for_training=(
                tf.estimator.tpu.InputPipelineConfig.PER_HOST_V2)))
  return tf.estimator.RunConfig(
      model_dir=output_dir,
      save_checkpoints_steps=save_checkpoints_steps,
      keep_checkpoint_max=keep_checkpoint_max,
      tf_random_seed=random_seed,
      session_config=session_config,
      log_step_count_steps=log_step_count_steps,
      save_summary_steps=save_summary_steps)


def make_estimator(model_fn, run_config, use_tpu=False, train_batch_size=32,
                   eval_batch_size=8, predict_batch_size=8):
  """Returns a TPUEstimator (use_tpu) or an Estimator over `model_fn`."""
  if use_tpu:
    return tf.estimator.tpu.TPUEstimator(
        use_tpu=True,
        model_fn=model_fn,
        config=run_config,
        train_batch_size=train_batch_size,
        eval_batch_size=eval_batch_size,
        predict_batch_size=predict_batch_size)
  return tf.estimator.Estimator(model_fn=model_fn, config=run_config)


def check_max_seq_length(max_seq_length, bert_config, bert_config_file=None):
  """Raises ValueError if sequences would exceed the model's positions."""
  if max_seq_length > bert_config.max_position_embeddings:
    raise ValueError(
        "Cannot use sequence length %d because the BERT model was only "
        "trained up to sequence length %d (max_position_embeddings in %s)." %
        (max_seq_length, bert_config.max_position_embeddings,
         bert_config_file or "the BERT config"))


def estimator_from_config(cfg, model_fn, train_batch_size=32,
                          eval_batch_size=8, predict_batch_size=8,
                          session_config=None, is_chief=True, model_dir=None):
  """Builds the (TPU)Estimator from a driver config's common fields.

  `cfg` is any object with output_dir and the fields of `RunSettings` and
  `TpuConfig`, such as the drivers' dataclasses.

  `is_chief=False` (Horovod ranks other than 0) writes no checkpoints, no
  summaries and no loss/step-rate log lines, and uses `model_dir` (a private
  scratch directory) instead of `cfg.output_dir`.
  """
  if model_dir is None:
    model_dir = cfg.output_dir
  run_config = make_run_config(
      model_dir,
      save_checkpoints_steps=(cfg.save_checkpoints_steps if is_chief
                              else None),
      save_summary_steps=None if is_chief else 0,
      keep_checkpoint_max=cfg.keep_checkpoint_max,
      iterations_per_loop=cfg.iterations_per_loop, use_tpu=cfg.use_tpu,
      tpu_name=cfg.tpu_name, tpu_zone=cfg.tpu_zone,
      gcp_project=cfg.gcp_project, master=cfg.master,
      num_tpu_cores=cfg.num_tpu_cores, random_seed=cfg.random_seed,
      session_config=session_config or make_session_config(),
      # Off for the other ranks: its global_step/sec summaries would be
      # their only writes (the loss lines of rank 0 stand for all).
      log_step_count_steps=cfg.log_every_n_steps if is_chief else None)
  return make_estimator(model_fn, run_config, use_tpu=cfg.use_tpu,
                        train_batch_size=train_batch_size,
                        eval_batch_size=eval_batch_size,
                        predict_batch_size=predict_batch_size)


def bind_batch_size(input_fn, batch_size, use_tpu=False):
  """Adapts `input_fn(params)` for an Estimator that passes no batch size.

  TPUEstimator fills params["batch_size"] itself; a plain Estimator does not.
  """
  if use_tpu:
    return input_fn
  return lambda: input_fn({"batch_size": batch_size})


def process_rank():
  """This process's rank in a multi-process (Horovod/MPI) job, else 0.

  Read from the environment that horovodrun / mpirun / Slurm set, so it is
  known before (or without) `hvd.init()`.
  """
  for name in ("HOROVOD_RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK",
               "SLURM_PROCID"):
    value = os.environ.get(name)
    if value is not None and value.strip().isdigit():
      return int(value)
  return 0


def checkpoint_step(model_dir):
  """The global step of the latest checkpoint in `model_dir` (0 if none)."""
  latest = tf.train.latest_checkpoint(model_dir)
  if not latest:
    return 0
  return int(tf.train.load_variable(latest, tf.GraphKeys.GLOBAL_STEP))


def train_chunk(input_fn, model_dir, num_train_steps, train_to_step=None,
                num_accumulation_steps=1):
  """Where one call of a run trained in chunks stops, and its input_fn.

  Args:
    input_fn: the training `input_fn(params)` of the whole run (a seeded,
      repeated stream of micro-batches).
    model_dir: the run's output directory (its latest checkpoint is where
      this chunk starts).
    num_train_steps: the whole run's steps (the schedule's length).
    train_to_step: stop this call at this global step; None = the end.
    num_accumulation_steps: micro-batches per global step (update).

  Returns:
    (max_steps for `Estimator.train`, input_fn). With `train_to_step` the
    input_fn skips the micro-batches the earlier chunks consumed (global
    step x accumulation steps), so with a fixed seed the chunks see the same
    examples as one uninterrupted run.
  """
  if train_to_step is None:
    return num_train_steps, input_fn
  done = checkpoint_step(model_dir)
  if not done:
    return min(num_train_steps, train_to_step), input_fn
  consumed = done * int(num_accumulation_steps)
  return (min(num_train_steps, train_to_step),
          lambda params: input_fn(params).skip(consumed))


def train_with_progress(estimator, input_fn, cfg, batch_size, max_steps,
                        extra_hooks=None, examples_per_step=None,
                        runs_per_step=1):
  """Trains to `max_steps` (resuming from the last checkpoint) with a
  ThroughputHook logging examples/sec and ETA to the log and (rank 0 only)
  to `<output_dir>/throughput.jsonl`. Returns the hook's summary dict.

  `batch_size` is this process's input batch; `examples_per_step` (default
  `batch_size`) what one session run processes over all processes (Horovod:
  times the number of processes), for the examples/sec figures;
  `runs_per_step` the session runs per global step (gradient accumulation).
  """
  hook = ThroughputHook(
      examples_per_step or batch_size, total_steps=max_steps,
      every_n_steps=cfg.log_every_n_steps,
      json_path=os.path.join(cfg.output_dir, "throughput.jsonl"),
      runs_per_step=runs_per_step)
  estimator.train(input_fn=bind_batch_size(input_fn, batch_size, cfg.use_tpu),
                  max_steps=max_steps, hooks=[hook] + list(extra_hooks or []))
  return hook.summary


def merge_summaries(summaries):
  """One ThroughputHook summary for several training calls (chunks)."""
  summaries = [s for s in summaries if s]
  if not summaries:
    return None
  if len(summaries) == 1:
    return summaries[0]
  out = {"event": summaries[0]["event"], "chunks": len(summaries)}
  for key in ("steps", "session_runs", "timed_steps", "warmup_steps"):
    out[key] = sum(s.get(key) or 0 for s in summaries)
  out["wall_sec"] = round(sum(s["wall_sec"] for s in summaries), 2)
  seconds = examples = 0.0
  for s in summaries:
    if s.get("examples_per_sec") and s.get("step_time_sec"):
      chunk_seconds = s["step_time_sec"] * s["timed_steps"]
      seconds += chunk_seconds
      examples += s["examples_per_sec"] * chunk_seconds
  out["examples_per_sec"] = round(examples / seconds, 3) if seconds else None
  out["step_time_sec"] = (round(seconds / out["timed_steps"], 5)
                          if seconds and out["timed_steps"] else None)
  return out


def format_seconds(seconds):
  seconds = int(max(0, seconds))
  h, rem = divmod(seconds, 3600)
  m, s = divmod(rem, 60)
  return "%d:%02d:%02d" % (h, m, s) if h else "%d:%02d" % (m, s)


class ThroughputHook(tf.train.SessionRunHook):
  """Logs examples/sec, step time and ETA; writes JSON lines; sums up at end.

  Steps are global steps (applied updates). With gradient accumulation a
  global step takes `runs_per_step` session runs of `batch_size` examples
  each; rates count examples, the step count and ETA count updates.

  Args:
    batch_size: examples per session run (global, i.e. over all workers).
    total_steps: optional int (global steps) for the ETA.
    every_n_steps: how often to log.
    warmup_steps: leading steps left out of the rates (graph warm-up).
    json_path: optional file; a JSON object per log line is appended
      ({"event", "global_step", "examples_per_sec", "step_time_sec",
      "eta_sec"}), and the summary at the end ({"event": name + "_summary",
      "steps", "timed_steps", "warmup_steps", "examples_per_sec",
      "step_time_sec", "wall_sec"}). Rates are null when nothing was timed.
    name: label used in the log lines ("train", "predict", ...).
    is_chief: only the chief writes `json_path` (all processes log); None
      means rank 0 of `process_rank()`.
    runs_per_step: session runs per global step (accumulation steps);
      `warmup_steps` and `every_n_steps` count global steps too.
    count_global_steps: True (training) numbers the steps from the global
      step the session starts at (a resumed run goes on from there); False
      (prediction, evaluation: the global step does not move) numbers the
      session runs (batches) of this call from 0, so `total_steps` is then
      the number of batches.
  """

  def __init__(self, batch_size, total_steps=None, every_n_steps=50,
               warmup_steps=2, json_path=None, name="train", is_chief=None,
               runs_per_step=1, count_global_steps=True):
    self.batch_size = batch_size
    self.count_global_steps = count_global_steps
    self.runs_per_step = max(1, int(runs_per_step))
    self.total_steps = total_steps
    self.every_n_steps = max(1, every_n_steps)
    self.warmup_steps = warmup_steps
    if is_chief is None:
      is_chief = process_rank() == 0
    self.json_path = json_path if is_chief else None
    self.name = name
    self.summary = None

  def begin(self):
    self._global_step = tf.train.get_global_step()
    self._steps = 0
    self._timed_steps = 0
    self._timed_seconds = 0.0
    self._window_steps = 0
    self._window_seconds = 0.0
    self._start = time.time()
    self._first_step = 0

  def after_create_session(self, session, coord):
    # The global step read once here: fetching it with the train op would
    # race with the op's own increment.
    del coord
    if self.count_global_steps and self._global_step is not None:
      self._first_step = int(session.run(self._global_step))

  def before_run(self, run_context):
    self._t0 = time.time()

  def after_run(self, run_context, run_values):
    dt = time.time() - self._t0
    self._steps += 1
    # The global step after this run: it advances once every runs_per_step
    # runs (the update), whatever the step the run resumed from.
    step = self._first_step + self._steps // self.runs_per_step
    if self._steps <= self.warmup_steps * self.runs_per_step:
      return
    self._timed_steps += 1
    self._timed_seconds += dt
    self._window_steps += 1
    self._window_seconds += dt
    if self._steps % (self.every_n_steps * self.runs_per_step) == 0:
      self._log(step)

  def _log(self, step):
    rate = self._window_steps * self.batch_size / max(self._window_seconds,
                                                       1e-9)
    # Seconds per global step (an update of runs_per_step runs).
    step_time = (self._window_seconds / max(self._window_steps, 1) *
                 self.runs_per_step)
    record = {"event": self.name, "global_step": int(step),
              "examples_per_sec": round(rate, 3),
              "step_time_sec": round(step_time, 5)}
    eta = ""
    if self.total_steps:
      remaining = max(0, self.total_steps - step) * step_time
      record["eta_sec"] = round(remaining, 1)
      eta = ", ETA %s" % format_seconds(remaining)
      progress = "step %d/%d" % (step, self.total_steps)
    else:
      progress = "step %d" % step
    tf.logging.info("%s %s: %.2f examples/sec, %.3f s/step%s", self.name,
                    progress, rate, step_time, eta)
    self._write_json(record)
    self._window_steps = 0
    self._window_seconds = 0.0

  def _write_json(self, record):
    if self.json_path:
      with open(self.json_path, "a") as f:
        f.write(json.dumps(record) + "\n")

  def end(self, session):
    del session
    wall = time.time() - self._start
    timed = self._timed_seconds > 0
    rate = (self._timed_steps * self.batch_size / self._timed_seconds
            if timed else None)
    # Per global step: runs_per_step session runs.
    step_time = (self._timed_seconds / self._timed_steps * self.runs_per_step
                 if timed else None)
    k = self.runs_per_step
    steps = self._steps // k
    self.summary = {"event": self.name + "_summary", "steps": steps,
                    "session_runs": self._steps,
                    "timed_steps": self._timed_steps // k,
                    "warmup_steps": min(self.warmup_steps, steps),
                    "examples_per_sec": (round(rate, 3) if timed else None),
                    "step_time_sec": (round(step_time, 5) if timed else None),
                    "wall_sec": round(wall, 2)}
    if timed:
      tf.logging.info(
          "%s done: %d steps in %s, %.2f examples/sec, %.3f s/step (%d "
          "timed steps after %d warm-up steps)", self.name, steps,
          format_seconds(wall), rate, step_time, self._timed_steps // k,
          self.warmup_steps)
    else:
      # Too short a run to leave the warm-up out: the overall rate, marked.
      overall = self._steps * self.batch_size / max(wall, 1e-9)
      tf.logging.info("%s done: %d steps in %s, %.2f examples/sec including "
                      "graph warm-up (all %d steps were warm-up steps)",
                      self.name, steps, format_seconds(wall), overall,
                      steps)
    self._write_json(self.summary)

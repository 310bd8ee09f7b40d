"""Estimator plumbing shared by every script: configs, estimators, progress.

* `make_session_config`: threads, XLA JIT, oneDNN bfloat16 rewrite.
* `make_run_config` / `make_estimator`: a plain `tf.estimator.Estimator` on
  CPU/GPU, a `TPUEstimator` when `use_tpu` (same model_fn).
* `ThroughputHook`: examples/sec (after warm-up), step time and ETA in the
  log, a JSON line per N steps, and a summary line at the end.
* `set_verbosity`: TF logging at INFO without the deprecation noise.

This module never reads absl FLAGS.
"""

import json
import os
import time

import tensorflow.compat.v1 as tf

import bert_tf


def set_verbosity(level=tf.logging.INFO):
  """INFO logging for progress, with TF's deprecation warnings silenced."""
  bert_tf.quiet_tensorflow()
  tf.logging.set_verbosity(level)


def make_session_config(use_xla=False, use_bf16=False, intra_op_threads=0,
                        inter_op_threads=0, gpu_index=None):
  """Returns a tf.ConfigProto.

  Args:
    use_xla: turn on XLA JIT for the whole graph (on CPU this also needs
      TF_XLA_FLAGS=--tf_xla_cpu_global_jit, which is set here).
    use_bf16: turn on the oneDNN automatic bfloat16 rewrite (CPUs with
      AVX512-BF16 / AMX); variables stay float32.
    intra_op_threads, inter_op_threads: 0 lets TF choose.
    gpu_index: pin this process to one GPU (Horovod's local rank).
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
  if use_bf16:
    from tensorflow.core.protobuf import rewriter_config_pb2  # pylint: disable=g-import-not-at-top
    config.graph_options.rewrite_options.auto_mixed_precision_onednn_bfloat16 = (
        rewriter_config_pb2.RewriterConfig.ON)
  if gpu_index is not None:
    config.gpu_options.visible_device_list = str(gpu_index)
    config.gpu_options.allow_growth = True
  return config


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
                          session_config=None):
  """Builds the (TPU)Estimator from a driver config's common fields.

  `cfg` is any object with output_dir, save_checkpoints_steps,
  keep_checkpoint_max, iterations_per_loop, random_seed, log_every_n_steps
  and the TPU fields (use_tpu, tpu_name, tpu_zone, gcp_project, master,
  num_tpu_cores), such as the drivers' dataclasses.
  """
  run_config = make_run_config(
      cfg.output_dir, save_checkpoints_steps=cfg.save_checkpoints_steps,
      keep_checkpoint_max=cfg.keep_checkpoint_max,
      iterations_per_loop=cfg.iterations_per_loop, use_tpu=cfg.use_tpu,
      tpu_name=cfg.tpu_name, tpu_zone=cfg.tpu_zone,
      gcp_project=cfg.gcp_project, master=cfg.master,
      num_tpu_cores=cfg.num_tpu_cores, random_seed=cfg.random_seed,
      session_config=session_config or make_session_config(),
      log_step_count_steps=cfg.log_every_n_steps)
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


def train_with_progress(estimator, input_fn, cfg, batch_size, max_steps,
                        extra_hooks=None):
  """Trains to `max_steps` (resuming from the last checkpoint) with a
  ThroughputHook logging examples/sec and ETA to the log and to
  `<output_dir>/throughput.jsonl`. Returns the hook's summary dict."""
  hook = ThroughputHook(
      batch_size, total_steps=max_steps, every_n_steps=cfg.log_every_n_steps,
      json_path=os.path.join(cfg.output_dir, "throughput.jsonl"))
  estimator.train(input_fn=bind_batch_size(input_fn, batch_size, cfg.use_tpu),
                  max_steps=max_steps, hooks=[hook] + list(extra_hooks or []))
  return hook.summary


def format_seconds(seconds):
  seconds = int(max(0, seconds))
  h, rem = divmod(seconds, 3600)
  m, s = divmod(rem, 60)
  return "%d:%02d:%02d" % (h, m, s) if h else "%d:%02d" % (m, s)


class ThroughputHook(tf.train.SessionRunHook):
  """Logs examples/sec, step time and ETA; writes JSON lines; sums up at end.

  Args:
    batch_size: examples per step (global, i.e. over all workers).
    total_steps: optional int for the ETA.
    every_n_steps: how often to log.
    warmup_steps: leading steps left out of the rates (graph warm-up).
    json_path: optional file; a JSON object per log line is appended.
    name: label used in the log lines ("train", "predict", ...).
  """

  def __init__(self, batch_size, total_steps=None, every_n_steps=50,
               warmup_steps=2, json_path=None, name="train"):
    self.batch_size = batch_size
    self.total_steps = total_steps
    self.every_n_steps = max(1, every_n_steps)
    self.warmup_steps = warmup_steps
    self.json_path = json_path
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
    self._first_step = None

  def before_run(self, run_context):
    self._t0 = time.time()
    if self._global_step is not None:
      return tf.train.SessionRunArgs(self._global_step)
    return None

  def after_run(self, run_context, run_values):
    dt = time.time() - self._t0
    self._steps += 1
    step = run_values.results if run_values.results is not None else self._steps
    if self._first_step is None:
      self._first_step = step - 1
    if self._steps <= self.warmup_steps:
      return
    self._timed_steps += 1
    self._timed_seconds += dt
    self._window_steps += 1
    self._window_seconds += dt
    if self._steps % self.every_n_steps == 0:
      self._log(step)

  def _log(self, step):
    rate = self._window_steps * self.batch_size / max(self._window_seconds,
                                                       1e-9)
    step_time = self._window_seconds / max(self._window_steps, 1)
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
    wall = time.time() - self._start
    rate = (self._timed_steps * self.batch_size / self._timed_seconds
            if self._timed_seconds > 0 else float("nan"))
    self.summary = {"event": self.name + "_summary", "steps": self._steps,
                    "examples_per_sec": round(rate, 3),
                    "step_time_sec": round(
                        self._timed_seconds / max(self._timed_steps, 1), 5),
                    "wall_sec": round(wall, 2)}
    tf.logging.info(
        "%s done: %d steps in %s, %.2f examples/sec (after %d warm-up steps)",
        self.name, self._steps, format_seconds(wall), rate, self.warmup_steps)
    self._write_json(self.summary)

"""Scaling a training run: Horovod data parallelism, mixed precision, XLA.

How the training driver (`bert_tf.driver`) spreads a run over processes and
how it computes, in one place:

* `ScaleConfig`: the settings, by their flag names (`--use_horovod`,
  `--horovod_fp16_allreduce`, `--scale_learning_rate_by_workers`,
  `--use_fp16` / `--amp`, `--init_loss_scale`, `--use_bf16`, `--use_xla`,
  `--optimizer_type`, `--num_accumulation_steps`; see
  `bert_tf.flags.define_scale_flags`). The drivers' config dataclasses
  inherit it.
* `setup(cfg)` -> `Context`: initialises Horovod when asked (imported only
  then: the package works without it), sets TF_XLA_FLAGS for XLA on CPU
  before any session exists, logs the settings, and answers each process's
  questions: its session config, optimizer arguments, learning rate, input
  shard, whether it writes, and its training hooks.

Data parallelism with Horovod (`horovodrun -np N python run_*.py
--use_horovod ...`): every process builds the same graph and trains on its
own share of the input, decided before the first step from the files'
record counts (`Context.input_share`): by file when the files can be dealt
so that the shares are about equal, by record otherwise; a job where some
rank would get no record stops on every rank with a message naming it.
Batch sizes are per process: one update sees
`train_batch_size * num_accumulation_steps * N` examples. Each process sees one GPU (its local rank) and an equal share of
the CPU cores. Gradients are averaged with one allreduce per applied update
(with gradient accumulation: of the accumulated gradient, once every k
micro-steps), optionally sent as float16 (`horovod_fp16_allreduce`). The
initial variables (fresh, from `init_checkpoint` or from the last
checkpoint) are broadcast from rank 0 when the session starts. Rank 0 alone
writes checkpoints, summaries and output files; the other ranks train in a
private temporary model_dir that holds nothing, and skip evaluation,
prediction and export.

This module never reads absl FLAGS.
"""

import atexit
import contextlib
import dataclasses
import json
import os
import re
import shutil
import tempfile

import tensorflow.compat.v1 as tf

from bert_tf import host
from bert_tf import input_pipeline
from bert_tf import optimization
from bert_tf import runtime
from bert_tf.settings import setting

DEFAULT_INIT_LOSS_SCALE = 2.0 ** 15


class HorovodUnavailableError(ImportError, ValueError):
  """--use_horovod was asked for but Horovod (with TensorFlow) is missing."""


class JobLostError(ConnectionError):
  """A process of the Horovod job died or became unreachable mid-run."""


# What Horovod's ops raise once a peer is gone: on the rank that saw it, the
# transport's own error (Gloo: "Read error [ADDRESS]: Connection reset by
# peer", "Timed out waiting 30000ms for recv operation"); on the others,
# "Horovod has been shut down".
_HOROVOD_LOST = re.compile(
    r"Horovod has been shut down|/gloo/|Timed out waiting \d+ms|"
    r"Connection reset by peer|Connection closed by peer")


@dataclasses.dataclass(kw_only=True)
class ScaleConfig:
  """Multi-process, precision, compilation and optimizer settings of a run."""
  use_horovod: bool = setting(
      False, "Data-parallel training with Horovod over the processes that "
      "horovodrun/mpirun started (one GPU each). Batch sizes are per "
      "process; rank 0 alone writes checkpoints and outputs.")
  horovod_fp16_allreduce: bool = setting(
      False, "With --use_horovod: send gradients as float16 in the "
      "allreduce.")
  scale_learning_rate_by_workers: bool = setting(
      False, "With --use_horovod: multiply --learning_rate by the number of "
      "processes (the effective batch grows with them).")
  use_fp16: bool = setting(
      False, "Automatic mixed precision: float16 graph rewrite (NVIDIA GPUs "
      "only) with dynamic loss scaling and float32 master weights.",
      aliases=("amp",))
  init_loss_scale: float = setting(
      DEFAULT_INIT_LOSS_SCALE,
      "With --use_fp16: the initial dynamic loss scale.")
  use_bf16: bool = setting(
      False, "oneDNN automatic bfloat16 rewrite for CPUs with "
      "AVX512-BF16/AMX (variables stay float32).")
  use_xla: bool = setting(
      False, "XLA JIT compilation (GPU and CPU; on CPU TF_XLA_FLAGS gets "
      "--tf_xla_cpu_global_jit).")
  optimizer_type: str = setting(
      "adamw", "The optimizer update. " + " ".join(
          "%s: %s" % item
          for item in optimization.OPTIMIZER_DESCRIPTIONS.items()),
      choices=list(optimization.OPTIMIZER_TYPES))
  num_accumulation_steps: int = setting(
      1, "Gradient accumulation: micro-batches of --train_batch_size per "
      "applied update (the effective batch is their product, times the "
      "number of Horovod processes).")


def import_horovod():
  """Returns `horovod.tensorflow`, or raises HorovodUnavailableError."""
  try:
    import horovod.tensorflow as hvd  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise HorovodUnavailableError(
        "--use_horovod needs Horovod built with TensorFlow support, which "
        "cannot be imported here (%s). Install it with `make horovod`, or "
        "`HOROVOD_WITH_TENSORFLOW=1 pip install --no-build-isolation "
        "horovod==0.28.1` (add HOROVOD_GPU_OPERATIONS=NCCL for GPUs)." % e
    ) from e
  return hvd


def _setting(cfg, name):
  """`cfg.<name>`, or the ScaleConfig default when cfg lacks it."""
  default = ScaleConfig.__dataclass_fields__[name].default
  return getattr(cfg, name, default)


_cpu_flags = host.cpu_flags  # the tests read the CPU's flags through here


def enable_xla_on_cpu():
  """Adds --tf_xla_cpu_global_jit to TF_XLA_FLAGS, for XLA JIT on CPU.

  TensorFlow reads TF_XLA_FLAGS once per process, when it first initialises
  its devices: this must run before that. Under `absl.app.run` that is
  before `main` (TensorFlow registers an absl init callback that lists the
  GPUs), so the scripts call it from `bert_tf.flags.run_main`; `setup` calls
  it too, which is early enough for library callers that have not run
  anything in TensorFlow yet.
  """
  value = os.environ.get("TF_XLA_FLAGS", "")
  if "--tf_xla_cpu_global_jit" not in value:
    os.environ["TF_XLA_FLAGS"] = (value + " --tf_xla_cpu_global_jit").strip()


def make_gradient_allreduce(hvd, fp16_allreduce=False):
  """Returns a `gradient_reducer` for `optimization.create_optimizer`.

  The returned callable averages a list of gradients over all Horovod
  processes with one grouped allreduce (IndexedSlices from embedding
  lookups are made dense first; None entries stay None).

  Args:
    hvd: the `horovod.tensorflow` module (initialised).
    fp16_allreduce: send the gradients as float16 (Horovod's
      `Compression.fp16`); the result is float32 again.
  """
  compression = (hvd.Compression.fp16 if fp16_allreduce
                 else hvd.Compression.none)

  def allreduce(grads):
    present = [i for i, g in enumerate(grads) if g is not None]
    if not present:
      return list(grads)
    with tf.name_scope("horovod_allreduce"):
      dense = [tf.convert_to_tensor(grads[i]) for i in present]
      reduced = hvd.grouped_allreduce(dense, op=hvd.Average,
                                      compression=compression)
    out = list(grads)
    for i, r in zip(present, reduced):
      out[i] = r
    return out

  return allreduce


class LossScaleLoggingHook(tf.train.SessionRunHook):
  """Logs the dynamic loss scale every `every_n_steps` session runs."""

  def __init__(self, every_n_steps=100):
    self.every_n_steps = max(1, int(every_n_steps))
    self._tensor = None
    self._runs = 0

  def begin(self):
    tensors = tf.get_collection(optimization.LOSS_SCALE_COLLECTION)
    self._tensor = tensors[0] if tensors else None
    self._runs = 0

  def before_run(self, run_context):
    del run_context
    if self._tensor is not None and self._runs % self.every_n_steps == 0:
      return tf.train.SessionRunArgs(self._tensor)
    return None

  def after_run(self, run_context, run_values):
    del run_context
    if run_values.results is not None:
      tf.logging.info("loss scale = %g", run_values.results)
    self._runs += 1


class Context(object):
  """One process of a (possibly Horovod data-parallel) training run.

  Attributes:
    cfg: the driver's config (a `ScaleConfig` subclass).
    hvd: the initialised `horovod.tensorflow` module, or None.
    rank, size, local_rank, local_size: Horovod's numbers (0, 1, 0, 1
      without Horovod).
    is_chief: rank 0, the process that writes.
  """

  def __init__(self, cfg, hvd=None):
    self.cfg = cfg
    self.hvd = hvd
    if hvd is not None:
      self.rank, self.size = hvd.rank(), hvd.size()
      self.local_rank, self.local_size = hvd.local_rank(), hvd.local_size()
    else:
      self.rank, self.size, self.local_rank, self.local_size = 0, 1, 0, 1
    self.is_chief = self.rank == 0
    self._scratch = None
    self._broadcasts = 0
    self._gpus = None
    self._shares = {}
    self.roster = None  # [(rank, host)] once the ranks have met.

  # -- settings -------------------------------------------------------------

  @property
  def num_accumulation_steps(self):
    return int(_setting(self.cfg, "num_accumulation_steps"))

  def learning_rate(self, base_learning_rate):
    """The peak learning rate: times the number of processes if asked."""
    if _setting(self.cfg, "scale_learning_rate_by_workers"):
      return base_learning_rate * self.size
    return base_learning_rate

  def effective_batch_size(self, per_process_batch_size):
    """Examples per applied update over all processes."""
    return per_process_batch_size * self.num_accumulation_steps * self.size

  def input_shard(self, num_files=None):
    """Keyword arguments of `file_based_input_fn_builder` for training.

    Each process reads its own shard: every size-th file from its rank on
    when there are at least `size` files, else every size-th record (see
    `input_pipeline.file_based_input_fn_builder`). `num_files`, if given,
    is only for the log line.
    """
    if self.size > 1 and num_files is not None:
      if num_files >= self.size:
        tf.logging.info("Input shard of rank %d: files %d, %d, ... (%d of "
                        "%d files).", self.rank, self.rank,
                        self.rank + self.size,
                        len(range(self.rank, num_files, self.size)),
                        num_files)
      else:
        tf.logging.info("Input shard of rank %d: records %d, %d, ... (one "
                        "in %d; %d file(s) for %d processes).", self.rank,
                        self.rank, self.rank + self.size, self.size,
                        num_files, self.size)
    return dict(num_shards=self.size, shard_index=self.rank)

  def input_share(self, record_files):
    """This process's training files and `file_based_input_fn_builder`
    sharding arguments, decided before the first step.

    Every process counts the records of `record_files` and plans the
    shares with `input_pipeline.plan_input_shares` (by file when that is
    balanced, else by record). The processes then compare what they found
    (one allgather), so they all go on or all stop together: a plan where a
    rank would get no record, a file one rank cannot read, or files that
    differ between machines raise the same ValueError on every rank, naming
    the rank, its files and their record counts, instead of one rank leaving
    the job while the others wait in a collective.

    Returns:
      (files, kwargs): the files to pass to the builder and its
      num_shards / shard_index / shard_by arguments.
    """
    record_files = list(record_files)
    if self.size <= 1:
      return record_files, dict(num_shards=1, shard_index=0)
    key = tuple(record_files)
    cached = self._shares.get(key)
    if cached is None:
      cached = self._plan_share(record_files)
      self._shares[key] = cached
    share = cached
    if share.by == "file":
      return list(share.files), dict(num_shards=1, shard_index=0)
    return list(share.files), dict(num_shards=share.num_shards,
                                   shard_index=share.shard_index,
                                   shard_by="record")

  def _plan_share(self, record_files):
    # By name: a rank may hold its own copy of the same records elsewhere
    # (the classifier's non-chief ranks write their features to a scratch
    # directory of their own).
    report = {"rank": self.rank, "host": host.hostname(),
              "files": [os.path.basename(f) for f in record_files]}
    try:
      counts = input_pipeline.count_records_of(record_files)
      report["counts"] = counts
      shares = input_pipeline.plan_input_shares(record_files, self.size,
                                                counts)
    except (ValueError, OSError) as e:  # OSError: a file it cannot open
      report["error"] = str(e)
    reports = [json.loads(r) for r in self.allgather_bytes(
        json.dumps(report).encode("utf-8"))]
    self.roster = [(r["rank"], r["host"]) for r in reports]
    failed = [r for r in reports if "error" in r]
    if failed:
      first = failed[0]
      if len(failed) == len(reports) and len(
          {r["error"] for r in failed}) == 1:
        where = ""  # the same on every rank: the plan itself
      else:
        where = "rank %d (host %s): " % (first["rank"], first["host"])
      raise input_pipeline.InputShareError(
          "Training input of %d processes, checked before the first step: "
          "%s%s" % (self.size, where, first["error"]))
    for other in reports[1:]:
      if other["files"] != reports[0]["files"]:
        raise input_pipeline.InputShareError(
            "Rank %d (host %s) found other training files than rank 0 (host "
            "%s): %d file(s); only there: %s; only on rank 0: %s. Every "
            "machine must see the same files at the same paths (a shared "
            "filesystem, or identical copies)." % (
                other["rank"], other["host"], reports[0]["host"],
                len(other["files"]),
                sorted(set(other["files"]) - set(reports[0]["files"])) or
                "none",
                sorted(set(reports[0]["files"]) - set(other["files"])) or
                "none"))
      if other["counts"] != reports[0]["counts"]:
        differ = ", ".join(
            "%s (rank 0: %d, rank %d: %d)" % (f, a, other["rank"], b)
            for f, a, b in zip(record_files, reports[0]["counts"],
                               other["counts"]) if a != b)
        raise input_pipeline.InputShareError(
            "Rank %d (host %s) sees other training files than rank 0 (host "
            "%s): %s records. Every machine must see the same files at the "
            "same paths (a shared filesystem, or identical copies)." % (
                other["rank"], other["host"], reports[0]["host"], differ))
    by_file = dict(zip(record_files, counts))
    lines = input_pipeline.describe_input_shares(shares, by_file)
    if self.is_chief:
      tf.logging.info("Training input over %d processes, by %s (%d records "
                      "in %d files):\n  %s", self.size, shares[0].by,
                      sum(counts), len(record_files), "\n  ".join(lines))
    tf.logging.info("Input share of %s", lines[self.rank])
    return shares[self.rank]

  @contextlib.contextmanager
  def lost_job_guard(self, output_dir=None):
    """Turns Horovod's "has been shut down" error into a JobLostError.

    Horovod stops its background loop on every surviving rank when a peer
    closes its connections (its process died) or stays silent for Gloo's
    timeout (`horovodrun --gloo-timeout-seconds`, HOROVOD_GLOO_TIMEOUT_SECONDS,
    default 30 s; a link or machine that went away); each op then fails.
    The error names this rank, the job's ranks and hosts and, on rank 0,
    the last checkpoint to resume from.
    """
    try:
      yield
    except tf.errors.OpError as e:
      text = e.message or ""
      if self.hvd is None or not _HOROVOD_LOST.search(text):
        raise
      cause = ""
      if "Horovod has been shut down" not in text:
        cause = " Horovod said: %s." % re.sub(
            r"^\[[^\]]*\]\s*", "", text.strip().split("\n")[0])[:300]
      roster = ", ".join("%d on %s" % item for item in self.roster or [])
      where = ""
      if self.is_chief and output_dir:
        where = (" The last checkpoint in %s is step %d: start the same "
                 "command again to resume from it." % (
                     output_dir, runtime.checkpoint_step(output_dir)))
      raise JobLostError(
          "Rank %d (host %s) lost the Horovod job of %d processes%s: another "
          "process died or stopped answering, so Horovod shut down (its "
          "message above names the peer address; horovodrun's names the "
          "process).%s%s" % (self.rank, host.hostname(), self.size,
                             (" (ranks %s)" % roster) if roster else "",
                             cause, where)) from None

  def allgather_bytes(self, data):
    """Every rank's `data` (bytes), in rank order, on every rank."""
    if self.hvd is None or self.size == 1:
      return [data]
    self._broadcasts += 1
    with tf.Graph().as_default():
      with tf.device("/cpu:0"):
        payload = tf.constant(list(data) or [0], tf.uint8)
        length = tf.constant([len(data)], tf.int64)
        lengths = self.hvd.allgather(
            length, name="bert_tf_gather_len_%d" % self._broadcasts)
        values = self.hvd.allgather(
            payload, name="bert_tf_gather_%d" % self._broadcasts)
      with tf.Session(config=self.session_config()) as sess:
        with self.lost_job_guard():
          lengths, values = sess.run([lengths, values])
    out = []
    start = 0
    values = bytes(values.tolist())
    for n in lengths.tolist():
      out.append(values[start:start + n])
      start += max(n, 1)
    return out

  def optimizer_kwargs(self):
    """Keyword arguments of `optimization.create_optimizer`."""
    kwargs = dict(optimizer_type=_setting(self.cfg, "optimizer_type"),
                  num_accumulation_steps=self.num_accumulation_steps)
    if self.hvd is not None and self.size > 1:
      kwargs["gradient_reducer"] = make_gradient_allreduce(
          self.hvd, _setting(self.cfg, "horovod_fp16_allreduce"))
    if _setting(self.cfg, "use_fp16"):
      kwargs["init_loss_scale"] = float(_setting(self.cfg, "init_loss_scale"))
    return kwargs

  def _visible_gpus(self):
    if self._gpus is None:
      self._gpus = tf.config.list_physical_devices("GPU")
    return self._gpus

  def session_config(self):
    """The tf.ConfigProto of this process (see `runtime.make_session_config`).

    With Horovod: the GPU of this process's local rank (when there are
    GPUs), and intra-op threads = CPU cores / processes on this machine.
    """
    intra = inter = 0
    gpu_index = None
    if self.hvd is not None:
      per_process = max(1, host.num_cpus() // self.local_size)
      intra = per_process
      inter = 2 if per_process >= 4 else 1
      gpus = self._visible_gpus()
      if gpus:
        if self.local_rank >= len(gpus):
          raise ValueError(
              "Horovod local rank %d has no GPU of its own: %d visible on "
              "this machine. Start at most one process per GPU." %
              (self.local_rank, len(gpus)))
        gpu_index = self.local_rank
    return runtime.make_session_config(
        use_xla=_setting(self.cfg, "use_xla"),
        use_bf16=_setting(self.cfg, "use_bf16"),
        use_fp16=_setting(self.cfg, "use_fp16"),
        intra_op_threads=intra, inter_op_threads=inter, gpu_index=gpu_index)

  def model_dir(self, output_dir):
    """output_dir for rank 0; a private empty scratch directory otherwise."""
    if self.is_chief:
      return output_dir
    return os.path.join(self.scratch_dir(), "model")

  def scratch_dir(self):
    """A private temporary directory of this process, removed at exit."""
    if self._scratch is None:
      self._scratch = tempfile.mkdtemp(prefix="bert_tf_rank%d_" % self.rank)
      atexit.register(shutil.rmtree, self._scratch, True)
    return self._scratch

  def estimator(self, cfg, model_fn, **batch_sizes):
    """`runtime.estimator_from_config` for this process (rank 0 writes)."""
    return runtime.estimator_from_config(
        cfg, model_fn, session_config=self.session_config(),
        is_chief=self.is_chief, model_dir=self.model_dir(cfg.output_dir),
        **batch_sizes)

  def training_hooks(self, log_every_n_steps=100):
    """Hooks for `Estimator.train`: the broadcast of the initial variables
    from rank 0 (run after they are initialised or restored), and the loss
    scale in the log with use_fp16."""
    hooks = []
    if self.hvd is not None and self.size > 1:
      hooks.append(self.hvd.BroadcastGlobalVariablesHook(0))
    if _setting(self.cfg, "use_fp16"):
      hooks.append(LossScaleLoggingHook(log_every_n_steps))
    return hooks

  # -- collective helpers ---------------------------------------------------

  def broadcast_from_chief(self, value):
    """Rank 0's value of the integer `value`, on every process."""
    if self.hvd is None or self.size == 1:
      return value
    self._broadcasts += 1
    with tf.Graph().as_default():
      with tf.device("/cpu:0"):
        out = self.hvd.broadcast(
            tf.constant(int(value), tf.int64), root_rank=0,
            name="bert_tf_broadcast_%d" % self._broadcasts)
      with tf.Session(config=self.session_config()) as sess:
        with self.lost_job_guard():
          return int(sess.run(out))

  def train(self, estimator, input_fn, cfg, max_steps, extra_hooks=None):
    """Trains to global step `max_steps` on every process, with progress.

    All processes agree on rank 0's checkpoint step first, so that a run
    resumed at or past `max_steps` stops everywhere instead of leaving the
    other ranks waiting in a collective. Returns the ThroughputHook summary
    (None when there was nothing to train). `extra_hooks` go to
    `Estimator.train` after `training_hooks()`.
    """
    if self.size > 1:
      start = self.broadcast_from_chief(
          runtime.checkpoint_step(cfg.output_dir) if self.is_chief else 0)
      if start >= max_steps:
        tf.logging.info("Already at global step %d of %d: nothing to train.",
                        start, max_steps)
        return None
    with self.lost_job_guard(cfg.output_dir):
      return runtime.train_with_progress(
          estimator, input_fn, cfg, cfg.train_batch_size, max_steps,
          extra_hooks=(self.training_hooks(cfg.log_every_n_steps) +
                       list(extra_hooks or [])),
          examples_per_step=cfg.train_batch_size * self.size,
          runs_per_step=self.num_accumulation_steps)

  def train_on_records(self, estimator, cfg, record_files, name_to_features,
                       num_train_steps, use_bucketing=False,
                       train_to_step=None):
    """Trains on TFRecord files of fixed-length features, with progress.

    This process reads its shard (`input_shard`) of `record_files` in a
    shuffled (`cfg.shuffle_buffer`), repeated stream seeded by
    `cfg.random_seed`, and trains to `num_train_steps`, or only to
    `train_to_step` when given, resuming from the last checkpoint with the
    micro-batches that earlier chunks consumed skipped (so chunks see the
    stream of one uninterrupted run).

    Args:
      estimator: from `estimator`.
      cfg: the run's config (`train_batch_size`, `output_dir`,
        `shuffle_buffer`, `random_seed`, `log_every_n_steps`, `use_tpu`).
      record_files: list of TFRecord paths.
      name_to_features: dict feature name -> tf.io.FixedLenFeature.
      num_train_steps: int, the whole run's steps (the schedule's length).
      use_bucketing: length bucketing (the caller has excluded TPUs).
      train_to_step: optional int, where this call stops.

    Returns:
      The ThroughputHook summary (None when there was nothing to train).
    """
    files, shard_kwargs = self.input_share(record_files)
    input_fn = input_pipeline.file_based_input_fn_builder(
        files, name_to_features, is_training=True, drop_remainder=True,
        seed=cfg.random_seed, use_bucketing=use_bucketing,
        bucket_width=runtime.bucket_width(cfg),
        shuffle_buffer=cfg.shuffle_buffer, **shard_kwargs)
    train_steps, input_fn = runtime.train_chunk(
        input_fn, cfg.output_dir, num_train_steps, train_to_step,
        num_accumulation_steps=self.num_accumulation_steps)
    return self.train(estimator, input_fn, cfg, train_steps)

  # -- logging ----------------------------------------------------------------

  def log_settings(self, per_process_batch_size=None, base_learning_rate=None):
    """Logs the scale settings (and the effective batch and learning rate)."""
    cfg = self.cfg
    if self.hvd is not None:
      tf.logging.info(
          "Horovod: %d processes, this is rank %d (local rank %d of %d)%s; "
          "gradient allreduce in %s; rank 0 writes checkpoints and outputs.",
          self.size, self.rank, self.local_rank, self.local_size,
          (", GPU %d" % self.local_rank) if self._visible_gpus() else
          ", CPU only", "float16" if _setting(cfg, "horovod_fp16_allreduce")
          else "float32")
    else:
      tf.logging.info("Horovod: off (one process).")
    if _setting(cfg, "use_fp16"):
      tf.logging.info(
          "Mixed precision: float16 graph rewrite with dynamic loss scaling "
          "(initial scale %g), float32 master weights.",
          _setting(cfg, "init_loss_scale"))
      if not self._visible_gpus():
        tf.logging.warning(
            "use_fp16: the automatic float16 rewrite acts only on NVIDIA "
            "GPUs and there is none here: this run computes in float32 "
            "(loss scaling still runs). On CPUs see --use_bf16.")
    if _setting(cfg, "use_bf16"):
      tf.logging.info("use_bf16: oneDNN automatic bfloat16 rewrite on CPU "
                      "ops, float32 variables; %s.",
                      host.bf16_note(_cpu_flags()))
    if _setting(cfg, "use_xla"):
      tf.logging.info("XLA: JIT compilation of the graph on (TF_XLA_FLAGS=%s).",
                      os.environ.get("TF_XLA_FLAGS", ""))
    tf.logging.info("Optimizer: %s, %d accumulation step(s) per update.",
                    _setting(cfg, "optimizer_type"),
                    self.num_accumulation_steps)
    if per_process_batch_size is not None:
      tf.logging.info(
          "Effective batch size: %d per process x %d accumulation step(s) x "
          "%d process(es) = %d examples per update.", per_process_batch_size,
          self.num_accumulation_steps, self.size,
          self.effective_batch_size(per_process_batch_size))
    if base_learning_rate is not None:
      if _setting(cfg, "scale_learning_rate_by_workers"):
        tf.logging.info("Learning rate: %g = %g x %d processes "
                        "(--scale_learning_rate_by_workers).",
                        self.learning_rate(base_learning_rate),
                        base_learning_rate, self.size)
      else:
        tf.logging.info("Learning rate: %g (not scaled by the %d "
                        "process(es)).", base_learning_rate, self.size)


def validate(cfg):
  """Raises ValueError for settings that cannot go together."""
  if _setting(cfg, "optimizer_type") not in optimization.OPTIMIZER_TYPES:
    raise ValueError("optimizer_type must be one of %s, got %r." % (
        ", ".join(optimization.OPTIMIZER_TYPES),
        _setting(cfg, "optimizer_type")))
  k = _setting(cfg, "num_accumulation_steps")
  if int(k) != k or k < 1:
    raise ValueError("num_accumulation_steps must be an integer >= 1, got %r."
                     % (k,))
  if _setting(cfg, "use_fp16") and _setting(cfg, "use_bf16"):
    raise ValueError("Choose one of use_fp16 (GPUs) and use_bf16 (CPUs).")
  if _setting(cfg, "use_fp16") and not _setting(cfg, "init_loss_scale") > 0:
    raise ValueError("init_loss_scale must be positive.")
  if getattr(cfg, "use_tpu", False):
    for name in ("use_horovod", "use_fp16"):
      if _setting(cfg, name):
        raise ValueError("%s is for GPUs/CPUs and cannot be combined with "
                         "use_tpu (TPUs shard by themselves and use "
                         "bfloat16)." % name)


def setup(cfg, log=True):
  """Initialises this process for `cfg` and returns its `Context`.

  Call it first in a driver's run(): it sets TF_XLA_FLAGS for XLA on CPU
  before any session reads them, and with `use_horovod` imports and
  initialises Horovod (raising HorovodUnavailableError when it is missing).

  Args:
    cfg: a `ScaleConfig` (or any object; missing settings take their
      defaults). Its `train_batch_size` and `learning_rate`, where present,
      are logged with the effective batch size and the scaled rate.
    log: log the settings.

  Returns:
    `Context`.
  """
  validate(cfg)
  if _setting(cfg, "use_xla"):
    enable_xla_on_cpu()
  hvd = None
  if _setting(cfg, "use_horovod"):
    hvd = import_horovod()
    if not hvd.is_initialized():
      hvd.init()
  context = Context(cfg, hvd)
  if log:
    context.log_settings(getattr(cfg, "train_batch_size", None),
                         getattr(cfg, "learning_rate", None))
  return context

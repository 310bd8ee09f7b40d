"""The benchmark run: every mode of every framework, one record."""

import os
import time

import bert_tf
from bert_tf import host
from bert_tf.benchmark import config as config_lib
from bert_tf.benchmark import flops as flops_lib
from bert_tf.benchmark import graphs
from bert_tf.benchmark import hf as hf_lib
from bert_tf.benchmark import report
from bert_tf.benchmark import timing


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

  Args:
    cfg: `BenchmarkConfig`.
    hvd: the initialised Horovod module of a `--num_ranks` worker, or None.

  Returns:
    The record (None on the ranks other than 0).
  """
  bert_tf.quiet_tensorflow()
  from bert_tf import modeling  # pylint: disable=g-import-not-at-top
  config_lib.check(cfg)
  if cfg.xla:
    from bert_tf import distributed  # pylint: disable=g-import-not-at-top
    distributed.enable_xla_on_cpu()
  config_path, config_name = config_lib.resolve_config(cfg.config)
  bert_config = modeling.BertConfig.from_json_file(config_path)
  if cfg.seq_length > bert_config.max_position_embeddings:
    raise ValueError("seq_length %d > max_position_embeddings %d of %s" % (
        cfg.seq_length, bert_config.max_position_embeddings, config_path))
  size = hvd.size() if hvd is not None else 1
  chief = hvd is None or hvd.rank() == 0
  cores = host.num_cpus()
  threads = cfg.threads or cores
  tf_threads = max(1, threads // size)
  cpu_model = host.cpu_model()
  native_bf16 = bool(host.cpu_flags() & host.NATIVE_BF16_FLAGS)
  loadavg_start = os.getloadavg()
  flops = {"forward": flops_lib.model_flops_per_example(
               bert_config, cfg.seq_length, cfg.num_labels, training=False),
           "train": flops_lib.model_flops_per_example(
               bert_config, cfg.seq_length, cfg.num_labels, training=True)}
  sync = None
  if size > 1:
    sync = lambda name: timing.barrier(hvd, name)  # pylint: disable=g-long-lambda

  matmul = _matmul_rates(cfg, threads, chief, sync)
  results = {}
  ops = {"low_precision": None, "by_mode": {}, "unfused": {}, "fused": {},
         "profile": {}}
  for mode in cfg.modes:
    if mode == "predict" and size > 1:
      continue  # prediction has no gradients to average: one process
    results[mode] = _measure_mode(
        bert_config, cfg, mode, size, chief, tf_threads, threads, hvd, sync,
        flops["train" if mode == "train" else "forward"], matmul, ops)
  if not chief:
    return None
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
      "low_precision_ops": ops["low_precision"],
      "low_precision_ops_by_mode": ops["by_mode"],
      "low_precision_ops_unfused": ops["unfused"],
      "fused_ops": ops["fused"],
      "op_profile": ops["profile"] if cfg.op_profile else None,
      "results": results,
      "loadavg_start": [round(x, 2) for x in loadavg_start],
      "loadavg_end": [round(x, 2) for x in os.getloadavg()],
      "cpu": cpu_model,
      "cores": cores,
      "native_bf16": native_bf16,
      "nice": os.nice(0),
      "versions": report.versions(),
  }
  record["notes"] = report.notes(record)
  report.log(report.format_table(record))
  if cfg.op_profile:
    report.log(report.format_op_profile(record["op_profile"]))
  for note in record["notes"]:
    report.log("Note: " + note)
  if cfg.json_path:
    report.write_json(record, cfg.json_path)
    report.log("JSON: %s" % cfg.json_path)
  return record


def _matmul_rates(cfg, threads, chief, sync):
  """{"float32", "bfloat16"} GFLOP/s on rank 0 (the others wait, idle)."""
  matmul = {}
  if sync is not None:
    sync("matmul_start")
  if chief:
    report.log("Measuring the matmul rate (%dx%d, %d threads)..." % (
        cfg.matmul_size, cfg.matmul_size, threads))
    for dtype in ("float32", "bfloat16"):
      matmul[dtype] = flops_lib.measure_matmul_rate(cfg.matmul_size, dtype,
                                                    threads)
    report.log("  float32 %.1f GFLOP/s, bfloat16 %.1f GFLOP/s" % (
        matmul["float32"], matmul["bfloat16"]))
  if sync is not None:
    sync("matmul_end")
  return matmul


def _measure_mode(bert_config, cfg, mode, size, chief, tf_threads, threads,
                  hvd, sync, flops_mode, matmul, ops):
  """Warms up and times one mode of every framework; returns its results.

  Fills `ops` (the op counts of the graphs that ran) on the way.
  """
  ours = graphs.TFRunner(bert_config, cfg, mode, tf_threads, hvd=hvd)
  unfused = graphs.TFRunner(bert_config, cfg, mode, tf_threads,
                            fusible=False) if (
                                cfg.unfused and size == 1) else None
  hf = hf_lib.HFRunner(bert_config, cfg, mode, threads) if (
      cfg.hf and chief) else None
  report.log("%s: warming up (%d steps each)..." % (mode, cfg.warmup_steps))
  timing.warm_up(ours, cfg.warmup_steps)
  low_precision = cfg.precision != "fp32"
  if chief and low_precision:
    counts = ours.low_precision_ops()
    if ops["low_precision"] is None:
      ops["low_precision"] = counts
    ops["by_mode"][mode] = counts
  if chief:
    ops["fused"][mode] = ours.fused_ops()
  if unfused is not None:
    timing.warm_up(unfused, cfg.warmup_steps)
    ops["fused"][mode + "_unfused"] = unfused.fused_ops()
    if low_precision:
      ops["unfused"][mode] = unfused.low_precision_ops()
  if hf is not None:
    timing.warm_up(hf, cfg.warmup_steps)
  if cfg.op_profile and chief:
    ops["profile"][mode] = {"bert_tf": ours.op_profile()}
    if unfused is not None:
      ops["profile"][mode]["bert_tf, reference ops"] = unfused.op_profile()
    if hf is not None:
      ops["profile"][mode]["HF torch"] = hf.op_profile()

  tf_group = [("ours", "bert_tf:", ours)]
  if unfused is not None:
    tf_group.append(("unfused", "bert_tf, reference ops:", unfused))
  hf_group = [("hf", "HF:     ", hf)] if hf is not None else []
  times = timing.alternate(
      [tf_group, hf_group], cfg.rounds, cfg.steps, cfg.max_block_seconds,
      sync=(lambda name: sync("%s_%s" % (mode, name))) if sync else None)
  for runner in (ours, unfused, hf):
    if runner is not None:
      runner.close()
  global_batch = ours.batch_size * (size if mode == "train" else 1)
  return report.mode_results(
      timing.rate_entry(times["ours"], global_batch), flops_mode, matmul,
      unfused=timing.rate_entry(times["unfused"], unfused.batch_size)
      if unfused is not None else None,
      hf=timing.rate_entry(times["hf"], hf.batch_size)
      if hf is not None else None)

"""Interleaved A/B of the benchmark's bert_tf graphs, step by step.

Each variant is `precision:fusible:prune`: precision fp32 or bf16, fusible
1 (bert_tf's op patterns) or 0 (the reference's op sequence), prune 1 (the
last layer at [CLS] only, as bert_tf's classifier) or 0 (every position).
Every round runs one step of each variant, the order rotating from round to
round, so drift of the machine falls on all alike. The first variant is the
baseline: for each other one the paired geometric mean of the per-round
step-time ratios (other / first, > 1: the first is faster) and a 95%
interval (+- 2 standard errors of the mean log ratio). Prints a table,
writes JSON.

  python bench/graph_ab.py --mode=predict --rounds=10 \
      --variants=fp32:1:1,fp32:1:0,fp32:0:0
  python bench/graph_ab.py --mode=train --rounds=10 --variants=bf16:1:1,fp32:1:1
"""

import argparse
import math
import os
import platform
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position

import bert_tf  # pylint: disable=g-import-not-at-top,wrong-import-position
from bert_tf import host  # pylint: disable=g-import-not-at-top,wrong-import-position
from bert_tf import modeling  # pylint: disable=g-import-not-at-top,wrong-import-position
from bert_tf.benchmark import config as config_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from bert_tf.benchmark import graphs  # pylint: disable=g-import-not-at-top,wrong-import-position
from bert_tf.benchmark import report  # pylint: disable=g-import-not-at-top,wrong-import-position


def parse_variant(text):
  """"bf16:1:0" -> ("bf16", True, False); ValueError naming a bad one."""
  parts = text.split(":")
  if (len(parts) != 3 or parts[0] not in config_lib.PRECISIONS or
      parts[1] not in "01" or parts[2] not in "01"):
    raise ValueError("variant %r: expected precision:fusible:prune, e.g. "
                     "fp32:1:1 (precision one of %s)" %
                     (text, ", ".join(config_lib.PRECISIONS)))
  return parts[0], parts[1] == "1", parts[2] == "1"


def paired_ratio(base_times, other_times):
  """(geometric mean of other / base, low, high): a 95% interval."""
  logs = np.log(np.asarray(other_times) / np.asarray(base_times))
  se = logs.std(ddof=1) / math.sqrt(len(logs)) if len(logs) > 1 else 0.0
  return (math.exp(logs.mean()), math.exp(logs.mean() - 2 * se),
          math.exp(logs.mean() + 2 * se))


def main():
  parser = argparse.ArgumentParser(
      description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
  parser.add_argument("--config", default="base")
  parser.add_argument("--mode", default="predict", choices=["train",
                                                            "predict"])
  parser.add_argument("--variants", default="fp32:1:1,fp32:1:0,fp32:0:0")
  parser.add_argument("--rounds", type=int, default=10)
  parser.add_argument("--warmup_steps", type=int, default=2)
  parser.add_argument("--seq_length", type=int, default=128)
  parser.add_argument("--batch_size", type=int, default=16)
  parser.add_argument("--predict_batch_size", type=int, default=32)
  parser.add_argument("--threads", type=int, default=0)
  parser.add_argument("--json", default=None, help="output JSON path")
  args = parser.parse_args()
  names = args.variants.split(",")
  try:
    variants = [parse_variant(v) for v in names]
  except ValueError as e:
    parser.error(str(e))
  if len(variants) < 2:
    parser.error("--variants needs at least two")

  bert_tf.quiet_tensorflow()
  path, config_name = config_lib.resolve_config(args.config)
  bert_config = modeling.BertConfig.from_json_file(path)
  threads = args.threads or host.num_cpus()
  runners = []
  for name, (precision, fusible, prune) in zip(names, variants):
    cfg = config_lib.BenchmarkConfig(
        config=args.config, precision=precision, seq_length=args.seq_length,
        batch_size=args.batch_size,
        predict_batch_size=args.predict_batch_size)
    print("building %s ..." % name, flush=True)
    runner = graphs.TFRunner(bert_config, cfg, args.mode, threads,
                             fusible=fusible, prune_last_layer=prune)
    for _ in range(args.warmup_steps):
      runner.step()
    runners.append(runner)

  load_start = os.getloadavg()
  times = [[] for _ in runners]
  for i in range(args.rounds):
    for k in range(len(runners)):
      j = (i + k) % len(runners)
      start = time.perf_counter()
      runners[j].step()
      times[j].append(time.perf_counter() - start)
    print("round %d: %s" % (i + 1, ", ".join(
        "%s %.3f s" % (n, t[-1]) for n, t in zip(names, times))), flush=True)
  for runner in runners:
    runner.close()

  batch = args.batch_size if args.mode == "train" else args.predict_batch_size
  rows = []
  for name, t in zip(names, times):
    ratio = paired_ratio(times[0], t)
    rows.append({"variant": name, "median_step_sec": float(np.median(t)),
                 "examples_per_sec": float(batch / np.median(t)),
                 "step_times_sec": [float(x) for x in t],
                 "first_speedup": ratio[0], "first_speedup_95": ratio[1:]})
  print("\n%s (%s), %s, batch %d, seq %d, %d threads, %d rounds; CPU %s%s"
        % (config_name, os.path.basename(path), args.mode, batch,
           args.seq_length, threads, args.rounds, host.cpu_model(),
           ", native bf16" if host.cpu_flags() & host.NATIVE_BF16_FLAGS
           else ""))
  print("| variant | median s/step | ex/s | %s faster by (95%%) |" % names[0])
  print("|---|---|---|---|")
  for row in rows:
    low, high = row["first_speedup_95"]
    print("| %s | %.3f | %.2f | %s |" % (
        row["variant"], row["median_step_sec"], row["examples_per_sec"],
        "-" if row is rows[0] else "%.3fx (%.3f-%.3f)" % (
            row["first_speedup"], low, high)))
  if args.json:
    record = {"benchmark": "graph_ab", "config": config_name,
              "mode": args.mode, "batch_size": batch,
              "seq_length": args.seq_length, "threads": threads,
              "rounds": args.rounds, "results": rows,
              "cpu": host.cpu_model(),
              "native_bf16": bool(host.cpu_flags() & host.NATIVE_BF16_FLAGS),
              "loadavg_start": list(load_start),
              "loadavg_end": list(os.getloadavg()),
              "platform": platform.platform(),
              "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    report.write_json(record, args.json)
    print("JSON: %s" % args.json)


if __name__ == "__main__":
  main()

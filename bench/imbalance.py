"""Class weights on an imbalanced task: MRPC with 90% of one class dropped.

  nice .venv/bin/python bench/imbalance.py [--seeds=1,2,3] [--use_bf16] \
    [--fresh]

MRPC's training file keeps every 10th non-paraphrase (label 0: 120 of
1,194) and every paraphrase (2,474), so label 0 is 4.6% of training
against 31.6% of the unchanged dev set. For each seed, two fine-tunings of
the converted shared MiniLM with bench/glue_finetune.py's recipe (seq 128,
batch 32, 3 epochs, lr 5e-5): unweighted, and `--class_weights=balanced`
(inverse frequency from the training file). Prints a table of dev macro
F1, accuracy and label 0's F1 per run and their mean over seeds, and writes
JSON (default bench/results/imbalance-mrpc.json).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "results")


def cpu_flags():
  """Which of avx512_bf16 / amx_bf16 this CPU has (the figures' CPU kind)."""
  try:
    with open("/proc/cpuinfo") as f:
      flags = set(f.read().split())
  except OSError:
    return []
  return sorted(flags & {"avx2", "avx512f", "avx512_bf16", "amx_bf16"})


def run_one(seed, weights, args):
  name = "imbalance-mrpc-seed%d-%s" % (seed, weights or "unweighted")
  out = os.path.join(RESULTS, name + ".json")
  command = [sys.executable, os.path.join(ROOT, "bench", "glue_finetune.py"),
             "--task=mrpc", "--drop_label=0", "--keep_every=10",
             "--random_seed=%d" % seed, "--use_bucketing",
             "--work_name=" + name, "--json=" + out,
             "--num_train_epochs=%g" % args.num_train_epochs]
  if weights:
    command.append("--class_weights=" + weights)
  if args.use_bf16:
    command.append("--use_bf16")
  if not args.fresh and os.path.exists(out):
    print("reusing %s (--fresh runs it again)" % out, flush=True)
    with open(out) as f:
      return json.load(f)
  print("$ " + " ".join(command[1:]), flush=True)
  subprocess.run(command, check=True)
  with open(out) as f:
    return json.load(f)


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--seeds", default="1,2,3")
  parser.add_argument("--num_train_epochs", type=float, default=3.0)
  parser.add_argument("--use_bf16", action="store_true")
  parser.add_argument("--fresh", action="store_true",
                      help="run every fine-tuning again (default: reuse the "
                      "JSON of a run that completed)")
  parser.add_argument("--json", default=os.path.join(
      RESULTS, "imbalance-mrpc.json"))
  args = parser.parse_args()
  os.makedirs(RESULTS, exist_ok=True)
  seeds = [int(s) for s in args.seeds.split(",")]
  rows = []
  for seed in seeds:
    for weights in (None, "balanced"):
      r = run_one(seed, weights, args)
      rows.append({
          "seed": seed, "class_weights": weights or "none",
          "train_examples": r["train_examples"],
          "dev_macro_f1": r["dev_macro_f1"],
          "dev_accuracy": r["dev_accuracy"],
          "dev_f1_label0": r["dev_per_label"].get("f1_0"),
          "dev_f1_label1": r["dev_per_label"].get("f1_1"),
          "total_wall_sec": r["total_wall_sec"]})
  print("\n| seed | class weights | dev macro F1 | dev acc | F1 label 0 |"
        " F1 label 1 |")
  print("|---|---|---|---|---|---|")
  for r in rows:
    print("| %d | %s | %.4f | %.4f | %.4f | %.4f |" % (
        r["seed"], r["class_weights"], r["dev_macro_f1"], r["dev_accuracy"],
        r["dev_f1_label0"], r["dev_f1_label1"]))
  summary = {}
  for weights in ("none", "balanced"):
    values = [r["dev_macro_f1"] for r in rows if r["class_weights"] == weights]
    summary[weights] = {
        "mean_macro_f1": statistics.mean(values),
        "stdev_macro_f1": statistics.stdev(values) if len(values) > 1 else 0.0}
    print("| mean | %s | %.4f (sd %.4f) | | | |" % (
        weights, summary[weights]["mean_macro_f1"],
        summary[weights]["stdev_macro_f1"]))
  wins = sum(b["dev_macro_f1"] > a["dev_macro_f1"] for a, b in zip(
      rows[0::2], rows[1::2]))
  print("balanced beats unweighted on %d of %d seeds" % (wins, len(seeds)))
  record = {"benchmark": "imbalance", "task": "mrpc, label 0 kept 1 in 10",
            "date": time.strftime("%Y-%m-%d"), "runs": rows,
            "summary": summary, "balanced_wins": wins,
            "use_bf16": args.use_bf16, "cpu_flags": cpu_flags(),
            "num_train_epochs": args.num_train_epochs}
  with open(args.json, "w") as f:
    json.dump(record, f, indent=2)
  print("JSON: " + args.json)


if __name__ == "__main__":
  main()

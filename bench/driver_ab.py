"""Training throughput of this tree's run_classifier.py against an older
revision's, A/B/A/B in one run (the one-driver refactoring must not cost
speed).

  .venv/bin/python bench/driver_ab.py --base_rev=d5a8477 --rounds=2

Each round trains the converted shared MiniLM on the first --num_train rows
of MRPC (seq --max_seq_length, batch --train_batch_size, 1 epoch) with the
reference's command line, once from a `git worktree` of --base_rev and once
from this tree, alternating which goes first, and reads the examples/sec of
the run's throughput summary (warm-up steps left out). Prints a table and
writes JSON (bench/results/driver_ab.json).
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
SHARED = os.environ.get("BERT_TF_SHARED", os.path.join(os.path.dirname(ROOT),
                                                        "shared"))


def _summary(output_dir):
  path = os.path.join(output_dir, "throughput.jsonl")
  with open(path) as f:
    lines = [json.loads(line) for line in f if line.strip()]
  summaries = [l for l in lines if l["event"] == "train_summary"]
  return summaries[-1]


def _train(tree, data_dir, model_dir, output_dir, args):
  if os.path.exists(output_dir):
    shutil.rmtree(output_dir)
  cmd = [sys.executable, os.path.join(tree, "run_classifier.py"),
         "--task_name=MRPC", "--do_train=true", "--data_dir=" + data_dir,
         "--vocab_file=%s/vocab.txt" % model_dir,
         "--bert_config_file=%s/bert_config.json" % model_dir,
         "--init_checkpoint=%s/bert_model.ckpt" % model_dir,
         "--max_seq_length=%d" % args.max_seq_length,
         "--train_batch_size=%d" % args.train_batch_size,
         "--learning_rate=2e-5", "--num_train_epochs=1.0",
         "--save_checkpoints_steps=100000", "--random_seed=1",
         "--log_every_n_steps=5", "--output_dir=" + output_dir]
  env = dict(os.environ, PYTHONPATH=tree)
  start = time.time()
  proc = subprocess.run(cmd, cwd=tree, env=env, capture_output=True,
                        text=True)
  if proc.returncode:
    raise RuntimeError(proc.stderr[-3000:])
  summary = _summary(output_dir)
  summary["process_wall_sec"] = round(time.time() - start, 1)
  return summary


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--base_rev", default="d5a8477")
  parser.add_argument("--rounds", type=int, default=2)
  parser.add_argument("--num_train", type=int, default=320)
  parser.add_argument("--max_seq_length", type=int, default=128)
  parser.add_argument("--train_batch_size", type=int, default=16)
  parser.add_argument("--results_dir", default=os.path.join(ROOT, "bench",
                                                             "results"))
  args = parser.parse_args()

  from bench.glue_finetune import converted_minilm, subset_dir  # pylint: disable=g-import-not-at-top
  os.makedirs(args.results_dir, exist_ok=True)
  model_dir = converted_minilm(args.results_dir)
  data_dir = subset_dir(os.path.join(SHARED, "data", "glue", "MRPC"),
                        args.num_train, args.results_dir, "mrpc")
  base_tree = os.path.join(args.results_dir, "worktree-%s" % args.base_rev)
  if not os.path.exists(base_tree):
    subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach",
                    base_tree, args.base_rev], check=True)
  trees = {"base " + args.base_rev: base_tree, "this tree": ROOT}
  rates = {name: [] for name in trees}
  order = list(trees)
  for round_index in range(args.rounds):
    for name in (order if round_index % 2 == 0 else order[::-1]):
      out = os.path.join(args.results_dir, "driver-ab-%d-%s" % (
          round_index, name.split()[0]))
      summary = _train(trees[name], data_dir, model_dir, out, args)
      rates[name].append(summary["examples_per_sec"])
      print("round %d %-14s %.2f examples/sec (%d steps, %.0f s)" % (
          round_index, name, summary["examples_per_sec"], summary["steps"],
          summary["process_wall_sec"]), flush=True)
  means = {name: statistics.mean(r) for name, r in rates.items()}
  ratio = means["this tree"] / means["base " + args.base_rev]
  print("\n| tree | examples/sec per round | mean |")
  print("|---|---|---|")
  for name in trees:
    print("| %s | %s | %.2f |" % (name, ", ".join("%.2f" % r
                                                  for r in rates[name]),
                                  means[name]))
  print("ratio this/base: %.3f" % ratio)
  record = {"benchmark": "driver_ab", "date": time.strftime("%Y-%m-%d %H:%M"),
            "base_rev": args.base_rev, "rates": rates, "means": means,
            "ratio": ratio, "load_average": os.getloadavg(),
            "settings": vars(args),
            "machine": "%s, %d cores" % (platform.processor() or
                                         platform.machine(), os.cpu_count())}
  path = os.path.join(args.results_dir, "driver_ab.json")
  with open(path, "w") as f:
    json.dump(record, f, indent=2)
  print("JSON: " + path)


if __name__ == "__main__":
  main()

"""Hyperparameter search benchmark: MRPC from the converted shared MiniLM.

  .venv/bin/python bench/sweep_mrpc.py            # the defaults below
  .venv/bin/python bench/sweep_mrpc.py --max_train_examples=0 \\
      --max_seq_length=128 --space=num_train_epochs=choice:2,3  # full data

A random search (`bert_tf.sweep`, in this process) of --num_trials trials over
learning rate (log-uniform 1e-6..1e-4), batch size {16, 32} and warmup
{0, 0.1}, with the median stopping rule on the dev loss evaluated every
--eval_every_steps (10) steps; every trial's dev accuracy and F1 are reported
too. To finish in about half an hour on a 2-core CPU the defaults train on
the first 800 rows of MRPC's train.tsv (file order) for one epoch at
max_seq_length 64 and evaluate on the full dev set (408 pairs). (With so
little training dev accuracy barely leaves the majority class, 68.4%, and
ties between trials; the loss separates them, hence the default metric.)
--max_train_examples=0 uses all 3,668 (--max_dev_examples keeps only the
first N dev rows). Converts ../shared/models/minilm-l6-h384-uncased to Google
format (cached under bench/results/), prints the trials table and writes
JSON (bench/results/sweep_mrpc.json by default) with every trial, the best
configuration, and the steps and time that early stopping saved (the time
is estimated at each stopped trial's own seconds per step, evaluations
included). Started again with the same options it resumes the sweep (its
state is <sweep_dir>/sweep.json); --fresh starts over.
"""

import argparse
import json
import os
import platform
import shutil
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

from bert_tf import sweep  # pylint: disable=g-import-not-at-top
from glue_finetune import converted_minilm  # pylint: disable=g-import-not-at-top

SHARED = os.environ.get("BERT_TF_SHARED", os.path.join(os.path.dirname(ROOT),
                                                        "shared"))
DEFAULT_SPACE = ["learning_rate=loguniform:1e-6:1e-4",
                 "train_batch_size=choice:16,32",
                 "warmup_proportion=choice:0.0,0.1"]


def subset_dir(task_dir, out_dir, max_train, max_dev):
  """A copy of the task with only the first rows of train.tsv / dev.tsv."""
  os.makedirs(out_dir, exist_ok=True)
  for name, limit in (("train.tsv", max_train), ("dev.tsv", max_dev),
                      ("test.tsv", 0)):
    src = os.path.join(task_dir, name)
    if not os.path.exists(src):
      continue
    with open(src, encoding="utf-8") as f:
      lines = f.readlines()
    if limit:
      lines = lines[:limit + 1]  # the header and `limit` rows
    with open(os.path.join(out_dir, name), "w", encoding="utf-8") as f:
      f.writelines(lines)
  return out_dir


def _rows(path):
  with open(path, encoding="utf-8") as f:
    return sum(1 for _ in f) - 1


def main():
  parser = argparse.ArgumentParser(
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--num_trials", type=int, default=6)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--space", action="append", default=None,
                      help="repeatable NAME=SPEC (default: %s)" %
                      " ".join(DEFAULT_SPACE))
  parser.add_argument("--metric", default="eval_loss")
  parser.add_argument("--early_stopping", default="median",
                      choices=sweep.POLICIES)
  parser.add_argument("--eval_every_steps", type=int, default=10)
  parser.add_argument("--min_steps", type=int, default=0)
  parser.add_argument("--slack", type=float, default=0.1)
  parser.add_argument("--max_train_examples", type=int, default=800,
                      help="first N rows of train.tsv (0 = all 3,668)")
  parser.add_argument("--max_dev_examples", type=int, default=0,
                      help="first N rows of dev.tsv (0 = all 408)")
  parser.add_argument("--max_seq_length", type=int, default=64)
  parser.add_argument("--num_train_epochs", type=float, default=1.0)
  parser.add_argument("--random_seed", type=int, default=12345)
  parser.add_argument("--results_dir", default=os.path.join(ROOT, "bench",
                                                            "results"))
  parser.add_argument("--sweep_dir", default=None,
                      help="default: <results_dir>/sweep-mrpc-n<train>-s<seq>")
  parser.add_argument("--json", default=None, help="output JSON path")
  parser.add_argument("--fresh", action="store_true",
                      help="delete the sweep directory first")
  args = parser.parse_args()

  os.makedirs(args.results_dir, exist_ok=True)
  model_dir = converted_minilm(args.results_dir)
  data_dir = os.path.join(SHARED, "data", "glue", "MRPC")
  if args.max_train_examples or args.max_dev_examples:
    data_dir = subset_dir(
        data_dir, os.path.join(args.results_dir, "mrpc-train%d-dev%d" % (
            args.max_train_examples, args.max_dev_examples)),
        args.max_train_examples, args.max_dev_examples)
  sweep_dir = args.sweep_dir or os.path.join(
      args.results_dir, "sweep-mrpc-n%d-s%d" % (args.max_train_examples,
                                                args.max_seq_length))
  if args.fresh and os.path.exists(sweep_dir):
    shutil.rmtree(sweep_dir)
  base_flags = [
      "--task_name=MRPC", "--data_dir=" + data_dir,
      "--vocab_file=" + os.path.join(model_dir, "vocab.txt"),
      "--bert_config_file=" + os.path.join(model_dir, "bert_config.json"),
      "--init_checkpoint=" + os.path.join(model_dir, "bert_model.ckpt"),
      "--do_lower_case=true", "--max_seq_length=%d" % args.max_seq_length,
      "--num_train_epochs=%g" % args.num_train_epochs,
      "--eval_batch_size=64", "--random_seed=%d" % args.random_seed,
      "--save_checkpoints_steps=100000", "--log_every_n_steps=10"]
  spec = sweep.SweepSpec(
      sweep_dir=sweep_dir, base_flags=base_flags,
      space=args.space or list(DEFAULT_SPACE), search="random",
      num_trials=args.num_trials, seed=args.seed, metric=args.metric,
      early_stopping=args.early_stopping,
      eval_every_steps=args.eval_every_steps, min_steps=args.min_steps,
      slack=args.slack)
  start = time.time()
  state = sweep.run_sweep(spec)
  wall = time.time() - start
  summary = state["summary"]
  trials = []
  for t in state["trials"]:
    m = t["metrics"] or {}
    trials.append({
        "name": t["name"], "params": t["params"], "status": t["status"],
        "steps": t["steps"], "planned_steps": t["planned_steps"],
        "seconds": t["seconds"], "curve": [[p["step"], p["value"]]
                                           for p in t["curve"]],
        "dev_accuracy": m.get("eval_accuracy"), "dev_f1": m.get("f1"),
        "dev_loss": m.get("eval_loss"), "reason": t["reason"],
        "error": t["error"]})
  record = {
      "benchmark": "sweep_mrpc",
      "date": time.strftime("%Y-%m-%d"),
      "command": " ".join([".venv/bin/python", "bench/sweep_mrpc.py"] +
                          sys.argv[1:]),
      "model": "minilm-l6-h384-uncased (converted)",
      "train_examples": _rows(os.path.join(data_dir, "train.tsv")),
      "dev_examples": _rows(os.path.join(data_dir, "dev.tsv")),
      "max_seq_length": args.max_seq_length,
      "num_train_epochs": args.num_train_epochs,
      "space": spec.space, "seed": args.seed, "metric": args.metric,
      "early_stopping": args.early_stopping,
      "eval_every_steps": args.eval_every_steps,
      "summary": summary, "trials": trials,
      "wall_sec_this_invocation": round(wall, 1),
      "machine": "%s, %d cores" % (platform.processor() or platform.machine(),
                                   os.cpu_count()),
      "load_average_at_end": os.getloadavg(),
  }
  path = args.json or os.path.join(args.results_dir, "sweep_mrpc.json")
  with open(path, "w") as f:
    json.dump(record, f, indent=2)

  print()
  print(sweep.format_table(state))
  print()
  print("| trial | lr | batch | warmup | status | steps | dev acc | dev F1 |"
        " dev loss | time |")
  print("|---|---|---|---|---|---|---|---|---|---|")
  for t in trials:
    p = t["params"]
    print("| %s | %.3g | %s | %s | %s | %d/%d | %s | %s | %s | %.0f s |" % (
        t["name"], p.get("learning_rate", float("nan")),
        p.get("train_batch_size", "-"), p.get("warmup_proportion", "-"),
        t["status"], t["steps"], t["planned_steps"],
        "%.4f" % t["dev_accuracy"] if t["dev_accuracy"] is not None else "-",
        "%.4f" % t["dev_f1"] if t["dev_f1"] is not None else "-",
        "%.4f" % t["dev_loss"] if t["dev_loss"] is not None else "-",
        t["seconds"]))
  print("\nsteps: %d trained of %d planned (%d saved, %.1f%%); time %.0f s, "
        "estimated %.0f s without early stopping (%.0f s saved)" % (
            summary["steps_trained"], summary["steps_planned"],
            summary["steps_saved"], 100 * summary["fraction_steps_saved"],
            summary["seconds"], summary["estimated_seconds_without_stopping"],
            summary["estimated_seconds_saved"]))
  for name, plot in (summary.get("plots") or {}).items():
    print("%s: %s" % (name, plot))
  print("JSON: " + path)


if __name__ == "__main__":
  main()

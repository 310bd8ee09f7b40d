"""Accuracy benchmark: fine-tune the converted shared MiniLM on a GLUE task.

  .venv/bin/python bench/glue_finetune.py --task=mrpc
  .venv/bin/python bench/glue_finetune.py --task=sst-2 --max_train_examples=8000

The reference's recipe by default: seq 128, batch 32, 3 epochs, warmup 10%,
learning rate 5e-5. Converts ../shared/models/minilm-l6-h384-uncased to Google
format (cached under bench/results/), trains with run_classifier's library
call, evaluates on the full dev set, prints a table and writes JSON.

`--no_dropout` and `--shuffle_buffer=1` (the training TFRecord in file
order, epoch after epoch) with `--log_every_n_steps=1` are the settings of
bench/whole_run_parity.py's comparison with bench/glue_hf.py.
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

from squad import add_optimizer_type, no_dropout_config  # pylint: disable=g-import-not-at-top,wrong-import-position

from bert_tf import convert  # pylint: disable=g-import-not-at-top
from bert_tf.tasks import classifier

SHARED = os.environ.get("BERT_TF_SHARED", os.path.join(os.path.dirname(ROOT),
                                                        "shared"))
TASK_DIRS = {"mrpc": "MRPC", "sst-2": "SST-2"}
# The label column of each task's train.tsv.
TASK_LABEL_COLUMN = {"mrpc": 0, "sst-2": 1}


def converted_minilm(results_dir):
  """The shared MiniLM in Google's format, converted once (cached).

  Converted under a name of this process and renamed when complete, so runs
  started side by side do not write into one directory.
  """
  out = os.path.join(results_dir, "minilm-google")
  if not os.path.exists(os.path.join(out, "bert_config.json")):
    partial = "%s.partial-%d" % (out, os.getpid())
    convert.hf_to_google(
        os.path.join(SHARED, "models", "minilm-l6-h384-uncased"), partial)
    try:
      os.rename(partial, out)
    except OSError:  # another run finished first: keep its copy
      shutil.rmtree(partial)
  return out


def subset_dir(task_dir, max_train, results_dir, task):
  """A copy of the task with only the first `max_train` training rows."""
  out = os.path.join(results_dir, "%s-first%d" % (task, max_train))
  os.makedirs(out, exist_ok=True)
  with open(os.path.join(task_dir, "train.tsv"), encoding="utf-8") as f:
    lines = f.readlines()
  with open(os.path.join(out, "train.tsv"), "w", encoding="utf-8") as f:
    f.writelines(lines[:max_train + 1])
  for name in ("dev.tsv", "test.tsv"):
    src = os.path.join(task_dir, name)
    if os.path.exists(src):
      with open(src, encoding="utf-8") as fi, open(
          os.path.join(out, name), "w", encoding="utf-8") as fo:
        fo.write(fi.read())
  return out


def imbalanced_dir(task_dir, label, keep_every, results_dir, task):
  """A copy of the task whose training file keeps only every `keep_every`-th
  row of class `label` (the 1st, the (k+1)-th, ... of that class, in file
  order; every other row kept), dev and test unchanged."""
  out = os.path.join(results_dir, "%s-label%s-keep1of%d" % (task, label,
                                                            keep_every))
  os.makedirs(out, exist_ok=True)
  with open(os.path.join(task_dir, "train.tsv"), encoding="utf-8") as f:
    lines = f.readlines()
  kept, seen = [lines[0]], 0
  for line in lines[1:]:
    if line.split("\t")[TASK_LABEL_COLUMN[task]].strip() == label:
      seen += 1
      if (seen - 1) % keep_every:
        continue
    kept.append(line)
  with open(os.path.join(out, "train.tsv"), "w", encoding="utf-8") as f:
    f.writelines(kept)
  for name in ("dev.tsv", "test.tsv"):
    src = os.path.join(task_dir, name)
    if os.path.exists(src):
      shutil.copyfile(src, os.path.join(out, name))
  return out


def recipe_parser(description):
  """The task and recipe arguments shared with bench/glue_hf.py."""
  parser = argparse.ArgumentParser(description=description)
  parser.add_argument("--task", default="mrpc", choices=sorted(TASK_DIRS))
  parser.add_argument("--learning_rate", type=float, default=5e-5)
  parser.add_argument("--num_train_epochs", type=float, default=3.0)
  parser.add_argument("--train_batch_size", type=int, default=32)
  parser.add_argument("--max_seq_length", type=int, default=128)
  parser.add_argument("--warmup_proportion", type=float, default=0.1)
  parser.add_argument("--max_train_examples", type=int, default=0,
                      help="use only the first N training rows (0 = all)")
  parser.add_argument("--random_seed", type=int, default=12345)
  parser.add_argument(
      "--drop_label", default=None,
      help="make the training set imbalanced: keep only every "
      "--keep_every-th training row of this label (e.g. 0)")
  parser.add_argument("--keep_every", type=int, default=10)
  parser.add_argument("--no_dropout", action="store_true",
                      help="dropout off in training (encoder, attention "
                      "and the classifier head)")
  parser.add_argument(
      "--shuffle_buffer", type=int, default=100,
      help="training records in the shuffle buffer: 100 as the reference; "
      "0 a full permutation every epoch; 1 the file order every epoch")
  parser.add_argument(
      "--log_every_n_steps", type=int, default=20,
      help="step log and loss summaries every N steps (1: the whole loss "
      "curve, as bench/whole_run_parity.py reads it)")
  parser.add_argument("--work_name", default=None,
                      help="subdirectory of --results_dir for this run "
                      "(default: a name from the task and recipe)")
  parser.add_argument("--results_dir", default=os.path.join(ROOT, "bench",
                                                            "results"))
  parser.add_argument("--json", default=None, help="output JSON path")
  return parser


def main():
  parser = recipe_parser(__doc__)
  parser.add_argument("--eval_every_epochs", type=float, default=None,
                      help="evaluate on dev after every this many epochs")
  parser.add_argument("--keep_best_checkpoint_by", default=None,
                      help="keep (and report) the best checkpoint by this "
                      "metric, e.g. eval_accuracy")
  add_optimizer_type(parser)
  parser.add_argument(
      "--class_weights", default=None,
      help="run_classifier's --class_weights (balanced, or one weight per "
      "label)")
  parser.add_argument(
      "--use_bucketing", action="store_true",
      help="length bucketing in training (batches of similar length, each "
           "padded to its longest member); evaluation is unchanged by it")
  parser.add_argument(
      "--use_bf16", action="store_true",
      help="oneDNN's automatic bfloat16 rewrite in training and evaluation "
           "(run_classifier's --use_bf16; pays on CPUs with AVX512-BF16 or "
           "AMX)")
  args = parser.parse_args()

  os.makedirs(args.results_dir, exist_ok=True)
  model_dir = converted_minilm(args.results_dir)
  data_dir = os.path.join(SHARED, "data", "glue", TASK_DIRS[args.task])
  if args.max_train_examples:
    data_dir = subset_dir(data_dir, args.max_train_examples, args.results_dir,
                          args.task)
  if args.drop_label is not None:
    data_dir = imbalanced_dir(data_dir, args.drop_label, args.keep_every,
                              args.results_dir, args.task)
  run_name = "%s-lr%g-seed%d%s%s%s%s" % (
      args.task, args.learning_rate, args.random_seed,
      "-n%d" % args.max_train_examples if args.max_train_examples else "",
      "-every%g" % args.eval_every_epochs if args.eval_every_epochs else "",
      "-shuffle%d" % args.shuffle_buffer if args.shuffle_buffer != 100
      else "", "-nodropout" if args.no_dropout else "") + (
          "" if args.optimizer_type == "adamw" else "-" + args.optimizer_type
      ) + ("-bucketing" if args.use_bucketing else "") + (
          "-bf16" if args.use_bf16 else "") + (
              "-label%s-keep1of%d" % (args.drop_label, args.keep_every)
              if args.drop_label is not None else "") + (
                  "-weights-" + args.class_weights.replace(",", "_")
                  if args.class_weights else "")
  work = os.path.join(args.results_dir, args.work_name or run_name)
  if os.path.exists(work):
    shutil.rmtree(work)
  os.makedirs(work)
  bert_config_file = os.path.join(model_dir, "bert_config.json")
  if args.no_dropout:
    bert_config_file = no_dropout_config(bert_config_file, work)

  cfg = classifier.ClassifierConfig(
      task_name=args.task, data_dir=data_dir,
      bert_config_file=bert_config_file,
      vocab_file=os.path.join(model_dir, "vocab.txt"),
      init_checkpoint=os.path.join(model_dir, "bert_model.ckpt"),
      output_dir=os.path.join(work, "model"), do_lower_case=True,
      max_seq_length=args.max_seq_length, do_train=True, do_eval=True,
      train_batch_size=args.train_batch_size, eval_batch_size=32,
      learning_rate=args.learning_rate,
      num_train_epochs=args.num_train_epochs,
      warmup_proportion=args.warmup_proportion,
      save_checkpoints_steps=100000, random_seed=args.random_seed,
      shuffle_buffer=args.shuffle_buffer,
      log_every_n_steps=args.log_every_n_steps,
      eval_every_epochs=args.eval_every_epochs,
      keep_best_checkpoint_by=args.keep_best_checkpoint_by,
      optimizer_type=args.optimizer_type, use_bucketing=args.use_bucketing,
      use_bf16=args.use_bf16, class_weights=args.class_weights)
  start = time.time()
  result = classifier.run(cfg)
  wall = time.time() - start
  ev = result["eval"]
  with open(os.path.join(data_dir, "train.tsv"), encoding="utf-8") as f:
    n_train = sum(1 for _ in f) - 1
  record = {
      "benchmark": "glue_finetune",
      "task": args.task,
      "date": time.strftime("%Y-%m-%d"),
      "model": "minilm-l6-h384-uncased (converted)",
      "train_examples": n_train,
      "recipe": {k: getattr(args, k) for k in (
          "learning_rate", "num_train_epochs", "train_batch_size",
          "max_seq_length", "warmup_proportion", "random_seed",
          "shuffle_buffer", "no_dropout", "optimizer_type", "use_bucketing",
          "use_bf16", "drop_label", "keep_every", "class_weights")},
      "num_train_steps": result.get("num_train_steps"),
      "dev_accuracy": ev.get("eval_accuracy"),
      "dev_f1": ev.get("f1"),
      "dev_loss": ev.get("eval_loss"),
      "dev_macro_f1": ev.get("macro_f1"),
      "dev_per_label": {
          key: value for key, value in ev.items()
          if key.split("_")[0] in ("precision", "recall", "f1", "support")
          and key != "f1"},
      "train_examples_per_sec": result["train_summary"]["examples_per_sec"],
      "train_wall_sec": result["train_summary"]["wall_sec"],
      "eval_history": [
          {"epoch": r.get("epoch"), "global_step": r["global_step"],
           "eval_accuracy": r["metrics"].get("eval_accuracy"),
           "f1": r["metrics"].get("f1"),
           "eval_loss": r["metrics"].get("eval_loss")}
          for r in result.get("eval_history", [])],
      "best": ({k: v for k, v in result["best"].items() if k != "metrics"}
               if result.get("best") else None),
      "total_wall_sec": round(wall, 1),
      "model_dir": cfg.output_dir,
      "machine": "%s, %d cores" % (platform.processor() or platform.machine(),
                                   os.cpu_count()),
  }
  path = args.json or os.path.join(args.results_dir, run_name + ".json")
  with open(path, "w") as f:
    json.dump(record, f, indent=2)
  print("\n| task | train ex | lr | epochs | dev acc | dev F1 | train ex/s |"
        " train time |")
  print("|---|---|---|---|---|---|---|---|")
  rate = record["train_examples_per_sec"]  # None: too few steps to time
  print("| %s | %d | %g | %g | %.4f | %s | %s | %.0f s |" % (
      args.task, n_train, args.learning_rate, args.num_train_epochs,
      record["dev_accuracy"],
      "%.4f" % record["dev_f1"] if record["dev_f1"] is not None else "-",
      "%.1f" % rate if rate is not None else "-", record["train_wall_sec"]))
  if record["eval_history"]:
    print("\n| epoch | step | dev acc | dev F1 | dev loss |")
    print("|---|---|---|---|---|")
    for r in record["eval_history"]:
      print("| %s | %d | %.4f | %s | %.4f |" % (
          r["epoch"], r["global_step"], r["eval_accuracy"],
          "%.4f" % r["f1"] if r["f1"] is not None else "-", r["eval_loss"]))
  if record["best"]:
    print("best: %s = %.4f at step %d (%s)" % (
        args.keep_best_checkpoint_by, record["best"]["value"],
        record["best"]["global_step"], record["best"]["checkpoint"]))
  print("JSON: " + path)


if __name__ == "__main__":
  main()

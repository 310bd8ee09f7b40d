"""Whole-run parity with dropout off: bert_tf against Hugging Face, step by step.

  .venv/bin/python bench/whole_run_parity.py --task=squad      # ~35 min
  .venv/bin/python bench/whole_run_parity.py --task=mrpc       # ~45 min
  .venv/bin/python bench/whole_run_parity.py --task=squad --collect_only
  .venv/bin/python bench/whole_run_parity.py --task=mrpc \
      --results_dir=/tmp/wrp --max_train_examples=64 --num_train_epochs=1

Both sides fine-tune the shared MiniLM for the benchmark's full schedule with
dropout off, on the same batches in the same order, from the same weights
(arguments this script does not know, such as the last line's, go to both):

- bert_tf runs its benchmark script (bench/squad.py, bench/glue_finetune.py)
  with `--no_dropout` and `--shuffle_buffer=1`, so it reads its training
  TFRecord in file order, epoch after epoch (a one-record buffer is no
  shuffle), and writes the loss of every step as a summary
  (`--log_every_n_steps=1`).
- Hugging Face runs bench/squad_hf.py (bench/glue_hf.py) with the same file
  order (SQuAD: the windows of `random.Random(seed)`-shuffled questions, as
  bert_tf writes them; MRPC: train.tsv's order), its one-record stream,
  BERT's update and schedule written in torch (`--optimizer=reference_adamw`),
  dropout off (the classifier head's too), and the head bert_tf starts from:
  it waits for bert_tf's `model.ckpt-0` and copies the head's weights.

The two runs go side by side, each pinned to one core. Then the loss
curves are compared step by step: the largest absolute and relative
difference, the first step where the relative difference exceeds
`--tolerance`, and the final scores of both. Prints a table and writes JSON
(`<results_dir>/whole-run-parity-<task>-seed<N>.json`).

A control run (`--control_steps=N --control_args=...`, after the pair) runs
HF alone again for the first N steps of the same schedule, from the same
start, with one thing changed, and tabulates bert_tf vs HF beside HF vs the
control and bert_tf vs the control:

- `--control_args=--attn_implementation=eager`: the same arithmetic in
  another order (how far rounding alone parts two runs of one framework);
- `--control_args=--train_pad_embedding`: HF's [PAD] embedding row learns,
  as in the reference. Hugging Face builds its word embeddings with
  `padding_idx=0`, which gives that row no gradient; the reference's (and
  bert_tf's) has one wherever padded positions reach the loss: SQuAD's span
  logits cover every position, padding included, so there the two models
  differ by design (on MRPC the padded positions never reach the pooled
  [CLS] output, so the row gets no gradient on either side).

  .venv/bin/python bench/whole_run_parity.py --task=squad --control_steps=120 \
      --control_args=--train_pad_embedding
"""

import argparse
import glob
import json
import os
import shutil
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))

from squad_seeds import run_pair  # pylint: disable=g-import-not-at-top,wrong-import-position

# Per task: the bert_tf and HF benchmark scripts, their extra arguments for
# a parity run, the scores to report (keys of both JSON records), how to
# print them, and the tag of the estimator's loss summary in bert_tf's
# model_dir (the classifier's graph holds the reference's "loss" scope
# already, so the summary is uniquified to "loss_1").
TASKS = {
    "squad": {
        "tf": ("squad.py", ["--no_dropout", "--shuffle_buffer=1",
                            "--log_every_n_steps=1"]),
        "hf": ("squad_hf.py", ["--no_dropout", "--shuffle_buffer=1",
                               "--optimizer=reference_adamw",
                               "--threads=1"]),
        "scores": ("exact_match", "f1"),
        "score_format": "%.2f",
        "loss_tag": "loss",
    },
    "mrpc": {
        "tf": ("glue_finetune.py", ["--task=mrpc", "--no_dropout",
                                    "--shuffle_buffer=1",
                                    "--log_every_n_steps=1"]),
        "hf": ("glue_hf.py", ["--task=mrpc", "--no_dropout",
                              "--shuffle_buffer=1",
                              "--optimizer=reference_adamw", "--threads=1"]),
        "scores": ("dev_accuracy", "dev_f1"),
        "score_format": "%.4f",
        "loss_tag": "loss_1",
    },
}


def tf_losses(model_dir, tag="loss"):
  """[(step, loss)] of the `tag` summaries in a bert_tf model_dir, by step."""
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  by_step = {}
  for path in sorted(glob.glob(os.path.join(model_dir, "events.out.*"))):
    for event in tf.train.summary_iterator(path):
      for value in event.summary.value:
        if value.tag == tag:
          by_step[event.step] = value.simple_value
  return sorted(by_step.items())


def compare(tf_curve, hf_curve, tolerance):
  """Step-by-step comparison of two loss curves (equal lengths)."""
  ours = np.array(tf_curve, dtype=np.float64)
  theirs = np.array(hf_curve, dtype=np.float64)
  if ours.shape != theirs.shape:
    raise SystemExit("bert_tf logged %d losses, HF %d: the runs did not take "
                     "the same number of steps" % (len(ours), len(theirs)))
  diff = np.abs(ours - theirs)
  rel = diff / np.maximum(np.abs(theirs), 1e-12)
  over = np.nonzero(rel > tolerance)[0]
  windows = {}
  for start in range(0, len(ours), max(1, len(ours) // 6)):
    part = slice(start, start + max(1, len(ours) // 6))
    windows["%d-%d" % (start, min(len(ours), part.stop) - 1)] = {
        "max_abs_diff": float(diff[part].max()),
        "max_rel_diff": float(rel[part].max()),
        "tf_mean_loss": float(ours[part].mean()),
        "hf_mean_loss": float(theirs[part].mean())}
  return {
      "steps": len(ours),
      "max_abs_diff": float(diff.max()),
      "max_abs_diff_step": int(diff.argmax()),
      "max_rel_diff": float(rel.max()),
      "max_rel_diff_step": int(rel.argmax()),
      "first_step_over_tolerance": int(over[0]) if len(over) else None,
      "steps_over_tolerance": int(len(over)),
      "first_loss": [float(ours[0]), float(theirs[0])],
      "last_loss": [float(ours[-1]), float(theirs[-1])],
      "by_window": windows,
  }


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--task", default="squad", choices=sorted(TASKS))
  parser.add_argument("--random_seed", type=int, default=1)
  parser.add_argument("--tolerance", type=float, default=1e-3,
                      help="relative loss difference reported as a parting")
  parser.add_argument("--results_dir", default=os.path.join(ROOT, "bench",
                                                            "results"))
  parser.add_argument("--collect_only", action="store_true",
                      help="compare the runs already in --results_dir")
  parser.add_argument(
      "--control_steps", type=int, default=0,
      help="after a parity run: run HF alone again for this many steps of "
           "the same schedule from the same start, changed only by "
           "--control_args, and set how far bert_tf and HF part beside how "
           "far HF parts from itself through rounding alone")
  parser.add_argument(
      "--control_args", default="--attn_implementation=eager",
      help="what the control run changes: HF's other attention kernel (the "
           "same arithmetic in another order), or e.g. --perturb=1e-7")
  args, extra = parser.parse_known_args()
  task = TASKS[args.task]
  out_dir = os.path.join(args.results_dir, "whole-run-parity")
  os.makedirs(out_dir, exist_ok=True)
  name = "%s-seed%d" % (args.task, args.random_seed)
  json_path = {side: os.path.join(out_dir, "%s-%s.json" % (name, side))
               for side in ("tf", "hf")}
  tf_work = "whole-run-parity/%s-tf" % name
  control_path = os.path.join(out_dir, "%s-hf-control.json" % name)
  if args.control_steps and not args.collect_only:
    script, side_args = task["hf"]
    run_pair([([sys.executable, os.path.join(ROOT, "bench", script)] +
               side_args + extra + [
                   "--random_seed=%d" % args.random_seed,
                   "--results_dir=" + args.results_dir,
                   "--work_name=whole-run-parity/%s-hf-control" % name,
                   "--json=" + control_path,
                   "--init_head_from=" + os.path.join(
                       args.results_dir, tf_work, "model"),
                   "--stop_after_steps=%d" % args.control_steps] +
               args.control_args.split(),
               control_path[:-5] + ".log")])
  elif not args.collect_only:
    tf_model_dir = os.path.join(args.results_dir, tf_work, "model")
    # No stale checkpoint for the HF side to copy a head from.
    shutil.rmtree(os.path.join(args.results_dir, tf_work), ignore_errors=True)
    common = ["--random_seed=%d" % args.random_seed,
              "--results_dir=" + args.results_dir] + extra
    jobs = []
    for side in ("tf", "hf"):
      script, side_args = task[side]
      cmd = [sys.executable, os.path.join(ROOT, "bench", script)] + (
          side_args + common + ["--work_name=whole-run-parity/%s-%s" % (
              name, side), "--json=" + json_path[side]])
      if side == "hf":
        cmd.append("--init_head_from=" + tf_model_dir)
      jobs.append((cmd, json_path[side][:-5] + ".log"))
    run_pair(jobs)

  records = {}
  for side in ("tf", "hf"):
    with open(json_path[side]) as f:
      records[side] = json.load(f)
  curve = tf_losses(records["tf"]["model_dir"], task["loss_tag"])
  result = compare([loss for _, loss in curve], records["hf"]["losses"],
                   args.tolerance)
  result.update(
      task=args.task, random_seed=args.random_seed,
      tolerance=args.tolerance,
      scores={side: {k: records[side][k] for k in task["scores"]}
              for side in ("tf", "hf")},
      tf_losses=[loss for _, loss in curve], hf_losses=records["hf"]["losses"])
  path = os.path.join(args.results_dir, "whole-run-parity-%s.json" % name)
  with open(path, "w") as f:
    json.dump(result, f, indent=2)
  print("\n| side | %s | first loss | last loss |" % " | ".join(
      task["scores"]))
  print("|---|%s---|---|" % ("---|" * len(task["scores"])))
  for i, side in enumerate(("tf", "hf")):
    print("| %s | %s | %.4f | %.4f |" % (
        {"tf": "bert_tf", "hf": "HF"}[side],
        " | ".join(task["score_format"] % records[side][k]
                   for k in task["scores"]),
        result["first_loss"][i], result["last_loss"][i]))
  print("\nsteps %d; largest loss difference %.2e (step %d), relative %.2e "
        "(step %d); first step over %.0e relative: %s (%d steps over)" % (
            result["steps"], result["max_abs_diff"],
            result["max_abs_diff_step"], result["max_rel_diff"],
            result["max_rel_diff_step"], args.tolerance,
            result["first_step_over_tolerance"],
            result["steps_over_tolerance"]))
  print("\n| steps | max abs diff | max rel diff | bert_tf mean loss | "
        "HF mean loss |")
  print("|---|---|---|---|---|")
  for window, w in result["by_window"].items():
    print("| %s | %.2e | %.2e | %.4f | %.4f |" % (
        window, w["max_abs_diff"], w["max_rel_diff"], w["tf_mean_loss"],
        w["hf_mean_loss"]))
  if os.path.exists(control_path):
    with open(control_path) as f:
      control_record = json.load(f)
    control = control_record["losses"]
    defaults = {"attn_implementation": "sdpa", "train_pad_embedding": False,
                "perturb": 0.0}
    changed = ", ".join(
        "%s=%s" % (k, control_record.get(k, v)) for k, v in defaults.items()
        if control_record.get(k, v) != records["hf"].get(k, v))
    n = len(control)
    pairs = {"bert_tf vs HF": compare(result["tf_losses"][:n],
                                      result["hf_losses"][:n],
                                      args.tolerance),
             "HF vs HF (control)": compare(result["hf_losses"][:n], control,
                                           args.tolerance),
             "bert_tf vs HF (control)": compare(result["tf_losses"][:n],
                                                control, args.tolerance)}
    result["control"] = {"changed": changed, "steps": n,
                         "losses": control, "comparisons": pairs}
    with open(path, "w") as f:
      json.dump(result, f, indent=2)
    print("\nControl: HF again with %s, first %d steps. Largest relative "
          "loss difference per window:" % (changed, n))
    print("| steps | %s |" % " | ".join(pairs))
    print("|---|%s" % ("---|" * len(pairs)))
    for window in pairs["bert_tf vs HF"]["by_window"]:
      print("| %s | %s |" % (window, " | ".join(
          "%.2e" % c["by_window"][window]["max_rel_diff"]
          for c in pairs.values())))
  print("JSON: " + path)


if __name__ == "__main__":
  main()

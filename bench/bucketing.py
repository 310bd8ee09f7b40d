"""Epoch time of MRPC fine-tuning with fixed padding vs length bucketing.

  .venv/bin/python bench/bucketing.py                  # 800 examples, x2
  .venv/bin/python bench/bucketing.py --max_train_examples=0 --repeats=1

Fine-tunes the converted shared MiniLM (../shared/models/minilm-l6-h384-uncased,
converted once under bench/results/ as bench/glue_finetune.py does) on MRPC
through `classifier.run` for one epoch of the first --max_train_examples
training pairs (0 = all 3,668), once padding every example to
--max_seq_length (the reference) and once with `use_bucketing=True` (batches
of similar length, each padded only to its longest member), with the same
recipe and seed. The two modes alternate --repeats times (fixed, bucketing,
fixed, ...) so that load from other processes hits both alike; figures are
medians over the repeats. The last repeat of each mode also evaluates on the
full dev set (fixed-padding vs bucketed evaluation, which keeps the order).

Reported per mode: the training wall time of the epoch (`Estimator.train`,
graph building and checkpoint writing included), the steady-state training
rate (examples/sec after 2 warm-up steps, from the ThroughputHook) and the
full MRPC epoch (3,668 pairs) time it implies, the dev evaluation time, dev
accuracy / F1, and the real lengths. Prints a table and writes
bench/results/bucketing.json (with the load average: other processes on the
machine slow both modes).
"""

import argparse
import json
import os
import platform
import shutil
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

import glue_finetune  # pylint: disable=g-import-not-at-top,wrong-import-position
from bert_tf import input_pipeline  # pylint: disable=g-import-not-at-top,wrong-import-position
from bert_tf.tasks import classifier  # pylint: disable=g-import-not-at-top,wrong-import-position


def real_lengths(output_dir, split):
  """Real lengths (sum of input_mask) of the cached `split` features."""
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  name = [n for n in os.listdir(output_dir)
          if n.startswith(split + "-") and n.endswith(".tf_record")][0]
  out = []
  for record in input_pipeline.iter_records(os.path.join(output_dir, name)):
    mask = tf.train.Example.FromString(record).features.feature["input_mask"]
    out.append(sum(mask.int64_list.value))
  return np.array(out)


MRPC_TRAIN_EXAMPLES = 3668


def run_mode(args, model_dir, data_dir, use_bucketing, evaluate):
  output_dir = os.path.join(
      args.results_dir, "bucketing-%s" % ("on" if use_bucketing else "off"))
  if os.path.exists(output_dir):
    shutil.rmtree(output_dir)
  common = dict(
      task_name="mrpc", data_dir=data_dir,
      bert_config_file=os.path.join(model_dir, "bert_config.json"),
      vocab_file=os.path.join(model_dir, "vocab.txt"),
      output_dir=output_dir, do_lower_case=True,
      max_seq_length=args.max_seq_length, eval_batch_size=args.eval_batch_size,
      random_seed=args.random_seed, use_bucketing=use_bucketing,
      save_checkpoints_steps=100000, log_every_n_steps=10)
  start = time.time()
  trained = classifier.run(classifier.ClassifierConfig(
      **common, init_checkpoint=os.path.join(model_dir, "bert_model.ckpt"),
      do_train=True, train_batch_size=args.train_batch_size,
      learning_rate=args.learning_rate, num_train_epochs=1.0,
      warmup_proportion=0.1))
  train_wall = time.time() - start
  summary = trained["train_summary"]
  lengths = real_lengths(output_dir, "train")
  out = {
      "use_bucketing": use_bucketing,
      "train_examples": len(lengths),
      "train_steps": summary["steps"],
      "train_wall_sec": round(train_wall, 1),
      "train_loop_wall_sec": summary["wall_sec"],
      "train_examples_per_sec": summary["examples_per_sec"],
      "train_step_time_sec": summary["step_time_sec"],
      "full_epoch_sec_at_steady_rate": round(
          MRPC_TRAIN_EXAMPLES / summary["examples_per_sec"], 1),
      "mean_real_length": round(float(lengths.mean()), 1),
      "max_real_length": int(lengths.max()),
      "loadavg_after": [round(x, 2) for x in os.getloadavg()],
  }
  if evaluate:
    start = time.time()
    evaluated = classifier.run(classifier.ClassifierConfig(**common,
                                                           do_eval=True))
    out.update({
        "eval_wall_sec": round(time.time() - start, 1),
        "dev_accuracy": evaluated["eval"]["eval_accuracy"],
        "dev_f1": evaluated["eval"].get("f1"),
        "dev_loss": evaluated["eval"]["eval_loss"],
    })
  return out


def batch_composition(model_dir, data_dir, args, epochs=3):
  """What bucketing changes in the training batches, without training.

  Writes MRPC's training features, reads `epochs` epochs of batches through
  the training input_fn with fixed padding and with bucketing (same seed,
  the reference's 100-record shuffle buffer), and returns per mode the mean
  and spread of each batch's positive-label rate, the spread of real
  lengths within a batch, and the positive rate per length band. If
  bucketing grouped labels (lengths and labels correlate in MRPC), its
  per-batch label spread would exceed the binomial spread of random
  batches.
  """
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  from bert_tf import tokenization  # pylint: disable=g-import-not-at-top
  from bert_tf.tasks import glue  # pylint: disable=g-import-not-at-top
  tf.disable_eager_execution()
  processor = glue.MrpcProcessor()
  examples = processor.get_train_examples(data_dir)
  work = os.path.join(args.results_dir, "bucketing-composition")
  os.makedirs(work, exist_ok=True)
  path = os.path.join(work, "train-mrpc.tf_record")
  classifier.file_based_convert_examples_to_features(
      examples, processor.get_labels(), args.max_seq_length,
      tokenization.FullTokenizer(os.path.join(model_dir, "vocab.txt"), True),
      path)
  labels = np.array([int(e.label) for e in examples])
  lengths = real_lengths(work, "train")
  positive = float(labels.mean())
  bands = {}
  for lo, hi in ((0, 40), (40, 50), (50, 60), (60, 70), (70, 1000)):
    inside = (lengths >= lo) & (lengths < hi)
    bands["%d-%d" % (lo, hi - 1)] = {"examples": int(inside.sum()),
                                     "positive": float(labels[inside].mean())}
  seq = args.max_seq_length
  name_to_features = {
      "input_ids": tf.io.FixedLenFeature([seq], tf.int64),
      "input_mask": tf.io.FixedLenFeature([seq], tf.int64),
      "segment_ids": tf.io.FixedLenFeature([seq], tf.int64),
      "label_ids": tf.io.FixedLenFeature([], tf.int64)}
  steps = epochs * len(examples) // args.train_batch_size
  out = {"examples": len(examples), "positive_rate": positive,
         "binomial_sd_of_batch_rate": float(np.sqrt(
             positive * (1 - positive) / args.train_batch_size)),
         "positive_rate_by_length": bands, "modes": {}}
  for name, bucketing in (("fixed", False), ("bucketing", True)):
    input_fn = input_pipeline.file_based_input_fn_builder(
        [path], name_to_features, is_training=True, drop_remainder=True,
        seed=args.random_seed, use_bucketing=bucketing)
    with tf.Graph().as_default():
      batch = tf.data.make_one_shot_iterator(input_fn(
          {"batch_size": args.train_batch_size})).get_next()
      with tf.Session() as sess:
        batches = [sess.run(batch) for _ in range(steps)]
    rates = np.array([b["label_ids"].mean() for b in batches])
    out["modes"][name] = {
        "batches": steps,
        "batch_positive_rate_mean": float(rates.mean()),
        "batch_positive_rate_sd": float(rates.std()),
        "within_batch_length_sd": float(np.mean(
            [b["input_mask"].sum(1).std() for b in batches]))}
  return out


def _median(runs, key):
  return float(np.median([r[key] for r in runs]))


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--max_train_examples", type=int, default=800,
                      help="use only the first N training rows (0 = all)")
  parser.add_argument("--repeats", type=int, default=2,
                      help="alternations fixed / bucketing")
  parser.add_argument("--train_batch_size", type=int, default=32)
  parser.add_argument("--eval_batch_size", type=int, default=32)
  parser.add_argument("--max_seq_length", type=int, default=128)
  parser.add_argument("--learning_rate", type=float, default=5e-5)
  parser.add_argument("--random_seed", type=int, default=12345)
  parser.add_argument("--results_dir", default=os.path.join(ROOT, "bench",
                                                            "results"))
  parser.add_argument("--json", default=None, help="output JSON path")
  parser.add_argument(
      "--composition_only", action="store_true",
      help="train nothing: compare the training batches of both modes "
           "(label mix and lengths per batch) over 3 epochs")
  args = parser.parse_args()

  os.makedirs(args.results_dir, exist_ok=True)
  model_dir = glue_finetune.converted_minilm(args.results_dir)
  data_dir = os.path.join(glue_finetune.SHARED, "data", "glue", "MRPC")
  if args.max_train_examples:
    data_dir = glue_finetune.subset_dir(data_dir, args.max_train_examples,
                                        args.results_dir, "mrpc")
  if args.composition_only:
    record = batch_composition(model_dir, data_dir, args)
    path = args.json or os.path.join(args.results_dir,
                                     "bucketing-composition.json")
    with open(path, "w") as f:
      json.dump(record, f, indent=2)
    print("positive rate %.3f; by real length: %s" % (
        record["positive_rate"], ", ".join(
            "%s: %.3f (%d)" % (k, v["positive"], v["examples"])
            for k, v in record["positive_rate_by_length"].items())))
    print("| mode | batches | positive rate per batch: mean | sd (binomial "
          "%.3f) | length sd within a batch |" %
          record["binomial_sd_of_batch_rate"])
    print("|---|---|---|---|---|")
    for name, m in record["modes"].items():
      print("| %s | %d | %.3f | %.3f | %.1f |" % (
          name, m["batches"], m["batch_positive_rate_mean"],
          m["batch_positive_rate_sd"], m["within_batch_length_sd"]))
    print("JSON: " + path)
    return
  load_before = os.getloadavg()
  runs = {False: [], True: []}
  for r in range(args.repeats):
    last = r == args.repeats - 1
    for bucketing in (False, True):
      runs[bucketing].append(run_mode(args, model_dir, data_dir, bucketing,
                                      evaluate=last))
      m = runs[bucketing][-1]
      print("repeat %d, %s: epoch %.1f s, %.2f examples/sec (load %s)" % (
          r + 1, "bucketing" if bucketing else "fixed", m["train_wall_sec"],
          m["train_examples_per_sec"], m["loadavg_after"]), flush=True)
  load_after = os.getloadavg()
  modes = {}
  for name, bucketing in (("fixed", False), ("bucketing", True)):
    rs = runs[bucketing]
    modes[name] = dict(rs[-1])
    modes[name].pop("loadavg_after")
    for key in ("train_wall_sec", "train_loop_wall_sec",
                "train_examples_per_sec", "train_step_time_sec",
                "full_epoch_sec_at_steady_rate"):
      modes[name][key] = round(_median(rs, key), 3)
    modes[name]["runs"] = rs
  fixed, bucketed = modes["fixed"], modes["bucketing"]
  record = {
      "benchmark": "bucketing",
      "date": time.strftime("%Y-%m-%d %H:%M"),
      "model": "minilm-l6-h384-uncased (converted)",
      "task": "mrpc",
      "recipe": {k: getattr(args, k) for k in (
          "train_batch_size", "eval_batch_size", "max_seq_length",
          "learning_rate", "random_seed", "max_train_examples", "repeats")},
      "modes": modes,
      "speedup_train_wall": round(
          fixed["train_wall_sec"] / bucketed["train_wall_sec"], 2),
      "speedup_steady_rate": round(
          bucketed["train_examples_per_sec"] /
          fixed["train_examples_per_sec"], 2),
      "speedup_eval_wall": round(
          fixed["eval_wall_sec"] / bucketed["eval_wall_sec"], 2),
      "loadavg_before": [round(x, 2) for x in load_before],
      "loadavg_after": [round(x, 2) for x in load_after],
      "nice": os.nice(0),
      "machine": "%s, %d cores" % (platform.processor() or platform.machine(),
                                   os.cpu_count()),
  }
  path = args.json or os.path.join(args.results_dir, "bucketing.json")
  with open(path, "w") as f:
    json.dump(record, f, indent=2)
  print("\nMRPC, MiniLM-L6-H384, one epoch of %d train examples, batch %d, "
        "max length %d (mean real length %.1f), median of %d alternating "
        "repeats" % (fixed["train_examples"], args.train_batch_size,
                     args.max_seq_length, fixed["mean_real_length"],
                     args.repeats))
  print("| mode | epoch wall | train ex/s | full MRPC epoch at that rate |"
        " dev eval wall | dev acc | dev F1 |")
  print("|---|---|---|---|---|---|---|")
  for name, m in (("fixed padding", fixed), ("bucketing", bucketed)):
    print("| %s | %.1f s | %.2f | %.0f s | %.1f s | %.4f | %.4f |" % (
        name, m["train_wall_sec"], m["train_examples_per_sec"],
        m["full_epoch_sec_at_steady_rate"], m["eval_wall_sec"],
        m["dev_accuracy"], m["dev_f1"]))
  print("speed-up: epoch wall %.2fx, steady rate %.2fx, eval wall %.2fx "
        "(load average %s -> %s)" % (
            record["speedup_train_wall"], record["speedup_steady_rate"],
            record["speedup_eval_wall"], record["loadavg_before"],
            record["loadavg_after"]))
  print("JSON: " + path)


if __name__ == "__main__":
  main()

"""Multi-label classification on real data: WNUT-17 sentences labelled with
the set of entity types they contain.

  nice .venv/bin/python bench/multi_label.py [--seeds=1] [--use_bf16]

From ../shared/data/ner/wnut17: each sentence of train.conll (3,394) and
dev.conll (1,009) becomes a row whose label set is the types of its
entities (person, location, group, creative-work, corporation, product;
the empty set for a sentence without entities); `--split=pooled` (the
default) shuffles both files' rows into 80% train and 20% dev,
`--split=official` keeps WNUT-17's files (a dev set from other sources).
run_classifier's library call fine-tunes the converted shared MiniLM
(generic task, --multi_label, seq 64, batch 32, 6 epochs, lr 1e-4, length
bucketing) and tunes each
label's threshold on dev (--tune_thresholds); dev is also predicted, so the
scores at the global threshold 0.5 are reported beside the tuned ones. The
baselines: the all-negative prediction (the empty set everywhere) and the
most frequent non-empty training label set everywhere (the most frequent
set is the empty one). Prints a table and writes JSON (default
bench/results/multi_label_wnut17-<split>.json).
"""

import argparse
import collections
import json
import os
import random
import shutil
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

from glue_finetune import SHARED, converted_minilm  # pylint: disable=g-import-not-at-top,wrong-import-position
from imbalance import cpu_flags  # pylint: disable=g-import-not-at-top,wrong-import-position

from bert_tf import metrics  # pylint: disable=g-import-not-at-top,wrong-import-position
from bert_tf.tasks import classifier  # pylint: disable=g-import-not-at-top,wrong-import-position
from bert_tf.tasks import ner  # pylint: disable=g-import-not-at-top,wrong-import-position

RESULTS = os.path.join(ROOT, "bench", "results")


def build_task(out, split_kind):
  """train.tsv, dev.tsv (and test.tsv = dev) of sentences and type sets.

  split_kind "official": WNUT-17's train and dev files (dev is other
  sources than train: 62% of its sentences name an entity, 37% a person,
  against 36% and 15% in train). "pooled": both files' sentences shuffled
  (seed 0) and split 80/20, train and dev from one distribution.
  """
  os.makedirs(out, exist_ok=True)
  sets = {}
  for split in ("train", "dev"):
    sentences = ner.read_conll(os.path.join(SHARED, "data", "ner", "wnut17",
                                            split + ".conll"))
    sets[split] = [(" ".join(s.words).replace("\t", " "),
                    sorted({t[2:] for t in s.tags if t != "O"}))
                   for s in sentences]
  if split_kind == "pooled":
    rows = sets["train"] + sets["dev"]
    random.Random(0).shuffle(rows)
    cut = int(0.8 * len(rows))
    sets = {"train": rows[:cut], "dev": rows[cut:]}
  for split, rows in sets.items():
    for name in [split] + (["test"] if split == "dev" else []):
      with open(os.path.join(out, name + ".tsv"), "w",
                encoding="utf-8") as f:
        f.write("text\ttypes\n")
        for text, types in rows:
          f.write("%s\t%s\n" % (text, "|".join(types)))
  return sets


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--seeds", default="1")
  parser.add_argument("--split", default="pooled",
                      choices=["pooled", "official"],
                      help="pooled: train and dev from both files, 80/20; "
                      "official: WNUT-17's train and dev files")
  parser.add_argument("--num_train_epochs", type=float, default=6.0)
  parser.add_argument("--learning_rate", type=float, default=1e-4)
  parser.add_argument("--use_bf16", action="store_true")
  parser.add_argument("--json", default=None,
                      help="default: bench/results/multi_label_wnut17-"
                      "<split>.json")
  args = parser.parse_args()
  args.json = args.json or os.path.join(
      RESULTS, "multi_label_wnut17-%s.json" % args.split)
  model_dir = converted_minilm(RESULTS)
  data_dir = os.path.join(RESULTS, "wnut17-type-sets-" + args.split)
  sets = build_task(data_dir, args.split)
  labels = sorted({t for _, types in sets["train"] for t in types})
  truth = np.array([[int(l in types) for l in labels]
                    for _, types in sets["dev"]])
  frequent = collections.Counter(
      tuple(types) for _, types in sets["train"] if types).most_common(1)[0]
  baselines = {
      "all negative (empty set)": metrics.multi_label_scores(
          np.zeros(truth.shape), truth, 0.5),
      "most frequent non-empty set (%s)" % "|".join(frequent[0]):
          metrics.multi_label_scores(np.tile(
              [[float(l in frequent[0]) for l in labels]],
              [len(truth), 1]), truth, 0.5)}
  runs = []
  for seed in [int(s) for s in args.seeds.split(",")]:
    out = os.path.join(RESULTS, "multi-label-wnut17-%s-seed%d" % (
        args.split, seed))
    shutil.rmtree(out, ignore_errors=True)
    cfg = classifier.ClassifierConfig(
        task_name="generic", text_a_column="text", label_column="types",
        multi_label=True, tune_thresholds=True, data_dir=data_dir,
        bert_config_file=os.path.join(model_dir, "bert_config.json"),
        vocab_file=os.path.join(model_dir, "vocab.txt"),
        init_checkpoint=os.path.join(model_dir, "bert_model.ckpt"),
        output_dir=out, do_lower_case=True, max_seq_length=64,
        do_train=True, do_eval=True, do_predict=True, train_batch_size=32,
        eval_batch_size=32, predict_batch_size=32,
        learning_rate=args.learning_rate,
        num_train_epochs=args.num_train_epochs, warmup_proportion=0.1,
        save_checkpoints_steps=100000, random_seed=seed, use_bucketing=True,
        use_bf16=args.use_bf16)
    start = time.time()
    result = classifier.run(cfg)
    with open(result["predict_file"], encoding="utf-8") as f:
      probabilities = np.array([[float(x) for x in line.split("\t")]
                                for line in f.read().splitlines()])
    ev = result["eval"]
    runs.append({
        "seed": seed, "wall_sec": round(time.time() - start, 1),
        "at_0.5": {k: v for k, v in metrics.multi_label_scores(
            probabilities, truth, 0.5).items() if not hasattr(v, "shape")},
        "tuned": {k: ev[k] for k in ("micro_f1", "micro_precision",
                                     "micro_recall", "macro_f1",
                                     "exact_match")},
        "thresholds": {l: ev["threshold_" + l] for l in labels},
        "per_label_f1_tuned": {l: ev["f1_" + l] for l in labels}})
  keys = ("micro_f1", "micro_precision", "micro_recall", "macro_f1",
          "exact_match")
  print("\n| predictor | micro F1 | micro P | micro R | macro F1 | "
        "exact match |")
  print("|---|---|---|---|---|---|")
  for name, s in baselines.items():
    print("| %s | %s |" % (name, " | ".join("%.4f" % s[k] for k in keys)))
  for r in runs:
    for which in ("at_0.5", "tuned"):
      print("| MiniLM seed %d, thresholds %s | %s |" % (
          r["seed"], "0.5" if which == "at_0.5" else "tuned on dev",
          " | ".join("%.4f" % r[which][k] for k in keys)))
  record = {"benchmark": "multi_label", "date": time.strftime("%Y-%m-%d"),
            "task": "WNUT-17 sentences -> set of entity types (%s split)" %
                    args.split,
            "labels": labels, "train_rows": len(sets["train"]),
            "dev_rows": len(sets["dev"]),
            "dev_label_support": dict(zip(labels, truth.sum(0).tolist())),
            "dev_empty_sets": int((truth.sum(1) == 0).sum()),
            "baselines": {n: {k: s[k] for k in keys}
                          for n, s in baselines.items()},
            "runs": runs, "args": vars(args), "cpu_flags": cpu_flags()}
  with open(args.json, "w") as f:
    json.dump(record, f, indent=2)
  print("JSON: " + args.json)


if __name__ == "__main__":
  main()

"""Long documents: windows (--doc_stride) against the reference's truncation.

  nice .venv/bin/python bench/long_documents.py [--seeds=1,2] [--use_bf16]

The task, built from SST-2 in ../shared: a "review" is 5 SST-2 sentences
(train: random training sentences of at least 10 words; dev: the dev
sentences, shuffled three times into groups of 5), labelled positive when
most of its sentences are (3 or more of 5). A review is ~110 WordPiece
tokens, so at --max_seq_length=64 truncation reads about half of it.

Each arm fine-tunes the converted shared MiniLM with run_classifier's
library call (generic TSV task, seq 64, batch 32, 2 epochs, lr 5e-5, length
bucketing) and scores the dev reviews: `truncate` (the default), and
`--doc_stride=32` with `--window_pooling=mean` and `max`. Prints a table
(dev accuracy, macro F1, training records, time) and writes JSON (default
bench/results/long_documents.json).
"""

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

from glue_finetune import SHARED, converted_minilm  # pylint: disable=g-import-not-at-top,wrong-import-position
from imbalance import cpu_flags  # pylint: disable=g-import-not-at-top,wrong-import-position

from bert_tf import tokenization  # pylint: disable=g-import-not-at-top,wrong-import-position
from bert_tf.tasks import classifier  # pylint: disable=g-import-not-at-top,wrong-import-position

RESULTS = os.path.join(ROOT, "bench", "results")
SENTENCES = 5
ARMS = {"truncate": {}, "windows-mean": dict(doc_stride=32),
        "windows-max": dict(doc_stride=32, window_pooling="max")}


def _read(path):
  with open(path, encoding="utf-8") as f:
    rows = [line.rstrip("\n").split("\t") for line in f][1:]
  return [(text.strip(), int(label)) for text, label in rows]


def _documents(sentences):
  out = []
  for i in range(0, len(sentences) - SENTENCES + 1, SENTENCES):
    group = sentences[i:i + SENTENCES]
    positive = sum(label for _, label in group)
    out.append((" ".join(text for text, _ in group),
                int(positive > SENTENCES // 2)))
  return out


def build_task(out, num_train):
  """Writes train.tsv/dev.tsv of 5-sentence reviews into `out`."""
  os.makedirs(out, exist_ok=True)
  rng = random.Random(0)
  sst = os.path.join(SHARED, "data", "glue", "SST-2")
  train = [r for r in _read(os.path.join(sst, "train.tsv"))
           if len(r[0].split()) >= 10]
  rng.shuffle(train)
  docs = {"train": _documents(train[:num_train * SENTENCES])}
  dev = _read(os.path.join(sst, "dev.tsv"))
  docs["dev"] = []
  for _ in range(3):
    rng.shuffle(dev)
    docs["dev"] += _documents(dev)
  for split, rows in docs.items():
    with open(os.path.join(out, split + ".tsv"), "w", encoding="utf-8") as f:
      f.write("text\tlabel\n")
      for text, label in rows:
        f.write("%s\t%d\n" % (text, label))
  return {split: len(rows) for split, rows in docs.items()}


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--seeds", default="1,2")
  parser.add_argument("--num_train", type=int, default=2000,
                      help="training reviews")
  parser.add_argument("--max_seq_length", type=int, default=64)
  parser.add_argument("--num_train_epochs", type=float, default=2.0)
  parser.add_argument("--use_bf16", action="store_true")
  parser.add_argument("--json", default=os.path.join(RESULTS,
                                                     "long_documents.json"))
  args = parser.parse_args()
  model_dir = converted_minilm(RESULTS)
  data_dir = os.path.join(RESULTS, "long-sst2-%d" % args.num_train)
  sizes = build_task(data_dir, args.num_train)
  tokenizer = tokenization.FullTokenizer(
      os.path.join(model_dir, "vocab.txt"), do_lower_case=True)
  with open(os.path.join(data_dir, "dev.tsv"), encoding="utf-8") as f:
    lengths = [len(tokenizer.tokenize(line.split("\t")[0]))
               for line in list(f)[1:]]
  window = args.max_seq_length - 2
  sizes["dev_mean_tokens"] = statistics.mean(lengths)
  sizes["dev_longer_than_window"] = sum(n > window for n in lengths) / len(
      lengths)
  print("dev reviews: %d, %.1f WordPiece tokens on average, %.1f%% longer "
        "than the %d-token window" % (
            sizes["dev"], sizes["dev_mean_tokens"],
            100 * sizes["dev_longer_than_window"], window))
  rows = []
  for seed in [int(s) for s in args.seeds.split(",")]:
    for arm, kw in ARMS.items():
      out = os.path.join(RESULTS, "long-%s-seed%d" % (arm, seed))
      cfg = classifier.ClassifierConfig(
          task_name="generic", text_a_column="text", label_column="label",
          data_dir=data_dir,
          bert_config_file=os.path.join(model_dir, "bert_config.json"),
          vocab_file=os.path.join(model_dir, "vocab.txt"),
          init_checkpoint=os.path.join(model_dir, "bert_model.ckpt"),
          output_dir=out, do_lower_case=True,
          max_seq_length=args.max_seq_length, do_train=True, do_eval=True,
          train_batch_size=32, eval_batch_size=32, learning_rate=5e-5,
          num_train_epochs=args.num_train_epochs, warmup_proportion=0.1,
          save_checkpoints_steps=100000, random_seed=seed,
          use_bucketing=True, use_bf16=args.use_bf16, **kw)
      shutil.rmtree(out, ignore_errors=True)  # a fresh run each time
      start = time.time()
      result = classifier.run(cfg)
      ev = result["eval"]
      rows.append({
          "arm": arm, "seed": seed, "dev_accuracy": ev["eval_accuracy"],
          "dev_macro_f1": ev["macro_f1"], "dev_loss": ev["eval_loss"],
          "num_train_steps": result["num_train_steps"],
          "wall_sec": round(time.time() - start, 1)})
  print("\n| arm | seed | dev acc | dev macro F1 | dev loss | train steps |"
        " wall |")
  print("|---|---|---|---|---|---|---|")
  for r in rows:
    print("| %s | %d | %.4f | %.4f | %.4f | %d | %.0f s |" % (
        r["arm"], r["seed"], r["dev_accuracy"], r["dev_macro_f1"],
        r["dev_loss"], r["num_train_steps"], r["wall_sec"]))
  summary = {}
  for arm in ARMS:
    accs = [r["dev_accuracy"] for r in rows if r["arm"] == arm]
    summary[arm] = sum(accs) / len(accs)
    print("mean dev accuracy, %s: %.4f" % (arm, summary[arm]))
  record = {"benchmark": "long_documents", "date": time.strftime("%Y-%m-%d"),
            "task": "SST-2 reviews of %d sentences, majority label" %
                    SENTENCES, "sizes": sizes, "args": vars(args),
            "runs": rows, "mean_dev_accuracy": summary,
            "cpu_flags": cpu_flags()}
  with open(args.json, "w") as f:
    json.dump(record, f, indent=2)
  print("JSON: " + args.json)


if __name__ == "__main__":
  main()

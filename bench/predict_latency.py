"""Serving benchmark: a warm `Predictor` vs `estimator.predict` per request.

  .venv/bin/python bench/predict_latency.py                 # auto model
  .venv/bin/python bench/predict_latency.py --model=config \
      --bert_config_file=configs/bert_mini_L-4_H-256_A-4.json

Model: `--model=minilm` converts ../shared/models/minilm-l6-h384-uncased (cached
under bench/results/minilm-google); `--model=config` uses random weights for
`--bert_config_file` with the tiny test vocabulary; `auto` (the default)
picks minilm when ../shared exists. A 2-class classifier head (random) is
added and the model exported with `bert_tf.export`.

Measured, on MRPC dev pairs (or synthetic sentences without ../shared):
  * latency of one-example requests (p50, p95, mean), end to end (text in,
    probabilities out, tokenization included);
  * throughput with 32-example requests (examples/sec).
for `Predictor.predict` (SavedModel loaded once, session kept warm), with
`--use_bf16` also for `Predictor(use_bf16=True)` (timed request by request in
alternation with the float32 one, its largest probability difference
reported), and for
`estimator.predict` called per request (which builds the graph, creates a
session and restores the checkpoint every call). Prints a table and writes
JSON (default bench/results/predict_latency.json).
"""

import argparse
import csv
import json
import os
import platform
import shutil
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top

import glue_finetune  # pylint: disable=g-import-not-at-top

from bert_tf import export
from bert_tf import model_fn as model_fn_lib
from bert_tf import modeling
from bert_tf import predictor as predictor_lib
from bert_tf import runtime
from bert_tf import tokenization
from bert_tf.tasks import classifier
from bert_tf.tasks import glue

SHARED = os.environ.get("BERT_TF_SHARED", os.path.join(os.path.dirname(ROOT),
                                                        "shared"))
RESULTS = os.path.join(ROOT, "bench", "results")
SYNTHETIC_WORDS = ["the", "dog", "cat", "runs", "ran", "fast", "slow", "good",
                   "bad", "movie", "film", "great", "man", "woman", "city",
                   "house", "car", "red", "blue", "green", "big", "small"]


def minilm_model():
  """(bert_config_file, init_checkpoint, vocab_file, name) of MiniLM."""
  out = glue_finetune.converted_minilm(RESULTS)
  return (os.path.join(out, "bert_config.json"),
          os.path.join(out, "bert_model.ckpt"),
          os.path.join(out, "vocab.txt"), "minilm-l6-h384-uncased")


def config_model(config_file, work):
  """Random weights for `config_file`, with a small synthetic vocabulary."""
  vocab_file = os.path.join(work, "vocab.txt")
  tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + SYNTHETIC_WORDS
  with open(vocab_file, "w", encoding="utf-8") as f:
    f.write("\n".join(tokens) + "\n")
  name = os.path.splitext(os.path.basename(config_file))[0] + " (random)"
  return config_file, None, vocab_file, name


def load_pairs(n, seed=0):
  """MRPC dev sentence pairs, or synthetic ones without ../shared."""
  path = os.path.join(SHARED, "data", "glue", "MRPC", "dev.tsv")
  pairs = []
  if os.path.exists(path):
    with open(path, encoding="utf-8-sig") as f:
      rows = list(csv.reader(f, delimiter="\t", quotechar=None))
    pairs = [(r[3], r[4]) for r in rows[1:] if len(r) >= 5]
  if not pairs:
    rng = np.random.RandomState(seed)
    for _ in range(max(n, 64)):
      pairs.append(tuple(" ".join(rng.choice(SYNTHETIC_WORDS,
                                             size=rng.randint(8, 30)))
                         for _ in range(2)))
  while len(pairs) < n:
    pairs = pairs + pairs
  return pairs[:n], ("MRPC dev" if os.path.exists(path) else "synthetic")


class EstimatorPerRequest(object):
  """`estimator.predict` per request (graph and session rebuilt each call)."""

  def __init__(self, bert_config, checkpoint_dir, vocab_file, do_lower_case,
               max_seq_length):
    head = export.make_head("classifier", 2)
    self.estimator = tf.estimator.Estimator(
        model_fn=model_fn_lib.model_fn_builder(bert_config, head),
        model_dir=checkpoint_dir)
    self.tokenizer = tokenization.FullTokenizer(vocab_file, do_lower_case)
    self.max_seq_length = max_seq_length

  def predict(self, pairs):
    feats = [classifier.convert_single_example(
        3 + i, glue.InputExample(str(i), a, b, "0"), ["0", "1"],
        self.max_seq_length, self.tokenizer) for i, (a, b) in enumerate(pairs)]
    arrays = {n: np.array([getattr(f, n) for f in feats], np.int32)
              for n in ("input_ids", "input_mask", "segment_ids")}

    def input_fn():
      return tf.data.Dataset.from_tensor_slices(arrays).batch(len(pairs))

    return np.stack([p["probabilities"]
                     for p in self.estimator.predict(input_fn)])


def time_calls(fn, requests):
  """Runs fn(request) for each request; returns seconds per call."""
  times = []
  for request in requests:
    start = time.perf_counter()
    fn(request)
    times.append(time.perf_counter() - start)
  return np.array(times)


def time_interleaved(fns, requests):
  """Runs each of `fns` on each request, in turn (the order rotating from
  one request to the next); returns seconds per call, one array per fn."""
  times = [[] for _ in fns]
  for i, request in enumerate(requests):
    for k in range(len(fns)):
      j = (i + k) % len(fns)
      start = time.perf_counter()
      fns[j](request)
      times[j].append(time.perf_counter() - start)
  return [np.array(t) for t in times]


def summarize(name, batch, times):
  return {"path": name, "batch_size": batch, "requests": int(len(times)),
          "p50_ms": float(np.percentile(times, 50) * 1e3),
          "p95_ms": float(np.percentile(times, 95) * 1e3),
          "mean_ms": float(np.mean(times) * 1e3),
          "examples_per_sec": float(batch * len(times) / np.sum(times))}


def main():
  parser = argparse.ArgumentParser(
      description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
  parser.add_argument("--model", default="auto",
                      choices=["auto", "minilm", "config"])
  parser.add_argument("--bert_config_file",
                      default=os.path.join(ROOT, "configs",
                                           "bert_mini_L-4_H-256_A-4.json"))
  parser.add_argument("--max_seq_length", type=int, default=128)
  parser.add_argument("--requests", type=int, default=100,
                      help="one-example Predictor requests timed")
  parser.add_argument("--estimator_requests", type=int, default=10,
                      help="one-example estimator.predict requests timed")
  parser.add_argument("--batches", type=int, default=20,
                      help="32-example Predictor requests timed")
  parser.add_argument("--estimator_batches", type=int, default=5,
                      help="32-example estimator.predict requests timed")
  parser.add_argument("--warmup", type=int, default=3)
  parser.add_argument("--use_bf16", action="store_true",
                      help="also time Predictor(use_bf16=True), in "
                      "alternation with the float32 Predictor")
  parser.add_argument("--output",
                      default=os.path.join(RESULTS, "predict_latency.json"))
  args = parser.parse_args()
  runtime.set_verbosity(tf.logging.ERROR)

  model = args.model
  if model == "auto":
    model = "minilm" if os.path.isdir(
        os.path.join(SHARED, "models", "minilm-l6-h384-uncased")) else "config"
  work = tempfile.mkdtemp(prefix="bert_tf_latency_")
  try:
    if model == "minilm":
      config_file, init_ckpt, vocab_file, name = minilm_model()
    else:
      config_file, init_ckpt, vocab_file, name = config_model(
          args.bert_config_file, work)
    bert_config = modeling.BertConfig.from_json_file(config_file)
    ckpt_dir = os.path.join(work, "ckpt")
    export.save_random_checkpoint(
        bert_config, os.path.join(ckpt_dir, "model.ckpt"), num_labels=2,
        init_checkpoint=init_ckpt)
    export_dir = os.path.join(work, "export")
    export.export_from_checkpoint(
        "classifier", config_file, ckpt_dir, export_dir,
        max_seq_length=args.max_seq_length, num_labels=2,
        vocab_file=vocab_file, do_lower_case=True)

    n_pairs = max(args.requests, args.batches * 32) + args.warmup * 32
    pairs, source = load_pairs(n_pairs)
    singles = [[p] for p in pairs[:args.requests]]
    batches = [pairs[i * 32:(i + 1) * 32] for i in range(args.batches)]
    warm = [[p] for p in pairs[-args.warmup:]] if args.warmup else []

    results = []
    bf16_results = []
    bf16_diff = None
    with predictor_lib.Predictor(export_dir) as predictor:
      if args.use_bf16:
        with predictor_lib.Predictor(export_dir, use_bf16=True) as bf16:
          fns = [predictor.predict, bf16.predict]
          time_interleaved(fns, warm + batches[:1])
          singles_times = time_interleaved(fns, singles)
          batch_times = time_interleaved(fns, batches)
          bf16_diff = float(np.max(np.abs(
              bf16.predict(batches[0]) - predictor.predict(batches[0]))))
        bf16_results = [
            summarize("Predictor, use_bf16", 1, singles_times[1]),
            summarize("Predictor, use_bf16", 32, batch_times[1])]
        results.append(summarize("Predictor (warm session)", 1,
                                 singles_times[0]))
        results.append(summarize("Predictor (warm session)", 32,
                                 batch_times[0]))
      else:
        time_calls(predictor.predict, warm + batches[:1])
        results.append(summarize("Predictor (warm session)", 1,
                                 time_calls(predictor.predict, singles)))
        results.append(summarize("Predictor (warm session)", 32,
                                 time_calls(predictor.predict, batches)))
      check_pairs = pairs[:4]
      check = predictor.predict(check_pairs)

    baseline = EstimatorPerRequest(bert_config, ckpt_dir, vocab_file, True,
                                   args.max_seq_length)
    np.testing.assert_allclose(baseline.predict(check_pairs), check,
                               atol=1e-5)
    time_calls(baseline.predict, singles[:1])  # first-call imports
    results.append(summarize(
        "estimator.predict per request", 1,
        time_calls(baseline.predict, singles[:args.estimator_requests])))
    results.append(summarize(
        "estimator.predict per request", 32,
        time_calls(baseline.predict, batches[:args.estimator_batches])))
  finally:
    shutil.rmtree(work, ignore_errors=True)

  p1, p32, e1, e32 = results
  ratios = {
      "p50_latency_batch1_estimator_over_predictor":
          e1["p50_ms"] / p1["p50_ms"],
      "p95_latency_batch1_estimator_over_predictor":
          e1["p95_ms"] / p1["p95_ms"],
      "throughput_batch32_predictor_over_estimator":
          p32["examples_per_sec"] / e32["examples_per_sec"],
  }
  if bf16_results:
    ratios["throughput_batch32_bf16_over_fp32_predictor"] = (
        bf16_results[1]["examples_per_sec"] / p32["examples_per_sec"])
    ratios["p50_latency_batch1_fp32_over_bf16_predictor"] = (
        p1["p50_ms"] / bf16_results[0]["p50_ms"])
  print("\nmodel: %s, max_seq_length %d, inputs: %s sentence pairs" %
        (name, args.max_seq_length, source))
  header = "%-31s %5s %8s %10s %10s %10s %12s" % (
      "path", "batch", "requests", "p50 ms", "p95 ms", "mean ms", "examples/s")
  print(header)
  print("-" * len(header))
  for r in results + bf16_results:
    print("%-31s %5d %8d %10.1f %10.1f %10.1f %12.1f" % (
        r["path"], r["batch_size"], r["requests"], r["p50_ms"], r["p95_ms"],
        r["mean_ms"], r["examples_per_sec"]))
  print("\nbatch-1 p50 latency: estimator.predict / Predictor = %.1fx" %
        ratios["p50_latency_batch1_estimator_over_predictor"])
  print("batch-32 throughput: Predictor / estimator.predict = %.1fx" %
        ratios["throughput_batch32_predictor_over_estimator"])
  if bf16_results:
    print("batch-32 throughput: Predictor use_bf16 / float32 = %.2fx; "
          "largest probability difference %.1e" % (
              ratios["throughput_batch32_bf16_over_fp32_predictor"],
              bf16_diff))

  record = {
      "benchmark": "predict_latency",
      "model": name, "bert_config": bert_config.to_dict(),
      "max_seq_length": args.max_seq_length, "inputs": source,
      "results": results + bf16_results, "ratios": ratios,
      "bf16_max_abs_diff": bf16_diff,
      "machine": {"platform": platform.platform(),
                  "cpu_count": os.cpu_count(),
                  "load_average": list(os.getloadavg()),
                  "tensorflow": tf.__version__},
      "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
  }
  os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
  tmp = args.output + ".tmp"
  with open(tmp, "w") as f:
    json.dump(record, f, indent=2)
    f.write("\n")
  os.replace(tmp, args.output)
  print("wrote %s" % args.output)


if __name__ == "__main__":
  main()

"""Time of one AdamWeightDecay update over BERT-Base's variables: fused or not.

Builds BERT-Base's 199 trainable variable shapes (110M parameters; every one
decayed, the worst case), gradients held in variables, and times
`AdamWeightDecayOptimizer.apply_gradients` alone, with `fused=True` (the
default: `ResourceApplyGradientDescent` for the decay, then
`ResourceApplyAdam`) and `fused=False` (the reference's op sequence),
alternating blocks in one process. Prints a table and writes JSON.

  python bench/optimizer_update.py --threads=2 --json=bench/results/optimizer-update.json
"""

import argparse
import json
import os
import platform
import time

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position
import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top,wrong-import-position

from bert_tf import host  # pylint: disable=g-import-not-at-top,wrong-import-position
from bert_tf import optimization  # pylint: disable=g-import-not-at-top,wrong-import-position


def bert_base_shapes(vocab=30522, hidden=768, inter=3072, layers=12):
  """The trainable variable shapes of BertModel (base) + pooler."""
  shapes = [(vocab, hidden), (512, hidden), (2, hidden), (hidden,), (hidden,)]
  for _ in range(layers):
    shapes += [(hidden, hidden), (hidden,)] * 4  # q, k, v, attention output
    shapes += [(hidden,), (hidden,)]  # LayerNorm
    shapes += [(hidden, inter), (inter,), (inter, hidden), (hidden,)]
    shapes += [(hidden,), (hidden,)]  # LayerNorm
  shapes += [(hidden, hidden), (hidden,)]  # pooler
  return shapes


def build(fused, shapes, threads):
  """(session, update op) for one optimizer variant."""
  graph = tf.Graph()
  with graph.as_default():
    tf.set_random_seed(0)
    params = [tf.get_variable("v%d/kernel" % i, shape,
                              initializer=tf.random_normal_initializer(0, .02))
              for i, shape in enumerate(shapes)]
    grads = [tf.Variable(tf.random_normal(shape, 0, 1e-3), trainable=False)
             for shape in shapes]
    opt = optimization.AdamWeightDecayOptimizer(
        1e-4, weight_decay_rate=0.01, fused=fused)
    update = opt.apply_gradients(
        [(g.read_value(), p) for g, p in zip(grads, params)])
    init = tf.global_variables_initializer()
  session = tf.Session(graph=graph, config=tf.ConfigProto(
      intra_op_parallelism_threads=threads, inter_op_parallelism_threads=1))
  session.run(init)
  session.run(update)  # warm-up
  return session, update


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--threads", type=int, default=0, help="0: all cores")
  parser.add_argument("--steps", type=int, default=5)
  parser.add_argument("--rounds", type=int, default=3)
  parser.add_argument("--json", default=None)
  args = parser.parse_args()
  shapes = bert_base_shapes()
  variants = {name: build(name == "fused", shapes, args.threads)
              for name in ("fused", "reference")}
  times = {name: [] for name in variants}
  for _ in range(args.rounds):
    for name, (session, update) in variants.items():
      for _ in range(args.steps):
        start = time.time()
        session.run(update)
        times[name].append(time.time() - start)
  median = {name: float(np.median(t)) for name, t in times.items()}
  record = {
      "benchmark": "optimizer_update",
      "date": time.strftime("%Y-%m-%d %H:%M"),
      "parameters": int(sum(np.prod(s) for s in shapes)),
      "variables": len(shapes),
      "threads": args.threads,
      "cpu_flags": sorted(host.cpu_flags() & {
          "avx2", "avx512f", "avx512_bf16", "amx_bf16"}),
      "machine": platform.machine(),
      "seconds_per_update": median,
      "all_seconds": times,
      "speedup": median["reference"] / median["fused"],
  }
  print("| update | s per update (median of %d) |" % (
      args.steps * args.rounds))
  print("|---|---|")
  for name in ("reference", "fused"):
    print("| %s | %.3f |" % (name, median[name]))
  print("fused: %.2fx the reference's op sequence, %d parameters" % (
      record["speedup"], record["parameters"]))
  if args.json:
    tmp = args.json + ".tmp"
    with open(tmp, "w") as f:
      json.dump(record, f, indent=1)
    os.replace(tmp, args.json)
    print("JSON: %s" % args.json)


if __name__ == "__main__":
  main()

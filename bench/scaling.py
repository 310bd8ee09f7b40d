"""Data-parallel scaling: communication measured on two hosts, then projected.

Makes two hosts on this machine (`bert_tf.localhosts`: network namespaces on
a private veth link, one CPU each, sshd), and measures:

  1. the link: TCP throughput from hostB to hostA (one stream, 1 GiB);
  2. under `horovodrun --gloo -np 2 -H hostA:1,hostB:1`, rounds that
     interleave (ranks in step, a barrier between each):
       * a training step of BERT (random weights, synthetic batch, bert_tf's
         graph of `bert_tf.benchmark`) without any allreduce: compute;
       * the same step with Horovod's gradient allreduce, float32 and with
         `--horovod_fp16_allreduce` (float16 on the wire);
       * the allreduce alone of tensors shaped as the model's gradients,
         float32 and float16: its time, and the bandwidth it reaches
         (algorithm bandwidth = gradient bytes / time; bus bandwidth =
         2(N-1)/N x bytes / time, what ring allreduce moves over each link).
  3. With gradient accumulation (k micro-batches per update) the allreduce
     runs once per k steps: the communication share k x compute +
     allreduce is computed from the measured times for k = 1, 2, 4, 8.

Then projects the scaling efficiency of N GPUs with the model of ring
allreduce: per update, each GPU sends and receives 2(N-1)/N of the gradient
bytes over the slowest link, with no overlap of communication and compute
(conservative: Horovod overlaps part of it with the backward pass):

  efficiency(N) = k T / (k T + 2(N-1)/N x B / bandwidth)

for a V100-class step time T, on 25 GbE and on 100 Gb/s InfiniBand, for
float32 and float16 gradients and accumulation k. Prints tables, writes
JSON. Needs root (network namespaces), sshd and Horovod (`make horovod`).

  python bench/scaling.py                       # BERT-Base, seq 128, batch 8
  python bench/scaling.py --config=tiny --rounds=2 --json=/tmp/s.json
"""

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

# The projection's assumptions (stated in the output and the JSON).
# A V100's BERT-Base (seq 128) fine-tuning step of 32 examples: MRPC's 3,668
# training pairs take 36 s an epoch on one V100 in the Azure ML BERT runs,
# 115 steps of 32, 0.31 s a step.
V100_STEP_SECONDS = 36.0 / (3668 / 32.0)
NETWORKS = (("25 GbE", 25e9 / 8), ("100 Gb/s InfiniBand", 100e9 / 8))
GPU_COUNTS = (1, 2, 4, 8, 16, 64)
ACCUMULATION = (1, 2, 4, 8)
# The seed figures, MRPC epoch times on 1 / 2 / 4 GPUs (Azure ML BERT).
SEED_SPEEDUPS = {"K80": {2: 191 / 105.0, 4: 191 / 60.0},
                 "V100": {2: 36 / 22.0, 4: 36 / 13.0}}

_SERVER = """
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1)
print("ready", flush=True)
c, _ = s.accept(); n = 0; start = None
while True:
  b = c.recv(1 << 20)
  if not b: break
  if start is None: start = time.perf_counter()
  n += len(b)
print(n, time.perf_counter() - start, flush=True)
"""
_CLIENT = """
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])))
chunk = b"x" * (1 << 20)
for _ in range(int(sys.argv[3])): c.sendall(chunk)
c.close()
"""


def _log(message):
  sys.stderr.write("[scaling] %s\n" % message)
  sys.stderr.flush()


def measure_link(hosts, megabytes=1024, port=47001):
  """TCP throughput hostB -> hostA over the hosts' link, bytes/s."""
  server = hosts.popen("hostA", [sys.executable, "-c", _SERVER,
                                 hosts.address("hostA"), str(port)],
                       stdout=subprocess.PIPE, text=True)
  assert server.stdout.readline().strip() == "ready"
  hosts.run("hostB", [sys.executable, "-c", _CLIENT, "hostA", str(port),
                      str(megabytes)], check=True, timeout=300)
  received, seconds = server.stdout.readline().split()
  server.wait(timeout=60)
  return int(received) / float(seconds)


# ---------------------------------------------------------------------------
# The worker (one per rank, under horovodrun).


def _gradient_allreduce_graph(tf, hvd, shapes, fp16):
  """Variables shaped as the gradients and their grouped allreduce."""
  graph = tf.Graph()
  with graph.as_default():
    tensors = [tf.Variable(tf.random.normal(shape), name="g%d" % i)
               for i, shape in enumerate(shapes)]
    compression = hvd.Compression.fp16 if fp16 else hvd.Compression.none
    reduced = hvd.grouped_allreduce(
        [tf.identity(t) for t in tensors], op=hvd.Average,
        compression=compression, name="bench_grads_%s" % (
            "fp16" if fp16 else "fp32"))
    # Each output is read whole (grappler skips an allreduce whose output
    # only a control dependency or a slice reads); the same sums of the
    # inputs, timed alone, are subtracted.
    fetch = tf.add_n([tf.reduce_sum(r) for r in reduced])
    local = tf.add_n([tf.reduce_sum(tf.identity(t)) for t in tensors])
    init = tf.global_variables_initializer()
  session = tf.Session(graph=graph, config=tf.ConfigProto(
      intra_op_parallelism_threads=1, inter_op_parallelism_threads=1))
  session.run(init)
  session.run(local)

  def run():
    start = time.perf_counter()
    session.run(local)
    summing = time.perf_counter() - start
    start = time.perf_counter()
    session.run(fetch)
    return time.perf_counter() - start - summing

  return run


def worker(args):
  """Times compute, steps and allreduces on this rank; rank 0 writes JSON."""
  import horovod.tensorflow as hvd  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  from bert_tf import modeling  # pylint: disable=g-import-not-at-top
  from bert_tf.benchmark import config as config_lib  # pylint: disable=g-import-not-at-top
  from bert_tf.benchmark import graphs  # pylint: disable=g-import-not-at-top
  from bert_tf.benchmark import timing  # pylint: disable=g-import-not-at-top
  hvd.init()
  rank, size = hvd.rank(), hvd.size()
  path, name = config_lib.resolve_config(args.config)
  bert_config = modeling.BertConfig.from_json_file(path)
  cfg = config_lib.BenchmarkConfig(
      config=path, seq_length=args.seq_length, batch_size=args.batch_size,
      hf=False, unfused=False, modes=("train",))
  threads = 1
  _log("rank %d of %d on %s: building the graphs (%s)" % (
      rank, size, socket.gethostname(), name))
  runners = {
      "compute": graphs.TFRunner(bert_config, cfg, "train", threads),
      "step_fp32": graphs.TFRunner(bert_config, cfg, "train", threads,
                                   hvd=hvd),
      "step_fp16": graphs.TFRunner(bert_config, cfg, "train", threads,
                                   hvd=hvd, fp16_allreduce=True),
  }
  with runners["compute"].graph.as_default():
    variables = tf.trainable_variables()
    shapes = [v.shape.as_list() for v in variables]
  num_params = int(sum(np.prod(s) for s in shapes))
  allreduce = {
      "allreduce_fp32": _gradient_allreduce_graph(tf, hvd, shapes, False),
      "allreduce_fp16": _gradient_allreduce_graph(tf, hvd, shapes, True),
  }
  steps = {k: r.step for k, r in runners.items()}
  steps.update(allreduce)
  times = {k: [] for k in steps}
  for key, fn in steps.items():  # warm-up
    timing.barrier(hvd, "warm_" + key)
    fn()
  for r in range(args.rounds):
    for key, fn in steps.items():
      timing.barrier(hvd, "r%d_%s" % (r, key))
      start = time.perf_counter()
      seconds = fn()  # the allreduce timers return their own time
      times[key].append(seconds if key in allreduce else
                        time.perf_counter() - start)
    if rank == 0:
      _log("round %d/%d: %s" % (r + 1, args.rounds, ", ".join(
          "%s %.3fs" % (k, v[-1]) for k, v in times.items())))
  if rank == 0:
    record = {"rank0_host": socket.gethostname(), "num_ranks": size,
              "config": name, "seq_length": args.seq_length,
              "batch_size": args.batch_size, "num_params": num_params,
              "gradient_bytes_fp32": 4 * num_params,
              "times_sec": times,
              "median_sec": {k: statistics.median(v)
                             for k, v in times.items()}}
    with open(args.worker_json, "w") as f:
      json.dump(record, f)
  for r in runners.values():
    r.close()


# ---------------------------------------------------------------------------
# The launcher: hosts, link, workers, analysis.


def analyse(measured, link_bytes_per_sec):
  """Derived figures and the projection (see the module docstring)."""
  med = measured["median_sec"]
  n = measured["num_ranks"]
  grad_bytes = measured["gradient_bytes_fp32"]
  ring = 2.0 * (n - 1) / n
  out = {"link_bytes_per_sec": link_bytes_per_sec}
  for precision, bytes_ in (("fp32", grad_bytes), ("fp16", grad_bytes / 2)):
    t = med["allreduce_%s" % precision]
    out["allreduce_%s" % precision] = {
        "seconds": t, "algorithm_bytes_per_sec": bytes_ / t,
        "bus_bytes_per_sec": ring * bytes_ / t,
        "model_seconds": ring * bytes_ / link_bytes_per_sec,
        "link_efficiency": ring * bytes_ / t / link_bytes_per_sec}
    step = med["step_%s" % precision]
    out["step_%s" % precision] = {
        "seconds": step, "compute_seconds": med["compute"],
        "communication_seconds": max(0.0, step - med["compute"]),
        "communication_share": max(0.0, step - med["compute"]) / step}
    out["accumulation_%s" % precision] = {
        str(k): t / (k * med["compute"] + t) for k in ACCUMULATION}
  projection = []
  for network, bandwidth in NETWORKS:
    for precision, bytes_ in (("fp32", grad_bytes), ("fp16", grad_bytes / 2)):
      for k in ACCUMULATION:
        row = {"network": network, "gradients": precision,
               "accumulation": k, "efficiency": {}}
        for gpus in GPU_COUNTS:
          comm = 2.0 * (gpus - 1) / gpus * bytes_ / bandwidth
          compute = k * V100_STEP_SECONDS
          row["efficiency"][str(gpus)] = compute / (compute + comm)
        projection.append(row)
  out["projection"] = projection
  above = []
  for network, _ in NETWORKS:
    for precision in ("fp32", "fp16"):
      ks = [r["accumulation"] for r in projection
            if r["network"] == network and r["gradients"] == precision and
            r["efficiency"]["16"] >= 0.9]
      above.append("%s, %s gradients: %s" % (
          network, precision, ("accumulation >= %d" % min(ks)) if ks else
          "not with accumulation <= %d" % max(ACCUMULATION)))
  out["above_90_at_16"] = above
  return out


def format_tables(record):
  m, a = record["measured"], record["analysis"]
  lines = [
      "Two hosts on one machine (%s, %s): %s seq %d, batch %d per rank, "
      "%.1fM parameters (%.0f MB of float32 gradients)" % (
          record["cpu"], record["cpu_kind"], m["config"], m["seq_length"],
          m["batch_size"], m["num_params"] / 1e6,
          m["gradient_bytes_fp32"] / 1e6),
      "Link hostB -> hostA (TCP, one stream): %.2f GB/s" % (
          a["link_bytes_per_sec"] / 1e9), "",
      "| measured (median of %d rounds) | fp32 gradients | fp16 gradients |"
      % len(m["times_sec"]["compute"]),
      "|---|---|---|",
      "| compute step (no allreduce) | %.3f s | %.3f s |" % (
          a["step_fp32"]["compute_seconds"],
          a["step_fp16"]["compute_seconds"]),
      "| training step with allreduce | %.3f s | %.3f s |" % (
          a["step_fp32"]["seconds"], a["step_fp16"]["seconds"]),
      "| communication share of the step | %.0f%% | %.0f%% |" % (
          100 * a["step_fp32"]["communication_share"],
          100 * a["step_fp16"]["communication_share"]),
      "| allreduce alone | %.3f s | %.3f s |" % (
          a["allreduce_fp32"]["seconds"], a["allreduce_fp16"]["seconds"]),
      "| bus bandwidth reached | %.2f GB/s | %.2f GB/s |" % (
          a["allreduce_fp32"]["bus_bytes_per_sec"] / 1e9,
          a["allreduce_fp16"]["bus_bytes_per_sec"] / 1e9),
      "| ring model's time at the link's rate | %.3f s | %.3f s |" % (
          a["allreduce_fp32"]["model_seconds"],
          a["allreduce_fp16"]["model_seconds"]),
  ]
  for k in ACCUMULATION:
    lines.append("| allreduce share, accumulation %d | %.0f%% | %.0f%% |" % (
        k, 100 * a["accumulation_fp32"][str(k)],
        100 * a["accumulation_fp16"][str(k)]))
  lines += ["", "Projected efficiency, V100-class step %.2f s (batch 32), "
            "ring allreduce, no overlap:" % V100_STEP_SECONDS, "",
            "| network | gradients | accumulation | " + " | ".join(
                "%d GPUs" % g for g in GPU_COUNTS) + " |",
            "|---|---|---|" + "---|" * len(GPU_COUNTS)]
  for row in a["projection"]:
    lines.append("| %s | %s | %d | %s |" % (
        row["network"], row["gradients"], row["accumulation"], " | ".join(
            "%.0f%%" % (100 * row["efficiency"][str(g)])
            for g in GPU_COUNTS)))
  lines += ["", "Seed figures (MRPC epochs, Azure ML BERT): " + "; ".join(
      "%s %s" % (gpu, ", ".join("%d GPUs %.2fx (%.0f%%)" % (
          n, s, 100 * s / n) for n, s in sorted(v.items())))
      for gpu, v in SEED_SPEEDUPS.items()),
            "Above 90% at 16 GPUs: " + ("; ".join(a["above_90_at_16"]) or
                                          "none")]
  return "\n".join(lines)


def launch(args):
  from bert_tf import host  # pylint: disable=g-import-not-at-top
  from bert_tf import localhosts  # pylint: disable=g-import-not-at-top
  from bert_tf.benchmark import report  # pylint: disable=g-import-not-at-top
  horovodrun = os.path.join(os.path.dirname(sys.executable), "horovodrun")
  if not os.path.exists(horovodrun):
    raise SystemExit("needs Horovod (make horovod): %s is missing" %
                     horovodrun)
  cpus = ["0", "1"] if len(os.sched_getaffinity(0)) >= 2 else None
  with localhosts.MultiHost(n=2, cpus=cpus) as hosts:
    _log("measuring the link")
    link = measure_link(hosts)
    _log("link: %.2f GB/s; starting 2 ranks on hostA, hostB" % (link / 1e9))
    with tempfile.TemporaryDirectory() as tmp:
      worker_json = os.path.join(tmp, "worker.json")
      command = [horovodrun, "--gloo", "-np", "2", "-H", "hostA:1,hostB:1",
                 sys.executable, os.path.abspath(__file__), "--worker",
                 "--worker_json=" + worker_json, "--config=" + args.config,
                 "--seq_length=%d" % args.seq_length,
                 "--batch_size=%d" % args.batch_size,
                 "--rounds=%d" % args.rounds]
      proc = hosts.run("hostA", command, capture_output=False, timeout=3600,
                       cwd=ROOT)
      if proc.returncode != 0:
        raise SystemExit("the workers failed (exit %d)" % proc.returncode)
      with open(worker_json) as f:
        measured = json.load(f)
  flags = host.cpu_flags()
  record = {
      "command": " ".join([os.path.relpath(__file__, ROOT)] + sys.argv[1:]),
      "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
      "cpu": host.cpu_model() or platform.processor(),
      "cpu_kind": ("AMX + AVX512-BF16" if "amx_bf16" in flags else
                   "AVX512-BF16" if "avx512_bf16" in flags else
                   "AVX-512" if "avx512f" in flags else "AVX2"),
      "measured": measured,
      "analysis": analyse(measured, link),
      "assumptions": {
          "v100_step_seconds": V100_STEP_SECONDS,
          "v100_step_basis": "MRPC 36 s per epoch on one V100 (Azure ML "
                             "BERT), 3,668 pairs in steps of 32",
          "networks_bytes_per_sec": dict(NETWORKS),
          "model": "efficiency = kT / (kT + 2(N-1)/N x gradient bytes / "
                   "link bandwidth), no overlap",
          "seed_speedups": SEED_SPEEDUPS},
  }
  print(format_tables(record))
  if args.json:
    report.write_json(record, args.json)
    print("\nJSON: %s" % args.json)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--config", default="base",
                      help="shape name of bert_tf/configs or a "
                      "bert_config.json")
  parser.add_argument("--seq_length", type=int, default=128)
  parser.add_argument("--batch_size", type=int, default=8,
                      help="training examples per rank and step")
  parser.add_argument("--rounds", type=int, default=5)
  parser.add_argument("--json", default="bench/results/scaling.json")
  parser.add_argument("--worker", action="store_true",
                      help=argparse.SUPPRESS)
  parser.add_argument("--worker_json", help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.worker:
    worker(args)
  else:
    launch(args)


if __name__ == "__main__":
  main()

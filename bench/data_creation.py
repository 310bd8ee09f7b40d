"""Pretraining-data benchmark: each stage, and data creation vs the reference.

  .venv/bin/python bench/data_creation.py            # all stages (~3 min)
  .venv/bin/python bench/data_creation.py --skip_reference --skip_vocab

Stages, each run as its own process, timed, with the peak memory of its
process tree (sum of the resident sizes of the process and its children,
sampled every 50 ms from /proc; shared pages of forked workers are counted
once per process, so this overstates multi-process runs):
  1. corpus: `prepare_corpus.py` on the Wikipedia dump excerpt
     (../shared/data/corpus/wikipedia/enwiki-sample.xml.bz2): documents/s,
     MB/s of text written.
  2. vocab: `python -m bert_tf.vocab_builder` on that text (WordPiece).
  3. data creation on the six Austen novels (../shared/data/corpus/
     janeausten, the reference's one-sentence-per-line reading), with the
     issue's flags: seq 128, 20 predictions, dupe_factor 5, seed 12345,
     the shared MiniLM's uncased vocabulary:
       - Google's reference create_pretraining_data.py (from the PyPI
         package bert-tensorflow==1.0.4, fetched with `pip download
         --no-deps` into bench/results/reference/ unless --reference_dir
         is given; run unchanged);
       - bert_tf's create_pretraining_data.py with 1 and 2 workers (their
         outputs must be byte-identical);
       - bert_tf with 1 worker on the novels copied 4 times (memory must stay
         flat).

Prints a markdown table and writes JSON (bench/results/data_creation.json).
"""

import argparse
import glob
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("BERT_TF_SHARED", os.path.join(os.path.dirname(ROOT),
                                                        "shared"))
PAGE = os.sysconf("SC_PAGE_SIZE")


def log(message):
  sys.stderr.write("[%s] %s\n" % (time.strftime("%H:%M:%S"), message))
  sys.stderr.flush()


def _children(pid):
  try:
    with open("/proc/%d/task/%d/children" % (pid, pid)) as reader:
      return [int(p) for p in reader.read().split()]
  except OSError:
    return []


def _rss(pid):
  try:
    with open("/proc/%d/statm" % pid) as reader:
      return int(reader.read().split()[1]) * PAGE
  except (OSError, IndexError, ValueError):
    return 0


def tree_rss(pid):
  total = 0
  stack = [pid]
  while stack:
    p = stack.pop()
    total += _rss(p)
    stack.extend(_children(p))
  return total


def run_measured(name, command, env=None):
  """Runs `command`, returns {seconds, peak_mb, returncode, output tail}."""
  log("%s: %s" % (name, " ".join(command)))
  start = time.time()
  process = subprocess.Popen(command, cwd=ROOT, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)
  peak = 0
  output = []
  import threading  # pylint: disable=g-import-not-at-top
  reader = threading.Thread(target=lambda: output.extend(process.stdout))
  reader.start()
  while process.poll() is None:
    peak = max(peak, tree_rss(process.pid))
    time.sleep(0.05)
  reader.join()
  seconds = time.time() - start
  tail = "".join(output)[-2000:]
  if process.returncode != 0:
    raise RuntimeError("%s failed (%d):\n%s" % (name, process.returncode, tail))
  log("%s: %.1f s, peak %.0f MB" % (name, seconds, peak / 2**20))
  return {"seconds": seconds, "peak_mb": peak / 2**20, "output": tail}


def count_records(paths):
  sys.path.insert(0, ROOT)
  from bert_tf import tfrecord  # pylint: disable=g-import-not-at-top
  return sum(1 for p in paths for _ in tfrecord.read_records(p))


def get_reference(directory):
  """Directory holding bert/create_pretraining_data.py (downloads if needed)."""
  if os.path.exists(os.path.join(directory, "bert",
                                 "create_pretraining_data.py")):
    return directory
  os.makedirs(directory, exist_ok=True)
  subprocess.check_call([sys.executable, "-m", "pip", "download", "-q",
                         "--no-deps", "bert-tensorflow==1.0.4", "-d",
                         directory])
  import zipfile  # pylint: disable=g-import-not-at-top
  wheel = glob.glob(os.path.join(directory, "bert_tensorflow-*.whl"))[0]
  zipfile.ZipFile(wheel).extractall(directory)
  return directory


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--work_dir", default=None)
  parser.add_argument("--output", default=os.path.join(
      ROOT, "bench", "results", "data_creation.json"))
  parser.add_argument("--reference_dir", default=os.path.join(
      ROOT, "bench", "results", "reference"))
  parser.add_argument("--skip_reference", action="store_true")
  parser.add_argument("--skip_vocab", action="store_true")
  parser.add_argument("--dupe_factor", type=int, default=5)
  args = parser.parse_args()

  python = sys.executable
  work = args.work_dir or tempfile.mkdtemp(prefix="bench_data_")
  os.makedirs(work, exist_ok=True)
  vocab = os.path.join(SHARED, "models", "minilm-l6-h384-uncased", "vocab.txt")
  novels = sorted(glob.glob(os.path.join(SHARED, "data", "corpus",
                                         "janeausten", "*.txt")))
  dump = os.path.join(SHARED, "data", "corpus", "wikipedia",
                      "enwiki-sample.xml.bz2")
  results = {"date": time.strftime("%Y-%m-%d %H:%M"),
             "cpu": platform.processor() or platform.machine(),
             "cores": os.cpu_count(), "load_before": os.getloadavg(),
             "stages": {}}
  stages = results["stages"]

  # 1. Corpus preparation.
  corpus_out = os.path.join(work, "wiki", "wiki-%d.txt")
  r = run_measured("corpus", [python, "prepare_corpus.py", "--input=" + dump,
                              "--output=" + corpus_out, "--num_shards=2"])
  kept = int(r["output"].split("documents_kept: ")[1].split()[0])
  read = int(r["output"].split("documents_read: ")[1].split()[0])
  megabytes = float(r["output"].split("megabytes: ")[1].split()[0])
  r.update(documents_read=read, documents_kept=kept, megabytes=megabytes,
           documents_per_s=read / r["seconds"], mb_per_s=megabytes /
           r["seconds"], input_mb=os.path.getsize(dump) / 1e6)
  stages["corpus"] = r
  wiki_files = [corpus_out % k for k in range(2)]

  # 2. Vocabulary.
  if not args.skip_vocab:
    r = run_measured("vocab", [
        python, "-m", "bert_tf.vocab_builder",
        "--input_file=" + ",".join(wiki_files),
        "--output_dir=" + os.path.join(work, "vocab"), "--vocab_size=8000"])
    r["mb_per_s"] = megabytes / r["seconds"]
    stages["vocab"] = r

  # 3. Data creation.
  flags = ["--vocab_file=" + vocab, "--do_lower_case=True",
           "--max_seq_length=128", "--max_predictions_per_seq=20",
           "--masked_lm_prob=0.15", "--random_seed=12345",
           "--dupe_factor=%d" % args.dupe_factor]
  input_mb = sum(os.path.getsize(p) for p in novels) / 1e6
  if not args.skip_reference:
    ref_dir = get_reference(args.reference_dir)
    env = dict(os.environ, PYTHONPATH=ref_dir, TF_CPP_MIN_LOG_LEVEL="2")
    out = os.path.join(work, "ref.tfrecord")
    r = run_measured("reference", [
        python, "-m", "bert.create_pretraining_data",
        "--input_file=" + ",".join(novels), "--output_file=" + out] + flags,
                     env=env)
    r["instances"] = count_records([out])
    stages["reference"] = r
  outputs = {}
  for workers in (1, 2):
    out = os.path.join(work, "bert_tf_%d" % workers, "a.tfrecord")
    r = run_measured("bert_tf_%dw" % workers, [
        python, "create_pretraining_data.py",
        "--input_file=" + ",".join(novels), "--output_file=" + out,
        "--num_workers=%d" % workers] + flags)
    r["instances"] = count_records([out])
    outputs[workers] = open(out, "rb").read()
    stages["bert_tf_%dw" % workers] = r
  results["identical_1_2_workers"] = outputs[1] == outputs[2]
  del outputs
  big = os.path.join(work, "x4")
  os.makedirs(big, exist_ok=True)
  for copy in range(4):
    for path in novels:
      shutil.copy(path, os.path.join(big, "%d_%s" % (copy,
                                                     os.path.basename(path))))
  out = os.path.join(work, "bert_tf_x4", "a.tfrecord")
  r = run_measured("bert_tf_1w_x4", [
      python, "create_pretraining_data.py",
      "--input_file=" + os.path.join(big, "*.txt"), "--output_file=" + out,
      "--num_workers=1"] + flags)
  r["instances"] = count_records([out])
  stages["bert_tf_1w_x4"] = r
  results["load_after"] = os.getloadavg()

  print("\n| stage | wall s | peak MB | throughput |")
  print("|---|---|---|---|")
  c = stages["corpus"]
  print("| corpus (dump excerpt, %.1f MB bz2 -> %.1f MB text) | %.1f | %.0f "
        "| %.1f documents/s, %.2f MB/s |" % (
            c["input_mb"], c["megabytes"], c["seconds"], c["peak_mb"],
            c["documents_per_s"], c["mb_per_s"]))
  if "vocab" in stages:
    v = stages["vocab"]
    print("| vocab (WordPiece 8000) | %.1f | %.0f | %.2f MB/s |" % (
        v["seconds"], v["peak_mb"], v["mb_per_s"]))
  ref = stages.get("reference")
  for name in ("reference", "bert_tf_1w", "bert_tf_2w", "bert_tf_1w_x4"):
    if name not in stages:
      continue
    s = stages[name]
    mb = input_mb * (4 if name.endswith("x4") else 1)
    ratio = ""
    if ref and not name.endswith("x4"):
      ratio = ", %.2fx time, %.2fx memory vs reference" % (
          ref["seconds"] / s["seconds"], s["peak_mb"] / ref["peak_mb"])
    print("| %s (%.1f MB text) | %.1f | %.0f | %d instances, %.0f/s, "
          "%.2f MB/s%s |" % (name, mb, s["seconds"], s["peak_mb"],
                             s["instances"], s["instances"] / s["seconds"],
                             mb / s["seconds"], ratio))
  print("\nidentical output with 1 and 2 workers: %s" %
        results["identical_1_2_workers"])
  print("memory x4 corpus / x1: %.2f" % (stages["bert_tf_1w_x4"]["peak_mb"] /
                                         stages["bert_tf_1w"]["peak_mb"]))
  print("load average before/after: %s / %s" % (results["load_before"],
                                                results["load_after"]))
  for s in stages.values():
    s.pop("output", None)
  os.makedirs(os.path.dirname(args.output), exist_ok=True)
  with open(args.output, "w") as writer:
    json.dump(results, writer, indent=2)
  log("wrote %s" % args.output)
  if not args.work_dir:
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
  main()

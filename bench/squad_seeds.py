"""SQuAD v1.1 across seeds: bert_tf (bench/squad.py) against HF (bench/squad_hf.py).

  .venv/bin/python bench/squad_seeds.py --seeds=1,2,12345      # ~1 h 40 min
  .venv/bin/python bench/squad_seeds.py --collect_only          # table only

Fine-tuning 2,881 questions is noisy: the seed (head initialisation, dropout
masks, example order) moves F1 by several points. This runs both
implementations with the same recipe (bench/squad.py's defaults; HF with
BERT's AdamW update and schedule, `--optimizer=reference_adamw`) for each
seed, two runs at a time, each pinned to its own core with one thread, and
prints per-seed EM/F1 and the mean and standard deviation of each side.
bert_tf reads its TFRecord through the reference's 100-record shuffle buffer
(`--tf_shuffle_buffer`); HF draws a full permutation every epoch
(`--hf_shuffle_buffer`). The same example stream on both sides (issue 18,
point 2): `--tf_shuffle_buffer=1 --hf_shuffle_buffer=1` (the file order every
epoch; the file order is the same on both sides for a seed), with its own
`--results_dir`. The summary gives each side's mean and standard error and
the standard error of the difference of the means, and, paired by seed, the
mean and standard error of the per-seed differences. `--tf_hf_head` starts
bert_tf from Hugging Face's own initial span head for each seed
(`bench/squad.py --hf_head`), so that with the same stream only the dropout
masks differ between the sides (issue 18).

Runs write `<results_dir>/squad-seeds/{tf,hf}-seed<N>.json`; an existing one
is reused (delete it to run again). The summary goes to
`<results_dir>/squad-seeds.json`.
"""

import argparse
import glob
import json
import math
import os
import re
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_pair(jobs):
  """Runs up to two commands at once, one per core; raises if one fails."""
  procs = []
  for core, (cmd, log) in enumerate(jobs):
    if hasattr(os, "sched_setaffinity") and os.cpu_count() >= 2:
      cmd = ["taskset", "-c", str(core)] + cmd
    print("running: " + " ".join(cmd) + "  (log: %s)" % log, flush=True)
    with open(log, "w") as f:
      procs.append((subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT),
                    log))
  for proc, log in procs:
    if proc.wait() != 0:
      raise SystemExit("failed (exit %d), see %s" % (proc.returncode, log))


def summary(values):
  if not values:
    return "-"
  if len(values) == 1:
    return "%.2f" % values[0]
  return "%.2f +- %.2f" % (statistics.mean(values), statistics.stdev(values))


def difference(tf_values, hf_values):
  """Means, standard errors, and the difference of the means (bert_tf - HF).

  The standard error of the difference is sqrt(se_tf^2 + se_hf^2), the runs
  of the two sides being independent draws (Welch). None with fewer than
  two runs on a side.
  """
  if len(tf_values) < 2 or len(hf_values) < 2:
    return None
  out = {}
  for side, v in (("tf", tf_values), ("hf", hf_values)):
    out[side + "_mean"] = statistics.mean(v)
    out[side + "_se"] = statistics.stdev(v) / math.sqrt(len(v))
    out[side + "_runs"] = len(v)
  out["difference"] = out["tf_mean"] - out["hf_mean"]
  out["se"] = math.sqrt(out["tf_se"] ** 2 + out["hf_se"] ** 2)
  out["t"] = out["difference"] / out["se"] if out["se"] else float("nan")
  return out


def paired_difference(tf_values, hf_values):
  """Mean, sd and standard error of the per-seed differences bert_tf - HF.

  For runs that share the seed's stream (and with --tf_hf_head its head):
  the sides are then not independent draws, and the per-seed difference is
  the measure of a framework difference. None with fewer than two pairs.
  """
  diffs = [a - b for a, b in zip(tf_values, hf_values)]
  if len(diffs) < 2:
    return None
  sd = statistics.stdev(diffs)
  se = sd / math.sqrt(len(diffs))
  mean = statistics.mean(diffs)
  return {"runs": len(diffs), "mean": mean, "sd": sd, "se": se,
          "t": mean / se if se else float("nan"), "differences": diffs}


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--seeds", default="1,2,12345")
  parser.add_argument("--tf_shuffle_buffer", type=int, default=100)
  parser.add_argument("--hf_shuffle_buffer", type=int, default=0)
  parser.add_argument("--results_dir", default=os.path.join(ROOT, "bench",
                                                            "results"))
  parser.add_argument("--tf_hf_head", action="store_true",
                      help="bert_tf starts from HF's initial head of the seed")
  parser.add_argument("--collect_only", action="store_true",
                      help="run nothing; tabulate the JSON files present")
  args = parser.parse_args()
  out_dir = os.path.join(args.results_dir, "squad-seeds")
  os.makedirs(out_dir, exist_ok=True)
  py = sys.executable

  def path(side, seed):
    return os.path.join(out_dir, "%s-seed%d.json" % (side, seed))

  def work_name(side, seed):
    # squad.py / squad_hf.py put --work_name under bench/results; keep each
    # run's model beside its JSON, so two --results_dir never share one.
    return os.path.relpath(os.path.join(out_dir, "%s-%d" % (side, seed)),
                           os.path.join(ROOT, "bench", "results"))

  if args.collect_only:
    seeds = sorted({int(m.group(1)) for p in glob.glob(
        os.path.join(out_dir, "*-seed*.json"))
                    for m in [re.search(r"seed(\d+)\.json$", p)] if m})
  else:
    seeds = [int(s) for s in args.seeds.split(",") if s]
    jobs = []
    for seed in seeds:
      if not os.path.exists(path("tf", seed)):
        jobs.append(([py, os.path.join(ROOT, "bench", "squad.py"),
                      "--random_seed=%d" % seed,
                      "--shuffle_buffer=%d" % args.tf_shuffle_buffer,
                      "--work_name=" + work_name("tf", seed),
                      "--json=" + path("tf", seed)] +
                     (["--hf_head"] if args.tf_hf_head else []),
                     path("tf", seed)[:-5] + ".log"))
      if not os.path.exists(path("hf", seed)):
        jobs.append(([py, os.path.join(ROOT, "bench", "squad_hf.py"),
                      "--optimizer=reference_adamw", "--threads=1",
                      "--random_seed=%d" % seed,
                      "--shuffle_buffer=%d" % args.hf_shuffle_buffer,
                      "--work_name=" + work_name("hf", seed),
                      "--json=" + path("hf", seed)],
                     path("hf", seed)[:-5] + ".log"))
    for i in range(0, len(jobs), 2):
      run_pair(jobs[i:i + 2])

  rows, record = [], {"runs": {}}
  scores = {"tf": {"exact_match": [], "f1": []},
            "hf": {"exact_match": [], "f1": []}}
  for seed in seeds:
    cells = ["%d" % seed]
    for side in ("tf", "hf"):
      p = path(side, seed)
      if not os.path.exists(p):
        cells += ["-", "-"]
        continue
      with open(p) as f:
        r = json.load(f)
      record["runs"]["%s-%d" % (side, seed)] = r
      for k in ("exact_match", "f1"):
        scores[side][k].append(r[k])
      cells += ["%.2f" % r["exact_match"], "%.2f" % r["f1"]]
    rows.append(cells)
  rows.append(["mean +- sd"] + [summary(scores[side][k]) for side in
                                ("tf", "hf") for k in ("exact_match", "f1")])
  record["mean"] = {side: {k: statistics.mean(v) for k, v in s.items() if v}
                    for side, s in scores.items()}
  record["difference"] = {k: difference(scores["tf"][k], scores["hf"][k])
                          for k in ("exact_match", "f1")}
  both = [r for r in record["runs"] if r.startswith("tf-") and
          "hf-" + r[3:] in record["runs"]]
  record["paired"] = {k: paired_difference(
      [record["runs"][r][k] for r in both],
      [record["runs"]["hf-" + r[3:]][k] for r in both])
                      for k in ("exact_match", "f1")}
  print("\n| seed | bert_tf EM | bert_tf F1 | HF EM | HF F1 |")
  print("|---|---|---|---|---|")
  for cells in rows:
    print("| %s |" % " | ".join(cells))
  print("\n| metric | bert_tf mean (se) | HF mean (se) | difference | "
        "se of the difference | difference / se |")
  print("|---|---|---|---|---|---|")
  for k, d in record["difference"].items():
    if d:
      print("| %s | %.2f (%.2f) | %.2f (%.2f) | %+.2f | %.2f | %+.2f |" % (
          k, d["tf_mean"], d["tf_se"], d["hf_mean"], d["hf_se"],
          d["difference"], d["se"], d["t"]))
  print("\n| metric, paired by seed | seeds | mean of bert_tf - HF | sd | "
        "se | mean / se |")
  print("|---|---|---|---|---|---|")
  for k, d in record["paired"].items():
    if d:
      print("| %s | %d | %+.2f | %.2f | %.2f | %+.2f |" % (
          k, d["runs"], d["mean"], d["sd"], d["se"], d["t"]))
  summary_path = os.path.join(args.results_dir, "squad-seeds.json")
  with open(summary_path, "w") as f:
    json.dump(record, f, indent=2)
  print("JSON: " + summary_path)


if __name__ == "__main__":
  main()

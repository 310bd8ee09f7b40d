"""The benchmark's outputs: progress lines, per-mode results, notes, the
Markdown table and the JSON file."""

import json
import os
import platform
import sys

import bert_tf


def log(message):
  """One progress line on stdout, flushed."""
  sys.stdout.write(message + "\n")
  sys.stdout.flush()


def mode_results(ours, flops_mode, matmul, unfused=None, hf=None):
  """The `results[mode]` entry of the record.

  Args:
    ours: `timing.rate_entry` of bert_tf (its batch counts every rank).
    flops_mode: model FLOPs per example of the mode.
    matmul: {"float32", "bfloat16"} GFLOP/s, or {} when not measured.
    unfused: `timing.rate_entry` of bert_tf in the reference's op sequence.
    hf: `timing.rate_entry` of Hugging Face.

  Returns:
    {"bert_tf", "model_gflops", ["mfu_vs_fp32_matmul",
    "mfu_vs_bf16_matmul"], ["bert_tf_unfused", "fusion_speedup"],
    ["hf_torch", "ratio_vs_hf"]}.
  """
  rate = ours["examples_per_sec"]
  entry = {"bert_tf": ours, "model_gflops": flops_mode * rate / 1e9}
  if matmul:
    entry["mfu_vs_fp32_matmul"] = entry["model_gflops"] / matmul["float32"]
    entry["mfu_vs_bf16_matmul"] = entry["model_gflops"] / matmul["bfloat16"]
  for other in (unfused, hf):
    if other is not None:
      other["model_gflops"] = flops_mode * other["examples_per_sec"] / 1e9
  if unfused is not None:
    entry["bert_tf_unfused"] = unfused
    entry["fusion_speedup"] = rate / unfused["examples_per_sec"]
  if hf is not None:
    entry["hf_torch"] = hf
    entry["ratio_vs_hf"] = rate / hf["examples_per_sec"]
    if unfused is not None:
      unfused["ratio_vs_hf"] = (unfused["examples_per_sec"] /
                                hf["examples_per_sec"])
  return entry


def versions():
  """The versions of bert_tf, TensorFlow, torch, transformers and Python."""
  import tensorflow as tf2  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top
  import transformers  # pylint: disable=g-import-not-at-top
  return {"bert_tf": bert_tf.__version__, "tensorflow": tf2.__version__,
          "torch": torch.__version__,
          "transformers": transformers.__version__,
          "python": platform.python_version()}


def notes(record):
  """Caveats of a record's figures (precision on this CPU, machine load)."""
  out = []
  cores = record["cores"]
  if record["precision"] == "bf16" and not record["native_bf16"]:
    out.append("This CPU has no native bfloat16 (AVX512-BF16/AMX): "
               "TensorFlow's oneDNN kernels fall back to emulated "
               "bfloat16, slower than float32.")
  if record["precision"] == "fp16":
    out.append("The float16 rewrite acts on NVIDIA GPUs only: on a CPU "
               "the graph computes in float32 (plus loss scaling).")
  if (record["loadavg_start"][0] > 1.5 * cores or
      record["loadavg_end"][0] > 1.5 * cores):
    out.append("The machine was busy (load average above 1.5x its %d "
               "cores): absolute rates are low and noisy." % cores)
  return out


def format_table(record):
  """The results as a Markdown table (one row per mode and framework)."""
  matmul = record["matmul_gflops"]
  lines = [
      "%s (L=%d H=%d), seq %d, %s, XLA %s, %d rank(s), %d threads; matmul "
      "float32 %s GFLOP/s, bfloat16 %s GFLOP/s; load %s -> %s" % (
          record["config"], record["shape"]["num_hidden_layers"],
          record["shape"]["hidden_size"], record["seq_length"],
          record["precision"], "on" if record["xla"] else "off",
          record["num_ranks"], record["threads"],
          _fmt(matmul.get("float32")), _fmt(matmul.get("bfloat16")),
          record["loadavg_start"], record["loadavg_end"]),
      "",
      "| mode | framework | batch | examples/sec | step time (s) | "
      "model GFLOP/s | MFU vs fp32 matmul | bert_tf / HF |",
      "|---|---|---|---|---|---|---|---|"]
  for mode, entry in record["results"].items():
    ours = entry["bert_tf"]
    lines.append(_row(mode, "bert_tf", ours, entry["model_gflops"],
                      entry.get("mfu_vs_fp32_matmul"),
                      entry.get("ratio_vs_hf")))
    un = entry.get("bert_tf_unfused")
    if un:
      lines.append(_row(mode, "bert_tf, reference ops", un,
                        un["model_gflops"], _mfu(un, matmul),
                        un.get("ratio_vs_hf")))
    hf = entry.get("hf_torch")
    if hf:
      lines.append(_row(mode, "HF torch", hf, hf["model_gflops"],
                        _mfu(hf, matmul), None, last=""))
  for mode, entry in record["results"].items():
    if "fusion_speedup" in entry:
      lines.append("%s: bert_tf's graph %.2fx the reference's op sequence "
                   "(same run)"
                   % (mode, entry["fusion_speedup"]))
  return "\n".join(lines)


def format_op_profile(profiles, top=8):
  """Op time by op type per mode and graph (`graphs.profile_ops`), Markdown.

  Args:
    profiles: {mode: {graph name: profile_ops() dict}}.
    top: op types listed per graph; the rest are summed as "other".
  """
  lines = ["", "Op time of one traced step, by op type:", "",
           "| mode | graph | op time (ms) | matmul share | largest op types "
           "(ms, count) |", "|---|---|---|---|---|"]
  for mode, graphs_ in profiles.items():
    for name, prof in graphs_.items():
      items = list(prof["by_op"].items())
      shown = ["%s %.1f (%d)" % (op, e["ms"], e["count"])
               for op, e in items[:top]]
      rest = sum(e["ms"] for _, e in items[top:])
      if rest:
        shown.append("other %.1f" % rest)
      lines.append("| %s | %s | %.1f | %s | %s |" % (
          mode, name, prof["total_ms"], _pct(prof["matmul_share"]),
          ", ".join(shown)))
  return "\n".join(lines)


def _row(mode, framework, timing, gflops, mfu, ratio, last=None):
  """A table row; `last` (default: the ratio, or "-") is the last cell."""
  if last is None:
    last = "-" if ratio is None else "%.2fx" % ratio
  return "| %s | %s | %d | %.2f | %.3f | %.1f | %s |%s|" % (
      mode, framework, timing["batch_size"], timing["examples_per_sec"],
      timing["step_time_sec"], gflops, _pct(mfu),
      " %s " % last if last else " ")


def _mfu(timing, matmul):
  return timing["model_gflops"] / matmul["float32"] if matmul else None


def _fmt(x):
  return "-" if x is None else "%.1f" % x


def _pct(x):
  return "-" if x is None else "%.0f%%" % (100 * x)


def write_json(record, path):
  """Writes `record` to `path` atomically (a temporary name, then a rename)."""
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    json.dump(record, f, indent=2)
  os.replace(tmp, path)

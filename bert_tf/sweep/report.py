"""The sweep's outcome: summary, Markdown table and plots."""

import collections
import json
import os

import tensorflow.compat.v1 as tf

from bert_tf import runtime
from bert_tf.sweep import state as sweep_state
from bert_tf.sweep import stopping


def summarize(state, metric, maximize):
  """The best trial, steps and (estimated) time saved by early stopping."""
  trials = state["trials"]
  completed = [t for t in trials if t["status"] == sweep_state.COMPLETED]
  candidates = completed or [t for t in trials if t["curve"]]
  best = None
  for t in candidates:
    if best is None or stopping.better(t["curve"][-1]["value"],
                                       best["curve"][-1]["value"], maximize):
      best = t
  run = [t for t in trials
         if t["status"] in (sweep_state.COMPLETED, sweep_state.STOPPED)]
  steps_trained = sum(t["steps"] for t in run)
  steps_planned = sum(t["planned_steps"] for t in run)
  seconds = sum(t["seconds"] for t in trials)
  saved_seconds = 0.0
  for t in run:
    if t["status"] == sweep_state.STOPPED and t["steps"]:
      saved_seconds += ((t["planned_steps"] - t["steps"]) * t["seconds"] /
                        t["steps"])
  counts = collections.Counter(t["status"] for t in trials)
  summary = collections.OrderedDict(
      metric=metric, maximize=maximize,
      trials=len(trials), completed=counts[sweep_state.COMPLETED],
      stopped=counts[sweep_state.STOPPED], failed=counts[sweep_state.FAILED],
      pending=counts[sweep_state.PENDING] + counts[sweep_state.RUNNING],
      steps_trained=steps_trained, steps_planned=steps_planned,
      steps_saved=steps_planned - steps_trained,
      fraction_steps_saved=round(
          (steps_planned - steps_trained) / steps_planned, 4)
      if steps_planned else 0.0,
      seconds=round(seconds, 1),
      # A stopped trial's remaining steps at its own seconds per step
      # (evaluations included): what running it to the end would have cost.
      estimated_seconds_saved=round(saved_seconds, 1),
      estimated_seconds_without_stopping=round(seconds + saved_seconds, 1))
  if best is not None:
    summary.update(
        best_trial=best["name"], best_params=best["params"],
        best_metric=best["curve"][-1]["value"], best_status=best["status"],
        best_output_dir=best["output_dir"],
        best_checkpoint=tf.train.latest_checkpoint(best["output_dir"]))
  return summary


def format_table(state):
  """A Markdown table of the trials and the summary lines."""
  trials = state["trials"]
  spec = state["spec"]
  names = []
  for t in trials:
    for k in t["params"]:
      if k not in names:
        names.append(k)
  metric = spec["metric"]
  head = ["trial"] + names + [metric, "status", "steps", "time"]
  lines = ["| " + " | ".join(head) + " |",
           "|" + "---|" * len(head)]
  best = (state.get("summary") or {}).get("best_trial")
  for t in trials:
    value = "%.4f" % t["curve"][-1]["value"] if t["curve"] else "-"
    row = [t["name"] + (" *" if t["name"] == best else "")]
    row += [("%.3g" % t["params"][k] if isinstance(t["params"].get(k), float)
             else str(t["params"].get(k, "-"))) for k in names]
    status = t["status"]
    if status == sweep_state.STOPPED:
      status = "stopped@%d" % t["steps"]
    row += [value, status, "%d/%d" % (t["steps"], t["planned_steps"]),
            runtime.format_seconds(t["seconds"])]
    lines.append("| " + " | ".join(row) + " |")
  s = state.get("summary")
  if s:
    lines.append("")
    if s.get("best_trial"):
      lines.append("best: %s %s = %.4f %s" % (
          s["best_trial"], metric, s["best_metric"],
          json.dumps(s["best_params"])))
      lines.append("best checkpoint: %s" % (s["best_checkpoint"] or
                                            s["best_output_dir"]))
    lines.append(
        "trials: %d completed, %d stopped early, %d failed; steps trained "
        "%d of %d planned (%.1f%% saved); time %s, without early stopping "
        "~%s (estimated)" % (
            s["completed"], s["stopped"], s["failed"], s["steps_trained"],
            s["steps_planned"], 100 * s["fraction_steps_saved"],
            runtime.format_seconds(s["seconds"]),
            runtime.format_seconds(s["estimated_seconds_without_stopping"])))
  return "\n".join(lines)


def plot_sweep(state, output_dir, x_param="learning_rate"):
  """Writes metric_vs_<x_param>.png (log x) and curves.png; returns paths."""
  from bert_tf import plots  # pylint: disable=g-import-not-at-top
  plt = plots._pyplot()  # pylint: disable=protected-access
  metric = state["spec"]["metric"]
  trials = [t for t in state["trials"] if t["curve"]]
  best = (state.get("summary") or {}).get("best_trial")
  written = collections.OrderedDict()
  if not trials:
    return written
  styles = {sweep_state.COMPLETED: ("o", "tab:blue"),
            sweep_state.STOPPED: ("x", "tab:red"),
            sweep_state.FAILED: ("s", "tab:gray"),
            sweep_state.RUNNING: ("^", "tab:orange"),
            sweep_state.PENDING: ("^", "tab:orange")}

  xs = [t["params"].get(x_param) for t in trials]
  if all(isinstance(x, (int, float)) and x > 0 for x in xs):
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for status in (sweep_state.COMPLETED, sweep_state.STOPPED,
                   sweep_state.FAILED, sweep_state.RUNNING):
      group = [t for t in trials if t["status"] == status]
      if not group:
        continue
      marker, color = styles[status]
      ax.scatter([t["params"][x_param] for t in group],
                 [t["curve"][-1]["value"] for t in group], marker=marker,
                 color=color, s=50,
                 label="%s (last evaluation)" % status
                 if status == sweep_state.STOPPED else status)
    for t in trials:
      if t["name"] == best:
        ax.scatter([t["params"][x_param]], [t["curve"][-1]["value"]],
                   marker="*", s=250, facecolors="none",
                   edgecolors="gold", linewidths=2, label="best")
      ax.annotate(str(t["id"]), (t["params"][x_param], t["curve"][-1]["value"]),
                  textcoords="offset points", xytext=(5, 5), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel(x_param)
    ax.set_ylabel(metric)
    ax.set_title("%s vs %s" % (metric, x_param))
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    written["metric_vs_" + x_param] = plots._save(  # pylint: disable=protected-access
        fig, os.path.join(output_dir, "metric_vs_%s.png" % x_param))

  fig, ax = plt.subplots(figsize=(8, 5))
  cmap = plt.get_cmap("tab10")
  for i, t in enumerate(trials):
    steps = [p["step"] for p in t["curve"]]
    values = [p["value"] for p in t["curve"]]
    label = "%d: %s" % (t["id"], ", ".join(
        "%s=%.3g" % (k, v) if isinstance(v, float) else "%s=%s" % (k, v)
        for k, v in t["params"].items()))
    width = 2.5 if t["name"] == best else 1.2
    ax.plot(steps, values, "-o", color=cmap(i % 10), markersize=3,
            linewidth=width, label=label)
    if t["status"] == sweep_state.STOPPED:
      ax.plot([steps[-1]], [values[-1]], "x", color=cmap(i % 10),
              markersize=12, markeredgewidth=2.5)
  ax.plot([], [], "x", color="black", markersize=10, markeredgewidth=2.5,
          label="stopped early")
  ax.set_xlabel("step")
  ax.set_ylabel(metric)
  ax.set_title("%s over training steps (%s)" % (
      metric, state["spec"].get("early_stopping", "none")))
  ax.grid(alpha=0.3)
  ax.legend(fontsize=7, loc="best")
  fig.tight_layout()
  written["curves"] = plots._save(  # pylint: disable=protected-access
      fig, os.path.join(output_dir, "curves.png"))
  return written

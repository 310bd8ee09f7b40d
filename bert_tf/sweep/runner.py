"""The sweep loop: trials one after another, each chunk by chunk."""

import collections
import json
import random
import time

import tensorflow.compat.v1 as tf

from bert_tf import runtime
from bert_tf.sweep import config
from bert_tf.sweep import launcher as launchers
from bert_tf.sweep import report
from bert_tf.sweep import space
from bert_tf.sweep import state as sweep_state
from bert_tf.sweep import stopping


def next_eval_step(last_step, eval_every, total):
  """The step of the next evaluation after `last_step`."""
  if eval_every <= 0:
    return total
  return min(total, (last_step // eval_every + 1) * eval_every)


def _curve(trial):
  return [(p["step"], p["value"]) for p in trial["curve"]]


def _log(message):
  print("[sweep] " + message, flush=True)


def run_sweep(spec, launcher=None):
  """Runs (or resumes) the sweep; returns its final state dict.

  Args:
    spec: `SweepSpec`.
    launcher: optional launcher (default: in-process, or the subprocess /
      Horovod launcher that `spec` asks for).

  Returns:
    the state as written to `<sweep_dir>/sweep.json`, with "summary".

  Raises:
    ValueError: a bad spec, base flag or metric name, or a stored sweep that
      does not match `spec`.
  """
  runtime.set_verbosity()
  if spec.early_stopping not in stopping.POLICIES:
    raise ValueError("early_stopping must be one of %s, not %r" %
                     (stopping.POLICIES, spec.early_stopping))
  if spec.eval_every_steps < 0:
    raise ValueError("eval_every_steps must be >= 0")
  if spec.early_stopping != "none" and spec.eval_every_steps <= 0:
    raise ValueError("Early stopping needs evaluations during training: give "
                     "eval_every_steps > 0")
  maximize = spec.maximize()
  metric = spec.resolved_metric()
  params = space.parse_space(spec.space)
  subprocess_mode = bool(spec.horovod_np or spec.subprocess)
  base_cfg, base_values = config.config_from_flags(
      spec.task, spec.base_flags, strict=not subprocess_mode)
  for p in params:  # fail early on a name that is not a config field
    config.trial_config(base_cfg, {p.name: p.sample(random.Random(0))}, "")
  tf.io.gfile.makedirs(spec.sweep_dir)
  if launcher is None:
    launcher = launchers.make_launcher(spec, base_cfg, base_values)

  state = sweep_state.load_state(spec.sweep_dir)
  if state is None:
    params_list = space.make_trials(params, spec.search, spec.num_trials,
                                    spec.seed, spec.grid_points)
    num_examples = config.count_train_examples(spec.task, base_cfg)
    planned = [config.planned_steps(config.trial_config(base_cfg, p, ""),
                                    num_examples, spec.horovod_np)
               for p in params_list]
    state = sweep_state.new_state(spec, params_list, planned)
    _log("new sweep of %d trials in %s" % (len(params_list), spec.sweep_dir))
  else:
    sweep_state.check_identity(state, spec)
    done = sum(t["status"] in sweep_state.FINISHED for t in state["trials"])
    _log("resuming %s: %d of %d trials finished" % (
        spec.sweep_dir, done, len(state["trials"])))
  state["launcher"] = launcher.describe()
  rule = stopping.StoppingRule(spec.early_stopping, spec.slack,
                               spec.min_steps, spec.min_peers)
  sweep_state.save_state(state)

  trials = state["trials"]
  for trial in trials:
    if trial["status"] == sweep_state.FAILED and spec.retry_failed:
      trial["error"] = None  # go on from its last evaluation and checkpoint
    elif trial["status"] in sweep_state.FINISHED:
      continue
    trial["status"] = sweep_state.RUNNING
    sweep_state.save_state(state)
    _log("%s (%d/%d) %s" % (trial["name"], trial["id"] + 1, len(trials),
                            json.dumps(trial["params"])))
    try:
      _run_trial(trial, trials, launcher, rule, metric, maximize,
                 spec.eval_every_steps, state)
    except _MetricError:
      raise
    except Exception as e:  # pylint: disable=broad-except
      trial["status"] = sweep_state.FAILED
      trial["error"] = "%s: %s" % (type(e).__name__, e)
      _log("%s failed: %s" % (trial["name"], trial["error"]))
      sweep_state.save_state(state)

  state["summary"] = report.summarize(state, metric, maximize)
  sweep_state.save_state(state)
  if spec.make_plots:
    try:
      state["summary"]["plots"] = report.plot_sweep(state, spec.sweep_dir)
    except Exception as e:  # pylint: disable=broad-except
      _log("plots failed: %s" % e)
    sweep_state.save_state(state)
  return state


class _MetricError(ValueError):
  """The chosen metric is not among the evaluation's (a sweep-level error)."""


def _run_trial(trial, trials, launcher, rule, metric, maximize, eval_every,
               state):
  """Trains `trial` chunk by chunk until it completes or is stopped."""
  while True:
    last = trial["curve"][-1]["step"] if trial["curve"] else 0
    target = next_eval_step(last, eval_every, trial["planned_steps"])
    start = time.time()
    out = launcher.run_chunk(trial["params"], trial["output_dir"], target)
    seconds = time.time() - start
    if metric not in out["metrics"]:
      raise _MetricError(
          "The evaluation has no metric %r; it has %s" % (
              metric, ", ".join(sorted(out["metrics"]))))
    value = float(out["metrics"][metric])
    step = out["global_step"]
    if out.get("num_train_steps"):
      trial["planned_steps"] = int(out["num_train_steps"])
    trial["curve"].append(collections.OrderedDict(
        step=step, value=value, seconds=round(seconds, 2)))
    trial["steps"] = step
    trial["seconds"] = round(trial["seconds"] + seconds, 2)
    trial["metrics"] = {k: (v if isinstance(v, (int, float, str)) else str(v))
                        for k, v in out["metrics"].items()}
    if step < target:  # the run ended before the step asked for
      trial["planned_steps"] = step
    if step >= trial["planned_steps"]:
      trial["status"] = sweep_state.COMPLETED
      trial["reason"] = "ran to the end"
      _log("%s step %d/%d: %s = %.6g, completed" % (
          trial["name"], step, trial["planned_steps"], metric, value))
      sweep_state.save_state(state)
      return
    if step <= last:
      raise RuntimeError("training made no progress (step %d, asked for %d)"
                         % (step, target))
    peers = [_curve(t) for t in trials if t is not trial and t["curve"]]
    stop, reason = rule.decide(_curve(trial), peers, step, maximize)
    _log("%s step %d/%d: %s = %.6g, %s (%s)" % (
        trial["name"], step, trial["planned_steps"], metric, value,
        "STOP" if stop else "continue", reason))
    if stop:
      trial["status"] = sweep_state.STOPPED
      trial["reason"] = reason
      sweep_state.save_state(state)
      return
    sweep_state.save_state(state)

"""The sweep's spec and its state file (`<sweep_dir>/sweep.json`)."""

import collections
import dataclasses
import json
import os
import time
import typing

import tensorflow.compat.v1 as tf

from bert_tf import input_pipeline
from bert_tf.sweep import space as search_space

STATE_FILE = "sweep.json"
STATE_VERSION = 1

PENDING, RUNNING, COMPLETED, STOPPED, FAILED = (
    "pending", "running", "completed", "stopped", "failed")
FINISHED = (COMPLETED, STOPPED, FAILED)
DEFAULT_METRIC = {"classifier": "eval_accuracy", "squad": "f1"}


@dataclasses.dataclass
class SweepSpec:
  """What to search (everything but `sweep_dir` and the launcher options
  must be the same when a sweep is resumed)."""
  sweep_dir: str
  base_flags: list
  task: str = "classifier"
  space: list = dataclasses.field(
      default_factory=lambda: list(search_space.DEFAULT_SPACE))
  search: str = "random"
  num_trials: int = 8
  grid_points: int = 3
  seed: int = 0
  metric: typing.Optional[str] = None
  mode: str = "auto"  # "max", "min" or "auto" (min for names with "loss")
  early_stopping: str = "none"
  eval_every_steps: int = 0  # 0: evaluate only at the end
  min_steps: int = 0
  slack: float = 0.1
  min_peers: int = 1
  horovod_np: int = 0
  subprocess: bool = False
  make_plots: bool = True
  retry_failed: bool = False  # run failed trials again when resuming

  def resolved_metric(self):
    return self.metric or DEFAULT_METRIC[self.task]

  def maximize(self):
    if self.mode == "auto":
      return "loss" not in self.resolved_metric()
    if self.mode not in ("max", "min"):
      raise ValueError("mode must be 'max', 'min' or 'auto', not %r" %
                       self.mode)
    return self.mode == "max"

  def identity(self):
    """The fields a resumed sweep must share with the stored one."""
    return collections.OrderedDict(
        task=self.task, base_flags=list(self.base_flags),
        space=[p.spec() for p in search_space.parse_space(self.space)],
        search=self.search, num_trials=self.num_trials,
        grid_points=self.grid_points, seed=self.seed,
        metric=self.resolved_metric(), maximize=self.maximize(),
        early_stopping=self.early_stopping,
        eval_every_steps=self.eval_every_steps, min_steps=self.min_steps,
        slack=self.slack, min_peers=self.min_peers)


def state_path(sweep_dir):
  return os.path.join(sweep_dir, STATE_FILE)


def load_state(sweep_dir):
  """The stored sweep state, or None if the sweep has not started."""
  path = state_path(sweep_dir)
  if not tf.io.gfile.exists(path):
    return None
  with tf.io.gfile.GFile(path, "r") as f:
    try:
      return json.load(f)
    except json.JSONDecodeError as e:
      raise ValueError("%s is not valid JSON (%s); move it away to start the "
                       "sweep afresh" % (path, e))


def save_state(state):
  """Writes sweep.json atomically (a temporary file, then a rename)."""
  input_pipeline.atomic_write_text(
      state_path(state["sweep_dir"]),
      json.dumps(state, indent=2, sort_keys=False) + "\n")


def new_state(spec, params_list, planned):
  trials = []
  for i, params in enumerate(params_list):
    name = "trial-%03d" % i
    trials.append(collections.OrderedDict(
        id=i, name=name, params=params, status=PENDING,
        output_dir=os.path.join(spec.sweep_dir, name),
        planned_steps=planned[i], steps=0, seconds=0.0, curve=[],
        metrics=None, reason=None, error=None))
  return collections.OrderedDict(
      version=STATE_VERSION, sweep_dir=spec.sweep_dir,
      spec=spec.identity(), launcher=None, created=time.strftime(
          "%Y-%m-%d %H:%M:%S"), trials=trials, summary=None)


def check_identity(stored, spec):
  want = spec.identity()
  have = stored.get("spec", {})
  differ = [k for k in want if have.get(k) != want[k]]
  if differ:
    raise ValueError(
        "%s was written by a different sweep (%s differ: %s); use the same "
        "options to resume it, or another --sweep_dir" % (
            state_path(spec.sweep_dir), ", ".join(differ),
            "; ".join("%s: stored %r, now %r" % (k, have.get(k), want[k])
                      for k in differ)))

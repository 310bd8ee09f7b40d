"""Hyperparameter search over run_classifier / run_squad with early stopping.

A sweep runs trials one after another. Each trial is the base command (the
run_classifier.py or run_squad.py flags: task, data, checkpoint, vocabulary,
sequence length, ...) with some hyperparameters replaced by values from a
search space:

  learning_rate=loguniform:1e-6:1e-4   log-uniform on [1e-6, 1e-4]
  warmup_proportion=uniform:0:0.2      uniform on [0, 0.2]
  train_batch_size=choice:16,32        one of the listed values
  num_train_epochs=3                   a fixed value

`search="random"` samples `num_trials` trials with `random.Random(seed)` (the
same seed gives the same trials); `search="grid"` enumerates every
combination (continuous ranges at `grid_points` points, geometric for
log-uniform ones).

A trial trains in chunks of `eval_every_steps` steps: train to step k
(`ClassifierConfig.train_to_step`; the Estimator resumes from the trial's
checkpoint and the learning-rate schedule spans the whole run), evaluate on
the dev set, decide whether to go on. The early-stopping policies, on the
chosen metric (maximised or minimised) at evaluation step s:

  * median: stop if the trial's best value so far is worse than the median
    of the other trials' running averages (mean of their values at steps
    <= s; only trials that reached step s count);
  * bandit: stop if the trial's best value so far is worse than
    best/(1+slack) (maximise) or best*(1+slack) (minimise), where best is the
    best value so far at step s among the other trials (for a metric below
    zero the band is widened the same way: best - |best|*slack/(1+slack),
    best + |best|*slack).

No trial stops before `min_steps` or with fewer than `min_peers` comparable
trials. The state (trials, curves, statuses) lives in `<sweep_dir>/sweep.json`,
rewritten atomically after every evaluation: a sweep started again with the
same spec skips finished trials and continues a half-run one from its last
evaluation (its Estimator from its checkpoint). The best trial is the
completed one with the best final value; its directory holds the checkpoint.
Plots (`metric_vs_learning_rate.png`, `curves.png`) show the outcome.

Trials run in this process (`InProcessLauncher`, calling
`classifier.run`/`squad_runner.run`), or as a subprocess per chunk
(`SubprocessLauncher`): `python run_classifier.py <base flags> <trial flags>`,
or `horovodrun -np N python run_classifier.py ... --use_horovod`.

CLI (`python -m bert_tf.sweep` or `python run_sweep.py`; the base flags come
after `--` or from `--base_flags=FILE`, one or more flags a line):

  python run_sweep.py --sweep_dir=/tmp/mrpc_sweep --num_trials=8 --seed=1 \\
    --space=learning_rate=loguniform:1e-6:1e-4 \\
    --space=train_batch_size=choice:16,32 --metric=eval_accuracy \\
    --early_stopping=median --eval_every_steps=50 -- \\
    --task_name=MRPC --data_dir=$GLUE_DIR/MRPC --vocab_file=... \\
    --bert_config_file=... --init_checkpoint=... --max_seq_length=128

Library functions never read absl FLAGS; only `main` (the script entry) does.
"""

import collections
import dataclasses
import itertools
import json
import math
import os
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import time
import typing

import tensorflow.compat.v1 as tf

from bert_tf import driver
from bert_tf import input_pipeline
from bert_tf import runtime
from bert_tf import settings

STATE_FILE = "sweep.json"
STATE_VERSION = 1

PENDING, RUNNING, COMPLETED, STOPPED, FAILED = (
    "pending", "running", "completed", "stopped", "failed")
FINISHED = (COMPLETED, STOPPED, FAILED)
POLICIES = ("none", "median", "bandit")
TASKS = ("classifier", "squad")
DEFAULT_METRIC = {"classifier": "eval_accuracy", "squad": "f1"}
SCRIPTS = {"classifier": "run_classifier.py", "squad": "run_squad.py"}
RESULT_FILES = {"classifier": "eval_results.txt", "squad": "eval_results.json"}
DEFAULT_SPACE = ("learning_rate=loguniform:1e-6:1e-4",
                 "train_batch_size=choice:16,32",
                 "num_train_epochs=choice:2,3,4",
                 "warmup_proportion=choice:0.0,0.1")
# Flags the sweep sets itself for every trial.
CONTROLLED_FLAGS = ("output_dir", "do_train", "do_eval", "do_predict",
                    "export_dir", "train_to_step")


# --------------------------------------------------------------------------
# Search space.


def parse_value(text):
  """'32' -> 32, '1e-5' -> 1e-05, 'true' -> True, anything else -> str."""
  if isinstance(text, (bool, int, float)):
    return text
  lowered = text.strip().lower()
  if lowered in ("true", "false"):
    return lowered == "true"
  try:
    return int(text)
  except ValueError:
    pass
  try:
    return float(text)
  except ValueError:
    return text.strip()


def _round(x):
  """Four significant digits: readable flags, values inside the range."""
  return float("%.4g" % x)


@dataclasses.dataclass(frozen=True)
class Param:
  """One searched hyperparameter: a range or a list of choices."""
  name: str
  kind: str  # "loguniform", "uniform" or "choice"
  low: float = 0.0
  high: float = 0.0
  values: tuple = ()

  def spec(self):
    """The text form, as `parse_param` reads it."""
    if self.kind == "choice":
      return "%s=choice:%s" % (self.name, ",".join(str(v) for v in self.values))
    return "%s=%s:%r:%r" % (self.name, self.kind, self.low, self.high)

  def sample(self, rng):
    """One value drawn with `rng` (a random.Random)."""
    if self.kind == "choice":
      return self.values[rng.randrange(len(self.values))]
    if self.kind == "loguniform":
      x = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
    else:
      x = rng.uniform(self.low, self.high)
    return min(max(_round(x), self.low), self.high)

  def grid(self, points):
    """The grid values: every choice, or `points` points over the range."""
    if self.kind == "choice":
      return list(self.values)
    if points < 1:
      raise ValueError("grid_points must be at least 1")
    if points == 1 or self.low == self.high:
      if self.kind == "loguniform":
        return [_round(math.sqrt(self.low * self.high))]
      return [_round((self.low + self.high) / 2)]
    out = []
    for i in range(points):
      f = i / (points - 1)
      if self.kind == "loguniform":
        x = math.exp(math.log(self.low) +
                     f * (math.log(self.high) - math.log(self.low)))
      else:
        x = self.low + f * (self.high - self.low)
      out.append(min(max(_round(x), self.low), self.high))
    return out


def parse_param(text):
  """Parses 'name=loguniform:LOW:HIGH', 'name=uniform:LOW:HIGH',
  'name=choice:A,B,...' or 'name=VALUE' (fixed) into a `Param`.

  Raises:
    ValueError: naming the malformed part.
  """
  if "=" not in text:
    raise ValueError("Search space entry %r: expected NAME=SPEC, e.g. "
                     "learning_rate=loguniform:1e-6:1e-4" % text)
  name, spec = (s.strip() for s in text.split("=", 1))
  if not name:
    raise ValueError("Search space entry %r has no name" % text)
  kind, _, rest = spec.partition(":")
  kind = kind.strip().lower()
  if kind in ("loguniform", "uniform"):
    parts = rest.split(":")
    try:
      low, high = (float(p) for p in parts)
    except ValueError:
      raise ValueError("Search space entry %r: expected %s:LOW:HIGH with two "
                       "numbers" % (text, kind))
    if low > high:
      raise ValueError("Search space entry %r: LOW > HIGH" % text)
    if kind == "loguniform" and low <= 0:
      raise ValueError("Search space entry %r: a log-uniform range needs "
                       "LOW > 0 (use choice:0,... to try zero)" % text)
    return Param(name, kind, low, high)
  if kind == "choice":
    values = tuple(parse_value(v) for v in rest.split(",") if v.strip())
    if not values:
      raise ValueError("Search space entry %r lists no choices" % text)
    return Param(name, "choice", values=values)
  if ":" in spec:
    raise ValueError("Search space entry %r: unknown kind %r (expected "
                     "loguniform, uniform or choice)" % (text, kind))
  return Param(name, "choice", values=(parse_value(spec),))


def parse_space(entries):
  """A list of `Param`s from text entries; names must be unique."""
  params = [parse_param(e) for e in entries]
  names = [p.name for p in params]
  duplicates = sorted({n for n in names if names.count(n) > 1})
  if duplicates:
    raise ValueError("Search space names %s more than once" % duplicates)
  return params


def make_trials(params, search="random", num_trials=8, seed=0,
                grid_points=3):
  """The trials' parameter dicts, in the order they run.

  Args:
    params: list of `Param`.
    search: "random" (`num_trials` samples) or "grid" (every combination;
      with `num_trials` > 0 and fewer than the grid, a seeded random subset
      of it, in grid order).
    num_trials: see `search`.
    seed: the random seed (the same seed gives the same trials).
    grid_points: points per continuous range in a grid.

  Returns:
    list of OrderedDict name -> value.
  """
  rng = random.Random(seed)
  if search == "random":
    if num_trials < 1:
      raise ValueError("A random search needs num_trials >= 1")
    return [collections.OrderedDict((p.name, p.sample(rng)) for p in params)
            for _ in range(num_trials)]
  if search != "grid":
    raise ValueError("search must be 'random' or 'grid', not %r" % search)
  combos = list(itertools.product(*[p.grid(grid_points) for p in params]))
  if 0 < num_trials < len(combos):
    keep = sorted(rng.sample(range(len(combos)), num_trials))
    combos = [combos[i] for i in keep]
  return [collections.OrderedDict(zip([p.name for p in params], combo))
          for combo in combos]


# --------------------------------------------------------------------------
# Early stopping.


def _better(a, b, maximize):
  """True if value a is strictly better than b (NaN is worst)."""
  if math.isnan(a):
    return False
  if math.isnan(b):
    return True
  return a > b if maximize else a < b


def _until(curve, step):
  return [v for s, v in curve if s <= step]


def best_so_far(curve, step, maximize):
  """The best value of `curve` (list of (step, value)) at steps <= step."""
  values = _until(curve, step)
  if not values:
    return None
  best = values[0]
  for v in values[1:]:
    if _better(v, best, maximize):
      best = v
  return best


def running_average(curve, step):
  """The mean of `curve`'s values at steps <= step (None if none)."""
  values = _until(curve, step)
  return sum(values) / len(values) if values else None


def _comparable(peers, step):
  """The peer curves that have reached `step` (a value at <= and >= it)."""
  return [c for c in peers
          if c and c[0][0] <= step and max(s for s, _ in c) >= step]


def median_rule(curve, peers, step, maximize, min_peers=1):
  """Median stopping: (stop, reason).

  Stop if the trial's best value so far is worse than the median of the
  peers' running averages at `step`.
  """
  peers = _comparable(peers, step)
  if len(peers) < max(1, min_peers):
    return False, "%d comparable trials at step %d (need %d)" % (
        len(peers), step, max(1, min_peers))
  best = best_so_far(curve, step, maximize)
  median = statistics.median(running_average(c, step) for c in peers)
  if best is None:
    return False, "no value yet"
  if _better(median, best, maximize):
    return True, ("best %.6g is worse than the median %.6g of %d trials' "
                  "running averages at step %d" % (best, median, len(peers),
                                                    step))
  return False, "best %.6g vs median %.6g" % (best, median)


def bandit_threshold(best, maximize, slack):
  """The bandit policy's bar: best/(1+slack) (maximise), best*(1+slack)
  (minimise); for negative values widened by the same fraction of |best|."""
  if maximize:
    return best - abs(best) * slack / (1.0 + slack)
  return best + abs(best) * slack


def bandit_rule(curve, peers, step, maximize, slack=0.1, min_peers=1):
  """Bandit stopping with a slack factor: (stop, reason)."""
  peers = _comparable(peers, step)
  if len(peers) < max(1, min_peers):
    return False, "%d comparable trials at step %d (need %d)" % (
        len(peers), step, max(1, min_peers))
  best = best_so_far(curve, step, maximize)
  if best is None:
    return False, "no value yet"
  leader = None
  for c in peers:
    value = best_so_far(c, step, maximize)
    if leader is None or _better(value, leader, maximize):
      leader = value
  if math.isnan(leader):
    return False, "no finite peer value"
  bar = bandit_threshold(leader, maximize, slack)
  if _better(bar, best, maximize):
    return True, ("best %.6g is outside the slack %g of the leader %.6g "
                  "(bar %.6g) at step %d" % (best, slack, leader, bar, step))
  return False, "best %.6g vs bar %.6g" % (best, bar)


@dataclasses.dataclass
class StoppingRule:
  """An early-stopping policy ("none", "median" or "bandit")."""
  policy: str = "none"
  slack: float = 0.1
  min_steps: int = 0
  min_peers: int = 1

  def decide(self, curve, peers, step, maximize):
    """(stop, reason) for a trial with `curve` at evaluation `step`."""
    if self.policy == "none":
      return False, "no early stopping"
    if step < self.min_steps:
      return False, "step %d < min_steps %d" % (step, self.min_steps)
    if self.policy == "median":
      return median_rule(curve, peers, step, maximize, self.min_peers)
    if self.policy == "bandit":
      return bandit_rule(curve, peers, step, maximize, self.slack,
                         self.min_peers)
    raise ValueError("early stopping policy must be one of %s, not %r" %
                     (POLICIES, self.policy))


# --------------------------------------------------------------------------
# Base flags -> the task's config.


def read_flag_file(path):
  """The flags of a file: one or more a line (shell quoting), '#' comments."""
  args = []
  with tf.io.gfile.GFile(path, "r") as f:
    for line in f:
      args.extend(shlex.split(line, comments=True))
  return args


def parse_flag_args(args):
  """['--a=1', '--flag', '--noflag'] -> OrderedDict name -> str or bool.

  Raises:
    ValueError: for an argument that is not --name, --noname or --name=value.
  """
  out = collections.OrderedDict()
  for arg in args:
    if not arg.startswith("-") or arg in ("-", "--"):
      raise ValueError("Base flag %r: expected --name=value" % arg)
    body = arg.lstrip("-")
    if "=" in body:
      name, value = body.split("=", 1)
      out[name] = value
    elif body.startswith("no") and len(body) > 2:
      out[body[2:]] = False
    else:
      out[body] = True
  return out


def _config_class(task):
  if task == "classifier":
    from bert_tf.tasks import classifier  # pylint: disable=g-import-not-at-top
    return classifier.ClassifierConfig
  if task == "squad":
    from bert_tf.tasks import squad_runner  # pylint: disable=g-import-not-at-top
    return squad_runner.SquadConfig
  raise ValueError("task must be one of %s, not %r" % (TASKS, task))


def config_from_flags(task, args, strict=True):
  """The task's config dataclass from base flags (run_*.py flag syntax).

  Args:
    task: "classifier" or "squad".
    args: list of '--name=value' strings (later ones win).
    strict: unknown flags raise ValueError; otherwise they are ignored (they
      still reach the script in subprocess mode).

  Returns:
    (config, dict of the flag values given).

  Raises:
    ValueError: an unknown flag (strict), a flag the sweep sets itself, a
      value of the wrong type, or a missing required flag.
  """
  cls = _config_class(task)
  values = parse_flag_args(args)
  controlled = [n for n in values if n in CONTROLLED_FLAGS]
  if controlled:
    raise ValueError(
        "The sweep sets %s itself for every trial; leave them out of the base "
        "flags" % ", ".join("--" + n for n in controlled))
  known = set()
  for f in settings.flag_fields(cls):
    known.add(f.name)
    known.update(f.metadata.get("aliases", ()))
  unknown = [n for n in values if n not in known]
  if unknown and strict:
    raise ValueError("--%s is not a %s flag the sweep knows (it runs trials "
                     "in this process; the subprocess launchers pass any "
                     "flag through)" % (unknown[0], SCRIPTS[task]))
  typed = {n: v for n, v in values.items() if n in known}
  cfg = settings.from_strings(cls, typed, output_dir="")
  missing = [f.name for f in settings.flag_fields(cls)
             if f.metadata.get("required") and f.name != "output_dir" and
             getattr(cfg, f.name) is None]
  if missing:
    raise ValueError("The base flags need %s (the %s command the trials "
                     "vary)" % (", ".join("--" + n for n in missing),
                                SCRIPTS[task]))
  return cfg, values


def trial_config(base_cfg, params, output_dir, **overrides):
  """`base_cfg` with the trial's params (typed), output_dir and overrides."""
  cls = type(base_cfg)
  names = {f.name for f in settings.flag_fields(cls)}
  changes = {}
  for name, value in params.items():
    if name not in names:
      raise ValueError("Search space name %r is not a %s field" %
                       (name, cls.__name__))
    changes[name] = settings.coerce(name, value,
                                    settings.field_type(cls, name))
  changes.update(overrides)
  changes["output_dir"] = output_dir
  return dataclasses.replace(base_cfg, **changes)


def planned_steps(cfg, num_examples, num_processes=1):
  """The trial's training steps, as the driver computes them."""
  batch = (cfg.train_batch_size * getattr(cfg, "num_accumulation_steps", 1) *
           max(1, num_processes))
  return driver.train_steps(num_examples, cfg.num_train_epochs, batch)


def count_train_examples(task, cfg):
  """The number of training examples (questions for SQuAD) of `cfg`."""
  if task == "classifier":
    from bert_tf.tasks import classifier  # pylint: disable=g-import-not-at-top
    return len(classifier.processor_for(cfg).get_train_examples(cfg.data_dir))
  from bert_tf.tasks import squad  # pylint: disable=g-import-not-at-top
  if not cfg.train_file:
    raise ValueError("The base flags need --train_file for a SQuAD sweep")
  examples = squad.read_squad_examples(
      cfg.train_file, is_training=True,
      version_2_with_negative=cfg.version_2_with_negative)
  return len(examples)


# --------------------------------------------------------------------------
# Launchers: run one chunk of a trial (train to step k, evaluate).


def _sweep_overrides(task, base_values, sweep_dir):
  """Defaults the sweep sets unless the base flags say otherwise."""
  out = collections.OrderedDict()
  if "keep_checkpoint_max" not in base_values:
    out["keep_checkpoint_max"] = 1  # chunks resume from the latest only
  if task == "classifier" and "cache_dir" not in base_values:
    out["cache_dir"] = os.path.join(sweep_dir, "features")  # shared
  return out


class InProcessLauncher(object):
  """Runs chunks with `classifier.run` / `squad_runner.run` in this process."""

  def __init__(self, task, base_cfg, overrides):
    self.task = task
    self.base_cfg = base_cfg
    self.overrides = dict(overrides)

  def describe(self):
    return "in-process"

  def run_chunk(self, params, output_dir, train_to_step):
    """Trains to `train_to_step`, evaluates; returns {"metrics",
    "global_step", "num_train_steps"}."""
    cfg = trial_config(self.base_cfg, params, output_dir, do_train=True,
                       do_eval=True, do_predict=False, export_dir=None,
                       train_to_step=train_to_step, **self.overrides)
    if self.task == "classifier":
      from bert_tf.tasks import classifier  # pylint: disable=g-import-not-at-top
      result = classifier.run(cfg)
    else:
      from bert_tf.tasks import squad_runner  # pylint: disable=g-import-not-at-top
      result = squad_runner.run(cfg)
    metrics = dict(result["eval"])
    step = metrics.get("global_step")
    if step is None:
      step = runtime.checkpoint_step(output_dir)
    return {"metrics": metrics, "global_step": int(step),
            "num_train_steps": result.get("num_train_steps")}


def _flag(name, value):
  if isinstance(value, bool):
    return "--%s=%s" % (name, "true" if value else "false")
  if isinstance(value, float):
    return "--%s=%r" % (name, value)
  return "--%s=%s" % (name, value)


class SubprocessLauncher(object):
  """Runs each chunk as `[horovodrun -np N] python run_*.py ...`.

  Args:
    task: "classifier" or "squad".
    base_args: the base flags, passed through as given.
    overrides: flags the sweep adds (see `_sweep_overrides`).
    horovod_np: > 0 launches `horovodrun -np N ... --use_horovod`.
    python: the interpreter.
    horovodrun: the horovodrun executable.
    module: the module the trials run (`python -m module`); default the
      task's script through `bert_tf.scripts`, installed or not.
    env: environment for the subprocess (default: this one's).
  """

  def __init__(self, task, base_args, overrides, horovod_np=0,
               python=sys.executable, horovodrun="horovodrun",
               module=None, env=None):
    self.task = task
    self.base_args = list(base_args)
    self.overrides = dict(overrides)
    self.horovod_np = horovod_np
    self.python = python
    self.horovodrun = horovodrun
    self.script = SCRIPTS[task]
    self.module = module or "bert_tf.scripts." + self.script[:-len(".py")]
    self.env = env

  def describe(self):
    if self.horovod_np:
      return "horovodrun -np %d" % self.horovod_np
    return "subprocess"

  def command(self, params, output_dir, train_to_step):
    """The command line of one chunk (a list of arguments)."""
    cmd = []
    if self.horovod_np:
      cmd += [self.horovodrun, "-np", str(self.horovod_np)]
    cmd += [self.python, "-m", self.module] + self.base_args
    cmd += [_flag(k, v) for k, v in self.overrides.items()]
    cmd += [_flag(k, v) for k, v in params.items()]
    cmd += ["--output_dir=" + output_dir, "--do_train=true",
            "--do_eval=true", "--train_to_step=%d" % train_to_step]
    if self.task == "classifier":
      cmd.append("--do_predict=false")
    if self.horovod_np:
      cmd.append("--use_horovod")
    return cmd

  def run_chunk(self, params, output_dir, train_to_step):
    """Runs the chunk's command (output appended to <output_dir>/trial.log)
    and reads the evaluation it wrote."""
    tf.io.gfile.makedirs(output_dir)
    results = os.path.join(output_dir, RESULT_FILES[self.task])
    if tf.io.gfile.exists(results):
      tf.io.gfile.remove(results)  # never read a previous chunk's results
    cmd = self.command(params, output_dir, train_to_step)
    log_path = os.path.join(output_dir, "trial.log")
    with open(log_path, "a") as log:
      log.write("$ %s\n" % " ".join(shlex.quote(c) for c in cmd))
      log.flush()
      proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT,
                            env=self.env, check=False)
    if proc.returncode != 0:
      with open(log_path) as f:
        tail = f.read()[-2000:]
      raise RuntimeError("%s exited with status %d; end of %s:\n%s" % (
          os.path.basename(self.script), proc.returncode, log_path, tail))
    metrics = read_results(self.task, results)
    step = metrics.get("global_step")
    if step is None:
      step = runtime.checkpoint_step(output_dir)
    return {"metrics": metrics, "global_step": int(step),
            "num_train_steps": None}


def read_results(task, path):
  """The metrics of eval_results.txt ('k = v' lines) or eval_results.json."""
  if not tf.io.gfile.exists(path):
    raise FileNotFoundError("The trial wrote no evaluation (%s)" % path)
  with tf.io.gfile.GFile(path, "r") as f:
    text = f.read()
  if task == "squad":
    return json.loads(text)
  out = {}
  for line in text.splitlines():
    if " = " in line:
      key, value = line.split(" = ", 1)
      out[key.strip()] = parse_value(value)
  return out


# --------------------------------------------------------------------------
# The sweep.


@dataclasses.dataclass
class SweepSpec:
  """What to search (everything but `sweep_dir` and the launcher options
  must be the same when a sweep is resumed)."""
  sweep_dir: str
  base_flags: list
  task: str = "classifier"
  space: list = dataclasses.field(default_factory=lambda: list(DEFAULT_SPACE))
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
        space=[p.spec() for p in parse_space(self.space)],
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


def next_eval_step(last_step, eval_every, total):
  """The step of the next evaluation after `last_step`."""
  if eval_every <= 0:
    return total
  return min(total, (last_step // eval_every + 1) * eval_every)


def _new_state(spec, params_list, planned):
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


def _check_identity(stored, spec):
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


def _curve(trial):
  return [(p["step"], p["value"]) for p in trial["curve"]]


def _log(message):
  print("[sweep] " + message, flush=True)


def find_horovodrun():
  """horovodrun beside this Python (a virtualenv's bin/), else on PATH."""
  beside = os.path.join(os.path.dirname(sys.executable), "horovodrun")
  if os.access(beside, os.X_OK):
    return beside
  return shutil.which("horovodrun")


def make_launcher(spec, base_cfg, base_values):
  overrides = _sweep_overrides(spec.task, base_values, spec.sweep_dir)
  if spec.horovod_np:
    horovodrun = find_horovodrun()
    if not horovodrun:
      raise FileNotFoundError(
          "--horovod_np needs horovodrun, which is neither beside %s nor on "
          "PATH (install Horovod: `make horovod`)" % sys.executable)
    return SubprocessLauncher(spec.task, spec.base_flags, overrides,
                              horovod_np=spec.horovod_np,
                              horovodrun=horovodrun)
  if spec.subprocess:
    return SubprocessLauncher(spec.task, spec.base_flags, overrides)
  return InProcessLauncher(spec.task, base_cfg, overrides)


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
  if spec.early_stopping not in POLICIES:
    raise ValueError("early_stopping must be one of %s, not %r" %
                     (POLICIES, spec.early_stopping))
  if spec.eval_every_steps < 0:
    raise ValueError("eval_every_steps must be >= 0")
  if spec.early_stopping != "none" and spec.eval_every_steps <= 0:
    raise ValueError("Early stopping needs evaluations during training: give "
                     "eval_every_steps > 0")
  maximize = spec.maximize()
  metric = spec.resolved_metric()
  params = parse_space(spec.space)
  subprocess_mode = bool(spec.horovod_np or spec.subprocess)
  base_cfg, base_values = config_from_flags(spec.task, spec.base_flags,
                                            strict=not subprocess_mode)
  for p in params:  # fail early on a name that is not a config field
    trial_config(base_cfg, {p.name: p.sample(random.Random(0))}, "")
  tf.io.gfile.makedirs(spec.sweep_dir)
  if launcher is None:
    launcher = make_launcher(spec, base_cfg, base_values)

  state = load_state(spec.sweep_dir)
  if state is None:
    params_list = make_trials(params, spec.search, spec.num_trials, spec.seed,
                              spec.grid_points)
    num_examples = count_train_examples(spec.task, base_cfg)
    planned = [planned_steps(trial_config(base_cfg, p, ""), num_examples,
                             spec.horovod_np) for p in params_list]
    state = _new_state(spec, params_list, planned)
    _log("new sweep of %d trials in %s" % (len(params_list), spec.sweep_dir))
  else:
    _check_identity(state, spec)
    done = sum(t["status"] in FINISHED for t in state["trials"])
    _log("resuming %s: %d of %d trials finished" % (
        spec.sweep_dir, done, len(state["trials"])))
  state["launcher"] = launcher.describe()
  rule = StoppingRule(spec.early_stopping, spec.slack, spec.min_steps,
                      spec.min_peers)
  save_state(state)

  trials = state["trials"]
  for trial in trials:
    if trial["status"] == FAILED and spec.retry_failed:
      trial["error"] = None  # go on from its last evaluation and checkpoint
    elif trial["status"] in FINISHED:
      continue
    trial["status"] = RUNNING
    save_state(state)
    _log("%s (%d/%d) %s" % (trial["name"], trial["id"] + 1, len(trials),
                            json.dumps(trial["params"])))
    try:
      _run_trial(trial, trials, launcher, rule, metric, maximize,
                 spec.eval_every_steps, state)
    except _MetricError:
      raise
    except Exception as e:  # pylint: disable=broad-except
      trial["status"] = FAILED
      trial["error"] = "%s: %s" % (type(e).__name__, e)
      _log("%s failed: %s" % (trial["name"], trial["error"]))
      save_state(state)

  state["summary"] = summarize(state, metric, maximize)
  save_state(state)
  if spec.make_plots:
    try:
      state["summary"]["plots"] = plot_sweep(state, spec.sweep_dir)
    except Exception as e:  # pylint: disable=broad-except
      _log("plots failed: %s" % e)
    save_state(state)
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
      trial["status"] = COMPLETED
      trial["reason"] = "ran to the end"
      _log("%s step %d/%d: %s = %.6g, completed" % (
          trial["name"], step, trial["planned_steps"], metric, value))
      save_state(state)
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
      trial["status"] = STOPPED
      trial["reason"] = reason
      save_state(state)
      return
    save_state(state)


def summarize(state, metric, maximize):
  """The best trial, steps and (estimated) time saved by early stopping."""
  trials = state["trials"]
  completed = [t for t in trials if t["status"] == COMPLETED]
  candidates = completed or [t for t in trials if t["curve"]]
  best = None
  for t in candidates:
    if best is None or _better(t["curve"][-1]["value"],
                               best["curve"][-1]["value"], maximize):
      best = t
  run = [t for t in trials if t["status"] in (COMPLETED, STOPPED)]
  steps_trained = sum(t["steps"] for t in run)
  steps_planned = sum(t["planned_steps"] for t in run)
  seconds = sum(t["seconds"] for t in trials)
  saved_seconds = 0.0
  for t in run:
    if t["status"] == STOPPED and t["steps"]:
      saved_seconds += ((t["planned_steps"] - t["steps"]) * t["seconds"] /
                        t["steps"])
  counts = collections.Counter(t["status"] for t in trials)
  summary = collections.OrderedDict(
      metric=metric, maximize=maximize,
      trials=len(trials), completed=counts[COMPLETED],
      stopped=counts[STOPPED], failed=counts[FAILED],
      pending=counts[PENDING] + counts[RUNNING],
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
    if status == STOPPED:
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


# --------------------------------------------------------------------------
# Plots.


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
  styles = {COMPLETED: ("o", "tab:blue"), STOPPED: ("x", "tab:red"),
            FAILED: ("s", "tab:gray"), RUNNING: ("^", "tab:orange"),
            PENDING: ("^", "tab:orange")}

  xs = [t["params"].get(x_param) for t in trials]
  if all(isinstance(x, (int, float)) and x > 0 for x in xs):
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for status in (COMPLETED, STOPPED, FAILED, RUNNING):
      group = [t for t in trials if t["status"] == status]
      if not group:
        continue
      marker, color = styles[status]
      ax.scatter([t["params"][x_param] for t in group],
                 [t["curve"][-1]["value"] for t in group], marker=marker,
                 color=color, s=50,
                 label="%s (last evaluation)" % status if status == STOPPED
                 else status)
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
    if t["status"] == STOPPED:
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


# --------------------------------------------------------------------------
# CLI (only when run as a script: `python -m bert_tf.sweep`, run_sweep.py).


def define_flags():
  """Defines the sweep's absl flags (idempotent)."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  if "sweep_dir" in flags.FLAGS:
    return
  flags.DEFINE_string("sweep_dir", None,
                      "Where the trials, sweep.json and the plots go.")
  flags.DEFINE_enum("task", "classifier", list(TASKS),
                    "classifier (run_classifier.py) or squad (run_squad.py).")
  flags.DEFINE_multi_string(
      "space", None,
      "A searched hyperparameter, repeatable: NAME=loguniform:LOW:HIGH, "
      "NAME=uniform:LOW:HIGH, NAME=choice:A,B,... or NAME=VALUE. Default: %s."
      % " ".join(DEFAULT_SPACE))
  flags.DEFINE_enum("search", "random", ["random", "grid"],
                    "Random sampling or the full grid.")
  flags.DEFINE_integer("num_trials", 8,
                       "Trials of a random search (grid: 0 = all, else a "
                       "random subset of this size).")
  flags.DEFINE_integer("grid_points", 3,
                       "Grid points per continuous range.")
  flags.DEFINE_integer("seed", 0, "Seed of the sampling.")
  flags.DEFINE_string("metric", None,
                      "The evaluation metric to optimise (eval_accuracy, "
                      "eval_loss, f1, mcc, pearson, exact_match, ...). "
                      "Default: eval_accuracy (classifier), f1 (squad).")
  flags.DEFINE_enum("mode", "auto", ["auto", "max", "min"],
                    "Maximise or minimise (auto: min for names with 'loss').")
  flags.DEFINE_enum("early_stopping", "none", list(POLICIES),
                    "Early termination of poor trials.")
  flags.DEFINE_integer("eval_every_steps", 0,
                       "Evaluate (and apply the stopping rule) every this "
                       "many steps; 0 = only at the end.")
  flags.DEFINE_integer("min_steps", 0, "No trial stops before this step.")
  flags.DEFINE_float("slack", 0.1, "The bandit policy's slack factor.")
  flags.DEFINE_integer("min_peers", 1,
                       "Trials that must have reached a step before a trial "
                       "can be stopped there.")
  flags.DEFINE_string("base_flags", None,
                      "A file of base flags (one or more a line); flags after "
                      "`--` come after (and win).")
  flags.DEFINE_integer("horovod_np", 0,
                       "Run every trial as `horovodrun -np N python "
                       "run_*.py ... --use_horovod` (0: no Horovod).")
  flags.DEFINE_bool("subprocess", False,
                    "Run every trial chunk as a `python run_*.py` subprocess "
                    "instead of in this process.")
  flags.DEFINE_bool("plots", True, "Write the PNG plots.")
  flags.DEFINE_bool("retry_failed", False,
                    "When resuming, run failed trials again (from their last "
                    "evaluation and checkpoint).")


def main(argv):
  """Script entry: reads the flags, runs the sweep, prints the table."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  options = flags.FLAGS
  if not options.sweep_dir:
    raise ValueError("Give --sweep_dir")
  base = []
  if options.base_flags:
    base += read_flag_file(options.base_flags)
  base += [a for a in argv[1:] if a != "--"]
  spec = SweepSpec(
      sweep_dir=options.sweep_dir, base_flags=base, task=options.task,
      space=options.space or list(DEFAULT_SPACE), search=options.search,
      num_trials=options.num_trials, grid_points=options.grid_points,
      seed=options.seed, metric=options.metric, mode=options.mode,
      early_stopping=options.early_stopping,
      eval_every_steps=options.eval_every_steps, min_steps=options.min_steps,
      slack=options.slack, min_peers=options.min_peers,
      horovod_np=options.horovod_np, subprocess=options.subprocess,
      make_plots=options.plots, retry_failed=options.retry_failed)
  state = run_sweep(spec)
  print(format_table(state))
  for name, path in (state["summary"].get("plots") or {}).items():
    print("%s: %s" % (name, path))
  print("state: %s" % state_path(spec.sweep_dir))
  return 0


if __name__ == "__main__":
  from bert_tf import flags as bert_flags  # pylint: disable=g-import-not-at-top
  define_flags()
  bert_flags.run_main(main)

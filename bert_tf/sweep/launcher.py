"""Launchers: run one chunk of a trial (train to step k, evaluate).

In this process (`InProcessLauncher`) or as a `[horovodrun -np N] python -m
bert_tf.run_*` subprocess per chunk (`SubprocessLauncher`).
"""

import collections
import json
import os
import shlex
import shutil
import subprocess
import sys

import tensorflow.compat.v1 as tf

from bert_tf import runtime
from bert_tf.sweep import config
from bert_tf.sweep import space

RESULT_FILES = {"classifier": "eval_results.txt", "squad": "eval_results.json"}


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
    cfg = config.trial_config(self.base_cfg, params, output_dir,
                              do_train=True, do_eval=True, do_predict=False,
                              export_dir=None, train_to_step=train_to_step,
                              **self.overrides)
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
      task's script through `python -m bert_tf.run_*`, installed or not.
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
    self.script = config.SCRIPTS[task]
    self.module = module or "bert_tf." + self.script[:-len(".py")]
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
      out[key.strip()] = space.parse_value(value)
  return out


# --------------------------------------------------------------------------
# The sweep.


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

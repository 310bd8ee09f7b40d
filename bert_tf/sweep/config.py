"""The sweep's base flags (run_*.py flag syntax) -> the task's config."""

import collections
import dataclasses
import shlex

import tensorflow.compat.v1 as tf

from bert_tf import driver
from bert_tf import settings

TASKS = ("classifier", "squad")
SCRIPTS = {"classifier": "run_classifier.py", "squad": "run_squad.py"}
# Flags the sweep sets itself for every trial.
CONTROLLED_FLAGS = ("output_dir", "do_train", "do_eval", "do_predict",
                    "export_dir", "train_to_step")


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

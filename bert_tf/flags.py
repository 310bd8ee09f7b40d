"""Command-line flags from settings, and the scripts' common main.

A script defines its flags from its config dataclass
(`define_config_flags(ClassifierConfig)`): one flag per setting, with the
name, type, default and help the setting declares (`bert_tf.settings`), so
every flag a script accepts is a setting its run reads. Names, defaults and
meanings follow the reference's scripts so their documented command lines run
unchanged. A flag that another script has but this one has no use for is
refused with advice (`run_main(..., refusals=...)`), never dropped.
"""

import os
import sys

from absl import app
from absl import flags

from bert_tf import settings

FLAGS = flags.FLAGS

# Flags defined through this module belong to the script that asked for them
# (they are its key flags: `--help` lists them).
flags.disclaim_key_flags()

# Errors that mean "the input or the flags are wrong" (the library raises
# them with a message naming the file, line or tensor and what was expected):
# the scripts print them as one `error: ...` line instead of a traceback.
USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError,
               NotADirectoryError, IsADirectoryError, PermissionError,
               ConnectionError)


_DEFINERS = {bool: "bool", int: "integer", float: "float", str: "string",
             list: "list"}


def define_config_flags(config_class, flag_values=FLAGS):
  """Defines one absl flag per setting of `config_class` (bert_tf.settings).

  Name, type, default and help come from the dataclass field; a setting
  with choices becomes an enum flag, its aliases alias flags. Idempotent: a
  flag already defined is left alone.

  Args:
    config_class: a settings dataclass (e.g. `ClassifierConfig`).
    flag_values: the FlagValues to define into.
  """
  defaults = settings.defaults(config_class)
  for field in settings.flag_fields(config_class):
    name = field.name
    if name in flag_values:
      continue
    kind = settings.field_type(config_class, name)
    default = defaults.get(name)
    help_text = settings.help_of(field)
    choices = field.metadata.get("choices")
    if choices:
      flags.DEFINE_enum(name, default, choices, help_text,
                        flag_values=flag_values)
    elif kind in _DEFINERS:
      getattr(flags, "DEFINE_" + _DEFINERS[kind])(
          name, default, help_text, flag_values=flag_values)
    else:
      raise TypeError("Setting %s.%s has type %r, which has no flag kind" %
                      (config_class.__name__, name, kind))
    for alias in field.metadata.get("aliases", ()):
      if alias not in flag_values:
        flags.DEFINE_alias(alias, name, flag_values=flag_values)


def mark_required_flags(config_class, flag_values=FLAGS):
  """Marks the settings that say `required=True` as required flags."""
  for field in settings.flag_fields(config_class):
    if field.metadata.get("required"):
      flags.mark_flag_as_required(field.name, flag_values=flag_values)


def mark_required_flags_by_name(names, flag_values=FLAGS):
  """Marks flags required that a script needs beyond its settings' own."""
  for name in names:
    flags.mark_flag_as_required(name, flag_values=flag_values)


def config_from_flags(config_class, flag_values=FLAGS, **fixed):
  """A `config_class` from the parsed flag values (plus `fixed` values)."""
  values = {f.name: flag_values[f.name].value
            for f in settings.flag_fields(config_class)}
  values.update(fixed)
  return config_class(**values)


def epoch_script_refusals(script):
  """What an epoch-counted fine-tuning script says to run_pretraining.py's
  step-counted flags."""
  return {
      "num_train_steps": "%s counts epochs: use --num_train_epochs (steps "
                         "are derived from it)." % script,
      "num_warmup_steps": "use --warmup_proportion (a share of the steps).",
      "max_eval_steps": "%s evaluates the whole evaluation set." % script,
      "input_file": "%s reads text, not pretraining TFRecords." % script,
  }


def given_flags(argv):
  """The flag names on a command line (`--name`, `--name=v`, `--noname`)."""
  names = []
  for arg in argv[1:]:
    if arg == "--":
      break
    if not arg.startswith("-"):
      continue
    name = arg.lstrip("-").split("=", 1)[0]
    if name:
      names.append(name)
  return names


def refused_flag_errors(argv, refusals, flag_values=FLAGS):
  """Messages for flags on `argv` that the script refuses, with advice.

  Args:
    argv: the command line.
    refusals: dict flag name -> what to use instead (the script's own
      table of flags that other scripts have and this one does not).
    flag_values: the script's flags (a defined flag is never refused).

  Returns:
    list of "--name: advice" strings.
  """
  out = []
  for name in given_flags(argv):
    base = name[2:] if name.startswith("no") and name[2:] in refusals \
        else name
    if base in refusals and base not in flag_values:
      out.append("--%s is not a flag of %s: %s" % (
          base, os.path.basename(argv[0]), refusals[base]))
  return out


def prepare_environment(argv):
  """Sets what TensorFlow reads from the environment before `absl.app.run`.

  TF_XLA_FLAGS is read once per process, when TensorFlow first initialises
  its devices, and TensorFlow registers an absl init callback that does so
  before `main` runs: `--use_xla` must add --tf_xla_cpu_global_jit (XLA on
  CPU) before `app.run`. The flags are parsed here as far as they can be and
  then unparsed again; `app.run` parses them for real (and reports errors).

  Args:
    argv: the command line (program name first).
  """
  if "use_xla" not in FLAGS:
    return
  try:
    FLAGS(list(argv), known_only=True)
    use_xla = FLAGS.use_xla
  except (flags.Error, ValueError):
    return
  finally:
    FLAGS.unparse_flags()
  if use_xla:
    from bert_tf import distributed  # pylint: disable=g-import-not-at-top
    distributed.enable_xla_on_cpu()


def run_main(main, argv=None, refusals=None):
  """`absl.app.run(main)`, printing user errors as one clean line.

  Flags named in `refusals` (flags that other scripts have, with what to use
  here instead) are refused before anything runs, with that advice.

  A ValueError or FileNotFoundError (see `USER_ERRORS`) raised by `main` is
  printed to stderr as `error: <message>` and the process exits with status
  1; nothing else is caught. Set BERT_TF_TRACEBACK=1 to see the traceback
  instead.

  Args:
    main: the script's `main(argv)`.
    argv: optional argument list (default: sys.argv).
  """

  def guarded_main(args):
    try:
      return main(args)
    except USER_ERRORS as e:
      if os.environ.get("BERT_TF_TRACEBACK"):
        raise
      sys.stdout.flush()
      message = str(e) or type(e).__name__
      sys.stderr.write("error: %s\n" % message)
      sys.stderr.flush()
      return 1

  command_line = sys.argv if argv is None else argv
  errors = refused_flag_errors(command_line, refusals or {})
  if errors:
    for message in errors:
      sys.stderr.write("error: %s\n" % message)
    sys.exit(1)
  prepare_environment(command_line)
  app.run(guarded_main, argv=argv)

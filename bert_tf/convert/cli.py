"""The conversion's command line: a command, then its absl flags.

  python -m bert_tf.convert hf2google --hf_dir=D --output_dir=O
  python -m bert_tf.convert google2hf --checkpoint=C --output_dir=O \\
      [--bert_config_file=F] [--vocab_file=V] [--prefix=auto|bert|none]

Each command's flags are parsed into a `FlagValues` of their own, never the
global absl FLAGS, so `main` also runs inside a process with other flags.
"""

import collections
import sys

from absl import flags

from bert_tf.convert import google2hf
from bert_tf.convert import hf2google
from bert_tf.convert import names
from bert_tf.convert import reporting

PROG = "python -m bert_tf.convert"
COMMANDS = collections.OrderedDict([
    ("hf2google", "Hugging Face directory -> Google checkpoint."),
    ("google2hf", "Google checkpoint -> Hugging Face directory."),
])
# --prefix values -> google_to_hf's `prefix`.
PREFIXES = {"auto": None, "bert": names.HF_BODY_PREFIX, "none": ""}
USAGE_ERROR = 2  # argparse's exit status for a bad command line.


def command_flags(command):
  """A fresh `flags.FlagValues` holding the flags of `command`."""
  values = flags.FlagValues()
  if command == "hf2google":
    flags.DEFINE_string("hf_dir", None,
                        "Directory with config.json and model.safetensors or "
                        "pytorch_model.bin.", flag_values=values)
    required = ["hf_dir", "output_dir"]
  else:
    flags.DEFINE_string("checkpoint", None,
                        "Checkpoint prefix (e.g. .../bert_model.ckpt) or its "
                        "directory.", flag_values=values)
    flags.DEFINE_string("bert_config_file", None,
                        "Defaults to bert_config.json beside the checkpoint.",
                        flag_values=values)
    flags.DEFINE_string("vocab_file", None,
                        "Defaults to vocab.txt beside the checkpoint.",
                        flag_values=values)
    flags.DEFINE_enum("prefix", "auto", list(PREFIXES),
                      "Key prefix of the body tensors: 'bert.' (bert), none, "
                      "or auto (bert. only when there are heads).",
                      flag_values=values)
    required = ["checkpoint", "output_dir"]
  flags.DEFINE_string("output_dir", None, "The directory to create.",
                      flag_values=values)
  flags.DEFINE_bool("overwrite", False, "Replace a non-empty output_dir.",
                    flag_values=values)
  flags.mark_flags_as_required(required, flag_values=values)
  return values


def usage():
  """The top-level usage text: the commands."""
  lines = ["usage: %s {%s} [--flags]" % (PROG, ",".join(COMMANDS)), "",
           "Convert BERT checkpoints between the Hugging Face and Google "
           "(TF1) layouts.", "", "commands:"]
  lines += ["  %-10s %s" % item for item in COMMANDS.items()]
  lines.append("\n`%s COMMAND --help` lists a command's flags." % PROG)
  return "\n".join(lines)


def _usage_error(message):
  sys.stderr.write("%s\nerror: %s\n" % (usage(), message))
  return USAGE_ERROR


def parse(argv):
  """(command, FlagValues) from the arguments after the program name.

  Raises:
    flags.Error: for an unknown or missing flag or a bad flag value.
    ValueError: for an unknown command or a positional argument.
  """
  if not argv or argv[0] not in COMMANDS:
    raise ValueError("expected a command (%s), got %r" %
                     (", ".join(COMMANDS), argv[0] if argv else None))
  command = argv[0]
  values = command_flags(command)
  rest = values(["%s %s" % (PROG, command)] + list(argv[1:]))
  if len(rest) > 1:
    raise ValueError("unrecognized arguments: %s" % " ".join(rest[1:]))
  return command, values


def main(argv=None):
  """Runs the CLI; returns the process exit status.

  Args:
    argv: the arguments after the program name (default: sys.argv[1:]): the
      command, then its flags.
  """
  argv = sys.argv[1:] if argv is None else list(argv)
  if argv and argv[0] in ("-h", "--help", "--helpfull"):
    print(usage())
    return 0
  if argv and argv[0] in COMMANDS and set(argv[1:]) & {"-h", "--help",
                                                       "--helpfull"}:
    print("usage: %s %s [--flags]\n\n%s\n\n%s" % (
        PROG, argv[0], COMMANDS[argv[0]],
        command_flags(argv[0]).get_help(include_special_flags=False)))
    return 0
  try:
    command, options = parse(argv)
  except (flags.Error, ValueError) as e:
    return _usage_error(e)
  import bert_tf  # pylint: disable=g-import-not-at-top
  bert_tf.quiet_tensorflow()
  try:
    if command == "hf2google":
      report = hf2google.hf_to_google(options.hf_dir, options.output_dir,
                                      overwrite=options.overwrite)
    else:
      report = google2hf.google_to_hf(
          options.checkpoint, options.output_dir,
          bert_config_file=options.bert_config_file,
          vocab_file=options.vocab_file, prefix=PREFIXES[options.prefix],
          overwrite=options.overwrite)
  except reporting.ConversionError as e:
    print("error: %s" % e, file=sys.stderr)
    return 1
  print(report.summary())
  return 0

"""The benchmark's command line: absl flags of its own.

  python -m bert_tf.benchmark --config=base --seq_length=128 \\
      --batch_size=16 --predict_batch_size=32 --precision=fp32 --xla=off \\
      --hf=on --unfused=on --json=out.json

The flags are parsed into a `FlagValues` of their own, never the global
absl FLAGS, so `main` also runs inside a process with other flags (tests).
`--xla`, `--hf`, `--unfused` and `--op_profile` take on/off (or true/false,
1/0, yes/no).
`--num_ranks=N > 1` re-runs the same command under `horovodrun -np N`.
"""

import os
import shutil
import subprocess
import sys

from absl import flags

from bert_tf.benchmark import config as config_lib
from bert_tf.benchmark import report
from bert_tf.benchmark import runner

PROG = "python -m bert_tf.benchmark"
USAGE_ERROR = 2  # argparse's exit status for a bad command line.
WORKER_ENV = "BERT_TF_BENCHMARK_HOROVOD_WORKER"
_ON = ("on", "true", "1", "yes")
_OFF = ("off", "false", "0", "no")


class OnOffParser(flags.ArgumentParser):
  """A switch written as a value: on/off, true/false, 1/0, yes/no."""

  def parse(self, argument):
    if isinstance(argument, bool):
      return argument
    value = str(argument).lower()
    if value in _ON:
      return True
    if value in _OFF:
      return False
    raise ValueError("expected on or off, got %r" % argument)

  def flag_type(self):
    return "on/off"


class _OnOffSerializer(flags.ArgumentSerializer):

  def serialize(self, value):
    return "on" if value else "off"


def _define_on_off(name, default, help_text, values):
  flags.DEFINE(OnOffParser(), name, default, help_text, flag_values=values,
               serializer=_OnOffSerializer())


def define_flags(values):
  """Defines the benchmark's flags in `values` (a `flags.FlagValues`)."""
  d = config_lib.BenchmarkConfig()
  flags.DEFINE_string("config", d.config,
                      "tiny, mini, small, medium, base, large, minilm (the "
                      "shapes of bert_tf.CONFIG_DIR), or a bert_config.json "
                      "path.", flag_values=values)
  flags.DEFINE_integer("seq_length", d.seq_length, "Tokens per example.",
                       lower_bound=1, flag_values=values)
  flags.DEFINE_integer("batch_size", d.batch_size,
                       "Training batch size (per rank).", lower_bound=1,
                       flag_values=values)
  flags.DEFINE_integer("predict_batch_size", d.predict_batch_size,
                       "Prediction batch size.", lower_bound=1,
                       flag_values=values)
  flags.DEFINE_enum("precision", d.precision, list(config_lib.PRECISIONS),
                    "Precision of both frameworks.", flag_values=values)
  _define_on_off("xla", d.xla, "XLA JIT compilation of the bert_tf graph "
                 "(on/off).", values)
  flags.DEFINE_integer("num_ranks", d.num_ranks,
                       "Horovod processes for bert_tf training.",
                       lower_bound=1, flag_values=values)
  flags.DEFINE_list("modes", list(d.modes),
                    "Comma-separated: train, predict.", flag_values=values)
  _define_on_off("hf", d.hf, "Also measure HF transformers + PyTorch "
                 "(on/off).", values)
  _define_on_off("unfused", d.unfused, "Also measure the graph without the "
                 "fusions, in the reference's op sequence (model, every "
                 "position of the last layer, optimizer update) (on/off).",
                 values)
  flags.DEFINE_integer("warmup_steps", d.warmup_steps,
                       "Untimed steps per framework and mode.",
                       lower_bound=0, flag_values=values)
  flags.DEFINE_integer("steps", d.steps,
                       "Timed steps per framework, mode and round.",
                       lower_bound=1, flag_values=values)
  flags.DEFINE_integer("rounds", d.rounds,
                       "Alternations bert_tf / HF per mode.", lower_bound=1,
                       flag_values=values)
  flags.DEFINE_float("max_block_seconds", d.max_block_seconds,
                     "A timed block stops early (after 2 steps) once it has "
                     "run this long.", flag_values=values)
  flags.DEFINE_integer("threads", d.threads, "0 = all cores.", lower_bound=0,
                       flag_values=values)
  flags.DEFINE_integer("matmul_size", d.matmul_size,
                       "Side of the square matmuls of the matmul rate.",
                       lower_bound=1, flag_values=values)
  flags.DEFINE_integer("seed", d.seed, "Random seed of weights and inputs.",
                       flag_values=values)
  _define_on_off("op_profile", d.op_profile, "Also trace one step of each "
                 "bert_tf graph (and of HF, with --hf=on) and report its op "
                 "time by op type, and the share of matmuls (on/off).",
                 values)
  flags.DEFINE_string("json", None,
                      "Output JSON (default: benchmark-<config>-seq<S>-"
                      "<precision>[-xla].json in the current directory).",
                      flag_values=values)
  flags.register_validator(
      "modes", lambda modes: set(modes) <= set(config_lib.MODES),
      message="--modes must be among %s" % ", ".join(config_lib.MODES),
      flag_values=values)


def parse_args(argv=None):
  """Parses the arguments after the program name into a `BenchmarkConfig`.

  Raises:
    flags.Error: for an unknown flag, a bad value or a positional argument.
  """
  argv = sys.argv[1:] if argv is None else list(argv)
  values = flags.FlagValues()
  define_flags(values)
  rest = values([PROG] + argv)
  if len(rest) > 1:
    raise flags.Error("unrecognized arguments: %s" % " ".join(rest[1:]))
  json_path = values.json or config_lib.default_json_path(
      values.config, values.seq_length, values.precision, values.xla)
  return config_lib.BenchmarkConfig(
      config=values.config, seq_length=values.seq_length,
      batch_size=values.batch_size,
      predict_batch_size=values.predict_batch_size,
      precision=values.precision, xla=values.xla,
      num_ranks=values.num_ranks,
      modes=tuple(m.strip() for m in values.modes if m.strip()),
      hf=values.hf, unfused=values.unfused,
      warmup_steps=values.warmup_steps, steps=values.steps,
      rounds=values.rounds, max_block_seconds=values.max_block_seconds,
      threads=values.threads, matmul_size=values.matmul_size,
      seed=values.seed, op_profile=values.op_profile, json_path=json_path)


def usage():
  """The --help text: what the command does and its flags."""
  values = flags.FlagValues()
  define_flags(values)
  return ("usage: %s [--flags]\n\nTraining/prediction throughput of bert_tf "
          "vs Hugging Face transformers + PyTorch, and model FLOP "
          "utilisation.\n\n%s" % (
              PROG, values.get_help(include_special_flags=False)))


def _launch_horovod(cfg, argv):
  """Re-runs this command under `horovodrun -np num_ranks`; returns its rc."""
  horovodrun = shutil.which("horovodrun") or os.path.join(
      os.path.dirname(sys.executable), "horovodrun")
  if not os.path.exists(horovodrun):
    raise ValueError("--num_ranks=%d needs Horovod's horovodrun, which is "
                     "not installed here." % cfg.num_ranks)
  env = dict(os.environ, **{WORKER_ENV: "1"})
  command = [horovodrun, "-np", str(cfg.num_ranks), "-H",
             "localhost:%d" % cfg.num_ranks, sys.executable, "-m",
             "bert_tf.benchmark"] + list(argv)
  report.log("Launching: %s" % " ".join(command))
  return subprocess.call(command, env=env)


def main(argv=None):
  """Runs the benchmark command; returns the process exit status.

  Args:
    argv: the arguments after the program name (default: sys.argv[1:]).
  """
  argv = list(sys.argv[1:] if argv is None else argv)
  if set(argv) & {"-h", "--help", "--helpfull"}:
    print(usage())
    return 0
  try:
    cfg = parse_args(argv)
  except flags.Error as e:
    sys.stderr.write("usage: %s [--flags] (--help lists them)\nerror: %s\n"
                     % (PROG, e))
    return USAGE_ERROR
  if cfg.num_ranks > 1 and not os.environ.get(WORKER_ENV):
    return _launch_horovod(cfg, argv)
  hvd = None
  if os.environ.get(WORKER_ENV):
    from bert_tf import distributed  # pylint: disable=g-import-not-at-top
    hvd = distributed.import_horovod()
    hvd.init()
    if hvd.size() != cfg.num_ranks:
      raise ValueError("Started with %d Horovod ranks, --num_ranks=%d" %
                       (hvd.size(), cfg.num_ranks))
  runner.run(cfg, hvd=hvd)
  return 0

"""The sweep's command line (only when run as a script: `python -m
bert_tf.sweep`, run_sweep.py)."""

from absl import flags as absl_flags

from bert_tf.sweep import config
from bert_tf.sweep import report
from bert_tf.sweep import runner
from bert_tf.sweep import space
from bert_tf.sweep import state as sweep_state
from bert_tf.sweep import stopping

# Flags defined here belong to the script that calls define_flags, so that
# its --help lists them (not only --helpfull).
absl_flags.disclaim_key_flags()

def define_flags():
  """Defines the sweep's absl flags (idempotent)."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  if "sweep_dir" in flags.FLAGS:
    return
  flags.DEFINE_string("sweep_dir", None,
                      "Where the trials, sweep.json and the plots go.")
  flags.DEFINE_enum("task", "classifier", list(config.TASKS),
                    "classifier (run_classifier.py) or squad (run_squad.py).")
  flags.DEFINE_multi_string(
      "space", None,
      "A searched hyperparameter, repeatable: NAME=loguniform:LOW:HIGH, "
      "NAME=uniform:LOW:HIGH, NAME=choice:A,B,... or NAME=VALUE. Default: %s."
      % " ".join(space.DEFAULT_SPACE))
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
  flags.DEFINE_enum("early_stopping", "none", list(stopping.POLICIES),
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
    base += config.read_flag_file(options.base_flags)
  base += [a for a in argv[1:] if a != "--"]
  spec = sweep_state.SweepSpec(
      sweep_dir=options.sweep_dir, base_flags=base, task=options.task,
      space=options.space or list(space.DEFAULT_SPACE), search=options.search,
      num_trials=options.num_trials, grid_points=options.grid_points,
      seed=options.seed, metric=options.metric, mode=options.mode,
      early_stopping=options.early_stopping,
      eval_every_steps=options.eval_every_steps, min_steps=options.min_steps,
      slack=options.slack, min_peers=options.min_peers,
      horovod_np=options.horovod_np, subprocess=options.subprocess,
      make_plots=options.plots, retry_failed=options.retry_failed)
  state = runner.run_sweep(spec)
  print(report.format_table(state))
  for name, path in (state["summary"].get("plots") or {}).items():
    print("%s: %s" % (name, path))
  print("state: %s" % sweep_state.state_path(spec.sweep_dir))
  return 0

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

The package, one module per concern: `space` (the search space and the
trials), `stopping` (the early-stopping rules), `config` (base flags -> the
task's config), `launcher` (in-process and subprocess launchers), `state`
(the spec and sweep.json), `runner` (the sweep loop), `report` (summary,
table, plots) and `cli` (the flags and `main`). Every public name is
re-exported here: `from bert_tf import sweep; sweep.run_sweep(...)`.
"""

# pylint: disable=g-importing-member,unused-import
from bert_tf.sweep.cli import define_flags
from bert_tf.sweep.cli import main
from bert_tf.sweep.config import CONTROLLED_FLAGS
from bert_tf.sweep.config import config_from_flags
from bert_tf.sweep.config import count_train_examples
from bert_tf.sweep.config import parse_flag_args
from bert_tf.sweep.config import planned_steps
from bert_tf.sweep.config import read_flag_file
from bert_tf.sweep.config import SCRIPTS
from bert_tf.sweep.config import TASKS
from bert_tf.sweep.config import trial_config
from bert_tf.sweep.launcher import find_horovodrun
from bert_tf.sweep.launcher import InProcessLauncher
from bert_tf.sweep.launcher import make_launcher
from bert_tf.sweep.launcher import read_results
from bert_tf.sweep.launcher import RESULT_FILES
from bert_tf.sweep.launcher import SubprocessLauncher
from bert_tf.sweep.report import format_table
from bert_tf.sweep.report import plot_sweep
from bert_tf.sweep.report import summarize
from bert_tf.sweep.runner import next_eval_step
from bert_tf.sweep.runner import run_sweep
from bert_tf.sweep.space import DEFAULT_SPACE
from bert_tf.sweep.space import make_trials
from bert_tf.sweep.space import Param
from bert_tf.sweep.space import parse_param
from bert_tf.sweep.space import parse_space
from bert_tf.sweep.space import parse_value
from bert_tf.sweep.state import COMPLETED
from bert_tf.sweep.state import DEFAULT_METRIC
from bert_tf.sweep.state import FAILED
from bert_tf.sweep.state import FINISHED
from bert_tf.sweep.state import load_state
from bert_tf.sweep.state import PENDING
from bert_tf.sweep.state import RUNNING
from bert_tf.sweep.state import save_state
from bert_tf.sweep.state import STATE_FILE
from bert_tf.sweep.state import state_path
from bert_tf.sweep.state import STATE_VERSION
from bert_tf.sweep.state import STOPPED
from bert_tf.sweep.state import SweepSpec
from bert_tf.sweep.stopping import bandit_rule
from bert_tf.sweep.stopping import bandit_threshold
from bert_tf.sweep.stopping import best_so_far
from bert_tf.sweep.stopping import median_rule
from bert_tf.sweep.stopping import POLICIES
from bert_tf.sweep.stopping import running_average
from bert_tf.sweep.stopping import StoppingRule

"""Hyperparameter search: sampling, grid, stopping rules, a real tiny sweep
with early termination and resumption, chunked training, the launchers."""

import dataclasses
import json
import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from bert_tf import input_pipeline
from bert_tf import plots
from bert_tf import runtime
from bert_tf import sweep
from bert_tf.tasks import classifier
from test_classifier import write_tiny_config
from test_squad_runner import make_squad
from test_squad_runner import write_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORDS = ["the", "dog", "cat", "runs", "ran", "fast", "slow", "movie", "film",
         "man", "woman", "city", "house", "car"]


def write_easy_task(data_dir, n_train=64, n_dev=32, seed=0):
  """MRPC layout; the label is 1 exactly when sentence a holds 'good'."""
  rng = np.random.RandomState(seed)
  os.makedirs(data_dir, exist_ok=True)
  header = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
  for name, n in (("train.tsv", n_train), ("dev.tsv", n_dev)):
    with open(os.path.join(data_dir, name), "w", encoding="utf-8") as f:
      f.write(header)
      for i in range(n):
        label = int(rng.rand() < 0.5)
        a = list(rng.choice(WORDS, size=rng.randint(3, 7)))
        a.insert(rng.randint(len(a)), "good" if label else "bad")
        b = " ".join(rng.choice(WORDS, size=rng.randint(3, 7)))
        f.write("%d\t%d\t%d\t%s\t%s\n" % (label, i, i + 1000, " ".join(a), b))
  return data_dir


@pytest.fixture
def tiny_task(tmp_path, tiny_vocab_file):
  """Base flags of a tiny MRPC-layout task: 64 examples, batch 8, 3 epochs
  = 24 steps, no dropout (deterministic for a seed)."""
  data_dir = write_easy_task(str(tmp_path / "data"))
  config = write_tiny_config(tmp_path / "bert_config.json",
                             hidden_dropout_prob=0.0,
                             attention_probs_dropout_prob=0.0)
  return ["--task_name=MRPC", "--data_dir=" + data_dir,
          "--vocab_file=" + tiny_vocab_file, "--bert_config_file=" + config,
          "--max_seq_length=16", "--train_batch_size=8",
          "--num_train_epochs=3", "--random_seed=1", "--eval_batch_size=32",
          "--log_every_n_steps=100"]


# ---------------------------------------------------------------- sampling


def test_random_sampling_ranges_and_reproducibility():
  space = sweep.parse_space([
      "learning_rate=loguniform:1e-6:1e-4", "train_batch_size=choice:16,32",
      "num_train_epochs=choice:1,2,3", "warmup_proportion=uniform:0:0.2"])
  trials = sweep.make_trials(space, "random", num_trials=400, seed=7)
  assert len(trials) == 400
  lrs = np.array([t["learning_rate"] for t in trials])
  assert lrs.min() >= 1e-6 and lrs.max() <= 1e-4
  # Log-uniform: half below the geometric midpoint 1e-5, each decade ~half.
  assert 0.42 < np.mean(lrs < 1e-5) < 0.58
  assert {t["train_batch_size"] for t in trials} == {16, 32}
  assert {t["num_train_epochs"] for t in trials} == {1, 2, 3}
  warm = np.array([t["warmup_proportion"] for t in trials])
  assert warm.min() >= 0 and warm.max() <= 0.2
  assert 0.08 < warm.mean() < 0.12  # uniform, not log
  assert all(isinstance(t["train_batch_size"], int) for t in trials)
  # The same seed gives the same trials; another seed others.
  assert sweep.make_trials(space, "random", 400, seed=7) == trials
  assert sweep.make_trials(space, "random", 400, seed=8) != trials
  assert sweep.make_trials(space, "random", 5, seed=7) == trials[:5]


def test_grid_enumerates_every_combination():
  space = sweep.parse_space([
      "learning_rate=loguniform:1e-6:1e-4", "train_batch_size=choice:16,32",
      "warmup_proportion=uniform:0:0.2"])
  trials = sweep.make_trials(space, "grid", num_trials=0, grid_points=3)
  combos = {(t["learning_rate"], t["train_batch_size"],
             t["warmup_proportion"]) for t in trials}
  assert len(trials) == len(combos) == 3 * 2 * 3
  assert sorted({c[0] for c in combos}) == [1e-6, 1e-5, 1e-4]  # geometric
  assert sorted({c[2] for c in combos}) == [0.0, 0.1, 0.2]  # linear
  subset = sweep.make_trials(space, "grid", num_trials=5, seed=3)
  assert len(subset) == 5 and all(t in trials for t in subset)
  assert subset == sweep.make_trials(space, "grid", num_trials=5, seed=3)


def test_space_syntax_errors():
  assert sweep.parse_param("num_train_epochs=3").values == (3,)
  assert sweep.parse_param("lr=choice:0,1e-5").values == (0, 1e-5)
  for bad, message in (("learning_rate", "NAME=SPEC"),
                       ("lr=loguniform:0:1e-4", "LOW > 0"),
                       ("lr=uniform:2:1", "LOW > HIGH"),
                       ("lr=uniform:a:1", "two numbers"),
                       ("lr=normal:0:1", "unknown kind"),
                       ("lr=choice:", "no choices")):
    with pytest.raises(ValueError, match=message):
      sweep.parse_param(bad)
  with pytest.raises(ValueError, match="more than once"):
    sweep.parse_space(["lr=1", "lr=2"])


# ---------------------------------------------------------- stopping rules


def test_median_rule_on_synthetic_curves():
  a = [(10, 0.50), (20, 0.60), (30, 0.70)]
  b = [(10, 0.55), (20, 0.65), (30, 0.75)]
  c = [(10, 0.20), (20, 0.30), (30, 0.40)]
  # At step 20 the running averages are a 0.55, b 0.60, c 0.25: median 0.55.
  assert sweep.running_average(a, 20) == pytest.approx(0.55)
  assert sweep.median_rule([(10, 0.4), (20, 0.54)], [a, b, c], 20, True)[0]
  assert not sweep.median_rule([(10, 0.56), (20, 0.5)], [a, b, c], 20,
                               True)[0]  # its best so far (0.56) counts
  # Minimising a loss: the same rule mirrored.
  la = [(10, 0.9), (20, 0.7)]
  lb = [(10, 0.8), (20, 0.6)]
  assert sweep.median_rule([(10, 0.8), (20, 0.76)], [la, lb], 20, False)[0]
  assert not sweep.median_rule([(10, 0.8), (20, 0.74)], [la, lb], 20,
                               False)[0]
  # Peers that have not reached the step do not count; min_peers holds.
  short = [(10, 0.9)]
  assert not sweep.median_rule([(10, 0.1), (20, 0.1)], [short], 20, True)[0]
  assert not sweep.median_rule([(10, 0.1)], [a], 10, True, min_peers=2)[0]
  assert sweep.median_rule([(10, 0.1)], [a, b], 10, True, min_peers=2)[0]
  # The policy object: min_steps delays any decision.
  rule = sweep.StoppingRule("median", min_steps=20)
  assert not rule.decide([(10, 0.0)], [a, b], 10, True)[0]
  assert rule.decide([(10, 0.0), (20, 0.0)], [a, b], 20, True)[0]
  assert not sweep.StoppingRule("none").decide([(10, 0.0)], [a], 10, True)[0]


def test_bandit_rule_on_synthetic_curves():
  leader = [(10, 0.50), (20, 0.66)]
  other = [(10, 0.40), (20, 0.45)]
  # Maximise, slack 0.1: bar = 0.66 / 1.1 = 0.6.
  assert sweep.bandit_threshold(0.66, True, 0.1) == pytest.approx(0.6)
  assert sweep.bandit_rule([(10, 0.3), (20, 0.59)], [leader, other], 20,
                           True, slack=0.1)[0]
  assert not sweep.bandit_rule([(10, 0.3), (20, 0.61)], [leader, other], 20,
                               True, slack=0.1)[0]
  # At step 10 the leader's best is 0.5: bar 0.4545.
  assert not sweep.bandit_rule([(10, 0.46)], [leader], 10, True, 0.1)[0]
  assert sweep.bandit_rule([(10, 0.45)], [leader], 10, True, 0.1)[0]
  # Minimise, slack 0.2: bar = 0.4 * 1.2 = 0.48.
  losses = [[(10, 0.5), (20, 0.4)], [(10, 0.7), (20, 0.6)]]
  assert sweep.bandit_rule([(10, 0.6), (20, 0.49)], losses, 20, False,
                           slack=0.2)[0]
  assert not sweep.bandit_rule([(10, 0.6), (20, 0.47)], losses, 20, False,
                               slack=0.2)[0]
  # A metric below zero (MCC): the band widens by |best| the same way.
  assert sweep.bandit_threshold(-0.1, True, 0.1) == pytest.approx(
      -0.1 - 0.1 * 0.1 / 1.1)
  assert sweep.bandit_threshold(0.5, False, 0.1) == pytest.approx(0.55)
  # NaN is the worst value.
  assert sweep.bandit_rule([(10, float("nan"))], [leader], 10, True, 0.1)[0]
  assert math.isnan(sweep.best_so_far([(10, float("nan"))], 10, True))
  assert sweep.best_so_far([(10, float("nan")), (20, 0.3)], 20, True) == 0.3


# ------------------------------------------------------- flags and commands


def test_base_flags_to_config_and_horovod_command(tmp_path, tiny_task):
  flag_file = tmp_path / "base.flags"
  flag_file.write_text("# the base command\n" + "\n".join(tiny_task[:3]) +
                       "\n" + " ".join(tiny_task[3:]) + " --nodo_lower_case\n")
  args = sweep.read_flag_file(str(flag_file))
  assert args == tiny_task + ["--nodo_lower_case"]
  cfg, values = sweep.config_from_flags("classifier", args)
  assert cfg.task_name == "MRPC" and cfg.max_seq_length == 16
  assert cfg.num_train_epochs == 3.0 and isinstance(cfg.num_train_epochs,
                                                    float)
  assert cfg.do_lower_case is False and cfg.random_seed == 1
  assert values["train_batch_size"] == "8"
  trial = sweep.trial_config(cfg, {"learning_rate": 3e-5,
                                   "train_batch_size": 16}, "/o")
  assert (trial.learning_rate, trial.train_batch_size, trial.output_dir) == (
      3e-5, 16, "/o")
  generic, _ = sweep.config_from_flags("classifier", [
      "--task_name=generic", "--data_dir=d", "--bert_config_file=c",
      "--vocab_file=v", "--delimiter=comma", "--text_a_column=review",
      "--label_column=2", "--labels=neg,pos"])
  assert (generic.delimiter, generic.label_column, generic.labels) == (
      "comma", "2", ["neg", "pos"])
  processor = classifier.processor_for(generic)
  assert processor.delimiter == "," and processor.label_column == 2
  assert processor.get_labels() == ["neg", "pos"]
  with pytest.raises(ValueError, match="sets --output_dir"):
    sweep.config_from_flags("classifier", tiny_task + ["--output_dir=x"])
  with pytest.raises(ValueError, match="--frobnicate is not"):
    sweep.config_from_flags("classifier", tiny_task + ["--frobnicate=1"])
  with pytest.raises(ValueError, match="not a valid int"):
    sweep.config_from_flags("classifier", tiny_task + ["--max_seq_length=x"])
  with pytest.raises(ValueError, match="need --data_dir"):
    sweep.config_from_flags("classifier", ["--task_name=MRPC",
                                           "--bert_config_file=c"])
  with pytest.raises(ValueError, match="not a ClassifierConfig field"):
    sweep.trial_config(cfg, {"learning_rat": 1e-5}, "/o")

  launcher = sweep.SubprocessLauncher(
      "classifier", tiny_task, {"keep_checkpoint_max": 1}, horovod_np=4,
      python="/usr/bin/python3")
  cmd = launcher.command({"learning_rate": 3e-05, "train_batch_size": 16},
                         "/sweep/trial-002", 40)
  assert cmd[:6] == ["horovodrun", "-np", "4", "/usr/bin/python3", "-m",
                     "bert_tf.run_classifier"]
  assert cmd[6:6 + len(tiny_task)] == tiny_task
  tail = cmd[6 + len(tiny_task):]
  assert tail == ["--keep_checkpoint_max=1", "--learning_rate=3e-05",
                  "--train_batch_size=16", "--output_dir=/sweep/trial-002",
                  "--do_train=true", "--do_eval=true", "--train_to_step=40",
                  "--do_predict=false", "--use_horovod"]
  plain = sweep.SubprocessLauncher("squad", ["--train_file=t.json"], {})
  cmd = plain.command({"learning_rate": 1e-4}, "/o", 8)
  assert cmd[1:3] == ["-m", "bert_tf.run_squad"]
  assert "--use_horovod" not in cmd
  assert "horovodrun" not in cmd and "--do_predict=false" not in cmd


# -------------------------------------------------------- chunked training


def _batches(input_fn, n):
  """The first column of input_ids of the first `n` batches of `input_fn`."""
  with tf.Graph().as_default():
    tf.set_random_seed(1)
    batch = tf.data.make_one_shot_iterator(
        input_fn({"batch_size": 8})).get_next()
    with tf.Session() as sess:
      return [tuple(sess.run(batch["input_ids"])[:, 1]) for _ in range(n)]


def test_chunked_training_continues_schedule_and_data(tmp_path, tiny_task):
  """Training to step 8, then to the end: the learning-rate schedule is the
  whole run's at every step, and the second chunk's example stream goes on
  where the first stopped (not from the start again)."""
  base, _ = sweep.config_from_flags("classifier", tiny_task)
  features = str(tmp_path / "features")
  common = dict(do_train=True, do_eval=True, learning_rate=3e-3,
                cache_dir=features, log_every_n_steps=1)
  whole_dir, chunk_dir = str(tmp_path / "one"), str(tmp_path / "chunks")
  whole = classifier.run(sweep.trial_config(base, {}, whole_dir, **common))
  first = classifier.run(sweep.trial_config(base, {}, chunk_dir,
                                            train_to_step=8, **common))
  assert first["eval"]["global_step"] == 8 and first["num_train_steps"] == 24
  assert runtime.checkpoint_step(chunk_dir) == 8

  (train_file,) = [os.path.join(features, n) for n in os.listdir(features)
                   if n.startswith("train-")]
  input_fn = input_pipeline.file_based_input_fn_builder(
      [train_file], classifier.name_to_features(16), is_training=True,
      drop_remainder=True, seed=1)
  steps, resumed_fn = runtime.train_chunk(input_fn, chunk_dir, 24, 16)
  assert steps == 16
  assert _batches(resumed_fn, 8) == _batches(input_fn, 16)[8:]
  assert runtime.train_chunk(input_fn, chunk_dir, 24, None) == (24, input_fn)
  assert runtime.train_chunk(input_fn, str(tmp_path / "new"), 24, 30) == (
      24, input_fn)

  last = classifier.run(sweep.trial_config(base, {}, chunk_dir,
                                           train_to_step=100, **common))
  assert last["eval"]["global_step"] == whole["eval"]["global_step"] == 24
  lr_whole = plots.read_scalars(whole_dir)["learning_rate"]
  lr_chunks = plots.read_scalars(chunk_dir)["learning_rate"]
  assert list(lr_chunks[0]) == list(lr_whole[0]) == list(range(1, 25))
  np.testing.assert_allclose(lr_chunks[1], lr_whole[1], rtol=1e-6)
  # The head's fixed dropout draws new masks in a new session, so the two
  # runs are close but not bit-identical after step 8.
  assert abs(last["eval"]["eval_loss"] - whole["eval"]["eval_loss"]) < 0.05


# ------------------------------------------------------------- real sweeps


def _checkpoint_mtimes(sweep_dir):
  out = {}
  for root, _, names in os.walk(sweep_dir):
    for name in names:
      if name.startswith("model.ckpt"):
        path = os.path.join(root, name)
        out[path] = os.path.getmtime(path)
  return out


def test_tiny_sweep_stops_bad_trial_and_resumes(tmp_path, tiny_task,
                                                monkeypatch):
  """lr 3e-3 learns, lr 1e-7 does not: the bandit rule stops the second at
  its first evaluation (step 8 of 16). The sweep is interrupted in the middle
  of the first trial; started again it continues that trial from its
  checkpoint (the chunk to step 16 only), and a third start trains nothing."""
  calls = []
  real_run = classifier.run

  def counting_run(cfg, *args, **kwargs):
    calls.append((os.path.basename(cfg.output_dir), cfg.train_to_step))
    if interrupt_at and len(calls) == interrupt_at:
      raise KeyboardInterrupt
    return real_run(cfg, *args, **kwargs)

  monkeypatch.setattr(classifier, "run", counting_run)
  spec = sweep.SweepSpec(
      sweep_dir=str(tmp_path / "sweep"), base_flags=tiny_task,
      space=["learning_rate=choice:3e-3,1e-7", "num_train_epochs=2"],
      search="grid", num_trials=0,
      metric="eval_loss", early_stopping="bandit", slack=0.05,
      eval_every_steps=8)

  interrupt_at = 2
  with pytest.raises(KeyboardInterrupt):
    sweep.run_sweep(spec)
  state = sweep.load_state(spec.sweep_dir)
  assert [t["status"] for t in state["trials"]] == ["running", "pending"]
  assert [p["step"] for p in state["trials"][0]["curve"]] == [8]

  interrupt_at = None
  del calls[:]
  state = sweep.run_sweep(spec)
  assert calls == [("trial-000", 16), ("trial-001", 8)]
  good, bad = state["trials"]
  assert good["status"] == "completed" and good["steps"] == 16
  assert [p["step"] for p in good["curve"]] == [8, 16]
  assert bad["status"] == "stopped" and bad["steps"] == 8
  assert "slack" in bad["reason"]
  assert bad["curve"][0]["value"] > max(p["value"] for p in good["curve"])
  summary = state["summary"]
  assert summary["best_trial"] == "trial-000"
  assert summary["best_checkpoint"].endswith("trial-000/model.ckpt-16")
  assert (summary["steps_trained"], summary["steps_planned"],
          summary["steps_saved"]) == (24, 32, 8)
  assert summary["estimated_seconds_saved"] > 0
  for name in ("curves", "metric_vs_learning_rate"):
    assert open(summary["plots"][name], "rb").read(4) == b"\x89PNG"
  stored = json.load(open(os.path.join(spec.sweep_dir, "sweep.json")))
  assert stored["summary"]["steps_saved"] == 8
  table = sweep.format_table(state)
  assert "stopped@8" in table and "trial-000 *" in table

  mtimes = _checkpoint_mtimes(spec.sweep_dir)
  assert mtimes
  del calls[:]
  again = sweep.run_sweep(spec)
  assert calls == []  # no trial trained or evaluated again
  assert _checkpoint_mtimes(spec.sweep_dir) == mtimes
  assert again["summary"]["best_trial"] == "trial-000"

  # A different spec is refused instead of mixing two sweeps' trials.
  with pytest.raises(ValueError, match="different sweep.*seed"):
    sweep.run_sweep(sweep.SweepSpec(**dict(vars(spec), seed=5)))


def test_cli_with_subprocess_trials(tmp_path, tiny_task):
  """run_sweep.py with the base flags after `--`, the trial run as a
  `python run_classifier.py ... --train_to_step=8` subprocess."""
  sweep_dir = str(tmp_path / "cli")
  cmd = [sys.executable, os.path.join(ROOT, "run_sweep.py"),
         "--sweep_dir=" + sweep_dir, "--subprocess", "--search=grid",
         "--num_trials=0", "--space=learning_rate=choice:2e-3",
         "--space=num_train_epochs=choice:1", "--eval_every_steps=8",
         "--metric=eval_accuracy", "--"] + tiny_task
  proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  state = json.load(open(os.path.join(sweep_dir, "sweep.json")))
  (trial,) = state["trials"]
  assert trial["status"] == "completed" and trial["planned_steps"] == 8
  assert [p["step"] for p in trial["curve"]] == [8]
  assert 0.0 <= trial["curve"][-1]["value"] <= 1.0
  log = open(os.path.join(trial["output_dir"], "trial.log")).read()
  assert "--train_to_step=8" in log and "--learning_rate=0.002" in log
  assert "INIT_FROM_CKPT" not in log and "examples/sec" in log
  assert "| trial-000 * | 0.002 | 1 |" in proc.stdout
  assert tf.train.latest_checkpoint(trial["output_dir"]).endswith("-8")


def test_squad_sweep_in_process(tmp_path, tiny_vocab_file):
  data = make_squad(str(tmp_path / "train.json"), n_paragraphs=4)
  spec = sweep.SweepSpec(
      sweep_dir=str(tmp_path / "squad_sweep"), task="squad",
      base_flags=["--vocab_file=" + tiny_vocab_file,
                  "--bert_config_file=" + write_config(tmp_path / "c.json"),
                  "--train_file=" + data, "--predict_file=" + data,
                  "--max_seq_length=48", "--doc_stride=16",
                  "--max_query_length=8", "--train_batch_size=4",
                  "--num_train_epochs=2", "--random_seed=0",
                  "--predict_batch_size=8", "--log_every_n_steps=100"],
      space=["learning_rate=choice:3e-3"], search="grid", num_trials=0,
      eval_every_steps=1, make_plots=False)
  state = sweep.run_sweep(spec)
  (trial,) = state["trials"]
  assert state["spec"]["metric"] == "f1" and state["spec"]["maximize"]
  assert trial["status"] == "completed", trial["error"]
  assert [p["step"] for p in trial["curve"]] == [1, 2]
  assert "exact_match" in trial["metrics"]


class FakeLauncher(object):
  """Evaluates a synthetic curve instead of training: accuracy rises with
  the step at a rate set by the learning rate; a trial listed in `fail`
  raises on its first chunk."""

  def __init__(self, fail=()):
    self.fail = set(fail)
    self.calls = []

  def describe(self):
    return "fake"

  def run_chunk(self, params, output_dir, train_to_step):
    self.calls.append((os.path.basename(output_dir), train_to_step))
    lr = params["learning_rate"]
    if lr in self.fail:
      raise RuntimeError("out of memory (simulated)")
    value = 0.5 + 0.4 * min(1.0, lr * 1e4) * train_to_step / 100
    return {"metrics": {"eval_accuracy": value, "eval_loss": 1 - value},
            "global_step": train_to_step, "num_train_steps": None}


def test_sweep_loop_failures_median_stopping_and_retry(tmp_path, tiny_task):
  """The whole loop without training: a failing trial is recorded and the
  sweep goes on; the median rule stops the slow learners at their first
  evaluation once two peers have reached it (the second trial, with one
  peer, runs to the end); --retry_failed runs the failed trial again."""
  spec = sweep.SweepSpec(
      sweep_dir=str(tmp_path / "fake"), base_flags=tiny_task,
      space=["learning_rate=choice:1e-4,5e-5,3e-6,2e-5,1e-6",
             "num_train_epochs=12.5"],  # 64 / 8 * 12.5 = 100 steps
      search="grid", num_trials=0, early_stopping="median", min_peers=2,
      eval_every_steps=30, make_plots=False)
  launcher = FakeLauncher(fail={2e-5})
  state = sweep.run_sweep(spec, launcher=launcher)
  status = [(t["params"]["learning_rate"], t["status"], t["steps"])
            for t in state["trials"]]
  assert status == [(1e-4, "completed", 100), (5e-5, "completed", 100),
                    (3e-6, "stopped", 30), (2e-5, "failed", 0),
                    (1e-6, "stopped", 30)]
  assert [s for _, s in launcher.calls[:4]] == [30, 60, 90, 100]
  assert "out of memory" in state["trials"][3]["error"]
  assert state["trials"][2]["reason"].startswith("best 0.5036 is worse")
  s = state["summary"]
  assert (s["completed"], s["stopped"], s["failed"]) == (2, 2, 1)
  assert (s["steps_trained"], s["steps_planned"], s["steps_saved"]) == (
      260, 400, 140)
  assert s["best_trial"] == "trial-000" and s["best_metric"] == pytest.approx(
      0.9)

  launcher = FakeLauncher()
  again = sweep.run_sweep(spec, launcher=launcher)
  assert launcher.calls == []  # failed trials are left alone by default
  retry = sweep.run_sweep(sweep.SweepSpec(**dict(vars(spec),
                                                 retry_failed=True)),
                          launcher=launcher)
  # It runs now, and at step 30 its 0.524 is below the median 0.532 of the
  # four others' running averages (0.62, 0.56, 0.5036, 0.5012).
  assert launcher.calls == [("trial-003", 30)]
  assert retry["trials"][3]["status"] == "stopped"
  assert retry["trials"][3]["error"] is None
  assert again["summary"]["failed"] == 1 and retry["summary"]["failed"] == 0


def _horovod_ready():
  if not sweep.find_horovodrun():
    return False
  try:
    import horovod.tensorflow  # pylint: disable=g-import-not-at-top,unused-import
  except ImportError:
    return False
  return True


@pytest.mark.skipif(not _horovod_ready(),
                    reason="needs horovodrun and horovod.tensorflow")
def test_horovod_trial(tmp_path, tiny_task):
  """--horovod_np=2: the trial runs as `horovodrun -np 2 python
  run_classifier.py ... --use_horovod`; the planned steps count both
  processes' batches (64 / (8 x 2) x 3 = 12), as the driver does."""
  spec = sweep.SweepSpec(
      sweep_dir=str(tmp_path / "hvd"), base_flags=tiny_task,
      space=["learning_rate=2e-3"], search="grid", num_trials=0,
      horovod_np=2, make_plots=False)
  state = sweep.run_sweep(spec)
  (trial,) = state["trials"]
  assert trial["status"] == "completed", trial["error"]
  assert trial["planned_steps"] == trial["steps"] == 12
  assert state["launcher"] == "horovodrun -np 2"
  log = open(os.path.join(trial["output_dir"], "trial.log")).read()
  assert "-np 2" in log and "--use_horovod" in log


def test_processor_settings_are_run_classifiers():
  from bert_tf.tasks import glue  # pylint: disable=g-import-not-at-top
  assert set(f.name for f in dataclasses.fields(
      classifier.GenericTaskSettings)) == set(glue.PROCESSOR_FLAG_DEFAULTS)


def test_help_lists_the_sweeps_flags():
  """`run_sweep.py --help` (not only --helpfull) lists the sweep's flags."""
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  proc = subprocess.run([sys.executable, "run_sweep.py", "--help"], cwd=root,
                        capture_output=True, text=True, timeout=120)
  assert "Try --helpfull" in proc.stdout, proc.stderr[-2000:]
  listed = set(re.findall(r"^\s+--(?:\[no\])?(\w+)", proc.stdout, re.M))
  assert {"sweep_dir", "space", "search", "num_trials", "metric",
          "early_stopping", "eval_every_steps"} <= listed, sorted(listed)

"""bert_tf.plots: PNGs of loss, learning rate and eval metrics from events."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from bert_tf import plots
from bert_tf.tasks import classifier
from test_classifier import write_mrpc_like
from test_classifier import write_tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

NUM_TRAIN, BATCH, EPOCHS, WARMUP, EVERY, LR = 32, 8, 3.0, 0.25, 2, 1e-3
STEPS = int(NUM_TRAIN / BATCH * EPOCHS)  # 12
WARMUP_STEPS = int(STEPS * WARMUP)  # 3


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory):
  """A tiny MRPC-like run: 12 steps, summaries every 2, one evaluation."""
  tmp = tmp_path_factory.mktemp("plots_run")
  vocab = tmp / "vocab.txt"
  from conftest import TINY_VOCAB  # pylint: disable=g-import-not-at-top
  vocab.write_text("\n".join(dict.fromkeys(TINY_VOCAB)) + "\n")
  write_mrpc_like(str(tmp / "data"), NUM_TRAIN, 8, 2)
  out = str(tmp / "out")
  classifier.run(classifier.ClassifierConfig(
      task_name="MRPC", data_dir=str(tmp / "data"),
      bert_config_file=write_tiny_config(tmp / "bert_config.json"),
      output_dir=out, vocab_file=str(vocab), max_seq_length=32,
      do_train=True, do_eval=True, train_batch_size=BATCH,
      num_train_epochs=EPOCHS, warmup_proportion=WARMUP, learning_rate=LR,
      save_checkpoints_steps=100, random_seed=2, log_every_n_steps=EVERY))
  return out


def _schedule(step):
  """The reference's schedule, written out independently of the library."""
  if step < WARMUP_STEPS:
    return LR * step / WARMUP_STEPS
  return LR * (1.0 - min(step, STEPS) / STEPS)


def _assert_png(path):
  with open(path, "rb") as f:
    data = f.read()
  assert data.startswith(PNG_SIGNATURE), path
  assert len(data) > 5000, (path, len(data))
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  image = plt.imread(path)
  assert image.ndim == 3 and image.shape[0] >= 300 and image.shape[1] >= 500
  assert image.std() > 0.01  # not a blank canvas


def test_plots_written_and_valid(trained_dir, tmp_path):
  out = tmp_path / "pngs"
  written = plots.make_plots(trained_dir, str(out))
  assert set(written) == {"loss", "learning_rate", "eval_metrics",
                          "throughput"}
  for path in written.values():
    assert os.path.dirname(path) == str(out)
    _assert_png(path)
  assert sorted(os.listdir(out)) == sorted(
      os.path.basename(p) for p in written.values())  # no temporary files


def test_series_match_the_logged_steps(trained_dir):
  runs = plots.read_model_dir(trained_dir)
  assert set(runs) == {"train", "eval"}
  train = runs["train"]
  tag = plots.loss_tag(train)
  # The classifier head's "loss" scope makes Estimator's tag "loss_1", as in
  # the reference.
  assert tag in ("loss", "loss_1")
  steps, losses = train[tag]
  # Summaries after step 1 and every EVERY steps: 1, 3, 5, ..., 11.
  assert list(steps) == list(range(1, STEPS + 1, EVERY))
  assert np.all(np.isfinite(losses)) and np.all(losses > 0)

  # Read back independently with TensorBoard's own reader.
  from tensorboard.backend.event_processing import event_accumulator  # pylint: disable=g-import-not-at-top
  acc = event_accumulator.EventAccumulator(trained_dir)
  acc.Reload()
  events = acc.Scalars(tag)
  assert [e.step for e in events] == list(steps)
  np.testing.assert_allclose([e.value for e in events], losses, rtol=1e-6)

  # The learning rate is summarised: the value logged at step s is the one
  # the update of step s used (global step s - 1 before the update).
  lr_steps, rates = train["learning_rate"]
  assert list(lr_steps) == list(steps)
  np.testing.assert_allclose(rates, [_schedule(s - 1) for s in lr_steps],
                             rtol=1e-5, atol=1e-9)

  evaluation = runs["eval"]
  assert list(evaluation["eval_accuracy"][0]) == [STEPS]
  assert 0.0 <= evaluation["eval_accuracy"][1][0] <= 1.0


def test_truncated_event_file_keeps_what_was_written(trained_dir, tmp_path):
  """A run killed while writing leaves a torn last record: still readable."""
  copy = tmp_path / "torn"
  copy.mkdir()
  event_file = plots.event_files(trained_dir)[-1]
  data = open(event_file, "rb").read()
  (copy / os.path.basename(event_file)).write_bytes(data[:-7])
  whole = plots.read_scalars(trained_dir)
  torn = plots.read_scalars(str(copy))
  tag = plots.loss_tag(whole)
  assert 0 < len(torn[tag][0]) <= len(whole[tag][0])
  n = len(torn[tag][0])
  np.testing.assert_array_equal(torn[tag][0], whole[tag][0][:n])


def test_restarted_run_last_value_wins(trained_dir, tmp_path):
  copy = tmp_path / "restarted"
  shutil.copytree(trained_dir, copy)
  first = plots.event_files(str(copy))[0]
  name = os.path.basename(first).split(".")
  name[3] = str(int(name[3]) + 1)  # a later file, as after a restart
  shutil.copy(first, copy / ".".join(name))
  runs = plots.read_model_dir(str(copy))
  tag = plots.loss_tag(runs["train"])
  steps = runs["train"][tag][0]
  assert list(steps) == sorted(set(steps))  # one value per step


def test_no_event_files_is_a_clear_error(tmp_path):
  with pytest.raises(FileNotFoundError) as e:
    plots.make_plots(str(tmp_path))
  assert str(e.value).startswith(
      "No TensorBoard event files (events.out.tfevents.*) in %s" % tmp_path)
  with pytest.raises(FileNotFoundError, match="Model directory not found"):
    plots.make_plots(str(tmp_path / "missing"))


def test_cli(trained_dir, tmp_path):
  out = tmp_path / "cli_pngs"
  proc = subprocess.run(
      [sys.executable, "-m", "bert_tf.plots", "--model_dir=" + trained_dir,
       "--output_dir=%s" % out], capture_output=True, text=True, timeout=120,
      cwd=ROOT)
  assert proc.returncode == 0, proc.stderr[-3000:]
  printed = dict(line.split(": ", 1) for line in proc.stdout.splitlines())
  assert set(printed) == {"loss", "learning_rate", "eval_metrics",
                          "throughput"}
  for path in printed.values():
    _assert_png(path)

  empty = tmp_path / "empty"
  empty.mkdir()
  proc = subprocess.run(
      [sys.executable, "-m", "bert_tf.plots", "--model_dir=%s" % empty],
      capture_output=True, text=True, timeout=120, cwd=ROOT)
  assert proc.returncode == 1
  assert "Traceback" not in proc.stderr
  assert proc.stderr.strip().splitlines()[-1].startswith(
      "error: No TensorBoard event files")
  assert not os.listdir(empty)

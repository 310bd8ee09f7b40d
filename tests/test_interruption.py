"""A run killed hard resumes from its last checkpoint; no file is half-written.

* run_pretraining.py is SIGKILLed after its first checkpoint (> step 0)
  appears, started again with the same command, resumes from the last
  checkpoint and ends at the same step as an uninterrupted run.
* A TFRecord or text result is never left half-written under its final name:
  the atomic writers are interrupted by an exception and by SIGKILL.
"""

import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import tensorflow.compat.v1 as tf

from bert_tf import input_pipeline
from test_pretraining_model import PRED
from test_pretraining_model import SEQ
from test_pretraining_model import tiny_config
from test_pretraining_model import write_pretraining_records

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NUM_STEPS = 300
SAVE_EVERY = 20


def _pretraining_command(data, config_file, out):
  return [sys.executable, os.path.join(ROOT, "run_pretraining.py"),
          "--input_file=" + data, "--output_dir=" + out, "--do_train=true",
          "--do_eval=true", "--bert_config_file=" + config_file,
          "--train_batch_size=8", "--max_seq_length=%d" % SEQ,
          "--max_predictions_per_seq=%d" % PRED,
          "--num_train_steps=%d" % NUM_STEPS, "--num_warmup_steps=10",
          "--learning_rate=1e-3", "--max_eval_steps=2",
          "--save_checkpoints_steps=%d" % SAVE_EVERY,
          "--log_every_n_steps=%d" % SAVE_EVERY, "--random_seed=7"]


def _checkpoint_steps(directory):
  if not os.path.isdir(directory):
    return []
  steps = []
  for name in os.listdir(directory):
    match = re.match(r"^model\.ckpt-(\d+)\.index$", name)
    if match:
      steps.append(int(match.group(1)))
  return sorted(steps)


def _final_step(out):
  text = open(os.path.join(out, "eval_results.txt")).read()
  return int(re.search(r"^global_step = (\d+)$", text, re.M).group(1))


def test_sigkill_then_resume(tmp_path):
  data = str(tmp_path / "train.tfrecord")
  write_pretraining_records(data, n=64)
  config_file = str(tmp_path / "bert_config.json")
  with open(config_file, "w") as f:
    f.write(tiny_config().to_json_string())
  killed_out = str(tmp_path / "killed")
  whole_out = str(tmp_path / "whole")
  command = _pretraining_command(data, config_file, killed_out)

  # The uninterrupted reference runs alongside.
  whole = subprocess.Popen(
      _pretraining_command(data, config_file, whole_out),
      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
  victim = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
  deadline = time.time() + 240
  try:
    while time.time() < deadline and victim.poll() is None:
      # The `checkpoint` state file is the commit point of a save (updated
      # after the checkpoint's files are complete): wait for it to name a
      # step > 0, not just for the files to appear.
      latest = (tf.train.latest_checkpoint(killed_out)
                if os.path.isdir(killed_out) else None)
      if latest and int(latest.rsplit("-", 1)[1]) > 0:
        break
      time.sleep(0.02)
    assert victim.poll() is None, "the run ended before it could be killed"
    victim.send_signal(signal.SIGKILL)
    victim.wait(30)
  finally:
    if victim.poll() is None:
      victim.kill()
  assert victim.returncode == -signal.SIGKILL
  saved = _checkpoint_steps(killed_out)
  last = tf.train.latest_checkpoint(killed_out)
  assert last is not None
  last_step = int(last.rsplit("-", 1)[1])
  assert 0 < last_step < NUM_STEPS, saved
  assert not os.path.exists(os.path.join(killed_out, "eval_results.txt"))

  # Started again with the same command: resumes, does not start over.
  again = subprocess.run(command, capture_output=True, text=True, timeout=300)
  assert again.returncode == 0, again.stderr[-3000:]
  log = again.stderr
  assert "resuming from %s" % last in log, log[-3000:]
  assert "Restoring parameters from %s" % last in log
  first_step = int(re.search(r"loss = [-\d.e]+, step = (\d+)", log).group(1))
  assert first_step == last_step > 0
  trained = int(re.search(r"train done: (\d+) steps", log).group(1))
  assert trained == NUM_STEPS - last_step

  whole_err = whole.communicate(timeout=300)[1]
  assert whole.returncode == 0, whole_err[-3000:]
  assert _final_step(killed_out) == _final_step(whole_out) == NUM_STEPS
  assert int(re.search(r"train done: (\d+) steps", whole_err).group(1)) == (
      NUM_STEPS)


def test_atomic_writers_on_exception(tmp_path):
  path = str(tmp_path / "data.tfrecord")
  input_pipeline.write_examples([b"old-1", b"old-2"], path)
  before = open(path, "rb").read()

  def failing():
    yield b"new-1"
    yield b"new-2"
    raise RuntimeError("disk on fire")

  with pytest.raises(RuntimeError, match="disk on fire"):
    input_pipeline.write_examples(failing(), [path, path + "-2"])
  assert open(path, "rb").read() == before
  assert not os.path.exists(path + "-2")
  assert sorted(os.listdir(tmp_path)) == ["data.tfrecord"]

  text_path = str(tmp_path / "eval_results.txt")
  input_pipeline.atomic_write_text(text_path, "eval_accuracy = 0.5\n")

  with pytest.raises(TypeError):  # fails after the temporary file is opened
    input_pipeline.atomic_write_text(text_path, 12345)
  assert open(text_path).read() == "eval_accuracy = 0.5\n"
  assert sorted(os.listdir(tmp_path)) == ["data.tfrecord", "eval_results.txt"]


def test_sigkill_while_writing(tmp_path):
  """A writer killed mid-file leaves the old file (or none) under its name."""
  path = str(tmp_path / "out.tfrecord")
  input_pipeline.write_examples([b"previous"], path)
  before = open(path, "rb").read()
  script = textwrap.dedent("""
      import sys, time
      from bert_tf import input_pipeline
      with input_pipeline.AtomicTFRecordWriter(sys.argv[1]) as writer:
        for i in range(100000):
          writer.write(b"record-%d" % i)
          if i == 1000:
            print("writing", flush=True)
            time.sleep(60)
      """)
  proc = subprocess.Popen([sys.executable, "-c", script, path],
                          stdout=subprocess.PIPE, text=True, cwd=ROOT)
  try:
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
  finally:
    if proc.poll() is None:
      proc.kill()
  assert open(path, "rb").read() == before
  assert input_pipeline.count_records(path) == 1
  leftovers = [n for n in os.listdir(tmp_path) if n != "out.tfrecord"]
  # Only a hidden temporary name can remain, never the final one.
  assert all(n.startswith(".out.tfrecord.tmp-") for n in leftovers), leftovers

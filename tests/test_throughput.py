"""runtime.ThroughputHook: warm-up skipped, JSON lines, summary, rank 0 only."""

import json
import time

import pytest
import tensorflow.compat.v1 as tf

from bert_tf import runtime


def _train(hook, steps, first_step_sleep=0.3, step_sleep=0.02):
  """Runs `steps` steps of a graph whose step sleeps; the first one longer."""
  with tf.Graph().as_default():
    global_step = tf.train.get_or_create_global_step()

    def sleep(step):
      time.sleep(first_step_sleep if step == 0 else step_sleep)
      return step

    slept = tf.py_func(sleep, [global_step.read_value()], tf.int64)
    with tf.control_dependencies([slept]):
      train_op = global_step.assign_add(1)
    with tf.train.MonitoredSession(hooks=[hook]) as sess:
      for _ in range(steps):
        sess.run(train_op)
  return hook.summary


def test_json_lines_warmup_and_summary(tmp_path):
  path = tmp_path / "throughput.jsonl"
  hook = runtime.ThroughputHook(8, total_steps=10, every_n_steps=3,
                                warmup_steps=2, json_path=str(path),
                                is_chief=True)
  summary = _train(hook, 10)
  records = [json.loads(line) for line in path.read_text().splitlines()]
  # Logged at local steps 3, 6, 9, then the summary.
  assert [r["event"] for r in records] == ["train"] * 3 + ["train_summary"]
  assert [r["global_step"] for r in records[:3]] == [3, 6, 9]
  assert records[-1] == summary
  assert summary["steps"] == 10 and summary["timed_steps"] == 8
  assert summary["warmup_steps"] == 2
  # The slow first (warm-up) step is left out: ~0.02 s per timed step.
  assert 0.015 < summary["step_time_sec"] < 0.15
  assert summary["examples_per_sec"] == pytest.approx(
      8 / summary["step_time_sec"], rel=0.01)
  assert summary["wall_sec"] >= 0.3
  for r in records[:3]:
    assert r["examples_per_sec"] == pytest.approx(8 / r["step_time_sec"],
                                                  rel=0.01)
    assert r["eta_sec"] == pytest.approx(
        (10 - r["global_step"]) * r["step_time_sec"], abs=0.1)
  # The first window holds only the one timed step after warm-up.
  assert records[0]["step_time_sec"] < 0.15


def test_only_rank_zero_writes_json(tmp_path, monkeypatch):
  path = tmp_path / "throughput.jsonl"
  monkeypatch.setenv("HOROVOD_RANK", "1")
  assert runtime.process_rank() == 1
  hook = runtime.ThroughputHook(4, every_n_steps=1, json_path=str(path))
  summary = _train(hook, 4, first_step_sleep=0.0)
  assert not path.exists()
  assert summary["timed_steps"] == 2  # still measured and returned
  monkeypatch.setenv("HOROVOD_RANK", "0")
  hook = runtime.ThroughputHook(4, every_n_steps=1, json_path=str(path))
  _train(hook, 4, first_step_sleep=0.0)
  assert len(path.read_text().splitlines()) == 3  # steps 3, 4 + summary


def test_all_warmup_gives_null_rates(tmp_path):
  path = tmp_path / "t.jsonl"
  hook = runtime.ThroughputHook(4, warmup_steps=5, json_path=str(path),
                                is_chief=True)
  summary = _train(hook, 3, first_step_sleep=0.0)
  assert summary["examples_per_sec"] is None
  assert summary["timed_steps"] == 0
  assert json.loads(path.read_text())["examples_per_sec"] is None


def _predict(hook, batches, global_step_value):
  """Runs `batches` session runs that leave a global step of
  `global_step_value` unchanged, as Estimator.predict does after restoring
  a checkpoint."""
  with tf.Graph().as_default():
    global_step = tf.train.get_or_create_global_step()
    init = global_step.assign(global_step_value)
    batch = tf.py_func(lambda: time.sleep(0.05) or 0, [], tf.int64,
                       stateful=True)
    with tf.train.MonitoredSession(
        session_creator=tf.train.ChiefSessionCreator(
            scaffold=tf.train.Scaffold(
                local_init_op=tf.group(tf.local_variables_initializer(),
                                       init))),
        hooks=[hook]) as sess:
      for _ in range(batches):
        sess.run(batch)
  return hook.summary


def test_prediction_counts_batches_not_the_checkpoint_step(tmp_path):
  # Prediction from a checkpoint at step 720: the log numbers the batches
  # of this call (1, 2, ...) against their total, not the global step.
  path = tmp_path / "predict.jsonl"
  hook = runtime.ThroughputHook(8, total_steps=6, every_n_steps=2,
                                warmup_steps=1, json_path=str(path),
                                name="predict", is_chief=True,
                                count_global_steps=False)
  summary = _predict(hook, 6, 720)
  records = [json.loads(line) for line in path.read_text().splitlines()]
  assert [r["global_step"] for r in records[:-1]] == [2, 4, 6]
  # ETA: the batches left times the step time (0.05 s per batch here, so
  # 4 x 0.05 s after batch 2; rounded to 0.1 s in the record).
  assert [r["eta_sec"] for r in records[:-1]][-1] == 0
  assert records[0]["eta_sec"] == pytest.approx(
      4 * records[0]["step_time_sec"], abs=0.06)
  assert records[0]["eta_sec"] >= 0.1
  assert summary["steps"] == 6
  # Training keeps numbering from the checkpoint's global step.
  path2 = tmp_path / "train.jsonl"
  hook = runtime.ThroughputHook(8, every_n_steps=2, warmup_steps=1,
                                json_path=str(path2), is_chief=True)
  _predict(hook, 2, 720)
  assert json.loads(path2.read_text().splitlines()[0])["global_step"] == 722

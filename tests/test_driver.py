"""The one training driver: evaluation during training, the best checkpoint,
early stopping, the accumulation step counts and the input-file checks."""

import dataclasses
import json
import os

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from bert_tf import driver
from bert_tf import input_pipeline
from bert_tf import runtime
from bert_tf.tasks import classifier
from bert_tf.tasks import pretrainer

from test_classifier import write_mrpc_like, write_tiny_config


def _recording(cfg):
  """A copy of `cfg` whose class records every setting that is read."""
  reads = set()
  names = {f.name for f in dataclasses.fields(cfg)}
  base = type(cfg)

  def getattribute(self, name):
    if name in names:
      reads.add(name)
    return base.__getattribute__(self, name)

  cls = type("Recording" + base.__name__, (base,),
             {"__getattribute__": getattribute})
  values = {f.name: base.__getattribute__(cfg, f.name)
            for f in dataclasses.fields(cfg)}
  return cls(**values), reads


def _task(tmp_path, vocab, **kw):
  data_dir = str(tmp_path / "data")
  write_mrpc_like(data_dir, n_train=48, n_dev=16, n_test=6)
  values = dict(
      task_name="MRPC", data_dir=data_dir,
      bert_config_file=write_tiny_config(tmp_path / "bert_config.json"),
      output_dir=str(tmp_path / "out"), vocab_file=vocab, max_seq_length=32,
      do_train=True, do_eval=True, train_batch_size=8, eval_batch_size=8,
      learning_rate=1e-3, num_train_epochs=3.0, random_seed=3,
      log_every_n_steps=1, save_checkpoints_steps=1000)
  values.update(kw)
  return classifier.ClassifierConfig(**values)


def test_eval_every_epoch_history_best_checkpoint_and_every_setting_read(
    tmp_path, tiny_vocab_file):
  cfg, reads = _recording(_task(
      tmp_path, tiny_vocab_file, eval_every_epochs=1.0, do_predict=True,
      keep_best_checkpoint_by="eval_accuracy", early_stopping_patience=5,
      export_dir=str(tmp_path / "export")))
  result = classifier.run(cfg)
  out = cfg.output_dir
  # 48 examples / batch 8 = 6 steps an epoch, 3 epochs: 3 evaluations.
  assert result["num_train_steps"] == 18
  history = driver.eval_history(out)
  assert [r["global_step"] for r in history] == [6, 12, 18]
  assert [r["epoch"] for r in history] == [1.0, 2.0, 3.0]
  assert result["eval_history"] == history
  for record in history:
    assert 0.0 <= record["metrics"]["eval_accuracy"] <= 1.0
    assert record["metrics"]["global_step"] == record["global_step"]
  # The best of the history is kept, with its checkpoint files.
  values = [r["metrics"]["eval_accuracy"] for r in history]
  best = result["best"]
  assert best["value"] == max(values)
  first_best = history[values.index(max(values))]["global_step"]
  assert best["global_step"] == first_best
  best_dir = os.path.join(out, driver.BEST_DIR)
  assert tf.io.gfile.exists(best["checkpoint"] + ".index")
  assert best["checkpoint"].startswith(best_dir)
  assert int(tf.train.load_variable(best["checkpoint"], "global_step")) == \
      first_best
  state = json.load(open(os.path.join(best_dir, driver.BEST_FILE)))
  assert state["best"]["global_step"] == first_best
  # Evaluation, prediction and export after training use the best one.
  assert result["eval"]["global_step"] == first_best
  assert result["eval"]["eval_accuracy"] == pytest.approx(max(values))
  assert "eval_accuracy" in open(os.path.join(out, "eval_results.txt")).read()
  assert len(open(result["predict_file"]).read().splitlines()) == 6
  assert os.path.isdir(result["export_path"])
  # Every setting of the script was read by the run, except those that only
  # apply with Horovod or float16 (read in distributed.py: checked there).
  unread = {f.name for f in dataclasses.fields(cfg)} - reads
  assert unread <= {"horovod_fp16_allreduce", "init_loss_scale"}, unread
  source = open(os.path.join(os.path.dirname(driver.__file__),
                             "distributed.py")).read()
  for name in unread:
    assert '_setting(self.cfg, "%s")' % name in source or \
        '_setting(cfg, "%s")' % name in source


def test_eval_every_steps_plots_history(tmp_path, tiny_vocab_file):
  from bert_tf import plots  # pylint: disable=g-import-not-at-top
  cfg = _task(tmp_path, tiny_vocab_file, eval_every_steps=4,
              num_train_epochs=2.0, do_eval=False)
  result = classifier.run(cfg)
  # 12 steps: evaluations at 4, 8 and the last step.
  assert [r["global_step"] for r in result["eval_history"]] == [4, 8, 12]
  assert "eval" not in result
  written = plots.plot_run(cfg.output_dir)
  assert "eval_history.png" in [os.path.basename(p) for p in written]


def test_early_stopping_after_patience(tmp_path, tiny_vocab_file):
  # A learning rate of 0 leaves the model unchanged: the first evaluation
  # is the best and every later one is no better.
  cfg = _task(tmp_path, tiny_vocab_file, learning_rate=0.0,
              eval_every_steps=3, keep_best_checkpoint_by="eval_loss",
              early_stopping_patience=2)
  result = classifier.run(cfg)
  assert result["stopped_early"] is True
  steps = [r["global_step"] for r in result["eval_history"]]
  assert steps == [3, 6, 9]
  assert runtime.checkpoint_step(cfg.output_dir) == 9 < 18
  assert result["best"]["global_step"] == 3
  # Started again, the run stays stopped.
  again = classifier.run(cfg)
  assert again["stopped_early"] is True
  assert runtime.checkpoint_step(cfg.output_dir) == 9


def test_throughput_counts_updates_with_accumulation(tmp_path,
                                                     tiny_vocab_file):
  cfg = _task(tmp_path, tiny_vocab_file, num_accumulation_steps=2,
              num_train_epochs=2.0, do_eval=False, train_batch_size=4)
  result = classifier.run(cfg)
  # 48 examples / (4 x 2) = 6 updates an epoch, 12 in all.
  assert result["num_train_steps"] == 12
  assert runtime.checkpoint_step(cfg.output_dir) == 12
  lines = [json.loads(l) for l in open(os.path.join(cfg.output_dir,
                                                      "throughput.jsonl"))]
  logged = [l for l in lines if l["event"] == "train"]
  assert [l["global_step"] for l in logged] == list(range(3, 13))
  assert logged[-1]["eta_sec"] == 0.0
  for l in logged:
    # The ETA is the updates left times the time of an update.
    assert l["eta_sec"] == pytest.approx(
        (12 - l["global_step"]) * l["step_time_sec"], abs=0.06)
  summary = result["train_summary"]
  assert summary["steps"] == 12 and summary["session_runs"] == 24


def test_chunk_resumes_at_the_right_record_with_accumulation(tmp_path):
  model_dir = str(tmp_path)
  with tf.Graph().as_default():
    step = tf.train.get_or_create_global_step()
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      sess.run(step.assign(3))
      tf.train.Saver().save(sess, os.path.join(model_dir, "model.ckpt"),
                            global_step=3)

  def input_fn(params):
    del params
    return tf.data.Dataset.range(100)

  first = []
  for k in (1, 2, 4):
    max_steps, fn = runtime.train_chunk(input_fn, model_dir, 10,
                                        train_to_step=5,
                                        num_accumulation_steps=k)
    assert max_steps == 5
    with tf.Graph().as_default():
      value = tf.data.make_one_shot_iterator(fn({})).get_next()
      with tf.Session() as sess:
        first.append(int(sess.run(value)))
  # 3 updates of k micro-batches each were consumed.
  assert first == [3, 6, 12]


def test_records_are_checked_before_training(tmp_path):
  spec = pretrainer.name_to_features(16, 4)
  text = tmp_path / "corpus.txt"
  text.write_text("This is a sentence.\nAnd another one.\n\nA new doc.\n")
  with pytest.raises(ValueError, match=r"corpus\.txt is not a TFRecord file"):
    input_pipeline.check_records(str(text), spec,
                                 produced_by="create_pretraining_data.py")
  # A TFRecord of other features (a classifier's) is named as such.
  other = str(tmp_path / "other.tfrecord")
  input_pipeline.write_examples([classifier.features_to_example(
      classifier.InputFeatures([1] * 16, [1] * 16, [0] * 16, 1))], other)
  with pytest.raises(ValueError, match="lacks? the feature 'masked_lm_ids'"):
    input_pipeline.check_records(other, spec)
  # The right features with another length.
  with pytest.raises(ValueError, match="'input_ids' has length 16, expected "
                     "32"):
    input_pipeline.check_records(other, classifier.name_to_features(32))
  # An empty file.
  empty = str(tmp_path / "empty.tfrecord")
  input_pipeline.write_examples([], empty)
  with pytest.raises(ValueError, match="holds no records"):
    input_pipeline.check_records(empty, spec)


def test_pretraining_on_a_text_file_is_refused(tmp_path):
  text = tmp_path / "corpus.txt"
  text.write_text("one sentence per line\n" * 20)
  config = write_tiny_config(tmp_path / "bert_config.json")
  cfg = pretrainer.PretrainingConfig(
      input_file=str(text), bert_config_file=config,
      output_dir=str(tmp_path / "out"), do_train=True, max_seq_length=32)
  with pytest.raises(ValueError, match="corpus.txt is not a TFRecord file "
                     r"\(written by create_pretraining_data.py\)"):
    pretrainer.run(cfg)


@pytest.mark.parametrize("kwargs, message", [
    (dict(eval_every_epochs=1.0, do_train=False,
          init_checkpoint="x"), "need --do_train"),
    (dict(keep_best_checkpoint_by="eval_accuracy"),
     "needs --eval_every_steps or --eval_every_epochs"),
    (dict(eval_every_steps=2, eval_every_epochs=1.0), "one of"),
    (dict(eval_every_steps=0), "must be >= 1"),
    (dict(eval_every_steps=2, train_to_step=4), "cannot be combined"),
    (dict(text_a_column="1"), "--text_a_column applies to "
     "--task_name=generic only"),
])
def test_settings_refused_with_their_names(tmp_path, tiny_vocab_file, kwargs,
                                           message):
  with pytest.raises(ValueError, match=message):
    classifier.run(_task(tmp_path, tiny_vocab_file, **kwargs))


def test_train_steps_formula():
  assert driver.train_steps(3668, 3.0, 32) == 343
  assert driver.train_steps(10, 0.01, 32) == 1
  assert driver.evaluation_steps(_FakeRun(18, 6.0, epochs=1.0)) == [6, 12, 18]
  assert driver.evaluation_steps(_FakeRun(10, 3.0, every=4)) == [4, 8, 10]
  assert driver.evaluation_steps(_FakeRun(10, 3.0, every=10)) == [10]
  assert driver.evaluation_steps(_FakeRun(10, 3.0)) == []
  assert np.isclose(driver.evaluation_steps(
      _FakeRun(7, 2.5, epochs=1.0))[-1], 7)
  # Epochs shorter than a step: never an evaluation at step 0 (before any
  # checkpoint), e.g. 16 examples, batch 32, 3 epochs.
  assert driver.evaluation_steps(_FakeRun(1, 0.5, epochs=1.0)) == [1]
  assert driver.evaluation_steps(_FakeRun(3, 0.4, epochs=1.0)) == [1, 2, 3]


class _FakeRun(object):

  def __init__(self, total, steps_per_epoch, every=None, epochs=None):
    self.num_train_steps = total
    self.steps_per_epoch = steps_per_epoch
    self.cfg = type("Cfg", (), {"eval_every_steps": every,
                                "eval_every_epochs": epochs})()

"""Horovod data parallelism (`bert_tf.distributed`), on CPU with Gloo.

The two-process tests start `horovodrun --gloo -np 2 -H localhost:2` on
tests/horovod_worker.py and compare what the ranks saved with each other and
with one process trained here on the same examples. They skip, saying why,
only when Horovod cannot be imported; the other tests need no Horovod.
"""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from bert_tf import distributed
from bert_tf import input_pipeline
from bert_tf import modeling
from bert_tf import optimization
from bert_tf import tfrecord
from bert_tf.heads import ClassificationHead
from bert_tf.tasks import classifier
from test_classifier import write_mrpc_like
from test_classifier import write_tiny_config

TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)
HOROVODRUN = os.path.join(os.path.dirname(sys.executable), "horovodrun")
SEQ = 16


def _require_horovod():
  try:
    # pylint: disable-next=g-import-not-at-top,unused-import
    import horovod.tensorflow
  except ImportError as e:
    pytest.skip("needs Horovod built with TensorFlow (`make horovod`); it "
                "cannot be imported: %s" % e)
  assert os.path.exists(HOROVODRUN), (
      "Horovod imports but %s is missing" % HOROVODRUN)


def _horovodrun(mode, args, cwd, timeout=240):
  """Runs horovod_worker.py MODE on 2 local ranks; returns its output."""
  cmd = [HOROVODRUN, "--gloo", "-np", "2", "-H", "localhost:2",
         sys.executable, os.path.join(TESTS, "horovod_worker.py"), mode,
         json.dumps(args)]
  env = dict(os.environ, PYTHONPATH=os.pathsep.join(
      [TESTS, ROOT, os.environ.get("PYTHONPATH", "")]))
  proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                        cwd=str(cwd), env=env)
  output = proc.stdout + proc.stderr
  assert proc.returncode == 0, output[-6000:]
  return output


def _load(path):
  with np.load(path) as f:
    return {k: f[k] for k in f.files}


def _write_step_fixture(tmp_path, num_records):
  """A dropout-free tiny config, a checkpoint of every trainable variable
  (encoder and 2-label head) and `num_records` random classification
  records; returns (config_file, checkpoint, record_file)."""
  config_file = write_tiny_config(tmp_path / "bert_config.json",
                                  hidden_dropout_prob=0.0,
                                  attention_probs_dropout_prob=0.0)
  bert_config = modeling.BertConfig.from_json_file(config_file)
  ckpt = str(tmp_path / "init" / "model.ckpt")
  with tf.Graph().as_default():
    tf.set_random_seed(3)
    input_ids = tf.placeholder(tf.int32, [None, SEQ])
    model = modeling.BertModel(bert_config, is_training=False,
                               input_ids=input_ids)
    ClassificationHead(2)(bert_config, model,
                          {"label_ids": tf.placeholder(tf.int32, [None])},
                          False)
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      tf.train.Saver(tf.trainable_variables()).save(sess, ckpt)
  rng = np.random.RandomState(11)
  features = []
  for _ in range(num_records):
    length = rng.randint(4, SEQ + 1)
    ids = [2] + list(rng.randint(5, 100, size=length - 2)) + [3]
    features.append(classifier.InputFeatures(
        input_ids=ids + [0] * (SEQ - length),
        input_mask=[1] * length + [0] * (SEQ - length),
        segment_ids=[0] * SEQ, label_id=int(rng.randint(2))))
  record_file = str(tmp_path / "train.tf_record")
  input_pipeline.write_examples(
      (classifier.features_to_example(f) for f in features), record_file)
  return config_file, ckpt, record_file


def _trainable_and_slots(values):
  return {k: v for k, v in values.items()
          if k.startswith(("bert/", "output_")) and "accum_grad" not in k}


def test_two_ranks_equal_one_process_with_the_combined_batch(tmp_path):
  """One update on 2 ranks x batch b == one update of one process on the 2b
  examples; with 2 accumulation steps, 2 updates on 2 ranks x 2 micro-steps
  x b == 2 updates of one process with batch 4b. Every variable (weights,
  Adam moments, global step) agrees, and the two ranks are bitwise equal.
  With --horovod_fp16_allreduce the gradients travel as float16: the ranks
  still agree bitwise, and the moments agree to float16 precision."""
  _require_horovod()
  b, updates_k2 = 4, 2
  num_records = 2 * 2 * b * updates_k2
  config_file, ckpt, record_file = _write_step_fixture(tmp_path,
                                                       num_records)
  common = dict(config_file=config_file, init_checkpoint=ckpt,
                record_file=record_file, seq_length=SEQ, learning_rate=1e-3)
  runs = {
      "k1": dict(common, batch_size=b, accumulation=1, updates=1),
      "k2": dict(common, batch_size=b, accumulation=2, updates=updates_k2),
      "k1_fp16": dict(common, batch_size=b, accumulation=1, updates=1,
                      fp16_allreduce=True),
  }
  reference_of = {"k1": "k1", "k2": "k2", "k1_fp16": "k1"}
  # Relative tolerance of the first moments (linear in the gradient).
  m_rtol = {"k1": 1e-5, "k2": 1e-5, "k1_fp16": 2e-3}
  hvd_args, ref_args = [], []
  for name, args in runs.items():
    out = tmp_path / ("hvd_" + name)
    out.mkdir()
    hvd_args.append(dict(args, use_horovod=True, out_dir=str(out),
                         model_dir=str(out / "model")))
  for rank, name in enumerate(("k1", "k2")):
    # The one-process reference (batch 2 * k * b, no accumulation, no
    # Horovod), run by one rank alone, beside the other's, after the
    # two-rank runs.
    ref_out = tmp_path / ("ref_" + name)
    ref_out.mkdir()
    ref_args.append(dict(
        runs[name], use_horovod=False, out_dir=str(ref_out),
        model_dir=str(ref_out / "model"), only_rank=rank,
        batch_size=2 * runs[name]["accumulation"] * b, accumulation=1))
  _horovodrun("step", hvd_args + ref_args, tmp_path)

  for name, args in runs.items():
    out = tmp_path / ("hvd_" + name)
    rank0 = _load(out / "vars_rank0.npz")
    rank1 = _load(out / "vars_rank1.npz")
    assert sorted(rank0) == sorted(rank1)
    for key in rank0:
      assert np.array_equal(rank0[key], rank1[key]), (name, key)

    ref = _load(tmp_path / ("ref_" + reference_of[name]) / "vars_rank0.npz")
    assert int(ref["global_step"]) == int(rank0["global_step"]) == (
        args["updates"])
    compared = _trainable_and_slots(ref)
    assert len(compared) > 3 * 20 and set(compared) <= set(rank0)
    init = dict(tf.train.list_variables(ckpt))
    moved = 0
    for key, want in compared.items():
      if name == "k1_fp16" and "/adam_" in key:
        continue  # Adam's moments of tiny gradients: see the check below
      np.testing.assert_allclose(rank0[key], want, rtol=1e-5,
                                 atol=1e-6 if name != "k1_fp16" else 2e-5,
                                 err_msg="%s %s" % (name, key))
      if key in init:
        moved += int(not np.allclose(
            tf.train.load_variable(ckpt, key), want, atol=1e-5))
    assert moved > 20, "training barely moved the weights"
    # The first moments are linear in the averaged gradient: a sum over
    # ranks (2x) or one rank's own gradient would be far off.
    # Float32 rounding of the gradient sums (2 x b against 2b examples)
    # moves elements near zero by about 1e-5 of the largest: the absolute
    # tolerance is 1e-4 of it, far below those errors (of the order of m).
    m = ref["output_weights/adam_m"]
    assert np.abs(m).max() > 1e-4
    np.testing.assert_allclose(rank0["output_weights/adam_m"], m,
                               rtol=m_rtol[name],
                               atol=1e-4 * np.abs(m).max())

    meta0 = json.load(open(out / "meta_rank0.json"))
    meta1 = json.load(open(out / "meta_rank1.json"))
    assert meta0["model_dir"] == str(out / "model")
    assert any(f.startswith("model.ckpt-%d." % args["updates"])
               for f in os.listdir(out / "model"))
    # Rank 1 trained in a private scratch model_dir, wrote no checkpoint
    # there, and the scratch directory is gone after the run.
    assert meta1["model_dir"] != meta0["model_dir"]
    assert not [f for f in meta1["model_dir_files"]
                if f == "checkpoint" or ".ckpt" in f]
    assert not os.path.exists(meta1["model_dir"])

  # float16 on the wire did change the gradients (a little).
  fp32 = _load(tmp_path / "hvd_k1" / "vars_rank0.npz")
  fp16 = _load(tmp_path / "hvd_k1_fp16" / "vars_rank0.npz")
  assert not np.array_equal(fp32["output_weights/adam_m"],
                            fp16["output_weights/adam_m"])


def test_classifier_run_on_two_ranks(tmp_path, tiny_vocab_file):
  """classifier.run (run_classifier.py's library call) with use_horovod on 2
  ranks: identical final variables on both, the schedule counts updates of
  the effective batch, the learning rate is scaled when asked, and only
  rank 0 writes checkpoints, summaries, caches and results."""
  _require_horovod()
  data_dir = str(tmp_path / "data")
  write_mrpc_like(data_dir, n_train=32, n_dev=8, n_test=4)
  out = tmp_path / "out"
  cfg = dict(task_name="MRPC", data_dir=data_dir,
             bert_config_file=write_tiny_config(tmp_path / "cfg.json"),
             output_dir=str(out), vocab_file=tiny_vocab_file,
             max_seq_length=24, do_train=True, do_eval=True,
             train_batch_size=4, eval_batch_size=8, learning_rate=1e-3,
             num_train_epochs=1.0, warmup_proportion=0.0, random_seed=5,
             log_every_n_steps=1, use_horovod=True,
             scale_learning_rate_by_workers=True)
  output = _horovodrun("classifier", dict(cfg=cfg, out_dir=str(tmp_path)),
                       tmp_path)

  rank0 = _load(tmp_path / "vars_rank0.npz")
  rank1 = _load(tmp_path / "vars_rank1.npz")
  assert sorted(rank0) == sorted(rank1) and len(rank0) > 50
  for key in rank0:
    assert np.array_equal(rank0[key], rank1[key]), key
  # 32 examples / (4 per rank x 2 ranks) = 4 updates for one epoch.
  assert int(rank0["global_step"]) == 4
  meta0 = json.load(open(tmp_path / "meta_rank0.json"))
  meta1 = json.load(open(tmp_path / "meta_rank1.json"))
  assert meta0["num_train_steps"] == meta1["num_train_steps"] == 4
  assert meta0["eval"]["global_step"] == 4 and "eval" in meta0["result_keys"]
  assert meta1["eval"] is None and "eval" not in meta1["result_keys"]
  assert meta0["model_dir"] == str(out)
  assert meta1["model_dir"] != str(out)
  assert not [f for f in meta1["model_dir_files"]
              if f == "checkpoint" or ".ckpt" in f or "events" in f]

  files = sorted(os.listdir(out))
  assert tf.train.latest_checkpoint(str(out)).endswith("model.ckpt-4")
  assert "eval_results.txt" in files
  assert len([f for f in files if f.startswith("train-")]) == 1
  assert not [f for f in files if "tmp" in f]
  summaries = [json.loads(line) for line in open(out / "throughput.jsonl")]
  assert len([s for s in summaries if s["event"] == "train_summary"]) == 1
  # The learning rate is scaled by the 2 workers (no warmup: the rate of
  # the first update is the peak rate).
  rates = {}
  for path in tf.io.gfile.glob(str(out / "events.out.tfevents.*")):
    for event in tf.train.summary_iterator(path):
      for value in event.summary.value:
        if value.tag == "learning_rate":
          rates[event.step] = value.simple_value
  assert rates and rates[min(rates)] == pytest.approx(2e-3)
  assert "Learning rate: 0.002 = 0.001 x 2 processes" in output
  assert "Effective batch size: 4 per process x 1 accumulation step(s) x 2 " \
      "process(es) = 8 examples per update." in output


def test_evaluation_during_training_and_early_stop_on_two_ranks(
    tmp_path, tiny_vocab_file):
  """--eval_every_steps under Horovod: rank 0 evaluates between chunks, both
  ranks stop together when early stopping says so (a learning rate of 0:
  no evaluation improves on the first)."""
  _require_horovod()
  data_dir = str(tmp_path / "data")
  write_mrpc_like(data_dir, n_train=32, n_dev=8, n_test=4)
  out = tmp_path / "out"
  cfg = dict(task_name="MRPC", data_dir=data_dir,
             bert_config_file=write_tiny_config(tmp_path / "cfg.json"),
             output_dir=str(out), vocab_file=tiny_vocab_file,
             max_seq_length=24, do_train=True, train_batch_size=4,
             eval_batch_size=8, learning_rate=0.0, num_train_epochs=3.0,
             random_seed=5, use_horovod=True, eval_every_steps=2,
             keep_best_checkpoint_by="eval_loss", early_stopping_patience=1)
  _horovodrun("classifier", dict(cfg=cfg, out_dir=str(tmp_path)), tmp_path)
  meta0 = json.load(open(tmp_path / "meta_rank0.json"))
  meta1 = json.load(open(tmp_path / "meta_rank1.json"))
  # 32 / (4 x 2) = 4 updates an epoch, 12 planned; stopped after step 4.
  assert meta0["num_train_steps"] == meta1["num_train_steps"] == 12
  assert meta0["stopped_early"] is True and meta1["stopped_early"] is True
  assert meta0["history_steps"] == [2, 4]
  rank0 = _load(tmp_path / "vars_rank0.npz")
  rank1 = _load(tmp_path / "vars_rank1.npz")
  assert int(rank0["global_step"]) == int(rank1["global_step"]) == 4
  assert tf.train.latest_checkpoint(str(out)).endswith("model.ckpt-4")
  assert os.path.exists(out / "best_checkpoint" / "best.json")


def test_gradient_reducer_runs_once_per_applied_update():
  """With accumulation the reducer sees the accumulated mean, once every k
  micro-steps (here it is an identity that records its runs and input)."""
  with tf.Graph().as_default(), tf.Session() as sess:
    x = tf.placeholder(tf.float32, [None])
    w = tf.get_variable("w", initializer=np.float32(2.0))
    loss = tf.reduce_mean(tf.square(w * x))
    runs = tf.get_variable("reducer_runs", initializer=0, trainable=False)
    seen = tf.get_variable("reducer_seen", initializer=np.float32(0.0),
                           trainable=False)

    def reducer(grads):
      with tf.control_dependencies([runs.assign_add(1),
                                    seen.assign(grads[0])]):
        return [tf.identity(g) for g in grads]

    train_op = optimization.create_optimizer(
        loss, 0.1, 100, 0, False, num_accumulation_steps=3,
        gradient_reducer=reducer)
    sess.run(tf.global_variables_initializer())
    xs = [1.0, 2.0, 3.0]
    for i in range(6):
      sess.run(train_op, {x: [xs[i % 3]]})
      assert sess.run(runs) == (i + 1) // 3
      if i == 2:
        # d/dw (w x)^2 = 2 w x^2, at w = 2 averaged over x = 1, 2, 3.
        assert sess.run(seen) == pytest.approx(4.0 * 14.0 / 3.0)
    assert sess.run(tf.train.get_global_step()) == 2


def _read_ids(input_fn, batch_size, count):
  with tf.Graph().as_default(), tf.Session() as sess:
    batch = tf.data.make_one_shot_iterator(
        input_fn({"batch_size": batch_size})).get_next()
    ids = []
    while len(ids) < count:
      ids.extend(int(i) for i in sess.run(batch["input_ids"])[:, 0])
    return ids[:count]


@pytest.mark.parametrize("num_files,num_shards", [(4, 2), (3, 4), (1, 2)])
def test_training_shards_partition_the_records(tmp_path, num_files,
                                               num_shards):
  """By file with at least as many files as workers, else by record; either
  way each record goes to exactly one worker (shuffled, seed None)."""
  num_records = 24
  files = [str(tmp_path / ("part-%d.tf_record" % i)) for i in range(num_files)]
  input_pipeline.write_examples(
      (input_pipeline.make_example(
          {"input_ids": input_pipeline.create_int_feature([i, 0])})
       for i in range(num_records)), files)
  spec = {"input_ids": tf.io.FixedLenFeature([2], tf.int64)}
  shards = []
  for index in range(num_shards):
    input_fn = input_pipeline.file_based_input_fn_builder(
        files, spec, is_training=True, drop_remainder=False,
        num_shards=num_shards, shard_index=index, shuffle_buffer=100)
    shards.append(_read_ids(input_fn, 1, num_records // num_shards))
  everything = sorted(i for shard in shards for i in shard)
  assert everything == list(range(num_records)), shards


class _FakeHorovod(object):
  """The few `horovod.tensorflow` calls `Context` makes, for rank logic."""

  def __init__(self, rank, size, local_rank, local_size):
    self._numbers = (rank, size, local_rank, local_size)

  def rank(self):
    return self._numbers[0]

  def size(self):
    return self._numbers[1]

  def local_rank(self):
    return self._numbers[2]

  def local_size(self):
    return self._numbers[3]

  class Compression(object):
    none = "none"
    fp16 = "fp16"

  class BroadcastGlobalVariablesHook(tf.train.SessionRunHook):

    def __init__(self, root_rank):
      self.root_rank = root_rank


def test_context_for_a_non_chief_rank(tmp_path):
  cfg = classifier.ClassifierConfig(
      task_name="mrpc", data_dir="d", bert_config_file="c",
      output_dir=str(tmp_path / "out"), train_batch_size=8,
      learning_rate=1e-4, num_accumulation_steps=4, use_horovod=True)
  dist = distributed.Context(cfg, _FakeHorovod(3, 4, 1, 2))
  assert not dist.is_chief
  assert dist.effective_batch_size(8) == 8 * 4 * 4
  assert dist.learning_rate(1e-4) == 1e-4  # not scaled unless asked
  assert dist.input_shard(10) == dict(num_shards=4, shard_index=3)
  # One process alone reads every file (no collective, no counting).
  alone = distributed.Context(cfg, None)
  assert alone.input_share(["x", "y"]) == (["x", "y"], dict(
      num_shards=1, shard_index=0))
  config = dist.session_config()
  cpus = len(os.sched_getaffinity(0))
  assert config.intra_op_parallelism_threads == max(1, cpus // 2)
  assert config.inter_op_parallelism_threads >= 1
  assert config.gpu_options.visible_device_list == ""  # no GPU here
  hooks = dist.training_hooks()
  assert [type(h).__name__ for h in hooks] == ["BroadcastGlobalVariablesHook"]
  assert hooks[0].root_rank == 0
  kwargs = dist.optimizer_kwargs()
  assert kwargs["num_accumulation_steps"] == 4 and callable(
      kwargs["gradient_reducer"]) and "init_loss_scale" not in kwargs

  def model_fn(features, labels, mode, params):
    del features, labels, mode, params

  estimator = dist.estimator(cfg, model_fn, train_batch_size=8)
  run_config = estimator.config
  assert run_config.model_dir.startswith(dist.scratch_dir())
  assert run_config.save_checkpoints_steps is None
  assert run_config.save_checkpoints_secs is None
  assert not run_config.save_summary_steps
  assert not os.path.exists(cfg.output_dir)

  scaled = distributed.Context(
      classifier.ClassifierConfig(**dict(
          vars(cfg), scale_learning_rate_by_workers=True)),
      _FakeHorovod(0, 4, 0, 2))
  assert scaled.is_chief and scaled.learning_rate(1e-4) == pytest.approx(4e-4)
  assert scaled.model_dir(cfg.output_dir) == cfg.output_dir


def test_settings_that_cannot_go_together():
  with pytest.raises(ValueError, match="use_fp16.*use_bf16"):
    distributed.setup(distributed.ScaleConfig(use_fp16=True, use_bf16=True))
  with pytest.raises(ValueError, match="num_accumulation_steps"):
    distributed.setup(distributed.ScaleConfig(num_accumulation_steps=0))
  with pytest.raises(ValueError, match="optimizer_type"):
    distributed.setup(distributed.ScaleConfig(optimizer_type="sgd"))
  with pytest.raises(ValueError, match="use_tpu"):
    distributed.setup(classifier.ClassifierConfig(
        task_name="t", data_dir="d", bert_config_file="c", output_dir="o",
        use_tpu=True, use_horovod=True))


def test_use_horovod_without_horovod_is_a_clear_error(tmp_path,
                                                      monkeypatch):
  """In the library: HorovodUnavailableError saying how to install it; from
  the script: one `error:` line and exit status 1 (Horovod hidden by a
  package that fails to import, as if it were not installed)."""
  monkeypatch.setitem(sys.modules, "horovod", None)
  monkeypatch.setitem(sys.modules, "horovod.tensorflow", None)
  with pytest.raises(distributed.HorovodUnavailableError,
                     match="make horovod"):
    distributed.setup(distributed.ScaleConfig(use_horovod=True))

  fake = tmp_path / "fake" / "horovod"
  fake.mkdir(parents=True)
  (fake / "__init__.py").write_text(
      "raise ImportError('No module named horovod (simulated)')\n")
  data_dir = str(tmp_path / "data")
  write_mrpc_like(data_dir, 8, 4, 2)
  cmd = [sys.executable, os.path.join(ROOT, "run_classifier.py"),
         "--use_horovod", "--task_name=MRPC", "--do_train",
         "--data_dir=" + data_dir, "--vocab_file=" + str(tmp_path / "v.txt"),
         "--bert_config_file=" + write_tiny_config(tmp_path / "c.json"),
         "--output_dir=" + str(tmp_path / "out")]
  env = dict(os.environ, PYTHONPATH=str(tmp_path / "fake"))
  proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                        env=env)
  assert proc.returncode == 1, proc.stderr[-3000:]
  last = proc.stderr.strip().splitlines()[-1]
  assert last.startswith("error: --use_horovod needs Horovod"), last
  assert "Traceback" not in proc.stderr

  # Horovod is imported only for --use_horovod.
  probe = ("import sys, run_classifier, run_pretraining; "
           "from bert_tf.tasks import squad_runner; "
           "from bert_tf import distributed; "
           "distributed.setup(distributed.ScaleConfig(), log=False); "
           "print(sorted(m for m in sys.modules if 'horovod' in m))")
  proc = subprocess.run([sys.executable, "-c", probe], capture_output=True,
                        text=True, timeout=120, cwd=ROOT)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert proc.stdout.strip().splitlines()[-1] == "[]"


def _hvd_pretraining(tmp_path, pattern, out, config_file, np_=2, steps=6,
                     seq=64, pred=10, timeout=240):
  """horovodrun --gloo -np N on run_pretraining.py (the script, as a user
  runs it); returns the CompletedProcess."""
  cmd = [HOROVODRUN, "--gloo", "-np", str(np_), "-H", "localhost:%d" % np_
         ] + _hvd_pretraining_args(pattern, out, config_file, steps, seq, pred)
  return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                        cwd=str(tmp_path))


def _hvd_pretraining_args(pattern, out, config_file, steps=6, seq=64,
                          pred=10):
  return [sys.executable, os.path.join(ROOT, "run_pretraining.py"),
          "--use_horovod", "--input_file=" + pattern, "--do_train=True",
          "--train_batch_size=4", "--num_train_steps=%d" % steps,
          "--num_warmup_steps=1", "--bert_config_file=" + config_file,
          "--output_dir=" + str(out), "--max_seq_length=%d" % seq,
          "--max_predictions_per_seq=%d" % pred, "--save_checkpoints_steps=3"]


def test_reference_command_lines_on_two_ranks(tmp_path, corpus_dir,
                                              minilm_dir):
  """create_pretraining_data.py with two outputs, then 2 ranks on
  '*.tfrecord': both files usable, both ranks train; a pattern of one full
  and one empty file is shared by record; one record for two ranks stops
  both before the first step, naming the rank and the file."""
  _require_horovod()
  created = subprocess.run([
      sys.executable, os.path.join(ROOT, "create_pretraining_data.py"),
      "--input_file=%s" % (corpus_dir / "sample_text.txt"),
      "--output_file=a.tfrecord,b.tfrecord",
      "--vocab_file=%s" % (minilm_dir / "vocab.txt"), "--max_seq_length=64",
      "--max_predictions_per_seq=10", "--dupe_factor=20"],
      capture_output=True, text=True, cwd=str(tmp_path), timeout=120)
  assert created.returncode == 0, created.stderr[-3000:]
  counts = [input_pipeline.count_records(str(tmp_path / n))
            for n in ("a.tfrecord", "b.tfrecord")]
  assert min(counts) > 100 and abs(counts[0] - counts[1]) <= 1, counts
  config_file = write_tiny_config(tmp_path / "bert_config.json",
                                  vocab_size=30522)

  run = _hvd_pretraining(tmp_path, str(tmp_path / "*.tfrecord"),
                         tmp_path / "out", config_file)
  output = run.stdout + run.stderr
  assert run.returncode == 0, output[-6000:]
  assert "Input share of rank 1: %d record(s) in b.tfrecord" % counts[1] in (
      output)
  assert output.count("Loss for final step") == 2
  assert tf.train.latest_checkpoint(str(tmp_path / "out")).endswith("-6")

  # The same over Open MPI (Horovod built with MPI: `make horovod` where
  # mpicxx is installed, as .ci/run does).
  mpirun = shutil.which("mpirun")
  import horovod.tensorflow as hvd  # pylint: disable=g-import-not-at-top
  if mpirun and hvd.mpi_built():
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1",
               OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    run = subprocess.run(
        [mpirun, "-np", "2", "-H", "localhost:2", "-bind-to", "none",
         "-map-by", "slot", "-x", "PATH"] + _hvd_pretraining_args(
             str(tmp_path / "*.tfrecord"), tmp_path / "out_mpi",
             config_file), capture_output=True, text=True, timeout=240,
        cwd=str(tmp_path), env=env)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-6000:]
    assert output.count("Loss for final step") == 2
    assert tf.train.latest_checkpoint(str(tmp_path / "out_mpi")).endswith(
        "-6")
  elif os.environ.get("CI", "").lower() == "true":
    pytest.fail("CI must run the mpirun test: Horovod was built without MPI "
                "or mpirun is missing")

  # One file with every record, one empty (what the old writer made).
  (tmp_path / "uneven").mkdir()
  os.rename(tmp_path / "a.tfrecord", tmp_path / "uneven" / "a.tfrecord")
  (tmp_path / "uneven" / "b.tfrecord").write_bytes(b"")
  run = _hvd_pretraining(tmp_path, str(tmp_path / "uneven" / "*.tfrecord"),
                         tmp_path / "out2", config_file)
  output = run.stdout + run.stderr
  assert run.returncode == 0, output[-6000:]
  half = counts[0] // 2
  assert ("Input share of rank 1: %d record(s), every 2-th of 2 file(s)" %
          (counts[0] - half)) in output
  assert output.count("Loss for final step") == 2

  # Fewer records than ranks: both ranks stop before training, same message.
  (tmp_path / "one").mkdir()
  with open(tmp_path / "one" / "x.tfrecord", "wb") as f:
    f.write(next(iter(tfrecord.iter_framed_records(
        str(tmp_path / "uneven" / "a.tfrecord")))))
  run = _hvd_pretraining(tmp_path, str(tmp_path / "one" / "*.tfrecord"),
                         tmp_path / "out3", config_file, timeout=120)
  output = run.stdout + run.stderr
  assert run.returncode != 0
  message = ("1 training record(s) in 1 file(s) for 2 processes: rank(s) 1 "
             "would get none")
  assert "[0]<stderr>:error: Training input" in output and "[1]<stderr>:" \
      "error: Training input" in output, output[-4000:]
  assert output.count(message) == 2 and "x.tfrecord (1)" in output
  assert "Loss for final step" not in output
  assert not os.path.exists(tmp_path / "out3" / "checkpoint")

"""Classifier pipeline: features, caching, and a tiny train/eval/predict/export."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from bert_tf import distributed
from bert_tf import driver
from bert_tf import heads
from bert_tf import input_pipeline
from bert_tf import modeling
from bert_tf import tokenization
from bert_tf.tasks import classifier
from bert_tf.tasks import glue

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_tiny_config(path, vocab_size=120, **kw):
  values = dict(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2,
                num_attention_heads=4, intermediate_size=37,
                hidden_act="gelu", hidden_dropout_prob=0.1,
                attention_probs_dropout_prob=0.1, max_position_embeddings=64,
                type_vocab_size=2, initializer_range=0.02)
  values.update(kw)
  with open(path, "w") as f:
    json.dump(values, f)
  return str(path)


def write_mrpc_like(data_dir, n_train=48, n_dev=16, n_test=8, seed=0):
  """An MRPC-layout data set whose label is 'sentence b repeats sentence a'."""
  rng = np.random.RandomState(seed)
  words = ["the", "dog", "cat", "runs", "ran", "fast", "slow", "good", "bad",
           "movie", "film", "great", "man", "woman", "city", "house", "car"]
  os.makedirs(data_dir, exist_ok=True)

  def rows(n):
    out = []
    for i in range(n):
      a = " ".join(rng.choice(words, size=rng.randint(3, 8)))
      label = int(rng.rand() < 0.5)
      b = a if label else " ".join(rng.choice(words, size=rng.randint(3, 8)))
      out.append((label, i, i + 1000, a, b))
    return out

  header = "\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
  for name, n in (("train.tsv", n_train), ("dev.tsv", n_dev)):
    with open(os.path.join(data_dir, name), "w", encoding="utf-8") as f:
      f.write(header)
      for r in rows(n):
        f.write("%d\t%d\t%d\t%s\t%s\n" % r)
  with open(os.path.join(data_dir, "test.tsv"), "w", encoding="utf-8") as f:
    f.write("index\t#1 ID\t#2 ID\t#1 String\t#2 String\n")
    for r in rows(n_test):
      f.write("%d\t%d\t%d\t%s\t%s\n" % (r[1], r[1], r[2], r[3], r[4]))


def test_convert_single_example_by_hand(tiny_vocab_file):
  tokenizer = tokenization.FullTokenizer(tiny_vocab_file, do_lower_case=True)
  vocab = tokenizer.vocab
  example = glue.InputExample("t-1", "The dog runs.", "A cat ran fast!", "1")
  f = classifier.convert_single_example(0, example, ["0", "1"], 12, tokenizer)
  expected_tokens = ["[CLS]", "the", "dog", "runs", ".", "[SEP]", "a", "cat",
                     "ran", "fast", "!", "[SEP]"]
  assert f.input_ids == [vocab[t] for t in expected_tokens]
  assert f.segment_ids == [0] * 6 + [1] * 6
  assert f.input_mask == [1] * 12
  assert f.label_id == 1
  # Longest-first truncation into 10 - 3 = 7 tokens; on a tie b loses:
  # (a=4, b=5) -> (4, 4) -> (4, 3).
  f = classifier.convert_single_example(0, example, ["0", "1"], 10, tokenizer)
  assert f.input_ids == [vocab[t] for t in
                         ["[CLS]", "the", "dog", "runs", ".", "[SEP]", "a",
                          "cat", "ran", "[SEP]"]]
  assert f.segment_ids == [0] * 6 + [1] * 4
  # Single sentence with padding.
  single = glue.InputExample("t-2", "hello world", None, "0")
  f = classifier.convert_single_example(0, single, ["0", "1"], 8, tokenizer)
  assert f.input_ids == [vocab["[CLS]"], vocab["hello"], vocab["world"],
                         vocab["[SEP]"], 0, 0, 0, 0]
  assert f.input_mask == [1, 1, 1, 1, 0, 0, 0, 0]
  assert f.segment_ids == [0] * 8
  with pytest.raises(ValueError, match="label 'maybe' is not in"):
    classifier.convert_single_example(
        0, glue.InputExample("t-3", "a", None, "maybe"), ["0", "1"], 8,
        tokenizer)
  pad = classifier.convert_single_example(0, glue.PaddingInputExample(),
                                          ["0", "1"], 8, tokenizer)
  assert pad.is_real_example is False and pad.input_mask == [0] * 8


def test_classifier_dropout_setting():
  """The head's dropout is the reference's 0.1 unless the bert_config gives
  `classifier_dropout` (0: the training loss is the evaluation loss)."""
  pooled = np.random.RandomState(0).randn(64, 16).astype(np.float32)
  labels = np.arange(64) % 2

  def train_and_eval_loss(config):
    with tf.Graph().as_default():
      tf.set_random_seed(1)
      losses = []
      for is_training in (True, False):
        with tf.variable_scope("head", reuse=tf.AUTO_REUSE):
          losses.append(heads.create_classification_output(
              config, tf.constant(pooled), tf.constant(labels), 2,
              is_training)[0])
      with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        return sess.run(losses)

  train, evaluation = train_and_eval_loss(modeling.BertConfig(vocab_size=10))
  assert abs(train - evaluation) > 1e-4
  train, evaluation = train_and_eval_loss(modeling.BertConfig.from_dict(
      dict(vocab_size=10, classifier_dropout=0.0)))
  assert train == evaluation


def _features(tmp_path, examples, vocab_file, max_seq_length=16,
              do_lower_case=True, labels=("0", "1")):
  """The feature file the classifier task writes through the driver."""
  cfg = classifier.ClassifierConfig(
      task_name="mrpc", data_dir=str(tmp_path), output_dir=str(tmp_path),
      bert_config_file="unused", vocab_file=vocab_file,
      max_seq_length=max_seq_length, do_lower_case=do_lower_case)
  task = classifier.ClassifierTask()
  task.label_list = list(labels)
  context = driver.RunContext(task, cfg, modeling.BertConfig(vocab_size=120),
                              distributed.setup(cfg, log=False))
  context.make_tokenizer()
  return task.features(context, examples, "train")


def test_feature_cache_reused_and_invalidated(tmp_path, tiny_vocab_file):
  examples = [glue.InputExample("x-%d" % i, "the dog", "a cat", "1")
              for i in range(5)]
  p1 = _features(tmp_path, examples, tiny_vocab_file)
  mtime = os.path.getmtime(p1)
  p2 = _features(tmp_path, examples, tiny_vocab_file)
  assert p1 == p2 and os.path.getmtime(p2) == mtime
  # Any change that alters the features gives a different file.
  p3 = _features(tmp_path, examples, tiny_vocab_file, max_seq_length=24)
  changed = list(examples)
  changed[2] = glue.InputExample("x-2", "the cat", "a cat", "1")
  p4 = _features(tmp_path, changed, tiny_vocab_file)
  p5 = _features(tmp_path, examples, tiny_vocab_file, do_lower_case=False)
  p6 = _features(tmp_path, examples, tiny_vocab_file, labels=("1", "0"))
  assert len({p1, p3, p4, p5, p6}) == 5
  records = list(input_pipeline.iter_records(p1))
  assert len(records) == 5
  parsed = tf.train.Example.FromString(records[0]).features.feature
  assert sorted(parsed.keys()) == ["input_ids", "input_mask",
                                   "is_real_example", "label_ids",
                                   "segment_ids"]
  # No temporary files are left behind.
  assert not [n for n in os.listdir(tmp_path) if "tmp" in n]


def test_tiny_train_eval_predict_export(tmp_path, tiny_vocab_file):
  data_dir = str(tmp_path / "data")
  write_mrpc_like(data_dir)
  config_file = write_tiny_config(tmp_path / "bert_config.json")
  out = str(tmp_path / "out")
  cfg = classifier.ClassifierConfig(
      task_name="MRPC", data_dir=data_dir, bert_config_file=config_file,
      output_dir=out, vocab_file=tiny_vocab_file, max_seq_length=32,
      do_train=True, do_eval=True, do_predict=True, train_batch_size=8,
      eval_batch_size=5, predict_batch_size=3, learning_rate=1e-3,
      num_train_epochs=2.0, save_checkpoints_steps=100, random_seed=1,
      export_dir=str(tmp_path / "export"), log_every_n_steps=4)
  result = classifier.run(cfg)
  assert tf.train.latest_checkpoint(out).endswith("model.ckpt-12")
  metrics = result["eval"]
  for key in ("eval_accuracy", "eval_loss", "f1", "global_step", "loss"):
    assert key in metrics
  text = open(os.path.join(out, "eval_results.txt")).read()
  assert "eval_accuracy = " in text and "f1 = " in text
  rows = open(os.path.join(out, "test_results.tsv")).read().splitlines()
  assert len(rows) == 8
  probs = np.array([[float(x) for x in r.split("\t")] for r in rows])
  np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
  assert result["train_summary"]["examples_per_sec"] > 0
  assert os.path.exists(os.path.join(out, "throughput.jsonl"))

  # The SavedModel answers with the same probabilities as estimator.predict.
  export_path = result["export_path"]
  tokenizer = tokenization.FullTokenizer(tiny_vocab_file, True)
  examples = glue.get_processor("mrpc").get_test_examples(data_dir)
  feats = [classifier.convert_single_example(i, e, ["0", "1"], 32, tokenizer)
           for i, e in enumerate(examples)]
  with tf.Graph().as_default(), tf.Session() as sess:
    meta = tf.saved_model.loader.load(sess, ["serve"], export_path)
    sig = meta.signature_def["serving_default"]
    feed = {sig.inputs[k].name: np.array([getattr(f, attr) for f in feats])
            for k, attr in (("input_ids", "input_ids"),
                            ("input_mask", "input_mask"),
                            ("segment_ids", "segment_ids"))}
    served = sess.run(sig.outputs["probabilities"].name, feed)
  np.testing.assert_allclose(served, probs, atol=1e-5)

  # Eval-only from the trained output_dir, with the cache reused.
  cfg2 = classifier.ClassifierConfig(
      task_name="mrpc", data_dir=data_dir, bert_config_file=config_file,
      output_dir=out, vocab_file=tiny_vocab_file, max_seq_length=32,
      do_eval=True, eval_batch_size=7)
  again = classifier.run(cfg2)
  assert again["eval"]["eval_accuracy"] == pytest.approx(
      metrics["eval_accuracy"])
  assert again["eval"]["f1"] == pytest.approx(metrics["f1"])


def test_config_errors(tmp_path, tiny_vocab_file):
  data_dir = str(tmp_path / "data")
  write_mrpc_like(data_dir, 8, 4, 2)
  config_file = write_tiny_config(tmp_path / "bert_config.json")
  base = dict(task_name="mrpc", data_dir=data_dir,
              bert_config_file=config_file, output_dir=str(tmp_path / "o"),
              vocab_file=tiny_vocab_file, max_seq_length=32)
  with pytest.raises(ValueError, match="do_train"):
    classifier.run(classifier.ClassifierConfig(**base))
  with pytest.raises(ValueError, match="max_position_embeddings"):
    classifier.run(classifier.ClassifierConfig(
        **dict(base, max_seq_length=65), do_train=True))
  with pytest.raises(ValueError, match="needs a model"):
    classifier.run(classifier.ClassifierConfig(**base, do_predict=True))
  with pytest.raises(ValueError, match="do_lower_case"):
    classifier.run(classifier.ClassifierConfig(
        **dict(base, do_lower_case=False), do_train=True,
        init_checkpoint="/x/uncased_L-12_H-768_A-12/bert_model.ckpt"))
  with pytest.raises(ValueError, match="Unknown task|known tasks"):
    classifier.run(classifier.ClassifierConfig(
        **dict(base, task_name="nosuch"), do_train=True))


def test_script_reference_command_line(tmp_path, tiny_vocab_file):
  """run_classifier.py with the reference's flags (paths changed)."""
  data_dir = str(tmp_path / "data")
  write_mrpc_like(data_dir, 16, 8, 4)
  config_file = write_tiny_config(tmp_path / "bert_config.json")
  out = str(tmp_path / "out")
  cmd = [sys.executable, os.path.join(ROOT, "run_classifier.py"),
         "--task_name=MRPC", "--do_train=true", "--do_eval=true",
         "--data_dir=" + data_dir, "--vocab_file=" + tiny_vocab_file,
         "--bert_config_file=" + config_file, "--max_seq_length=32",
         "--train_batch_size=8", "--learning_rate=2e-5",
         "--num_train_epochs=1.0", "--output_dir=" + out]
  proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert os.path.exists(os.path.join(out, "eval_results.txt"))
  assert "examples/sec" in proc.stderr


def test_reference_mrpc_command_on_shared_data(tmp_path, minilm_dir, glue_dir):
  """The reference's MRPC command line (paths changed) on the real data and a
  converted real checkpoint: trains, evaluates, predicts and exports. Kept
  cheap with a short sequence length and a sliver of an epoch."""
  from bert_tf import convert  # pylint: disable=g-import-not-at-top
  bert_dir = str(tmp_path / "uncased_minilm")
  convert.hf_to_google(str(minilm_dir), bert_dir)
  out = str(tmp_path / "mrpc_output")
  cmd = [sys.executable, os.path.join(ROOT, "run_classifier.py"),
         "--task_name=MRPC", "--do_train=true", "--do_eval=true",
         "--do_predict=true", "--data_dir=%s" % os.path.join(glue_dir, "MRPC"),
         "--vocab_file=%s/vocab.txt" % bert_dir,
         "--bert_config_file=%s/bert_config.json" % bert_dir,
         "--init_checkpoint=%s/bert_model.ckpt" % bert_dir,
         "--max_seq_length=24", "--train_batch_size=32",
         "--learning_rate=2e-5", "--num_train_epochs=0.01",
         "--eval_batch_size=64", "--predict_batch_size=64",
         "--output_dir=" + out, "--export_dir=" + str(tmp_path / "export")]
  proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "*INIT_FROM_CKPT*" in proc.stderr
  results = dict(line.split(" = ") for line in open(
      os.path.join(out, "eval_results.txt")).read().splitlines())
  assert int(results["global_step"]) == 1
  assert 0.0 <= float(results["eval_accuracy"]) <= 1.0 and "f1" in results
  rows = open(os.path.join(out, "test_results.tsv")).read().splitlines()
  assert len(rows) == 1725  # MRPC's GLUE test set
  assert len(os.listdir(tmp_path / "export")) == 1

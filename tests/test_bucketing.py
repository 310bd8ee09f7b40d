"""Length bucketing: batching by length, trimming, and fixed-padding results."""

import os

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from bert_tf import input_pipeline
from bert_tf.tasks import classifier

from test_classifier import write_mrpc_like, write_tiny_config  # pylint: disable=g-bad-import-order

SEQ = 64


def _write_records(path, lengths):
  """Classification records whose label_ids is the example's index."""
  rng = np.random.RandomState(3)
  examples = []
  for i, n in enumerate(lengths):
    ids = list(rng.randint(5, 100, size=n)) + [0] * (SEQ - n)
    mask = [1] * n + [0] * (SEQ - n)
    seg = [0] * (n // 2) + [1] * (n - n // 2) + [0] * (SEQ - n)
    f = {"input_ids": input_pipeline.create_int_feature(ids),
         "input_mask": input_pipeline.create_int_feature(mask),
         "segment_ids": input_pipeline.create_int_feature(seg),
         "label_ids": input_pipeline.create_int_feature([i]),
         "is_real_example": input_pipeline.create_int_feature([1])}
    examples.append(input_pipeline.make_example(f))
  input_pipeline.write_examples(examples, path)


def _batches(input_fn, batch_size, n):
  with tf.Graph().as_default():
    d = input_fn({"batch_size": batch_size})
    nxt = tf.data.make_one_shot_iterator(d).get_next()
    out = []
    with tf.Session() as sess:
      try:
        while len(out) < n:
          out.append(sess.run(nxt))
      except tf.errors.OutOfRangeError:
        pass
  return out


def _assert_same_batches_trimmed(fixed, trimmed):
  """Each trimmed batch holds the fixed batch's examples, cut to the longest
  one; only padding was cut."""
  for f, b in zip(fixed, trimmed):
    np.testing.assert_array_equal(b["label_ids"], f["label_ids"])
    width = b["input_ids"].shape[1]
    assert width == f["input_mask"].sum(1).max()
    for name in ("input_ids", "input_mask", "segment_ids"):
      np.testing.assert_array_equal(b[name], f[name][:, :width])
      assert not f[name][:, width:].any()


def test_training_batches_one_bucket_and_trimmed(tmp_path):
  lengths = np.random.RandomState(0).randint(3, SEQ + 1, size=60)
  path = str(tmp_path / "train.tf_record")
  _write_records(path, lengths)
  spec = classifier.name_to_features(SEQ)
  # One fixed-padding batch of all 60 examples, in order.
  full = _batches(input_pipeline.file_based_input_fn_builder(
      [path], spec, is_training=False, drop_remainder=False), 60, 1)[0]
  assert full["input_ids"].shape == (60, SEQ)
  np.testing.assert_array_equal(full["label_ids"], np.arange(60))

  for multiple in (1, 8):
    input_fn = input_pipeline.file_based_input_fn_builder(
        [path], spec, is_training=True, drop_remainder=True, seed=7,
        use_bucketing=True, length_multiple=multiple)
    batches = _batches(input_fn, 4, 40)
    assert len(batches) == 40
    bounds = input_pipeline.default_bucket_boundaries(SEQ)
    assert bounds == [9, 17, 25, 33, 41, 49, 57]
    seen = set()
    for b in batches:
      idx = b["label_ids"]
      assert idx.shape == (4,)
      real = lengths[idx]
      # Every member of a batch comes from one length bucket.
      buckets = {int(np.sum(np.array(bounds) <= n)) for n in real}
      assert len(buckets) == 1, real
      width = b["input_ids"].shape[1]
      expected = min(SEQ, -(-real.max() // multiple) * multiple)
      assert width == expected, (real, width)
      for name in ("input_ids", "input_mask", "segment_ids"):
        assert b[name].shape == (4, width)
        np.testing.assert_array_equal(b[name], full[name][idx, :width])
      np.testing.assert_array_equal(b["input_mask"].sum(1), real)
      seen.update(idx.tolist())
    # 40 batches of 4 from 60 shuffled, repeated examples reach most of them.
    assert len(seen) > 40


def test_one_bucket_keeps_the_fixed_padding_stream_and_trims(tmp_path):
  """A bucket width of at least the records' length: the training batches of
  fixed padding (same seed: same examples, same order), each trimmed."""
  lengths = np.random.RandomState(1).randint(3, SEQ + 1, size=50)
  path = str(tmp_path / "train.tf_record")
  _write_records(path, lengths)
  spec = classifier.name_to_features(SEQ)

  def stream(**kwargs):
    return _batches(input_pipeline.file_based_input_fn_builder(
        [path], spec, is_training=True, drop_remainder=True, seed=11,
        shuffle_buffer=0, **kwargs), 4, 30)

  fixed = stream()
  for width in (SEQ, 1000):
    trimmed = stream(use_bucketing=True, bucket_width=width, length_multiple=1)
    assert len(trimmed) == len(fixed) == 30
    _assert_same_batches_trimmed(fixed, trimmed)
  # Narrower buckets regroup the same stream by length.
  grouped = stream(use_bucketing=True, bucket_width=16, length_multiple=1)
  assert [list(b["label_ids"]) for b in grouped] != [
      list(f["label_ids"]) for f in fixed]
  for b in grouped:
    assert len({(n - 1) // 16 for n in b["input_mask"].sum(1)}) == 1
  assert input_pipeline.default_bucket_boundaries(SEQ, SEQ) == []
  assert input_pipeline.default_bucket_boundaries(SEQ, 16) == [17, 33, 49]
  with pytest.raises(ValueError, match="bucket_width"):
    input_pipeline.file_based_input_fn_builder(
        [path], spec, is_training=True, drop_remainder=True,
        use_bucketing=True, bucket_width=0)


def test_bucket_width_is_refused_without_bucketing(tmp_path, tiny_vocab_file):
  data_dir = str(tmp_path / "data")
  write_mrpc_like(data_dir, n_train=8, n_dev=4, n_test=4)
  config_file = write_tiny_config(tmp_path / "bert_config.json")
  for settings, message in (
      (dict(bucket_width=128), "applies with --use_bucketing"),
      (dict(bucket_width=0, use_bucketing=True), "bucket_width must be")):
    cfg = classifier.ClassifierConfig(
        task_name="mrpc", data_dir=data_dir, bert_config_file=config_file,
        vocab_file=tiny_vocab_file, output_dir=str(tmp_path / "out"),
        do_train=True, max_seq_length=32, **settings)
    with pytest.raises(ValueError, match=message):
      classifier.run(cfg)


def test_eval_keeps_order_and_matches_fixed_padding(tmp_path):
  lengths = [5, 9, 3, 30, 64, 12, 7, 7, 40, 2, 18]
  path = str(tmp_path / "eval.tf_record")
  _write_records(path, lengths)
  spec = classifier.name_to_features(SEQ)
  fixed = _batches(input_pipeline.file_based_input_fn_builder(
      [path], spec, is_training=False, drop_remainder=False), 4, 100)
  bucketed = _batches(input_pipeline.file_based_input_fn_builder(
      [path], spec, is_training=False, drop_remainder=False,
      use_bucketing=True, length_multiple=1), 4, 100)
  assert len(fixed) == len(bucketed) == 3
  _assert_same_batches_trimmed(fixed, bucketed)
  assert [b["input_ids"].shape[1] for b in bucketed] == [30, 64, 40]


def test_bad_spec_and_flag():
  with pytest.raises(ValueError, match="input_mask"):
    input_pipeline.file_based_input_fn_builder(
        [__file__], {"input_ids": tf.io.FixedLenFeature([8], tf.int64)},
        is_training=False, drop_remainder=False, use_bucketing=True)
  assert classifier.ClassifierConfig().use_bucketing is False


def _read_probs(path):
  with open(path) as f:
    return np.array([[float(x) for x in line.split("\t")]
                     for line in f.read().splitlines()])


def test_classifier_eval_predict_match_fixed_padding(tmp_path,
                                                     tiny_vocab_file):
  """A tiny model trained with bucketing; eval/predict both ways agree."""
  data_dir = str(tmp_path / "data")
  write_mrpc_like(data_dir, n_train=40, n_dev=13, n_test=11)
  config_file = write_tiny_config(tmp_path / "bert_config.json")
  out = str(tmp_path / "out")
  common = dict(task_name="mrpc", data_dir=data_dir,
                bert_config_file=config_file, output_dir=out,
                vocab_file=tiny_vocab_file, max_seq_length=48,
                eval_batch_size=4, predict_batch_size=3, random_seed=3)
  trained = classifier.run(classifier.ClassifierConfig(
      **common, do_train=True, train_batch_size=8, learning_rate=1e-3,
      num_train_epochs=1.0, use_bucketing=True, log_every_n_steps=2))
  assert trained["train_summary"]["steps"] == 5
  assert tf.train.latest_checkpoint(out).endswith("model.ckpt-5")

  results = {}
  for bucketing in (False, True):
    r = classifier.run(classifier.ClassifierConfig(
        **common, do_eval=True, do_predict=True, use_bucketing=bucketing))
    results[bucketing] = (r["eval"], _read_probs(r["predict_file"]))
  (ev_f, probs_f), (ev_b, probs_b) = results[False], results[True]
  assert probs_f.shape == (11, 2)
  np.testing.assert_allclose(probs_b, probs_f, rtol=0, atol=1e-5)
  assert ev_b["eval_loss"] == pytest.approx(ev_f["eval_loss"], abs=1e-5)
  assert ev_b["eval_accuracy"] == ev_f["eval_accuracy"]
  assert ev_b["f1"] == ev_f["f1"]
  # The texts are 3-7 words a side: the bucketed batches were really trimmed.
  lengths = []
  for rec in input_pipeline.iter_records(
      [os.path.join(out, n) for n in os.listdir(out)
       if n.startswith("predict-")][0]):
    mask = tf.train.Example.FromString(rec).features.feature["input_mask"]
    lengths.append(sum(mask.int64_list.value))
  assert max(lengths) < 48


def test_squad_predict_with_bucketing(tmp_path, tiny_vocab_file):
  """SQuAD: the same answers, and the same logits for every n-best span."""
  import json  # pylint: disable=g-import-not-at-top
  from bert_tf.tasks import squad_runner  # pylint: disable=g-import-not-at-top
  from test_squad_runner import make_squad, write_config  # pylint: disable=g-import-not-at-top
  data = make_squad(str(tmp_path / "train.json"), n_paragraphs=4)
  out = str(tmp_path / "out")
  common = dict(bert_config_file=write_config(tmp_path / "c.json"),
                output_dir=out, vocab_file=tiny_vocab_file, train_file=data,
                predict_file=data, max_seq_length=64, doc_stride=32,
                max_query_length=8, predict_batch_size=3, random_seed=0)
  squad_runner.run(squad_runner.SquadConfig(
      **common, do_train=True, train_batch_size=2, learning_rate=1e-3,
      num_train_epochs=2.0, use_bucketing=True, log_every_n_steps=2))
  outputs = {}
  for bucketing in (False, True):
    squad_runner.run(squad_runner.SquadConfig(
        **common, do_predict=True, use_bucketing=bucketing))
    with open(os.path.join(out, "predictions.json")) as f:
      predictions = json.load(f)
    with open(os.path.join(out, "nbest_predictions.json")) as f:
      nbest = json.load(f)
    outputs[bucketing] = predictions, nbest
  (pred_f, nbest_f), (pred_b, nbest_b) = outputs[False], outputs[True]
  assert pred_b == pred_f
  compared = 0
  for qid, entries in nbest_f.items():
    by_text = {e["text"]: e for e in nbest_b[qid]}
    for e in entries:
      if e["text"] in by_text:
        other = by_text[e["text"]]
        assert other["start_logit"] == pytest.approx(e["start_logit"],
                                                     abs=1e-5)
        assert other["end_logit"] == pytest.approx(e["end_logit"], abs=1e-5)
        compared += 1
  assert compared >= len(nbest_f)

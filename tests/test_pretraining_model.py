"""Pretraining heads, metrics by hand, and a tiny run whose loss falls."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from bert_tf import heads
from bert_tf import input_pipeline
from bert_tf import modeling
from bert_tf.tasks import pretrainer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEQ, PRED, VOCAB = 16, 4, 60


def tiny_config():
  return modeling.BertConfig(
      vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2,
      num_attention_heads=4, intermediate_size=37, max_position_embeddings=32,
      type_vocab_size=2)


def fixed_batch(rng, batch=4):
  ids = rng.randint(5, VOCAB, size=(batch, SEQ)).astype(np.int32)
  mask = np.ones_like(ids)
  mask[1, 12:] = 0
  seg = np.zeros_like(ids)
  seg[:, 8:] = 1
  positions = np.array([sorted(rng.choice(np.arange(1, 11), PRED, False))
                        for _ in range(batch)], np.int32)
  labels = rng.randint(5, VOCAB, size=(batch, PRED)).astype(np.int32)
  weights = np.ones((batch, PRED), np.float32)
  weights[0, 3] = 0.0  # a padding prediction
  weights[2, 2:] = 0.0
  nsp = np.array([[0], [1], [1], [0]], np.int32)[:batch]
  return dict(input_ids=ids, input_mask=mask, segment_ids=seg,
              masked_lm_positions=positions, masked_lm_ids=labels,
              masked_lm_weights=weights, next_sentence_labels=nsp)


def test_head_variables_tied_weights_and_losses_by_hand():
  rng = np.random.RandomState(0)
  batch = fixed_batch(rng)
  config = tiny_config()
  with tf.Graph().as_default():
    features = {k: tf.constant(v) for k, v in batch.items()}
    model = modeling.BertModel(config, False, features["input_ids"],
                               features["input_mask"], features["segment_ids"])
    out = heads.PretrainingHead()(config, model, features, False)
    metric_ops = out.metric_fn(**out.metric_tensors)
    names = {v.op.name: v.shape.as_list() for v in tf.global_variables()}
    with tf.Session() as sess:
      sess.run([tf.global_variables_initializer(),
                tf.local_variables_initializer()])
      rng2 = np.random.RandomState(5)
      for v in tf.global_variables():
        if v.op.name.startswith("cls/") and "bias" in v.op.name:
          v.load(rng2.randn(*v.shape.as_list()).astype(np.float32), sess)
      (loss, mlm_lp, nsp_lp, seq_out, pooled, table) = sess.run(
          [out.loss, out.metric_tensors["masked_lm_log_probs"],
           out.metric_tensors["next_sentence_log_probs"],
           model.get_sequence_output(), model.get_pooled_output(),
           model.get_embedding_table()])
      sess.run([op for _, op in metric_ops.values()])
      metrics = sess.run({k: v for k, (v, _) in metric_ops.items()})
      w = {v.op.name: sess.run(v) for v in tf.global_variables()}

  assert names["cls/predictions/transform/dense/kernel"] == [32, 32]
  assert names["cls/predictions/transform/LayerNorm/gamma"] == [32]
  assert names["cls/predictions/output_bias"] == [VOCAB]
  assert names["cls/seq_relationship/output_weights"] == [2, 32]
  assert names["cls/seq_relationship/output_bias"] == [2]
  # Output weights are tied to the word embeddings: no other [VOCAB, 32].
  assert [n for n, s in names.items() if s == [VOCAB, 32]] == [
      "bert/embeddings/word_embeddings"]

  # Recompute the masked-LM log-probs from the sequence output in numpy.
  def gelu(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))

  gathered = np.stack([seq_out[b, p] for b in range(4)
                       for p in batch["masked_lm_positions"][b]])
  h = gelu(gathered @ w["cls/predictions/transform/dense/kernel"] +
           w["cls/predictions/transform/dense/bias"])
  mu, var = h.mean(-1, keepdims=True), h.var(-1, keepdims=True)
  h = ((h - mu) / np.sqrt(var + 1e-12) *
       w["cls/predictions/transform/LayerNorm/gamma"] +
       w["cls/predictions/transform/LayerNorm/beta"])
  logits = h @ table.T + w["cls/predictions/output_bias"]
  lp = logits - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(
      -1, keepdims=True)) - logits.max(-1, keepdims=True)
  np.testing.assert_allclose(mlm_lp, lp, atol=1e-4)

  labels = batch["masked_lm_ids"].reshape(-1)
  weights = batch["masked_lm_weights"].reshape(-1)
  per_ex = -lp[np.arange(len(labels)), labels]
  mlm_loss = (weights * per_ex).sum() / (weights.sum() + 1e-5)
  nsp_labels = batch["next_sentence_labels"].reshape(-1)
  nsp_logits = (pooled @ w["cls/seq_relationship/output_weights"].T +
                w["cls/seq_relationship/output_bias"])
  nsp_lp = nsp_logits - np.log(np.exp(nsp_logits).sum(-1, keepdims=True))
  nsp_loss = -nsp_lp[np.arange(4), nsp_labels].mean()
  assert loss == pytest.approx(mlm_loss + nsp_loss, abs=1e-4)

  # Eval metrics by hand (weighted by masked_lm_weights).
  pred = lp.argmax(-1)
  acc = ((pred == labels) * weights).sum() / weights.sum()
  assert metrics["masked_lm_accuracy"] == pytest.approx(acc, abs=1e-6)
  assert metrics["masked_lm_loss"] == pytest.approx(
      (per_ex * weights).sum() / weights.sum(), abs=1e-4)
  assert metrics["next_sentence_accuracy"] == pytest.approx(
      (nsp_lp.argmax(-1) == nsp_labels).mean())
  assert metrics["next_sentence_loss"] == pytest.approx(nsp_loss, abs=1e-4)


def write_pretraining_records(path, n=64, seed=0):
  """Synthetic records with a learnable pattern: the masked token repeats the
  token right after it, and segment B is random exactly when label is 1."""
  rng = np.random.RandomState(seed)
  examples = []
  for _ in range(n):
    ids = rng.randint(5, 15, size=SEQ)
    ids[0], ids[7], ids[SEQ - 1] = 2, 3, 3
    positions = sorted(rng.choice(np.arange(1, 6), PRED, replace=False))
    labels = [int(ids[p]) for p in positions]
    for p in positions:
      ids[p] = 4  # [MASK]
    nsp = int(rng.rand() < 0.5)
    f = {
        "input_ids": input_pipeline.create_int_feature(ids),
        "input_mask": input_pipeline.create_int_feature([1] * SEQ),
        "segment_ids": input_pipeline.create_int_feature([0] * 8 + [1] * 8),
        "masked_lm_positions": input_pipeline.create_int_feature(positions),
        "masked_lm_ids": input_pipeline.create_int_feature(labels),
        "masked_lm_weights": input_pipeline.create_float_feature([1.0] * PRED),
        "next_sentence_labels": input_pipeline.create_int_feature([nsp]),
    }
    examples.append(input_pipeline.make_example(f))
  input_pipeline.write_examples(examples, path)


def test_head_on_the_masked_rows_only_equals_the_full_model():
  """`BertModel(output_positions=masked_lm_positions)`, as model_fn builds it
  for this head: the same losses, log-probabilities and gradients as the
  reference's full last layer gathered afterwards (dropout off)."""
  rng = np.random.RandomState(4)
  batch = fixed_batch(rng)
  config = tiny_config()
  results = []
  for positions in (None, "masked_lm_positions"):
    with tf.Graph().as_default():
      tf.set_random_seed(9)
      features = {k: tf.constant(v) for k, v in batch.items()}
      model = modeling.BertModel(
          config, False, features["input_ids"], features["input_mask"],
          features["segment_ids"],
          output_positions=positions and features[positions])
      out = heads.PretrainingHead()(config, model, features, False)
      grads = [tf.convert_to_tensor(g) for g in
               tf.gradients(out.loss, tf.trainable_variables())]
      with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        results.append(sess.run(dict(
            loss=out.loss, grads=grads,
            mlm=out.metric_tensors["masked_lm_log_probs"],
            nsp=out.metric_tensors["next_sentence_log_probs"])))
  full, pruned = results
  np.testing.assert_allclose(pruned["loss"], full["loss"], rtol=1e-6)
  np.testing.assert_allclose(pruned["mlm"], full["mlm"], atol=1e-5)
  np.testing.assert_allclose(pruned["nsp"], full["nsp"], atol=1e-6)
  for g_pruned, g_full in zip(pruned["grads"], full["grads"]):
    np.testing.assert_allclose(g_pruned, g_full, rtol=1e-4, atol=1e-6)


def test_tiny_pretraining_loss_falls_and_resumes(tmp_path):
  data = str(tmp_path / "train.tfrecord")
  write_pretraining_records(data)
  config_file = str(tmp_path / "bert_config.json")
  with open(config_file, "w") as f:
    f.write(tiny_config().to_json_string())
  out = str(tmp_path / "out")
  base = dict(input_file=data, bert_config_file=config_file, output_dir=out,
              max_seq_length=SEQ, max_predictions_per_seq=PRED,
              train_batch_size=16, eval_batch_size=16, learning_rate=2e-3,
              num_warmup_steps=5, max_eval_steps=4, random_seed=3,
              save_checkpoints_steps=20, log_every_n_steps=10)
  first = pretrainer.run(pretrainer.PretrainingConfig(
      **base, do_train=True, do_eval=True, num_train_steps=1))
  # Same command with more steps resumes from the step-1 checkpoint.
  second = pretrainer.run(pretrainer.PretrainingConfig(
      **base, do_train=True, do_eval=True, num_train_steps=60))
  assert first["eval"]["global_step"] == 1
  assert second["eval"]["global_step"] == 60
  assert second["eval"]["masked_lm_loss"] < 0.8 * first["eval"][
      "masked_lm_loss"]
  text = open(os.path.join(out, "eval_results.txt")).read()
  for key in ("masked_lm_accuracy", "masked_lm_loss", "next_sentence_accuracy",
              "next_sentence_loss"):
    assert key + " = " in text


def test_record_shape_mismatch_is_named(tmp_path):
  data = str(tmp_path / "train.tfrecord")
  write_pretraining_records(data, n=4)
  config_file = str(tmp_path / "bert_config.json")
  with open(config_file, "w") as f:
    f.write(tiny_config().to_json_string())
  with pytest.raises(ValueError, match="max_predictions_per_seq=5"):
    pretrainer.run(pretrainer.PretrainingConfig(
        input_file=data, bert_config_file=config_file,
        output_dir=str(tmp_path / "o"), max_seq_length=SEQ,
        max_predictions_per_seq=5, do_train=True, num_train_steps=1))
  with pytest.raises(FileNotFoundError, match="nothing"):
    pretrainer.run(pretrainer.PretrainingConfig(
        input_file=str(tmp_path / "nothing*.tfrecord"),
        bert_config_file=config_file, output_dir=str(tmp_path / "o"),
        max_seq_length=SEQ, max_predictions_per_seq=PRED, do_train=True,
        num_train_steps=1))


def test_script_reference_command_line(tmp_path):
  data = str(tmp_path / "tf_examples.tfrecord")
  write_pretraining_records(data, n=32)
  config_file = str(tmp_path / "bert_config.json")
  with open(config_file, "w") as f:
    f.write(tiny_config().to_json_string())
  out = str(tmp_path / "pretraining_output")
  cmd = [sys.executable, os.path.join(ROOT, "run_pretraining.py"),
         "--input_file=" + data, "--output_dir=" + out, "--do_train=True",
         "--do_eval=True", "--bert_config_file=" + config_file,
         "--train_batch_size=8", "--max_seq_length=%d" % SEQ,
         "--max_predictions_per_seq=%d" % PRED, "--num_train_steps=6",
         "--num_warmup_steps=2", "--learning_rate=2e-5", "--max_eval_steps=2",
         "--export_dir=" + str(tmp_path / "encoder_export")]
  proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  results = open(os.path.join(out, "eval_results.txt")).read()
  assert "global_step = 6" in results
  # The pretrained encoder is exported for serving (pooled/sequence output).
  from bert_tf import export  # pylint: disable=g-import-not-at-top
  saved = export.latest_saved_model(str(tmp_path / "encoder_export"))
  with tf.Graph().as_default(), tf.Session() as sess:
    meta = tf.saved_model.loader.load(sess, ["serve"], saved)
    outputs = meta.signature_def["serving_default"].outputs
    assert sorted(outputs) == ["pooled_output", "sequence_output"]

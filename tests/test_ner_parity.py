"""Training parity of the tagging head with Hugging Face's
BertForTokenClassification (PyTorch), dropout off, on the same batches.

A random tiny HF encoder is converted with `bert_tf.convert`; both sides
start from the same weights and the same head, train with BERT's AdamW and
its warm-up/decay schedule (bench/squad_hf.py's torch implementation on the
HF side), on windows built by `tasks.ner` from tagged sentences (labels on
first pieces only: HF's -100 elsewhere, our label_mask 0), and must have the
same loss at every step.
"""

import os
import random
import sys

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from bert_tf import convert  # pylint: disable=g-import-not-at-top
from bert_tf import heads
from bert_tf import modeling
from bert_tf import optimization
from bert_tf import tokenization
from bert_tf.tasks import ner
from conftest import TINY_VOCAB

LABELS = ["O", "B-X", "I-X", "B-Y", "I-Y"]


def _windows(vocab_file, seq, stride, n):
  """Windows of random tagged sentences (some longer than one window)."""
  rng = random.Random(3)
  words = [t for t in TINY_VOCAB[5:] if not t.startswith("##")] + [
      "unaffable", "playing", "wanted"]
  sentences = []
  for i in range(n):
    length = rng.randint(2, 14)
    ws = [rng.choice(words) for _ in range(length)]
    tags = [rng.choice(LABELS) for _ in range(length)]
    sentences.append(ner.Sentence(str(i), ws, tags))
  tokenizer = tokenization.FullTokenizer(vocab_file, do_lower_case=True)
  return ner.convert_sentences(sentences, tokenizer, seq, stride,
                               {t: i for i, t in enumerate(LABELS)})


def test_token_classification_steps_match_hf(tmp_path, tiny_vocab_file):
  sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
      os.path.abspath(__file__))), "bench"))
  from squad_hf import bert_learning_rate, clipped_update, reference_optimizer  # pylint: disable=g-import-not-at-top
  torch.manual_seed(0)
  vocab_size = len(open(tiny_vocab_file).read().split())
  hf_config = transformers.BertConfig(
      vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2,
      num_attention_heads=4, intermediate_size=37, hidden_act="gelu",
      max_position_embeddings=40, type_vocab_size=2, layer_norm_eps=1e-12,
      hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
  hf_dir = str(tmp_path / "hf")
  transformers.BertModel(hf_config).save_pretrained(hf_dir)
  google_dir = str(tmp_path / "google")
  convert.hf_to_google(hf_dir, google_dir)
  config = modeling.BertConfig.from_json_file(
      os.path.join(google_dir, "bert_config.json"))
  assert config.hidden_dropout_prob == 0.0
  ckpt = os.path.join(google_dir, "bert_model.ckpt")

  batch, seq, steps, num_train, num_warmup, lr = 4, 12, 8, 20, 3, 1e-3
  windows = _windows(tiny_vocab_file, seq, 4, 40)[:steps * batch]
  assert len(windows) == steps * batch
  arrays = {name: np.array([getattr(w, name) for w in windows], np.int32)
            for name in ner.SEQUENCE_FEATURES}
  assert arrays["input_mask"].sum(1).min() < seq  # padding present
  assert (arrays["label_mask"].sum(1) < arrays["input_mask"].sum(1) - 2
          ).any()  # pieces without a label present

  ours = []
  with tf.Graph().as_default():
    tf.set_random_seed(0)
    ph = {name: tf.placeholder(tf.int32, [batch, seq])
          for name in ner.SEQUENCE_FEATURES}
    model = modeling.BertModel(config, True, ph["input_ids"],
                               ph["input_mask"], ph["segment_ids"])
    loss = heads.TokenClassificationHead(len(LABELS))(
        config, model, ph, True).loss
    train_op = optimization.create_optimizer(loss, lr, num_train, num_warmup,
                                             False)
    amap, _ = modeling.get_assignment_map_from_checkpoint(
        tf.trainable_variables(), ckpt)
    tf.train.init_from_checkpoint(ckpt, amap)
    by_name = {v.op.name: v for v in tf.global_variables()}
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      head = sess.run([by_name["output_weights"], by_name["output_bias"]])
      for s in range(steps):
        rows = slice(s * batch, (s + 1) * batch)
        value, _ = sess.run([loss, train_op], {
            ph[name]: arrays[name][rows] for name in ph})
        ours.append(value)
      our_kernel = sess.run(
          by_name["bert/encoder/layer_1/intermediate/dense/kernel"])

  hf = transformers.BertForTokenClassification.from_pretrained(
      hf_dir, num_labels=len(LABELS), attn_implementation="eager")
  with torch.no_grad():
    hf.classifier.weight.copy_(torch.from_numpy(head[0]))
    hf.classifier.bias.copy_(torch.from_numpy(head[1]))
  optimizer = reference_optimizer(torch, hf, lr)
  hf_labels = np.where(arrays["label_mask"] > 0, arrays["label_ids"], -100)
  hf.train()
  theirs = []
  for s in range(steps):
    for group in optimizer.param_groups:
      group["lr"] = bert_learning_rate(lr, s, num_warmup, num_train)
    rows = slice(s * batch, (s + 1) * batch)
    as_long = lambda a: torch.from_numpy(a[rows].astype(np.int64))  # pylint: disable=cell-var-from-loop
    out = hf(input_ids=as_long(arrays["input_ids"]),
             attention_mask=as_long(arrays["input_mask"]),
             token_type_ids=as_long(arrays["segment_ids"]),
             labels=as_long(hf_labels))
    clipped_update(torch, hf, optimizer, out.loss)
    theirs.append(out.loss.item())
  their_kernel = hf.bert.encoder.layer[1].intermediate.dense.weight.detach(
      ).numpy().T
  start_kernel = tf.train.load_checkpoint(ckpt).get_tensor(
      "bert/encoder/layer_1/intermediate/dense/kernel")
  # Real updates (the weights move far more than the tolerance), and both
  # runs move alike step by step.
  assert np.abs(our_kernel - start_kernel).max() > 1e-2
  np.testing.assert_allclose(ours, theirs, atol=1e-3)
  assert np.abs(our_kernel - their_kernel).max() < 1e-3, np.abs(
      our_kernel - their_kernel).max()

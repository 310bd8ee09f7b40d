"""Numerical parity with an independent implementation (HF transformers, PyTorch).

A Hugging Face checkpoint is converted with `bert_tf.convert`, run through our
`BertModel`, and compared with `transformers.BertModel` on the same ids: the
max absolute difference of the sequence output (real tokens) and the pooled
output must be <= 1e-4.
"""

import csv
import json
import os

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from bert_tf import convert  # pylint: disable=g-import-not-at-top
from bert_tf import modeling
from bert_tf import tokenization

TOLERANCE = 1e-4


def run_ours(google_dir, input_ids, input_mask, segment_ids):
  """Runs our BertModel from a converted checkpoint; returns numpy outputs."""
  config = modeling.BertConfig.from_json_file(
      os.path.join(google_dir, "bert_config.json"))
  ckpt = os.path.join(google_dir, "bert_model.ckpt")
  with tf.Graph().as_default():
    ids = tf.placeholder(tf.int32, [None, None])
    mask = tf.placeholder(tf.int32, [None, None])
    seg = tf.placeholder(tf.int32, [None, None])
    model = modeling.BertModel(config, False, ids, mask, seg)
    tvars = tf.trainable_variables()
    amap, _ = modeling.get_assignment_map_from_checkpoint(tvars, ckpt)
    assert len(amap) == len(tvars), "every model variable must be converted"
    tf.train.init_from_checkpoint(ckpt, amap)
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      return sess.run(
          [model.get_sequence_output(), model.get_pooled_output(),
           model.get_all_encoder_layers()],
          {ids: input_ids, mask: input_mask, seg: segment_ids})


def run_hf(hf_dir, input_ids, input_mask, segment_ids):
  model = transformers.BertModel.from_pretrained(
      hf_dir, attn_implementation="eager")
  model.eval()
  with torch.no_grad():
    out = model(input_ids=torch.tensor(input_ids, dtype=torch.long),
                attention_mask=torch.tensor(input_mask, dtype=torch.long),
                token_type_ids=torch.tensor(segment_ids, dtype=torch.long),
                output_hidden_states=True)
  return (out.last_hidden_state.numpy(), out.pooler_output.numpy(),
          [h.numpy() for h in out.hidden_states[1:]])


def encode(tokenizer, pairs, pad_to=None):
  """[CLS] a [SEP] (b [SEP]) ids, padded to the longest (or `pad_to`)."""
  rows = []
  for a, b in pairs:
    tokens = ["[CLS]"] + tokenizer.tokenize(a) + ["[SEP]"]
    segments = [0] * len(tokens)
    if b is not None:
      tb = tokenizer.tokenize(b) + ["[SEP]"]
      tokens += tb
      segments += [1] * len(tb)
    rows.append((tokenizer.convert_tokens_to_ids(tokens), segments))
  length = pad_to or max(len(r[0]) for r in rows)
  ids = np.zeros((len(rows), length), np.int32)
  mask = np.zeros_like(ids)
  seg = np.zeros_like(ids)
  for i, (row_ids, row_seg) in enumerate(rows):
    ids[i, :len(row_ids)] = row_ids
    mask[i, :len(row_ids)] = 1
    seg[i, :len(row_seg)] = row_seg
  return ids, mask, seg


def assert_parity(ours, theirs, mask):
  seq, pooled, layers = ours
  hf_seq, hf_pooled, hf_layers = theirs
  real = mask.astype(bool)
  seq_diff = np.max(np.abs(seq[real] - hf_seq[real]))
  pooled_diff = np.max(np.abs(pooled - hf_pooled))
  assert seq_diff <= TOLERANCE, "sequence output differs by %g" % seq_diff
  assert pooled_diff <= TOLERANCE, "pooled output differs by %g" % pooled_diff
  assert len(layers) == len(hf_layers)
  for i, (a, b) in enumerate(zip(layers, hf_layers)):
    d = np.max(np.abs(a[real] - b[real]))
    assert d <= TOLERANCE, "layer %d differs by %g" % (i, d)
  return seq_diff, pooled_diff


@pytest.fixture(scope="module")
def converted_minilm(tmp_path_factory):
  from conftest import shared_path  # pylint: disable=g-import-not-at-top
  src = shared_path("models", "minilm-l6-h384-uncased")
  out = tmp_path_factory.mktemp("minilm") / "google"
  convert.hf_to_google(str(src), str(out))
  return str(src), str(out)


def real_sentence_pairs(glue_root, n=6):
  path = os.path.join(glue_root, "MRPC", "dev.tsv")
  with open(path, encoding="utf-8-sig") as f:
    rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
  return [(r[3], r[4]) for r in rows[:n]]


def test_minilm_parity_pairs_and_singles(converted_minilm, glue_dir):
  hf_dir, google_dir = converted_minilm
  config = json.load(open(os.path.join(google_dir, "bert_config.json")))
  assert config["hidden_act"] == "gelu_exact"
  tokenizer = tokenization.FullTokenizer(
      os.path.join(google_dir, "vocab.txt"), do_lower_case=True)
  pairs = real_sentence_pairs(str(glue_dir))
  # Sentence pairs and single sentences of very different lengths, so most
  # rows carry padding.
  batch = pairs[:3] + [(pairs[3][0], None), ("Hello!", None),
                       (pairs[4][0] + " " + pairs[5][1], pairs[0][1])]
  ids, mask, seg = encode(tokenizer, batch)
  assert mask.sum(1).min() < ids.shape[1] // 2  # real padding present
  ours = run_ours(google_dir, ids, mask, seg)
  theirs = run_hf(hf_dir, ids, mask, seg)
  assert_parity(ours, theirs, mask)


def test_minilm_parity_fixed_length_128(converted_minilm, glue_dir):
  """The fine-tuning shape: every row padded to 128."""
  hf_dir, google_dir = converted_minilm
  tokenizer = tokenization.FullTokenizer(
      os.path.join(google_dir, "vocab.txt"), do_lower_case=True)
  pairs = real_sentence_pairs(str(glue_dir), 4)
  ids, mask, seg = encode(tokenizer, pairs, pad_to=128)
  assert_parity(run_ours(google_dir, ids, mask, seg),
                run_hf(hf_dir, ids, mask, seg), mask)


def test_tokenizer_ids_match_hf_with_special_tokens(converted_minilm,
                                                    glue_dir):
  hf_dir, google_dir = converted_minilm
  ours = tokenization.FullTokenizer(os.path.join(google_dir, "vocab.txt"),
                                    do_lower_case=True)
  theirs = transformers.BertTokenizer(os.path.join(hf_dir, "vocab.txt"),
                                      do_lower_case=True)
  pairs = real_sentence_pairs(str(glue_dir), 40)
  for a, b in pairs:
    ids, _, seg = encode(ours, [(a, b)])
    enc = theirs(a, b)
    assert ids[0].tolist() == enc["input_ids"]
    assert seg[0].tolist() == enc["token_type_ids"]


@pytest.mark.parametrize("hf_act,our_act", [("gelu", "gelu_exact"),
                                            ("gelu_new", "gelu")])
def test_tiny_random_hf_model_parity(tmp_path, hf_act, our_act):
  """Runs without ../shared: a random tiny HF model, both GELU variants."""
  torch.manual_seed(0)
  hf_config = transformers.BertConfig(
      vocab_size=101, hidden_size=32, num_hidden_layers=2,
      num_attention_heads=4, intermediate_size=37, hidden_act=hf_act,
      max_position_embeddings=40, type_vocab_size=2, layer_norm_eps=1e-12)
  model = transformers.BertModel(hf_config)
  # Non-trivial LayerNorm parameters and biases.
  with torch.no_grad():
    for name, p in model.named_parameters():
      if "LayerNorm" in name or name.endswith("bias"):
        p.add_(0.1 * torch.randn_like(p))
  hf_dir = str(tmp_path / "hf")
  model.save_pretrained(hf_dir)
  with open(os.path.join(hf_dir, "vocab.txt"), "w") as f:
    f.write("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] +
                      ["w%d" % i for i in range(96)]) + "\n")
  google_dir = str(tmp_path / "google")
  convert.hf_to_google(hf_dir, google_dir)
  config = json.load(open(os.path.join(google_dir, "bert_config.json")))
  assert config["hidden_act"] == our_act
  rng = np.random.RandomState(1)
  ids = rng.randint(5, 101, size=(3, 17)).astype(np.int32)
  mask = np.ones_like(ids)
  mask[1, 9:] = 0
  mask[2, 4:] = 0
  seg = np.zeros_like(ids)
  seg[0, 8:] = 1
  assert_parity(run_ours(google_dir, ids, mask, seg),
                run_hf(hf_dir, ids, mask, seg), mask)


def test_squad_fine_tuning_steps_match_hf(tmp_path):
  """Training parity: the span loss, gradients, clipping, BERT's AdamW and
  its schedule, step by step, against HF's BertForQuestionAnswering trained
  by a torch implementation of the same update (bench/squad_hf.py's), from
  the same weights and head, on the same batches, dropout off."""
  import sys  # pylint: disable=g-import-not-at-top
  sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
      os.path.abspath(__file__))), "bench"))
  from squad_hf import bert_learning_rate, clipped_update, reference_optimizer  # pylint: disable=g-import-not-at-top
  from bert_tf import heads  # pylint: disable=g-import-not-at-top
  from bert_tf import optimization  # pylint: disable=g-import-not-at-top
  torch.manual_seed(0)
  hf_config = transformers.BertConfig(
      vocab_size=101, hidden_size=32, num_hidden_layers=2,
      num_attention_heads=4, intermediate_size=37, hidden_act="gelu",
      max_position_embeddings=40, type_vocab_size=2, layer_norm_eps=1e-12,
      hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
  hf_dir = str(tmp_path / "hf")
  transformers.BertModel(hf_config).save_pretrained(hf_dir)
  with open(os.path.join(hf_dir, "vocab.txt"), "w") as f:
    f.write("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] +
                      ["w%d" % i for i in range(96)]) + "\n")
  google_dir = str(tmp_path / "google")
  convert.hf_to_google(hf_dir, google_dir)
  config = modeling.BertConfig.from_json_file(
      os.path.join(google_dir, "bert_config.json"))
  ckpt = os.path.join(google_dir, "bert_model.ckpt")
  batch, seq, steps, num_train, num_warmup, lr = 4, 16, 8, 20, 3, 1e-3
  rng = np.random.RandomState(2)
  ids = rng.randint(5, 101, size=(steps * batch, seq)).astype(np.int32)
  mask = np.ones_like(ids)
  mask[::3, 11:] = 0
  seg = np.zeros_like(ids)
  seg[:, 6:] = 1
  starts = rng.randint(0, 11, size=steps * batch).astype(np.int32)
  ends = np.minimum(starts + rng.randint(0, 3, size=starts.shape), 10)

  ours = []
  with tf.Graph().as_default():
    tf.set_random_seed(0)
    p_ids, p_mask, p_seg = (tf.placeholder(tf.int32, [batch, seq])
                            for _ in range(3))
    p_start, p_end = (tf.placeholder(tf.int32, [batch]) for _ in range(2))
    model = modeling.BertModel(config, True, p_ids, p_mask, p_seg)
    loss = heads.SpanHead()(config, model, {"start_positions": p_start,
                                            "end_positions": p_end},
                            True).loss
    train_op = optimization.create_optimizer(loss, lr, num_train, num_warmup,
                                             False)
    amap, _ = modeling.get_assignment_map_from_checkpoint(
        tf.trainable_variables(), ckpt)
    tf.train.init_from_checkpoint(ckpt, amap)
    by_name = {v.op.name: v for v in tf.global_variables()}
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      head = sess.run([by_name["cls/squad/output_weights"],
                       by_name["cls/squad/output_bias"]])
      for s in range(steps):
        rows = slice(s * batch, (s + 1) * batch)
        value, _ = sess.run([loss, train_op], {
            p_ids: ids[rows], p_mask: mask[rows], p_seg: seg[rows],
            p_start: starts[rows], p_end: ends[rows]})
        ours.append(value)
      our_kernel = sess.run(
          by_name["bert/encoder/layer_1/intermediate/dense/kernel"])

  hf = transformers.BertForQuestionAnswering.from_pretrained(
      hf_dir, attn_implementation="eager")
  with torch.no_grad():
    hf.qa_outputs.weight.copy_(torch.from_numpy(head[0]))
    hf.qa_outputs.bias.copy_(torch.from_numpy(head[1]))
  optimizer = reference_optimizer(torch, hf, lr)
  hf.train()
  theirs = []
  for s in range(steps):
    for group in optimizer.param_groups:
      group["lr"] = bert_learning_rate(lr, s, num_warmup, num_train)
    rows = slice(s * batch, (s + 1) * batch)
    as_long = lambda a: torch.from_numpy(a[rows].astype(np.int64))  # pylint: disable=cell-var-from-loop
    out = hf(input_ids=as_long(ids), attention_mask=as_long(mask),
             token_type_ids=as_long(seg), start_positions=as_long(starts),
             end_positions=as_long(ends))
    clipped_update(torch, hf, optimizer, out.loss)
    theirs.append(out.loss.item())
  their_kernel = hf.bert.encoder.layer[1].intermediate.dense.weight.detach(
      ).numpy().T
  # The updates are real (the weights move 100x the tolerance), and both
  # runs move alike.
  start_kernel = tf.train.load_checkpoint(ckpt).get_tensor(
      "bert/encoder/layer_1/intermediate/dense/kernel")
  assert np.abs(our_kernel - start_kernel).max() > 1e-2
  # float32 rounding compounds through the uncorrected early Adam steps
  # (sqrt of a tiny v): about 2e-4 in the loss after 8 steps at lr 1e-3.
  np.testing.assert_allclose(ours, theirs, atol=1e-3)
  assert np.abs(our_kernel - their_kernel).max() < 1e-3, np.abs(
      our_kernel - their_kernel).max()

"""Probes of bert_tf's NER training against Hugging Face (issue 16).

  .venv/bin/python bench/ner_probes.py --probe=dropout \\
      --run_dir=bench/results/ner-wnut17/tf-seed4
  .venv/bin/python bench/ner_probes.py --probe=clipping \\
      --run_dir=bench/results/ner-wnut17/tf-seed4
  .venv/bin/python bench/ner_probes.py --probe=loss_weights

dropout: converts the run's final checkpoint to Hugging Face
(`bert_tf.convert`) and, on one batch of 64 WNUT-17 training windows,
prints the loss with dropout off and its mean over --draws dropout draws,
for bert_tf's graph and for BertForTokenClassification: equal means say the
dropout of both sides is equally strong.

clipping: on three batches of 32, at the run's first and last checkpoint,
prints the global norm `tf.clip_by_global_norm` computes over the gradients
(the word embeddings' gradient is IndexedSlices, as in the reference) and
the norm of the dense gradients (what torch clips).

loss_weights (no run needed): every WNUT-17 training window, batched as
--use_bucketing batches them (buckets --bucket_width pieces wide, a batch
from one bucket) and as random batches, over --draws permutations; prints
the share of the epoch's loss weight that falls on short windows (at most
--short pieces) and on entity words, when the loss is each batch's mean over
its labelled words and when it is divided by batch x the training set's mean
labelled words per window (bert_tf's denominator with bucketing).
"""

import argparse
import os

import numpy as np
import tensorflow.compat.v1 as tf

from bert_tf import convert
from bert_tf import heads
from bert_tf import modeling
from bert_tf import tokenization
from bert_tf.tasks import ner

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WNUT_TRAIN = os.path.join(os.path.dirname(ROOT), "shared", "data", "ner",
                          "wnut17", "train.conll")


def _batch(model_dir, labels, n, seed):
  """n random training windows, int32 arrays trimmed to the longest."""
  tok = tokenization.FullTokenizer(os.path.join(model_dir, "vocab.txt"), True)
  train = ner.read_conll(WNUT_TRAIN)
  rows = np.random.RandomState(seed).choice(len(train), n, replace=False)
  windows = ner.convert_sentences([train[i] for i in rows], tok, 128, 64,
                                  {t: i for i, t in enumerate(labels)})
  arr = {k: np.array([getattr(w, k) for w in windows], np.int32)
         for k in ner.SEQUENCE_FEATURES}
  length = int(arr["input_mask"].sum(1).max())
  return {k: v[:, :length] for k, v in arr.items()}


def _graph(cfg, arr, num_labels, training):
  feats = {k: tf.constant(v) for k, v in arr.items()}
  model = modeling.BertModel(cfg, training, feats["input_ids"],
                             feats["input_mask"], feats["segment_ids"])
  return heads.TokenClassificationHead(num_labels)(cfg, model, feats,
                                                  training).loss


def _hf_model(args, ckpt, labels, model_dir):
  """BertForTokenClassification holding the bert_tf checkpoint `ckpt`
  (converted once, beside the run)."""
  import transformers  # pylint: disable=g-import-not-at-top
  hf_dir = os.path.join(args.run_dir, "hf-ckpt-%d" % args.step)
  if not os.path.exists(os.path.join(hf_dir, "config.json")):
    convert.google_to_hf(ckpt, hf_dir, bert_config_file=os.path.join(
        model_dir, "bert_config.json"), vocab_file=os.path.join(
            model_dir, "vocab.txt"))
  return transformers.BertForTokenClassification.from_pretrained(
      hf_dir, num_labels=len(labels), attn_implementation="eager")


def _hf_batch(torch, arr):
  """The batch `arr` as BertForTokenClassification's keyword arguments."""
  b = {"input_ids": arr["input_ids"], "attention_mask": arr["input_mask"],
       "token_type_ids": arr["segment_ids"],
       "labels": np.where(arr["label_mask"] > 0, arr["label_ids"], -100)}
  return {k: torch.from_numpy(v.astype(np.int64)) for k, v in b.items()}


def dropout_probe(args, cfg, labels, model_dir):
  import torch  # pylint: disable=g-import-not-at-top
  ckpt = os.path.join(args.run_dir, "model.ckpt-%d" % args.step)
  arr = _batch(model_dir, labels, 64, 0)
  out = {}
  for training in (False, True):
    with tf.Graph().as_default():
      tf.set_random_seed(1)
      loss = _graph(cfg, arr, len(labels), training)
      with tf.Session() as sess:
        tf.train.Saver().restore(sess, ckpt)
        out["bert_tf", training] = [
            sess.run(loss) for _ in range(args.draws if training else 1)]
  model = _hf_model(args, ckpt, labels, model_dir)
  b = _hf_batch(torch, arr)
  torch.manual_seed(1)
  with torch.no_grad():
    model.eval()
    out["HF", False] = [model(**b).loss.item()]
    model.train()
    out["HF", True] = [model(**b).loss.item() for _ in range(args.draws)]
  print("| side | loss, dropout off | mean loss over %d dropout draws (se) |"
        % args.draws)
  print("|---|---|---|")
  for side in ("bert_tf", "HF"):
    on = np.array(out[side, True])
    print("| %s | %.5f | %.5f (%.5f) |" % (
        side, out[side, False][0], on.mean(), on.std(ddof=1) / len(on)**.5))


def clipping_probe(args, cfg, labels, model_dir):
  print("| checkpoint | batch | clip_by_global_norm's norm | dense norm | "
        "ratio |")
  print("|---|---|---|---|---|")
  for step in (0, args.step):
    for seed in (0, 1, 2):
      arr = _batch(model_dir, labels, 32, seed)
      with tf.Graph().as_default():
        loss = _graph(cfg, arr, len(labels), False)
        pairs = [(g, v) for g, v in zip(
            tf.gradients(loss, tf.trainable_variables()),
            tf.trainable_variables()) if g is not None]
        grads = [g for g, _ in pairs]
        _, norm = tf.clip_by_global_norm(grads, 1.0)
        dense = tf.linalg.global_norm([tf.convert_to_tensor(g)
                                       for g in grads])
        with tf.Session() as sess:
          tf.train.Saver().restore(sess, os.path.join(
              args.run_dir, "model.ckpt-%d" % step))
          a, b = sess.run([norm, dense])
      print("| model.ckpt-%d | %d | %.4f | %.4f | %.4f |" % (step, seed, a, b,
                                                          a / b))


# (bert_tf variable, HF parameter, transpose): tensors the gradient probe
# compares one by one, from the head down to the embeddings.
_GRADIENT_PAIRS = (
    ("output_weights", "classifier.weight", False),
    ("bert/encoder/layer_5/output/dense/kernel",
     "bert.encoder.layer.5.output.dense.weight", True),
    ("bert/encoder/layer_5/attention/self/query/kernel",
     "bert.encoder.layer.5.attention.self.query.weight", True),
    ("bert/encoder/layer_0/intermediate/dense/kernel",
     "bert.encoder.layer.0.intermediate.dense.weight", True),
    ("bert/encoder/layer_0/attention/output/LayerNorm/gamma",
     "bert.encoder.layer.0.attention.output.LayerNorm.weight", False),
    ("bert/embeddings/word_embeddings",
     "bert.embeddings.word_embeddings.weight", False),
)


def gradient_probe(args, cfg, labels, model_dir):
  """Mean and spread of the gradient over dropout draws, both sides.

  Same weights (the run's checkpoint at --step), one batch of 32 training
  windows. With dropout off the two gradients must agree to float32
  rounding (this checks the pairing of the tensors); with dropout on, the
  mean gradient over --draws draws and its mean squared norm estimate what
  an update sees on average. Equal dropout gives equal means within the
  Monte Carlo error printed beside them.
  """
  import torch  # pylint: disable=g-import-not-at-top
  ckpt = os.path.join(args.run_dir, "model.ckpt-%d" % args.step)
  arr = _batch(model_dir, labels, 32, 0)
  names = [p[0] for p in _GRADIENT_PAIRS]
  grads = {}
  for training in (False, True):
    with tf.Graph().as_default():
      tf.set_random_seed(1)
      loss = _graph(cfg, arr, len(labels), training)
      # The pooler has no gradient here (HF's tagging model has none).
      pairs = [(v.op.name, g) for v, g in zip(
          tf.trainable_variables(),
          tf.gradients(loss, tf.trainable_variables())) if g is not None]
      dense = [tf.convert_to_tensor(g) for _, g in pairs]
      order = [n for n, _ in pairs]
      picked = [dense[order.index(n)] for n in names]
      norm = tf.linalg.global_norm(dense)
      with tf.Session() as sess:
        tf.train.Saver().restore(sess, ckpt)
        grads["bert_tf", training] = [
            sess.run([norm] + picked)
            for _ in range(args.draws if training else 1)]
  model = _hf_model(args, ckpt, labels, model_dir)
  params = dict(model.named_parameters())
  b = _hf_batch(torch, arr)
  torch.manual_seed(1)
  for training in (False, True):
    model.train(training)
    draws = []
    for _ in range(args.draws if training else 1):
      model.zero_grad()
      model(**b).loss.backward()
      norm = float(torch.sqrt(sum((p.grad.double() ** 2).sum()
                                  for p in model.parameters()
                                  if p.grad is not None)))
      picked = []
      for _, hf_name, transpose in _GRADIENT_PAIRS:
        g = params[hf_name].grad.numpy().copy()
        picked.append(g.T if transpose else g)
      draws.append([norm] + picked)
    grads["HF", training] = draws
  print("Dropout off: global gradient norm bert_tf %.6f, HF %.6f" % (
      grads["bert_tf", False][0][0], grads["HF", False][0][0]))
  print("| tensor | off: rel diff | on: |mean| bert_tf / HF | on: rel diff "
        "of means (MC error) | on: E|g|^2 bert_tf / HF |")
  print("|---|---|---|---|---|")
  rows = [("global norm", 0)] + [(n, i + 1) for i, n in enumerate(names)]
  for name, i in rows:
    off_t = np.asarray(grads["bert_tf", False][0][i], np.float64)
    off_h = np.asarray(grads["HF", False][0][i], np.float64)
    off = np.linalg.norm(off_t - off_h) / np.linalg.norm(off_h)
    on_t = np.array([d[i] for d in grads["bert_tf", True]], np.float64)
    on_h = np.array([d[i] for d in grads["HF", True]], np.float64)
    n = len(on_t)
    mt, mh = on_t.mean(0), on_h.mean(0)
    err = np.sqrt(((on_t - mt) ** 2).sum() / (n - 1) / n +
                  ((on_h - mh) ** 2).sum() / (n - 1) / n)
    sq_t = np.mean([np.sum(x ** 2) for x in on_t])
    sq_h = np.mean([np.sum(x ** 2) for x in on_h])
    print("| %s | %.2e | %.4f | %.4f (%.4f) | %.4f |" % (
        name, off, np.linalg.norm(mt) / np.linalg.norm(mh),
        np.linalg.norm(mt - mh) / np.linalg.norm(mh),
        err / np.linalg.norm(mh), sq_t / sq_h))


def _bucket_batches(lengths, order, batch_size, width):
  """Batches of window indices as bucket_by_length groups them."""
  buckets, batches = {}, []
  for i in order:
    b = buckets.setdefault((lengths[i] - 1) // width, [])
    b.append(i)
    if len(b) == batch_size:
      batches.append(b[:])
      del b[:]
  batches.extend(b for b in buckets.values() if b)
  return batches


def loss_weights_probe(args):
  """Share of the loss weight on short windows and entity words."""
  vocab = os.path.join(os.path.dirname(ROOT), "shared", "models",
                       "minilm-l6-h384-uncased", "vocab.txt")
  tok = tokenization.FullTokenizer(vocab, True)
  train = ner.read_conll(WNUT_TRAIN)
  labels = ner.labels_from_sentences(train)
  windows = ner.convert_sentences(train, tok, 128, 64,
                                  {t: i for i, t in enumerate(labels)})
  lengths = np.array([sum(w.input_mask) for w in windows])
  labelled = np.array([sum(w.label_mask) for w in windows], np.float64)
  entity = np.array([sum(m for m, l in zip(w.label_mask, w.label_ids)
                         if labels[l] != "O") for w in windows], np.float64)
  short = lengths <= args.short
  mean_labelled = labelled.mean()
  n = args.batch_size
  rng = np.random.RandomState(0)
  shares = {}
  for draw in range(args.draws):
    order = rng.permutation(len(windows))
    ways = {
        "random batches, mean per batch":
            [order[i:i + n] for i in range(0, len(order), n)],
        "bucketed, mean per batch":
            _bucket_batches(lengths, order, n, args.bucket_width)}
    ways["bucketed, batch x mean labelled"] = ways["bucketed, mean per batch"]
    for way, batches in ways.items():
      weight = np.zeros(len(windows))  # per labelled word of each window
      for b in batches:
        b = np.asarray(b)
        denominator = (len(b) * mean_labelled if "x mean" in way
                       else labelled[b].sum())
        weight[b] = 1.0 / denominator
      total = (weight * labelled).sum()
      shares.setdefault(way, []).append(
          ((weight * labelled)[short].sum() / total,
           (weight * entity).sum() / total))
  print("%d windows; %.1f%% with at most %d pieces (%.1f%% of labelled "
        "words); entity words %.2f%% of labelled words; mean labelled words "
        "per window %.3f" % (len(windows), 100 * short.mean(), args.short,
                             100 * labelled[short].sum() / labelled.sum(),
                             100 * entity.sum() / labelled.sum(),
                             mean_labelled))
  print("| batching, loss denominator | short windows' share of the loss "
        "weight | entity words' share |")
  print("|---|---|---|")
  for way, values in shares.items():
    values = np.array(values)
    print("| %s | %.2f%% | %.2f%% |" % (way, 100 * values[:, 0].mean(),
                                        100 * values[:, 1].mean()))


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--probe", choices=("dropout", "clipping", "gradient",
                                          "loss_weights"), required=True)
  parser.add_argument("--run_dir",
                      help="a bench/ner.py bert_tf run directory")
  parser.add_argument("--model_dir", default=None,
                      help="its converted MiniLM (default: beside run_dir)")
  parser.add_argument("--step", type=int, default=318,
                      help="the final checkpoint's step")
  parser.add_argument("--draws", type=int, default=40)
  parser.add_argument("--batch_size", type=int, default=32)
  parser.add_argument("--bucket_width", type=int, default=8)
  parser.add_argument("--short", type=int, default=20,
                      help="loss_weights: a short window has at most this "
                           "many pieces")
  args = parser.parse_args()
  if args.probe == "loss_weights":
    loss_weights_probe(args)
    return
  if not args.run_dir:
    parser.error("--probe=%s needs --run_dir" % args.probe)
  tf.disable_eager_execution()
  os.environ.setdefault("HF_HUB_OFFLINE", "1")
  model_dir = args.model_dir or os.path.join(os.path.dirname(
      os.path.abspath(args.run_dir)), "minilm-google")
  cfg = modeling.BertConfig.from_json_file(os.path.join(model_dir,
                                                        "bert_config.json"))
  with open(os.path.join(args.run_dir, "labels.txt")) as f:
    labels = f.read().split()
  {"dropout": dropout_probe, "clipping": clipping_probe,
   "gradient": gradient_probe}[args.probe](
      args, cfg, labels, model_dir)


if __name__ == "__main__":
  main()

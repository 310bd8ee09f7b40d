"""Long documents as overlapping windows: --doc_stride, --max_windows_per_doc,
--window_pooling for run_classifier (any task, the generic one included).

Golden values: windows and pooling computed here by hand from the token
lists and plain Python loops; the pooled evaluation checked against the
predictions of the same checkpoint; the export's Predictor against
test_results.tsv.
"""

import math
import os

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from bert_tf import metrics
from bert_tf import predictor as predictor_lib
from bert_tf import tokenization
from bert_tf.heads import ClassificationHead
from bert_tf.tasks import classifier
from bert_tf.tasks import glue
from test_classifier import write_tiny_config

WORDS = ("the dog runs fast and the cat ran slow on a very big day in the "
         "old city with a man").split()


def _tokenizer(vocab):
  return tokenization.FullTokenizer(vocab, do_lower_case=True)


def _ids(tokenizer, tokens):
  return tokenizer.convert_tokens_to_ids(tokens)


def test_a_text_that_fits_is_the_reference_features(tiny_vocab_file):
  tok = _tokenizer(tiny_vocab_file)
  for a, b in (("the dog runs fast", None), ("the dog", "a cat ran slow")):
    example = glue.InputExample("x-1", a, b, "1")
    windows = classifier.convert_example_to_windows(
        5, example, ["0", "1"], 16, tok, doc_stride=4)
    single = classifier.convert_single_example(5, example, ["0", "1"], 16,
                                               tok)
    assert len(windows) == 1
    assert windows[0].input_ids == single.input_ids
    assert windows[0].input_mask == single.input_mask
    assert windows[0].segment_ids == single.segment_ids
    assert windows[0].label_id == 1 and windows[0].doc_index == 5


@pytest.mark.parametrize("seq,stride", [(12, 4), (12, 9), (16, 3), (8, 5)])
def test_windows_of_a_single_text(tiny_vocab_file, seq, stride):
  tok = _tokenizer(tiny_vocab_file)
  text = " ".join(WORDS)
  tokens = tok.tokenize(text)
  example = glue.InputExample("x-1", text, None, "0")
  windows = classifier.convert_example_to_windows(
      0, example, ["0", "1"], seq, tok, doc_stride=stride)
  size = seq - 2
  # By hand: starts 0, stride, 2 * stride, ... until a window reaches the
  # end; each window holds up to `size` tokens.
  starts = [0]
  while starts[-1] + size < len(tokens):
    starts.append(starts[-1] + stride)
  assert len(windows) == len(starts) == 1 + math.ceil(
      (len(tokens) - size) / stride)
  for start, w in zip(starts, windows):
    piece = tokens[start:start + size]
    want = _ids(tok, ["[CLS]"] + piece + ["[SEP]"])
    assert w.input_ids == want + [0] * (seq - len(want))
    assert w.input_mask == [1] * len(want) + [0] * (seq - len(want))
    assert w.segment_ids == [0] * seq
    assert w.doc_index == 0 and w.label_id == 0
  assert starts[-1] + size >= len(tokens)  # the last token is covered
  capped = classifier.convert_example_to_windows(
      0, example, ["0", "1"], seq, tok, doc_stride=stride, max_windows=2)
  assert [w.input_ids for w in capped] == [w.input_ids for w in windows[:2]]


def test_windows_of_a_pair_keep_text_b(tiny_vocab_file):
  tok = _tokenizer(tiny_vocab_file)
  text_a = " ".join(WORDS)
  tokens_a = tok.tokenize(text_a)
  seq = 16
  room = seq - 3
  # A short text b is in every window, whole.
  example = glue.InputExample("x-1", text_a, "good movie", "1")
  windows = classifier.convert_example_to_windows(
      0, example, ["0", "1"], seq, tok, doc_stride=3)
  size = room - 2
  assert len(windows) == 1 + math.ceil((len(tokens_a) - size) / 3)
  for i, w in enumerate(windows):
    piece = tokens_a[3 * i:3 * i + size]
    want = _ids(tok, ["[CLS]"] + piece + ["[SEP]", "good", "movie", "[SEP]"])
    assert w.input_ids == want + [0] * (seq - len(want))
    assert w.segment_ids == ([0] * (len(piece) + 2) + [1] * 3 +
                             [0] * (seq - len(want)))
  # A text b longer than half the room is cut to that half (its end
  # dropped); text a takes the other half.
  long_b = "i love this book and i hate this story very very really"
  tokens_b = tok.tokenize(long_b)
  assert len(tokens_b) > room // 2
  example = glue.InputExample("x-2", text_a, long_b, "1")
  windows = classifier.convert_example_to_windows(
      0, example, ["0", "1"], seq, tok, doc_stride=2)
  keep_b = room - room // 2
  for i, w in enumerate(windows):
    piece = tokens_a[2 * i:2 * i + room // 2]
    want = _ids(tok, ["[CLS]"] + piece + ["[SEP]"] + tokens_b[:keep_b] +
                ["[SEP]"])
    assert w.input_ids == want + [0] * (seq - len(want))
  assert 2 * (len(windows) - 1) + room // 2 >= len(tokens_a)


def test_pool_windows_by_hand():
  rng = np.random.RandomState(3)
  values = rng.randn(9, 3)
  docs = np.array([2, 0, 0, 5, 2, 2, -1, 0, 5])  # not adjacent; -1 padding
  for method, reduce in (("mean", np.mean), ("max", np.max)):
    got_docs, pooled = metrics.pool_windows(values, docs, method)
    assert got_docs.tolist() == [0, 2, 5]
    for d, row in zip([0, 2, 5], pooled):
      rows = [values[i] for i in range(9) if docs[i] == d]
      want = [reduce([r[c] for r in rows]) for c in range(3)]
      np.testing.assert_allclose(row, want, rtol=1e-12)
  got_docs, pooled = metrics.pool_windows(values[:, 0], docs, "mean")
  assert pooled.shape == (3,)
  with pytest.raises(ValueError, match="'median' is not one of mean, max"):
    metrics.pool_windows(values, docs, "median")


def test_pooled_document_scores_by_hand():
  rng = np.random.RandomState(5)
  n, c = 40, 3
  doc_index = np.sort(rng.randint(0, 12, size=n))
  doc_label = rng.randint(0, c, size=12)
  labels = doc_label[doc_index]
  logits = rng.randn(n, c) * 2
  weights = np.ones(n)
  weights[-3:] = 0  # padding: left out
  head = ClassificationHead(c, label_names=["x", "y", "z"],
                            window_pooling="max")
  scores = head.pooled_document_scores(logits, labels, weights, doc_index)
  kept = [i for i in range(n) if weights[i] > 0]
  docs = sorted({doc_index[i] for i in kept})
  losses, correct, preds, golds = [], 0, [], []
  for d in docs:
    rows = [logits[i] for i in kept if doc_index[i] == d]
    pooled = [max(r[k] for r in rows) for k in range(c)]
    z = sum(math.exp(v) for v in pooled)
    label = doc_label[d]
    losses.append(-math.log(math.exp(pooled[label]) / z))
    pred = pooled.index(max(pooled))
    correct += pred == label
    preds.append(pred)
    golds.append(label)
  assert scores["eval_loss"] == pytest.approx(sum(losses) / len(docs))
  assert scores["eval_accuracy"] == pytest.approx(correct / len(docs))
  matrix = np.zeros([c, c], np.int64)
  for g, p in zip(golds, preds):
    matrix[g, p] += 1
  assert np.array_equal(scores["confusion_matrix"], matrix)
  assert scores["support_y"] == sum(1 for g in golds if g == 1)


def _write_docs(data_dir, rows, name):
  os.makedirs(data_dir, exist_ok=True)
  with open(os.path.join(data_dir, name), "w", encoding="utf-8") as f:
    f.write("text\tlabel\n")
    for text, label in rows:
      f.write("%s\t%s\n" % (text, label))


def _documents(seed, count):
  """Documents of 10-60 words; the label is whether 'good' occurs."""
  rng = np.random.RandomState(seed)
  filler = [w for w in WORDS if w != "good"]
  rows = []
  for i in range(count):
    words = list(rng.choice(filler, size=rng.randint(10, 60)))
    if i % 2:
      words.insert(rng.randint(len(words)), "good")
    rows.append((" ".join(words), "pos" if i % 2 else "neg"))
  return rows


def _config(tmp_path, vocab, **kw):
  values = dict(
      task_name="generic", text_a_column="text", label_column="label",
      data_dir=str(tmp_path / "data"),
      bert_config_file=write_tiny_config(tmp_path / "bert_config.json"),
      vocab_file=vocab, output_dir=str(tmp_path / "out"), max_seq_length=16,
      train_batch_size=8, eval_batch_size=5, predict_batch_size=3,
      learning_rate=1e-3, num_train_epochs=1.0, random_seed=3)
  values.update(kw)
  return classifier.ClassifierConfig(**values)


@pytest.mark.parametrize("pooling", ["mean", "max"])
def test_train_evaluate_predict_export_pool_by_document(tmp_path,
                                                        tiny_vocab_file,
                                                        pooling):
  data_dir = str(tmp_path / "data")
  train = _documents(1, 16)
  dev = _documents(2, 7)
  _write_docs(data_dir, train, "train.tsv")
  _write_docs(data_dir, dev, "dev.tsv")
  _write_docs(data_dir, dev, "test.tsv")  # predicted: the same documents
  tok = _tokenizer(tiny_vocab_file)
  windows_per_doc = [len(classifier.convert_example_to_windows(
      i, glue.InputExample("d", text, None, label), ["neg", "pos"], 16, tok,
      doc_stride=5)) for i, (text, label) in enumerate(train)]
  assert max(windows_per_doc) >= 4
  cfg = _config(tmp_path, tiny_vocab_file, doc_stride=5,
                window_pooling=pooling, do_train=True, do_eval=True,
                do_predict=True, export_dir=str(tmp_path / "export"))
  result = classifier.run(cfg)
  # Every window is a training example.
  # The reference's schedule: int(examples / batch x epochs).
  assert result["num_train_steps"] == int(sum(windows_per_doc) / 8)

  # One row per document, in input order.
  with open(result["predict_file"], encoding="utf-8") as f:
    probs = np.array([[float(x) for x in line.split("\t")]
                      for line in f.read().splitlines()])
  assert probs.shape == (len(dev), 2)
  np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
  with open(result["predictions_file"], encoding="utf-8") as f:
    rows = f.read().splitlines()[1:]
  assert [r.split("\t")[0] for r in rows] == [str(i) for i in range(len(dev))]

  # The evaluation scored documents: its accuracy and loss are those of
  # the pooled predictions of the same checkpoint.
  ev = result["eval"]
  gold = np.array([1 if label == "pos" else 0 for _, label in dev])
  assert ev["eval_accuracy"] == pytest.approx(
      np.mean(np.argmax(probs, axis=1) == gold), abs=1e-6)
  assert ev["eval_loss"] == pytest.approx(
      -np.mean(np.log(probs[np.arange(len(dev)), gold])), rel=1e-4)
  assert sum(ev["confusion_matrix"][0]) + sum(ev["confusion_matrix"][1]) == (
      len(dev))
  assert ev["support_pos"] == int(gold.sum())

  # The export pools the same way: its windows (Predictor.featurize) pooled
  # by hand give test_results.tsv, and so does Predictor.predict.
  with predictor_lib.Predictor(result["export_path"]) as p:
    assert p.metadata["doc_stride"] == 5
    assert p.metadata["window_pooling"] == pooling
    texts = [text for text, _ in dev]
    features = p.featurize(texts)
    logits = p.run(features)["logits"]
    want = []
    for d in range(len(dev)):
      rows = logits[features["doc_index"] == d]
      pooled = rows.mean(axis=0) if pooling == "mean" else rows.max(axis=0)
      want.append(np.exp(pooled) / np.exp(pooled).sum())
    np.testing.assert_allclose(np.array(want), probs, atol=1e-6)
    np.testing.assert_allclose(p.predict(texts), probs, atol=1e-6)


def test_default_truncates_with_the_reference_features(tmp_path,
                                                       tiny_vocab_file):
  data_dir = str(tmp_path / "data")
  _write_docs(data_dir, _documents(1, 6), "train.tsv")
  cfg = _config(tmp_path, tiny_vocab_file, do_train=True)
  result = classifier.run(cfg)
  assert result["num_train_steps"] == 1  # 6 examples, batch 8
  files = [n for n in os.listdir(cfg.output_dir) if n.startswith("train-")]
  record = next(tf.io.tf_record_iterator(os.path.join(cfg.output_dir,
                                                      files[0])))
  keys = set(tf.train.Example.FromString(record).features.feature)
  assert keys == {"input_ids", "input_mask", "segment_ids", "label_ids",
                  "is_real_example"}


@pytest.mark.parametrize("kw,message", [
    (dict(doc_stride=14), r"--doc_stride=14 must be at least 1 and smaller "
     r"than the window: --max_seq_length=16 leaves 14 tokens"),
    (dict(doc_stride=0), r"--doc_stride=0 must be at least 1"),
    (dict(max_windows_per_doc=3), r"--max_windows_per_doc=3 applies to long "
     r"documents cut into windows: give --doc_stride"),
    (dict(window_pooling="max"), r"--window_pooling=max applies to long "
     r"documents"),
    (dict(doc_stride=4, max_windows_per_doc=0),
     r"--max_windows_per_doc=0 must be at least 1"),
    (dict(doc_stride=4, use_tpu=True), r"--doc_stride .* does not run on "
     r"TPUs"),
])
def test_bad_settings_are_refused(tmp_path, tiny_vocab_file, kw, message):
  _write_docs(str(tmp_path / "data"), _documents(1, 4), "train.tsv")
  with pytest.raises(ValueError, match=message):
    classifier.run(_config(tmp_path, tiny_vocab_file, do_train=True, **kw))

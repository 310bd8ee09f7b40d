"""NER data: readers, windows, word predictions, the prediction writer, head."""

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from bert_tf import heads
from bert_tf import modeling
from bert_tf import tokenization
from bert_tf.tasks import ner

CONLL2003 = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC
call NN I-NP O
. . O O

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER

-DOCSTART- -X- -X- O

BRUSSELS NNP B-NP B-LOC
"""

# WNUT-17's layout: tab-separated, sentence breaks as an empty line or a
# line holding only a tab.
WNUT = "@paulwalk\tO\nEmpire\tB-location\nState\tI-location\n\t\nESB\tB-location\n.\tO\n\nhi\tO\n"


def write(tmp_path, name, text):
  path = tmp_path / name
  path.write_text(text, encoding="utf-8")
  return str(path)


def test_read_conll2003_with_docstart(tmp_path):
  path = write(tmp_path, "train.txt", CONLL2003)
  sentences = ner.read_conll(path)
  assert [s.words for s in sentences] == [
      ["EU", "rejects", "German", "call", "."], ["Peter", "Blackburn"],
      ["BRUSSELS"]]
  assert sentences[0].tags == ["B-ORG", "O", "B-MISC", "O", "O"]
  assert sentences[1].line_numbers == [9, 10]
  assert ner.labels_from_sentences(sentences) == [
      "O", "B-LOC", "B-MISC", "B-ORG", "B-PER", "I-PER"]


def test_read_wnut_whitespace_breaks(tmp_path):
  sentences = ner.read_conll(write(tmp_path, "w.conll", WNUT))
  assert [s.words for s in sentences] == [
      ["@paulwalk", "Empire", "State"], ["ESB", "."], ["hi"]]
  assert sentences[0].tags == ["O", "B-location", "I-location"]


def test_trailing_whitespace_and_crlf(tmp_path):
  path = write(tmp_path, "t.txt", "EU\tB-ORG\t\r\nrejects O  \r\n\r\n")
  (sentence,) = ner.read_conll(path)
  assert sentence.words == ["EU", "rejects"]
  assert sentence.tags == ["B-ORG", "O"]


def test_untagged_and_auto_detection(tmp_path):
  path = write(tmp_path, "p.txt", "Hello\nworld\n\nagain\n")
  assert ner.read_conll(path, has_tags=None)[0].tags is None
  assert [s.words for s in ner.read_conll(path, has_tags=False)] == [
      ["Hello", "world"], ["again"]]
  tagged = write(tmp_path, "t.txt", CONLL2003)
  assert ner.read_conll(tagged, has_tags=None)[0].tags[0] == "B-ORG"


@pytest.mark.parametrize("text,line,what", [
    ("a O\nb\n", 2, "expected a token and its tag"),
    ("a O\nb X-PER\n", 2, "expected a tag in the last column"),
    ("a NN O\nb O\n", 2, "expected 3 columns"),
    ("a\tO\n\tO\n", 2, "expected a token and its tag"),
])
def test_malformed_lines_are_named(tmp_path, text, line, what):
  path = write(tmp_path, "bad.txt", text)
  with pytest.raises(ner.NerFormatError) as e:
    ner.read_conll(path)
  assert "%s:%d:" % (path, line) in str(e.value)
  assert what in str(e.value)


def test_non_utf8_is_named(tmp_path):
  path = tmp_path / "bad.txt"
  path.write_bytes(b"a O\n\xff O\n")
  with pytest.raises(ner.NerFormatError, match=r"bad.txt:2: not UTF-8"):
    ner.read_conll(str(path))


def test_labels_parse_and_file(tmp_path):
  assert ner.parse_labels("O,B-PER,I-PER") == ["O", "B-PER", "I-PER"]
  with pytest.raises(ValueError, match="'PER' are not tags"):
    ner.parse_labels("O,PER")
  with pytest.raises(ValueError, match="duplicate"):
    ner.parse_labels("O,O")
  path = str(tmp_path / "labels.txt")
  ner.write_labels_file(path, ["O", "S-X"])
  assert ner.read_labels_file(path) == ["O", "S-X"]


@pytest.fixture
def tokenizer(tiny_vocab_file):
  return tokenization.FullTokenizer(tiny_vocab_file, do_lower_case=True)


def test_first_piece_carries_the_label(tokenizer):
  sentence = ner.Sentence("s-0", ["unaffable", "dog", "\u200b", "runs"],
                          ["B-X", "I-X", "O", "O"], [1, 2, 3, 4])
  label_map = {"O": 0, "B-X": 1, "I-X": 2}
  (window,) = ner.convert_sentences([sentence], tokenizer, 16, 8, label_map)
  # A word with no piece (a zero-width space) becomes one [UNK].
  assert window.tokens == ["[CLS]", "un", "##aff", "##able", "dog", "[UNK]",
                           "runs", "[SEP]"]
  assert window.label_mask[:8] == [0, 1, 0, 0, 1, 1, 1, 0]
  assert window.label_ids[:8] == [0, 1, 0, 0, 2, 0, 0, 0]
  assert window.word_positions == [(1, 0), (4, 1), (5, 2), (6, 3)]
  assert window.input_mask == [1] * 8 + [0] * 8


@pytest.mark.parametrize("max_seq_length,doc_stride", [(8, 2), (8, 6),
                                                       (10, 3), (7, 1)])
def test_long_sentences_windows_cover_every_word_once(tokenizer,
                                                      max_seq_length,
                                                      doc_stride):
  words = ("the dog unaffable runs fast and the cat playing slow very "
           "really good").split()
  sentences = [ner.Sentence("s-0", words, ["O"] * len(words)),
               ner.Sentence("s-1", ["hello"], ["O"])]
  windows = ner.convert_sentences(sentences, tokenizer, max_seq_length,
                                  doc_stride, {"O": 0})
  assert len([w for w in windows if w.sentence_index == 0]) > 1
  seen = {}
  pieces, starts = ner.word_pieces(words, tokenizer)
  for w in windows:
    assert len(w.input_ids) == max_seq_length
    assert sum(w.input_mask) <= max_seq_length
    for position, word in w.word_positions:
      key = (w.sentence_index, word)
      assert key not in seen
      seen[key] = w
      if w.sentence_index == 0:
        assert w.tokens[position] == pieces[starts[word]]
  assert sorted(k[1] for k in seen if k[0] == 0) == list(range(len(words)))
  # Word predictions come back in order, one per word.
  values = [np.arange(max_seq_length) + 100 * w.unique_id for w in windows]
  per_word = ner.assemble_word_predictions(windows, values, 2)
  assert len(per_word[0]) == len(words) and len(per_word[1]) == 1


def test_the_window_with_most_context_wins(tokenizer):
  words = ["w%d" % i for i in range(10)]
  # One piece per word: "[UNK]" (w0 ... are not in the tiny vocabulary).
  spans = ner.sentence_windows(10, list(range(10)), 8, 2)
  # Windows of 6 pieces starting at 0, 2, 4: each word is owned by the one
  # where min(left, right) context is largest (earliest on ties).
  owner = {}
  for index, (span, owned) in enumerate(spans):
    for piece, word in owned:
      owner[word] = index
  assert [s.start for s, _ in spans] == [0, 2, 4]
  assert owner == {0: 0, 1: 0, 2: 0, 3: 0, 4: 1, 5: 1, 6: 2, 7: 2, 8: 2,
                   9: 2}
  del words


def test_write_predictions_round_trip(tmp_path, tokenizer):
  path = write(tmp_path, "in.txt", CONLL2003)
  sentences = ner.read_conll(path)
  predicted = [["O"] * len(s.words) for s in sentences]
  predicted[1] = ["B-PER", "I-PER"]
  out = str(tmp_path / "out.txt")
  ner.write_predictions(path, sentences, predicted, out)
  lines = open(out, encoding="utf-8").read().split("\n")
  src = CONLL2003.split("\n")
  assert len(lines) == len(src)
  for a, b in zip(src, lines):
    if a.strip() and not a.startswith("-DOCSTART-"):
      assert b.startswith(a + " ")
    else:
      assert b == a
  assert lines[8] == "Peter NNP B-NP B-PER B-PER"
  # WNUT: tab-separated, whitespace-only breaks become empty lines.
  wpath = write(tmp_path, "w.conll", WNUT)
  ws = ner.read_conll(wpath)
  ner.write_predictions(wpath, ws, [["O"] * len(s.words) for s in ws], out)
  text = open(out, encoding="utf-8").read()
  assert text.split("\n")[:5] == ["@paulwalk\tO\tO", "Empire\tB-location\tO",
                                  "State\tI-location\tO", "", "ESB\tB-location\tO"]
  assert [s.words for s in ner.read_conll(out)] == [s.words for s in ws]


def test_split_text_and_entities():
  text = "I  love New York, (NYC)."
  spans = ner.split_text(text)
  assert [w for w, _, _ in spans] == ["I", "love", "New", "York", ",", "(",
                                      "NYC", ")", "."]
  for word, start, end in spans:
    assert text[start:end] == word
  tags = ["O", "O", "B-LOC", "I-LOC", "O", "O", "B-LOC", "O", "O"]
  entities = ner.entities_from_tags(text, spans, tags, [1.0] * 9)
  assert entities == [
      {"type": "LOC", "text": "New York", "start": 8, "end": 16,
       "score": 1.0},
      {"type": "LOC", "text": "NYC", "start": 19, "end": 22, "score": 1.0}]


class _FakeModel(object):

  def __init__(self, sequence_output):
    self._seq = sequence_output

  def get_sequence_output(self):
    return self._seq


def test_head_loss_is_mean_over_labelled_positions():
  config = modeling.BertConfig(vocab_size=10, hidden_size=4,
                               hidden_dropout_prob=0.0)
  rng = np.random.RandomState(0)
  seq = rng.randn(2, 5, 4).astype(np.float32)
  labels = rng.randint(0, 3, size=(2, 5)).astype(np.int32)
  mask = np.array([[0, 1, 1, 0, 0], [0, 1, 0, 1, 1]], np.int32)
  with tf.Graph().as_default():
    out = heads.TokenClassificationHead(3)(
        config, _FakeModel(tf.constant(seq)),
        {"label_ids": tf.constant(labels), "label_mask": tf.constant(mask),
         "unique_ids": tf.constant([4, 5])}, True)
    by_name = {v.op.name: v for v in tf.trainable_variables()}
    assert sorted(by_name) == ["output_bias", "output_weights"]
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      w, b = sess.run([by_name["output_weights"], by_name["output_bias"]])
      loss, preds, per_token = sess.run(
          [out.loss, out.predictions["predictions"],
           out.predictions["per_token_loss"]])
  logits = seq @ w.T + b
  log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
  nll = -np.take_along_axis(log_probs, labels[..., None], -1)[..., 0]
  assert loss == pytest.approx((nll * mask).sum() / mask.sum(), rel=1e-5)
  np.testing.assert_allclose(per_token, nll * mask, rtol=1e-5, atol=1e-6)
  assert (preds == logits.argmax(-1)).all()


def test_constant_denominator_makes_the_loss_independent_of_batching():
  """With length bucketing the tagging loss divides by batch_size x the
  training set's mean labelled count: every labelled word then weighs the
  same whatever batch it falls in, so grouping the sentences by length
  trains the objective of randomly composed batches."""
  rng = np.random.RandomState(3)
  num, seq, labels_n = 8, 6, 3
  log_probs = np.log(rng.dirichlet(np.ones(labels_n), size=(num, seq))
                     ).astype(np.float32)
  labels = rng.randint(0, labels_n, size=(num, seq)).astype(np.int32)
  # Short and long sentences: 1-2 labelled words or 5-6.
  lengths = np.array([1, 2, 1, 2, 5, 6, 5, 6])
  mask = (np.arange(seq)[None, :] < lengths[:, None]).astype(np.int32)
  mean_count = mask.sum() / num
  nll = -np.take_along_axis(log_probs, labels[..., None], -1)[..., 0]

  def batch_losses(groups, constant):
    with tf.Graph().as_default(), tf.Session() as sess:
      out = []
      for rows in groups:
        loss, _ = heads.token_classification_loss(
            tf.constant(log_probs[rows]), tf.constant(labels[rows]),
            tf.constant(mask[rows]), mean_count if constant else None)
        out.append(sess.run(loss))
      return np.array(out)

  by_length = [[0, 1, 2, 3], [4, 5, 6, 7]]
  mixed = [[0, 4, 1, 5], [2, 6, 3, 7]]
  for groups in (by_length, mixed):
    # Constant denominator: the mean of the batch losses is the token mean
    # over the whole set, however the batches are made.
    const = batch_losses(groups, True)
    assert const.mean() == pytest.approx((nll * mask).sum() / mask.sum(),
                                         rel=1e-5)
    for rows, value in zip(groups, const):
      assert value == pytest.approx(
          (nll * mask)[rows].sum() / (len(rows) * mean_count), rel=1e-5)
  # The batch's own count (the default): the length-sorted batches weigh
  # each short sentence's words more than the mixed batches do.
  own_sorted = batch_losses(by_length, False).mean()
  own_mixed = batch_losses(mixed, False).mean()
  short_words = (nll * mask)[:4].sum()
  long_words = (nll * mask)[4:].sum()
  assert own_sorted == pytest.approx(
      (short_words / mask[:4].sum() + long_words / mask[4:].sum()) / 2,
      rel=1e-5)
  assert abs(own_sorted - own_mixed) > 1e-3


def test_bucketed_training_gets_the_training_sets_mean_count(tokenizer):
  sentences = [ner.Sentence("s-%d" % k, ["dog", "runs"] * k, ["O"] * 2 * k,
                           list(range(1, 2 * k + 1))) for k in (1, 2, 3)]
  task = ner.NerTask()
  task.labels = ["O"]
  windows = ner.convert_sentences(sentences, tokenizer, 32, 8, {"O": 0})
  task._train = (sentences, windows)  # pylint: disable=protected-access
  from bert_tf import driver  # pylint: disable=g-import-not-at-top

  def head(**settings):
    cfg = ner.NerConfig(max_seq_length=32, **settings)
    return task.head(driver.RunContext(task, cfg, None, None))

  bucketed = head(use_bucketing=True)
  assert bucketed.labelled_per_example == pytest.approx(4.0)
  assert head(use_bucketing=True, bucket_width=31).labelled_per_example == (
      pytest.approx(4.0))
  # One bucket (a width of at least max_seq_length): randomly composed
  # batches, only trimmed, keep each batch's own count as fixed padding does.
  for width in (32, 128):
    assert head(use_bucketing=True,
                bucket_width=width).labelled_per_example is None
  assert head(use_bucketing=False).labelled_per_example is None
  assert head(use_bucketing=True, use_tpu=True).labelled_per_example is None

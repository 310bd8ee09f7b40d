"""Tests for bert_tf.tasks.pretraining, create_pretraining_data.py and
bert_tf.vocab_builder.

Expectations are derived by hand from the reference algorithm (structure,
exact counts, binomial tolerances), never from our own earlier output.
"""

import math
import multiprocessing
import os
import pathlib
import random
import subprocess
import sys

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from bert_tf import tokenization
from bert_tf import vocab_builder
from bert_tf.tasks import pretraining

from conftest import ROOT
from conftest import TINY_VOCAB

CLS, SEP, MASK = "[CLS]", "[SEP]", "[MASK]"
# Whole words of the tiny vocabulary (one WordPiece token each).
WORDS = sorted({w for w in TINY_VOCAB
                if w.isalpha() and not w.startswith("##")})


def within(observed, n, p, sigmas=4.0):
  """True if `observed` successes in `n` trials fit Binomial(n, p)."""
  return abs(observed - n * p) <= sigmas * math.sqrt(n * p * (1 - p)) + 1


def write_corpus(path, documents):
  """Writes documents (lists of sentence strings), one sentence per line."""
  text = "\n\n".join("\n".join(doc) for doc in documents) + "\n"
  pathlib.Path(path).write_text(text, encoding="utf-8")
  return str(path)


def topic_documents(num_docs, num_sentences, seed=0, words_per_doc=8):
  """Documents whose sentences use disjoint word sets (one per document)."""
  rng = random.Random(seed)
  assert num_docs * words_per_doc <= len(WORDS)
  words = list(WORDS)
  rng.shuffle(words)
  documents = []
  for d in range(num_docs):
    topic = words[d * words_per_doc:(d + 1) * words_per_doc]
    documents.append([" ".join(rng.choice(topic)
                               for _ in range(rng.randint(3, 7)))
                      for _ in range(num_sentences)])
  return documents


def original_tokens(instance):
  """The tokens before masking (labels put back at the masked positions)."""
  tokens = list(instance.tokens)
  for position, label in zip(instance.masked_lm_positions,
                             instance.masked_lm_labels):
    tokens[position] = label
  return tokens


def make_instances(input_files, tokenizer, seed=12345, max_seq_length=32,
                   dupe_factor=3, short_seq_prob=0.1, masked_lm_prob=0.15,
                   max_predictions_per_seq=5, **kwargs):
  return pretraining.create_training_instances(
      input_files, tokenizer, max_seq_length, dupe_factor, short_seq_prob,
      masked_lm_prob, max_predictions_per_seq, random.Random(seed), **kwargs)


@pytest.fixture
def tokenizer(tiny_vocab_file):
  return tokenization.FullTokenizer(tiny_vocab_file, do_lower_case=True)


@pytest.fixture
def topic_corpus(tmp_path):
  documents = topic_documents(num_docs=10, num_sentences=40)
  return write_corpus(tmp_path / "topics.txt", documents), documents


def test_instance_structure_and_segments(topic_corpus, tokenizer):
  path, documents = topic_corpus
  topic_of = {}
  for d, doc in enumerate(documents):
    for word in " ".join(doc).split():
      topic_of[word] = d
  instances = make_instances(path, tokenizer, max_seq_length=32)
  assert len(instances) > 250
  for instance in instances:
    tokens = original_tokens(instance)
    assert len(tokens) <= 32
    assert len(instance.tokens) == len(tokens) == len(instance.segment_ids)
    assert tokens[0] == CLS and tokens[-1] == SEP
    assert tokens.count(SEP) == 2 and tokens.count(CLS) == 1
    sep = tokens.index(SEP)
    assert 2 <= sep <= len(tokens) - 3  # A and B are non-empty
    assert instance.segment_ids == [0] * (sep + 1) + [1] * (len(tokens) - sep -
                                                            1)
    topics_a = {topic_of[t] for t in tokens[1:sep]}
    topics_b = {topic_of[t] for t in tokens[sep + 1:-1]}
    assert len(topics_a) == 1 and len(topics_b) == 1
    # B continues A's document, or (random next) comes from another one: with
    # 10 documents, 10 failed tries to avoid A's document has chance 1e-10.
    assert (topics_a != topics_b) == instance.is_random_next


def test_random_next_fraction_long_documents(tmp_path, tokenizer):
  # Short sentences (3-7 tokens), target 61: every chunk but a document's
  # last one has >= 2 sentences, so B is random with probability 0.5. Only a
  # one-sentence last chunk is forced random: at most one per document pass
  # (it ends the document), hence at most `passes` extra random ones.
  documents = topic_documents(num_docs=10, num_sentences=400, seed=2)
  path = write_corpus(tmp_path / "long.txt", documents)
  passes = 10 * 4
  instances = make_instances(path, tokenizer, max_seq_length=64,
                             dupe_factor=4, short_seq_prob=0.0)
  n = len(instances)
  num_random = sum(i.is_random_next for i in instances)
  assert n > 1500
  sigma = math.sqrt(n * 0.25)
  assert -4 * sigma <= num_random - n / 2 <= 4 * sigma + passes


def test_random_next_two_sentence_documents(tmp_path, tokenizer):
  # Each document: two 3-token sentences, target length 29. The chunk is both
  # sentences; a_end = 1. Coin heads (p=0.5): one instance, A=s1, B=s2 (not
  # random). Tails: B is random, s2 is put back and becomes a one-sentence
  # chunk, hence a second, forced-random instance. So with X = number of
  # tails among N document passes: instances = N + X, random ones = 2X.
  rng = random.Random(3)
  documents = [[" ".join(rng.choice(WORDS) for _ in range(3))
                for _ in range(2)] for _ in range(300)]
  path = write_corpus(tmp_path / "pairs.txt", documents)
  dupe_factor = 4
  instances = make_instances(path, tokenizer, max_seq_length=32,
                             dupe_factor=dupe_factor, short_seq_prob=0.0)
  n = 300 * dupe_factor
  tails = len(instances) - n
  assert within(tails, n, 0.5)
  assert sum(i.is_random_next for i in instances) == 2 * tails
  for instance in instances:
    if not instance.is_random_next:
      assert len(instance.tokens) == 3 + 3 + 3


def test_masking_counts_and_80_10_10(topic_corpus, tokenizer):
  path, _ = topic_corpus
  max_predictions = 20
  instances = make_instances(path, tokenizer, max_seq_length=64, dupe_factor=8,
                             max_predictions_per_seq=max_predictions)
  vocab_size = len(tokenizer.vocab)
  counts = {"mask": 0, "kept": 0, "random": 0}
  for instance in instances:
    tokens = original_tokens(instance)
    positions = instance.masked_lm_positions
    expected = min(max_predictions,
                   max(1, int(round(len(tokens) * 0.15))))
    assert len(positions) == expected
    assert positions == sorted(set(positions))
    assert all(tokens[p] not in (CLS, SEP) for p in positions)
    for p, label in zip(positions, instance.masked_lm_labels):
      assert label == tokens[p] and label in tokenizer.vocab
      if instance.tokens[p] == MASK:
        counts["mask"] += 1
      elif instance.tokens[p] == label:
        counts["kept"] += 1
      else:
        counts["random"] += 1
        assert instance.tokens[p] in tokenizer.vocab
    unmasked = set(range(len(tokens))) - set(positions)
    assert all(instance.tokens[i] == tokens[i] for i in unmasked)
  total = sum(counts.values())
  assert total > 3000
  # A random word is [MASK] or the original word with probability 1/V each.
  assert within(counts["mask"], total, 0.8 + 0.1 / vocab_size)
  assert within(counts["kept"], total, 0.1 + 0.1 / vocab_size)
  assert within(counts["random"], total, 0.1 * (1 - 2.0 / vocab_size))


def word_groups(tokens, sentencepiece=False):
  """Index groups of whole words (continuation pieces join the token before)."""
  groups = []
  for i, token in enumerate(tokens):
    if token in (CLS, SEP):
      continue
    if sentencepiece:
      continues = not token.startswith("\u2581") and token.isalpha()
    else:
      continues = token.startswith("##")
    if continues and groups and groups[-1][-1] == i - 1:
      groups[-1].append(i)
    else:
      groups.append([i])
  return groups


@pytest.fixture
def multipiece_corpus(tmp_path):
  # unaffable -> un ##aff ##able, playing -> play ##ing, dogs -> dog ##s ...
  words = ["unaffable", "playing", "played", "plays", "wanted", "dogs",
           "cats", "books", "the", "man", "runs", "fast"]
  rng = random.Random(5)
  documents = [[" ".join(rng.choice(words) for _ in range(rng.randint(3, 6)))
                for _ in range(12)] for _ in range(20)]
  return write_corpus(tmp_path / "pieces.txt", documents)


def test_whole_word_masking_never_splits_words(multipiece_corpus, tokenizer):
  partial = 0
  for whole_word in (True, False):
    instances = make_instances(multipiece_corpus, tokenizer,
                               max_seq_length=48, dupe_factor=5,
                               masked_lm_prob=0.2, max_predictions_per_seq=10,
                               do_whole_word_mask=whole_word)
    assert len(instances) > 100
    for instance in instances:
      tokens = original_tokens(instance)
      assert "##aff" in tokens or "##ing" in tokens or "##s" in tokens or (
          "##ed" in tokens)
      masked = set(instance.masked_lm_positions)
      assert len(masked) <= min(10, max(1, int(round(len(tokens) * 0.2))))
      for group in word_groups(tokens):
        hit = masked.intersection(group)
        if whole_word:
          assert not hit or hit == set(group), (tokens, group, masked)
        elif hit and hit != set(group):
          partial += 1
  # Without whole-word masking, words do get partly masked (so the check
  # above can fail).
  assert partial > 50


def test_whole_word_masking_sentencepiece_groups():
  tokens = [CLS, "\u2581un", "aff", "able", "\u2581play", "ing", ",",
            "\u2581the", SEP, "s", "\u2581dog", "s", SEP]
  groups = [[1, 2, 3], [4, 5], [6], [7], [9], [10, 11]]
  assert word_groups(tokens, sentencepiece=True) == groups
  vocab_words = ["\u2581a", "b"]
  seen_sizes = set()
  for seed in range(200):
    rng = random.Random(seed)
    out, positions, labels = pretraining.create_masked_lm_predictions(
        tokens, 0.3, 20, vocab_words, rng, do_whole_word_mask=True,
        sentencepiece=True)
    # num_to_predict = round(13 * 0.3) = 4: groups are skipped, not split.
    assert 1 <= len(positions) <= 4
    assert labels == [tokens[p] for p in positions]
    for group in groups:
      hit = set(positions).intersection(group)
      assert not hit or hit == set(group)
    seen_sizes.add(len(positions))
    assert out[0] == CLS and out[8] == SEP and out[12] == SEP
  assert 4 in seen_sizes


def test_truncate_seq_pair_longest_first_both_ends():
  fronts = backs = 0
  for seed in range(100):
    a = list(range(10))
    b = list(range(100, 104))
    pretraining.truncate_seq_pair(a, b, 9, random.Random(seed))
    # 14 -> 9 tokens, always from the longer list (A: 10 -> 5; B untouched).
    assert len(a) == 5 and b == list(range(100, 104))
    assert a == list(range(a[0], a[0] + 5))  # contiguous
    fronts += a[0] > 0
    backs += a[-1] < 9
  assert fronts > 10 and backs > 10


def parse_records(path, max_seq_length, max_predictions):
  spec = pretraining.name_to_features(max_seq_length, max_predictions)
  records = list(tf.io.tf_record_iterator(path))
  with tf.Graph().as_default():
    serialized = tf.placeholder(tf.string, [])
    parsed = tf.io.parse_single_example(serialized, spec)
    with tf.Session() as sess:
      return [sess.run(parsed, {serialized: r}) for r in records]


def test_written_features(topic_corpus, tokenizer, tmp_path):
  path, _ = topic_corpus
  instances = make_instances(path, tokenizer, max_seq_length=40,
                             dupe_factor=1, max_predictions_per_seq=6)[:25]
  outputs = [str(tmp_path / "out" / "a.tfrecord"),
             str(tmp_path / "out" / "b.tfrecord")]
  assert pretraining.write_instances(instances, tokenizer, 40, 6,
                                     ",".join(outputs)) == 25
  assert sorted(os.listdir(tmp_path / "out")) == ["a.tfrecord", "b.tfrecord"]
  parsed = [parse_records(p, 40, 6) for p in outputs]
  assert [len(p) for p in parsed] == [13, 12]
  for index, instance in enumerate(instances):
    features = parsed[index % 2][index // 2]
    assert features["input_ids"].shape == (40,)
    assert features["input_ids"].dtype == np.int64
    assert features["masked_lm_weights"].dtype == np.float32
    n = len(instance.tokens)
    ids = [tokenizer.vocab[t] for t in instance.tokens]
    np.testing.assert_array_equal(features["input_ids"], ids + [0] * (40 - n))
    np.testing.assert_array_equal(features["input_mask"],
                                  [1] * n + [0] * (40 - n))
    np.testing.assert_array_equal(features["segment_ids"],
                                  instance.segment_ids + [0] * (40 - n))
    k = len(instance.masked_lm_positions)
    assert 1 <= k <= 6
    np.testing.assert_array_equal(features["masked_lm_positions"],
                                  instance.masked_lm_positions + [0] * (6 - k))
    np.testing.assert_array_equal(
        features["masked_lm_ids"],
        [tokenizer.vocab[t] for t in instance.masked_lm_labels] + [0] * (6 - k))
    np.testing.assert_array_equal(features["masked_lm_weights"],
                                  [1.0] * k + [0.0] * (6 - k))
    np.testing.assert_array_equal(features["next_sentence_labels"],
                                  [int(instance.is_random_next)])


def generate(input_files, tokenizer, output, seed, num_workers=1):
  instances = make_instances(input_files, tokenizer, seed=seed,
                             max_seq_length=32, dupe_factor=3,
                             num_workers=num_workers)
  pretraining.write_instances(instances, tokenizer, 32, 5, output)
  return pathlib.Path(output).read_bytes()


def test_determinism_seed_and_workers(tmp_path, tokenizer):
  documents = topic_documents(num_docs=10, num_sentences=15, seed=1)
  files = ",".join([write_corpus(tmp_path / "a.txt", documents[:6]),
                    write_corpus(tmp_path / "b.txt", documents[6:])])
  first = generate(files, tokenizer, str(tmp_path / "1.tfrecord"), seed=7)
  again = generate(files, tokenizer, str(tmp_path / "2.tfrecord"), seed=7)
  other = generate(files, tokenizer, str(tmp_path / "3.tfrecord"), seed=8)
  parallel = generate(files, tokenizer, str(tmp_path / "4.tfrecord"), seed=7,
                      num_workers=2)
  assert len(first) > 1000
  assert first == again
  assert first != other
  assert first == parallel


def test_empty_documents_are_counted_not_fatal(tmp_path, tokenizer):
  # Control characters are removed by the tokenizer: those documents are
  # empty. Runs of blank lines are a single boundary, not documents.
  text = ("the dog runs .\nthe cat ran .\n\n\n\n\x07\x07\n\x01\n\n"
          "a man .\nhello world .\n\n\x07\n")
  path = tmp_path / "empty.txt"
  path.write_text(text, encoding="utf-8")
  documents, stats = pretraining.read_documents(str(path), tokenizer)
  assert stats.num_documents == 2 and len(documents) == 2
  assert stats.num_empty_documents == 2
  assert stats.num_sentences == 4
  assert documents[0] == [["the", "dog", "runs", "."],
                          ["the", "cat", "ran", "."]]
  instances = make_instances(str(path), tokenizer, dupe_factor=2)
  assert instances


def test_non_utf8_names_file_and_line(tmp_path, tokenizer):
  path = tmp_path / "bad.txt"
  path.write_bytes(b"the dog .\n\nthe cat \xff\xfe ran .\n")
  with pytest.raises(ValueError, match=r"bad\.txt:3: not valid UTF-8"):
    pretraining.read_documents(str(path), tokenizer)


def test_missing_special_tokens_and_bad_config(tmp_path):
  vocab = tmp_path / "v.txt"
  vocab.write_text("[PAD]\n[UNK]\nthe\n", encoding="utf-8")
  corpus = write_corpus(tmp_path / "c.txt", [["the the"]])
  tok = tokenization.FullTokenizer(str(vocab))
  with pytest.raises(ValueError, match=r"v\.txt.*\[CLS\]"):
    make_instances(corpus, tok)
  with pytest.raises(ValueError, match="max_predictions_per_seq=200"):
    pretraining.check_config(128, 200)
  with pytest.raises(ValueError, match="max_seq_length=4"):
    pretraining.check_config(4, 1)
  pretraining.check_config(128, 20)


def test_split_sentences():
  text = ('"Oh! it is Mr. Knightley," said Mrs. Weston. Dr. J. Smith of '
          'St. Paul\'s came at 5 p.m. on Tuesday. Was he late?  "No!" '
          '"Why?" said he. It was, e.g. in May... The end.')
  assert pretraining.split_sentences(text) == [
      '"Oh! it is Mr. Knightley," said Mrs. Weston.',
      "Dr. J. Smith of St. Paul's came at 5 p.m. on Tuesday.",
      "Was he late?",
      '"No!"',
      '"Why?" said he.',
      "It was, e.g. in May...",
      "The end.",
  ]
  assert pretraining.split_sentences("  ") == []
  assert pretraining.split_sentences("no end") == ["no end"]


def test_sentence_split_documents(tmp_path, tokenizer):
  text = ("THE TITLE\n\nby Someone\n\n\nCHAPTER I\n\n\n"
          "The dog runs\nfast. The cat ran!\n\nHello world.\n\n"
          "Chapter 2.\n\nA man.  He ran.\n")
  path = tmp_path / "novel.txt"
  path.write_text(text, encoding="utf-8")
  raw = pretraining.read_raw_documents(str(path), sentence_split=True)
  assert [d.units for d in raw] == [
      ["THE TITLE", "by Someone"],
      ["The dog runs fast. The cat ran!", "Hello world."],
      ["A man.  He ran."],
  ]
  assert [d.line_number for d in raw] == [1, 9, 16]
  documents, stats = pretraining.read_documents(str(path), tokenizer,
                                                sentence_split=True)
  assert stats.num_documents == 3 and stats.num_sentences == 2 + 3 + 2
  assert documents[1] == [["the", "dog", "runs", "fast", "."],
                          ["the", "cat", "ran", "!"], ["hello", "world", "."]]


def test_sentence_split_real_novel(corpus_dir):
  # "Persuasion" has a title block and 24 "Chapter N" headings.
  path = corpus_dir / "janeausten" / "persuasion.txt"
  raw = pretraining.read_raw_documents(str(path), sentence_split=True)
  assert len(raw) == 25
  assert all(len(d.units) >= 2 for d in raw)


def test_script_end_to_end(corpus_dir, minilm_dir, tmp_path):
  output = tmp_path / "tf_examples.tfrecord"
  command = [
      sys.executable, str(ROOT / "create_pretraining_data.py"),
      "--input_file=%s" % (corpus_dir / "sample_text.txt"),
      "--output_file=%s" % output,
      "--vocab_file=%s" % (minilm_dir / "vocab.txt"),
      "--do_lower_case=True",
      "--max_seq_length=128",
      "--max_predictions_per_seq=20",
      "--masked_lm_prob=0.15",
      "--random_seed=12345",
      "--dupe_factor=2",
  ]
  result = subprocess.run(command, cwd=str(ROOT), capture_output=True,
                          text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  # No temp files (the hidden marker records which run completed it).
  assert _visible(tmp_path) == ["tf_examples.tfrecord"]
  records = parse_records(str(output), 128, 20)
  assert len(records) > 10
  vocab = tokenization.load_vocab(str(minilm_dir / "vocab.txt"))
  for features in records:
    ids = features["input_ids"]
    n = int(features["input_mask"].sum())
    assert ids[0] == vocab[CLS] and ids[n - 1] == vocab[SEP]
    assert (ids[:n] == vocab[SEP]).sum() >= 2 and not ids[n:].any()
    k = int(features["masked_lm_weights"].sum())
    assert 1 <= k <= 20
    assert (features["masked_lm_positions"][:k] < n).all()
    assert features["next_sentence_labels"][0] in (0, 1)


def test_vocab_builder_wordpiece(corpus_dir, tmp_path):
  corpus = str(corpus_dir / "sample_text.txt")
  result = vocab_builder.build_vocab(corpus, str(tmp_path / "v1"), 600,
                                     num_unused=2)
  vocab = pathlib.Path(result.vocab_file).read_text("utf-8").split("\n")[:-1]
  assert vocab[:7] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
                       "[unused0]", "[unused1]"]
  assert len(vocab) == len(set(vocab)) == result.vocab_size <= 600
  assert any(t.startswith("##") and len(t) > 3 for t in vocab)
  assert any(not t.startswith(("##", "[")) and len(t) > 2 for t in vocab)
  # Independent [UNK] count over every line of the corpus.
  tok = tokenization.FullTokenizer(result.vocab_file, do_lower_case=True)
  tokens = []
  for line in pathlib.Path(corpus).read_text("utf-8").splitlines():
    tokens.extend(tok.tokenize(line))
  assert len(tokens) > 500
  assert tokens.count("[UNK]") / len(tokens) < 0.02
  assert result.unk_rate < 0.02
  # Same input, same vocabulary.
  again = vocab_builder.build_vocab(corpus, str(tmp_path / "v2"), 600,
                                    num_unused=2)
  assert (pathlib.Path(again.vocab_file).read_bytes() ==
          pathlib.Path(result.vocab_file).read_bytes())


def test_vocab_builder_sentencepiece_cli(corpus_dir, tmp_path):
  corpus = str(corpus_dir / "sample_text.txt")
  command = [sys.executable, "-m", "bert_tf.vocab_builder",
             "--input_file=%s" % corpus, "--output_dir=%s" % tmp_path,
             "--vocab_size=400", "--do_lower_case",
             "--model_type=sentencepiece"]
  result = subprocess.run(command, cwd=str(ROOT), capture_output=True,
                          text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "unk_rate:" in result.stdout
  assert sorted(os.listdir(tmp_path)) == ["spm.model", "vocab.txt"]
  tok = tokenization.FullTokenizer(None, do_lower_case=True,
                                   spm_model_file=str(tmp_path / "spm.model"))
  assert [tok.vocab[t] for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]",
                                 "[MASK]")] == [0, 1, 2, 3, 4]
  vocab = (tmp_path / "vocab.txt").read_text("utf-8").split("\n")[:-1]
  assert vocab == list(tok.vocab)
  tokens = []
  for line in pathlib.Path(corpus).read_text("utf-8").splitlines():
    tokens.extend(tok.tokenize(line))
  assert tokens.count("[UNK]") / len(tokens) < 0.02
  assert any(t.startswith("\u2581") for t in tokens)


# ----------------------------------------------------------------------------
# Streaming, sharded creation (bert_tf.tasks.pretraining_stream) and the
# TensorFlow-free record writer (bert_tf.tfrecord).
# ----------------------------------------------------------------------------

from bert_tf import tfrecord  # pylint: disable=g-import-not-at-top
from bert_tf.tasks import pretraining_stream  # pylint: disable=g-import-not-at-top


def test_tfrecord_matches_tensorflow(tmp_path):
  for data in (b"", b"a", b"hello world" * 100):
    assert tfrecord._crc32c_python(data) == tfrecord.crc32c(data)
  # Known CRC32C check value.
  assert tfrecord.crc32c(b"123456789") == 0xE3069283
  example = tfrecord.serialize_example({
      "ids": ("int64", [0, 1, 127, 128, 30521, 2**40, -1]),
      "w": ("float", [1.0, 0.5, 0.0]),
  })
  path = tmp_path / "r.tfrecord"
  path.write_bytes(tfrecord.frame_record(example) * 2)
  records = list(tf.io.tf_record_iterator(str(path)))
  assert records == [example, example]
  assert list(tfrecord.read_records(str(path))) == records
  parsed = tf.train.Example.FromString(records[0])
  assert list(parsed.features.feature["ids"].int64_list.value) == [
      0, 1, 127, 128, 30521, 2**40, -1]
  assert list(parsed.features.feature["w"].float_list.value) == [1.0, 0.5, 0.0]
  path.write_bytes(tfrecord.frame_record(example)[:-3])
  with pytest.raises(ValueError, match="r.tfrecord: truncated record"):
    list(tfrecord.read_records(str(path)))


def test_output_paths():
  assert pretraining_stream.output_paths("o/a.tfrecord@3") == [
      "o/a.tfrecord-00000-of-00003", "o/a.tfrecord-00001-of-00003",
      "o/a.tfrecord-00002-of-00003"]
  assert pretraining_stream.output_paths("a, b") == ["a", "b"]
  with pytest.raises(ValueError, match="twice"):
    pretraining_stream.output_paths("a,a")
  with pytest.raises(ValueError, match="No output"):
    pretraining_stream.output_paths(" , ")


def test_text_block_ranges_tile_the_file(tmp_path):
  rng = random.Random(0)
  lines = []
  for d in range(60):
    for _ in range(rng.randint(1, 4)):
      lines.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 9)))
                   + ("\u00e9" if d % 7 == 0 else ""))
    lines.append(rng.choice(["", "  ", "\t", "", "\n"]))
  path = tmp_path / "c.txt"
  path.write_text("\n".join(lines), encoding="utf-8")  # no final newline
  whole = [(o, b) for _, o, b in pretraining.iter_text_blocks(str(path))]
  assert len(whole) == 60
  size = path.stat().st_size
  for trial in range(30):
    cuts = sorted({0, size} | {rng.randint(1, size - 1)
                               for _ in range(rng.randint(1, 12))})
    pieces = []
    for start, end in zip(cuts, cuts[1:]):
      pieces.extend((o, b) for _, o, b in
                    pretraining.iter_text_blocks(str(path), start, end))
    assert pieces == whole, trial
  # Line numbers are exact when reading from the start.
  first = next(pretraining.iter_text_blocks(str(path)))
  assert first[0] == 1 and first[1] == 0


def test_id_tokenizer_matches_full_tokenizer(minilm_dir):
  tok = tokenization.FullTokenizer(str(minilm_dir / "vocab.txt"),
                                   do_lower_case=True)
  ids = pretraining_stream.IdTokenizer(tok)
  texts = [
      "Hello, World! It's 5 p.m. -- na\u00efve caf\u00e9 r\u00e9sum\u00e9s.",
      "\u4e2d\u6587abc\u6587 mixed\u3000full-width\u00a0nbsp",
      "ctrl\x07char and\x0bvtab and\x1cfs and\u2028ls and \x85nel",
      "zero\u200bwidth \ufeffbom  tabs\tand   spaces",
      "supercalifragilisticexpialidocious" * 5,
      "",
  ]
  for _ in range(2):  # second pass hits the word cache
    for text in texts:
      expected = tok.convert_tokens_to_ids(tok.tokenize(text))
      assert list(ids.ids(text)) == expected, text


def stream_config(**kwargs):
  defaults = dict(max_seq_length=32, max_predictions_per_seq=5,
                  dupe_factor=3, random_seed=12345, window_bytes=600)
  defaults.update(kwargs)
  return pretraining_stream.DataConfig(**defaults)


def parse_all(paths, max_seq_length, max_predictions):
  return [f for p in paths for f in parse_records(p, max_seq_length,
                                                  max_predictions)]


def test_stream_deterministic_for_any_workers(tmp_path, tokenizer):
  documents = topic_documents(num_docs=10, num_sentences=15, seed=1)
  files = ",".join([write_corpus(tmp_path / "a.txt", documents[:6]),
                    write_corpus(tmp_path / "b.txt", documents[6:])])

  def run(name, workers, **kwargs):
    outputs = str(tmp_path / name / "o.tfrecord@3")
    summary = pretraining_stream.create_pretraining_data(
        files, outputs, tokenizer, stream_config(**kwargs),
        num_workers=workers)
    assert _visible(tmp_path / name) == [
        "o.tfrecord-0000%d-of-00003" % k for k in range(3)]
    return [pathlib.Path(p).read_bytes() for p in summary.outputs], summary

  first, summary = run("1", 1)
  assert summary.stats.documents == 10 and summary.stats.windows > 3
  assert all(len(b) > 1000 for b in first)
  assert run("2", 2)[0] == first
  assert run("3", 3)[0] == first
  assert run("4", 1, random_seed=7)[0] != first


def test_stream_instances_structure_and_statistics(tmp_path, tokenizer):
  documents = topic_documents(num_docs=10, num_sentences=150, seed=3)
  topic_of = {}
  for d, doc in enumerate(documents):
    for word in " ".join(doc).split():
      topic_of[tokenizer.vocab[word]] = d
  path = write_corpus(tmp_path / "t.txt", documents)
  summary = pretraining_stream.create_pretraining_data(
      path, str(tmp_path / "o" / "x@2"), tokenizer,
      stream_config(max_seq_length=64, max_predictions_per_seq=20,
                    dupe_factor=4, window_bytes=1 << 20))
  features = parse_all(summary.outputs, 64, 20)
  assert len(features) == summary.stats.instances > 400
  cls, sep, mask = (tokenizer.vocab[t] for t in (CLS, SEP, MASK))
  counts = {"mask": 0, "kept": 0, "random": 0}
  for f in features:
    n = int(f["input_mask"].sum())
    ids = f["input_ids"][:n].copy()
    k = int(f["masked_lm_weights"].sum())
    positions = f["masked_lm_positions"][:k]
    labels = f["masked_lm_ids"][:k]
    assert k == min(20, max(1, int(round(n * 0.15))))
    assert list(positions) == sorted(set(positions))
    for p, label in zip(positions, labels):
      if ids[p] == mask:
        counts["mask"] += 1
      elif ids[p] == label:
        counts["kept"] += 1
      else:
        counts["random"] += 1
      ids[p] = label
    assert ids[0] == cls and ids[n - 1] == sep and list(ids).count(sep) == 2
    s = list(ids).index(sep)
    assert list(f["segment_ids"][:n]) == [0] * (s + 1) + [1] * (n - s - 1)
    topics_a = {topic_of[t] for t in ids[1:s]}
    topics_b = {topic_of[t] for t in ids[s + 1:n - 1]}
    assert len(topics_a) == 1 and len(topics_b) == 1
    assert (topics_a != topics_b) == bool(f["next_sentence_labels"][0])
  total = sum(counts.values())
  vocab_size = len(tokenizer.vocab)
  assert within(counts["mask"], total, 0.8 + 0.1 / vocab_size)
  assert within(counts["kept"], total, 0.1 + 0.1 / vocab_size)
  num_random = sum(int(f["next_sentence_labels"][0]) for f in features)
  # Short sentences: B is random with probability 0.5, plus at most one
  # forced one-sentence chunk per document and pass (10 x 4).
  sigma = math.sqrt(len(features) * 0.25)
  assert -4 * sigma <= num_random - len(features) / 2 <= 4 * sigma + 40
  assert summary.stats.random_next == num_random


def _visible(directory):
  return sorted(n for n in os.listdir(directory) if not n.startswith("."))


def test_stream_resumes_and_skips_complete_shards(tmp_path, tokenizer):
  documents = topic_documents(num_docs=8, num_sentences=10, seed=4)
  path = write_corpus(tmp_path / "t.txt", documents)
  out = str(tmp_path / "o" / "x@4")
  config = stream_config()
  first = pretraining_stream.create_pretraining_data(path, out, tokenizer,
                                                     config)
  before = [pathlib.Path(p).read_bytes() for p in first.outputs]
  os.remove(first.outputs[2])
  again = pretraining_stream.create_pretraining_data(path, out, tokenizer,
                                                     config)
  assert again.written == [first.outputs[2]]
  assert len(again.skipped) == 3
  assert [pathlib.Path(p).read_bytes() for p in first.outputs] == before
  assert _visible(tmp_path / "o") == sorted(
      os.path.basename(p) for p in first.outputs)
  # A file of another origin under a shard's name is written anew.
  pathlib.Path(first.outputs[1]).write_bytes(b"not ours")
  os.remove(os.path.join(tmp_path, "o", "." + os.path.basename(
      first.outputs[1]) + ".complete"))
  third = pretraining_stream.create_pretraining_data(path, out, tokenizer,
                                                     config)
  assert third.written == [first.outputs[1]]
  assert pathlib.Path(first.outputs[1]).read_bytes() == before[1]
  # Two machines: each writes its own shards; together the same files.
  for task in (0, 1):
    summary = pretraining_stream.create_pretraining_data(
        path, str(tmp_path / "m" / "x@4"), tokenizer, config,
        task_index=task, num_tasks=2)
    assert [int(p[-10:-9]) % 2 for p in summary.written] == [task, task]
  assert [pathlib.Path(p).read_bytes()
          for p in pretraining_stream.output_paths(
              str(tmp_path / "m" / "x@4"))] == before


def test_stream_bad_input_names_file_and_line(tmp_path, tokenizer):
  path = tmp_path / "bad.txt"
  good = "the dog runs .\nthe cat ran .\n\n" * 200
  path.write_bytes(good.encode() + b"the \xff cat .\n")
  line = good.count("\n") + 1
  for workers in (1, 2):
    with pytest.raises(ValueError, match=r"bad\.txt:%d: not valid UTF-8" %
                       line):
      pretraining_stream.create_pretraining_data(
          str(path), str(tmp_path / "o" / "x@2"), tokenizer,
          stream_config(window_bytes=1000), num_workers=workers)
  assert not (tmp_path / "o").exists() or not any(
      n.startswith("x") and "parts" not in n and "tmp" not in n
      for n in os.listdir(tmp_path / "o"))


def _instance_keys(paths):
  """Every record of `paths` as bytes, file by file."""
  return [list(tfrecord.read_records(p)) for p in paths]


@pytest.mark.parametrize("num_docs,window_bytes,num_outputs", [
    (3, 1 << 20, 2),    # one window: everything in one pool
    (3, 1 << 20, 7),
    (10, 400, 3),       # many windows of unequal instance counts
    (10, 400, 5),
])
def test_stream_outputs_get_equal_shares(tmp_path, tokenizer, num_docs,
                                         window_bytes, num_outputs):
  documents = topic_documents(num_docs=num_docs, num_sentences=12, seed=5)
  path = write_corpus(tmp_path / "t.txt", documents)
  config = stream_config(window_bytes=window_bytes)
  one = pretraining_stream.create_pretraining_data(
      path, str(tmp_path / "a" / ("o@%d" % num_outputs)), tokenizer, config)
  files = _instance_keys(one.outputs)
  counts = [len(f) for f in files]
  assert sum(counts) == one.stats.instances
  assert max(counts) - min(counts) <= 1, counts
  # Round-robin over the windows' instances in order: file k holds instances
  # k, k + n, k + 2n, ... of the one sequence.
  merged = [files[g % num_outputs][g // num_outputs]
            for g in range(sum(counts))]
  assert len(set(merged)) == len(merged)
  # The same files for any number of workers.
  two = pretraining_stream.create_pretraining_data(
      path, str(tmp_path / "b" / ("o@%d" % num_outputs)), tokenizer, config,
      num_workers=2)
  assert _instance_keys(two.outputs) == files


def test_stream_too_few_instances_for_outputs(tmp_path, tokenizer):
  path = write_corpus(tmp_path / "t.txt", [["the dog ran .", "a cat sat ."]])
  with pytest.raises(ValueError, match=r"too few for 40 output files.*at "
                     r"most \d+ output file"):
    pretraining_stream.create_pretraining_data(
        path, str(tmp_path / "o" / "x@40"), tokenizer,
        stream_config(dupe_factor=1))
  assert _visible(tmp_path / "o") == []


def _run_task(args):
  path, out, vocab_file, task = args
  tok = tokenization.FullTokenizer(vocab_file, do_lower_case=True)
  pretraining_stream.create_pretraining_data(
      path, out, tok, stream_config(window_bytes=300), task_index=task,
      num_tasks=2)


def test_stream_tasks_side_by_side_share_windows(tmp_path, tokenizer,
                                                 tiny_vocab_file):
  documents = topic_documents(num_docs=10, num_sentences=12, seed=6)
  path = write_corpus(tmp_path / "t.txt", documents)
  alone = pretraining_stream.create_pretraining_data(
      path, str(tmp_path / "one" / "x@3"), tokenizer,
      stream_config(window_bytes=300))
  out = str(tmp_path / "two" / "x@3")
  with multiprocessing.get_context("fork").Pool(2) as pool:
    pool.map(_run_task, [(path, out, tiny_vocab_file, t) for t in (0, 1)])
  together = pretraining_stream.output_paths(out)
  assert [pathlib.Path(p).read_bytes() for p in together] == [
      pathlib.Path(p).read_bytes() for p in alone.outputs]
  # The last task to finish removed the part files.
  assert sorted(os.listdir(tmp_path / "two")) == sorted(
      [os.path.basename(p) for p in together] +
      ["." + os.path.basename(p) + ".complete" for p in together])


def test_script_two_outputs_equal_shares(corpus_dir, minilm_dir, tmp_path):
  # The reference's command line with two output files: two usable files.
  outputs = [tmp_path / "a.tfrecord", tmp_path / "b.tfrecord"]
  result = subprocess.run([
      sys.executable, str(ROOT / "create_pretraining_data.py"),
      "--input_file=%s" % (corpus_dir / "sample_text.txt"),
      "--output_file=%s" % ",".join(str(p) for p in outputs),
      "--vocab_file=%s" % (minilm_dir / "vocab.txt"),
      "--max_seq_length=64", "--max_predictions_per_seq=10",
      "--dupe_factor=20"], cwd=str(ROOT), capture_output=True, text=True,
                          timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  counts = [len(parse_records(str(p), 64, 10)) for p in outputs]
  assert min(counts) > 100 and abs(counts[0] - counts[1]) <= 1, counts

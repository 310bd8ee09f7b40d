"""Tests for bert_tf.tasks.squad and bert_tf.tasks.squad_eval.

Every expected value below was worked out by hand from the inputs (word and
word-piece positions are listed next to each context).
"""

import json
import math
import os

import numpy as np
import pytest
import tensorflow as tf

from bert_tf import input_pipeline
from bert_tf import tokenization
from bert_tf.tasks import squad
from bert_tf.tasks import squad_eval

# Words: 0 The, 1 film, 2 (1990), 3 was, 4 made, 5 in, 6 Zürich,,
# 7 Switzerland,, 8 by, 9 Müller.
# Pieces (uncased vocab): 0 the, 1 film, 2 (, 3 1990, 4 ), 5 was, 6 made,
# 7 in, 8 zurich, 9 ",", 10 switzerland, 11 ",", 12 by, 13 muller, 14 "."
FILM = "The film (1990) was made in Zürich, Switzerland, by Müller."

# Words: 0 Zbigniew, 1 Brzezinski, 2 advised, 3 Carter, 4 on, 5 1,234,567,
# 6 files.
# Pieces: 0 z, 1 ##bi, 2 ##gni, 3 ##ew, 4 br, 5 ##ze, 6 ##zin, 7 ##ski,
# 8 advised, 9 carter, 10 on, 11 1, 12 ",", 13 234, 14 ",", 15 56, 16 ##7,
# 17 files, 18 "."
CARTER = "Zbigniew Brzezinski advised Carter on 1,234,567 files."

# Twelve words, one tiny-vocab token each:
# 0 the, 1 dog, 2 runs, 3 fast, 4 and, 5 the, 6 cat, 7 ran, 8 slow, 9 in,
# 10 the, 11 city.
LONG = "the dog runs fast and the cat ran slow in the city"


def _write_json(path, obj):
  path.write_text(json.dumps(obj), encoding="utf-8")
  return str(path)


def _squad_file(tmp_path, paragraphs, name="data.json"):
  return _write_json(tmp_path / name,
                     {"version": "1.1",
                      "data": [{"title": "T", "paragraphs": paragraphs}]})


def _qa(qas_id, question, answers=None, **extra):
  qa = {"id": qas_id, "question": question}
  if answers is not None:
    qa["answers"] = [{"text": t, "answer_start": s} for t, s in answers]
  qa.update(extra)
  return qa


_TOKENIZERS = {}


@pytest.fixture
def uncased_tokenizer(minilm_dir):
  """FullTokenizer on Google's uncased vocabulary (loaded once)."""
  vocab = str(minilm_dir / "vocab.txt")
  if vocab not in _TOKENIZERS:
    _TOKENIZERS[vocab] = tokenization.FullTokenizer(vocab, do_lower_case=True)
  return _TOKENIZERS[vocab]


def _features(examples, tokenizer, is_training, max_seq_length=64,
              doc_stride=128, max_query_length=64):
  out = []
  n = squad.convert_examples_to_features(
      examples, tokenizer, max_seq_length=max_seq_length,
      doc_stride=doc_stride, max_query_length=max_query_length,
      is_training=is_training, output_fn=out.append)
  assert n == len(out)
  return out


# ----------------------------------------------------------------- reading


def test_split_context_whitespace_and_offsets():
  # "\u202f" (narrow no-break space), tab and newline separate words;
  # U+00A0 does not (as in the reference).
  tokens, offsets = squad.split_context(" a\u202fbc\td\u00a0e\n")
  assert tokens == ["a", "bc", "d\u00a0e"]
  assert offsets == [-1, 0, 0, 1, 1, 1, 2, 2, 2, 2]


def test_read_training_spans_punctuation_and_unicode(tmp_path):
  path = _squad_file(tmp_path, [
      {"context": FILM,
       "qas": [_qa("year", "When?", [("1990", 10)]),
               _qa("city", "Where?", [("Zürich", 28)]),
               _qa("place", "Where?", [("Zürich, Switzerland", 28)]),
               _qa("who", "Who?", [("Müller", 52)])]}])
  examples = squad.read_squad_examples(path, is_training=True)
  assert [(e.qas_id, e.start_position, e.end_position) for e in examples] == [
      ("year", 2, 2), ("city", 6, 6), ("place", 6, 7), ("who", 9, 9)]
  assert examples[0].doc_tokens[2] == "(1990)"
  assert examples[1].doc_tokens[6] == "Zürich,"
  assert examples[2].orig_answer_text == "Zürich, Switzerland"
  assert not examples[0].is_impossible


def test_read_eval_has_no_positions(tmp_path):
  path = _squad_file(tmp_path, [
      {"context": FILM,
       "qas": [_qa("a", "When?", [("1990", 10), ("1990", 10), ("(1990)", 9)])]}
  ])
  (example,) = squad.read_squad_examples(path, is_training=False)
  assert example.start_position is None and example.end_position is None
  assert example.question_text == "When?"


def test_shared_dev_file_gives_4961_examples(squad_file):
  examples = squad.read_squad_examples(str(squad_file), is_training=False)
  assert len(examples) == 4961
  assert examples[0].qas_id == "56be4db0acb8001400a502ec"
  assert examples[0].question_text == (
      "Which NFL team represented the AFC at Super Bowl 50?")


def test_shared_dev_file_rejected_for_training(squad_file):
  # Dev questions carry three answers; training needs exactly one.
  with pytest.raises(ValueError,
                     match=r"56be4db0acb8001400a502ec.*exactly one"):
    squad.read_squad_examples(str(squad_file), is_training=True)


def test_missing_field_error_names_file_question_and_field(tmp_path):
  qa = _qa("q-without-question", "x", [("1990", 10)])
  del qa["question"]
  path = _squad_file(tmp_path, [{"context": FILM, "qas": [qa]}], "bad.json")
  with pytest.raises(squad.SquadFormatError) as info:
    squad.read_squad_examples(path, is_training=False)
  message = str(info.value)
  assert "bad.json" in message
  assert "q-without-question" in message
  assert "'question'" in message

  qa = _qa("q-no-start", "x")
  qa["answers"] = [{"text": "1990"}]
  path = _squad_file(tmp_path, [{"context": FILM, "qas": [qa]}], "bad2.json")
  with pytest.raises(ValueError, match=r"bad2\.json.*q-no-start.*answer_start"):
    squad.read_squad_examples(path, is_training=True)

  path = _squad_file(tmp_path, [{"qas": []}], "bad3.json")
  with pytest.raises(ValueError, match=r"bad3\.json.*'context'"):
    squad.read_squad_examples(path, is_training=False)


def test_missing_is_impossible_in_v2_training(tmp_path):
  path = _squad_file(tmp_path, [
      {"context": FILM, "qas": [_qa("q1", "When?", [("1990", 10)])]}])
  with pytest.raises(ValueError, match=r"q1.*'is_impossible'"):
    squad.read_squad_examples(path, is_training=True,
                              version_2_with_negative=True)


def test_answer_not_in_context_is_skipped_and_reported(tmp_path, caplog):
  path = _squad_file(tmp_path, [
      {"context": FILM,
       "qas": [_qa("good", "When?", [("1990", 10)]),
               # Offset 4 is "film", not "Zürich".
               _qa("wrong-offset", "Where?", [("Zürich", 4)]),
               _qa("past-end", "Where?", [("Müller.", 55)])]}])
  with caplog.at_level("WARNING"):
    examples, skipped = squad.read_squad_examples(
        path, is_training=True, return_skipped=True)
  assert [e.qas_id for e in examples] == ["good"]
  assert [qas_id for qas_id, _ in skipped] == ["wrong-offset", "past-end"]
  assert "skipped 2 question(s)" in caplog.text
  assert "wrong-offset" in caplog.text
  # Without return_skipped the list alone comes back.
  assert len(squad.read_squad_examples(path, is_training=True)) == 1


# ----------------------------------------------------- features: alignment


def test_feature_positions_punctuation_and_unicode(tmp_path,
                                                   uncased_tokenizer):
  path = _squad_file(tmp_path, [
      {"context": FILM,
       "qas": [_qa("year", "Where?", [("1990", 10)]),
               _qa("city", "Where?", [("Zürich", 28)]),
               _qa("place", "Where?", [("Zürich, Switzerland", 28)])]}])
  examples = squad.read_squad_examples(path, is_training=True)
  features = _features(examples, uncased_tokenizer, is_training=True)
  # "[CLS] where ? [SEP]" puts the context's first piece at position 4.
  assert features[0].tokens[:5] == ["[CLS]", "where", "?", "[SEP]", "the"]
  # "(1990)" -> ( 1990 ): the span shrinks to the piece "1990" (3 + 4).
  assert (features[0].start_position, features[0].end_position) == (7, 7)
  # "Zürich," -> zurich , : the span shrinks to "zurich" (8 + 4).
  assert (features[1].start_position, features[1].end_position) == (12, 12)
  # "Zürich, Switzerland," -> pieces 8..10 (the trailing comma drops).
  assert (features[2].start_position, features[2].end_position) == (12, 14)
  f = features[0]
  assert f.tokens[7] == "1990" and f.tokens[12] == "zurich"
  assert f.token_to_orig_map[6] == 2 and f.token_to_orig_map[8] == 2
  assert f.token_to_orig_map[12] == 6 and f.token_to_orig_map[18] == 9
  assert f.tokens[19] == "[SEP]" and 19 not in f.token_to_orig_map
  assert f.segment_ids[:4] == [0] * 4 and f.segment_ids[4:20] == [1] * 16
  assert f.input_mask == [1] * 20 + [0] * 44
  assert len(f.input_ids) == 64 and f.input_ids[20:] == [0] * 44
  assert f.input_ids[0] == uncased_tokenizer.vocab["[CLS]"]
  assert f.input_ids[12] == uncased_tokenizer.vocab["zurich"]
  assert f.unique_id == 1000000000 and features[2].unique_id == 1000000002


def test_feature_positions_across_word_pieces(tmp_path, uncased_tokenizer):
  path = _squad_file(tmp_path, [
      {"context": CARTER,
       "qas": [_qa("surname", "Who advised Carter?", [("Brzezinski", 9)]),
               _qa("name", "Who advised Carter?",
                   [("Zbigniew Brzezinski", 0)]),
               _qa("part", "How many?", [("234", 40)]),
               _qa("tail", "How many?", [("567", 44)]),
               _qa("nomatch", "Who?", [("Brzez", 9)])]}])
  examples = squad.read_squad_examples(path, is_training=True)
  assert [(e.start_position, e.end_position) for e in examples] == [
      (1, 1), (0, 1), (5, 5), (5, 5), (1, 1)]
  features = _features(examples, uncased_tokenizer, is_training=True)
  positions = [(f.start_position, f.end_position) for f in features]
  # Query "who advised carter ?" (4 pieces): context starts at position 6.
  assert positions[0] == (10, 13)   # br ##ze ##zin ##ski = pieces 4..7
  assert positions[1] == (6, 13)    # pieces 0..7
  # Query "how many ?" (3 pieces): context starts at 5.
  # "234" is one piece of the word 1,234,567 (pieces 11..16): piece 13.
  assert positions[2] == (18, 18)
  # "567" tokenises to "56 ##7": pieces 15..16, a sub-part of the word.
  assert positions[3] == (20, 21)
  # "brzez" -> br ##ze ##z matches no sub-span: the whole word is kept.
  # Query "who ?" (2 pieces): context starts at 4; pieces 4..7 -> 8..11.
  assert positions[4] == (8, 11)
  assert features[2].tokens[18] == "234"
  assert features[3].tokens[20:22] == ["56", "##7"]


def test_improve_answer_span_direct(uncased_tokenizer):
  pieces = ["the", "(", "1990", ")", "film"]
  assert squad.improve_answer_span(pieces, 1, 3, uncased_tokenizer,
                                   "1990") == (2, 2)
  assert squad.improve_answer_span(pieces, 1, 3, uncased_tokenizer,
                                   "1991") == (1, 3)


def test_query_is_truncated(uncased_tokenizer):
  example = squad.SquadExample("q", "Who advised Carter?", CARTER.split())
  (feature,) = _features([example], uncased_tokenizer, is_training=False,
                         max_query_length=2)
  assert feature.tokens[:4] == ["[CLS]", "who", "advised", "[SEP]"]
  assert feature.start_position is None
  assert feature.token_to_orig_map[4] == 0


# ------------------------------------------------------- features: windows


def _long_example(start=6, end=7, text="cat ran", is_impossible=False):
  return squad.SquadExample(
      "long", "how", LONG.split(),
      orig_answer_text="" if is_impossible else text,
      start_position=-1 if is_impossible else start,
      end_position=-1 if is_impossible else end,
      is_impossible=is_impossible)


def _long_features(tiny_vocab_file, is_training, example=None):
  tokenizer = tokenization.FullTokenizer(tiny_vocab_file, do_lower_case=True)
  # 9 - 1 (query) - 3 = 5 context tokens per window, stride 3:
  # windows [0..4], [3..7], [6..10], [9..11].
  return _features([example or _long_example()], tokenizer, is_training,
                   max_seq_length=9, doc_stride=3)


def test_make_doc_spans():
  assert squad.make_doc_spans(12, 5, 3) == [(0, 5), (3, 5), (6, 5), (9, 3)]
  assert squad.make_doc_spans(5, 5, 3) == [(0, 5)]
  assert squad.make_doc_spans(0, 5, 3) == []
  # A stride longer than a window advances by the window length only.
  assert squad.make_doc_spans(12, 3, 5) == [(0, 3), (3, 3), (6, 3), (9, 3)]
  with pytest.raises(ValueError):
    squad.make_doc_spans(4, 0, 3)


def test_max_context_tie_goes_to_earlier_window():
  spans = [squad.DocSpan(0, 5), squad.DocSpan(2, 5)]  # tokens 0..4, 2..6
  # Token 3: window 0 has 3 left / 1 right, window 1 has 1 left / 3 right:
  # both score 1.05, and the earlier window wins.
  assert squad.check_is_max_context(spans, 0, 3)
  assert not squad.check_is_max_context(spans, 1, 3)
  # Token 4: 0.05 in window 0, 2.05 in window 1.
  assert not squad.check_is_max_context(spans, 0, 4)
  assert squad.check_is_max_context(spans, 1, 4)


def test_get_best_indexes_and_softmax():
  assert squad.get_best_indexes([0.0, 2.0, 1.0, 2.0, -1.0], 3) == [1, 3, 2]
  assert squad.get_best_indexes(np.array([[1.0, 3.0]]), 5) == [1, 0]
  probs = squad.compute_softmax([1.0, 1.0, 1.0 + math.log(2.0)])
  assert probs == pytest.approx([0.25, 0.25, 0.5])
  assert squad.compute_softmax([]) == []


def test_windows_on_long_context(tiny_vocab_file):
  features = _long_features(tiny_vocab_file, is_training=True)
  assert len(features) == 4
  assert [f.doc_span_index for f in features] == [0, 1, 2, 3]
  assert [f.tokens[3:-1] for f in features] == [
      ["the", "dog", "runs", "fast", "and"],
      ["fast", "and", "the", "cat", "ran"],
      ["cat", "ran", "slow", "in", "the"],
      ["in", "the", "city"]]
  # Max context: score = min(left, right) + 0.01 * window length.
  # Token 3: w0 1.05 > w1 0.05; token 4: w1 1.05 > w0 0.05;
  # token 6: w1 1.05 > w2 0.05; token 7: w2 1.05 > w1 0.05;
  # token 9: w2 1.05 > w3 0.03; token 10: w3 1.03 > w2 0.05.
  flags = [[f.token_is_max_context[p] for p in range(3, len(f.tokens) - 1)]
           for f in features]
  assert flags == [[True, True, True, True, False],
                   [False, True, True, True, False],
                   [False, True, True, True, False],
                   [False, True, True]]
  assert [features[1].token_to_orig_map[p] for p in range(3, 8)] == [
      3, 4, 5, 6, 7]
  # Answer "cat ran" = tokens 6..7: only windows 1 and 2 hold it whole.
  assert [(f.start_position, f.end_position) for f in features] == [
      (0, 0), (6, 7), (3, 4), (0, 0)]
  last = features[3]
  # [CLS]=2 how=46 [SEP]=3 in=50 the=5 city=65 [SEP]=3, then two pads.
  assert last.input_ids == [2, 46, 3, 50, 5, 65, 3, 0, 0]
  assert last.input_mask == [1, 1, 1, 1, 1, 1, 1, 0, 0]
  assert last.segment_ids == [0, 0, 0, 1, 1, 1, 1, 0, 0]
  assert [f.unique_id for f in features] == [
      1000000000, 1000000001, 1000000002, 1000000003]


def test_answer_straddling_windows(tiny_vocab_file):
  # "fast and the cat" = tokens 3..6 is whole only in window 1 [3..7].
  features = _long_features(tiny_vocab_file, True,
                            _long_example(3, 6, "fast and the cat"))
  assert [(f.start_position, f.end_position) for f in features] == [
      (0, 0), (3, 6), (0, 0), (0, 0)]


def test_impossible_question_v2(tmp_path, tiny_vocab_file):
  path = _squad_file(tmp_path, [
      {"context": LONG,
       "qas": [_qa("imp", "how", [], is_impossible=True),
               _qa("pos", "how", [("cat ran", 26)], is_impossible=False)]}])
  examples = squad.read_squad_examples(path, is_training=True,
                                       version_2_with_negative=True)
  imp, pos = examples
  assert imp.is_impossible and (imp.start_position, imp.end_position) == (
      -1, -1)
  assert imp.orig_answer_text == ""
  assert (pos.start_position, pos.end_position) == (6, 7)
  features = _long_features(tiny_vocab_file, True, imp)
  assert len(features) == 4
  assert all((f.start_position, f.end_position) == (0, 0) for f in features)
  assert all(f.is_impossible for f in features)


def test_max_seq_length_too_small(tiny_vocab_file):
  tokenizer = tokenization.FullTokenizer(tiny_vocab_file, do_lower_case=True)
  with pytest.raises(ValueError, match="max_seq_length"):
    squad.convert_examples_to_features(
        [_long_example()], tokenizer, max_seq_length=4, doc_stride=3,
        max_query_length=64, is_training=True, output_fn=lambda f: None)


# --------------------------------------------------------- FeatureWriter


def test_feature_writer_round_trip(tmp_path, tiny_vocab_file):
  features = _long_features(tiny_vocab_file, is_training=True)
  out_dir = tmp_path / "out"
  out_dir.mkdir()
  filename = str(out_dir / "train.tf_record")
  writer = squad.FeatureWriter(filename, is_training=True)
  for f in features:
    writer.process_feature(f)
  assert not os.path.exists(filename)  # Only a temporary name so far.
  writer.close()
  assert writer.num_features == 4
  assert os.listdir(out_dir) == ["train.tf_record"]

  spec = squad.name_to_features(9, is_training=True,
                                include_is_impossible=True)
  assert sorted(spec) == ["end_positions", "input_ids", "input_mask",
                          "is_impossible", "segment_ids", "start_positions",
                          "unique_ids"]
  # Parses with the spec's decoder in a graph, which is the way the Estimator
  # input_fn reads them (and works whatever the eager setting is).
  with tf.Graph().as_default():
    serialized = tf.compat.v1.placeholder(tf.string, [])
    parsed = tf.io.parse_single_example(serialized, spec)
    with tf.compat.v1.Session() as sess:
      records = [sess.run(parsed, {serialized: r})
                 for r in input_pipeline.iter_records(filename)]
  assert [int(r["unique_ids"]) for r in records] == [
      1000000000, 1000000001, 1000000002, 1000000003]
  assert [(int(r["start_positions"]), int(r["end_positions"]))
          for r in records] == [(0, 0), (6, 7), (3, 4), (0, 0)]
  assert [int(r["is_impossible"]) for r in records] == [0, 0, 0, 0]
  assert records[3]["input_ids"].tolist() == [2, 46, 3, 50, 5, 65, 3, 0, 0]
  assert records[3]["input_mask"].tolist() == [1, 1, 1, 1, 1, 1, 1, 0, 0]
  assert records[3]["segment_ids"].tolist() == [0, 0, 0, 1, 1, 1, 1, 0, 0]

  eval_spec = squad.name_to_features(9, is_training=False)
  assert sorted(eval_spec) == ["input_ids", "input_mask", "segment_ids",
                               "unique_ids"]
  eval_file = str(tmp_path / "eval.tf_record")
  with squad.FeatureWriter(eval_file, is_training=False) as eval_writer:
    for f in _long_features(tiny_vocab_file, is_training=False):
      eval_writer.process_feature(f)
  record = next(input_pipeline.iter_records(eval_file))
  parsed = tf.train.Example.FromString(record)
  assert sorted(parsed.features.feature) == sorted(eval_spec)


# ------------------------------------------------------ post-processing


def _logits(n, peaks):
  values = np.zeros([n], dtype=np.float32)
  for position, value in peaks.items():
    values[position] = value
  return values


def test_predictions_recover_original_text(tmp_path, uncased_tokenizer):
  examples = [
      squad.SquadExample("city", "Where?", FILM.split()),
      squad.SquadExample("place", "Where?", FILM.split()),
      squad.SquadExample("surname", "Who advised Carter?", CARTER.split()),
      squad.SquadExample("who", "Where?", FILM.split()),
  ]
  features = _features(examples, uncased_tokenizer, is_training=False)
  # Positions: FILM pieces + 4 and CARTER pieces + 6 (see the top).
  peaks = [
      ({12: 5.0, 7: 3.0}, {12: 5.0, 7: 3.0}),  # zurich (10) / 1990 (6)
      ({12: 5.0}, {14: 5.0}),                  # zurich , switzerland
      ({10: 4.0}, {13: 4.0}),                  # br ##ze ##zin ##ski
      ({17: 2.0}, {18: 2.0}),                  # muller .
  ]
  results = [
      squad.RawResult(f.unique_id, _logits(64, s), _logits(64, e))
      for f, (s, e) in zip(features, peaks)]
  pred_file = str(tmp_path / "predictions.json")
  nbest_file = str(tmp_path / "nbest_predictions.json")
  predictions, nbest, null_odds = squad.write_predictions(
      examples, features, results, n_best_size=2, max_answer_length=4,
      do_lower_case=True, output_prediction_file=pred_file,
      output_nbest_file=nbest_file)
  assert predictions == {"city": "Zürich", "place": "Zürich, Switzerland",
                         "surname": "Brzezinski", "who": "Müller."}
  assert null_odds == {}
  # Two candidates for "city": (12, 12) scores 10 and (7, 7) scores 6; the
  # pair (7, 12) is 6 pieces long (> 4) and (12, 7) ends before it starts.
  city = nbest["city"]
  assert [e["text"] for e in city] == ["Zürich", "1990"]
  assert city[0]["probability"] == pytest.approx(1 / (1 + math.exp(-4)))
  assert city[1]["probability"] == pytest.approx(
      math.exp(-4) / (1 + math.exp(-4)))
  assert (city[0]["start_logit"], city[0]["end_logit"]) == (5.0, 5.0)
  for entries in nbest.values():
    assert sum(e["probability"] for e in entries) == pytest.approx(1.0)
  with open(pred_file, encoding="utf-8") as f:
    assert json.load(f) == predictions
  with open(nbest_file, encoding="utf-8") as f:
    assert json.load(f)["city"][0]["text"] == "Zürich"
  assert sorted(os.listdir(tmp_path)) == ["nbest_predictions.json",
                                          "predictions.json"]


def test_logits_on_training_spans_give_back_gold_texts(tmp_path,
                                                       uncased_tokenizer):
  gold = {"year": "1990", "city": "Zürich", "place": "Zürich, Switzerland",
          "who": "Müller", "surname": "Brzezinski",
          "name": "Zbigniew Brzezinski", "part": "234", "tail": "567"}
  path = _squad_file(tmp_path, [
      {"context": FILM,
       "qas": [_qa("year", "When?", [("1990", 10)]),
               _qa("city", "Where?", [("Zürich", 28)]),
               _qa("place", "Where?", [("Zürich, Switzerland", 28)]),
               _qa("who", "Who?", [("Müller", 52)])]},
      {"context": CARTER,
       "qas": [_qa("surname", "Who?", [("Brzezinski", 9)]),
               _qa("name", "Who?", [("Zbigniew Brzezinski", 0)]),
               _qa("part", "How many?", [("234", 40)]),
               _qa("tail", "How many?", [("567", 44)])]}])
  examples = squad.read_squad_examples(path, is_training=True)
  features = _features(examples, uncased_tokenizer, is_training=True)
  results = [
      squad.RawResult(f.unique_id, _logits(64, {f.start_position: 8.0}),
                      _logits(64, {f.end_position: 8.0}))
      for f in features]
  predictions, _, _ = squad.write_predictions(
      examples, features, results, n_best_size=5, max_answer_length=30,
      do_lower_case=True, output_prediction_file=None,
      output_nbest_file=None)
  assert predictions == gold


def test_get_final_text():
  assert squad.get_final_text("1990", "(1990)", True) == "1990"
  assert squad.get_final_text("steve smith", "Steve Smith's", True) == (
      "Steve Smith")
  assert squad.get_final_text("zurich", "Zürich,", True) == "Zürich"
  # Not found in the original words: the original words come back.
  assert squad.get_final_text("paris", "Zürich,", True) == "Zürich,"
  # Cased model: "zurich" is not "Zürich".
  assert squad.get_final_text("Zürich", "Zürich,", False) == "Zürich"


def test_predictions_respect_max_context_across_windows(tiny_vocab_file):
  example = _long_example()
  features = _long_features(tiny_vocab_file, False, example)
  # Window 0 peaks on token 4 "and" (position 7), whose max context is in
  # window 1: rejected. Window 2 peaks on "cat ran" (positions 3..4), but
  # token 6 "cat" has its max context in window 1: rejected. Window 1
  # offers "cat ran" (positions 6..7) with the lowest score, which wins.
  results = [
      squad.RawResult(features[0].unique_id, _logits(9, {7: 9.0}),
                      _logits(9, {7: 9.0})),
      squad.RawResult(features[1].unique_id, _logits(9, {6: 2.0}),
                      _logits(9, {7: 2.0})),
      squad.RawResult(features[2].unique_id, _logits(9, {3: 5.0}),
                      _logits(9, {4: 5.0})),
      squad.RawResult(features[3].unique_id, _logits(9, {}), _logits(9, {})),
  ]
  predictions, nbest, _ = squad.write_predictions(
      [example], features, results, n_best_size=1, max_answer_length=5,
      do_lower_case=True, output_prediction_file=None,
      output_nbest_file=None)
  assert predictions == {"long": "cat ran"}
  assert nbest["long"][0]["probability"] == 1.0


def test_duplicate_texts_and_no_valid_span(tiny_vocab_file):
  example = _long_example()
  features = _long_features(tiny_vocab_file, False, example)
  zeros = _logits(9, {})
  # "the" = token 0 (window 0, position 3, score 6) and token 5 (window 1,
  # position 5, score 4): the same text enters the n-best list once.
  results = [
      squad.RawResult(features[0].unique_id, _logits(9, {3: 3.0}),
                      _logits(9, {3: 3.0})),
      squad.RawResult(features[1].unique_id, _logits(9, {5: 2.0}),
                      _logits(9, {5: 2.0})),
      squad.RawResult(features[2].unique_id, zeros, zeros),
      squad.RawResult(features[3].unique_id, zeros, zeros),
  ]
  _, nbest, _ = squad.write_predictions(
      [example], features, results, n_best_size=2, max_answer_length=5,
      do_lower_case=True, output_prediction_file=None,
      output_nbest_file=None)
  assert [e["text"] for e in nbest["long"]] == ["the"]
  assert nbest["long"][0]["start_logit"] == 3.0

  # All-zero logits with n_best_size=1 propose only (0, 0), the [CLS]
  # token: no valid span, so the placeholder "empty" (v1) or "" (v2).
  results = [squad.RawResult(f.unique_id, zeros, zeros) for f in features]
  predictions, nbest, _ = squad.write_predictions(
      [example], features, results, 1, 5, True, None, None)
  assert predictions == {"long": "empty"}
  assert nbest["long"] == [{"text": "empty", "probability": 1.0,
                            "start_logit": 0.0, "end_logit": 0.0}]
  predictions, nbest, null_odds = squad.write_predictions(
      [example], features, results, 1, 5, True, None, None,
      version_2_with_negative=True)
  assert predictions == {"long": ""}
  assert [e["text"] for e in nbest["long"]] == [""]
  assert null_odds == {"long": squad.NO_NON_NULL_SCORE_DIFF}


def test_missing_result_is_a_clear_error(tiny_vocab_file):
  features = _long_features(tiny_vocab_file, False)
  with pytest.raises(ValueError, match="No RawResult.*1000000000"):
    squad.write_predictions([_long_example()], features, [], 1, 5, True, None,
                            None)


def test_v2_null_threshold(tmp_path, tiny_vocab_file):
  example = _long_example()
  features = _long_features(tiny_vocab_file, False, example)
  # [CLS] scores per window: 3+3=6, 1+0=1 (the minimum), 2+2=4, 5+5=10.
  # Best span: "cat ran" (positions 6..7) in window 1: 1.0 + 0.5 = 1.5.
  cls = [(3.0, 3.0), (1.0, 0.0), (2.0, 2.0), (5.0, 5.0)]
  results = []
  for f, (s0, e0) in zip(features, cls):
    start = {0: s0}
    end = {0: e0}
    if f.doc_span_index == 1:
      start[6] = 1.0
      end[7] = 0.5
    results.append(squad.RawResult(f.unique_id, _logits(9, start),
                                   _logits(9, end)))

  def run(threshold, odds_file=None):
    return squad.write_predictions(
        [example], features, results, n_best_size=2, max_answer_length=5,
        do_lower_case=True, output_prediction_file=None,
        output_nbest_file=None, output_null_log_odds_file=odds_file,
        version_2_with_negative=True, null_score_diff_threshold=threshold)

  odds_file = str(tmp_path / "null_odds.json")
  predictions, nbest, null_odds = run(0.0, odds_file)
  # score_diff = null (1.0) - best non-null (1.5) = -0.5 <= 0: answer.
  assert null_odds == {"long": pytest.approx(-0.5)}
  assert predictions == {"long": "cat ran"}
  texts = [e["text"] for e in nbest["long"]]
  assert texts == ["cat ran", ""]
  assert nbest["long"][1]["start_logit"] == 1.0
  assert nbest["long"][1]["end_logit"] == 0.0
  assert nbest["long"][0]["probability"] == pytest.approx(
      1 / (1 + math.exp(-0.5)))
  with open(odds_file, encoding="utf-8") as f:
    assert json.load(f) == {"long": pytest.approx(-0.5)}
  # -0.5 > -1.0: the null answer is predicted.
  assert run(-1.0)[0] == {"long": ""}
  # Exactly at the threshold the span is kept (strictly greater is needed).
  assert run(-0.5)[0] == {"long": "cat ran"}


# ------------------------------------------------------------ evaluation


def test_normalize_answer():
  assert squad_eval.normalize_answer("The  Quick, brown fox!") == (
      "quick brown fox")
  assert squad_eval.normalize_answer("an apple a day") == "apple day"
  assert squad_eval.normalize_answer("Theory of A.I.") == "theory of ai"
  assert squad_eval.normalize_answer("(1990)") == "1990"
  assert squad_eval.normalize_answer("the") == ""


def test_exact_and_f1_scores():
  assert squad_eval.exact_match_score("the Broncos!", "Broncos") == 1
  assert squad_eval.exact_match_score("Denver Broncos", "Broncos") == 0
  # pred {cat, sat, on, mat} vs gold {cat, on, mat, quickly}: 3 shared,
  # P = R = 3/4 -> F1 = 0.75.
  assert squad_eval.f1_score("the cat sat on the mat",
                             "cat on a mat quickly") == pytest.approx(0.75)
  # P = 2/3, R = 1 -> F1 = 0.8.
  assert squad_eval.f1_score("Denver Broncos team",
                             "Denver Broncos") == pytest.approx(0.8)
  # Repeated tokens count as a multiset: pred {a a}? no: {x, x, y} vs {x, y}
  # shares 2: P = 2/3, R = 1 -> 0.8.
  assert squad_eval.f1_score("x x y", "x y") == pytest.approx(0.8)
  assert squad_eval.f1_score("", "") == 0.0
  assert squad_eval.f1_score("", "", version_2=True) == 1.0
  assert squad_eval.f1_score("", "Broncos", version_2=True) == 0.0
  assert squad_eval.f1_score("Broncos", "", version_2=True) == 0.0


def _dataset(qas):
  """One article with one paragraph holding (id, [gold texts]) questions."""
  return {"version": "x", "data": [{"title": "T", "paragraphs": [{
      "context": "c",
      "qas": [{"id": q, "question": "?",
               "answers": [{"text": t, "answer_start": 0} for t in golds]}
              for q, golds in qas]}]}]}


def test_evaluate_v1_max_over_golds_and_missing(caplog):
  dataset = _dataset([("q1", ["Denver Broncos", "the Broncos"]),
                      ("q2", ["cat on a mat quickly"]),
                      ("q3", ["Carolina Panthers"])])
  predictions = {"q1": "Broncos", "q2": "the cat sat on the mat"}
  result = squad_eval.evaluate_v1(dataset["data"], predictions)
  # q1: EM 1 and F1 1 via "the Broncos"; q2: EM 0, F1 0.75; q3 missing: 0.
  assert result["exact_match"] == pytest.approx(100.0 / 3)
  assert result["f1"] == pytest.approx(175.0 / 3)
  assert sorted(result) == ["exact_match", "f1"]
  assert "q3" in caplog.text
  predictions["q3"] = "Panthers"  # P = 1, R = 1/2 -> F1 2/3.
  result = squad_eval.evaluate_v1(dataset, predictions)
  assert result["exact_match"] == pytest.approx(100.0 / 3)
  assert result["f1"] == pytest.approx(100.0 * (1 + 0.75 + 2 / 3) / 3)


def test_evaluate_v2_breakdown_and_best_threshold():
  dataset = _dataset([("q1", ["Denver Broncos"]),
                      ("q2", []),
                      ("q3", []),
                      ("q4", ["cat on a mat quickly", "The"])])
  predictions = {"q1": "Denver Broncos", "q2": "", "q3": "Broncos",
                 "q4": "the cat sat on the mat"}
  result = squad_eval.evaluate_v2(dataset, predictions)
  # Raw (exact, f1): q1 (1, 1), q2 (1, 1), q3 (0, 0), q4 (0, 0.75) -- the
  # gold "The" normalises to "" and is dropped for q4.
  assert dict(result) == pytest.approx({
      "exact": 50.0, "f1": 68.75, "total": 4,
      "HasAns_exact": 50.0, "HasAns_f1": 87.5, "HasAns_total": 2,
      "NoAns_exact": 50.0, "NoAns_f1": 50.0, "NoAns_total": 2})

  na_probs = {"q1": 0.1, "q2": 0.9, "q3": 0.6, "q4": 0.3}
  result = squad_eval.evaluate_v2(dataset, predictions, na_probs,
                                  na_prob_thresh=0.5)
  # q2 and q3 (> 0.5) become "no answer", which is right for both.
  assert result["exact"] == pytest.approx(75.0)
  assert result["f1"] == pytest.approx(93.75)
  assert result["NoAns_exact"] == pytest.approx(100.0)
  # Threshold search, by increasing na_prob, starting from 2 (all null):
  # q1 +1 -> 3 @0.1, q4 +0 / +0.75 -> 3 / 3.75 @0.3, q3 -1, q2 0.
  assert result["best_exact"] == pytest.approx(75.0)
  assert result["best_exact_thresh"] == pytest.approx(0.1)
  assert result["best_f1"] == pytest.approx(93.75)
  assert result["best_f1_thresh"] == pytest.approx(0.3)


def test_evaluate_v2_gold_that_normalises_to_empty():
  dataset = _dataset([("q1", ["The", "a"])])
  # Golds become [""], so only an empty prediction scores.
  assert squad_eval.evaluate_v2(dataset, {"q1": ""})["exact"] == 100.0
  assert squad_eval.evaluate_v2(dataset, {"q1": "the"})["f1"] == 100.0
  assert squad_eval.evaluate_v2(dataset, {"q1": "x"})["f1"] == 0.0
  # With a real gold beside it, "The" is dropped: "" no longer matches.
  dataset = _dataset([("q1", ["The", "Broncos"])])
  assert squad_eval.evaluate_v2(dataset, {"q1": ""})["exact"] == 0.0
  assert squad_eval.evaluate_v2(dataset, {"q1": "broncos"})["exact"] == 100.0


def test_evaluate_v2_best_threshold_penalises_wrong_answers():
  dataset = _dataset([("qa", []), ("qb", ["Broncos"])])
  predictions = {"qa": "x", "qb": "Broncos"}
  result = squad_eval.evaluate_v2(dataset, predictions,
                                  {"qa": 0.2, "qb": 0.4})
  # From 1 (all null: qa right, qb wrong): qa answers "x" -> 0 @0.2,
  # qb answers right -> 1 @0.4, never above 1: best stays 50% at 0.0.
  assert result["best_exact"] == 50.0 and result["best_exact_thresh"] == 0.0
  assert result["best_f1"] == 50.0 and result["best_f1_thresh"] == 0.0
  # Thresholded at 1.0 nothing is nulled: qa 0, qb 1.
  assert result["exact"] == 50.0 and result["NoAns_exact"] == 0.0


def test_gold_answers_score_100_on_shared_dev(squad_file, tmp_path):
  with open(squad_file, encoding="utf-8") as f:
    dataset = json.load(f)
  predictions = {qa["id"]: qa["answers"][0]["text"]
                 for article in dataset["data"]
                 for paragraph in article["paragraphs"]
                 for qa in paragraph["qas"]}
  assert len(predictions) == 4961
  pred_file = _write_json(tmp_path / "pred.json", predictions)
  out_file = str(tmp_path / "eval.json")
  result = squad_eval.evaluate_file(str(squad_file), pred_file,
                                    output_file=out_file)
  assert result == {"exact_match": 100.0, "f1": 100.0}
  with open(out_file, encoding="utf-8") as f:
    assert json.load(f) == {"exact_match": 100.0, "f1": 100.0}


def _cli_files(tmp_path):
  """(data, predictions, no-answer probabilities) files of two questions."""
  dataset = _dataset([("q1", ["Denver Broncos"]), ("q2", [])])
  return (_write_json(tmp_path / "data.json", dataset),
          _write_json(tmp_path / "pred.json",
                      {"q1": "Broncos", "q2": "Panthers"}),
          _write_json(tmp_path / "na.json", {"q1": 0.2, "q2": 0.7}))


def test_cli(tmp_path, capsys):
  data_file, pred_file, na_file = _cli_files(tmp_path)
  out_file = str(tmp_path / "out.json")
  assert squad_eval.main([data_file, pred_file, "--na-prob-file", na_file,
                          "--version_2", "--out-file", out_file]) == 0
  printed = json.loads(capsys.readouterr().out)
  # q1: EM 0, F1 2/3 (P 1, R 1/2); q2: no answer but "Panthers" -> 0.
  assert printed["exact"] == 0.0
  assert printed["f1"] == pytest.approx(100.0 / 3)
  # From 1 (all null): q1 +0 / +2/3 (no gain in EM); q2 -1.
  assert printed["best_exact"] == pytest.approx(50.0)
  assert printed["best_exact_thresh"] == 0.0
  assert printed["best_f1"] == pytest.approx(100.0 * (1 + 2 / 3) / 2)
  assert printed["best_f1_thresh"] == pytest.approx(0.2)
  with open(out_file, encoding="utf-8") as f:
    assert json.load(f) == printed
  # v1 metrics need gold answers for every question.
  assert squad_eval.main([data_file, pred_file]) == 2
  assert "q2" in capsys.readouterr().err
  v1_file = _write_json(tmp_path / "v1.json",
                        _dataset([("q1", ["Denver Broncos"])]))
  assert squad_eval.main([v1_file, pred_file]) == 0
  v1 = json.loads(capsys.readouterr().out)
  assert v1 == pytest.approx({"exact_match": 0.0, "f1": 200.0 / 3})
  assert squad_eval.main([str(tmp_path / "nope.json"), pred_file]) == 2
  assert "nope.json" in capsys.readouterr().err


def test_cli_spellings_of_the_official_scripts(tmp_path, capsys):
  data_file, pred_file, na_file = _cli_files(tmp_path)
  results = []
  for flags in (["-n", na_file, "-t", "0.5", "--version-2", "-o"],
                ["--na_prob_file=" + na_file, "--na_prob_thresh=0.5",
                 "--version_2", "--out_file"]):
    out_file = str(tmp_path / ("out%d.json" % len(results)))
    # Flags before, between and after the two file arguments.
    assert squad_eval.main([data_file] + flags[:2] + [pred_file] +
                           flags[2:] + [out_file]) == 0
    results.append(json.loads(capsys.readouterr().out))
    with open(out_file, encoding="utf-8") as f:
      assert json.load(f) == results[-1]
  assert results[0] == results[1]
  # q2's no-answer probability 0.7 > 0.5: predicted unanswerable, correct.
  assert results[0]["NoAns_exact"] == 100.0
  for argv, message in (([data_file], "expected DATA_FILE PRED_FILE"),
                        ([data_file, pred_file, "--na-prob-thresh=x"],
                         "na-prob-thresh"),
                        ([data_file, pred_file, "--frobnicate"],
                         "frobnicate")):
    assert squad_eval.main(argv) == 2
    assert message in capsys.readouterr().err
  assert squad_eval.main(["--help"]) == 0
  assert "--na-prob-file" in capsys.readouterr().out

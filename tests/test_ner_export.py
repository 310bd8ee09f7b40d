"""Tagging export and the Predictor's raw text -> entities path.

Golden values come from `estimator.predict` of model_fn_builder with a
`TokenClassificationHead` on the checkpoint, over windows built directly
with `tasks.ner`; the path under test is the SavedModel + Predictor.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from bert_tf import export
from bert_tf import predictor as predictor_lib
from bert_tf import tokenization
from bert_tf.tasks import ner
from bert_tf.tasks import ner_eval
import serving_helpers as helpers

SEQ = 12
LABELS = ["O", "B-X", "I-X", "B-Y", "I-Y"]
TEXTS = ["The dog runs fast, and the cat ran slow.",
         "hello world!",
         # Longer than one window (SEQ - 2 = 10 pieces): windows overlap.
         "a very good movie and a really great book with a long story of "
         "one man, two women and three cats in the old city.",
         ""]


def _golden_entities(tiny, tmp_path, doc_stride):
  tokenizer = tokenization.FullTokenizer(tiny.vocab_file, True)
  spans = [ner.split_text(t) for t in TEXTS]
  sentences = [ner.Sentence(str(i), [w for w, _, _ in s])
               for i, s in enumerate(spans)]
  windows = ner.convert_sentences(sentences, tokenizer, SEQ, doc_stride)
  assert len([w for w in windows if w.sentence_index == 2]) > 2
  features = {name: np.array([getattr(w, name) for w in windows], np.int32)
              for name in ("input_ids", "input_mask", "segment_ids")}
  probs = helpers.estimator_predict(
      tiny.bert_config, export.make_head("ner", len(LABELS)), tiny.checkpoint,
      features, str(tmp_path / "est"))["probabilities"]
  per_word = ner.assemble_word_predictions(
      windows, list(probs), len(sentences), [len(s.words) for s in sentences])
  out = []
  for text, span, p in zip(TEXTS, spans, per_word):
    tags = [LABELS[i] for i in np.argmax(p, -1)] if len(span) else []
    out.append(ner.entities_from_tags(text, span, tags))
  return out


def _assert_same(a, b):
  assert len(a) == len(b)
  for x, y in zip(a, b):
    assert [{k: v for k, v in e.items() if k != "score"} for e in x] == [
        {k: v for k, v in e.items() if k != "score"} for e in y]
    np.testing.assert_allclose([e["score"] for e in x],
                               [e["score"] for e in y], atol=1e-5)


def test_tagging_export_serves_entities(tmp_path):
  tiny = helpers.make_tiny_model(tmp_path / "m", num_labels=len(LABELS),
                                 span_head=False)
  export_dir = str(tmp_path / "export")
  export.export_from_checkpoint(
      "tagging", tiny.config_file, tiny.checkpoint_dir, export_dir,
      max_seq_length=SEQ, vocab_file=tiny.vocab_file, do_lower_case=True,
      labels=LABELS, doc_stride=3)
  meta = export.read_export_metadata(export.latest_saved_model(export_dir))
  assert meta["task"] == "tagging" and meta["labels"] == LABELS
  assert meta["doc_stride"] == 3

  expected = _golden_entities(tiny, tmp_path, 3)
  assert sum(len(e) for e in expected) >= 2  # a random model finds some
  with predictor_lib.Predictor(export_dir) as predictor:
    got = predictor.entities(TEXTS)
    # Batching changes nothing but float rounding of the scores.
    _assert_same(predictor.predict(TEXTS, batch_size=2), got)
    _assert_same(predictor.entities(TEXTS[1]), got[1:2])
  for text, want, have in zip(TEXTS, expected, got):
    assert [{k: e[k] for k in ("type", "text", "start", "end")}
            for e in have] == want
    for e in have:
      assert text[e["start"]:e["end"]] == e["text"]
      assert e["type"] in ("X", "Y") and 0 < e["score"] <= 1
  assert got[3] == []

  # The command: one JSON object per input line.
  input_file = tmp_path / "in.txt"
  input_file.write_text("\n".join(TEXTS[:3]) + "\n", encoding="utf-8")
  output_file = tmp_path / "out.jsonl"
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  subprocess.run(
      [sys.executable, "-m", "bert_tf.predictor", "--export_dir=" + export_dir,
       "--input_file=" + str(input_file), "--output_file=" + str(output_file)],
      check=True, cwd=root, capture_output=True, timeout=240)
  rows = [json.loads(line) for line in
          output_file.read_text(encoding="utf-8").splitlines()]
  assert [r["text"] for r in rows] == TEXTS[:3]
  _assert_same([r["entities"] for r in rows], got[:3])


def test_tagging_export_needs_labels(tmp_path):
  tiny = helpers.make_tiny_model(tmp_path / "m", num_labels=3,
                                 span_head=False)
  with pytest.raises(ValueError, match="needs the labels"):
    export.export_from_checkpoint("tagging", tiny.config_file,
                                  tiny.checkpoint_dir, str(tmp_path / "e"))


def test_entity_chunks_follow_conlleval():
  spans = ner.split_text("a b c d")
  got = ner.entities_from_tags("a b c d", spans, ["I-X", "B-X", "O", "S-Y"])
  assert [(e["type"], e["text"]) for e in got] == [("X", "a"), ("X", "b"),
                                                   ("Y", "d")]
  assert ner_eval.get_entities(["I-X", "B-X", "O", "S-Y"]) == [
      ("X", 0, 0), ("X", 1, 1), ("Y", 3, 3)]

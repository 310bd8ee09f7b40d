"""Entity-level NER scoring: hand-worked cases and seqeval (golden values)."""

import random

import pytest

from bert_tf.tasks import ner_eval

seqeval_metrics = pytest.importorskip("seqeval.metrics")


@pytest.mark.parametrize("tags,expected", [
    # IOB2.
    (["B-PER", "I-PER", "O", "B-LOC"], [("PER", 0, 1), ("LOC", 3, 3)]),
    # A sequence (and an entity after O) that starts with I- (IOB1, or an
    # ill-formed prediction): conlleval starts an entity there.
    (["I-PER", "I-PER", "O"], [("PER", 0, 1)]),
    (["O", "I-LOC", "I-LOC"], [("LOC", 1, 2)]),
    # Adjacent entities of the same type: IOB2 and IOB1.
    (["B-PER", "B-PER"], [("PER", 0, 0), ("PER", 1, 1)]),
    (["I-PER", "B-PER", "I-PER"], [("PER", 0, 0), ("PER", 1, 2)]),
    (["I-PER", "I-PER"], [("PER", 0, 1)]),
    # A type change inside a run starts a new entity.
    (["B-PER", "I-LOC", "I-LOC"], [("PER", 0, 0), ("LOC", 1, 2)]),
    # BIOES.
    (["S-PER", "B-LOC", "E-LOC", "S-LOC", "B-PER", "I-PER", "E-PER", "O"],
     [("PER", 0, 0), ("LOC", 1, 2), ("LOC", 3, 3), ("PER", 4, 6)]),
    (["B-PER", "E-PER", "E-PER"], [("PER", 0, 1), ("PER", 2, 2)]),
    (["S-PER", "I-PER"], [("PER", 0, 0), ("PER", 1, 1)]),
    # Types with dashes (WNUT's creative-work).
    (["B-creative-work", "I-creative-work"], [("creative-work", 0, 1)]),
    (["O", "O"], []),
    ([], []),
])
def test_get_entities_hand_worked(tags, expected):
  assert ner_eval.get_entities(tags) == expected
  assert [(t, s, e) for t, s, e in
          seqeval_metrics.sequence_labeling.get_entities(list(tags))] == (
              expected)


def test_scheme_conversions_keep_the_entities():
  iob1 = ["I-PER", "I-PER", "B-PER", "O", "I-LOC"]
  assert ner_eval.to_iob2(iob1) == ["B-PER", "I-PER", "B-PER", "O", "B-LOC"]
  assert ner_eval.to_bioes(iob1) == ["B-PER", "E-PER", "S-PER", "O", "S-LOC"]
  for tags in (iob1, ner_eval.to_iob2(iob1), ner_eval.to_bioes(iob1)):
    assert ner_eval.get_entities(tags) == [("PER", 0, 1), ("PER", 2, 2),
                                           ("LOC", 4, 4)]
  # The same entities in different schemes score F1 1 (accuracy counts tag
  # strings, so it does not).
  m = ner_eval.evaluate([iob1], [ner_eval.to_bioes(iob1)])
  assert m["f1"] == 1.0 and m["accuracy"] == pytest.approx(1 / 5)


def test_evaluate_hand_worked():
  gold = [["B-PER", "I-PER", "O", "B-LOC"], ["I-ORG", "O"]]
  pred = [["B-PER", "O", "O", "B-LOC"], ["B-ORG", "O"]]
  # gold: PER(0,1) LOC(3) | ORG(0); predicted: PER(0,0) LOC(3) | ORG(0).
  m = ner_eval.evaluate(gold, pred)
  assert (m["num_gold"], m["num_predicted"], m["num_correct"]) == (3, 3, 2)
  assert m["precision"] == pytest.approx(2 / 3)
  assert m["recall"] == pytest.approx(2 / 3)
  assert m["f1"] == pytest.approx(2 / 3)
  assert m["accuracy"] == pytest.approx(4 / 6)
  assert m["per_type"]["PER"]["f1"] == 0.0
  assert m["per_type"]["LOC"]["f1"] == 1.0
  assert m["per_type"]["ORG"]["precision"] == 1.0
  assert m["num_words"] == 6 and m["num_sentences"] == 2


def test_entities_never_cross_sentences():
  m = ner_eval.evaluate([["B-PER"], ["I-PER"]], [["B-PER", ], ["I-PER"]])
  assert m["num_gold"] == 2 and m["f1"] == 1.0


def test_no_predictions_and_no_gold():
  m = ner_eval.evaluate([["B-PER", "O"]], [["O", "O"]])
  assert (m["precision"], m["recall"], m["f1"]) == (0.0, 0.0, 0.0)
  m = ner_eval.evaluate([["O"]], [["O"]])
  assert m["f1"] == 0.0 and m["accuracy"] == 1.0


def test_mismatched_lengths_are_named():
  with pytest.raises(ValueError, match="Sentence 1 has 2 gold tags but 1"):
    ner_eval.evaluate([["O"], ["O", "O"]], [["O"], ["O"]])
  with pytest.raises(ValueError, match="2 gold sentences but 1"):
    ner_eval.evaluate([["O"], ["O"]], [["O"]])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_seqeval_on_noisy_sequences(seed):
  """Random gold sequences in mixed schemes, with noisy ill-formed
  predictions: micro and per-type scores equal seqeval's to 1e-12."""
  rng = random.Random(seed)
  tags = ["O"] + ["%s-%s" % (p, t) for p in "BIES" for t in ("PER", "LOC",
                                                              "creative-work")]
  gold, pred = [], []
  for _ in range(300):
    n = rng.randint(1, 12)
    g = [rng.choice(tags) if rng.random() < 0.4 else "O" for _ in range(n)]
    p = [t if rng.random() < 0.7 else rng.choice(tags) for t in g]
    gold.append(g)
    pred.append(p)
  m = ner_eval.evaluate(gold, pred)
  assert abs(m["f1"] - seqeval_metrics.f1_score(gold, pred)) < 1e-12
  assert abs(m["precision"] - seqeval_metrics.precision_score(gold, pred)
             ) < 1e-12
  assert abs(m["recall"] - seqeval_metrics.recall_score(gold, pred)) < 1e-12
  assert abs(m["accuracy"] - seqeval_metrics.accuracy_score(gold, pred)
             ) < 1e-12
  report = seqeval_metrics.classification_report(gold, pred, output_dict=True,
                                                 zero_division=0)
  for entity_type, ours in m["per_type"].items():
    if ours["num_gold"] == 0:
      continue  # seqeval reports only types present in the gold tags
    theirs = report[entity_type]
    assert abs(ours["f1"] - theirs["f1-score"]) < 1e-12
    assert abs(ours["precision"] - theirs["precision"]) < 1e-12
    assert ours["num_gold"] == theirs["support"]


def test_format_results_has_conlleval_summary():
  m = ner_eval.evaluate([["B-PER", "O"]], [["B-PER", "O"]])
  text = ner_eval.format_results(m, {"eval_loss": 0.5})
  assert "f1 = 1.0" in text and "eval_loss = 0.5" in text
  assert "processed 2 tokens with 1 phrases; found: 1 phrases; correct: 1." in (
      text)
  assert "PER_f1 = 1.0" in text

"""Multi-label classification: --multi_label in the generic task.

Golden values of the metrics from scikit-learn; the run's files checked
against each other and against the export's Predictor.
"""

import os

import numpy as np
import pytest
from sklearn import metrics as sk

from bert_tf import metrics
from bert_tf import predictor as predictor_lib
from bert_tf.tasks import classifier
from bert_tf.tasks import glue
from test_classifier import write_tiny_config

LABELS = ["animal", "food", "place", "time"]


def _random_case(seed, n=60, c=4):
  rng = np.random.RandomState(seed)
  labels = (rng.rand(n, c) < [0.5, 0.2, 0.05, 0.0][:c]).astype(int)
  probabilities = np.clip(labels * 0.35 + rng.rand(n, c) * 0.65, 0, 1)
  return probabilities, labels


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scores_match_scikit_learn(seed):
  probabilities, labels = _random_case(seed)
  thresholds = np.array([0.5, 0.3, 0.6, 0.45])
  got = metrics.multi_label_scores(probabilities, labels, thresholds)
  predicted = (probabilities >= thresholds).astype(int)
  for average in ("micro", "macro"):
    p, r, f, _ = sk.precision_recall_fscore_support(
        labels, predicted, average=average, zero_division=0)
    assert got[average + "_precision"] == pytest.approx(p)
    assert got[average + "_recall"] == pytest.approx(r)
    assert got[average + "_f1"] == pytest.approx(f)
  p, r, f, support = sk.precision_recall_fscore_support(
      labels, predicted, average=None, zero_division=0)
  np.testing.assert_allclose(got["precision"], p)
  np.testing.assert_allclose(got["recall"], r)
  np.testing.assert_allclose(got["f1"], f)
  np.testing.assert_array_equal(got["support"], support)
  assert got["exact_match"] == pytest.approx(
      sk.accuracy_score(labels, predicted))
  # One threshold for every label.
  got = metrics.multi_label_scores(probabilities, labels, 0.5)
  assert got["micro_f1"] == pytest.approx(sk.f1_score(
      labels, (probabilities >= 0.5).astype(int), average="micro",
      zero_division=0))


def test_tuned_thresholds_are_the_best_per_label():
  probabilities, labels = _random_case(4, n=80)
  tuned = metrics.tune_thresholds(probabilities, labels, default=0.5)
  assert tuned[3] == 0.5  # no true example: the default
  for c in range(3):
    best = sk.f1_score(labels[:, c], probabilities[:, c] >= tuned[c])
    for t in np.linspace(0, 1, 201):
      assert best >= sk.f1_score(labels[:, c], probabilities[:, c] >= t,
                                 zero_division=0) - 1e-12
    assert best >= sk.f1_score(labels[:, c], probabilities[:, c] >= 0.5)


def _write(path, rows):
  with open(path, "w", encoding="utf-8") as f:
    f.write("text\ttags\n")
    for text, tags in rows:
      f.write("%s\t%s\n" % (text, tags))


def test_label_sets_are_read_with_file_and_line(tmp_path):
  _write(tmp_path / "train.tsv", [("a", "place|animal"), ("b", ""),
                                  ("c", " time | food ")])
  _write(tmp_path / "dev.tsv", [("d", "animal"), ("e", "animal|dog")])
  p = glue.get_processor("generic", text_a_column="text",
                         label_column="tags", multi_label=True)
  examples = p.get_train_examples(str(tmp_path))
  assert p.get_labels() == LABELS  # the sorted union
  assert [e.label for e in examples] == [("animal", "place"), (),
                                         ("food", "time")]
  with pytest.raises(ValueError) as e:
    p.get_dev_examples(str(tmp_path))
  assert str(e.value).startswith(
      "%s:3: label 'dog' (of the label set 'animal|dog', separator '|') is "
      "not one of the labels 'animal', 'food', 'place', 'time'" %
      (tmp_path / "dev.tsv"))
  _write(tmp_path / "dev.tsv", [("d", "food;food")])
  p = glue.get_processor("generic", text_a_column="text",
                         label_column="tags", multi_label=True,
                         label_separator=";", labels=["food", "x"])
  with pytest.raises(ValueError, match=r"dev.tsv:2: the label set "
                     r"'food;food' names a label twice"):
    p.get_dev_examples(str(tmp_path))
  assert classifier.label_id_of(glue.InputExample("g", "t", None, (
      "place",)), LABELS) == [0, 0, 1, 0]


def _rows(seed, n):
  """Texts whose label set is the animals and foods they name."""
  rng = np.random.RandomState(seed)
  rows = []
  for _ in range(n):
    words, tags = ["the"], []
    if rng.rand() < 0.5:
      words += ["dog", "runs"]
      tags.append("animal")
    if rng.rand() < 0.4:
      words += ["good", "movie"]
      tags.append("film")
    words += ["in", "the", "city"] if rng.rand() < 0.5 else ["today"]
    rows.append((" ".join(words), "|".join(tags)))
  return rows


def _config(tmp_path, vocab, **kw):
  values = dict(
      task_name="generic", text_a_column="text", label_column="tags",
      multi_label=True, data_dir=str(tmp_path / "data"),
      bert_config_file=write_tiny_config(tmp_path / "bert_config.json"),
      vocab_file=vocab, output_dir=str(tmp_path / "out"), max_seq_length=16,
      train_batch_size=8, eval_batch_size=7, predict_batch_size=5,
      learning_rate=3e-3, num_train_epochs=3.0, random_seed=2)
  values.update(kw)
  return classifier.ClassifierConfig(**values)


def _read_floats(path):
  with open(path, encoding="utf-8") as f:
    return np.array([[float(x) for x in line.split("\t")]
                     for line in f.read().splitlines()])


def test_train_evaluate_tune_predict_export(tmp_path, tiny_vocab_file):
  data = tmp_path / "data"
  data.mkdir()
  dev = _rows(2, 24)
  _write(data / "train.tsv", _rows(1, 64))
  _write(data / "dev.tsv", dev)
  _write(data / "test.tsv", dev)
  cfg = _config(tmp_path, tiny_vocab_file, do_train=True, do_eval=True,
                do_predict=True, tune_thresholds=True,
                export_dir=str(tmp_path / "export"))
  result = classifier.run(cfg)
  out = cfg.output_dir
  labels = ["animal", "film"]
  with open(os.path.join(out, "labels.txt"), encoding="utf-8") as f:
    assert f.read().split() == labels
  with open(os.path.join(out, "thresholds.txt"), encoding="utf-8") as f:
    thresholds = [float(line.split("\t")[1]) for line in f]
  probabilities = _read_floats(result["predict_file"])
  assert probabilities.shape == (len(dev), 2)
  truth = np.array([[int(l in tags.split("|")) for l in labels]
                    for _, tags in dev])
  predicted = (probabilities >= thresholds).astype(int)
  # The dev metrics are those of the tuned thresholds (scikit-learn).
  ev = result["eval"]
  assert ev["micro_f1"] == pytest.approx(sk.f1_score(
      truth, predicted, average="micro", zero_division=0), abs=1e-6)
  assert ev["macro_f1"] == pytest.approx(sk.f1_score(
      truth, predicted, average="macro", zero_division=0), abs=1e-6)
  assert ev["exact_match"] == pytest.approx(
      sk.accuracy_score(truth, predicted), abs=1e-6)
  assert ev["threshold_film"] == pytest.approx(thresholds[1])
  assert ev["support_animal"] == truth[:, 0].sum()
  # It learned the two labels (the all-negative micro F1 is 0).
  assert ev["micro_f1"] > 0.8
  with open(os.path.join(out, "eval_results.txt"), encoding="utf-8") as f:
    text = f.read()
  assert "micro_f1 = " in text and "threshold_animal = " in text

  # test_predictions.tsv: the label sets at the tuned thresholds.
  with open(result["predictions_file"], encoding="utf-8") as f:
    rows = [line.split("\t") for line in f.read().splitlines()]
  assert rows[0] == ["id", "predicted_labels", "text"]
  sets = [[l for l, p in zip(labels, row) if p] for row in predicted]
  assert [r[1] for r in rows[1:]] == ["|".join(s) for s in sets]
  assert [r[2] for r in rows[1:]] == [text for text, _ in dev]

  # The export gives the same probabilities and label sets.
  with predictor_lib.Predictor(result["export_path"]) as p:
    assert p.metadata["multi_label"] is True
    np.testing.assert_allclose(p.metadata["thresholds"], thresholds)
    texts = [text for text, _ in dev]
    np.testing.assert_allclose(p.predict(texts), probabilities, atol=1e-6)
    assert p.predict_label_sets(texts) == sets
    # The SavedModel's own 0/1 output is at the tuned thresholds too.
    np.testing.assert_array_equal(p.predict_outputs(texts)["predictions"],
                                  predicted)


@pytest.mark.parametrize("kw,message", [
    (dict(multi_label=False, threshold=0.3), r"--threshold=0.3 applies to "
     r"multi-label classification only"),
    (dict(multi_label=False, label_separator=";"), r"--label_separator=; "
     r"applies to multi-label"),
    (dict(tune_thresholds=True), r"--tune_thresholds chooses the thresholds "
     r"on the dev set after training: give --do_eval"),
    (dict(threshold=1.0), r"--threshold=1.0 must lie strictly between 0 "
     r"and 1"),
    (dict(class_weights="balanced"), r"--class_weights=balanced weighs the "
     r"classes of a single-label"),
    (dict(doc_stride=4), r"--doc_stride .* not available with --multi_label"),
    (dict(regression=True), r"multi_label and regression exclude each "
     r"other"),
])
def test_bad_settings_are_refused(tmp_path, tiny_vocab_file, kw, message):
  data = tmp_path / "data"
  data.mkdir()
  _write(data / "train.tsv", _rows(1, 8))
  values = dict(do_train=True)
  values.update(kw)
  with pytest.raises(ValueError, match=message):
    classifier.run(_config(tmp_path, tiny_vocab_file, **values))

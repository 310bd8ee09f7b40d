"""`python -m bert_tf.demo --quick`: every stage runs and leaves its outputs.

Also the corpus helpers: prose extraction, topic groups without shared
sentences, a deterministic held-out split without leakage.
"""

import json
import os
import subprocess
import sys

import pytest
import tensorflow.compat.v1 as tf

from bert_tf import demo
from bert_tf import input_pipeline
from bert_tf import tokenization
from bert_tf.tasks import pretraining

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _tsv_rows(path):
  lines = open(path, encoding="utf-8").read().splitlines()
  assert lines[0] == "label\tsentence"
  return [tuple(line.split("\t")) for line in lines[1:]]


def _no_temporary_files(directory):
  for root, _, names in os.walk(directory):
    for name in names:
      assert ".tmp-" not in name, os.path.join(root, name)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
  out = tmp_path_factory.mktemp("demo") / "demo_output"
  proc = subprocess.run(
      [sys.executable, "-m", "bert_tf.demo", "--quick",
       "--output_dir=%s" % out, "--minilm_dir=%s" % (out / "no_minilm")],
      capture_output=True, text=True, timeout=300, cwd=ROOT)
  assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
  return str(out), proc


def test_every_stage_leaves_its_outputs(quick_run):
  out, proc = quick_run
  join = lambda *parts: os.path.join(out, *parts)  # pylint: disable=unnecessary-lambda-assignment
  summary = json.load(open(join("summary.json")))

  # 1. Corpus.
  train_text = open(join("corpus", "train_sentences.txt")).read()
  assert train_text.count("\n") > 100
  groups = json.load(open(join("corpus", "topic_groups.json")))
  assert "compound" in groups and "if" in groups["compound"]
  # 2. Vocabulary.
  vocab = tokenization.load_vocab(join("vocab", "vocab.txt"))
  tokenization.check_special_tokens(vocab, "demo vocab")
  assert summary["vocab"]["size"] == len(vocab)
  # 3. Pretraining TFRecords with the pretraining features.
  for split in ("train", "dev"):
    path = join("pretraining_data", split + ".tfrecord")
    assert input_pipeline.count_records(path) == (
        summary["pretraining_data"][split]) > 0
    record = next(input_pipeline.iter_records(path))
    feature = tf.train.Example.FromString(record).features.feature
    assert set(feature) == set(pretraining.name_to_features(64, 10))
  # 4. Pretrained checkpoint and its evaluation.
  assert tf.train.latest_checkpoint(join("pretrain")).endswith(
      "model.ckpt-%d" % summary["config"]["pretrain_steps"])
  assert "masked_lm_accuracy = " in open(join("pretrain",
                                              "eval_results.txt")).read()
  # 5. Task data.
  labels = summary["finetune_data"]["labels"]
  assert len(labels) == 8
  train_rows = _tsv_rows(join("finetune_data", "train.tsv"))
  dev_rows = _tsv_rows(join("finetune_data", "dev.tsv"))
  assert {label for label, _ in train_rows} == set(labels)
  assert {label for label, _ in dev_rows} <= set(labels)
  # 6. Fine-tuned checkpoint, evaluation, SavedModel.
  assert tf.train.latest_checkpoint(join("finetune")) is not None
  results = open(join("finetune", "eval_results.txt")).read()
  assert "eval_accuracy = " in results and "mcc = " in results
  saved_model = summary["paths"]["saved_model"]
  assert os.path.dirname(saved_model) == join("export")
  assert os.path.exists(os.path.join(saved_model, "saved_model.pb"))
  assert os.path.isdir(os.path.join(saved_model, "variables"))
  # 7. Answers from the SavedModel: one per dev sentence; their accuracy is
  # the evaluation's.
  answers = open(join("predictions.tsv")).read().splitlines()
  assert answers[0] == "predicted\tprobability\tlabel\tsentence"
  assert len(answers) - 1 == len(dev_rows)
  rows = [line.split("\t") for line in answers[1:]]
  assert all(r[0] in labels and 0.0 < float(r[1]) <= 1.0 for r in rows)
  assert [(r[2], r[3]) for r in rows] == dev_rows
  accuracy = sum(r[0] == r[2] for r in rows) / len(rows)
  assert accuracy == pytest.approx(summary["finetune"]["eval_accuracy"],
                                   abs=1e-6)
  # 8. Plots.
  pngs = summary["paths"]["plots"]
  for key in ("pretrain_loss", "pretrain_learning_rate",
              "pretrain_eval_metrics", "finetune_loss",
              "finetune_learning_rate", "finetune_eval_metrics"):
    with open(pngs[key], "rb") as f:
      assert f.read(8) == PNG_SIGNATURE
  _no_temporary_files(out)

  # The reader saw every stage, progress lines and the closing summary.
  for i in range(1, 9):
    assert "==> [%d/8]" % i in proc.stdout
  assert "examples/sec" in proc.stderr and "ETA" in proc.stderr
  assert "Demo finished in" in proc.stdout
  assert "python -m bert_tf.plots --model_dir=" in proc.stdout
  # The Estimator's per-variable listing is filtered out.
  assert "*INIT_FROM_CKPT*" not in proc.stderr


def test_no_dev_sentence_is_trained_on(quick_run):
  out, _ = quick_run
  dev = {s for _, s in _tsv_rows(os.path.join(out, "finetune_data",
                                              "dev.tsv"))}
  train = {s for _, s in _tsv_rows(os.path.join(out, "finetune_data",
                                                "train.tsv"))}
  corpus = set(open(os.path.join(out, "corpus",
                                 "train_sentences.txt")).read().splitlines())
  assert dev and not dev & train and not dev & corpus


def test_output_dir_of_someone_else_is_refused(tmp_path):
  (tmp_path / "precious.txt").write_text("keep me")
  with pytest.raises(ValueError, match="not empty and was not written by the "
                     "demo"):
    demo._prepare_output_dir(str(tmp_path), ["corpus"])  # pylint: disable=protected-access
  assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_previous_demo_output_is_replaced(tmp_path):
  out = tmp_path / "demo_output"
  demo._prepare_output_dir(str(out), ["corpus"])  # pylint: disable=protected-access
  (out / "corpus").mkdir()
  (out / "corpus" / "old.txt").write_text("old")
  (out / "notes.txt").write_text("mine")
  demo._prepare_output_dir(str(out), ["corpus"])  # pylint: disable=protected-access
  assert not (out / "corpus").exists()
  assert (out / "notes.txt").read_text() == "mine"  # not the demo's: kept


def test_prose_extraction_skips_code_and_grammar():
  text = ("The \"if\" statement\n******************\n\n"
          "The \"if\" statement is used for conditional execution:\n\n"
          "   if_stmt ::= \"if\" assignment_expression \":\" suite\n\n"
          "   >>> if x:\n   ...     pass\n\n"
          "It selects exactly one of the suites by evaluating the "
          "expressions\none by one until one is found to be true.  Then "
          "that suite is\nexecuted.\n\n"
          "   def f(x):\n       return x\n\n"
          "* A list item that is a proper sentence of prose.\n")
  assert demo.topic_sentences(text) == [
      "The \"if\" statement is used for conditional execution:",
      "It selects exactly one of the suites by evaluating the expressions "
      "one by one until one is found to be true.",
      "Then that suite is executed.",
      "A list item that is a proper sentence of prose."]


def test_groups_and_split_of_the_real_corpus():
  topics = demo.load_topics()
  groups = demo.group_topics(topics)
  owner = {}
  for group in groups:
    assert len(set(group.sentences)) == len(group.sentences)
    for sentence in group.sentences:
      assert sentence not in owner, (sentence, owner.get(sentence))
      owner[sentence] = group.name
  # "if" is a part of "compound": one group.
  compound = next(g for g in groups if "if" in g.topics)
  assert "compound" in compound.topics
  grouped = [t for g in groups for t in g.topics]
  assert len(grouped) == len(set(grouped)) and set(grouped) <= set(topics)
  assert len(grouped) >= 0.95 * len(topics)  # few topics have no prose
  train, dev = demo.split_sentences(groups, 0.2)
  again_train, again_dev = demo.split_sentences(groups, 0.2)
  assert (train, dev) == (again_train, again_dev)
  num_dev = sum(len(g.sentences) for g in dev)
  num_all = sum(len(g.sentences) for g in groups)
  assert 0.15 < num_dev / num_all < 0.25
  for t, d, g in zip(train, dev, groups):
    assert not set(t.sentences) & set(d.sentences)
    assert len(t.sentences) + len(d.sentences) == len(g.sentences)
  labels = demo.class_groups(groups, 8)
  sizes = sorted((len(g.sentences) for g in groups), reverse=True)
  assert min(len(g.sentences) for g in groups if g.name in labels) == (
      sizes[7])

"""End to end on the real checkpoint and data of ../shared: the model learns.

Short runs through the scripts' command lines, each compared with a
baseline it must beat by a clear margin: the majority class for sentiment
classification (SST-2), the same model before fine-tuning for SQuAD.
"""

import json
import os
import subprocess
import sys

import pytest

from bert_tf import convert
from bert_tf import driver

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def minilm_google(tmp_path_factory):
  from conftest import shared_path  # pylint: disable=g-import-not-at-top
  out = str(tmp_path_factory.mktemp("minilm") / "bert")
  convert.hf_to_google(shared_path("models", "minilm-l6-h384-uncased"), out)
  return out


def _model_flags(bert_dir):
  return ["--vocab_file=%s/vocab.txt" % bert_dir,
          "--bert_config_file=%s/bert_config.json" % bert_dir,
          "--init_checkpoint=%s/bert_model.ckpt" % bert_dir]


def _run(script, args, timeout=900):
  proc = subprocess.run([sys.executable, os.path.join(ROOT, script)] + args,
                        capture_output=True, text=True, timeout=timeout)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return proc


def test_sst2_learns_above_majority_with_eval_every_epoch(
    tmp_path, glue_dir, minilm_google):
  """800 SST-2 sentences, 2 epochs, an evaluation on the whole dev set
  (872) after each, the best kept: dev accuracy well above the majority."""
  data_dir = tmp_path / "sst2"
  data_dir.mkdir()
  with open(os.path.join(glue_dir, "SST-2", "train.tsv"),
            encoding="utf-8") as f:
    lines = f.readlines()
  (data_dir / "train.tsv").write_text("".join(lines[:801]), encoding="utf-8")
  with open(os.path.join(glue_dir, "SST-2", "dev.tsv"), encoding="utf-8") as f:
    dev = f.read()
  (data_dir / "dev.tsv").write_text(dev, encoding="utf-8")
  labels = [line.rsplit("\t", 1)[1].strip() for line in dev.splitlines()[1:]]
  majority = max(labels.count("0"), labels.count("1")) / len(labels)
  out = str(tmp_path / "out")
  _run("run_classifier.py", [
      "--task_name=SST-2", "--data_dir=%s" % data_dir, "--do_train",
      "--do_eval", "--max_seq_length=32", "--train_batch_size=32",
      "--eval_batch_size=64", "--learning_rate=5e-5", "--num_train_epochs=2",
      "--eval_every_epochs=1", "--keep_best_checkpoint_by=eval_accuracy",
      "--random_seed=1", "--output_dir=" + out] + _model_flags(minilm_google))
  history = driver.eval_history(out)
  assert [r["epoch"] for r in history] == [1.0, 2.0]
  best = max(r["metrics"]["eval_accuracy"] for r in history)
  with open(os.path.join(out, "eval_results.txt")) as f:
    results = dict(line.strip().split(" = ") for line in f if line.strip())
  assert float(results["eval_accuracy"]) == pytest.approx(best)
  # Measured: 0.75-0.80 after 2 epochs; the majority class is 0.509.
  assert best > majority + 0.12, (best, majority)


def test_squad_learns_above_the_untrained_model(tmp_path, squad_file,
                                                minilm_google):
  """SQuAD 1.1, two articles (1,057 questions) to train, a third (268) to
  evaluate, seq 128, 2 epochs: F1 far above the same model with its fresh
  span head."""
  with open(squad_file, encoding="utf-8") as f:
    source = json.load(f)
  # Training files hold one answer per question, as SQuAD's training set.
  articles = json.loads(json.dumps(source["data"][:2]))
  for article in articles:
    for paragraph in article["paragraphs"]:
      for qa in paragraph["qas"]:
        qa["answers"] = qa["answers"][:1]
  train = dict(version="1.1", data=articles)
  evaluate = dict(version="1.1", data=[source["data"][2]])
  train_file = str(tmp_path / "train.json")
  eval_file = str(tmp_path / "eval.json")
  for path, data in ((train_file, train), (eval_file, evaluate)):
    with open(path, "w", encoding="utf-8") as f:
      json.dump(data, f)
  common = ["--predict_file=" + eval_file, "--do_eval", "--do_predict",
            "--max_seq_length=128", "--doc_stride=64",
            "--predict_batch_size=32", "--random_seed=2"]
  untrained_out = str(tmp_path / "untrained")
  _run("run_squad.py", common + ["--output_dir=" + untrained_out] +
       _model_flags(minilm_google))
  with open(os.path.join(untrained_out, "eval_results.json")) as f:
    untrained = json.load(f)
  out = str(tmp_path / "trained")
  _run("run_squad.py", common + [
      "--do_train", "--train_file=" + train_file, "--train_batch_size=16",
      "--learning_rate=5e-5", "--num_train_epochs=2",
      "--output_dir=" + out] + _model_flags(minilm_google))
  with open(os.path.join(out, "eval_results.json")) as f:
    trained = json.load(f)
  print("SQuAD F1 untrained %.2f, trained %.2f" % (untrained["f1"],
                                                  trained["f1"]))
  # Measured (2026-12-02, seed 2): F1 10.5 untrained, 20.4 trained; the
  # run is deterministic for a seed on one CPU kind.
  assert trained["f1"] > untrained["f1"] + 6.0, (trained, untrained)

"""run_ner / NerTask end to end on a tiny model (no ../shared needed), and on
the real MiniLM checkpoint with a WNUT-17 slice (skipped without it)."""

import json
import os
import random
import subprocess
import sys

import numpy as np
import pytest

from bert_tf import convert
from bert_tf import predictor as predictor_lib
from bert_tf.tasks import ner
from bert_tf.tasks import ner_eval
from conftest import TINY_VOCAB
from conftest import shared_path
from test_classifier import write_tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ANIMALS = ["dog", "cat"]
COLORS = ["red", "blue", "green"]
OTHER = ["the", "a", "is", "was", "runs", "fast", "slow", "good", "and",
         "very", "unaffable", "playing", "house", "car"]


def _tagged_file(path, n, seed, long_every=0):
  """Sentences where dogs/cats are B-ANIMAL (I- for a second one right
  after), colours B-COLOR, everything else O."""
  rng = random.Random(seed)
  lines = []
  for i in range(n):
    length = 24 if long_every and i % long_every == 0 else rng.randint(3, 9)
    prev = None
    for _ in range(length):
      r = rng.random()
      word = rng.choice(ANIMALS if r < 0.2 else COLORS if r < 0.35 else OTHER)
      kind = ("ANIMAL" if word in ANIMALS else
              "COLOR" if word in COLORS else None)
      if kind is None:
        tag = "O"
      else:
        tag = ("I-" if prev == kind else "B-") + kind
      prev = kind
      lines.append("%s\t%s" % (word, tag))
    lines.append("")
  with open(path, "w", encoding="utf-8") as f:
    f.write("\n".join(lines) + "\n")
  return str(path)


def _cfg(tmp_path, **kw):
  vocab = tmp_path / "vocab.txt"
  seen = []
  for token in TINY_VOCAB:
    if token not in seen:
      seen.append(token)
  vocab.write_text("\n".join(seen) + "\n", encoding="utf-8")
  config = write_tiny_config(str(tmp_path / "bert_config.json"),
                             hidden_dropout_prob=0.0,
                             attention_probs_dropout_prob=0.0)
  values = dict(bert_config_file=config, vocab_file=str(vocab),
                output_dir=str(tmp_path / "out"), max_seq_length=16,
                doc_stride=6, train_batch_size=16, learning_rate=3e-3,
                num_train_epochs=8.0, save_checkpoints_steps=1000,
                random_seed=1, log_every_n_steps=1000)
  values.update(kw)
  return ner.NerConfig(**values)


def test_train_eval_predict_export_tiny(tmp_path):
  train = _tagged_file(tmp_path / "train.txt", 120, 0, long_every=10)
  dev = _tagged_file(tmp_path / "dev.txt", 30, 1, long_every=5)
  cfg = _cfg(tmp_path, train_file=train, eval_file=dev, predict_file=dev,
             do_train=True, do_eval=True, do_predict=True,
             export_dir=str(tmp_path / "export"), eval_every_epochs=4.0)
  result = ner.run(cfg)
  out = cfg.output_dir
  assert result["labels"] == ["O", "B-ANIMAL", "I-ANIMAL", "B-COLOR",
                              "I-COLOR"]
  assert ner.read_labels_file(os.path.join(out, "labels.txt")) == (
      result["labels"])
  # The task is learnt (an untrained head scores near 0; what the tiny
  # model gets wrong is B- against I- after a word of the same kind).
  assert result["eval"]["f1"] > 0.7, result["eval"]
  assert result["eval"]["accuracy"] > 0.9, result["eval"]
  assert len(result["eval_history"]) == 2
  text = open(os.path.join(out, "eval_results.txt")).read()
  assert "f1 = %s" % result["eval"]["f1"] in text
  assert "ANIMAL_f1 = " in text and "eval_loss = " in text

  # eval_predictions.txt: the input with a predicted tag column; scoring it
  # again (and with seqeval) gives the reported numbers.
  scored = ner.read_conll(result["eval_predictions_file"])
  gold = ner.read_conll(dev)
  assert [s.words for s in scored] == [s.words for s in gold]
  rows = [line.split("\t") for line in
          open(result["eval_predictions_file"]).read().splitlines() if line]
  assert all(len(r) == 3 for r in rows)
  pred_tags, i = [], 0
  for s in gold:
    pred_tags.append([r[2] for r in rows[i:i + len(s.words)]])
    i += len(s.words)
  again = ner_eval.evaluate([s.tags for s in gold], pred_tags)
  assert again["f1"] == result["eval"]["f1"]
  seqeval_metrics = pytest.importorskip("seqeval.metrics")
  assert abs(seqeval_metrics.f1_score([s.tags for s in gold], pred_tags) -
             again["f1"]) < 1e-9
  assert open(result["predictions_file"]).read() == open(
      result["eval_predictions_file"]).read()

  # The export serves raw text.
  with predictor_lib.Predictor(result["export_path"]) as predictor:
    (entities,) = predictor.entities(["The red dog, and a blue car."])
  assert [(e["type"], e["text"]) for e in entities] == [
      ("COLOR", "red"), ("ANIMAL", "dog"), ("COLOR", "blue")]

  # Evaluation alone, from the output_dir (labels.txt reused), with length
  # bucketing, gives the same scores.
  again = ner.run(_cfg(tmp_path, eval_file=dev, do_eval=True,
                       use_bucketing=True))
  assert again["eval"]["f1"] == result["eval"]["f1"]
  assert again["eval"]["eval_loss"] == pytest.approx(
      result["eval"]["eval_loss"], abs=1e-5)


def test_settings_errors(tmp_path):
  dev = _tagged_file(tmp_path / "dev.txt", 3, 1)
  with pytest.raises(ValueError, match="--do_eval .* needs --eval_file"):
    ner.run(_cfg(tmp_path, do_train=True, train_file=dev, do_eval=True))
  with pytest.raises(ValueError, match="No labels"):
    ner.run(_cfg(tmp_path, do_predict=True, predict_file=dev,
                 init_checkpoint=str(tmp_path / "nowhere" / "model.ckpt")))
  bad = tmp_path / "bad.txt"
  bad.write_text("dog\tB-ANIMAL\ncat\n", encoding="utf-8")
  with pytest.raises(ner.NerFormatError, match="bad.txt:2: expected a token"):
    ner.run(_cfg(tmp_path, do_train=True, train_file=str(bad)))


def test_run_ner_script_tiny(tmp_path):
  train = _tagged_file(tmp_path / "train.txt", 20, 0)
  cfg = _cfg(tmp_path)
  proc = subprocess.run(
      [sys.executable, "run_ner.py", "--do_train", "--do_eval",
       "--train_file=" + train, "--eval_file=" + train,
       "--bert_config_file=" + cfg.bert_config_file,
       "--vocab_file=" + cfg.vocab_file, "--output_dir=" + cfg.output_dir,
       "--max_seq_length=16", "--num_train_epochs=1", "--labels=O,B-ANIMAL,"
       "I-ANIMAL,B-COLOR,I-COLOR,B-X"],
      cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert ner.read_labels_file(os.path.join(cfg.output_dir, "labels.txt"))[
      -1] == "B-X"
  assert os.path.exists(os.path.join(cfg.output_dir, "eval_results.txt"))
  proc = subprocess.run(
      [sys.executable, "run_ner.py", "--do_train", "--num_train_steps=3",
       "--train_file=" + train, "--bert_config_file=" + cfg.bert_config_file,
       "--vocab_file=" + cfg.vocab_file, "--output_dir=" + cfg.output_dir],
      cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 1 and "num_train_epochs" in proc.stderr


# ---------------------------------------------------------------------------
# The real checkpoint on a WNUT-17 slice.


def _slice(src, dst, n):
  sentences, current = [], []
  for line in open(src, encoding="utf-8").read().split("\n"):
    if line.strip():
      current.append(line)
    elif current:
      sentences.append(current)
      current = []
  if current:
    sentences.append(current)
  # Sentences that hold entities, so a short run has something to learn.
  keep = [s for s in sentences if any("\tB-" in line for line in s)][:n]
  with open(dst, "w", encoding="utf-8") as f:
    f.write("\n\n".join("\n".join(s) for s in keep) + "\n")
  return str(dst)


def test_minilm_learns_wnut_slice(tmp_path):
  """A short fine-tuning of the real MiniLM on 240 WNUT-17 training
  sentences lifts dev entity F1 (120 sentences) far above the untrained
  head's."""
  hf_dir = shared_path("models", "minilm-l6-h384-uncased")
  wnut = shared_path("data", "ner", "wnut17")
  google = str(tmp_path / "minilm")
  convert.hf_to_google(str(hf_dir), google)
  train = _slice(os.path.join(str(wnut), "train.conll"),
                 tmp_path / "train.conll", 240)
  dev = _slice(os.path.join(str(wnut), "dev.conll"), tmp_path / "dev.conll",
               120)
  common = dict(
      bert_config_file=os.path.join(google, "bert_config.json"),
      vocab_file=os.path.join(google, "vocab.txt"),
      init_checkpoint=os.path.join(google, "bert_model.ckpt"),
      max_seq_length=48, doc_stride=24, eval_file=dev, eval_batch_size=64,
      random_seed=3, log_every_n_steps=1000, train_file=train,
      labels=",".join(ner.labels_from_sentences(ner.read_conll(train))))
  base = ner.run(ner.NerConfig(output_dir=str(tmp_path / "base"),
                               do_eval=True, **common))
  tuned = ner.run(ner.NerConfig(
      output_dir=str(tmp_path / "tuned"), do_train=True, do_eval=True,
      train_batch_size=16, learning_rate=1.5e-4, num_train_epochs=2.0,
      **common))
  print("untrained F1 %.4f, tuned F1 %.4f (loss %.3f -> %.3f)" % (
      base["eval"]["f1"], tuned["eval"]["f1"], base["eval"]["eval_loss"],
      tuned["eval"]["eval_loss"]))
  assert tuned["eval"]["eval_loss"] < 0.7 * base["eval"]["eval_loss"]
  assert tuned["eval"]["f1"] > base["eval"]["f1"] + 0.1
  assert np.isfinite(tuned["eval"]["eval_loss"])
  json.dumps(tuned["eval"])  # plain Python values

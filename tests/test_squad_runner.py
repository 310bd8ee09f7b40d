"""run_squad end to end on a tiny config: train, predict, evaluate, export."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from bert_tf.tasks import squad_runner

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

WORDS = ["the", "dog", "cat", "runs", "ran", "fast", "slow", "good", "bad",
         "movie", "film", "great", "man", "woman", "city", "house", "car",
         "red", "blue", "green", "big", "small", "new", "old", "day", "night"]


def make_squad(path, n_paragraphs=4, version_2=False, seed=0):
  """A SQuAD-format file whose answers are the word after 'hello'."""
  rng = np.random.RandomState(seed)
  data = []
  qid = 0
  for p in range(n_paragraphs):
    words = list(rng.choice(WORDS, size=30))
    pos = int(rng.randint(2, 26))
    answer_words = words[pos:pos + 2]
    words[pos - 1] = "hello"
    context = " ".join(words)
    start = len(" ".join(words[:pos])) + 1
    qas = [{"id": "q%d" % qid, "question": "how are you ?",
            "answers": [{"text": " ".join(answer_words),
                         "answer_start": start}]}]
    qid += 1
    if version_2:
      qas[0]["is_impossible"] = False
      qas.append({"id": "q%d" % qid, "question": "yes no ?", "answers": [],
                  "is_impossible": True, "plausible_answers": []})
      qid += 1
    data.append({"title": "t%d" % p,
                 "paragraphs": [{"context": context, "qas": qas}]})
  with open(path, "w") as f:
    json.dump({"version": "2.0" if version_2 else "1.1", "data": data}, f)
  return path


def write_config(path):
  with open(path, "w") as f:
    json.dump(dict(vocab_size=120, hidden_size=32, num_hidden_layers=2,
                   num_attention_heads=4, intermediate_size=64,
                   hidden_act="gelu", hidden_dropout_prob=0.0,
                   attention_probs_dropout_prob=0.0,
                   max_position_embeddings=64, type_vocab_size=2,
                   initializer_range=0.02), f)
  return str(path)


def test_squad_v1_learns_spans_and_evaluates(tmp_path, tiny_vocab_file):
  data = make_squad(str(tmp_path / "train.json"), n_paragraphs=6)
  out = str(tmp_path / "out")
  cfg = squad_runner.SquadConfig(
      bert_config_file=write_config(tmp_path / "c.json"), output_dir=out,
      vocab_file=tiny_vocab_file, train_file=data, predict_file=data,
      max_seq_length=48, doc_stride=16, max_query_length=8, do_train=True,
      do_predict=True, do_eval=True, train_batch_size=6,
      predict_batch_size=4, learning_rate=3e-3, num_train_epochs=150.0,
      warmup_proportion=0.05, random_seed=0, save_checkpoints_steps=1000,
      export_dir=str(tmp_path / "export"), log_every_n_steps=50)
  result = squad_runner.run(cfg)
  predictions = json.load(open(os.path.join(out, "predictions.json")))
  assert sorted(predictions) == ["q%d" % i for i in range(6)]
  nbest = json.load(open(os.path.join(out, "nbest_predictions.json")))
  probs = [e["probability"] for e in nbest["q0"]]
  assert sum(probs) == pytest.approx(1.0, abs=1e-4)
  metrics = json.load(open(os.path.join(out, "eval_results.json")))
  # Memorising six questions proves the spans are mapped right end to end
  # (start/end labels, windows, post-processing back to the context text).
  assert metrics["exact_match"] >= 80.0, (metrics, predictions)
  assert metrics == result["eval"]
  assert os.path.isdir(result["export_path"])


def test_squad_v2_outputs_null_odds(tmp_path, tiny_vocab_file):
  data = make_squad(str(tmp_path / "v2.json"), n_paragraphs=2, version_2=True)
  out = str(tmp_path / "out")
  cfg = squad_runner.SquadConfig(
      bert_config_file=write_config(tmp_path / "c.json"), output_dir=out,
      vocab_file=tiny_vocab_file, train_file=data, predict_file=data,
      max_seq_length=48, doc_stride=16, max_query_length=8, do_train=True,
      do_predict=True, do_eval=True, train_batch_size=4, predict_batch_size=4,
      num_train_epochs=2.0, version_2_with_negative=True, random_seed=0)
  result = squad_runner.run(cfg)
  null_odds = json.load(open(os.path.join(out, "null_odds.json")))
  assert sorted(null_odds) == ["q0", "q1", "q2", "q3"]
  for key in ("exact", "f1", "HasAns_exact", "NoAns_exact", "best_f1",
              "best_f1_thresh"):
    assert key in result["eval"]


def test_flag_errors(tmp_path, tiny_vocab_file):
  base = dict(bert_config_file=write_config(tmp_path / "c.json"),
              output_dir=str(tmp_path / "o"), vocab_file=tiny_vocab_file,
              max_seq_length=48, max_query_length=8)
  with pytest.raises(ValueError, match="do_train"):
    squad_runner.run(squad_runner.SquadConfig(**base))
  with pytest.raises(ValueError, match="train_file"):
    squad_runner.run(squad_runner.SquadConfig(**base, do_train=True))
  with pytest.raises(ValueError, match="max_query_length"):
    squad_runner.run(squad_runner.SquadConfig(
        **dict(base, max_query_length=46), do_predict=True,
        predict_file="x.json"))
  with pytest.raises(FileNotFoundError, match="nothere.json"):
    squad_runner.run(squad_runner.SquadConfig(
        **base, do_train=True, train_file=str(tmp_path / "nothere.json")))


def test_script_reference_command_line(tmp_path, tiny_vocab_file):
  data = make_squad(str(tmp_path / "train-v1.1.json"), n_paragraphs=2)
  out = str(tmp_path / "squad_base")
  cmd = [sys.executable, os.path.join(ROOT, "run_squad.py"),
         "--vocab_file=" + tiny_vocab_file,
         "--bert_config_file=" + write_config(tmp_path / "bert_config.json"),
         "--do_train=True", "--train_file=" + data, "--do_predict=True",
         "--predict_file=" + data, "--train_batch_size=2",
         "--learning_rate=3e-5", "--num_train_epochs=2.0",
         "--max_seq_length=48", "--doc_stride=16", "--max_query_length=8",
         "--output_dir=" + out]
  proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert os.path.exists(os.path.join(out, "predictions.json"))
  assert os.path.exists(os.path.join(out, "nbest_predictions.json"))


def _shared_slice(squad_file, out_path, version_2, first_answer_only=False):
  """The first paragraphs of the shared SQuAD v1.1 file; for 2.0, every
  second question is asked of the next paragraph instead and marked
  impossible (a question about another paragraph has no answer here).
  Training files keep one answer per question, as SQuAD's training set."""
  with open(squad_file, encoding="utf-8") as f:
    source = json.load(f)
  paragraphs = source["data"][0]["paragraphs"][:3]
  out = []
  for i, p in enumerate(paragraphs):
    qas = []
    for j, qa in enumerate(p["qas"][:4]):
      qa = dict(qa)
      if first_answer_only:
        qa["answers"] = qa["answers"][:1]
      if version_2:
        qa["is_impossible"] = False
        if j % 2 == 1:
          other = paragraphs[(i + 1) % len(paragraphs)]["qas"][j]
          qa = dict(id=qa["id"] + "-other", question=other["question"],
                    answers=[], is_impossible=True)
      qas.append(qa)
    out.append(dict(context=p["context"], qas=qas))
  data = {"version": "v2.0" if version_2 else "1.1",
          "data": [dict(title=source["data"][0]["title"], paragraphs=out)]}
  with open(out_path, "w", encoding="utf-8") as f:
    json.dump(data, f)
  return str(out_path), [qa["id"] for p in out for qa in p["qas"]]


def test_reference_commands_on_shared_squad(tmp_path, minilm_dir, squad_file):
  """The reference's SQuAD 1.1 and 2.0 command lines (paths changed, kept
  cheap: a few paragraphs of the shared file, seq 128, a few steps) train,
  predict and evaluate from the converted real MiniLM checkpoint."""
  from bert_tf import convert  # pylint: disable=g-import-not-at-top
  bert_dir = str(tmp_path / "minilm")
  convert.hf_to_google(str(minilm_dir), bert_dir)
  for version_2 in (False, True):
    name = "v2" if version_2 else "v1"
    data, qids = _shared_slice(squad_file, tmp_path / ("dev-%s.json" % name),
                               version_2)
    train, _ = _shared_slice(squad_file, tmp_path / ("train-%s.json" % name),
                             version_2, first_answer_only=True)
    out = str(tmp_path / ("squad_v2" if version_2 else "squad_base"))
    cmd = [sys.executable, os.path.join(ROOT, "run_squad.py"),
           "--vocab_file=%s/vocab.txt" % bert_dir,
           "--bert_config_file=%s/bert_config.json" % bert_dir,
           "--init_checkpoint=%s/bert_model.ckpt" % bert_dir,
           "--do_train=True", "--train_file=" + train,
           "--do_predict=True", "--do_eval=True", "--predict_file=" + data,
           "--train_batch_size=8", "--learning_rate=3e-5",
           "--num_train_epochs=1.0", "--max_seq_length=128",
           "--doc_stride=64", "--predict_batch_size=16",
           "--output_dir=" + out]
    if version_2:
      cmd += ["--version_2_with_negative=True",
              "--null_score_diff_threshold=0.0"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "*INIT_FROM_CKPT*" in proc.stderr
    with open(os.path.join(out, "predictions.json")) as f:
      predictions = json.load(f)
    assert sorted(predictions) == sorted(qids)
    with open(os.path.join(out, "nbest_predictions.json")) as f:
      nbest = json.load(f)
    # n_best_size (20) answers at most, plus the empty answer for 2.0.
    assert all(1 <= len(nbest[q]) <= (21 if version_2 else 20) for q in qids)
    with open(os.path.join(out, "eval_results.json")) as f:
      results = json.load(f)
    if version_2:
      assert results["total"] == len(qids)
      assert 0.0 <= results["exact"] <= results["f1"] <= 100.0
      with open(os.path.join(out, "null_odds.json")) as f:
        assert sorted(json.load(f)) == sorted(qids)
      assert results["HasAns_total"] == results["NoAns_total"] == 6
      assert "best_f1_thresh" in results
    else:
      assert 0.0 <= results["exact_match"] <= results["f1"] <= 100.0
      assert not os.path.exists(os.path.join(out, "null_odds.json"))

"""The pretraining recipes in bench/: two-phase script and benchmark helpers."""

import importlib.util
import json
import os
import re
import subprocess
import sys

import pytest

from conftest import ROOT
from conftest import SHARED


def _load_bench():
  spec = importlib.util.spec_from_file_location(
      "bench_pretraining", str(ROOT / "bench" / "pretraining.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_bench_evaluation_points_and_checkpoint_interval():
  bench = _load_bench()
  args = bench.parse_args(["--train_steps=600"])
  steps = bench.eval_steps(args)
  assert steps == [0, 150, 300, 600]
  assert bench.checkpoint_interval(steps) == 150
  assert bench.checkpoint_interval([0, 7]) == 7
  args = bench.parse_args(["--train_steps=10", "--eval_fractions=0,1.5"])
  with pytest.raises(ValueError, match="not in"):
    bench.eval_steps(args)
  args = bench.parse_args(["--quick"])
  assert args.json.endswith("pretraining-quick.json")
  assert args.train_novels == "northangerabbey"


def test_bench_refuses_held_out_novel_in_training(tmp_path):
  bench = _load_bench()
  args = bench.parse_args(["--corpus_dir", str(tmp_path),
                           "--train_novels=persuasion"])
  with pytest.raises(ValueError, match="held-out"):
    bench.corpus_files(args)


def test_two_phase_script_loads_phase1_weights(tmp_path, corpus_dir,
                                               tiny_vocab_file):
  """Both phases run end to end; phase 2 starts from every phase-1 variable."""
  with open(tiny_vocab_file, encoding="utf-8") as f:
    vocab_size = sum(1 for line in f if line.strip())
  config = tmp_path / "bert_config.json"
  config.write_text(json.dumps({
      "attention_probs_dropout_prob": 0.1, "hidden_act": "gelu",
      "hidden_dropout_prob": 0.1, "hidden_size": 16,
      "initializer_range": 0.02, "intermediate_size": 32,
      "max_position_embeddings": 512, "num_attention_heads": 2,
      "num_hidden_layers": 1, "type_vocab_size": 2, "vocab_size": vocab_size,
  }))
  out = tmp_path / "run"
  env = dict(os.environ, CORPUS=str(corpus_dir / "sample_text.txt"),
             VOCAB=tiny_vocab_file, BERT_CONFIG=str(config),
             OUTPUT_DIR=str(out), PYTHON=sys.executable, DUPE_FACTOR="1",
             PHASE1_STEPS="2", PHASE1_WARMUP="1", PHASE1_BATCH="4",
             PHASE2_STEPS="2", PHASE2_WARMUP="1", PHASE2_BATCH="2",
             MAX_EVAL_STEPS="1", EVAL_BATCH="2",
             BERT_TF_SHARED=str(SHARED))
  proc = subprocess.run(
      ["bash", str(ROOT / "bench" / "pretraining_two_phase.sh")], env=env,
      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
      timeout=300, check=False)
  assert proc.returncode == 0, proc.stdout[-3000:]
  match = re.search(r"Initialised (\d+) of (\d+) trainable variables from "
                    r"\S*phase1/model\.ckpt-2\b", proc.stdout)
  assert match, proc.stdout[-3000:]
  assert match.group(1) == match.group(2)
  for phase, seq in (("phase1", 128), ("phase2", 512)):
    results = (out / phase / "eval_results.txt").read_text()
    assert "global_step = 2" in results
    assert "masked_lm_accuracy" in results
    assert "next_sentence_accuracy" in results
  # The phase-2 data really is 512 long.
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  record = next(tf.io.tf_record_iterator(
      str(out / "phase2_tf_examples.tfrecord")))
  feature = tf.train.Example.FromString(record).features.feature
  assert len(feature["input_ids"].int64_list.value) == seq
  assert len(feature["masked_lm_positions"].int64_list.value) == 80

"""Predictor on an export against estimator.predict; its command line."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from bert_tf import export
from bert_tf import predictor as predictor_lib
from bert_tf import tokenization
from bert_tf.tasks import classifier
from bert_tf.tasks import glue
import serving_helpers as helpers

SEQ = 16
INPUTS = ["The dog runs fast.",
          ("Hello world", "How are you?"),
          "a very good movie and a really great book with a long story",
          ("the cat", "the cat ran")]


def test_predictor_matches_estimator_predict(tmp_path):
  tiny = helpers.make_tiny_model(tmp_path / "m", num_labels=3,
                                 span_head=False)
  export_dir = str(tmp_path / "export")
  export.export_from_checkpoint(
      "classifier", tiny.config_file, tiny.checkpoint_dir, export_dir,
      max_seq_length=SEQ, num_labels=3, vocab_file=tiny.vocab_file,
      do_lower_case=True, labels=["neg", "neu", "pos"])

  # Golden: the classifier's own features through estimator.predict.
  tokenizer = tokenization.FullTokenizer(tiny.vocab_file, True)
  feats = []
  for i, item in enumerate(INPUTS):
    a, b = (item, None) if isinstance(item, str) else item
    feats.append(classifier.convert_single_example(
        i, glue.InputExample(str(i), a, b, "pos"), ["neg", "neu", "pos"],
        SEQ, tokenizer))
  features = {name: np.array([getattr(f, name) for f in feats], np.int32)
              for name in ("input_ids", "input_mask", "segment_ids")}
  expected = helpers.estimator_predict(
      tiny.bert_config, export.make_head("classifier", 3), tiny.checkpoint,
      features, str(tmp_path / "est"))["probabilities"]
  assert np.std(expected, axis=0).max() > 1e-3  # inputs are told apart

  with predictor_lib.Predictor(export_dir) as predictor:
    assert predictor.max_seq_length == SEQ
    assert predictor.labels == ["neg", "neu", "pos"]
    probs = predictor.predict(INPUTS)
    np.testing.assert_allclose(probs, expected, atol=1e-5)
    # Batching does not change the answers; single texts and pairs alone.
    np.testing.assert_allclose(predictor.predict(INPUTS, batch_size=3),
                               expected, atol=1e-5)
    np.testing.assert_allclose(predictor.predict(INPUTS[0]), expected[:1],
                               atol=1e-5)
    np.testing.assert_allclose(predictor.predict([INPUTS[1]]), expected[1:2],
                               atol=1e-5)
    with pytest.raises(ValueError, match="Input 0"):
      predictor.predict([("a", "b", "c")])

  # The command line over a TSV of singles and pairs.
  tsv = tmp_path / "inputs.tsv"
  tsv.write_text("".join(
      (x if isinstance(x, str) else "\t".join(x)) + "\n" for x in INPUTS),
                 encoding="utf-8")
  out = str(tmp_path / "predictions.tsv")
  proc = subprocess.run(
      [sys.executable, "-m", "bert_tf.predictor", "--export_dir=" + export_dir,
       "--input_file=%s" % tsv, "--output_file=" + out, "--batch_size=2"],
      capture_output=True, text=True, timeout=300,
      cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  assert proc.returncode == 0, proc.stderr[-3000:]
  rows = np.array([[float(x) for x in line.split("\t")]
                   for line in open(out).read().splitlines()])
  np.testing.assert_allclose(rows, expected, atol=1e-6)

  # An export without its vocabulary needs one given.
  bare = str(tmp_path / "bare")
  shutil.copytree(export.latest_saved_model(export_dir), bare)
  os.remove(os.path.join(bare, "assets.extra", "vocab.txt"))
  with pytest.raises(FileNotFoundError, match="vocab_file"):
    predictor_lib.Predictor(bare)
  with predictor_lib.Predictor(bare, tiny.vocab_file, True) as predictor:
    np.testing.assert_allclose(predictor.predict(INPUTS), expected,
                               atol=1e-5)

"""SavedModel export for the classifier, SQuAD and the bare encoder."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from bert_tf import export
from bert_tf import model_fn as model_fn_lib
import serving_helpers as helpers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEQ = 16

EXPECTED_OUTPUTS = {
    "classifier": {"probabilities": [-1, 3], "predictions": [-1]},
    "squad": {"start_logits": [-1, SEQ], "end_logits": [-1, SEQ],
              "unique_ids": [-1]},
    "encoder": {"pooled_output": [-1, 32], "sequence_output": [-1, SEQ, 32]},
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
  return helpers.make_tiny_model(tmp_path_factory.mktemp("tiny"))


@pytest.mark.parametrize("task", ["classifier", "squad", "encoder"])
def test_export_matches_estimator_predict(tmp_path, tiny, task):
  export_dir = str(tmp_path / "export")
  path = export.export_from_checkpoint(
      task, tiny.config_file, tiny.checkpoint_dir, export_dir,
      max_seq_length=SEQ, num_labels=3, vocab_file=tiny.vocab_file,
      do_lower_case=True, labels=["x", "y", "z"])
  assert os.path.dirname(path) == export_dir
  assert export.latest_saved_model(export_dir) == path
  # No temporary export directories are left behind.
  assert os.listdir(export_dir) == [os.path.basename(path)]

  features = helpers.random_inputs(5, SEQ, tiny.bert_config.vocab_size)
  if task == "squad":
    features["unique_ids"] = np.arange(1000, 1005, dtype=np.int32)
  expected = helpers.estimator_predict(
      tiny.bert_config, export.make_head(task, 3), tiny.checkpoint, features,
      str(tmp_path / "est"), batch_size=2)

  sess, _, sig = helpers.load_signature(path)
  sess.close()
  assert sorted(sig.inputs) == sorted(features)
  for name, info in sig.inputs.items():
    assert info.dtype == tf.int32.as_datatype_enum
    want = [-1] if name == "unique_ids" else [-1, SEQ]
    assert [d.size for d in info.tensor_shape.dim] == want, name
  got_shapes = {k: [d.size for d in v.tensor_shape.dim]
                for k, v in sig.outputs.items()}
  assert got_shapes == EXPECTED_OUTPUTS[task]

  served = helpers.run_signature(path, features)
  assert sorted(served) == sorted(expected)
  for name in served:
    np.testing.assert_allclose(served[name], expected[name], atol=1e-5,
                               err_msg=name)
  first = sorted(served)[0]
  # The outputs really depend on the inputs (the check can fail).
  assert np.std(served[first].astype(np.float64), axis=0).max() > 1e-3
  if task == "squad":
    np.testing.assert_array_equal(served["unique_ids"], features["unique_ids"])

  extra = os.path.join(path, "assets.extra")
  with open(os.path.join(extra, "vocab.txt")) as f:
    assert f.read() == open(tiny.vocab_file).read()
  meta = export.read_export_metadata(path)
  assert meta["task"] == task and meta["max_seq_length"] == SEQ
  assert meta["do_lower_case"] is True
  assert meta["labels"] == (["x", "y", "z"] if task == "classifier" else None)
  # A classifier export names the label of each output index in labels.txt.
  labels_file = os.path.join(extra, "labels.txt")
  if task == "classifier":
    assert meta["labels_file"] == "labels.txt"
    with open(labels_file) as f:
      assert f.read() == "x\ny\nz\n"
  else:
    assert meta["labels_file"] is None and not os.path.exists(labels_file)


def test_export_cli_from_google_style_checkpoint(tmp_path):
  """`python -m bert_tf.export` on a checkpoint without global_step."""
  tiny = helpers.make_tiny_model(tmp_path / "m", with_global_step=False)
  export_dir = str(tmp_path / "export")
  cmd = [sys.executable, "-m", "bert_tf.export", "--task=encoder",
         "--bert_config_file=" + tiny.config_file,
         "--checkpoint=" + tiny.checkpoint, "--max_seq_length=%d" % SEQ,
         "--export_dir=" + export_dir]
  proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                        cwd=ROOT)
  assert proc.returncode == 0, proc.stderr[-3000:]
  path = proc.stdout.strip().splitlines()[-1]
  assert path == export.latest_saved_model(export_dir)

  features = helpers.random_inputs(4, SEQ, tiny.bert_config.vocab_size, 3)
  served = helpers.run_signature(path, features)
  direct = helpers.direct_bert_outputs(tiny.bert_config, tiny.checkpoint,
                                       **features)
  np.testing.assert_allclose(served["pooled_output"], direct["pooled_output"],
                             atol=1e-5)
  np.testing.assert_allclose(served["sequence_output"],
                             direct["sequence_output"], atol=1e-5)
  assert json.load(open(os.path.join(
      path, "assets.extra", "bert_tf_export.json")))["task"] == "encoder"

  # A task head the checkpoint was never trained for is refused by name.
  with pytest.raises(model_fn_lib.CheckpointMismatchError,
                     match="output_weights"):
    export.export_from_checkpoint("classifier", tiny.config_file,
                                  tiny.checkpoint, export_dir,
                                  max_seq_length=SEQ)

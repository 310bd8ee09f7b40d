"""Predictor on an export against estimator.predict; its command line."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from bert_tf import export
from bert_tf import host
from bert_tf import modeling
from bert_tf import predictor as predictor_lib
from bert_tf import tokenization
from bert_tf.tasks import classifier
from bert_tf.tasks import glue
import serving_helpers as helpers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEQ = 16
INPUTS = ["The dog runs fast.",
          ("Hello world", "How are you?"),
          "a very good movie and a really great book with a long story",
          ("the cat", "the cat ran")]


def _tiny_export(tmp_path):
  """A tiny random classifier (3 labels) exported; (TinyModel, export dir)."""
  tiny = helpers.make_tiny_model(tmp_path / "m", num_labels=3,
                                 span_head=False)
  export_dir = str(tmp_path / "export")
  export.export_from_checkpoint(
      "classifier", tiny.config_file, tiny.checkpoint_dir, export_dir,
      max_seq_length=SEQ, num_labels=3, vocab_file=tiny.vocab_file,
      do_lower_case=True, labels=["neg", "neu", "pos"])
  return tiny, export_dir


def _run_cli(tmp_path, export_dir, *flags):
  """`python -m bert_tf.predictor` over a TSV of INPUTS (singles and
  pairs); returns (the output rows as a float array, stderr)."""
  tsv = tmp_path / "inputs.tsv"
  tsv.write_text("".join(
      (x if isinstance(x, str) else "\t".join(x)) + "\n" for x in INPUTS),
                 encoding="utf-8")
  out = str(tmp_path / "predictions.tsv")
  proc = subprocess.run(
      [sys.executable, "-m", "bert_tf.predictor", "--export_dir=" + export_dir,
       "--input_file=%s" % tsv, "--output_file=" + out] + list(flags),
      capture_output=True, text=True, timeout=300, cwd=ROOT)
  assert proc.returncode == 0, proc.stderr[-3000:]
  rows = np.array([[float(x) for x in line.split("\t")]
                   for line in open(out).read().splitlines()])
  return rows, proc.stderr


def test_predictor_matches_estimator_predict(tmp_path):
  tiny, export_dir = _tiny_export(tmp_path)

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
  rows, _ = _run_cli(tmp_path, export_dir, "--batch_size=2")
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


_FAST_PATH_SCRIPT = textwrap.dedent("""
    import json, os, sys
    os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    from tensorflow.python.util import _pywrap_util_port
    from bert_tf import predictor as predictor_lib
    export_dir, inputs = sys.argv[1], json.loads(sys.argv[2])
    inputs = [x if isinstance(x, str) else tuple(x) for x in inputs]
    out = {"onednn": bool(_pywrap_util_port.IsMklEnabled())}
    for bf16 in (False, True):
      with predictor_lib.Predictor(export_dir, use_bf16=bf16) as predictor:
        key = "bf16" if bf16 else "fp32"
        out[key] = dict(
            predictor.graph_report(predictor.featurize(inputs)),
            probabilities=predictor.predict(inputs).tolist())
    print("RESULT " + json.dumps(out))
""")


def test_predictor_runs_the_fused_graph_and_a_bf16_option(tmp_path):
  """Issue 17, point 3: the export's graph runs with oneDNN's fusions, and
  use_bf16 / --use_bf16 stays within bfloat16's tolerance of float32."""
  tiny, export_dir = _tiny_export(tmp_path)
  env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS="1", PYTHONPATH=ROOT)
  proc = subprocess.run(
      [sys.executable, "-c", _FAST_PATH_SCRIPT, export_dir,
       json.dumps(INPUTS)], capture_output=True, text=True, env=env,
      cwd=ROOT, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")][-1]
  out = json.loads(line[len("RESULT "):])
  fp32 = np.array(out["fp32"]["probabilities"])
  bf16 = np.array(out["bf16"]["probabilities"])
  assert np.std(fp32, axis=0).max() > 1e-3  # inputs are told apart
  # bfloat16 keeps 8 bits of mantissa: probabilities within 5e-2.
  np.testing.assert_allclose(bf16, fp32, rtol=0, atol=5e-2)
  if out["onednn"]:
    fused = out["fp32"]["fused_ops"]
    # Both layers: dense + tanh GELU in one op, and QK^T * scale + mask.
    assert fused.get(
        "_MklNativeFusedMatMul[BiasAdd,GeluApproximate]") == 2, fused
    assert fused.get("_MklFusedBatchMatMulV2[Mul,Add]") == 2, fused
    # The residual adds of both layers, though the batch axis is dynamic;
    # all but the last layer's attention add, which the classifier's export
    # computes at [CLS] only (`BertModel(output_positions=...)`): grappler
    # cannot tell that row's shape from its dense layer's, and the add is of
    # one row a sequence.
    assert fused.get("_MklNativeFusedMatMul[BiasAdd,Add]") == 3, fused
    # Layer norm takes the form oneDNN fuses where the export was built
    # with oneDNN on (the scripts turn it on; this test process has it on
    # only on CPUs where TensorFlow does so by default).
    if modeling.onednn_cpu_only():
      assert fused.get("_MklLayerNorm") == 5, fused
    else:
      assert "_MklLayerNorm" not in fused, fused
    assert out["fp32"]["low_precision"]["bfloat16"] == 0
    flags = host.cpu_flags()
    if flags & host.NATIVE_BF16_FLAGS:
      assert out["bf16"]["low_precision"]["bfloat16"] > 0
      # The inference passes (runtime.BF16_INFERENCE_PASSES): dense + GELU
      # fused in bfloat16 too.
      assert out["bf16"]["fused_ops"].get(
          "_MklNativeFusedMatMul[BiasAdd,GeluApproximate]") == 2, out[
              "bf16"]["fused_ops"]
    elif "avx512f" not in flags:
      # No AVX512: the graph is rewritten to bfloat16 all the same, but
      # oneDNN cannot run it, so none of its fusions are left (the log says
      # so: slower than float32).
      assert out["bf16"]["low_precision"]["bfloat16"] > 0
      assert not out["bf16"]["fused_ops"], out["bf16"]["fused_ops"]

  # The command line's --use_bf16.
  rows, stderr = _run_cli(tmp_path, export_dir, "--use_bf16")
  np.testing.assert_allclose(rows, fp32, rtol=0, atol=5e-2)
  if not host.cpu_flags() & host.NATIVE_BF16_FLAGS:
    # Where it does not pay, the command line (warnings only) says so.
    assert "use_bf16" in stderr and host.bf16_note() in stderr


def test_bf16_note_names_what_the_rewrite_does_per_cpu():
  assert "native bfloat16 (amx_bf16, avx512_bf16)" in host.bf16_note(
      {"avx2", "avx512f", "avx512_bf16", "amx_bf16"})
  assert "emulates" in host.bf16_note({"avx2", "avx512f"})
  note = host.bf16_note({"avx2", "fma"})
  assert "no AVX512" in note and "slower than float32" in note
  assert host.bf16_note() == host.bf16_note(host.cpu_flags())

"""python -m bert_tf.benchmark: FLOPs formula, flags, a tiny run, JSON and
table."""

import json
import os
import statistics

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

import bert_tf
from bert_tf import benchmark
from bert_tf import heads
from bert_tf import modeling

TINY = dict(vocab_size=100, hidden_size=32, num_hidden_layers=2,
            num_attention_heads=4, intermediate_size=37, hidden_act="gelu",
            hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
            max_position_embeddings=64, type_vocab_size=2,
            initializer_range=0.02)


def _matmul_flops(graph, skip_scope="bert/embeddings"):
  """Sum of 2*M*K*N over the (Batch)MatMul ops of `graph` (static shapes)."""
  total = 0.0
  for op in graph.get_operations():
    if op.type not in ("MatMul", "BatchMatMulV2", "BatchMatMul"):
      continue
    if skip_scope in op.name:
      continue  # the token-type one-hot matmul (and its gradient)
    a, b = op.inputs[0].shape.as_list(), op.inputs[1].shape.as_list()
    out = op.outputs[0].shape.as_list()
    ta = op.get_attr("transpose_a" if op.type == "MatMul" else "adj_x")
    k = a[-2] if ta else a[-1]
    total += 2.0 * np.prod(out) * k
    del b
  return total


@pytest.mark.parametrize("seq_length", [16, 40])
def test_flops_formula_matches_the_graph(seq_length):
  """The docstring's formula equals the matmuls TF actually builds, and the
  backward pass holds twice the forward matmul FLOPs."""
  config = modeling.BertConfig.from_dict(TINY)
  batch = 3
  with tf.Graph().as_default() as graph:
    ids = tf.zeros([batch, seq_length], tf.int32)
    model = modeling.BertModel(config, is_training=True, input_ids=ids)
    loss, _, _, _ = heads.create_classification_output(
        config, model.get_pooled_output(), tf.zeros([batch], tf.int32), 2,
        is_training=True)
    forward = _matmul_flops(graph)
    tvars = [v for v in tf.trainable_variables()
             if "embeddings" not in v.name]
    tf.gradients(loss, tvars + [model.get_embedding_output()])
    total = _matmul_flops(graph)
  expected = benchmark.model_flops_per_example(config, seq_length, 2)
  assert forward / batch == pytest.approx(expected, rel=1e-9)
  assert total / batch == pytest.approx(
      benchmark.model_flops_per_example(config, seq_length, 2, training=True),
      rel=1e-9)


def test_base_flops_and_config_names():
  path, name = benchmark.resolve_config("base")
  assert name == "base" and "bert_base_L-12_H-768_A-12" in path
  config = modeling.BertConfig.from_json_file(path)
  f = benchmark.model_flops_per_example(config, 128, 2)
  # 12 * (8*128*768^2 + 4*128^2*768 + 4*128*768*3072) + pooler + classifier
  assert f == 22348434432.0
  assert benchmark.resolve_config("minilm")[0].endswith(
      "minilm_L-6_H-384_A-12.json")
  with pytest.raises(ValueError, match="Unknown config"):
    benchmark.resolve_config("gigantic")
  cfg = benchmark.parse_args(["--config=tiny", "--xla=on", "--precision=bf16",
                              "--modes=predict"])
  assert cfg.xla is True and cfg.precision == "bf16"
  assert cfg.modes == ("predict",)
  assert cfg.json_path == "benchmark-tiny-seq128-bf16-xla.json"


def test_configs_come_from_the_package(tmp_path, monkeypatch):
  path, _ = benchmark.resolve_config("tiny")
  assert os.path.dirname(path) == bert_tf.CONFIG_DIR
  (tmp_path / "bert_huge_L-99.json").write_text(json.dumps(TINY))
  monkeypatch.setattr(bert_tf, "CONFIG_DIR", str(tmp_path))
  assert benchmark.resolve_config("huge") == (
      str(tmp_path / "bert_huge_L-99.json"), "huge")
  monkeypatch.chdir(tmp_path)  # not found relative to the checkout
  with pytest.raises(ValueError, match="bert_huge_L-99.json"):
    benchmark.resolve_config("base")


@pytest.mark.parametrize("argv, want", [
    (["--hf=on", "--unfused=on", "--xla=off"],
     dict(hf=True, unfused=True, xla=False)),
    (["--hf=off", "--unfused=OFF", "--xla=on"],
     dict(hf=False, unfused=False, xla=True)),
    (["--hf=false", "--unfused=0", "--xla", "yes"],
     dict(hf=False, unfused=False, xla=True)),
    (["--hf=true", "--unfused=1", "--xla=no"],
     dict(hf=True, unfused=True, xla=False)),
    ([], dict(hf=True, unfused=True, xla=False, num_ranks=1, steps=5,
              modes=("train", "predict"), config="base", seq_length=128,
              batch_size=16, predict_batch_size=32, precision="fp32",
              json_path="benchmark-base-seq128-fp32.json")),
    (["--modes=train", "--num_ranks=2", "--json=x.json"],
     dict(modes=("train",), num_ranks=2, json_path="x.json")),
])
def test_flags(argv, want):
  cfg = benchmark.parse_args(argv)
  for name, value in want.items():
    assert getattr(cfg, name) == value, name


@pytest.mark.parametrize("argv, message", [
    (["--hf=maybe"], "expected on or off, got 'maybe'"),
    (["--precision=fp8"], "--precision"),
    (["--modes=train,fit"], "--modes must be among train, predict"),
    (["--steps=0"], "--steps"),
    (["--num_ranks=0"], "--num_ranks"),
    (["--warmup_steps=-1"], "--warmup_steps"),
    (["--batchsize=3"], "batchsize"),
    (["extra"], "unrecognized arguments: extra"),
])
def test_bad_flags_are_usage_errors(argv, message, capsys):
  assert benchmark.main(argv) == 2
  err = capsys.readouterr().err
  assert message in err and "usage: python -m bert_tf.benchmark" in err


def test_help_lists_the_flags(capsys):
  assert benchmark.main(["--help"]) == 0
  out = capsys.readouterr().out
  for name in ("--config", "--hf", "--unfused", "--xla", "--json"):
    assert name in out, name


def test_tiny_run_json_and_table(tmp_path, capsys):
  config_file = tmp_path / "tiny.json"
  config_file.write_text(json.dumps(TINY))
  out = tmp_path / "bench.json"
  rc = benchmark.main([
      "--config=%s" % config_file, "--seq_length=16", "--batch_size=2",
      "--predict_batch_size=4", "--warmup_steps=1", "--steps=2",
      "--rounds=2", "--matmul_size=64", "--json=%s" % out])
  assert rc == 0
  record = json.loads(out.read_text())
  for key in ("config", "shape", "seq_length", "batch_size",
              "predict_batch_size", "precision", "xla", "num_ranks",
              "threads", "flops_per_example", "matmul_gflops", "results",
              "loadavg_start", "loadavg_end", "cpu", "versions"):
    assert key in record, key
  assert record["precision"] == "fp32" and record["xla"] is False
  assert record["num_ranks"] == 1
  assert len(record["loadavg_start"]) == 3
  assert record["matmul_gflops"]["float32"] > 0
  assert record["matmul_gflops"]["bfloat16"] > 0
  config = modeling.BertConfig.from_dict(TINY)
  assert record["flops_per_example"]["train"] == pytest.approx(
      benchmark.model_flops_per_example(config, 16, 2, training=True))
  for mode, batch in (("train", 2), ("predict", 4)):
    entry = record["results"][mode]
    flops = record["flops_per_example"][
        "train" if mode == "train" else "forward"]
    for framework in ("bert_tf", "hf_torch"):
      r = entry[framework]
      assert r["batch_size"] == batch
      assert len(r["step_times_sec"]) == 4  # 2 steps x 2 rounds
      assert r["step_time_sec"] == pytest.approx(
          statistics.median(r["step_times_sec"]))
      assert r["examples_per_sec"] == pytest.approx(batch /
                                                    r["step_time_sec"])
    ours, hf = entry["bert_tf"], entry["hf_torch"]
    assert entry["ratio_vs_hf"] == pytest.approx(
        ours["examples_per_sec"] / hf["examples_per_sec"])
    assert entry["model_gflops"] == pytest.approx(
        flops * ours["examples_per_sec"] / 1e9)
    assert entry["mfu_vs_fp32_matmul"] == pytest.approx(
        entry["model_gflops"] / record["matmul_gflops"]["float32"])
  table = capsys.readouterr().out
  assert "| train | bert_tf | 2 |" in table
  assert "| train | HF torch | 2 |" in table
  assert "| predict | bert_tf | 4 |" in table
  assert "| predict | HF torch | 4 |" in table


def test_bf16_counts_low_precision_ops(tmp_path):
  config_file = tmp_path / "tiny.json"
  config_file.write_text(json.dumps(TINY))
  cfg = benchmark.BenchmarkConfig(
      config=str(config_file), seq_length=16, predict_batch_size=4,
      precision="bf16", modes=("predict",), hf=False, warmup_steps=1,
      steps=1, rounds=1, matmul_size=64,
      json_path=str(tmp_path / "b.json"))
  record = benchmark.run(cfg)
  ops = record["low_precision_ops"]
  assert ops["total"] > 0
  assert set(record["results"]) == {"predict"}
  assert "hf_torch" not in record["results"]["predict"]
  onednn = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1") != "0"
  if record["native_bf16"] and onednn:
    assert ops["bfloat16"] > 0  # the rewrite acted
  assert os.path.exists(tmp_path / "b.json")


def test_op_profile_reports_where_the_time_goes(tmp_path, capsys):
  """--op_profile: one traced step per bert_tf graph, op time by op type;
  the matmul share is the part of the op time in (Batch)MatMul ops. With
  --hf=on HF's step is profiled too, by aten op."""
  config_file = tmp_path / "tiny.json"
  config_file.write_text(json.dumps(TINY))
  out = tmp_path / "p.json"
  assert benchmark.main([
      "--config=%s" % config_file, "--seq_length=16", "--batch_size=2",
      "--predict_batch_size=4", "--warmup_steps=1", "--steps=1",
      "--rounds=1", "--matmul_size=64", "--hf=on", "--modes=predict",
      "--op_profile=on", "--json=%s" % out]) == 0
  record = json.loads(out.read_text())
  profiles = record["op_profile"]["predict"]
  assert set(profiles) == {"bert_tf", "bert_tf, reference ops", "HF torch"}
  for name, prof in profiles.items():
    by_op = prof["by_op"]
    assert prof["total_ms"] == pytest.approx(
        sum(e["ms"] for e in by_op.values()), abs=1e-3 * len(by_op))
    if name == "HF torch":
      # (The kernels, not scaled_dot_product_attention's dispatch.)
      matmul = sum(e["ms"] for op, e in by_op.items()
                   if op in ("aten::addmm", "aten::mm", "aten::bmm") or
                   op.startswith("aten::_scaled_dot_product"))
    else:
      matmul = sum(e["ms"] for op, e in by_op.items() if "MatMul" in op)
    assert 0 < prof["matmul_share"] < 1
    assert prof["matmul_share"] == pytest.approx(
        matmul / prof["total_ms"], abs=1e-3)
    # Largest first; the softmax (or layer norm) of every layer is there.
    times = [e["ms"] for e in by_op.values()]
    assert times == sorted(times, reverse=True)
    if name == "HF torch":
      # The model's dense layers (6 per layer, pooler, classifier) and its
      # layer norms (2 per layer and the embeddings').
      assert by_op["aten::addmm"]["count"] == 6 * TINY[
          "num_hidden_layers"] + 2
      assert by_op["aten::native_layer_norm"]["count"] == 2 * TINY[
          "num_hidden_layers"] + 1
    else:
      assert any("Softmax" in op and e["count"] >= TINY["num_hidden_layers"]
                 for op, e in by_op.items())
  table = capsys.readouterr().out
  assert "| predict | bert_tf |" in table and "matmul share" in table
  assert "| predict | HF torch |" in table
  # Off by default: no tracing, no profile in the record.
  assert benchmark.parse_args([]).op_profile is False


def test_torch_op_profile_sums_self_times_and_tells_the_matmuls():
  """`hf.profile_torch_ops`: self times (us) summed per op into ms; the
  dense and attention products (and torch's fused attention kernel) are the
  matmul share; an op that only called others (zero self time) is left out."""
  from bert_tf.benchmark import hf as hf_lib
  prof = hf_lib.profile_torch_ops([
      ("aten::addmm", 3000.0, 2), ("aten::add", 500.0, 1),
      ("aten::bmm", 250.0, 1), ("aten::add", 250.0, 2),
      ("aten::_scaled_dot_product_flash_attention_for_cpu", 1000.0, 1),
      ("aten::linear", 0.0, 2), ("aten::gelu", 1000.0, 1)])
  assert list(prof["by_op"]) == [
      "aten::addmm", "aten::_scaled_dot_product_flash_attention_for_cpu",
      "aten::gelu", "aten::add", "aten::bmm"]
  assert prof["by_op"]["aten::add"] == {"ms": 0.75, "count": 3}
  assert prof["total_ms"] == 6.0
  assert prof["matmul_share"] == round(4.25 / 6.0, 4)
  assert hf_lib.profile_torch_ops([])["matmul_share"] is None


def test_graph_ab_interleaves_variants_and_pairs_their_ratios(tmp_path):
  """bench/graph_ab.py: every variant timed each round, the paired
  geometric mean computed from the recorded step times; a bad variant is a
  usage error naming it."""
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  script = os.path.join(root, "bench", "graph_ab.py")
  config_file = tmp_path / "tiny.json"
  config_file.write_text(json.dumps(TINY))
  out = tmp_path / "ab.json"
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  proc = subprocess.run(
      [sys.executable, script, "--config=%s" % config_file, "--mode=train",
       "--rounds=3", "--warmup_steps=1", "--seq_length=16", "--batch_size=2",
       "--variants=fp32:1:1,fp32:1:0,fp32:0:0", "--json=%s" % out],
      capture_output=True, text=True, env=env, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  record = json.loads(out.read_text())
  assert record["mode"] == "train" and record["batch_size"] == 2
  rows = record["results"]
  assert [r["variant"] for r in rows] == ["fp32:1:1", "fp32:1:0", "fp32:0:0"]
  base = np.array(rows[0]["step_times_sec"])
  for row in rows:
    times = np.array(row["step_times_sec"])
    assert len(times) == 3 and (times > 0).all()
    want = float(np.exp(np.mean(np.log(times / base))))
    assert row["first_speedup"] == pytest.approx(want)
    low, high = row["first_speedup_95"]
    assert low <= row["first_speedup"] <= high
  assert rows[0]["first_speedup"] == pytest.approx(1.0)
  assert "| fp32:0:0 |" in proc.stdout

  bad = subprocess.run(
      [sys.executable, script, "--variants=fp32:1:1,fp33:1:0"],
      capture_output=True, text=True, env=env, timeout=600)
  assert bad.returncode != 0
  assert "fp33:1:0" in bad.stderr and "precision:fusible:prune" in bad.stderr

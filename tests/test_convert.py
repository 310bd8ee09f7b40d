"""Tests for bert_tf.convert: Hugging Face <-> Google checkpoint conversion.

The expected Google variable names below are written out by hand from the
reference's checkpoints (not derived from convert.py's own tables), and the
tiny Hugging Face models are built here key by key.
"""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import safetensors.numpy
import tensorflow.compat.v1 as tf

from bert_tf import convert

ROOT = pathlib.Path(__file__).resolve().parents[1]

TINY_CONFIG = {
    "architectures": ["BertForPreTraining"],
    "model_type": "bert",
    "vocab_size": 100,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 48,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
    "max_position_embeddings": 40,
    "type_vocab_size": 2,
    "initializer_range": 0.02,
    "layer_norm_eps": 1e-12,
    "position_embedding_type": "absolute",
    "pad_token_id": 0,
}

_BERT_CONFIG_KEYS = {
    "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
    "intermediate_size", "hidden_act", "hidden_dropout_prob",
    "attention_probs_dropout_prob", "max_position_embeddings",
    "type_vocab_size", "initializer_range"
}


def _tiny_hf_state(config, prefix="", heads=(), dtype=np.float32, seed=0,
                   num_labels=3):
  """A random Hugging Face BERT state dict (key -> np.ndarray)."""
  rng = np.random.RandomState(seed)
  h = config["hidden_size"]
  i = config["intermediate_size"]
  v = config["vocab_size"]
  state = {}

  def put(key, *shape):
    state[key] = rng.standard_normal(shape).astype(dtype)

  b = prefix
  put(b + "embeddings.word_embeddings.weight", v, h)
  put(b + "embeddings.position_embeddings.weight",
      config["max_position_embeddings"], h)
  put(b + "embeddings.token_type_embeddings.weight", config["type_vocab_size"],
      h)
  put(b + "embeddings.LayerNorm.weight", h)
  put(b + "embeddings.LayerNorm.bias", h)
  for n in range(config["num_hidden_layers"]):
    layer = b + "encoder.layer.%d." % n
    for name in ("query", "key", "value"):
      put(layer + "attention.self.%s.weight" % name, h, h)
      put(layer + "attention.self.%s.bias" % name, h)
    put(layer + "attention.output.dense.weight", h, h)
    put(layer + "attention.output.dense.bias", h)
    put(layer + "attention.output.LayerNorm.weight", h)
    put(layer + "attention.output.LayerNorm.bias", h)
    put(layer + "intermediate.dense.weight", i, h)
    put(layer + "intermediate.dense.bias", i)
    put(layer + "output.dense.weight", h, i)
    put(layer + "output.dense.bias", h)
    put(layer + "output.LayerNorm.weight", h)
    put(layer + "output.LayerNorm.bias", h)
  put(b + "pooler.dense.weight", h, h)
  put(b + "pooler.dense.bias", h)
  if "pretraining" in heads:
    put("cls.predictions.transform.dense.weight", h, h)
    put("cls.predictions.transform.dense.bias", h)
    put("cls.predictions.transform.LayerNorm.weight", h)
    put("cls.predictions.transform.LayerNorm.bias", h)
    put("cls.predictions.bias", v)
    put("cls.seq_relationship.weight", 2, h)
    put("cls.seq_relationship.bias", 2)
  if "squad" in heads:
    put("qa_outputs.weight", 2, h)
    put("qa_outputs.bias", 2)
  if "classifier" in heads:
    put("classifier.weight", num_labels, h)
    put("classifier.bias", num_labels)
  return state


def _write_hf_dir(path, config, state, vocab_file=None):
  os.makedirs(path, exist_ok=True)
  with open(os.path.join(path, "config.json"), "w") as f:
    json.dump(config, f)
  safetensors.numpy.save_file(state, os.path.join(path, "model.safetensors"),
                              metadata={"format": "pt"})
  if vocab_file:
    with open(vocab_file) as src, open(os.path.join(path, "vocab.txt"),
                                       "w") as dst:
      dst.write(src.read())
  return str(path)


def _expected_google_shapes(config, heads=(), num_labels=3):
  """Google variable name -> shape, as the reference's checkpoints have."""
  h = config["hidden_size"]
  i = config["intermediate_size"]
  v = config["vocab_size"]
  shapes = {
      "bert/embeddings/word_embeddings": [v, h],
      "bert/embeddings/token_type_embeddings": [config["type_vocab_size"], h],
      "bert/embeddings/position_embeddings":
          [config["max_position_embeddings"], h],
      "bert/embeddings/LayerNorm/gamma": [h],
      "bert/embeddings/LayerNorm/beta": [h],
      "bert/pooler/dense/kernel": [h, h],
      "bert/pooler/dense/bias": [h],
  }
  for n in range(config["num_hidden_layers"]):
    layer = "bert/encoder/layer_%d/" % n
    for name in ("query", "key", "value"):
      shapes[layer + "attention/self/%s/kernel" % name] = [h, h]
      shapes[layer + "attention/self/%s/bias" % name] = [h]
    shapes[layer + "attention/output/dense/kernel"] = [h, h]
    shapes[layer + "attention/output/dense/bias"] = [h]
    shapes[layer + "attention/output/LayerNorm/gamma"] = [h]
    shapes[layer + "attention/output/LayerNorm/beta"] = [h]
    shapes[layer + "intermediate/dense/kernel"] = [h, i]
    shapes[layer + "intermediate/dense/bias"] = [i]
    shapes[layer + "output/dense/kernel"] = [i, h]
    shapes[layer + "output/dense/bias"] = [h]
    shapes[layer + "output/LayerNorm/gamma"] = [h]
    shapes[layer + "output/LayerNorm/beta"] = [h]
  if "pretraining" in heads:
    shapes["cls/predictions/transform/dense/kernel"] = [h, h]
    shapes["cls/predictions/transform/dense/bias"] = [h]
    shapes["cls/predictions/transform/LayerNorm/gamma"] = [h]
    shapes["cls/predictions/transform/LayerNorm/beta"] = [h]
    shapes["cls/predictions/output_bias"] = [v]
    shapes["cls/seq_relationship/output_weights"] = [2, h]
    shapes["cls/seq_relationship/output_bias"] = [2]
  if "squad" in heads:
    shapes["cls/squad/output_weights"] = [2, h]
    shapes["cls/squad/output_bias"] = [2]
  if "classifier" in heads:
    shapes["output_weights"] = [num_labels, h]
    shapes["output_bias"] = [num_labels]
  return shapes


def _google_source(google_name, state, prefix):
  """The Hugging Face array a Google variable must equal (transposed)."""
  explicit = {
      "cls/predictions/output_bias": "cls.predictions.bias",
      "cls/seq_relationship/output_weights": "cls.seq_relationship.weight",
      "cls/seq_relationship/output_bias": "cls.seq_relationship.bias",
      "cls/squad/output_weights": "qa_outputs.weight",
      "cls/squad/output_bias": "qa_outputs.bias",
      "output_weights": "classifier.weight",
      "output_bias": "classifier.bias",
  }
  if google_name in explicit:
    return state[explicit[google_name]]
  parts = google_name.split("/")
  if parts[0] == "bert":
    parts = parts[1:]
  key = ".".join(p.replace("layer_", "layer.") for p in parts)
  suffixes = ((".kernel", ".weight"), (".gamma", ".weight"), (".beta", ".bias"))
  for google_suffix, hf_suffix in suffixes:
    if key.endswith(google_suffix):
      key = key[:-len(google_suffix)] + hf_suffix
  if key.endswith("_embeddings"):
    key += ".weight"
  key = (prefix if google_name.startswith("bert/") else "") + key
  value = state[key]
  return value.T if google_name.endswith("/kernel") else value


def _assert_no_leftovers(parent):
  leftovers = [n for n in os.listdir(parent) if ".tmp-" in n]
  assert not leftovers, leftovers


def _assert_same_state(actual, expected):
  assert sorted(actual) == sorted(expected)
  for key, value in expected.items():
    assert actual[key].dtype == value.dtype, key
    assert actual[key].shape == value.shape, key
    assert np.array_equal(actual[key], value), key


@pytest.mark.parametrize("prefix,heads", [("", ()),
                                          ("bert.", ("pretraining",)),
                                          ("bert.", ("squad",)),
                                          ("bert.", ("classifier",))])
def test_hf_to_google_names_shapes_values(tmp_path, tiny_vocab_file, prefix,
                                          heads):
  state = _tiny_hf_state(TINY_CONFIG, prefix, heads)
  hf_dir = _write_hf_dir(tmp_path / "hf", TINY_CONFIG, state, tiny_vocab_file)
  out = str(tmp_path / "google")

  report = convert.hf_to_google(hf_dir, out)

  expected = _expected_google_shapes(TINY_CONFIG, heads)
  listed = dict(tf.train.list_variables(out))
  assert listed == expected
  prefix_path = tf.train.latest_checkpoint(out)
  assert prefix_path == os.path.join(out, "bert_model.ckpt")
  reader = tf.train.load_checkpoint(prefix_path)
  for name in expected:
    value = reader.get_tensor(name)
    source = _google_source(name, state, prefix)
    assert value.dtype == np.float32, name
    assert np.array_equal(value, source), name
  with open(os.path.join(out, "bert_config.json")) as f:
    bert_config = json.load(f)
  assert set(bert_config) == _BERT_CONFIG_KEYS
  assert bert_config["hidden_size"] == 32
  assert bert_config["num_hidden_layers"] == 2
  with open(os.path.join(out, "vocab.txt")) as f, open(tiny_vocab_file) as g:
    assert f.read() == g.read()
  assert report.num_tensors == len(expected)
  assert report.num_parameters == sum(
      int(np.prod(s)) for s in expected.values())
  assert report.unknown == []
  _assert_no_leftovers(tmp_path)


@pytest.mark.parametrize("prefix,heads,dtype", [
    ("", (), np.float32),
    ("bert.", ("pretraining",), np.float32),
    ("bert.", ("squad", "classifier"), np.float32),
    ("bert.", ("pretraining",), np.float16),
])
def test_round_trip_tiny_is_bit_identical(tmp_path, tiny_vocab_file, prefix,
                                          heads, dtype):
  state = _tiny_hf_state(TINY_CONFIG, prefix, heads, dtype=dtype)
  hf_dir = _write_hf_dir(tmp_path / "hf", TINY_CONFIG, state, tiny_vocab_file)
  convert.hf_to_google(hf_dir, str(tmp_path / "google"))
  report = convert.google_to_hf(str(tmp_path / "google"),
                                str(tmp_path / "hf2"))

  back = safetensors.numpy.load_file(str(tmp_path / "hf2" /
                                         "model.safetensors"))
  _assert_same_state(back, state)
  assert report.hf_prefix == prefix
  with open(tmp_path / "hf2" / "config.json") as f:
    config = json.load(f)
  for key in _BERT_CONFIG_KEYS | {"layer_norm_eps", "model_type"}:
    assert config[key] == TINY_CONFIG[key], key
  if "classifier" in heads:
    assert len(config["id2label"]) == 3
  assert (tmp_path / "hf2" / "vocab.txt").is_file()


def test_tied_decoder_and_buffers_are_dropped(tmp_path):
  state = _tiny_hf_state(TINY_CONFIG, "bert.", ("pretraining",))
  state["cls.predictions.decoder.weight"] = (
      state["bert.embeddings.word_embeddings.weight"].copy())
  state["cls.predictions.decoder.bias"] = state["cls.predictions.bias"].copy()
  state["bert.embeddings.position_ids"] = np.arange(40, dtype=np.int64)[None]
  hf_dir = _write_hf_dir(tmp_path / "hf", TINY_CONFIG, state)

  report = convert.hf_to_google(hf_dir, str(tmp_path / "google"))

  assert dict(tf.train.list_variables(str(tmp_path / "google"))) == (
      _expected_google_shapes(TINY_CONFIG, ("pretraining",)))
  assert set(report.skipped) == {
      "cls.predictions.decoder.weight", "cls.predictions.decoder.bias",
      "bert.embeddings.position_ids"
  }
  assert report.unknown == []
  assert not any("differs" in w for w in report.warnings)


def test_unknown_and_untied_tensors_are_reported(tmp_path):
  state = _tiny_hf_state(TINY_CONFIG, "bert.", ("pretraining",))
  state["lm_head.extra.weight"] = np.ones((3, 3), np.float32)
  state["bert.encoder.layer.0.crossattention.self.query.weight"] = np.ones(
      (32, 32), np.float32)
  state["cls.predictions.decoder.weight"] = np.zeros((100, 32), np.float32)
  hf_dir = _write_hf_dir(tmp_path / "hf", TINY_CONFIG, state)

  report = convert.hf_to_google(hf_dir, str(tmp_path / "google"))

  assert sorted(report.unknown) == [
      "bert.encoder.layer.0.crossattention.self.query.weight",
      "lm_head.extra.weight"
  ]
  assert any("cls.predictions.decoder.weight differs" in w
             for w in report.warnings)
  names = dict(tf.train.list_variables(str(tmp_path / "google")))
  assert not any("crossattention" in n or "extra" in n for n in names)
  assert "lm_head.extra.weight" in report.summary()


def test_shape_mismatch_names_tensor_and_shapes_and_writes_nothing(tmp_path):
  state = _tiny_hf_state(TINY_CONFIG)
  wrong = dict(TINY_CONFIG, intermediate_size=64)
  hf_dir = _write_hf_dir(tmp_path / "hf", wrong, state)
  out = tmp_path / "google"
  out.mkdir()  # An existing empty output_dir must stay empty.

  with pytest.raises(convert.ConversionError) as info:
    convert.hf_to_google(hf_dir, str(out))

  message = str(info.value)
  assert "encoder.layer.0.intermediate.dense.weight" in message
  assert "[48, 32]" in message and "[64, 32]" in message
  assert "encoder.layer.1.output.dense.weight" in message
  assert os.listdir(out) == []
  _assert_no_leftovers(tmp_path)


def test_missing_tensors_are_named(tmp_path):
  state = _tiny_hf_state(TINY_CONFIG, "bert.", ("pretraining",))
  del state["bert.encoder.layer.1.attention.self.key.bias"]
  del state["cls.seq_relationship.bias"]
  hf_dir = _write_hf_dir(tmp_path / "hf", TINY_CONFIG, state)

  with pytest.raises(convert.ConversionError) as info:
    convert.hf_to_google(hf_dir, str(tmp_path / "google"))

  assert "encoder.layer.1.attention.self.key.bias" in str(info.value)
  assert "cls.seq_relationship.bias" in str(info.value)
  assert not (tmp_path / "google").exists()
  _assert_no_leftovers(tmp_path)


@pytest.mark.parametrize("overrides,needle", [
    ({"layer_norm_eps": 1e-5}, "layer_norm_eps"),
    ({"position_embedding_type": "relative_key"}, "position_embedding_type"),
    ({"hidden_act": "silu"}, "hidden_act"),
    ({"model_type": "roberta"}, "model_type"),
    ({"num_attention_heads": 5}, "num_attention_heads"),
])
def test_unsupported_configs_are_refused(tmp_path, overrides, needle):
  hf_dir = _write_hf_dir(tmp_path / "hf", dict(TINY_CONFIG, **overrides),
                         _tiny_hf_state(TINY_CONFIG))
  with pytest.raises(convert.ConversionError, match=needle):
    convert.hf_to_google(hf_dir, str(tmp_path / "google"))
  assert not (tmp_path / "google").exists()


@pytest.mark.parametrize("hf_act,google_act,hf_back", [
    ("gelu", "gelu_exact", "gelu"),
    ("gelu_new", "gelu", "gelu_new"),
    ("gelu_pytorch_tanh", "gelu", "gelu_new"),
    ("gelu_fast", "gelu", "gelu_new"),
    ("relu", "relu", "relu"),
    ("tanh", "tanh", "tanh"),
])
def test_gelu_mapping(hf_act, google_act, hf_back):
  bert_config = convert.hf_config_to_bert_config(
      dict(TINY_CONFIG, hidden_act=hf_act))
  assert bert_config["hidden_act"] == google_act
  assert convert.bert_config_to_hf_config(bert_config)["hidden_act"] == hf_back


def test_existing_output_dir_needs_overwrite(tmp_path):
  hf_dir = _write_hf_dir(tmp_path / "hf", TINY_CONFIG,
                         _tiny_hf_state(TINY_CONFIG))
  out = tmp_path / "google"
  out.mkdir()
  (out / "old.txt").write_text("old")
  with pytest.raises(convert.ConversionError, match="overwrite"):
    convert.hf_to_google(hf_dir, str(out))
  assert os.listdir(out) == ["old.txt"]

  convert.hf_to_google(hf_dir, str(out), overwrite=True)
  assert not (out / "old.txt").exists()
  assert tf.train.latest_checkpoint(str(out))
  _assert_no_leftovers(tmp_path)


def test_failure_while_writing_leaves_nothing(tmp_path, monkeypatch):
  hf_dir = _write_hf_dir(tmp_path / "hf", TINY_CONFIG,
                         _tiny_hf_state(TINY_CONFIG))

  def failing_write(tensors, prefix):
    with open(prefix + ".index", "w") as f:
      f.write("partial")
    raise OSError("disk full (simulated)")

  monkeypatch.setattr(convert.io, "write_tf_checkpoint", failing_write)
  with pytest.raises(OSError, match="simulated"):
    convert.hf_to_google(hf_dir, str(tmp_path / "google"))
  assert not (tmp_path / "google").exists()
  _assert_no_leftovers(tmp_path)


def test_pytorch_bin_converts_like_safetensors(tmp_path):
  torch = pytest.importorskip("torch")
  state = _tiny_hf_state(TINY_CONFIG, "bert.", ("pretraining",))
  safe_dir = _write_hf_dir(tmp_path / "safe", TINY_CONFIG, state)
  bin_dir = tmp_path / "bin"
  bin_dir.mkdir()
  (bin_dir / "config.json").write_text(json.dumps(TINY_CONFIG))
  torch_state = {k: torch.from_numpy(v.copy()) for k, v in state.items()}
  # As BertForPreTraining's state_dict has it: the decoder shares storage.
  torch_state["cls.predictions.decoder.weight"] = (
      torch_state["bert.embeddings.word_embeddings.weight"])
  torch.save(torch_state, str(bin_dir / "pytorch_model.bin"))

  convert.hf_to_google(safe_dir, str(tmp_path / "g_safe"))
  report = convert.hf_to_google(str(bin_dir), str(tmp_path / "g_bin"))

  assert "weights_only=True" in report.source
  names = dict(tf.train.list_variables(str(tmp_path / "g_safe")))
  assert dict(tf.train.list_variables(str(tmp_path / "g_bin"))) == names
  safe = tf.train.load_checkpoint(str(tmp_path / "g_safe" / "bert_model.ckpt"))
  from_bin = tf.train.load_checkpoint(
      str(tmp_path / "g_bin" / "bert_model.ckpt"))
  for name in names:
    a, b = safe.get_tensor(name), from_bin.get_tensor(name)
    assert a.dtype == b.dtype and np.array_equal(a, b), name


def _write_google_checkpoint(prefix, tensors):
  """Writes a TF1 checkpoint independently of convert.write_tf_checkpoint."""
  with tf.Graph().as_default():
    variables = {
        name: tf.Variable(value, name=name.replace("/", "_"))
        for name, value in tensors.items()
    }
    saver = tf.train.Saver(var_list=variables)
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      saver.save(sess, prefix, write_meta_graph=False)


def test_google_to_hf_skips_optimizer_state(tmp_path):
  state = _tiny_hf_state(TINY_CONFIG, "bert.", ("pretraining",))
  tensors = {
      name: np.ascontiguousarray(_google_source(name, state, "bert."))
      for name in _expected_google_shapes(TINY_CONFIG, ("pretraining",))
  }
  tensors["bert/pooler/dense/kernel/adam_m"] = np.zeros((32, 32), np.float32)
  tensors["bert/pooler/dense/kernel/adam_v"] = np.zeros((32, 32), np.float32)
  tensors["global_step"] = np.array(7, np.int64)
  google_dir = tmp_path / "google"
  google_dir.mkdir()
  _write_google_checkpoint(str(google_dir / "model.ckpt-7"), tensors)
  bert_config = {k: TINY_CONFIG[k] for k in _BERT_CONFIG_KEYS}
  bert_config["hidden_act"] = "gelu_exact"
  config_file = tmp_path / "bert_config.json"
  config_file.write_text(json.dumps(bert_config))

  report = convert.google_to_hf(str(google_dir / "model.ckpt-7"),
                                str(tmp_path / "hf"),
                                bert_config_file=str(config_file))

  assert sorted(report.skipped) == [
      "bert/pooler/dense/kernel/adam_m", "bert/pooler/dense/kernel/adam_v",
      "global_step"
  ]
  assert report.unknown == []
  back = safetensors.numpy.load_file(str(tmp_path / "hf" /
                                         "model.safetensors"))
  _assert_same_state(back, state)
  with open(tmp_path / "hf" / "config.json") as f:
    assert json.load(f)["architectures"] == ["BertForPreTraining"]


def test_google_to_hf_prefix_option_and_missing(tmp_path):
  state = _tiny_hf_state(TINY_CONFIG)
  hf_dir = _write_hf_dir(tmp_path / "hf", TINY_CONFIG, state)
  convert.hf_to_google(hf_dir, str(tmp_path / "google"))

  convert.google_to_hf(str(tmp_path / "google"), str(tmp_path / "prefixed"),
                       prefix="bert.")
  back = safetensors.numpy.load_file(
      str(tmp_path / "prefixed" / "model.safetensors"))
  _assert_same_state(back, {"bert." + k: v for k, v in state.items()})

  config = json.loads((tmp_path / "google" / "bert_config.json").read_text())
  config["num_hidden_layers"] = 3
  (tmp_path / "google" / "bert_config.json").write_text(json.dumps(config))
  with pytest.raises(convert.ConversionError,
                     match="bert/encoder/layer_2/attention/self/query/kernel"):
    convert.google_to_hf(str(tmp_path / "google"), str(tmp_path / "bad"))
  assert not (tmp_path / "bad").exists()


def test_cli(tmp_path, tiny_vocab_file):
  state = _tiny_hf_state(TINY_CONFIG, "bert.", ("pretraining",))
  state["unexpected.weight"] = np.ones((2,), np.float32)
  hf_dir = _write_hf_dir(tmp_path / "hf", TINY_CONFIG, state, tiny_vocab_file)
  google_dir = str(tmp_path / "google")
  env = dict(os.environ, PYTHONPATH=str(ROOT))

  result = subprocess.run(
      [sys.executable, "-m", "bert_tf.convert", "hf2google", "--hf_dir",
       hf_dir, "--output_dir", google_dir],
      cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=120,
      check=False)

  assert result.returncode == 0, result.stderr
  assert "tensors: %d" % len(_expected_google_shapes(
      TINY_CONFIG, ("pretraining",))) in result.stdout
  assert "gelu -> gelu_exact" in result.stdout
  assert "unexpected.weight" in result.stdout
  assert tf.train.latest_checkpoint(google_dir)

  # The reverse command, in process (argument parsing and exit codes).
  status = convert.main([
      "google2hf", "--checkpoint", os.path.join(google_dir, "bert_model.ckpt"),
      "--bert_config_file", os.path.join(google_dir, "bert_config.json"),
      "--output_dir", str(tmp_path / "hf2"), "--vocab_file", tiny_vocab_file
  ])
  assert status == 0
  del state["unexpected.weight"]
  _assert_same_state(
      safetensors.numpy.load_file(str(tmp_path / "hf2" / "model.safetensors")),
      state)
  assert convert.main(["google2hf", "--checkpoint", google_dir,
                       "--output_dir", str(tmp_path / "hf2")]) == 1


def test_minilm_round_trip_is_bit_identical(minilm_dir, tmp_path):
  source = safetensors.numpy.load_file(str(minilm_dir / "model.safetensors"))
  google_dir = str(tmp_path / "google")

  report = convert.hf_to_google(str(minilm_dir), google_dir)

  with open(os.path.join(google_dir, "bert_config.json")) as f:
    bert_config = json.load(f)
  assert bert_config["hidden_act"] == "gelu_exact"
  assert bert_config["hidden_size"] == 384
  assert bert_config["num_hidden_layers"] == 6
  listed = dict(tf.train.list_variables(google_dir))
  hf_config = json.loads((minilm_dir / "config.json").read_text())
  assert listed == _expected_google_shapes(hf_config)
  assert report.skipped == ["embeddings.position_ids"]
  assert report.unknown == []
  assert os.path.isfile(os.path.join(google_dir, "vocab.txt"))

  convert.google_to_hf(google_dir, str(tmp_path / "hf"))

  back = safetensors.numpy.load_file(str(tmp_path / "hf" / "model.safetensors"))
  del source["embeddings.position_ids"]  # A buffer, not a parameter.
  _assert_same_state(back, source)
  config = json.loads((tmp_path / "hf" / "config.json").read_text())
  assert config["hidden_act"] == "gelu"
  assert config["architectures"] == ["BertModel"]


def test_hf_output_loads_in_transformers(tmp_path):
  """Hugging Face itself finds every key it expects in what we write."""
  pytest.importorskip("torch")
  transformers = pytest.importorskip("transformers")
  state = _tiny_hf_state(TINY_CONFIG, "bert.", ("pretraining",))
  hf_dir = _write_hf_dir(tmp_path / "hf", TINY_CONFIG, state)
  convert.hf_to_google(hf_dir, str(tmp_path / "google"))
  convert.google_to_hf(str(tmp_path / "google"), str(tmp_path / "hf2"))

  model, info = transformers.BertForPreTraining.from_pretrained(
      str(tmp_path / "hf2"), output_loading_info=True)

  assert not info["missing_keys"] and not info["unexpected_keys"], info
  loaded = {k: v.detach().numpy() for k, v in model.state_dict().items()}
  for key, value in state.items():
    assert np.array_equal(loaded[key], value), key
  assert np.array_equal(loaded["cls.predictions.decoder.weight"],
                        state["bert.embeddings.word_embeddings.weight"])
  assert model.config.hidden_act == "gelu"

"""Feature extraction: the activations of chosen encoder layers, per token.

`run(ExtractConfig(...))` is what `extract_features.py` calls. Each input line
is one example, `text_a` or `text_a ||| text_b` for a sentence pair; each
becomes `[CLS] a [SEP] (b [SEP])` (truncated as the classifier does). The
output has one JSON object per input line, in order:

  {"linex_index": 0,
   "features": [{"token": "[CLS]",
                 "layers": [{"index": -1, "values": [0.123456, ...]}, ...]},
                ...]}

with one entry per real token (no padding) and the values rounded to 6
decimals (the reference's format, its "linex_index" spelling included).
Layer -1 is the last encoder layer, 0 the first (embeddings are not a layer).

This module never reads absl FLAGS.
"""

import dataclasses
import json
import os
import re
import shutil
import tempfile
import uuid
from typing import Optional

import numpy as np
import tensorflow.compat.v1 as tf

from bert_tf import model_fn as model_fn_lib
from bert_tf import modeling
from bert_tf import runtime
from bert_tf import tokenization
from bert_tf.heads import HeadOutput
from bert_tf.settings import setting
from bert_tf.tasks import classifier

_PAIR_RE = re.compile(r"^(.*)\|\|\|(.*)$")


class InputExample(object):
  """One input line: `unique_id` (its 0-based line number), text_a, text_b."""

  def __init__(self, unique_id, text_a, text_b=None):
    self.unique_id = unique_id
    self.text_a = text_a
    self.text_b = text_b


class InputFeatures(object):
  """Token strings and int lists of length seq_length for one example."""

  def __init__(self, unique_id, tokens, input_ids, input_mask, segment_ids):
    self.unique_id = unique_id
    self.tokens = tokens
    self.input_ids = input_ids
    self.input_mask = input_mask
    self.segment_ids = segment_ids


def parse_line(unique_id, line):
  """Returns the `InputExample` of one line (`a` or `a ||| b`)."""
  line = tokenization.convert_to_unicode(line).strip()
  m = _PAIR_RE.match(line)
  if m is None:
    return InputExample(unique_id, line, None)
  return InputExample(unique_id, m.group(1).strip(), m.group(2).strip())


def read_examples(input_file):
  """Reads one `InputExample` per line of `input_file` (UTF-8)."""
  if not tf.io.gfile.exists(input_file):
    raise FileNotFoundError("Input file not found: %s" % input_file)
  examples = []
  with tf.io.gfile.GFile(input_file, "rb") as reader:
    data = reader.read()
  try:
    text = data.decode("utf-8")
  except UnicodeDecodeError as e:
    raise ValueError("%s is not UTF-8 text: %s" % (input_file, e))
  for unique_id, line in enumerate(text.splitlines()):
    examples.append(parse_line(unique_id, line))
  return examples


def convert_example(example, seq_length, tokenizer):
  """`[CLS] a [SEP] (b [SEP])` features, padded to `seq_length`.

  Pairs are truncated longest-first to `seq_length - 3` tokens, single
  sentences to `seq_length - 2` (as `tasks.classifier`).
  """
  tokens, input_ids, input_mask, segment_ids = classifier.tokenize_and_pad(
      example.text_a, example.text_b, seq_length, tokenizer)
  return InputFeatures(example.unique_id, tokens, input_ids, input_mask,
                       segment_ids)


def convert_examples_to_features(examples, seq_length, tokenizer):
  return [convert_example(e, seq_length, tokenizer) for e in examples]


def parse_layers(layers, num_hidden_layers):
  """Parses "-1,-2,..." into ints, checking each names an encoder layer."""
  if isinstance(layers, str):
    try:
      indexes = [int(x) for x in layers.split(",") if x.strip()]
    except ValueError:
      raise ValueError("--layers must be comma-separated integers, got %r" %
                       layers)
  else:
    indexes = [int(x) for x in layers]
  if not indexes:
    raise ValueError("--layers names no layer")
  for i in indexes:
    if not -num_hidden_layers <= i < num_hidden_layers:
      raise ValueError(
          "Layer index %d is out of range for a model with %d layers "
          "(valid: %d..%d)" % (i, num_hidden_layers, -num_hidden_layers,
                               num_hidden_layers - 1))
  return indexes


class LayersHead(object):
  """Predictions: `unique_id` [batch] and `layer_output_<j>` [batch, seq, H].

  `layer_output_<j>` is the encoder layer `layer_indexes[j]`.
  """

  def __init__(self, layer_indexes):
    self.layer_indexes = list(layer_indexes)

  def __call__(self, bert_config, model, features, is_training):
    del bert_config, is_training
    all_layers = model.get_all_encoder_layers()
    predictions = {"unique_id": tf.reshape(features["unique_ids"], [-1])}
    for j, index in enumerate(self.layer_indexes):
      predictions["layer_output_%d" % j] = all_layers[index]
    return HeadOutput(None, predictions, None, {})


def input_fn_builder(features, seq_length):
  """An in-memory input_fn(params) over `features` (params["batch_size"])."""
  arrays = {
      "unique_ids": np.array([f.unique_id for f in features], np.int32),
      "input_ids": np.array([f.input_ids for f in features], np.int32),
      "input_mask": np.array([f.input_mask for f in features], np.int32),
      "segment_ids": np.array([f.segment_ids for f in features], np.int32),
  }
  for name in ("input_ids", "input_mask", "segment_ids"):
    arrays[name] = arrays[name].reshape([-1, seq_length])

  def input_fn(params):
    d = tf.data.Dataset.from_tensor_slices(arrays)
    return d.batch(params["batch_size"], drop_remainder=False)

  return input_fn


def feature_json(feature, result, layer_indexes):
  """The output object of one example from its `estimator.predict` result."""
  entries = []
  for i, token in enumerate(feature.tokens):
    layers = []
    for j, index in enumerate(layer_indexes):
      values = result["layer_output_%d" % j][i]
      layers.append({"index": index,
                     "values": [round(float(x), 6) for x in values.flat]})
    entries.append({"token": token, "layers": layers})
  return {"linex_index": feature.unique_id, "features": entries}


@dataclasses.dataclass(kw_only=True)
class ExtractConfig:
  """The extract_features.py settings (each defines its flag, same name)."""
  input_file: Optional[str] = setting(
      None, "Input text, one example per line (`a ||| b` for a pair).",
      required=True)
  output_file: Optional[str] = setting(None, "Output JSON lines.",
                                       required=True)
  bert_config_file: Optional[str] = setting(
      None, "The config json file corresponding to the pre-trained BERT "
      "model. This specifies the model architecture.", required=True)
  init_checkpoint: Optional[str] = setting(
      None, "Initial checkpoint (usually from a pre-trained BERT model).",
      required=True)
  vocab_file: Optional[str] = setting(
      None, "The vocabulary file that the BERT model was trained on.",
      required=True)
  layers: str = setting(
      "-1,-2,-3,-4", "Comma-separated indexes of the encoder layers to "
      "output.")
  max_seq_length: int = setting(
      128, "The maximum total input sequence length after WordPiece "
      "tokenization. Sequences longer than this will be truncated, and "
      "sequences shorter than this will be padded.")
  do_lower_case: bool = setting(
      True, "Whether to lower case the input text. Should be True for "
      "uncased models and False for cased models.")
  batch_size: int = setting(32, "Batch size for predictions.")
  use_tpu: bool = setting(False, "Whether to use TPU or GPU/CPU.")
  master: Optional[str] = setting(
      None, "If using a TPU, the address of the master.")
  num_tpu_cores: int = setting(
      8, "Only used if `use_tpu` is True. Total number of TPU cores to use.")
  use_one_hot_embeddings: bool = setting(
      False, "If True, tf.one_hot will be used for embedding lookups, "
      "otherwise tf.nn.embedding_lookup will be used. On TPUs, this should "
      "be True since it is much faster.")


def run(cfg):
  """Writes the JSON lines of `cfg.input_file` to `cfg.output_file`.

  The output appears under its name only when complete.

  Returns:
    int, the number of lines written.
  """
  runtime.set_verbosity()
  bert_config = modeling.BertConfig.from_json_file(cfg.bert_config_file)
  runtime.check_max_seq_length(cfg.max_seq_length, bert_config,
                               cfg.bert_config_file)
  if cfg.max_seq_length < 3:
    raise ValueError("max_seq_length must be at least 3 ([CLS] x [SEP]).")
  if not cfg.init_checkpoint:
    raise ValueError("Give --init_checkpoint (the model to extract from).")
  layer_indexes = parse_layers(cfg.layers, bert_config.num_hidden_layers)
  tokenization.validate_case_matches_checkpoint(cfg.do_lower_case,
                                                cfg.init_checkpoint)
  tokenizer = tokenization.FullTokenizer(
      vocab_file=cfg.vocab_file, do_lower_case=cfg.do_lower_case,
      check_special=True)
  examples = read_examples(cfg.input_file)
  features = convert_examples_to_features(examples, cfg.max_seq_length,
                                          tokenizer)
  by_id = {f.unique_id: f for f in features}

  model_fn = model_fn_lib.model_fn_builder(
      bert_config=bert_config, head=LayersHead(layer_indexes),
      init_checkpoint=cfg.init_checkpoint, use_tpu=cfg.use_tpu,
      use_one_hot_embeddings=cfg.use_one_hot_embeddings)
  model_dir = tempfile.mkdtemp(prefix="bert_tf_extract_")
  out_dir = os.path.dirname(os.path.abspath(cfg.output_file))
  tf.io.gfile.makedirs(out_dir)
  tmp_path = os.path.join(out_dir, ".%s.tmp-%s" % (
      os.path.basename(cfg.output_file), uuid.uuid4().hex[:8]))
  try:
    run_config = runtime.make_run_config(
        model_dir, use_tpu=cfg.use_tpu, master=cfg.master,
        num_tpu_cores=cfg.num_tpu_cores)
    estimator = runtime.make_estimator(
        model_fn, run_config, use_tpu=cfg.use_tpu,
        predict_batch_size=cfg.batch_size)
    input_fn = input_fn_builder(features, cfg.max_seq_length)
    count = 0
    with tf.io.gfile.GFile(tmp_path, "w") as writer:
      for result in estimator.predict(
          runtime.bind_batch_size(input_fn, cfg.batch_size, cfg.use_tpu),
          yield_single_examples=True):
        feature = by_id[int(result["unique_id"])]
        writer.write(json.dumps(feature_json(feature, result,
                                             layer_indexes)) + "\n")
        count += 1
    if count != len(features):
      raise RuntimeError("Extracted %d of %d examples" % (count,
                                                          len(features)))
    tf.io.gfile.rename(tmp_path, cfg.output_file, overwrite=True)
  finally:
    if tf.io.gfile.exists(tmp_path):
      tf.io.gfile.remove(tmp_path)
    shutil.rmtree(model_dir, ignore_errors=True)
  tf.logging.info("Wrote %d lines of features to %s", count, cfg.output_file)
  return count

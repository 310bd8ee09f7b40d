"""Extracts pre-computed feature vectors from BERT (one JSON line per input).

The reference's command line runs unchanged, e.g.

  python extract_features.py --input_file=/tmp/input.txt \
    --output_file=/tmp/output.jsonl --vocab_file=$BERT_BASE_DIR/vocab.txt \
    --bert_config_file=$BERT_BASE_DIR/bert_config.json \
    --init_checkpoint=$BERT_BASE_DIR/bert_model.ckpt --layers=-1,-2,-3,-4 \
    --max_seq_length=128 --batch_size=8

Each input line is a sentence, or two separated by ` ||| `. See
`bert_tf.extract` for the output format.
"""

if __name__ == "__main__":
  # A command-line run: its process settings before TensorFlow loads.
  from bert_tf import script_env
  script_env.configure()

from bert_tf import extract
from bert_tf import flags as bert_flags
from bert_tf import model_fn as model_fn_lib
from bert_tf.tasks import classifier

bert_flags.define_config_flags(extract.ExtractConfig)


def main(_):
  extract.run(bert_flags.config_from_flags(extract.ExtractConfig))


# ---------------------------------------------------------------------------
# The reference's module API: `import extract_features` as in Google's BERT.
# Thin wrappers of bert_tf.extract; the reference calls the segment ids
# `input_type_ids` (features and feature names), bert_tf `segment_ids`.

InputExample = extract.InputExample
read_examples = extract.read_examples
_truncate_seq_pair = classifier.truncate_seq_pair


class InputFeatures(extract.InputFeatures):
  """Features of one example, with the reference's `input_type_ids`."""

  def __init__(self, unique_id, tokens, input_ids, input_mask,
               input_type_ids):
    super().__init__(unique_id, tokens, input_ids, input_mask, input_type_ids)

  @property
  def input_type_ids(self):
    return self.segment_ids


def convert_examples_to_features(examples, seq_length, tokenizer):
  """`[CLS] a [SEP] (b [SEP])` features of `examples`, padded to
  `seq_length`."""
  return [InputFeatures(f.unique_id, f.tokens, f.input_ids, f.input_mask,
                        f.segment_ids)
          for f in extract.convert_examples_to_features(examples, seq_length,
                                                        tokenizer)]


def input_fn_builder(features, seq_length):
  """An in-memory input_fn(params) over `features` (params["batch_size"]);
  feature names unique_ids, input_ids, input_mask, input_type_ids."""
  inner = extract.input_fn_builder(features, seq_length)

  def input_fn(params):
    return inner(params).map(_reference_names)

  return input_fn


def _reference_names(features):
  features = dict(features)
  features["input_type_ids"] = features.pop("segment_ids")
  return features


def model_fn_builder(bert_config, init_checkpoint, layer_indexes, use_tpu,
                     use_one_hot_embeddings):
  """A PREDICT-only model_fn whose predictions are "unique_id" and
  "layer_output_<j>" (the encoder layer layer_indexes[j])."""
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  inner = model_fn_lib.model_fn_builder(
      bert_config, extract.LayersHead(layer_indexes),
      init_checkpoint=init_checkpoint, use_tpu=use_tpu,
      use_one_hot_embeddings=use_one_hot_embeddings)

  def model_fn(features, labels, mode, params):
    if mode != tf.estimator.ModeKeys.PREDICT:
      raise ValueError("Only PREDICT modes are supported: %s" % (mode))
    features = dict(features)
    if "input_type_ids" in features:
      features["segment_ids"] = features.pop("input_type_ids")
    return inner(features, labels, mode, params)

  return model_fn


if __name__ == "__main__":
  bert_flags.mark_required_flags(extract.ExtractConfig)
  bert_flags.run_main(main)

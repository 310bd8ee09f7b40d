"""BERT fine-tuning for sentence(-pair) classification and regression.

The reference's command line runs unchanged, e.g.

  python run_classifier.py --task_name=MRPC --do_train=true --do_eval=true \
    --data_dir=$GLUE_DIR/MRPC --vocab_file=$BERT_BASE_DIR/vocab.txt \
    --bert_config_file=$BERT_BASE_DIR/bert_config.json \
    --init_checkpoint=$BERT_BASE_DIR/bert_model.ckpt --max_seq_length=128 \
    --train_batch_size=32 --learning_rate=2e-5 --num_train_epochs=3.0 \
    --output_dir=/tmp/mrpc_output/

Tasks: cola, sst-2, mrpc, qqp, sts-b, mnli, qnli, rte, wnli, xnli and
`generic` (your own TSV/CSV: see --text_a_column and friends).
"""

if __name__ == "__main__":
  # A command-line run: its process settings before TensorFlow loads.
  from bert_tf import script_env
  script_env.configure()

from bert_tf import flags as bert_flags
from bert_tf import heads
from bert_tf import input_pipeline
from bert_tf import model_fn as model_fn_lib
from bert_tf import modeling
from bert_tf.tasks import classifier
from bert_tf.tasks import glue

bert_flags.define_config_flags(classifier.ClassifierConfig)

# Flags of the other scripts, refused here with what to use instead.
REFUSALS = dict(
    bert_flags.epoch_script_refusals("run_classifier.py"))


def main(_):
  classifier.run(bert_flags.config_from_flags(classifier.ClassifierConfig))


# ---------------------------------------------------------------------------
# The reference's module API: `import run_classifier` as in Google's BERT.
# Thin re-exports of bert_tf, with the reference's names and signatures.

InputExample = glue.InputExample
PaddingInputExample = glue.PaddingInputExample
InputFeatures = classifier.InputFeatures
DataProcessor = glue.DataProcessor
XnliProcessor = glue.XnliProcessor
MnliProcessor = glue.MnliProcessor
MrpcProcessor = glue.MrpcProcessor
ColaProcessor = glue.ColaProcessor
convert_single_example = classifier.convert_single_example
file_based_convert_examples_to_features = (
    classifier.file_based_convert_examples_to_features)
_truncate_seq_pair = classifier.truncate_seq_pair


def file_based_input_fn_builder(input_file, seq_length, is_training,
                                drop_remainder):
  """An input_fn(params) over the TFRecords of
  `file_based_convert_examples_to_features`; params["batch_size"] is the
  batch size. Training shuffles (a 100-record buffer) and repeats."""

  def input_fn(params):
    return input_pipeline.file_based_input_fn_builder(
        [input_file], classifier.name_to_features(seq_length), is_training,
        drop_remainder)(params)

  return input_fn


def create_model(bert_config, is_training, input_ids, input_mask, segment_ids,
                 labels, num_labels, use_one_hot_embeddings):
  """Builds BertModel and the classification output layer.

  Returns:
    (loss, per_example_loss, logits, probabilities).
  """
  model = modeling.BertModel(
      config=bert_config, is_training=is_training, input_ids=input_ids,
      input_mask=input_mask, token_type_ids=segment_ids,
      use_one_hot_embeddings=use_one_hot_embeddings)
  return heads.create_classification_output(
      bert_config, model.get_pooled_output(), labels, num_labels, is_training)


def model_fn_builder(bert_config, num_labels, init_checkpoint, learning_rate,
                     num_train_steps, num_warmup_steps, use_tpu,
                     use_one_hot_embeddings):
  """The classifier's model_fn for (TPU)Estimator: predictions hold
  "probabilities", evaluation "eval_accuracy" and "eval_loss"."""
  return model_fn_lib.model_fn_builder(
      bert_config, heads.ClassificationHead(num_labels),
      init_checkpoint=init_checkpoint, learning_rate=learning_rate,
      num_train_steps=num_train_steps, num_warmup_steps=num_warmup_steps,
      use_tpu=use_tpu, use_one_hot_embeddings=use_one_hot_embeddings)


def input_fn_builder(features, seq_length, is_training, drop_remainder):
  """An in-memory input_fn(params) over a list of `InputFeatures` (small
  data sets; large ones belong in TFRecords)."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top

  def column(name, dtype=np.int32):
    return np.array([getattr(f, name) for f in features], dtype)

  arrays = {
      "input_ids": column("input_ids").reshape([-1, seq_length]),
      "input_mask": column("input_mask").reshape([-1, seq_length]),
      "segment_ids": column("segment_ids").reshape([-1, seq_length]),
      "label_ids": column("label_id"),
  }

  def input_fn(params):
    d = tf.data.Dataset.from_tensor_slices(arrays)
    if is_training:
      d = d.repeat()
      d = d.shuffle(buffer_size=100)
    return d.batch(batch_size=params["batch_size"],
                   drop_remainder=drop_remainder)

  return input_fn


def convert_examples_to_features(examples, label_list, max_seq_length,
                                 tokenizer):
  """Converts a list of `InputExample`s into a list of `InputFeatures`."""
  return [convert_single_example(i, example, label_list, max_seq_length,
                                 tokenizer)
          for i, example in enumerate(examples)]


if __name__ == "__main__":
  bert_flags.mark_required_flags(classifier.ClassifierConfig)
  bert_flags.run_main(main, refusals=REFUSALS)

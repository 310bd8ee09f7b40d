"""Masked-LM and next-sentence pretraining, from scratch or continued.

The reference's command line runs unchanged, e.g.

  python run_pretraining.py --input_file=/tmp/tf_examples.tfrecord \
    --output_dir=/tmp/pretraining_output --do_train=True --do_eval=True \
    --bert_config_file=$BERT_BASE_DIR/bert_config.json \
    --init_checkpoint=$BERT_BASE_DIR/bert_model.ckpt \
    --train_batch_size=32 --max_seq_length=128 --max_predictions_per_seq=20 \
    --num_train_steps=20 --num_warmup_steps=10 --learning_rate=2e-5

A run started again with the same command resumes from the last checkpoint
in --output_dir.
"""

if __name__ == "__main__":
  # A command-line run: its process settings before TensorFlow loads.
  from bert_tf import script_env
  script_env.configure()

from bert_tf import flags as bert_flags
from bert_tf import heads
from bert_tf import input_pipeline
from bert_tf import model_fn as model_fn_lib
from bert_tf.tasks import pretrainer

bert_flags.define_config_flags(pretrainer.PretrainingConfig)

# Flags of the other scripts, refused here with what to use instead.
REFUSALS = {
    "num_train_epochs": "run_pretraining.py counts updates: use "
                        "--num_train_steps.",
    "warmup_proportion": "run_pretraining.py counts updates: use "
                         "--num_warmup_steps.",
    "eval_every_epochs": "run_pretraining.py counts updates: use "
                         "--eval_every_steps.",
    "do_predict": "run_pretraining.py has no prediction mode; export the "
                  "encoder with --export_dir.",
    "predict_batch_size": "run_pretraining.py has no prediction mode.",
    "vocab_file": "pretraining reads token ids from the TFRecords; the "
                  "vocabulary goes to create_pretraining_data.py.",
    "spm_model_file": "pretraining reads token ids from the TFRecords; the "
                      "vocabulary goes to create_pretraining_data.py.",
    "do_lower_case": "pretraining reads token ids from the TFRecords; casing "
                     "goes to create_pretraining_data.py.",
    "train_to_step": "use --num_train_steps (a run resumes from its last "
                     "checkpoint).",
    "data_dir": "give --input_file (TFRecords of "
                "create_pretraining_data.py).",
    "head_initializer": "pretraining's heads start as the reference's "
                        "(truncated normal, the bert_config's "
                        "initializer_range); the option is for the "
                        "fine-tuning scripts' new heads.",
}


def main(_):
  pretrainer.run(bert_flags.config_from_flags(pretrainer.PretrainingConfig))


# ---------------------------------------------------------------------------
# The reference's module API: `import run_pretraining` as in Google's BERT.
# Thin re-exports of bert_tf, with the reference's names and signatures.

get_masked_lm_output = heads.get_masked_lm_output
get_next_sentence_output = heads.get_next_sentence_output
gather_indexes = heads.gather_indexes
_decode_record = input_pipeline.decode_record


def model_fn_builder(bert_config, init_checkpoint, learning_rate,
                     num_train_steps, num_warmup_steps, use_tpu,
                     use_one_hot_embeddings):
  """The pretraining model_fn for (TPU)Estimator: masked LM + next sentence,
  evaluated as masked_lm_accuracy/loss, next_sentence_accuracy/loss."""
  return model_fn_lib.model_fn_builder(
      bert_config, heads.PretrainingHead(), init_checkpoint=init_checkpoint,
      learning_rate=learning_rate, num_train_steps=num_train_steps,
      num_warmup_steps=num_warmup_steps, use_tpu=use_tpu,
      use_one_hot_embeddings=use_one_hot_embeddings)


def input_fn_builder(input_files, max_seq_length, max_predictions_per_seq,
                     is_training, num_cpu_threads=4):
  """An input_fn(params) over pretraining TFRecords (params["batch_size"]).

  Training reads the files in a shuffled order, `num_cpu_threads` at a time,
  shuffles records and repeats; evaluation reads them in order, repeated
  (the caller bounds it with steps). Batches are always full.
  """
  spec = pretrainer.name_to_features(max_seq_length, max_predictions_per_seq)
  if isinstance(input_files, str):
    input_files = [input_files]

  def input_fn(params):
    if is_training:
      return input_pipeline.file_based_input_fn_builder(
          list(input_files), spec, True, drop_remainder=True,
          num_cpu_threads=num_cpu_threads)(params)
    import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
    d = tf.data.TFRecordDataset(list(input_files)).repeat()
    d = d.map(lambda record: _decode_record(record, spec),
              num_parallel_calls=num_cpu_threads)
    return d.batch(params["batch_size"], drop_remainder=True)

  return input_fn


if __name__ == "__main__":
  bert_flags.mark_required_flags(pretrainer.PretrainingConfig)
  bert_flags.run_main(main, refusals=REFUSALS)

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

from bert_tf import flags as bert_flags
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
}


def main(_):
  pretrainer.run(bert_flags.config_from_flags(pretrainer.PretrainingConfig))


if __name__ == "__main__":
  bert_flags.mark_required_flags(pretrainer.PretrainingConfig)
  bert_flags.run_main(main, refusals=REFUSALS)

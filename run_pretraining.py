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

from absl import flags

from bert_tf import flags as bert_flags
from bert_tf import pretrainer

FLAGS = flags.FLAGS

bert_flags.define_model_flags()
bert_flags.define_training_flags()
bert_flags.define_tpu_flags()
bert_flags.define_scale_flags()
flags.DEFINE_string("input_file", None,
                    "Input TF example files (can be a glob or comma separated).")
flags.DEFINE_string("eval_input_file", None,
                    "Optional held-out TF example files for --do_eval "
                    "(default: --input_file).")
flags.DEFINE_integer(
    "max_predictions_per_seq", 20,
    "Maximum number of masked LM predictions per sequence. Must match data "
    "generation.")
flags.DEFINE_integer("num_train_steps", 100000, "Number of training steps.")
flags.DEFINE_integer("num_warmup_steps", 10000, "Number of warmup steps.")
flags.DEFINE_integer("max_eval_steps", 100, "Maximum number of eval steps.")


def main(_):
  values = bert_flags.values_for(pretrainer.PretrainingConfig)
  pretrainer.run(pretrainer.PretrainingConfig(**values))


if __name__ == "__main__":
  flags.mark_flag_as_required("input_file")
  flags.mark_flag_as_required("bert_config_file")
  flags.mark_flag_as_required("output_dir")
  bert_flags.run_main(main)

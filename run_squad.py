"""BERT fine-tuning and prediction on SQuAD 1.1 and 2.0.

The reference's command line runs unchanged, e.g.

  python run_squad.py --vocab_file=$BERT_BASE_DIR/vocab.txt \
    --bert_config_file=$BERT_BASE_DIR/bert_config.json \
    --init_checkpoint=$BERT_BASE_DIR/bert_model.ckpt --do_train=True \
    --train_file=$SQUAD_DIR/train-v1.1.json --do_predict=True \
    --predict_file=$SQUAD_DIR/dev-v1.1.json --train_batch_size=12 \
    --learning_rate=3e-5 --num_train_epochs=2.0 --max_seq_length=384 \
    --doc_stride=128 --output_dir=/tmp/squad_base/

Add --do_eval to score predictions against --predict_file with the official
SQuAD definitions (eval_results.json); --version_2_with_negative for 2.0.
"""

from absl import flags

from bert_tf import flags as bert_flags
from bert_tf.tasks import squad_runner

FLAGS = flags.FLAGS

bert_flags.define_model_flags()
bert_flags.define_training_flags(default_train_batch_size=32,
                                 default_predict_batch_size=8,
                                 default_learning_rate=5e-5)
bert_flags.define_tpu_flags()
bert_flags.define_scale_flags()
FLAGS.set_default("max_seq_length", 384)
flags.DEFINE_string("train_file", None,
                    "SQuAD json for training. E.g., train-v1.1.json")
flags.DEFINE_string(
    "predict_file", None,
    "SQuAD json for predictions. E.g., dev-v1.1.json or test-v1.1.json")
flags.DEFINE_integer(
    "doc_stride", 128,
    "When splitting up a long document into chunks, how much stride to take "
    "between chunks.")
flags.DEFINE_integer(
    "max_query_length", 64,
    "The maximum number of tokens for the question. Questions longer than "
    "this will be truncated to this length.")
flags.DEFINE_integer(
    "n_best_size", 20,
    "The total number of n-best predictions to generate in the "
    "nbest_predictions.json output file.")
flags.DEFINE_integer(
    "max_answer_length", 30,
    "The maximum length of an answer that can be generated. This is needed "
    "because the start and end predictions are not conditioned on one another.")
flags.DEFINE_bool(
    "verbose_logging", False,
    "If true, all of the warnings related to data processing will be printed.")
flags.DEFINE_bool(
    "version_2_with_negative", False,
    "If true, the SQuAD examples contain some that do not have an answer.")
flags.DEFINE_float(
    "null_score_diff_threshold", 0.0,
    "If null_score - best_non_null is greater than the threshold predict null.")
flags.DEFINE_integer(
    "train_to_step", None,
    "Train only up to this global step in this call (the learning-rate "
    "schedule still spans the whole run), resuming from the last checkpoint; "
    "used by bert_tf.sweep to evaluate between chunks.")


def main(_):
  values = bert_flags.values_for(squad_runner.SquadConfig)
  squad_runner.run(squad_runner.SquadConfig(**values))


if __name__ == "__main__":
  flags.mark_flag_as_required("vocab_file")
  flags.mark_flag_as_required("bert_config_file")
  flags.mark_flag_as_required("output_dir")
  bert_flags.run_main(main)

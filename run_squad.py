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

from bert_tf import flags as bert_flags
from bert_tf.tasks import squad_runner

bert_flags.define_config_flags(squad_runner.SquadConfig)

# Flags of the other scripts, refused here with what to use instead.
REFUSALS = dict(
    bert_flags.epoch_script_refusals("run_squad.py"),
    eval_batch_size=("run_squad.py scores its predictions: use "
                     "--predict_batch_size."),
    data_dir="give --train_file and --predict_file.",
    task_name=("run_squad.py has one task; for classification use "
               "run_classifier.py."))


def main(_):
  squad_runner.run(bert_flags.config_from_flags(squad_runner.SquadConfig))


if __name__ == "__main__":
  bert_flags.mark_required_flags(squad_runner.SquadConfig)
  bert_flags.mark_required_flags_by_name(["vocab_file"])
  bert_flags.run_main(main, refusals=REFUSALS)

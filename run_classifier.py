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

from bert_tf import flags as bert_flags
from bert_tf.tasks import classifier

bert_flags.define_config_flags(classifier.ClassifierConfig)

# Flags of the other scripts, refused here with what to use instead.
REFUSALS = dict(
    bert_flags.epoch_script_refusals("run_classifier.py"))


def main(_):
  classifier.run(bert_flags.config_from_flags(classifier.ClassifierConfig))


if __name__ == "__main__":
  bert_flags.mark_required_flags(classifier.ClassifierConfig)
  bert_flags.run_main(main, refusals=REFUSALS)

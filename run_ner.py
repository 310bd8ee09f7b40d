"""BERT fine-tuning for named-entity recognition / token classification.

CoNLL-2003, e.g.

  python run_ner.py --do_train=true --do_eval=true --do_predict=true \
    --data_dir=$CONLL_DIR --vocab_file=$BERT_BASE_DIR/vocab.txt \
    --bert_config_file=$BERT_BASE_DIR/bert_config.json \
    --init_checkpoint=$BERT_BASE_DIR/bert_model.ckpt --do_lower_case=false \
    --max_seq_length=128 --train_batch_size=32 --learning_rate=5e-5 \
    --num_train_epochs=3.0 --output_dir=/tmp/conll_output/

(--data_dir holds train.txt, dev.txt and test.txt; or give --train_file,
--eval_file and --predict_file.) Outputs: labels.txt (the tag list, reused by
prediction and export), eval_results.txt (entity-level precision, recall and
F1 as conlleval defines them, per type, token accuracy), eval_predictions.txt
and predictions.txt (the input with the predicted tag appended), and with
--export_dir a SavedModel that `python -m bert_tf.predictor` serves on raw
text.
"""

if __name__ == "__main__":
  # A command-line run: its process settings before TensorFlow loads.
  from bert_tf import script_env
  script_env.configure()

from bert_tf import flags as bert_flags
from bert_tf.tasks import ner

bert_flags.define_config_flags(ner.NerConfig)

# Flags of the other scripts, refused here with what to use instead.
REFUSALS = dict(
    bert_flags.epoch_script_refusals("run_ner.py"),
    task_name=("run_ner.py has one task; for classification use "
               "run_classifier.py."))


def main(_):
  ner.run(bert_flags.config_from_flags(ner.NerConfig))


if __name__ == "__main__":
  bert_flags.mark_required_flags(ner.NerConfig)
  bert_flags.mark_required_flags_by_name(["vocab_file"])
  bert_flags.run_main(main, refusals=REFUSALS)

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

from absl import flags

from bert_tf import flags as bert_flags
from bert_tf.tasks import classifier
from bert_tf.tasks import glue

FLAGS = flags.FLAGS

bert_flags.define_model_flags()
bert_flags.define_training_flags()
bert_flags.define_tpu_flags()
bert_flags.define_scale_flags()
flags.DEFINE_string("task_name", None, "The name of the task to train.")
flags.DEFINE_string(
    "data_dir", None,
    "The input data dir. Should contain the .tsv files (or other data files) "
    "for the task.")
flags.DEFINE_string("cache_dir", None,
                    "Where feature TFRecords are cached (default: output_dir).")
# The generic TSV/CSV task (--task_name=generic).
flags.DEFINE_string("text_a_column", None,
                    "generic: column (0-based index or header name) of text a.")
flags.DEFINE_string("text_b_column", None,
                    "generic: optional column of text b (sentence pairs).")
flags.DEFINE_string("label_column", None, "generic: column of the label.")
flags.DEFINE_list("labels", None,
                  "generic: the label list (default: sorted labels of train).")
flags.DEFINE_enum("delimiter", "tab", ["tab", "comma"],
                  "generic: field delimiter (tab = TSV, comma = CSV).")
flags.DEFINE_bool("has_header", True, "generic: the files have a header row.")
flags.DEFINE_bool("regression", False, "generic: the label is a number.")
flags.DEFINE_string("train_file", "train.tsv", "generic: training file name.")
flags.DEFINE_string("dev_file", "dev.tsv", "generic: dev file name.")
flags.DEFINE_string("test_file", "test.tsv", "generic: test file name.")
flags.DEFINE_string("xnli_language", "zh", "xnli: the language to use.")
flags.DEFINE_integer(
    "train_to_step", None,
    "Train only up to this global step in this call (the learning-rate "
    "schedule still spans the whole run), resuming from the last checkpoint; "
    "used by bert_tf.sweep to evaluate between chunks.")


def processor_kwargs():
  return glue.processor_kwargs(
      FLAGS.task_name,
      {name: FLAGS[name].value for name in glue.PROCESSOR_FLAG_DEFAULTS})


def main(_):
  values = bert_flags.values_for(classifier.ClassifierConfig)
  values["processor_kwargs"] = processor_kwargs()
  classifier.run(classifier.ClassifierConfig(**values))


if __name__ == "__main__":
  flags.mark_flag_as_required("data_dir")
  flags.mark_flag_as_required("task_name")
  flags.mark_flag_as_required("bert_config_file")
  flags.mark_flag_as_required("output_dir")
  bert_flags.run_main(main)

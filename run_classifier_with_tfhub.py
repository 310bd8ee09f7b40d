"""BERT fine-tuning for classification through a TF-Hub module.

The reference's command line runs unchanged (paths changed), e.g.

  python run_classifier_with_tfhub.py --task_name=MRPC --do_train=true \
    --do_eval=true --data_dir=$GLUE_DIR/MRPC \
    --bert_hub_module_handle=/path/to/bert_module --max_seq_length=128 \
    --train_batch_size=32 --learning_rate=2e-5 --num_train_epochs=3.0 \
    --output_dir=/tmp/mrpc_output/

The module (a TF1 Hub module such as `bert_tf.hub.export_tf1_hub_module`
writes, or Google's BERT modules) brings the weights and, through its
`tokenization_info` signature, the vocabulary and casing: there is no
--bert_config_file, --init_checkpoint, --vocab_file or --do_lower_case.
"""

from absl import flags

from bert_tf import flags as bert_flags
from bert_tf import hub as bert_hub
from bert_tf.tasks import classifier

FLAGS = flags.FLAGS

bert_flags.define_training_flags()
bert_flags.define_tpu_flags()
flags.DEFINE_string(
    "bert_hub_module_handle", None,
    "Handle for the BERT TF-Hub module (a local path or a URL).")
flags.DEFINE_string("task_name", None, "The name of the task to train.")
flags.DEFINE_string(
    "data_dir", None,
    "The input data dir. Should contain the .tsv files (or other data files) "
    "for the task.")
flags.DEFINE_string(
    "output_dir", None,
    "The output directory where the model checkpoints will be written.")
flags.DEFINE_integer(
    "max_seq_length", 128,
    "The maximum total input sequence length after WordPiece tokenization. "
    "Sequences longer than this will be truncated, and sequences shorter "
    "than this will be padded.")
flags.DEFINE_string("cache_dir", None,
                    "Where feature TFRecords are cached (default: output_dir).")


def main(_):
  values = bert_flags.values_for(classifier.ClassifierConfig)
  values["bert_config_file"] = FLAGS.bert_hub_module_handle  # for messages
  cfg = classifier.ClassifierConfig(**values)
  bert_hub.run_classifier(cfg, FLAGS.bert_hub_module_handle)


if __name__ == "__main__":
  flags.mark_flag_as_required("bert_hub_module_handle")
  flags.mark_flag_as_required("data_dir")
  flags.mark_flag_as_required("task_name")
  flags.mark_flag_as_required("output_dir")
  bert_flags.run_main(main)

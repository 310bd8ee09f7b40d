"""BERT fine-tuning for classification through a TF-Hub module.

The reference's command line runs unchanged (paths changed), e.g.

  python run_classifier_with_tfhub.py --task_name=MRPC --do_train=true \
    --do_eval=true --data_dir=$GLUE_DIR/MRPC \
    --bert_hub_module_handle=/path/to/bert_module --max_seq_length=128 \
    --train_batch_size=32 --learning_rate=2e-5 --num_train_epochs=3.0 \
    --output_dir=/tmp/mrpc_output/

The module (a TF1 Hub module such as `bert_tf.hub.export_tf1_hub_module`
writes, or Google's BERT modules) brings the weights and, through its
`tokenization_info` signature, the vocabulary and casing: --bert_config_file,
--init_checkpoint, --vocab_file and --do_lower_case are accepted, as by the
reference's script, and a warning says they are unused.
"""

if __name__ == "__main__":
  # A command-line run: its process settings before TensorFlow loads.
  from bert_tf import script_env
  script_env.configure()

from absl import flags
from absl import logging

from bert_tf import flags as bert_flags
from bert_tf import hub as bert_hub
from bert_tf.tasks import classifier

FLAGS = flags.FLAGS

bert_flags.define_config_flags(classifier.ClassifierConfig)
flags.DEFINE_string(
    "bert_hub_module_handle", None,
    "Handle for the BERT TF-Hub module (a local path or a URL).")

# Accepted (the reference's script inherits them from run_classifier.py) but
# unused: the module brings the architecture, weights, vocabulary and case.
MODULE_PROVIDED = ("bert_config_file", "init_checkpoint", "vocab_file",
                   "spm_model_file", "do_lower_case")


def main(_):
  unused = [n for n in MODULE_PROVIDED if FLAGS[n].present]
  if unused:
    logging.warning(
        "%s: unused, the TF-Hub module %s brings the model's architecture, "
        "weights, vocabulary and casing.", ", ".join("--" + n for n in unused),
        FLAGS.bert_hub_module_handle)
  cfg = bert_flags.config_from_flags(
      classifier.ClassifierConfig,
      bert_config_file=FLAGS.bert_hub_module_handle,  # for messages
      init_checkpoint=None, vocab_file=None, spm_model_file=None)
  bert_hub.run_classifier(cfg, FLAGS.bert_hub_module_handle)


if __name__ == "__main__":
  for name in ("bert_hub_module_handle", "data_dir", "task_name",
               "output_dir"):
    flags.mark_flag_as_required(name)
  bert_flags.run_main(main)

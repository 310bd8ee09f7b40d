"""Shared absl flag groups, defined once for every script.

Names, defaults and meanings follow the reference's scripts so their
documented command lines run unchanged. Each `define_*` is idempotent (a flag
already defined is left alone), so scripts can combine groups freely.
"""

import os
import sys

from absl import app
from absl import flags

FLAGS = flags.FLAGS

# Errors that mean "the input or the flags are wrong" (the library raises
# them with a message naming the file, line or tensor and what was expected):
# the scripts print them as one `error: ...` line instead of a traceback.
USER_ERRORS = (ValueError, FileNotFoundError, NotADirectoryError,
               IsADirectoryError, PermissionError)


def _define(kind, name, default, help_text, **kwargs):
  if name in FLAGS:
    return
  getattr(flags, "DEFINE_" + kind)(name, default, help_text, **kwargs)


def define_model_flags(vocab_required=True):
  """bert_config_file, vocab_file, init_checkpoint, do_lower_case, ..."""
  del vocab_required
  _define("string", "bert_config_file", None,
          "The config json file corresponding to the pre-trained BERT model. "
          "This specifies the model architecture.")
  _define("string", "vocab_file", None,
          "The vocabulary file that the BERT model was trained on.")
  _define("string", "spm_model_file", None,
          "Optional SentencePiece model; when given, text is split into its "
          "pieces instead of WordPiece.")
  _define("string", "init_checkpoint", None,
          "Initial checkpoint (usually from a pre-trained BERT model).")
  _define("bool", "do_lower_case", True,
          "Whether to lower case the input text. Should be True for uncased "
          "models and False for cased models.")
  _define("integer", "max_seq_length", 128,
          "The maximum total input sequence length after WordPiece "
          "tokenization. Longer sequences are truncated, shorter ones padded.")
  _define("string", "output_dir", None,
          "The output directory where the model checkpoints will be written.")


def define_training_flags(default_train_batch_size=32,
                          default_eval_batch_size=8,
                          default_predict_batch_size=8,
                          default_learning_rate=5e-5,
                          default_num_train_epochs=3.0):
  """do_train/do_eval/do_predict, batch sizes, schedule, checkpoints."""
  _define("bool", "do_train", False, "Whether to run training.")
  _define("bool", "do_eval", False, "Whether to run eval on the dev set.")
  _define("bool", "do_predict", False,
          "Whether to run the model in inference mode on the test set.")
  _define("integer", "train_batch_size", default_train_batch_size,
          "Total batch size for training.")
  _define("integer", "eval_batch_size", default_eval_batch_size,
          "Total batch size for eval.")
  _define("integer", "predict_batch_size", default_predict_batch_size,
          "Total batch size for predict.")
  _define("float", "learning_rate", default_learning_rate,
          "The initial learning rate for Adam.")
  _define("float", "num_train_epochs", default_num_train_epochs,
          "Total number of training epochs to perform.")
  _define("float", "warmup_proportion", 0.1,
          "Proportion of training to perform linear learning rate warmup for. "
          "E.g., 0.1 = 10% of training.")
  _define("integer", "save_checkpoints_steps", 1000,
          "How often to save the model checkpoint.")
  _define("integer", "iterations_per_loop", 1000,
          "How many steps to make in each estimator call.")
  _define("integer", "keep_checkpoint_max", 5,
          "How many recent checkpoints to keep.")
  _define("integer", "random_seed", None,
          "Graph-level random seed (initialisation, dropout, shuffling).")
  _define("string", "export_dir", None,
          "If set, export a SavedModel for serving under this directory.")
  _define("integer", "log_every_n_steps", 50,
          "Log throughput (examples/sec, ETA) every this many steps.")


def define_tpu_flags():
  """The reference's TPU flags."""
  _define("bool", "use_tpu", False, "Whether to use TPU or GPU/CPU.")
  _define("string", "tpu_name", None,
          "The Cloud TPU to use for training. This should be either the name "
          "used when creating the Cloud TPU, or a grpc://ip.address.of.tpu:8470 "
          "url.")
  _define("string", "tpu_zone", None,
          "[Optional] GCE zone where the Cloud TPU is located in. If not "
          "specified, we will attempt to automatically detect the GCE project "
          "from metadata.")
  _define("string", "gcp_project", None,
          "[Optional] Project name for the Cloud TPU-enabled project. If not "
          "specified, we will attempt to automatically detect the GCE project "
          "from metadata.")
  _define("string", "master", None, "[Optional] TensorFlow master URL.")
  _define("integer", "num_tpu_cores", 8,
          "Only used if `use_tpu` is True. Total number of TPU cores to use.")


def tpu_kwargs():
  """The TPU flag values as keyword arguments."""
  return dict(use_tpu=FLAGS.use_tpu, tpu_name=FLAGS.tpu_name,
              tpu_zone=FLAGS.tpu_zone, gcp_project=FLAGS.gcp_project,
              master=FLAGS.master, num_tpu_cores=FLAGS.num_tpu_cores)


def values_for(dataclass_type):
  """Flag values for every field of `dataclass_type` that is a defined flag."""
  import dataclasses  # pylint: disable=g-import-not-at-top
  out = {}
  for field in dataclasses.fields(dataclass_type):
    if field.name in FLAGS:
      out[field.name] = FLAGS[field.name].value
  return out


def run_main(main, argv=None):
  """`absl.app.run(main)`, printing user errors as one clean line.

  A ValueError or FileNotFoundError (see `USER_ERRORS`) raised by `main` is
  printed to stderr as `error: <message>` and the process exits with status
  1; nothing else is caught. Set BERT_TF_TRACEBACK=1 to see the traceback
  instead.

  Args:
    main: the script's `main(argv)`.
    argv: optional argument list (default: sys.argv).
  """

  def guarded_main(args):
    try:
      return main(args)
    except USER_ERRORS as e:
      if os.environ.get("BERT_TF_TRACEBACK"):
        raise
      sys.stdout.flush()
      message = str(e) or type(e).__name__
      sys.stderr.write("error: %s\n" % message)
      sys.stderr.flush()
      return 1

  app.run(guarded_main, argv=argv)

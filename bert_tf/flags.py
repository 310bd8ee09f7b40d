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
USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError,
               NotADirectoryError, IsADirectoryError, PermissionError)


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
  _define("integer", "shuffle_buffer", 100,
          "Training records held in the shuffle buffer (100, as the "
          "reference). 0 shuffles all records, reshuffled every epoch: "
          "a full permutation per epoch instead of the file order perturbed "
          "by 100 places (holds every record in memory).")
  define_bucketing_flags()


def define_bucketing_flags():
  """use_bucketing (CPUs/GPUs; ignored with --use_tpu)."""
  _define("bool", "use_bucketing", False,
          "Length bucketing (CPU/GPU, ignored with --use_tpu): training "
          "batches hold examples of similar length, and every training, eval "
          "and predict batch is padded only to its longest member instead of "
          "--max_seq_length. Eval and predict keep the example order and "
          "give the same results as fixed padding.")


def define_scale_flags():
  """Horovod, mixed precision, XLA, optimizer and gradient accumulation.

  The fields of `bert_tf.distributed.ScaleConfig`, by the same names.
  """
  _define("bool", "use_horovod", False,
          "Data-parallel training with Horovod over the processes that "
          "horovodrun/mpirun started (one GPU each). Batch sizes are per "
          "process; rank 0 alone writes checkpoints and outputs.")
  _define("bool", "horovod_fp16_allreduce", False,
          "With --use_horovod: send gradients as float16 in the allreduce.")
  _define("bool", "scale_learning_rate_by_workers", False,
          "With --use_horovod: multiply --learning_rate by the number of "
          "processes (the effective batch grows with them).")
  _define("bool", "use_fp16", False,
          "Automatic mixed precision: float16 graph rewrite (NVIDIA GPUs "
          "only) with dynamic loss scaling and float32 master weights.")
  if "amp" not in FLAGS:
    flags.DEFINE_alias("amp", "use_fp16")
  _define("float", "init_loss_scale", 2.0 ** 15,
          "With --use_fp16: the initial dynamic loss scale.")
  _define("bool", "use_bf16", False,
          "oneDNN automatic bfloat16 rewrite for CPUs with AVX512-BF16/AMX "
          "(variables stay float32).")
  _define("bool", "use_xla", False,
          "XLA JIT compilation (GPU and CPU; on CPU TF_XLA_FLAGS gets "
          "--tf_xla_cpu_global_jit).")
  if "optimizer_type" not in FLAGS:
    flags.DEFINE_enum("optimizer_type", "adamw", ["adamw", "lamb"],
                      "The optimizer: adamw (BERT's AdamWeightDecay) or lamb.")
  _define("integer", "num_accumulation_steps", 1,
          "Gradient accumulation: micro-batches of --train_batch_size per "
          "applied update (the effective batch is their product, times the "
          "number of Horovod processes).")


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


def prepare_environment(argv):
  """Sets what TensorFlow reads from the environment before `absl.app.run`.

  TF_XLA_FLAGS is read once per process, when TensorFlow first initialises
  its devices, and TensorFlow registers an absl init callback that does so
  before `main` runs: `--use_xla` must add --tf_xla_cpu_global_jit (XLA on
  CPU) before `app.run`. The flags are parsed here as far as they can be and
  then unparsed again; `app.run` parses them for real (and reports errors).

  Args:
    argv: the command line (program name first).
  """
  if "use_xla" not in FLAGS:
    return
  try:
    FLAGS(list(argv), known_only=True)
    use_xla = FLAGS.use_xla
  except (flags.Error, ValueError):
    return
  finally:
    FLAGS.unparse_flags()
  if use_xla:
    from bert_tf import distributed  # pylint: disable=g-import-not-at-top
    distributed.enable_xla_on_cpu()


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

  prepare_environment(sys.argv if argv is None else argv)
  app.run(guarded_main, argv=argv)

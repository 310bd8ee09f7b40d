"""Creates masked-LM / next-sentence TFRecords for BERT pretraining.

Example (the reference's command line):

  python create_pretraining_data.py \
    --input_file=my_corpus.txt \
    --output_file=/tmp/tf_examples.tfrecord \
    --vocab_file=$BERT_BASE_DIR/vocab.txt \
    --do_lower_case=True \
    --max_seq_length=128 \
    --max_predictions_per_seq=20 \
    --masked_lm_prob=0.15 \
    --random_seed=12345 \
    --dupe_factor=5

At scale (memory bounded by --window_mb per worker, whatever the corpus):

  python create_pretraining_data.py --input_file='corpus/wiki-*.txt' \
    --output_file=/data/tfrecords/wiki.tfrecord@256 --num_workers=16 ...

`--output_file` is a comma-separated list or `NAME@N` (N files
NAME-00000-of-0000N ...). Instances are dealt round-robin over the output
files, as the reference's writer deals them, so their instance counts differ
by at most one. Each output file is written atomically: a run started again
skips the files that are complete, and `--task_index=i --num_tasks=m` writes
only the files k with k % m == i, to spread them over machines (on a shared
output directory the machines also divide the work of building the
instances; the files are the same bytes as one machine's). The output for a
seed is the same for any --num_workers and --num_tasks. All the work is done
by `bert_tf.tasks.pretraining_stream`; this script only parses flags.
TensorFlow is not imported for local files.
"""

if __name__ == "__main__":
  # A command-line run: its process settings before TensorFlow loads.
  from bert_tf import script_env
  script_env.configure()

from absl import app
from absl import flags
from absl import logging

from bert_tf import flags as bert_flags
from bert_tf import tokenization
from bert_tf.tasks import pretraining
from bert_tf.tasks import pretraining_stream


def _define(definer, name, default, help_text):
  """Defines a flag unless a script imported before did (the reference's
  scripts share names such as --input_file; importing two of them as modules
  in one process must work)."""
  if name not in flags.FLAGS:
    definer(name, default, help_text)


_define(flags.DEFINE_string, "input_file", None,
    "Input raw text file (or comma-separated list of files/globs).")
_define(flags.DEFINE_string, "output_file", None,
    "Output TFRecord file(s): a comma-separated list, or NAME@N for N files "
    "NAME-0000k-of-0000N.")
_define(flags.DEFINE_string, "vocab_file", None,
    "The vocabulary file that the BERT model was trained on.")
_define(flags.DEFINE_string, "spm_model_file", None,
    "Optional SentencePiece model; tokenizes with it instead of WordPiece "
    "(ids from --vocab_file when given, else from the model).")
_define(flags.DEFINE_bool, "do_lower_case", True,
    "Whether to lower case the input text. Should be True for uncased models "
    "and False for cased models.")
_define(flags.DEFINE_bool, "do_whole_word_mask", False,
    "Whether to use whole word masking rather than per-piece "
    "masking.")
_define(flags.DEFINE_integer, "max_seq_length", 128,
    "Maximum sequence length.")
_define(flags.DEFINE_integer, "max_predictions_per_seq", 20,
    "Maximum number of masked LM predictions per sequence.")
_define(flags.DEFINE_integer, "random_seed", 12345,
    "Random seed for data generation.")
_define(flags.DEFINE_integer, "dupe_factor", 10,
    "Number of times to duplicate the input data (with different masks).")
_define(flags.DEFINE_float, "masked_lm_prob", 0.15, "Masked LM probability.")
_define(flags.DEFINE_float, "short_seq_prob", 0.1,
    "Probability of creating sequences which are shorter than the maximum "
    "length.")
_define(flags.DEFINE_bool, "sentence_split", False,
    "Input is running text (wrapped lines, blank lines between paragraphs), "
    "not one sentence per line: split paragraphs into sentences and use "
    "chapter-like blocks (or whole files) as documents.")
_define(flags.DEFINE_integer, "num_workers", 1,
    "Processes building windows (this one included). The output is the same "
    "for any value.")
_define(flags.DEFINE_float, "window_mb", 1.0,
    "Input text per window, in MB: the unit of work, of shuffling and of the "
    "random-next pool. Memory per worker grows with it, not with the corpus. "
    "Part of the output's definition (like the seed).")
_define(flags.DEFINE_integer, "task_index", 0,
    "With --num_tasks: write only the output files k with "
    "k % num_tasks == task_index (one task per machine).")
_define(flags.DEFINE_integer, "num_tasks", 1,
    "Number of machines sharing the outputs. Every output holds instances "
    "of every input window: on a shared output directory the tasks divide "
    "the windows between them; otherwise each builds all of them.")

FLAGS = flags.FLAGS


def main(_):
  logging.set_verbosity(logging.INFO)
  if not FLAGS.vocab_file and not FLAGS.spm_model_file:
    raise app.UsageError("Give --vocab_file (or --spm_model_file).")
  if FLAGS.num_workers < 1:
    raise app.UsageError("--num_workers must be >= 1.")
  if FLAGS.window_mb <= 0:
    raise app.UsageError("--window_mb must be > 0.")
  config = pretraining_stream.DataConfig(
      max_seq_length=FLAGS.max_seq_length,
      max_predictions_per_seq=FLAGS.max_predictions_per_seq,
      masked_lm_prob=FLAGS.masked_lm_prob,
      short_seq_prob=FLAGS.short_seq_prob,
      dupe_factor=FLAGS.dupe_factor,
      random_seed=FLAGS.random_seed,
      do_whole_word_mask=FLAGS.do_whole_word_mask,
      sentence_split=FLAGS.sentence_split,
      window_bytes=max(1, int(FLAGS.window_mb * (1 << 20))))
  try:
    config.check()
  except ValueError as e:
    raise app.UsageError(str(e))
  if FLAGS.max_predictions_per_seq < round(
      FLAGS.max_seq_length * FLAGS.masked_lm_prob):
    logging.warning(
        "--max_predictions_per_seq=%d < max_seq_length * masked_lm_prob = %d: "
        "full-length sequences will have fewer than %.0f%% of their tokens "
        "masked.", FLAGS.max_predictions_per_seq,
        round(FLAGS.max_seq_length * FLAGS.masked_lm_prob),
        100 * FLAGS.masked_lm_prob)

  tokenizer = tokenization.FullTokenizer(
      vocab_file=FLAGS.vocab_file, do_lower_case=FLAGS.do_lower_case,
      spm_model_file=FLAGS.spm_model_file)
  summary = pretraining_stream.create_pretraining_data(
      FLAGS.input_file, FLAGS.output_file, tokenizer, config,
      num_workers=FLAGS.num_workers, task_index=FLAGS.task_index,
      num_tasks=FLAGS.num_tasks)
  print("Wrote %d file(s), skipped %d complete one(s) in %.1fs: %s" %
        (len(summary.written), len(summary.skipped), summary.seconds,
         summary.stats))


# ---------------------------------------------------------------------------
# The reference's module API: `import create_pretraining_data` as in Google's
# BERT. Thin re-exports of bert_tf.tasks.pretraining (same algorithm, same
# statistics); TensorFlow is imported only by the tf.train.Feature helpers.

TrainingInstance = pretraining.TrainingInstance
MaskedLmInstance = pretraining.MaskedLmInstance
create_training_instances = pretraining.create_training_instances
create_instances_from_document = pretraining.create_instances_from_document
create_masked_lm_predictions = pretraining.create_masked_lm_predictions
truncate_seq_pair = pretraining.truncate_seq_pair


def write_instance_to_example_files(instances, tokenizer, max_seq_length,
                                    max_predictions_per_seq, output_files):
  """Writes `instances` round-robin over `output_files` as tf.train.Examples;
  returns the number written."""
  return pretraining.write_instances(instances, tokenizer, max_seq_length,
                                     max_predictions_per_seq, output_files)


def create_int_feature(values):
  """A tf.train.Feature holding `values` as an Int64List."""
  from bert_tf import input_pipeline  # pylint: disable=g-import-not-at-top
  return input_pipeline.create_int_feature(values)


def create_float_feature(values):
  """A tf.train.Feature holding `values` as a FloatList."""
  from bert_tf import input_pipeline  # pylint: disable=g-import-not-at-top
  return input_pipeline.create_float_feature(values)


if __name__ == "__main__":
  flags.mark_flag_as_required("input_file")
  flags.mark_flag_as_required("output_file")
  bert_flags.run_main(main)

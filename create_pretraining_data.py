"""Creates masked-LM / next-sentence TFRecords for BERT pretraining.

Example (the reference's command line):

  python create_pretraining_data.py \
    --input_file=./sample_text.txt \
    --output_file=/tmp/tf_examples.tfrecord \
    --vocab_file=$BERT_BASE_DIR/vocab.txt \
    --do_lower_case=True \
    --max_seq_length=128 \
    --max_predictions_per_seq=20 \
    --masked_lm_prob=0.15 \
    --random_seed=12345 \
    --dupe_factor=5

All the work is done by `bert_tf.tasks.pretraining`; this script only parses
flags.
"""

import random

from absl import app
from absl import flags
from absl import logging

import bert_tf
from bert_tf import flags as bert_flags
from bert_tf import input_pipeline
from bert_tf import tokenization
from bert_tf.tasks import pretraining

flags.DEFINE_string(
    "input_file", None,
    "Input raw text file (or comma-separated list of files/globs).")
flags.DEFINE_string(
    "output_file", None,
    "Output TF example file (or comma-separated list of files).")
flags.DEFINE_string("vocab_file", None,
                    "The vocabulary file that the BERT model was trained on.")
flags.DEFINE_string(
    "spm_model_file", None,
    "Optional SentencePiece model; tokenizes with it instead of WordPiece "
    "(ids from --vocab_file when given, else from the model).")
flags.DEFINE_bool(
    "do_lower_case", True,
    "Whether to lower case the input text. Should be True for uncased models "
    "and False for cased models.")
flags.DEFINE_bool("do_whole_word_mask", False,
                  "Whether to use whole word masking rather than per-piece "
                  "masking.")
flags.DEFINE_integer("max_seq_length", 128, "Maximum sequence length.")
flags.DEFINE_integer("max_predictions_per_seq", 20,
                     "Maximum number of masked LM predictions per sequence.")
flags.DEFINE_integer("random_seed", 12345, "Random seed for data generation.")
flags.DEFINE_integer(
    "dupe_factor", 10,
    "Number of times to duplicate the input data (with different masks).")
flags.DEFINE_float("masked_lm_prob", 0.15, "Masked LM probability.")
flags.DEFINE_float(
    "short_seq_prob", 0.1,
    "Probability of creating sequences which are shorter than the maximum "
    "length.")
flags.DEFINE_bool(
    "sentence_split", False,
    "Input is running text (wrapped lines, blank lines between paragraphs), "
    "not one sentence per line: split paragraphs into sentences and use "
    "chapter-like blocks (or whole files) as documents.")
flags.DEFINE_integer(
    "num_workers", 1,
    "Processes for tokenization and instance creation. The output is the "
    "same for any value.")

FLAGS = flags.FLAGS


def main(_):
  bert_tf.quiet_tensorflow()
  logging.set_verbosity(logging.INFO)
  if not FLAGS.vocab_file and not FLAGS.spm_model_file:
    raise app.UsageError("Give --vocab_file (or --spm_model_file).")
  try:
    pretraining.check_config(FLAGS.max_seq_length,
                             FLAGS.max_predictions_per_seq,
                             FLAGS.masked_lm_prob, FLAGS.short_seq_prob,
                             FLAGS.dupe_factor)
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
  if FLAGS.num_workers < 1:
    raise app.UsageError("--num_workers must be >= 1.")

  tokenizer = tokenization.FullTokenizer(
      vocab_file=FLAGS.vocab_file, do_lower_case=FLAGS.do_lower_case,
      spm_model_file=FLAGS.spm_model_file)

  logging.info("*** Reading from input files ***")
  for path in input_pipeline.expand_file_patterns(FLAGS.input_file):
    logging.info("  %s", path)

  rng = random.Random(FLAGS.random_seed)
  instances = pretraining.create_training_instances(
      FLAGS.input_file, tokenizer, FLAGS.max_seq_length, FLAGS.dupe_factor,
      FLAGS.short_seq_prob, FLAGS.masked_lm_prob,
      FLAGS.max_predictions_per_seq, rng,
      do_whole_word_mask=FLAGS.do_whole_word_mask,
      sentence_split=FLAGS.sentence_split,
      num_workers=FLAGS.num_workers)

  output_files = [p.strip() for p in FLAGS.output_file.split(",") if p.strip()]
  logging.info("*** Writing to output files ***")
  for path in output_files:
    logging.info("  %s", path)
  pretraining.write_instances(instances, tokenizer, FLAGS.max_seq_length,
                              FLAGS.max_predictions_per_seq, output_files)


if __name__ == "__main__":
  flags.mark_flag_as_required("input_file")
  flags.mark_flag_as_required("output_file")
  bert_flags.run_main(main)

"""Extracts pre-computed feature vectors from BERT (one JSON line per input).

The reference's command line runs unchanged, e.g.

  python extract_features.py --input_file=/tmp/input.txt \
    --output_file=/tmp/output.jsonl --vocab_file=$BERT_BASE_DIR/vocab.txt \
    --bert_config_file=$BERT_BASE_DIR/bert_config.json \
    --init_checkpoint=$BERT_BASE_DIR/bert_model.ckpt --layers=-1,-2,-3,-4 \
    --max_seq_length=128 --batch_size=8

Each input line is a sentence, or two separated by ` ||| `. See
`bert_tf.extract` for the output format.
"""

from absl import flags

from bert_tf import extract
from bert_tf import flags as bert_flags

FLAGS = flags.FLAGS

flags.DEFINE_string("input_file", None, "Input text, one example per line.")
flags.DEFINE_string("output_file", None, "Output JSON lines.")
flags.DEFINE_string("layers", "-1,-2,-3,-4",
                    "Comma-separated indexes of the encoder layers to output.")
flags.DEFINE_string(
    "bert_config_file", None,
    "The config json file corresponding to the pre-trained BERT model. "
    "This specifies the model architecture.")
flags.DEFINE_integer(
    "max_seq_length", 128,
    "The maximum total input sequence length after WordPiece tokenization. "
    "Sequences longer than this will be truncated, and sequences shorter "
    "than this will be padded.")
flags.DEFINE_string(
    "init_checkpoint", None,
    "Initial checkpoint (usually from a pre-trained BERT model).")
flags.DEFINE_string("vocab_file", None,
                    "The vocabulary file that the BERT model was trained on.")
flags.DEFINE_bool(
    "do_lower_case", True,
    "Whether to lower case the input text. Should be True for uncased "
    "models and False for cased models.")
flags.DEFINE_integer("batch_size", 32, "Batch size for predictions.")
flags.DEFINE_bool("use_tpu", False, "Whether to use TPU or GPU/CPU.")
flags.DEFINE_string("master", None,
                    "If using a TPU, the address of the master.")
flags.DEFINE_integer(
    "num_tpu_cores", 8,
    "Only used if `use_tpu` is True. Total number of TPU cores to use.")
flags.DEFINE_bool(
    "use_one_hot_embeddings", False,
    "If True, tf.one_hot will be used for embedding lookups, otherwise "
    "tf.nn.embedding_lookup will be used. On TPUs, this should be True "
    "since it is much faster.")


def main(_):
  extract.run(extract.ExtractConfig(**bert_flags.values_for(
      extract.ExtractConfig)))


if __name__ == "__main__":
  for name in ("input_file", "vocab_file", "bert_config_file",
               "init_checkpoint", "output_file"):
    flags.mark_flag_as_required(name)
  bert_flags.run_main(main)

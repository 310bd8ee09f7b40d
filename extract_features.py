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

from bert_tf import extract
from bert_tf import flags as bert_flags

bert_flags.define_config_flags(extract.ExtractConfig)


def main(_):
  extract.run(bert_flags.config_from_flags(extract.ExtractConfig))


if __name__ == "__main__":
  bert_flags.mark_required_flags(extract.ExtractConfig)
  bert_flags.run_main(main)

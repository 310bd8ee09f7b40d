"""Prepares a pretraining corpus: Wikipedia dump / JSON / books -> text shards.

Example (a Wikipedia dump to 64 shards of one sentence per line, a blank line
between documents):

  python prepare_corpus.py \
    --input=enwiki-latest-pages-articles.xml.bz2 \
    --output=corpus/wiki-%03d.txt --num_shards=64 \
    --min_chars=200 --dedup --num_workers=8

Books (a directory of plain-text files) and WikiExtractor JSON lines work the
same way (`--input_format` is guessed from the names). Counts of what was
skipped and why are printed at the end. All the work is done by
`bert_tf.corpus`; this script only parses flags.
"""

if __name__ == "__main__":
  # A command-line run: its process settings before TensorFlow loads.
  from bert_tf import script_env
  script_env.configure()

from bert_tf import corpus
from bert_tf import flags as bert_flags

if __name__ == "__main__":
  corpus.define_flags()
  bert_flags.run_main(corpus.main)

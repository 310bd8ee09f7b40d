"""Runs prepare_corpus.py, installed or not.

  python -m bert_tf.scripts.prepare_corpus --help
"""

from bert_tf import scripts

if __name__ == "__main__":
  scripts.launch("prepare_corpus")

"""Runs create_pretraining_data.py, installed or not.

  python -m bert_tf.create_pretraining_data --help

(A launcher: the script is the top-level module; see `bert_tf.scripts`.)
"""

from bert_tf import scripts

if __name__ == "__main__":
  scripts.launch("create_pretraining_data")

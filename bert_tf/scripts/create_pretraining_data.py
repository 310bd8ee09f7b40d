"""Runs create_pretraining_data.py, installed or not.

  python -m bert_tf.scripts.create_pretraining_data --help
"""

from bert_tf import scripts

if __name__ == "__main__":
  scripts.launch("create_pretraining_data")

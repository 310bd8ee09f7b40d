"""Runs extract_features.py, installed or not.

  python -m bert_tf.scripts.extract_features --help
"""

from bert_tf import scripts

if __name__ == "__main__":
  scripts.launch("extract_features")

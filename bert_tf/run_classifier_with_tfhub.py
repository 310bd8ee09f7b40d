"""Runs run_classifier_with_tfhub.py, installed or not.

  python -m bert_tf.run_classifier_with_tfhub --help

(A launcher: the script is the top-level module; see `bert_tf.scripts`.)
"""

from bert_tf import scripts

if __name__ == "__main__":
  scripts.launch("run_classifier_with_tfhub")

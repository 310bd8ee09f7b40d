"""Runs run_classifier_with_tfhub.py, installed or not.

  python -m bert_tf.scripts.run_classifier_with_tfhub --help
"""

from bert_tf import scripts

if __name__ == "__main__":
  scripts.launch("run_classifier_with_tfhub")

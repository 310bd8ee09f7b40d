"""Runs run_pretraining.py, installed or not.

  python -m bert_tf.scripts.run_pretraining --help
"""

from bert_tf import scripts

if __name__ == "__main__":
  scripts.launch("run_pretraining")

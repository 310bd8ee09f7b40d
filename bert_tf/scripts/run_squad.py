"""Runs run_squad.py, installed or not.

  python -m bert_tf.scripts.run_squad --help
"""

from bert_tf import scripts

if __name__ == "__main__":
  scripts.launch("run_squad")

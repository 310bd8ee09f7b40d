"""Runs run_squad.py, installed or not.

  python -m bert_tf.run_squad --help

(A launcher: the script is the top-level module; see `bert_tf.scripts`.)
"""

from bert_tf import scripts

if __name__ == "__main__":
  scripts.launch("run_squad")

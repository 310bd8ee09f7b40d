"""`python -m bert_tf.convert COMMAND --flags` (see `cli`)."""

import sys

from bert_tf.convert import cli

if __name__ == "__main__":
  sys.exit(cli.main())

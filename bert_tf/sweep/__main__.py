"""`python -m bert_tf.sweep`: the sweep's command line (see `cli`)."""

from bert_tf import flags as bert_flags
from bert_tf.sweep import cli

if __name__ == "__main__":
  cli.define_flags()
  bert_flags.run_main(cli.main)

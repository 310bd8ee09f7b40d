"""`python -m bert_tf.demo` (see `cli`)."""

import bert_tf
from bert_tf import flags as bert_flags
from bert_tf.demo import cli

if __name__ == "__main__":
  bert_tf.quiet_tensorflow()
  cli.define_flags()
  bert_flags.run_main(cli.main)

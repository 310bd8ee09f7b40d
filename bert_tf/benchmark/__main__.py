"""`python -m bert_tf.benchmark --flags` (see `cli`)."""

import sys

from bert_tf import script_env
from bert_tf.benchmark import cli

if __name__ == "__main__":
  # The scripts' process settings (oneDNN kernels, quiet TensorFlow), set
  # before TensorFlow loads: the package imports it only when a run starts.
  script_env.configure()
  sys.exit(cli.main())

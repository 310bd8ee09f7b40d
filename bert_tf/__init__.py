"""bert_tf: a faithful TensorFlow port of Google's BERT reference implementation.

Modules keep the reference's names: `from bert_tf import modeling,
tokenization, optimization`. Importing bert_tf changes no environment
variable and no warning filter; the command-line scripts opt in to their
process settings (quieter TensorFlow, oneDNN kernels) through
`bert_tf.script_env` before TensorFlow loads.
"""

import os as _os

__version__ = "0.1.0"

# The bert_config.json shapes shipped with the package (tiny, mini, small,
# medium, base, large, MiniLM); `configs/` in the repository links here.
CONFIG_DIR = _os.path.join(_os.path.dirname(_os.path.abspath(__file__)),
                           "configs")


def quiet_tensorflow():
  """Turns off TensorFlow's own deprecation notices (idempotent).

  Only TensorFlow's switch for its `deprecation` log lines: Python warning
  filters are left alone (`bert_tf.script_env.configure` sets those for the
  scripts). Set BERT_TF_VERBOSE_TF=1 to keep the notices.
  """
  if _os.environ.get("BERT_TF_VERBOSE_TF"):
    return
  try:
    from tensorflow.python.util import deprecation  # pylint: disable=g-import-not-at-top
    deprecation._PRINT_DEPRECATION_WARNINGS = False  # pylint: disable=protected-access
  except ImportError:  # pragma: no cover
    pass

"""bert_tf: a faithful TensorFlow port of Google's BERT reference implementation.

Importing the package quiets TensorFlow 2.15's start-up and deprecation noise once,
centrally (set BERT_TF_VERBOSE_TF=1 to keep it). Modules keep the reference's
names: `from bert_tf import modeling, tokenization, optimization`.
"""

import os as _os

__version__ = "0.1.0"

if not _os.environ.get("BERT_TF_VERBOSE_TF"):
  _os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# TensorFlow turns its oneDNN CPU kernels on by itself only on CPUs with
# AVX512-VNNI/BF16/AMX; elsewhere (e.g. AVX2 CPUs) its Eigen kernels train
# BERT ~10% slower (see docs/benchmarks.md). Read once when TensorFlow is
# first imported, so it applies when bert_tf is imported first (the scripts
# do); set TF_ENABLE_ONEDNN_OPTS=0 to keep Eigen.
_os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


def quiet_tensorflow():
  """Silences TF deprecation warnings and Python-side INFO spam (idempotent)."""
  if _os.environ.get("BERT_TF_VERBOSE_TF"):
    return
  import warnings  # pylint: disable=g-import-not-at-top
  warnings.filterwarnings("ignore", category=DeprecationWarning)
  warnings.filterwarnings("ignore", category=FutureWarning)
  try:
    from tensorflow.python.util import deprecation  # pylint: disable=g-import-not-at-top
    deprecation._PRINT_DEPRECATION_WARNINGS = False  # pylint: disable=protected-access
  except ImportError:  # pragma: no cover
    pass

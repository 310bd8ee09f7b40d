"""The process settings of a command-line run, opted into by the scripts.

A library import changes nothing in the process. A script (run_classifier.py
and the others) calls `configure()` first thing, before anything imports
TensorFlow, since TensorFlow reads these variables once, when it loads:

  if __name__ == "__main__":
    from bert_tf import script_env
    script_env.configure()

Set BERT_TF_VERBOSE_TF=1 to keep TensorFlow's start-up lines and Python's
DeprecationWarning/FutureWarning output.
"""

import os
import warnings


def configure(environ=None):
  """Sets the scripts' TensorFlow environment and warning filters.

  Args:
    environ: the environment to set (default os.environ); values already
      there are kept.
  """
  environ = os.environ if environ is None else environ
  # TensorFlow turns its oneDNN CPU kernels on by itself only on CPUs with
  # AVX512-VNNI/BF16/AMX; elsewhere (e.g. AVX2 CPUs) its Eigen kernels train
  # BERT ~10% slower (see docs/benchmarks.md). Set TF_ENABLE_ONEDNN_OPTS=0
  # to keep Eigen.
  environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
  if environ.get("BERT_TF_VERBOSE_TF"):
    return
  environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  # TF 1.x-style APIs (tf.compat.v1, estimator) warn on every use.
  warnings.filterwarnings("ignore", category=DeprecationWarning)
  warnings.filterwarnings("ignore", category=FutureWarning)

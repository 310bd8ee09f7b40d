"""runtime.set_verbosity: every log line printed once, in and out of absl apps.

Each case runs a fresh interpreter: which handlers exist depends on what
happened since TensorFlow was imported, which a test process cannot undo.
"""

import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_PROGRAM = textwrap.dedent("""
    import sys
    import tensorflow.compat.v1 as tf
    from absl import logging as absl_logging
    from bert_tf import runtime

    def main(_=None):
      runtime.set_verbosity()
      tf.logging.info("tf-line-one")
      absl_logging.warning("absl-line")  # outside an app: configures root
      tf.logging.info("tf-line-two")
      runtime.set_verbosity()  # idempotent
      tf.logging.warning("tf-line-three")

    if sys.argv[1] == "app":
      from absl import app
      app.run(main, argv=sys.argv[:1])
    else:
      main()
""")


@pytest.mark.parametrize("mode", ["plain", "app"])
def test_each_line_printed_once(mode):
  env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
  proc = subprocess.run([sys.executable, "-c", _PROGRAM, mode],
                        capture_output=True, text=True, env=env, timeout=120,
                        check=False)
  assert proc.returncode == 0, proc.stderr
  output = proc.stdout + proc.stderr
  for line in ("tf-line-one", "absl-line", "tf-line-two", "tf-line-three"):
    assert output.count(line) == 1, (line, output)

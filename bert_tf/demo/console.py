"""What the demo shows the reader: quiet logs, stage banners with their
times, and the output directory it owns."""

import collections
import logging as std_logging
import os
import re
import sys
import time

import tensorflow.compat.v1 as tf

from bert_tf import input_pipeline
from bert_tf import runtime

MARKER_FILE = ".bert_tf_demo"

# TF / Estimator INFO lines that say nothing to a newcomer. Progress (loss,
# examples/sec, ETA), checkpoints, restores and results stay.
_QUIET_PATTERNS = re.compile(
    r"^(  name = |\*\*\* Features \*\*\*|\*\*\*\* Trainable Variables|"
    r"Calling model_fn|Done calling model_fn|Create CheckpointSaverHook|"
    r"Graph was finalized|Running local_init_op|Done running local_init_op|"
    r"Calling checkpoint listeners|Using config:|Using default config|"
    r"global_step/sec|Starting evaluation at|Inference Time|Evaluation \[|"
    r"Signatures (INCLUDED|EXCLUDED)|No assets to|Assets written to|"
    r"SavedModel written to|Writing to file|"
    r"\*\*\* Example|tokens: |input_ids: |label: |Estimator's model_fn|"
    r"Skipping training since max_steps|Could not find trained model|"
    r"\*\*\*\*\* Running|  Num examples|  Batch size|"
    r"Reusing cached|Wrote \d+ \w+ features)")


class _QuietFilter(std_logging.Filter):
  """Drops the TensorFlow log records matching `_QUIET_PATTERNS`."""

  def filter(self, record):
    try:
      message = record.getMessage()
    except Exception:  # pylint: disable=broad-except
      message = str(record.msg)
    return not _QUIET_PATTERNS.match(message)


def setup_logging():
  """Readable progress logs: short prefix, Estimator chatter filtered."""
  runtime.set_verbosity()
  quiet = _QuietFilter()
  for name in ("tensorflow", "absl"):
    logger = std_logging.getLogger(name)
    if not any(isinstance(f, _QuietFilter) for f in logger.filters):
      logger.addFilter(quiet)
  formatter = std_logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S")
  # set_verbosity left one handler, on the root, for TF's and absl's records.
  for handler in std_logging.getLogger().handlers:
    handler.setFormatter(formatter)
  try:
    from absl import logging as absl_logging  # pylint: disable=g-import-not-at-top
    absl_logging.set_verbosity(absl_logging.INFO)
    absl_logging.get_absl_handler().setFormatter(formatter)
  except Exception:  # pylint: disable=broad-except
    pass


def say(text=""):
  """A line for the reader, on stdout, kept in order with the logs."""
  sys.stderr.flush()
  print(text, flush=True)


class Stages(object):
  """Numbered stage banners and their wall times."""

  def __init__(self, total):
    self.total = total
    self.index = 0
    self.times = collections.OrderedDict()
    self._name = None
    self._start = None

  def start(self, name, text):
    self.stop()
    self.index += 1
    self._name = name
    self._start = time.time()
    say()
    say("==> [%d/%d] %s" % (self.index, self.total, text))

  def stop(self):
    if self._name is not None:
      self.times[self._name] = round(time.time() - self._start, 1)
      self._name = None


def prepare_output_dir(output_dir, owned):
  """Creates `output_dir`, replacing the parts a previous demo run wrote.

  Raises:
    ValueError: if `output_dir` is a non-empty directory that no demo run
      wrote (it has no marker file), so nothing of the user's is deleted.
  """
  if tf.io.gfile.exists(output_dir):
    if not tf.io.gfile.isdir(output_dir):
      raise ValueError("--output_dir=%s is a file; expected a directory (new "
                       "or from a previous demo run)." % output_dir)
    entries = tf.io.gfile.listdir(output_dir)
    if entries and MARKER_FILE not in entries:
      raise ValueError(
          "--output_dir=%s is not empty and was not written by the demo (no "
          "%s in it); expected a new directory or a previous demo output. "
          "Choose another --output_dir." % (output_dir, MARKER_FILE))
    for name in owned:
      path = os.path.join(output_dir, name)
      if tf.io.gfile.isdir(path):
        tf.io.gfile.rmtree(path)
      elif tf.io.gfile.exists(path):
        tf.io.gfile.remove(path)
  tf.io.gfile.makedirs(output_dir)
  input_pipeline.atomic_write_text(
      os.path.join(output_dir, MARKER_FILE),
      "Written by `python -m bert_tf.demo`; a later demo run replaces this "
      "directory's demo outputs.\n")

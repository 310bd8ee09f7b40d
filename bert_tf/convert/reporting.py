"""What a conversion did (`ConversionReport`) and why it failed
(`ConversionError`)."""

import tensorflow.compat.v1 as tf


class ConversionError(ValueError):
  """A checkpoint or configuration cannot be converted as it stands."""


class ConversionReport(object):
  """What a conversion did: counts, activation mapping, skipped tensors.

  Attributes:
    direction: "hf2google" or "google2hf".
    source: str, the weights file(s) read.
    output_dir: str, where the result was written.
    num_tensors: int, tensors written.
    num_parameters: int, total elements of the tensors written.
    dtypes: sorted list of str, the dtypes written.
    source_activation / target_activation: str, hidden_act on either side.
    heads: list of str, the head groups converted (subset of HEAD_GROUPS).
    hf_prefix: str, "bert." or "" (the Hugging Face key prefix read or
      written).
    unknown: list of str, source tensors that map to nothing (skipped).
    skipped: list of str, other source tensors deliberately not written
      (buffers, tied weights, optimizer slots, training state).
    copied_files: list of str, vocabulary/tokenizer/licence files copied.
    warnings: list of str.
  """

  def __init__(self, direction, output_dir):
    self.direction = direction
    self.output_dir = output_dir
    self.source = ""
    self.num_tensors = 0
    self.num_parameters = 0
    self.dtypes = []
    self.source_activation = ""
    self.target_activation = ""
    self.heads = []
    self.hf_prefix = ""
    self.unknown = []
    self.skipped = []
    self.copied_files = []
    self.warnings = []

  def warn(self, message):
    self.warnings.append(message)
    tf.logging.warning(message)

  def summary(self, max_names=10):
    """Returns a human-readable multi-line summary."""

    def names(items):
      shown = ", ".join(items[:max_names])
      if len(items) > max_names:
        shown += ", ... (%d more)" % (len(items) - max_names)
      return shown

    lines = [
        "%s: %s -> %s" % (self.direction, self.source, self.output_dir),
        "  tensors: %d, parameters: %d (%s)" %
        (self.num_tensors, self.num_parameters, ", ".join(self.dtypes)),
        "  hidden_act: %s -> %s" % (self.source_activation,
                                    self.target_activation),
        "  heads: %s; Hugging Face key prefix: %r" %
        (", ".join(self.heads) or "none", self.hf_prefix),
    ]
    if self.unknown:
      lines.append("  unknown tensors skipped (%d): %s" %
                   (len(self.unknown), names(self.unknown)))
    if self.skipped:
      lines.append("  other tensors skipped (%d): %s" %
                   (len(self.skipped), names(self.skipped)))
    if self.copied_files:
      lines.append("  copied: %s" % ", ".join(self.copied_files))
    for warning in self.warnings:
      lines.append("  warning: %s" % warning)
    return "\n".join(lines)


def fill_counts(report, arrays):
  arrays = list(arrays)
  report.num_tensors = len(arrays)
  report.num_parameters = int(sum(a.size for a in arrays))
  report.dtypes = sorted(set(str(a.dtype) for a in arrays))

"""Pictures of a training run from its TensorBoard event files.

An Estimator model directory (the --output_dir of run_classifier.py,
run_pretraining.py, run_squad.py or the demo) holds event files for training
in the directory itself and for each evaluation in a subdirectory ("eval",
"eval_mismatched", ...). This module reads them with
`tf.compat.v1.train.summary_iterator` and draws, with matplotlib's Agg
backend (no display needed):

  * loss.png: the training loss over steps (and the evaluation loss, as
    points, where there is one);
  * learning_rate.png: the learning-rate schedule (the `learning_rate`
    summary of `optimization.create_optimizer`);
  * eval_metrics.png: every evaluation scalar (accuracy, F1, ...) over
    steps, one panel each;
  * throughput.png: training steps per second (`global_step/sec`);
  * eval_history.png: the evaluations during training
    (`eval_history.jsonl` of `--eval_every_steps` / `--eval_every_epochs`),
    every metric over epochs (or steps), the task's own metrics included
    (SQuAD's F1 and exact match, which no event file holds).

A plot whose data are absent (say, no evaluation yet) is left out. Each PNG
is written under a temporary name and renamed when complete.

`plot_confusion_matrix` draws a classifier evaluation's confusion matrix
(run_classifier.py writes `confusion_matrix.png` beside eval_results.txt).

CLI:
  python -m bert_tf.plots --model_dir=/tmp/mrpc_output [--output_dir=DIR]

The PNGs go to --output_dir (default: <model_dir>/plots). The library
functions never read absl FLAGS.
"""

import collections
import io
import json
import os
import re
import sys
import uuid

import numpy as np
import tensorflow.compat.v1 as tf

import bert_tf

EVENT_FILE_PREFIX = "events.out.tfevents."
TRAIN = "train"

# The tags Estimator (and our optimizer) write during training.
LOSS_TAG = "loss"
LEARNING_RATE_TAG = "learning_rate"
STEPS_PER_SEC_TAG = "global_step/sec"
# TF1 summary tags are unique op names: when the graph already holds an op
# named "loss" (the classifier head's variable scope, as in the reference),
# Estimator's loss summary is tagged "loss_1".
_LOSS_TAG = re.compile(r"^loss(_\d+)?$")


def loss_tag(scalars):
  """The tag of the training loss among `scalars` (a dict tag -> series):
  "loss", else the first "loss_N"; None if there is none."""
  if LOSS_TAG in scalars:
    return LOSS_TAG
  candidates = sorted((t for t in scalars if _LOSS_TAG.match(t)),
                      key=lambda t: int(t.rsplit("_", 1)[1]))
  return candidates[0] if candidates else None


def event_files(directory):
  """The event files directly inside `directory`, oldest first."""
  if not tf.io.gfile.isdir(directory):
    return []
  names = [n for n in tf.io.gfile.listdir(directory)
           if n.startswith(EVENT_FILE_PREFIX)]
  # The name holds the creation time in seconds: sort by it, then by name.
  def key(name):
    parts = name[len(EVENT_FILE_PREFIX):].split(".")
    return (int(parts[0]) if parts and parts[0].isdigit() else 0, name)
  return [os.path.join(directory, n) for n in sorted(names, key=key)]


def _scalar_value(value):
  """The float of a scalar summary value (v1 simple_value or a v2 tensor)."""
  if value.HasField("simple_value"):
    return float(value.simple_value)
  if value.HasField("tensor"):
    array = tf.make_ndarray(value.tensor)
    if array.size == 1 and array.dtype.kind in "fiub":
      return float(array.reshape(()))
  return None


def read_scalars(directory):
  """Reads every scalar summary of the event files in `directory`.

  A run that was stopped and started again writes a new event file and may
  repeat steps; the value written last for a step wins.

  Args:
    directory: a directory holding `events.out.tfevents.*` files (not
      searched recursively).

  Returns:
    dict tag -> (steps, values), two numpy arrays sorted by step; empty if
    there is no event file.

  Raises:
    ValueError: naming the file, for an event file that cannot be read.
  """
  bert_tf.quiet_tensorflow()  # summary_iterator's deprecation warning
  series = collections.defaultdict(dict)
  for path in event_files(directory):
    try:
      for event in tf.train.summary_iterator(path):
        if not event.HasField("summary"):
          continue
        for value in event.summary.value:
          number = _scalar_value(value)
          if number is not None:
            series[value.tag][int(event.step)] = number
    except tf.errors.DataLossError as e:
      # A run killed while writing leaves a truncated last record: keep what
      # was read, as TensorBoard does.
      tf.logging.warning("%s: stopped at a truncated record (%s)", path,
                         e.message.splitlines()[0] if e.message else e)
    except Exception as e:  # pylint: disable=broad-except
      raise ValueError("%s: expected a TensorBoard event file, could not read "
                       "it: %s" % (path, e))
  out = {}
  for tag, by_step in series.items():
    steps = np.array(sorted(by_step), dtype=np.int64)
    out[tag] = (steps, np.array([by_step[s] for s in steps], np.float64))
  return out


def read_model_dir(model_dir):
  """Reads the training and evaluation scalars of an Estimator model_dir.

  Args:
    model_dir: the run's output directory.

  Returns:
    dict run name -> {tag: (steps, values)}: "train" for the events in
    `model_dir` itself, and one entry per subdirectory holding event files
    ("eval", "eval_mismatched", ...).

  Raises:
    FileNotFoundError: if `model_dir` does not exist or neither it nor any
      subdirectory holds an event file.
  """
  if not tf.io.gfile.isdir(model_dir):
    raise FileNotFoundError(
        "Model directory not found: %s (expected the --output_dir of a "
        "training run)" % model_dir)
  runs = {}
  if event_files(model_dir):
    runs[TRAIN] = read_scalars(model_dir)
  for name in sorted(tf.io.gfile.listdir(model_dir)):
    name = name.rstrip("/")
    sub = os.path.join(model_dir, name)
    if name != TRAIN and tf.io.gfile.isdir(sub) and event_files(sub):
      runs[name] = read_scalars(sub)
  if not runs:
    raise FileNotFoundError(
        "No TensorBoard event files (%s*) in %s or its subdirectories; "
        "expected the --output_dir of a training run that has written at "
        "least one summary." % (EVENT_FILE_PREFIX, model_dir))
  return runs


def _atomic_write_bytes(path, data):
  directory, base = os.path.split(path)
  tmp = os.path.join(directory, ".%s.tmp-%s" % (base, uuid.uuid4().hex[:8]))
  try:
    with tf.io.gfile.GFile(tmp, "wb") as f:
      f.write(data)
    tf.io.gfile.rename(tmp, path, overwrite=True)
  except BaseException:
    if tf.io.gfile.exists(tmp):
      tf.io.gfile.remove(tmp)
    raise


def _pyplot():
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def _save(fig, path):
  buffer = io.BytesIO()
  fig.savefig(buffer, format="png", dpi=100)
  _pyplot().close(fig)
  _atomic_write_bytes(path, buffer.getvalue())
  return path


def _line(ax, steps, values, label, **kwargs):
  style = "o-" if len(steps) < 30 else "-"
  ax.plot(steps, values, style, label=label, markersize=3, **kwargs)


def _eval_runs(runs):
  return [(name, runs[name]) for name in sorted(runs) if name != TRAIN]


def plot_loss(runs, path, title):
  """Training loss (line) and evaluation losses (points) over steps."""
  plt = _pyplot()
  fig, ax = plt.subplots(figsize=(7, 4))
  drawn = False
  train = runs.get(TRAIN, {})
  tag = loss_tag(train)
  if tag:
    steps, values = train[tag]
    _line(ax, steps, values, "train loss")
    drawn = True
  for name, scalars in _eval_runs(runs):
    for tag in ("loss", "eval_loss"):
      if tag in scalars:
        steps, values = scalars[tag]
        ax.plot(steps, values, "s", markersize=6, label="%s %s" % (name, tag))
        drawn = True
        break
  if not drawn:
    plt.close(fig)
    return None
  ax.set_xlabel("step")
  ax.set_ylabel("loss")
  ax.set_title(title + ": loss")
  ax.grid(alpha=0.3)
  ax.legend()
  fig.tight_layout()
  return _save(fig, path)


def plot_single(runs, tag, path, title, ylabel):
  """One training scalar `tag` over steps; None if it was not logged."""
  train = runs.get(TRAIN, {})
  if tag not in train:
    return None
  plt = _pyplot()
  fig, ax = plt.subplots(figsize=(7, 4))
  steps, values = train[tag]
  _line(ax, steps, values, tag)
  ax.set_xlabel("step")
  ax.set_ylabel(ylabel)
  ax.set_title("%s: %s" % (title, ylabel))
  ax.grid(alpha=0.3)
  ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4))
  fig.tight_layout()
  return _save(fig, path)


# A classifier's per-label scores (`heads.classification_report`):
# in eval_results.txt and the confusion matrix's PNG, not a panel each.
_PER_LABEL = re.compile(r"^(precision|recall|f1|support)_")


def _plotted(tag):
  return not _PER_LABEL.match(tag) and tag != "confusion_matrix"


def plot_eval_metrics(runs, path, title):
  """Every evaluation scalar (except global_step and the per-label scores)
  in its own panel."""
  panels = []
  for name, scalars in _eval_runs(runs):
    for tag in sorted(scalars):
      if tag == "global_step" or (tag == "loss" and "eval_loss" in scalars):
        continue  # the step is the x axis; "loss" repeats "eval_loss"
      if not _plotted(tag):
        continue
      panels.append((name, tag, scalars[tag]))
  if not panels:
    return None
  plt = _pyplot()
  cols = min(3, len(panels))
  rows = (len(panels) + cols - 1) // cols
  fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows),
                           squeeze=False)
  for ax, (name, tag, (steps, values)) in zip(axes.flat, panels):
    ax.plot(steps, values, "o-", markersize=5)
    label = tag if name == "eval" else "%s/%s" % (name, tag)
    ax.set_title(label)
    ax.set_xlabel("step")
    ax.grid(alpha=0.3)
    if len(values):
      ax.annotate("%.4g" % values[-1], (steps[-1], values[-1]),
                  textcoords="offset points", xytext=(0, 6), ha="center",
                  fontsize=8)
  for ax in list(axes.flat)[len(panels):]:
    ax.axis("off")
  fig.suptitle(title + ": evaluation")
  fig.tight_layout()
  return _save(fig, path)


def read_eval_history(model_dir):
  """The evaluations during training (`eval_history.jsonl`), or []."""
  path = os.path.join(model_dir, "eval_history.jsonl")
  if not tf.io.gfile.exists(path):
    return []
  with tf.io.gfile.GFile(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def plot_eval_history(history, path, title):
  """Every numeric metric of the evaluations during training, over steps
  (the x axis in epochs where the run counts epochs); None if empty."""
  if not history:
    return None
  use_epochs = all("epoch" in r for r in history)
  xs = [r["epoch"] if use_epochs else r["global_step"] for r in history]
  names = sorted({k for r in history for k, v in r["metrics"].items()
                  if isinstance(v, (int, float)) and k != "global_step" and
                  _plotted(k)})
  if not names:
    return None
  plt = _pyplot()
  cols = min(3, len(names))
  rows = (len(names) + cols - 1) // cols
  fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows),
                           squeeze=False)
  for ax, name in zip(axes.flat, names):
    points = [(x, r["metrics"][name]) for x, r in zip(xs, history)
              if name in r["metrics"]]
    ax.plot([p[0] for p in points], [p[1] for p in points], "o-",
            markersize=5)
    ax.set_title(name)
    ax.set_xlabel("epoch" if use_epochs else "step")
    ax.grid(alpha=0.3)
  for ax in list(axes.flat)[len(names):]:
    ax.axis("off")
  fig.suptitle(title + ": evaluation during training")
  fig.tight_layout()
  return _save(fig, path)


def plot_confusion_matrix(matrix, labels, path, title="confusion matrix"):
  """Draws a confusion matrix: counts in the cells, shaded by row share.

  Args:
    matrix: int [C, C] (nested lists or an array): entry [i, j] counts the
      examples of true label i predicted as label j.
    labels: the C label names, in the matrix's order.
    path: the PNG to write (atomically).
    title: the plot's title.

  Returns:
    `path`.

  Raises:
    ValueError: for a matrix that is not [C, C] with C = len(labels).
  """
  matrix = np.asarray(matrix, dtype=np.int64)
  labels = [str(x) for x in labels]
  num = len(labels)
  if matrix.shape != (num, num):
    raise ValueError("confusion matrix of shape %s for %d labels" % (
        matrix.shape, num))
  rows = matrix.sum(axis=1, keepdims=True)
  share = np.divide(matrix, rows, out=np.zeros(matrix.shape),
                    where=rows > 0)
  plt = _pyplot()
  side = min(16.0, 2.5 + 0.6 * num)
  fig, ax = plt.subplots(figsize=(side + 1.5, side))
  image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
  fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04,
               label="share of the true label's examples")
  names = [x if len(x) <= 20 else x[:19] + "\u2026" for x in labels]
  ax.set_xticks(range(num))
  ax.set_yticks(range(num))
  ax.set_xticklabels(names, rotation=45 if num > 4 else 0,
                     ha="right" if num > 4 else "center")
  ax.set_yticklabels(names)
  ax.set_xlabel("predicted label")
  ax.set_ylabel("true label")
  if num <= 30:
    for i in range(num):
      for j in range(num):
        ax.text(j, i, str(matrix[i, j]), ha="center", va="center",
                fontsize=9 if num <= 10 else 6,
                color="white" if share[i, j] > 0.5 else "black")
  ax.set_title("%s (%d examples)" % (title, int(matrix.sum())))
  fig.tight_layout()
  return _save(fig, path)


def plot_run(model_dir, output_dir=None, title=None):
  """`make_plots`; returns the list of PNG paths written."""
  return list(make_plots(model_dir, output_dir, title).values())


def make_plots(model_dir, output_dir=None, title=None):
  """Reads `model_dir`'s event files and writes the PNG plots.

  Args:
    model_dir: the run's output directory.
    output_dir: where the PNGs go (created; default `<model_dir>/plots`).
    title: plot title prefix (default: the model directory's name).

  Returns:
    dict plot name ("loss", "learning_rate", "eval_metrics", "throughput",
    "eval_history") -> PNG path, for the plots that had data.

  Raises:
    FileNotFoundError: if there are no event files (see `read_model_dir`).
  """
  runs = read_model_dir(model_dir)
  output_dir = output_dir or os.path.join(model_dir, "plots")
  tf.io.gfile.makedirs(output_dir)
  title = title or os.path.basename(os.path.normpath(model_dir))
  written = collections.OrderedDict()
  for name, path in (
      ("loss", plot_loss(runs, os.path.join(output_dir, "loss.png"), title)),
      ("learning_rate", plot_single(
          runs, LEARNING_RATE_TAG,
          os.path.join(output_dir, "learning_rate.png"), title,
          "learning rate")),
      ("eval_metrics", plot_eval_metrics(
          runs, os.path.join(output_dir, "eval_metrics.png"), title)),
      ("throughput", plot_single(
          runs, STEPS_PER_SEC_TAG, os.path.join(output_dir, "throughput.png"),
          title, "steps/sec")),
      ("eval_history", plot_eval_history(
          read_eval_history(model_dir),
          os.path.join(output_dir, "eval_history.png"), title))):
    if path:
      written[name] = path
  if not written:
    raise ValueError(
        "The event files under %s hold none of the scalars plotted (%s, %s, "
        "evaluation metrics)." % (model_dir, LOSS_TAG, LEARNING_RATE_TAG))
  return written


def _define_flags():
  """Defines the CLI flags (only when run as a script)."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_string("model_dir", None,
                      "The training run's output directory (event files).")
  flags.DEFINE_string("output_dir", None,
                      "Where to write the PNGs (default: <model_dir>/plots).")
  flags.DEFINE_string("title", None,
                      "Plot title prefix (default: the model_dir's name).")
  flags.mark_flag_as_required("model_dir")


def main(_):
  from absl import flags  # pylint: disable=g-import-not-at-top
  options = flags.FLAGS
  try:
    written = make_plots(options.model_dir, options.output_dir, options.title)
  except (FileNotFoundError, ValueError) as e:
    print("error: %s" % e, file=sys.stderr)
    return 1
  for name, path in written.items():
    print("%s: %s" % (name, path))
  return 0


if __name__ == "__main__":
  from absl import app  # pylint: disable=g-import-not-at-top
  bert_tf.quiet_tensorflow()
  _define_flags()
  app.run(main)

"""The one training driver: a run from start to end, for any task plug-in.

A task says *what* (`Task`: how to read its examples, turn them into
features, its head, how to score an evaluation, how to write predictions,
what its export serves); the driver says *how*:

  1. distributed setup (`distributed.setup`: Horovod, XLA, precision);
  2. validation of the settings against the BERT config and each other;
  3. the number of training steps from epochs, one formula for every task
     (`train_steps`: updates of the effective batch);
  4. feature caching under one keying scheme (`RunContext.features_file`:
     a digest of the content and every setting the features depend on);
  5. training, in one go or in chunks with an evaluation after each
     (`--eval_every_steps`, `--eval_every_epochs`), an evaluation history
     (`eval_history.jsonl`), the best checkpoint kept
     (`--keep_best_checkpoint_by`) and early stopping
     (`--early_stopping_patience`);
  6. the chief-only evaluation, prediction and export (Horovod rank 0).

Settings are the fields of config dataclasses, which also define the flags
(`bert_tf.settings`); the groups every training script shares are here
(`ModelSettings`, `TokenizerSettings`, `TrainSettings`, `EpochSchedule`,
`StepSchedule`, `EvalDuringTraining`, `HeadSettings`, `FreezeSettings`),
beside `distributed.ScaleConfig` and `runtime.TpuConfig` /
`runtime.RunSettings`; `ClassWeightSettings` is the classifier's and NER's.

Data flow: task.read examples -> task features -> `features_file` (TFRecord
cache) -> `input_pipeline` -> Estimator(`model_fn`(task.head(`modeling`)))
-> train / evaluate every N / predict -> task.evaluate, task.predict,
task.export.

This module never reads absl FLAGS.
"""

import dataclasses
import hashlib
import json
import os
import time
from typing import Optional

import tensorflow.compat.v1 as tf

from bert_tf import distributed
from bert_tf import heads
from bert_tf import input_pipeline
from bert_tf import model_fn as model_fn_lib
from bert_tf import modeling
from bert_tf import runtime
from bert_tf import tokenization
from bert_tf.settings import setting

HISTORY_FILE = "eval_history.jsonl"
BEST_DIR = "best_checkpoint"
BEST_FILE = "best.json"


# ---------------------------------------------------------------------------
# Setting groups shared by the training scripts.


@dataclasses.dataclass(kw_only=True)
class ModelSettings:
  """The BERT model, its checkpoint and where the run writes."""
  bert_config_file: Optional[str] = setting(
      None, "The config json file corresponding to the pre-trained BERT "
      "model. This specifies the model architecture.", required=True)
  output_dir: Optional[str] = setting(
      None, "The output directory where the model checkpoints will be "
      "written.", required=True)
  init_checkpoint: Optional[str] = setting(
      None, "Initial checkpoint (usually from a pre-trained BERT model).")
  max_seq_length: int = setting(
      128, "The maximum total input sequence length after WordPiece "
      "tokenization. Sequences longer than this will be truncated, and "
      "sequences shorter than this will be padded.")


@dataclasses.dataclass(kw_only=True)
class TokenizerSettings:
  """The vocabulary and casing of the text tasks."""
  vocab_file: Optional[str] = setting(
      None, "The vocabulary file that the BERT model was trained on.")
  spm_model_file: Optional[str] = setting(
      None, "Optional SentencePiece model; when given, text is split into "
      "its pieces instead of WordPiece.")
  do_lower_case: bool = setting(
      True, "Whether to lower case the input text. Should be True for "
      "uncased models and False for cased models.")


@dataclasses.dataclass(kw_only=True)
class TrainSettings:
  """What to run, and the training batch and rate."""
  do_train: bool = setting(False, "Whether to run training.")
  do_eval: bool = setting(False, "Whether to run eval on the dev set.")
  train_batch_size: int = setting(32, "Total batch size for training.")
  learning_rate: float = setting(5e-5, "The initial learning rate for Adam.")


@dataclasses.dataclass(kw_only=True)
class EpochSchedule:
  """A schedule counted in epochs (fine-tuning tasks)."""
  num_train_epochs: float = setting(
      3.0, "Total number of training epochs to perform.")
  warmup_proportion: float = setting(
      0.1, "Proportion of training to perform linear learning rate warmup "
      "for. E.g., 0.1 = 10% of training.")
  eval_every_epochs: Optional[float] = setting(
      None, "Evaluate on the dev set every this many epochs during "
      "training (e.g. 1), appending to eval_history.jsonl.")
  train_to_step: Optional[int] = setting(
      None, "Train only up to this global step in this call (the "
      "learning-rate schedule still spans the whole run), resuming from the "
      "last checkpoint and from where the example stream stopped; "
      "bert_tf.sweep evaluates between such chunks.")


@dataclasses.dataclass(kw_only=True)
class StepSchedule:
  """A schedule counted in updates (pretraining)."""
  num_train_steps: int = setting(100000, "Number of training steps.")
  num_warmup_steps: int = setting(10000, "Number of warmup steps.")


@dataclasses.dataclass(kw_only=True)
class EvalDuringTraining:
  """Evaluation during training, the best checkpoint and early stopping."""
  eval_every_steps: Optional[int] = setting(
      None, "Evaluate on the dev set every this many training steps "
      "(updates), appending to eval_history.jsonl.")
  keep_best_checkpoint_by: Optional[str] = setting(
      None, "Keep the checkpoint with the best value of this evaluation "
      "metric (e.g. eval_accuracy, f1; minimised when its name contains "
      "'loss') in <output_dir>/best_checkpoint; evaluation, prediction and "
      "export after training then use it. Needs --eval_every_steps or "
      "--eval_every_epochs.")
  early_stopping_patience: Optional[int] = setting(
      None, "Stop training after this many evaluations without improvement "
      "of --keep_best_checkpoint_by (or the task's main metric).")


@dataclasses.dataclass(kw_only=True)
class HeadSettings:
  """How a fine-tuning task's new head starts."""
  head_initializer: str = setting(
      "truncated_normal", "Distribution of the task head's initial output "
      "weights, with the bert_config's initializer_range as the normal's "
      "standard deviation: truncated_normal (the reference's; values past "
      "two standard deviations are redrawn, so the weights' spread is 0.88x "
      "initializer_range) or normal (Hugging Face's heads). On small data "
      "sets the head's draw moves the final score from seed to seed; see "
      "docs/benchmarks.md.", choices=list(heads.HEAD_INITIALIZERS))


@dataclasses.dataclass(kw_only=True)
class ClassWeightSettings:
  """Loss weights per class (the classifier and NER)."""
  class_weights: Optional[str] = setting(
      None, "Weigh each training example (NER: each labelled word) by a "
      "weight of its true label: 'balanced' (n_samples / (n_labels x the "
      "label's count in the training data), scikit-learn's 'balanced'; NER "
      "counts labelled words) or comma-separated positive numbers, one per "
      "label in the task's label order. The training loss is then the "
      "weighted mean sum(w[y] x loss) / sum(w[y]), as PyTorch's "
      "CrossEntropyLoss(weight=...); evaluation stays unweighted. Default: "
      "no weights (the unweighted loss).")


def class_weights(run, labels, counts):
  """The per-label loss weights of `run.cfg.class_weights` (logged).

  Args:
    run: `RunContext`.
    labels: the task's labels, in order.
    counts: callable () -> dict label -> its count in the training data
      (called for "balanced" only, and only when the run trains).

  Returns:
    list of float [len(labels)], or None: no weights, or a run that does
    not train (the weights change the training loss only; an explicit list
    is still checked).

  Raises:
    ValueError: for a value that does not fit the labels (see
      `heads.class_weights_from_setting`).
  """
  value = run.cfg.class_weights
  if isinstance(value, (list, tuple)):
    value = ",".join(str(x) for x in value)
  if value is None or not str(value).strip():
    return None
  if not run.cfg.do_train:
    if str(value).strip().lower() != heads.BALANCED:
      heads.class_weights_from_setting(value, labels)
    tf.logging.info("--class_weights=%s: the run does not train; the "
                    "weights change the training loss only.", value)
    return None
  weights = heads.class_weights_from_setting(value, labels, counts)
  tf.logging.info("Class weights (--class_weights=%s): %s", value, ", ".join(
      "%s=%.6g" % (label, w) for label, w in zip(labels, weights)))
  return weights


@dataclasses.dataclass(kw_only=True)
class FreezeSettings:
  """Fine-tuning only part of the model (`model_fn.trainable_variables`)."""
  freeze_embeddings: bool = setting(
      False, "Leave the embeddings (word, position, token type and their "
      "layer norm) as the checkpoint has them: no update, no optimizer "
      "slots.")
  train_top_layers: Optional[int] = setting(
      None, "Train only the top N encoder layers, the pooler and the head "
      "(0: only the pooler and the head); the embeddings and the lower "
      "layers stay frozen. Default: every layer trains. Checkpoints still "
      "hold every variable.")


@dataclasses.dataclass(kw_only=True)
class FineTuningSettings(ModelSettings, TokenizerSettings, TrainSettings,
                         EpochSchedule, EvalDuringTraining, HeadSettings,
                         FreezeSettings, distributed.ScaleConfig,
                         runtime.TpuConfig, runtime.RunSettings):
  """Every setting of an epoch-counted fine-tuning script (classifier,
  SQuAD, NER); each task's config adds its own and overrides defaults."""


# ---------------------------------------------------------------------------
# The plug-in protocol.


class Task(object):
  """A task plug-in: what to train on, its head, scoring and outputs.

  Subclasses override what applies; the driver calls, in order:
  `load_bert_config`, `validate`, `prepare` (every process), then
  `num_train_examples` and `train_records` (with do_train), `head`, and on
  the chief `evaluate` (during training and with do_eval), `predict` (with
  do_predict) and `export` (with export_dir).

  Attributes:
    name: short name for logs and cache keys ("classifier", "squad", ...).
    feature_version: bump when the feature layout changes (cache keys).
    default_metric: the metric early stopping watches when
      `keep_best_checkpoint_by` is not given.
    produced_by: what writes this task's TFRecords, for error messages.
    model_builder: optional encoder builder for `model_fn_builder` (TF-Hub).
    length_settings: feature name -> the setting that gives its length (for
      the error about records made with other settings).
  """
  length_settings = {"input_ids": "max_seq_length",
                     "input_mask": "max_seq_length",
                     "segment_ids": "max_seq_length"}
  name = "task"
  feature_version = 1
  default_metric = None
  produced_by = None
  model_builder = None

  def load_bert_config(self, cfg):
    """The `BertConfig` of the run (default: `cfg.bert_config_file`)."""
    return modeling.BertConfig.from_json_file(cfg.bert_config_file)

  def validate(self, run):
    """Raises ValueError for settings of this task that cannot work."""

  def prepare(self, run):
    """Builds what the task needs on every process (tokenizer, labels)."""

  def num_train_examples(self, run):
    """Training examples per epoch, or None for a step-counted schedule."""
    return None

  def train_records(self, run):
    """(list of TFRecord paths, name_to_features) for training."""
    raise NotImplementedError

  def head(self, run):
    """The head callable for `model_fn.model_fn_builder`."""
    raise NotImplementedError

  def evaluate(self, run, estimator, checkpoint_path=None, final=True):
    """Scores `checkpoint_path` (default: the latest); returns the metrics.

    `final`: the evaluation after training, which writes the task's results
    files; evaluations during training only return their metrics.
    """
    raise NotImplementedError

  def predict(self, run, estimator, checkpoint_path=None):
    """Writes predictions; returns a dict of what it wrote."""
    raise ValueError("%s has no prediction mode" % self.name)

  def export(self, run, estimator, export_dir, checkpoint_path=None):
    """Exports a SavedModel for serving; returns its path."""
    raise ValueError("%s has no export" % self.name)


# ---------------------------------------------------------------------------
# The run.


def train_steps(num_examples, num_train_epochs, effective_batch_size):
  """Training steps (updates of the effective batch) for a number of epochs.

  The one formula of every epoch-counted task (and of the sweep):
  int(examples / effective batch x epochs), at least 1.
  """
  return max(1, int(num_examples / effective_batch_size * num_train_epochs))


def _file_digest(path):
  h = hashlib.sha256()
  with tf.io.gfile.GFile(path, "rb") as f:
    while True:
      chunk = f.read(1 << 20)
      if not chunk:
        break
      h.update(chunk)
  return h.hexdigest()


class RunContext(object):
  """What a task sees of the run: settings, process, helpers.

  Attributes:
    task: the `Task`.
    cfg: the task's config dataclass.
    bert_config: `modeling.BertConfig`.
    dist: `distributed.Context` of this process.
    tokenizer: set by tasks that tokenize (in `prepare`).
    num_train_steps, num_warmup_steps: the schedule (0 without do_train).
    best_checkpoint: the kept best checkpoint after training, if any.
  """

  def __init__(self, task, cfg, bert_config, dist):
    self.task = task
    self.cfg = cfg
    self.bert_config = bert_config
    self.dist = dist
    self.tokenizer = None
    self.num_train_steps = 0
    self.num_warmup_steps = 0
    self.steps_per_epoch = None
    self.best_checkpoint = None

  @property
  def is_chief(self):
    return self.dist.is_chief

  @property
  def output_dir(self):
    return self.cfg.output_dir

  @property
  def use_bucketing(self):
    """Length bucketing as asked, except on TPUs (fixed shapes)."""
    return bool(getattr(self.cfg, "use_bucketing", False) and
                not self.cfg.use_tpu)

  @property
  def groups_by_length(self):
    """Whether training batches hold examples of similar length: bucketing
    with more than one bucket (a --bucket_width of at least
    --max_seq_length only trims randomly composed batches)."""
    return self.use_bucketing and runtime.bucket_width(self.cfg) < (
        self.cfg.max_seq_length)

  def output_path(self, name):
    return os.path.join(self.cfg.output_dir, name)

  def make_tokenizer(self):
    """The `FullTokenizer` of the run's vocabulary and casing (also kept as
    `self.tokenizer`), checked against the BERT config's vocab_size."""
    cfg = self.cfg
    tokenizer = tokenization.FullTokenizer(
        vocab_file=cfg.vocab_file, do_lower_case=cfg.do_lower_case,
        spm_model_file=cfg.spm_model_file, check_special=True)
    check_vocab_size(tokenizer, self.bert_config, cfg)
    self.tokenizer = tokenizer
    return tokenizer

  # -- features ---------------------------------------------------------------

  def features_file(self, split, content_key, write_fn):
    """A TFRecord of features, written only when no identical one exists.

    The one keying scheme of every task: the name carries a digest of the
    task, its feature version, `content_key` (what the task read: a digest
    of the examples or of the input file, and every setting of the task
    that shapes the features), the vocabulary/SentencePiece files' contents,
    the casing and max_seq_length. The same request reuses the file, any
    change writes anew. Files go to `cache_dir` (default output_dir); Horovod
    ranks other than 0 read rank 0's file but write only into their own
    scratch directory.

    Args:
      split: "train", "eval", "predict", ... (the file name's prefix).
      content_key: JSON-serialisable, the task's part of the key.
      write_fn: callable(path) writing the features atomically to `path`.

    Returns:
      The path of the TFRecord file.
    """
    cfg = self.cfg
    h = hashlib.sha256()
    tokenizer = self.tokenizer
    h.update(json.dumps(
        [self.task.name, self.task.feature_version, split,
         cfg.max_seq_length,
         tokenizer.do_lower_case if tokenizer is not None else None,
         content_key], sort_keys=True, default=str).encode("utf-8"))
    if tokenizer is not None:
      for source in (tokenizer.vocab_file, tokenizer.spm_model_file):
        h.update(b"|")
        if source:
          h.update(_file_digest(source).encode("ascii"))
    name = "%s-%s.tf_record" % (split, h.hexdigest()[:16])
    cache_dir = getattr(cfg, "cache_dir", None) or cfg.output_dir
    candidates = [os.path.join(cache_dir, name)]
    if not self.is_chief:
      candidates.append(os.path.join(self.dist.scratch_dir(), name))
    for path in candidates:
      if tf.io.gfile.exists(path):
        tf.logging.info("Reusing cached %s features %s", split, path)
        return path
    path = candidates[-1]
    tf.io.gfile.makedirs(os.path.dirname(path))
    start = time.time()
    write_fn(path)
    tf.logging.info("Wrote %s features to %s (%.1f s)", split, path,
                    time.time() - start)
    return path

  def check_records(self, files, name_to_features):
    """Fails early, naming the file, unless `files` fit the features (the
    first file is read; a length that differs names the setting behind it)."""
    hints = {name: "--%s=%s" % (setting_name, getattr(self.cfg,
                                                      setting_name))
             for name, setting_name in self.task.length_settings.items()}
    for path in files[:1]:
      input_pipeline.check_records(path, name_to_features,
                                   produced_by=self.task.produced_by,
                                   length_settings=hints)

  # -- evaluation and prediction helpers --------------------------------------

  def input_fn(self, files, name_to_features, batch_size, is_training=False):
    """An evaluation/prediction input_fn over `files`, bound to a batch."""
    fn = input_pipeline.file_based_input_fn_builder(
        files, name_to_features, is_training=is_training,
        drop_remainder=self.cfg.use_tpu, use_bucketing=self.use_bucketing,
        bucket_width=runtime.bucket_width(self.cfg))
    return runtime.bind_batch_size(fn, batch_size, self.cfg.use_tpu)

  def evaluate_records(self, estimator, files, name_to_features, batch_size,
                       steps=None, name=None, checkpoint_path=None):
    """`Estimator.evaluate` over `files`; returns plain-Python metrics."""
    metrics = estimator.evaluate(
        input_fn=self.input_fn(files, name_to_features, batch_size),
        steps=steps, name=name, checkpoint_path=checkpoint_path)
    # Scalars -> Python numbers; arrays (a confusion matrix) -> lists.
    return {k: (v.tolist() if hasattr(v, "tolist") else v)
            for k, v in metrics.items()}

  def predict_records(self, estimator, files, name_to_features, batch_size,
                      checkpoint_path=None, hooks=None):
    """Yields `Estimator.predict` outputs over `files`, one per record."""
    return estimator.predict(
        input_fn=self.input_fn(files, name_to_features, batch_size),
        yield_single_examples=True, checkpoint_path=checkpoint_path,
        hooks=hooks)

  def write_results(self, name, metrics):
    """Writes `key = value` lines (sorted) atomically; logs them."""
    lines = []
    for key in sorted(metrics):
      lines.append("%s = %s\n" % (key, metrics[key]))
      tf.logging.info("  %s = %s", key, metrics[key])
    input_pipeline.atomic_write_text(self.output_path(name), "".join(lines))


def check_vocab_size(tokenizer, bert_config, cfg):
  """Raises ValueError when the vocabulary has more ids than the model."""
  if tokenizer.vocab and len(tokenizer.vocab) > bert_config.vocab_size:
    raise ValueError(
        "The vocabulary %s has %d entries but the BERT config %s has "
        "vocab_size=%d." % (cfg.vocab_file or cfg.spm_model_file,
                            len(tokenizer.vocab), cfg.bert_config_file,
                            bert_config.vocab_size))


def _has_model(cfg):
  return bool(cfg.init_checkpoint or tf.train.latest_checkpoint(
      cfg.output_dir))


def validate_settings(task, cfg, bert_config):
  """The checks every run shares; raises ValueError naming the setting."""
  for name in ("bert_config_file", "output_dir"):
    if hasattr(cfg, name) and not getattr(cfg, name) and (
        name != "bert_config_file" or task.model_builder is None):
      raise ValueError("--%s is required." % name)
  wants = [n for n in ("do_train", "do_eval", "do_predict")
           if getattr(cfg, n, False)]
  if not wants and not getattr(cfg, "export_dir", None):
    names = [n for n in ("do_train", "do_eval", "do_predict")
             if hasattr(cfg, n)]
    listed = ["`%s`" % n for n in names]
    raise ValueError("At least one of %s or %s must be True." % (
        ", ".join(listed[:-1]), listed[-1]))
  runtime.check_max_seq_length(cfg.max_seq_length, bert_config,
                               cfg.bert_config_file)
  if hasattr(cfg, "do_lower_case"):
    tokenization.validate_case_matches_checkpoint(cfg.do_lower_case,
                                                  cfg.init_checkpoint)
  width = runtime.bucket_width(cfg)
  if not isinstance(width, int) or width < 1:
    raise ValueError("--bucket_width must be an int >= 1, got %r." % (width,))
  if (width != input_pipeline.DEFAULT_BUCKET_WIDTH and
      not getattr(cfg, "use_bucketing", False)):
    raise ValueError("--bucket_width=%d applies with --use_bucketing only "
                     "(without it every batch is padded to "
                     "--max_seq_length)." % width)
  every_steps = getattr(cfg, "eval_every_steps", None)
  every_epochs = getattr(cfg, "eval_every_epochs", None)
  if every_steps is not None and every_steps < 1:
    raise ValueError("--eval_every_steps must be >= 1, got %r." % every_steps)
  if every_epochs is not None and not every_epochs > 0:
    raise ValueError("--eval_every_epochs must be > 0, got %r." %
                     every_epochs)
  if every_steps and every_epochs:
    raise ValueError("Give one of --eval_every_steps and --eval_every_epochs.")
  during = bool(every_steps or every_epochs)
  if during and not cfg.do_train:
    raise ValueError("--eval_every_steps/--eval_every_epochs evaluate during "
                     "training: they need --do_train.")
  if during and getattr(cfg, "train_to_step", None) is not None:
    raise ValueError("--train_to_step trains one chunk; it cannot be "
                     "combined with --eval_every_steps/--eval_every_epochs.")
  if during and cfg.use_tpu:
    raise ValueError("Evaluation during training runs on CPUs/GPUs; it "
                     "cannot be combined with --use_tpu.")
  for name in ("keep_best_checkpoint_by", "early_stopping_patience"):
    if getattr(cfg, name, None) is not None and not during:
      raise ValueError("--%s needs --eval_every_steps or --eval_every_epochs "
                       "(evaluations during training to compare)." % name)
  patience = getattr(cfg, "early_stopping_patience", None)
  if patience is not None:
    if patience < 1:
      raise ValueError("--early_stopping_patience must be >= 1, got %r." %
                       patience)
    if not (cfg.keep_best_checkpoint_by or task.default_metric):
      raise ValueError("--early_stopping_patience needs "
                       "--keep_best_checkpoint_by=METRIC.")


def check_has_model(cfg):
  """Raises ValueError when there is nothing to evaluate, predict or export
  with: no training, no --init_checkpoint and no checkpoint in output_dir."""
  if not cfg.do_train and not _has_model(cfg):
    raise ValueError(
        "Evaluating, predicting or exporting without training needs a "
        "model: give --init_checkpoint or an --output_dir that holds a "
        "checkpoint (%s has none)." % cfg.output_dir)


def minimize_metric(name):
  """Whether a metric improves downwards (losses, perplexity)."""
  name = name.lower()
  return "loss" in name or "perplexity" in name


class BestCheckpoint(object):
  """The best evaluation so far, its checkpoint copy and the patience count.

  Its state lives in `<output_dir>/best_checkpoint/best.json`, so a resumed
  run continues the comparison.
  """

  def __init__(self, output_dir, metric, keep, patience=None):
    self.metric = metric
    self.keep = keep
    self.patience = patience
    self.directory = os.path.join(output_dir, BEST_DIR)
    self.minimize = minimize_metric(metric)
    self.best = None        # {"global_step", "value", "checkpoint"}
    self.since_best = 0
    state = os.path.join(self.directory, BEST_FILE)
    if tf.io.gfile.exists(state):
      with tf.io.gfile.GFile(state) as f:
        saved = json.load(f)
      if saved.get("metric") == metric:
        self.best = saved.get("best")
        self.since_best = int(saved.get("evaluations_since_best", 0))

  def better(self, value):
    if self.best is None:
      return True
    if self.minimize:
      return value < self.best["value"]
    return value > self.best["value"]

  def update(self, step, metrics, checkpoint_path):
    """Records an evaluation; returns True when it is the new best."""
    if self.metric not in metrics:
      raise ValueError(
          "The evaluation has no metric %r to compare (it has: %s)." %
          (self.metric, ", ".join(sorted(metrics))))
    value = float(metrics[self.metric])
    improved = self.better(value)
    if improved:
      self.since_best = 0
      kept = self._copy(checkpoint_path) if self.keep else checkpoint_path
      self.best = {"global_step": int(step), "value": value,
                   "checkpoint": kept, "metrics": metrics}
      tf.logging.info("New best %s = %.6g at step %d%s.", self.metric, value,
                      step, (" (kept in %s)" % kept) if self.keep else "")
    else:
      self.since_best += 1
      tf.logging.info("%s = %.6g at step %d; best %.6g at step %d (%d "
                      "evaluation(s) without improvement).", self.metric,
                      value, step, self.best["value"],
                      self.best["global_step"], self.since_best)
    self._save()
    return improved

  def should_stop(self):
    return self.patience is not None and self.since_best >= self.patience

  def _copy(self, checkpoint_path):
    """Copies the checkpoint's files into best_checkpoint/, atomically."""
    tmp = self.directory + ".tmp"
    if tf.io.gfile.exists(tmp):
      tf.io.gfile.rmtree(tmp)
    tf.io.gfile.makedirs(tmp)
    prefix = os.path.basename(checkpoint_path)
    for path in tf.io.gfile.glob(checkpoint_path + ".*"):
      tf.io.gfile.copy(path, os.path.join(tmp, os.path.basename(path)))
    state = os.path.join(self.directory, BEST_FILE)
    if tf.io.gfile.exists(state):
      tf.io.gfile.copy(state, os.path.join(tmp, BEST_FILE))
    old = self.directory + ".old"
    if tf.io.gfile.exists(self.directory):
      if tf.io.gfile.exists(old):
        tf.io.gfile.rmtree(old)
      tf.io.gfile.rename(self.directory, old)
    tf.io.gfile.rename(tmp, self.directory)
    if tf.io.gfile.exists(old):
      tf.io.gfile.rmtree(old)
    return os.path.join(self.directory, prefix)

  def _save(self):
    tf.io.gfile.makedirs(self.directory)
    input_pipeline.atomic_write_text(
        os.path.join(self.directory, BEST_FILE),
        json.dumps({"metric": self.metric, "minimize": self.minimize,
                    "best": self.best,
                    "evaluations_since_best": self.since_best},
                   indent=2, sort_keys=True, default=float) + "\n")


def eval_history(output_dir):
  """The evaluations during training of a run (list of dicts, in order)."""
  path = os.path.join(output_dir, HISTORY_FILE)
  if not tf.io.gfile.exists(path):
    return []
  with tf.io.gfile.GFile(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def _append_history(output_dir, record):
  with tf.io.gfile.GFile(os.path.join(output_dir, HISTORY_FILE), "a") as f:
    f.write(json.dumps(record, sort_keys=True, default=float) + "\n")


def evaluation_steps(run):
  """The global steps after which to evaluate during training (sorted)."""
  cfg = run.cfg
  total = run.num_train_steps
  every = getattr(cfg, "eval_every_steps", None)
  if getattr(cfg, "eval_every_epochs", None):
    every = cfg.eval_every_epochs * run.steps_per_epoch
  if not every:
    return []
  points = []
  k = 1
  while True:
    step = int(round(every * k))
    if step >= total:
      break
    # An epoch shorter than a step rounds to step 0: nothing to evaluate yet.
    if step >= 1 and (not points or step > points[-1]):
      points.append(step)
    k += 1
  return points + [total]


def _train_and_evaluate(run, estimator, files, spec):
  """Trains in chunks with an evaluation (chief) after each; returns the
  results dict entries (summaries, history, best, stopped_early)."""
  cfg, dist, task = run.cfg, run.dist, run.task
  metric = cfg.keep_best_checkpoint_by or task.default_metric
  tracker = None
  if dist.is_chief and metric:
    tracker = BestCheckpoint(cfg.output_dir, metric,
                             keep=bool(cfg.keep_best_checkpoint_by),
                             patience=cfg.early_stopping_patience)
  # Every decision that changes the loop's path is rank 0's, broadcast, so
  # that all processes meet in the same collectives (Horovod).
  done = dist.broadcast_from_chief(
      runtime.checkpoint_step(cfg.output_dir) if dist.is_chief else 0)
  already_stopped = dist.broadcast_from_chief(int(
      tracker is not None and tracker.should_stop() and
      done < run.num_train_steps))
  if already_stopped:
    tf.logging.info("Early stopping had stopped this run at step %d.", done)
    if tracker is not None and cfg.keep_best_checkpoint_by and tracker.best:
      run.best_checkpoint = tracker.best["checkpoint"]
    return {"stopped_early": True, "best": tracker.best if tracker else None,
            "eval_history": eval_history(cfg.output_dir)}
  evaluated = ({r["global_step"] for r in eval_history(cfg.output_dir)}
               if dist.is_chief else set())
  summaries = []
  stopped = False
  for target in evaluation_steps(run):
    if dist.broadcast_from_chief(int(target <= done and target in evaluated)):
      continue
    if target > done:
      summary = dist.train_on_records(
          estimator, cfg, files, spec, run.num_train_steps,
          use_bucketing=run.use_bucketing, train_to_step=target)
      summaries.append(summary)
    stop = 0
    if dist.is_chief:
      checkpoint = tf.train.latest_checkpoint(cfg.output_dir)
      step = runtime.checkpoint_step(cfg.output_dir)
      tf.logging.info("***** Evaluation at step %d of %d *****", step,
                      run.num_train_steps)
      metrics = task.evaluate(run, estimator, checkpoint_path=checkpoint,
                              final=False)
      record = {"global_step": step, "metrics": metrics}
      if run.steps_per_epoch:
        record["epoch"] = round(step / run.steps_per_epoch, 4)
      _append_history(cfg.output_dir, record)
      if tracker is not None:
        tracker.update(step, metrics, checkpoint)
        stop = int(tracker.should_stop() and step < run.num_train_steps)
    if dist.broadcast_from_chief(stop):
      tf.logging.info("Early stopping: %d evaluations without improvement of "
                      "%s; training stops at step %d of %d.",
                      cfg.early_stopping_patience, metric, target,
                      run.num_train_steps)
      stopped = True
      break
  out = {"train_summary": runtime.merge_summaries(summaries),
         "stopped_early": stopped,
         "eval_history": eval_history(cfg.output_dir)}
  if tracker is not None:
    out["best"] = tracker.best
    if cfg.keep_best_checkpoint_by and tracker.best:
      run.best_checkpoint = tracker.best["checkpoint"]
  return out


def run(task, cfg):
  """Runs `task` as `cfg` asks: train (evaluating during training),
  evaluate, predict, export.

  Args:
    task: a `Task`.
    cfg: the task's config dataclass.

  Returns:
    dict with, where they ran: "num_train_steps", "train_summary"
    (throughput), "eval_history", "best", "stopped_early", "eval" (the
    evaluation after training), the task's prediction outputs and
    "export_path".
  """
  runtime.set_verbosity()
  dist = distributed.setup(cfg)
  bert_config = task.load_bert_config(cfg)
  validate_settings(task, cfg, bert_config)
  context = RunContext(task, cfg, bert_config, dist)
  task.validate(context)
  check_has_model(cfg)
  if dist.is_chief:
    tf.io.gfile.makedirs(cfg.output_dir)
  task.prepare(context)

  result = {}
  if cfg.do_train:
    num_examples = task.num_train_examples(context)
    if num_examples is None:
      context.num_train_steps = cfg.num_train_steps
      context.num_warmup_steps = cfg.num_warmup_steps
    else:
      batch = dist.effective_batch_size(cfg.train_batch_size)
      context.steps_per_epoch = num_examples / batch
      context.num_train_steps = train_steps(num_examples, cfg.num_train_epochs,
                                            batch)
      context.num_warmup_steps = int(context.num_train_steps *
                                     cfg.warmup_proportion)
    result["num_train_steps"] = context.num_train_steps

  model_fn = model_fn_lib.model_fn_builder(
      bert_config=bert_config, head=task.head(context),
      init_checkpoint=cfg.init_checkpoint,
      learning_rate=dist.learning_rate(cfg.learning_rate),
      num_train_steps=context.num_train_steps,
      num_warmup_steps=context.num_warmup_steps,
      use_tpu=cfg.use_tpu, use_one_hot_embeddings=cfg.use_tpu,
      optimizer_kwargs=dist.optimizer_kwargs(),
      model_builder=task.model_builder,
      freeze_embeddings=getattr(cfg, "freeze_embeddings", False),
      train_top_layers=getattr(cfg, "train_top_layers", None))
  estimator = dist.estimator(
      cfg, model_fn, train_batch_size=cfg.train_batch_size,
      eval_batch_size=getattr(cfg, "eval_batch_size", 8),
      predict_batch_size=getattr(cfg, "predict_batch_size", 8))

  if cfg.do_train:
    files, spec = task.train_records(context)
    context.check_records(files, spec)
    tf.logging.info("***** Running training *****")
    tf.logging.info("  %s steps = %d (warm-up %d), batch size = %d per "
                    "process, resuming from %s", task.name,
                    context.num_train_steps, context.num_warmup_steps,
                    cfg.train_batch_size,
                    tf.train.latest_checkpoint(cfg.output_dir) or "scratch")
    if evaluation_steps(context):
      result.update(_train_and_evaluate(context, estimator, files, spec))
    else:
      result["train_summary"] = dist.train_on_records(
          estimator, cfg, files, spec, context.num_train_steps,
          use_bucketing=context.use_bucketing,
          train_to_step=getattr(cfg, "train_to_step", None))

  if not dist.is_chief:
    # Evaluation, prediction and export are rank 0's (Horovod).
    return result

  checkpoint = context.best_checkpoint
  if checkpoint:
    tf.logging.info("Evaluation, prediction and export use the best "
                    "checkpoint %s (%s).", checkpoint,
                    cfg.keep_best_checkpoint_by)
  if cfg.do_eval:
    result["eval"] = task.evaluate(context, estimator,
                                   checkpoint_path=checkpoint, final=True)
  if getattr(cfg, "do_predict", False):
    result.update(task.predict(context, estimator, checkpoint_path=checkpoint))
  if cfg.export_dir:
    result["export_path"] = task.export(context, estimator, cfg.export_dir,
                                        checkpoint_path=checkpoint)
  return result

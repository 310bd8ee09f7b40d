"""Sentence(-pair) classification and regression: features and the driver.

Data flow: a processor from `bert_tf.tasks.glue` reads `InputExample`s ->
`convert_single_example` builds `[CLS] a [SEP] b [SEP]` features ->
`file_based_convert_examples_to_features` writes them once to a TFRecord
(cached under a key of the examples, vocabulary, case, length and labels, so a
cache is never stale) -> `input_pipeline` -> Estimator(`model_fn_builder` with
a `ClassificationHead`) -> `eval_results.txt`, `test_results.tsv`, SavedModel.

`run(ClassifierConfig(...))` is what `run_classifier.py` calls.
"""

import collections
import dataclasses
import hashlib
import json
import os
import time
from typing import Optional

import tensorflow.compat.v1 as tf

from bert_tf import distributed
from bert_tf import export as export_lib
from bert_tf import input_pipeline
from bert_tf import model_fn as model_fn_lib
from bert_tf import modeling
from bert_tf import runtime
from bert_tf import tokenization
from bert_tf.heads import ClassificationHead
from bert_tf.tasks import glue

CACHE_FORMAT_VERSION = 1


class InputFeatures(object):
  """Features of one example: int lists of length max_seq_length."""

  def __init__(self, input_ids, input_mask, segment_ids, label_id,
               is_real_example=True):
    self.input_ids = input_ids
    self.input_mask = input_mask
    self.segment_ids = segment_ids
    self.label_id = label_id
    self.is_real_example = is_real_example


def truncate_seq_pair(tokens_a, tokens_b, max_length):
  """Truncates the longer of two token lists, one token at a time, in place."""
  while len(tokens_a) + len(tokens_b) > max_length:
    if len(tokens_a) > len(tokens_b):
      tokens_a.pop()
    else:
      tokens_b.pop()


def tokenize_and_pad(text_a, text_b, max_seq_length, tokenizer):
  """Tokenizes one text or pair into BERT's input layout.

  Layout: `[CLS] a [SEP]` (segment 0) `b [SEP]` (segment 1), then zero
  padding to `max_seq_length` (mask 0). Pairs are truncated longest-first to
  `max_seq_length - 3` tokens, single texts (or a `text_b` that yields no
  tokens) to `max_seq_length - 2`.

  Args:
    text_a: str, the first text.
    text_b: str or None, the second text of a pair.
    max_seq_length: int, the padded length.
    tokenizer: a `FullTokenizer`.

  Returns:
    (tokens, input_ids, input_mask, segment_ids): the unpadded token strings
    and three lists of `max_seq_length` ints.
  """
  tokens_a = tokenizer.tokenize(text_a)
  tokens_b = tokenizer.tokenize(text_b) if text_b else None
  if tokens_b:
    truncate_seq_pair(tokens_a, tokens_b, max_seq_length - 3)
  elif len(tokens_a) > max_seq_length - 2:
    tokens_a = tokens_a[:max_seq_length - 2]

  tokens = ["[CLS]"] + tokens_a + ["[SEP]"]
  segment_ids = [0] * len(tokens)
  if tokens_b:
    tokens += tokens_b + ["[SEP]"]
    segment_ids += [1] * (len(tokens_b) + 1)
  input_ids = tokenizer.convert_tokens_to_ids(tokens)
  input_mask = [1] * len(input_ids)
  padding = max_seq_length - len(input_ids)
  return (tokens, input_ids + [0] * padding, input_mask + [0] * padding,
          segment_ids + [0] * padding)


def convert_single_example(ex_index, example, label_list, max_seq_length,
                           tokenizer, is_regression=False):
  """Converts one `InputExample` into `InputFeatures`.

  Layout: `[CLS] a [SEP]` (segment 0) `b [SEP]` (segment 1), then zero
  padding to `max_seq_length` (mask 0). Pairs are truncated longest-first to
  fit `max_seq_length - 3`, single sentences to `max_seq_length - 2`.

  Raises:
    ValueError: for a label outside `label_list`, naming the example.
  """
  if isinstance(example, glue.PaddingInputExample):
    return InputFeatures(
        input_ids=[0] * max_seq_length,
        input_mask=[0] * max_seq_length,
        segment_ids=[0] * max_seq_length,
        label_id=0.0 if is_regression else 0,
        is_real_example=False)

  tokens, input_ids, input_mask, segment_ids = tokenize_and_pad(
      example.text_a, example.text_b, max_seq_length, tokenizer)

  if is_regression:
    try:
      label_id = float(example.label)
    except (TypeError, ValueError):
      raise ValueError("Example %s: regression label %r is not a number" %
                       (example.guid, example.label))
  else:
    label_map = {label: i for i, label in enumerate(label_list)}
    if example.label not in label_map:
      raise ValueError("Example %s: label %r is not in the task's labels %s" %
                       (example.guid, example.label, list(label_list)))
    label_id = label_map[example.label]

  if ex_index < 3:
    tf.logging.info("*** Example %s ***", example.guid)
    tf.logging.info("tokens: %s", " ".join(
        tokenization.printable_text(t) for t in tokens))
    tf.logging.info("input_ids: %s", " ".join(str(x) for x in input_ids))
    tf.logging.info("label: %s (id = %s)", example.label, label_id)
  return InputFeatures(input_ids, input_mask, segment_ids, label_id, True)


def features_to_example(feature, is_regression=False):
  """Returns the tf.train.Example with the reference's feature names."""
  f = collections.OrderedDict()
  f["input_ids"] = input_pipeline.create_int_feature(feature.input_ids)
  f["input_mask"] = input_pipeline.create_int_feature(feature.input_mask)
  f["segment_ids"] = input_pipeline.create_int_feature(feature.segment_ids)
  if is_regression:
    f["label_ids"] = input_pipeline.create_float_feature([feature.label_id])
  else:
    f["label_ids"] = input_pipeline.create_int_feature([feature.label_id])
  f["is_real_example"] = input_pipeline.create_int_feature(
      [int(feature.is_real_example)])
  return input_pipeline.make_example(f)


def name_to_features(seq_length, is_regression=False):
  """The tf.io feature spec of the classification TFRecords."""
  return {
      "input_ids": tf.io.FixedLenFeature([seq_length], tf.int64),
      "input_mask": tf.io.FixedLenFeature([seq_length], tf.int64),
      "segment_ids": tf.io.FixedLenFeature([seq_length], tf.int64),
      "label_ids": tf.io.FixedLenFeature(
          [], tf.float32 if is_regression else tf.int64),
      "is_real_example": tf.io.FixedLenFeature([], tf.int64),
  }


def _file_sha256(path):
  h = hashlib.sha256()
  with tf.io.gfile.GFile(path, "rb") as f:
    while True:
      chunk = f.read(1 << 20)
      if not chunk:
        break
      h.update(chunk)
  return h.hexdigest()


def cache_key(examples, tokenizer, label_list, max_seq_length, is_regression):
  """A digest of everything the features depend on (never a stale cache)."""
  h = hashlib.sha256()
  h.update(("v%d|%d|%s|%s|%s" % (
      CACHE_FORMAT_VERSION, max_seq_length, tokenizer.do_lower_case,
      is_regression, json.dumps(list(label_list or [])))).encode("utf-8"))
  for source in (tokenizer.vocab_file, tokenizer.spm_model_file):
    h.update(b"|")
    if source:
      h.update(_file_sha256(source).encode("ascii"))
  for ex in examples:
    if isinstance(ex, glue.PaddingInputExample):
      h.update(b"\x00PAD")
      continue
    h.update(json.dumps([ex.guid, ex.text_a, ex.text_b, ex.label],
                        ensure_ascii=False).encode("utf-8"))
  return h.hexdigest()


def file_based_convert_examples_to_features(examples, label_list,
                                            max_seq_length, tokenizer,
                                            output_file, is_regression=False):
  """Converts `examples` and writes them (atomically) to `output_file`."""

  def generate():
    start = time.time()
    for i, example in enumerate(examples):
      if i and i % 10000 == 0:
        tf.logging.info("Writing example %d of %d (%.0f examples/sec)", i,
                        len(examples), i / max(time.time() - start, 1e-9))
      feature = convert_single_example(i, example, label_list, max_seq_length,
                                       tokenizer, is_regression)
      yield features_to_example(feature, is_regression)

  return input_pipeline.write_examples(generate(), output_file)


def cached_features_file(examples, label_list, max_seq_length, tokenizer,
                         cache_dir, split, is_regression=False,
                         write_dir=None):
  """Returns a TFRecord of the examples' features, writing it only if needed.

  The file name carries a digest of the examples, vocabulary, case, length
  and labels, so the same request reuses the file and any change writes anew.
  A file missing from `cache_dir` is written there, or into `write_dir` when
  given (Horovod ranks other than 0 read rank 0's cache but write only into
  their own scratch directory).
  """
  key = cache_key(examples, tokenizer, label_list, max_seq_length,
                  is_regression)
  name = "%s-%s.tf_record" % (split, key[:16])
  for directory in (cache_dir, write_dir):
    path = os.path.join(directory or cache_dir, name)
    if tf.io.gfile.exists(path):
      tf.logging.info("Reusing cached %s features %s (%d examples)", split,
                      path, len(examples))
      return path
  cache_dir = write_dir or cache_dir
  path = os.path.join(cache_dir, name)
  tf.io.gfile.makedirs(cache_dir)
  count = file_based_convert_examples_to_features(
      examples, label_list, max_seq_length, tokenizer, path, is_regression)
  tf.logging.info("Wrote %d %s features to %s", count, split, path)
  return path


@dataclasses.dataclass
class ClassifierConfig(distributed.ScaleConfig, runtime.TpuConfig,
                       runtime.RunSettings):
  """Everything `run` needs (the run_classifier.py flags, by the same names).

  The Horovod, precision, XLA and optimizer settings come from
  `distributed.ScaleConfig`, the TPU settings from `runtime.TpuConfig`,
  checkpointing, seed, export, logging and bucketing from
  `runtime.RunSettings` (all keyword-only).
  """
  task_name: str
  data_dir: str
  bert_config_file: str
  output_dir: str
  vocab_file: Optional[str] = None
  spm_model_file: Optional[str] = None
  init_checkpoint: Optional[str] = None
  do_lower_case: bool = True
  max_seq_length: int = 128
  do_train: bool = False
  do_eval: bool = False
  do_predict: bool = False
  train_batch_size: int = 32
  eval_batch_size: int = 8
  predict_batch_size: int = 8
  learning_rate: float = 5e-5
  num_train_epochs: float = 3.0
  warmup_proportion: float = 0.1
  # Train only up to this global step in this call (the learning-rate
  # schedule still spans the whole run); None trains to the end. Calls with
  # growing values train in chunks, each resuming from the last checkpoint
  # and from where the example stream stopped (bert_tf.sweep evaluates
  # between chunks).
  train_to_step: Optional[int] = None
  cache_dir: Optional[str] = None
  processor_kwargs: dict = dataclasses.field(default_factory=dict)


def validate_config(cfg, bert_config, need_vocab=True):
  """Raises ValueError for contradictory or impossible settings.

  `need_vocab=False` when the caller brings its own tokenizer (TF-Hub).
  """
  if not (cfg.do_train or cfg.do_eval or cfg.do_predict):
    raise ValueError(
        "At least one of `do_train`, `do_eval` or `do_predict` must be True.")
  runtime.check_max_seq_length(cfg.max_seq_length, bert_config,
                               cfg.bert_config_file)
  if cfg.max_seq_length < 3:
    raise ValueError("max_seq_length must be at least 3 ([CLS] x [SEP]).")
  if need_vocab and not cfg.vocab_file and not cfg.spm_model_file:
    raise ValueError("Give --vocab_file (or --spm_model_file).")
  tokenization.validate_case_matches_checkpoint(cfg.do_lower_case,
                                                cfg.init_checkpoint)
  if ((cfg.do_eval or cfg.do_predict or cfg.export_dir) and not cfg.do_train
      and not cfg.init_checkpoint and
      not tf.train.latest_checkpoint(cfg.output_dir)):
    raise ValueError(
        "Evaluating, predicting or exporting without training needs a model: "
        "give --init_checkpoint or an --output_dir that holds a checkpoint "
        "(%s has none)." % cfg.output_dir)


def _bucketing(cfg):
  """Length bucketing as `cfg` asks, except on TPUs (fixed shapes)."""
  if cfg.use_bucketing and cfg.use_tpu:
    tf.logging.warning("use_bucketing is ignored with use_tpu.")
  return cfg.use_bucketing and not cfg.use_tpu


def _write_text_atomic(path, text):
  input_pipeline.atomic_write_text(path, text)


def run(cfg, bert_config=None, tokenizer=None, model_builder=None):
  """Trains, evaluates, predicts and/or exports as `cfg` asks.

  Args:
    cfg: `ClassifierConfig`.
    bert_config: optional `BertConfig` used instead of reading
      `cfg.bert_config_file` (TF-Hub: inferred from the module).
    tokenizer: optional `FullTokenizer` used instead of `cfg.vocab_file` and
      `cfg.do_lower_case` (TF-Hub: from the module's tokenization_info).
    model_builder: optional, passed to `model_fn.model_fn_builder` to build
      the encoder instead of `BertModel` (TF-Hub: `hub.hub_model_builder`).

  Returns:
    dict with "eval" (metrics dict), "predict_file", "export_path",
    "train_summary" (throughput) where those ran.
  """
  runtime.set_verbosity()
  dist = distributed.setup(cfg)
  if bert_config is None:
    bert_config = modeling.BertConfig.from_json_file(cfg.bert_config_file)
  validate_config(cfg, bert_config, need_vocab=tokenizer is None)
  if dist.is_chief:
    tf.io.gfile.makedirs(cfg.output_dir)

  processor = glue.get_processor(cfg.task_name, **cfg.processor_kwargs)
  is_regression = bool(getattr(processor, "is_regression", False))
  if tokenizer is None:
    tokenizer = tokenization.FullTokenizer(
        vocab_file=cfg.vocab_file, do_lower_case=cfg.do_lower_case,
        spm_model_file=cfg.spm_model_file, check_special=True)
  if tokenizer.vocab and len(tokenizer.vocab) > bert_config.vocab_size:
    raise ValueError(
        "The vocabulary %s has %d entries but the BERT config %s has "
        "vocab_size=%d." % (cfg.vocab_file or cfg.spm_model_file,
                            len(tokenizer.vocab), cfg.bert_config_file,
                            bert_config.vocab_size))
  cache_dir = cfg.cache_dir or cfg.output_dir

  label_list = None
  train_examples = None
  num_train_steps = 0
  num_warmup_steps = 0
  if cfg.do_train:
    train_examples = processor.get_train_examples(cfg.data_dir)
    if not train_examples:
      raise ValueError("No training examples in %s" % cfg.data_dir)
    # Steps are applied updates, each of the effective batch (per-process
    # batch x accumulation steps x Horovod processes).
    num_train_steps = int(
        len(train_examples) / dist.effective_batch_size(cfg.train_batch_size)
        * cfg.num_train_epochs)
    num_train_steps = max(num_train_steps, 1)
    num_warmup_steps = int(num_train_steps * cfg.warmup_proportion)
  label_list = processor.get_labels()
  num_labels = 1 if is_regression else len(label_list)

  # eval_accuracy and eval_loss stream; the task's other metrics (F1, MCC,
  # Pearson, Spearman) are computed exactly over the whole dev set.
  metric_fns = {name: fn for name, fn in glue.metric_functions(processor).items()
                if name != "accuracy"}
  head = ClassificationHead(num_labels, is_regression=is_regression,
                            metric_fns=metric_fns)
  model_fn = model_fn_lib.model_fn_builder(
      bert_config=bert_config,
      head=head,
      init_checkpoint=cfg.init_checkpoint,
      learning_rate=dist.learning_rate(cfg.learning_rate),
      num_train_steps=num_train_steps,
      num_warmup_steps=num_warmup_steps,
      use_tpu=cfg.use_tpu,
      use_one_hot_embeddings=cfg.use_tpu,
      optimizer_kwargs=dist.optimizer_kwargs(),
      model_builder=model_builder)
  estimator = dist.estimator(
      cfg, model_fn, train_batch_size=cfg.train_batch_size,
      eval_batch_size=cfg.eval_batch_size,
      predict_batch_size=cfg.predict_batch_size)
  spec = name_to_features(cfg.max_seq_length, is_regression)
  result = {}

  if cfg.do_train:
    train_file = cached_features_file(
        train_examples, label_list, cfg.max_seq_length, tokenizer, cache_dir,
        "train", is_regression,
        write_dir=None if dist.is_chief else dist.scratch_dir())
    tf.logging.info("***** Running training *****")
    tf.logging.info("  Num examples = %d, batch size = %d, num steps = %d",
                    len(train_examples), cfg.train_batch_size, num_train_steps)
    result["num_train_steps"] = num_train_steps
    result["train_summary"] = dist.train_on_records(
        estimator, cfg, [train_file], spec, num_train_steps,
        use_bucketing=_bucketing(cfg))

  if not dist.is_chief:
    # Evaluation, prediction and export are rank 0's (Horovod).
    return result

  if cfg.do_eval:
    eval_examples = processor.get_dev_examples(cfg.data_dir)
    result["eval"] = _evaluate(cfg, estimator, eval_examples, label_list,
                               tokenizer, cache_dir, spec, is_regression,
                               "eval", "eval_results.txt")
    extra = getattr(processor, "get_dev_mismatched_examples", None)
    if extra is not None and tf.io.gfile.exists(
        os.path.join(cfg.data_dir, "dev_mismatched.tsv")):
      result["eval_mismatched"] = _evaluate(
          cfg, estimator, extra(cfg.data_dir), label_list, tokenizer,
          cache_dir, spec, is_regression, "eval_mismatched",
          "eval_results_mismatched.txt")

  if cfg.do_predict:
    predict_examples = processor.get_test_examples(cfg.data_dir)
    num_actual = len(predict_examples)
    if cfg.use_tpu:
      while len(predict_examples) % cfg.predict_batch_size != 0:
        predict_examples.append(glue.PaddingInputExample())
    predict_file = cached_features_file(
        predict_examples, label_list, cfg.max_seq_length, tokenizer,
        cache_dir, "predict", is_regression)
    input_fn = input_pipeline.file_based_input_fn_builder(
        [predict_file], spec, is_training=False,
        drop_remainder=cfg.use_tpu, use_bucketing=_bucketing(cfg))
    output_path = os.path.join(cfg.output_dir, "test_results.tsv")
    lines = []
    for i, prediction in enumerate(estimator.predict(
        input_fn=runtime.bind_batch_size(input_fn, cfg.predict_batch_size,
                                         cfg.use_tpu),
        yield_single_examples=True)):
      if i >= num_actual:
        break
      if is_regression:
        lines.append("%.6f\n" % float(prediction["predictions"]))
      else:
        lines.append("\t".join(
            "%.8f" % p for p in prediction["probabilities"]) + "\n")
    if len(lines) != num_actual:
      raise RuntimeError("Predicted %d of %d examples" % (len(lines),
                                                          num_actual))
    _write_text_atomic(output_path, "".join(lines))
    tf.logging.info("Wrote %d predictions to %s", num_actual, output_path)
    result["predict_file"] = output_path

  if cfg.export_dir:
    result["export_path"] = export_lib.export_saved_model(
        estimator, cfg.export_dir, cfg.max_seq_length,
        vocab_file=None if tokenizer.sp_model else tokenizer.vocab_file,
        do_lower_case=tokenizer.do_lower_case, task="classifier",
        labels=label_list, is_regression=is_regression,
        extra_metadata={"task_name": cfg.task_name})
  return result


def _evaluate(cfg, estimator, examples, label_list, tokenizer, cache_dir,
              spec, is_regression, split, results_name):
  """Evaluates on `examples`; writes `results_name`; returns the metrics."""
  num_actual = len(examples)
  if cfg.use_tpu:
    # TPUs need fixed-size batches: pad with fake examples of weight 0.
    while len(examples) % cfg.eval_batch_size != 0:
      examples.append(glue.PaddingInputExample())
  eval_file = cached_features_file(examples, label_list, cfg.max_seq_length,
                                   tokenizer, cache_dir, split, is_regression)
  tf.logging.info("***** Running evaluation (%s) *****", split)
  tf.logging.info("  Num examples = %d (%d actual, %d padding)",
                  len(examples), num_actual, len(examples) - num_actual)
  eval_steps = None
  if cfg.use_tpu:
    eval_steps = len(examples) // cfg.eval_batch_size
  input_fn = input_pipeline.file_based_input_fn_builder(
      [eval_file], spec, is_training=False, drop_remainder=cfg.use_tpu,
      use_bucketing=_bucketing(cfg))
  metrics = estimator.evaluate(
      input_fn=runtime.bind_batch_size(input_fn, cfg.eval_batch_size,
                                       cfg.use_tpu),
      steps=eval_steps, name=None if split == "eval" else split)
  lines = []
  clean = {}
  for key in sorted(metrics.keys()):
    value = metrics[key]
    value = value.item() if hasattr(value, "item") else value
    clean[key] = value
    lines.append("%s = %s\n" % (key, value))
    tf.logging.info("  %s = %s", key, value)
  _write_text_atomic(os.path.join(cfg.output_dir, results_name),
                     "".join(lines))
  return clean

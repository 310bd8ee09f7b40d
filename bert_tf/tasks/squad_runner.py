"""SQuAD 1.1 / 2.0 fine-tuning and prediction driver (what run_squad.py calls).

Data flow: `squad.read_squad_examples` -> `squad.convert_examples_to_features`
(windows over long contexts) -> `squad.FeatureWriter` TFRecords ->
Estimator(`model_fn_builder` with a `SpanHead`) -> `squad.write_predictions`
(`predictions.json`, `nbest_predictions.json`, `null_odds.json`) ->
optionally `squad_eval` (`eval_results.json`), and a SavedModel export.
"""

import dataclasses
import hashlib
import json
import os
import random
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
from bert_tf.heads import SpanHead
from bert_tf.tasks import squad
from bert_tf.tasks import squad_eval

FEATURE_FORMAT_VERSION = 1


@dataclasses.dataclass
class SquadConfig(distributed.ScaleConfig, runtime.TpuConfig,
                  runtime.RunSettings):
  """The run_squad.py flags, by the same names.

  The Horovod, precision, XLA and optimizer settings come from
  `distributed.ScaleConfig`, the TPU settings from `runtime.TpuConfig`,
  checkpointing, seed, export, logging and bucketing from
  `runtime.RunSettings` (all keyword-only).
  """
  bert_config_file: str
  output_dir: str
  vocab_file: Optional[str] = None
  spm_model_file: Optional[str] = None
  train_file: Optional[str] = None
  predict_file: Optional[str] = None
  init_checkpoint: Optional[str] = None
  do_lower_case: bool = True
  max_seq_length: int = 384
  doc_stride: int = 128
  max_query_length: int = 64
  do_train: bool = False
  do_predict: bool = False
  do_eval: bool = False
  train_batch_size: int = 32
  predict_batch_size: int = 8
  learning_rate: float = 5e-5
  num_train_epochs: float = 3.0
  warmup_proportion: float = 0.1
  n_best_size: int = 20
  max_answer_length: int = 30
  verbose_logging: bool = False
  version_2_with_negative: bool = False
  null_score_diff_threshold: float = 0.0
  # Train only up to this global step in this call (see ClassifierConfig).
  train_to_step: Optional[int] = None


def validate_config(cfg, bert_config):
  """Raises ValueError for contradictory or impossible flags."""
  if not (cfg.do_train or cfg.do_predict or cfg.do_eval or cfg.export_dir):
    raise ValueError(
        "At least one of `do_train`, `do_predict` or `do_eval` must be True.")
  if cfg.do_train and not cfg.train_file:
    raise ValueError("If `do_train` is True, then `train_file` must be given.")
  if (cfg.do_predict or cfg.do_eval) and not cfg.predict_file:
    raise ValueError(
        "If `do_predict` or `do_eval` is True, then `predict_file` must be "
        "given.")
  runtime.check_max_seq_length(cfg.max_seq_length, bert_config,
                               cfg.bert_config_file)
  if cfg.max_seq_length <= cfg.max_query_length + 3:
    raise ValueError(
        "The max_seq_length (%d) must be greater than max_query_length (%d) "
        "+ 3" % (cfg.max_seq_length, cfg.max_query_length))
  if not cfg.vocab_file and not cfg.spm_model_file:
    raise ValueError("Give --vocab_file (or --spm_model_file).")
  for name in ("train_file", "predict_file"):
    path = getattr(cfg, name)
    if path and (cfg.do_train if name == "train_file" else True) and \
        not tf.io.gfile.exists(path):
      raise FileNotFoundError("--%s not found: %s" % (name, path))
  tokenization.validate_case_matches_checkpoint(cfg.do_lower_case,
                                                cfg.init_checkpoint)
  if ((cfg.do_predict or cfg.do_eval or cfg.export_dir) and not cfg.do_train
      and not cfg.init_checkpoint and
      not tf.train.latest_checkpoint(cfg.output_dir)):
    raise ValueError(
        "Predicting or exporting without training needs a model: give "
        "--init_checkpoint or an --output_dir that holds a checkpoint (%s has "
        "none)." % cfg.output_dir)


def _feature_key(cfg, tokenizer, source, is_training):
  h = hashlib.sha256()
  h.update(json.dumps([FEATURE_FORMAT_VERSION, cfg.max_seq_length,
                       cfg.doc_stride, cfg.max_query_length,
                       tokenizer.do_lower_case, cfg.version_2_with_negative,
                       is_training, cfg.random_seed]).encode("utf-8"))
  for path in (source, tokenizer.vocab_file, tokenizer.spm_model_file):
    if path:
      with tf.io.gfile.GFile(path, "rb") as f:
        h.update(hashlib.sha256(f.read()).digest())
  return h.hexdigest()[:16]


def _write_features(examples, tokenizer, cfg, path, is_training):
  """Converts and writes features atomically; returns (features list, count)."""
  features = []
  writer = squad.FeatureWriter(path, is_training)
  start = time.time()

  def output_fn(feature):
    if not is_training:
      features.append(feature)
    writer.process_feature(feature)

  try:
    squad.convert_examples_to_features(
        examples=examples, tokenizer=tokenizer,
        max_seq_length=cfg.max_seq_length, doc_stride=cfg.doc_stride,
        max_query_length=cfg.max_query_length, is_training=is_training,
        output_fn=output_fn)
  except BaseException:
    writer.abort()
    raise
  writer.close()
  tf.logging.info("Wrote %d features for %d examples to %s (%.1f s)",
                  writer.num_features, len(examples), path,
                  time.time() - start)
  return features, writer.num_features


def run(cfg):
  """Trains, predicts, evaluates and/or exports as `cfg` asks.

  Returns:
    dict with "train_summary", "predictions_file", "eval" (official-equivalent
    metrics), "export_path", "skipped_train_questions" where those ran.
  """
  runtime.set_verbosity()
  dist = distributed.setup(cfg)
  bert_config = modeling.BertConfig.from_json_file(cfg.bert_config_file)
  validate_config(cfg, bert_config)
  if dist.is_chief:
    tf.io.gfile.makedirs(cfg.output_dir)
  tokenizer = tokenization.FullTokenizer(
      vocab_file=cfg.vocab_file, do_lower_case=cfg.do_lower_case,
      spm_model_file=cfg.spm_model_file, check_special=True)
  result = {}

  train_examples = None
  num_train_steps = 0
  num_warmup_steps = 0
  if cfg.do_train:
    train_examples, skipped = squad.read_squad_examples(
        cfg.train_file, is_training=True,
        version_2_with_negative=cfg.version_2_with_negative,
        return_skipped=True)
    result["skipped_train_questions"] = len(skipped)
    if not train_examples:
      raise ValueError("No usable training questions in %s" % cfg.train_file)
    # Shuffle before windowing so that windows of one long document do not
    # cluster in the TFRecord.
    random.Random(12345 if cfg.random_seed is None else cfg.random_seed
                 ).shuffle(train_examples)
    # Applied updates of the effective batch (per-process batch x
    # accumulation steps x Horovod processes).
    num_train_steps = max(1, int(
        len(train_examples) / dist.effective_batch_size(cfg.train_batch_size)
        * cfg.num_train_epochs))
    num_warmup_steps = int(num_train_steps * cfg.warmup_proportion)

  model_fn = model_fn_lib.model_fn_builder(
      bert_config=bert_config, head=SpanHead(),
      init_checkpoint=cfg.init_checkpoint,
      learning_rate=dist.learning_rate(cfg.learning_rate),
      num_train_steps=num_train_steps, num_warmup_steps=num_warmup_steps,
      use_tpu=cfg.use_tpu, use_one_hot_embeddings=cfg.use_tpu,
      optimizer_kwargs=dist.optimizer_kwargs())
  estimator = dist.estimator(
      cfg, model_fn, train_batch_size=cfg.train_batch_size,
      predict_batch_size=cfg.predict_batch_size)

  if cfg.do_train:
    key = _feature_key(cfg, tokenizer, cfg.train_file, True)
    train_path = os.path.join(cfg.output_dir, "train-%s.tf_record" % key)
    if not dist.is_chief and not tf.io.gfile.exists(train_path):
      # Horovod ranks other than 0 write only into their scratch directory.
      train_path = os.path.join(dist.scratch_dir(), os.path.basename(
          train_path))
    if tf.io.gfile.exists(train_path):
      tf.logging.info("Reusing training features %s", train_path)
    else:
      _write_features(train_examples, tokenizer, cfg, train_path, True)
    tf.logging.info("***** Running training *****")
    tf.logging.info("  Num orig examples = %d, batch size = %d, steps = %d",
                    len(train_examples), cfg.train_batch_size,
                    num_train_steps)
    # With use_bucketing the span softmax runs over the batch's trimmed
    # length instead of max_seq_length (padding positions drop out of it).
    result["num_train_steps"] = num_train_steps
    result["train_summary"] = dist.train_on_records(
        estimator, cfg, [train_path],
        squad.name_to_features(cfg.max_seq_length, True), num_train_steps,
        use_bucketing=cfg.use_bucketing and not cfg.use_tpu)

  if not dist.is_chief:
    # Prediction, evaluation and export are rank 0's (Horovod).
    return result

  if cfg.do_predict or cfg.do_eval:
    eval_examples = squad.read_squad_examples(
        cfg.predict_file, is_training=False,
        version_2_with_negative=cfg.version_2_with_negative)
    eval_path = os.path.join(cfg.output_dir, "eval.tf_record")
    eval_features, num_features = _write_features(
        eval_examples, tokenizer, cfg, eval_path, False)
    tf.logging.info("***** Running predictions *****")
    tf.logging.info("  Num orig examples = %d, num split examples = %d",
                    len(eval_examples), num_features)
    # With use_bucketing each batch is trimmed to its longest window: the
    # logits of real tokens are unchanged, the padding's are simply absent
    # (write_predictions never picks padding positions anyway, though with
    # fixed padding they can take places in the n-best lists).
    input_fn = input_pipeline.file_based_input_fn_builder(
        [eval_path], squad.name_to_features(cfg.max_seq_length, False),
        is_training=False, drop_remainder=False,
        use_bucketing=cfg.use_bucketing and not cfg.use_tpu)
    hook = runtime.ThroughputHook(
        cfg.predict_batch_size, every_n_steps=cfg.log_every_n_steps,
        name="predict")
    all_results = []
    for prediction in estimator.predict(
        input_fn=runtime.bind_batch_size(input_fn, cfg.predict_batch_size,
                                         cfg.use_tpu),
        yield_single_examples=True, hooks=[hook]):
      if len(all_results) % 1000 == 0:
        tf.logging.info("Processing example: %d of %d", len(all_results),
                        num_features)
      all_results.append(squad.RawResult(
          unique_id=int(prediction["unique_ids"]),
          start_logits=[float(x) for x in prediction["start_logits"].flat],
          end_logits=[float(x) for x in prediction["end_logits"].flat]))
    result["predict_summary"] = hook.summary
    prediction_file = os.path.join(cfg.output_dir, "predictions.json")
    nbest_file = os.path.join(cfg.output_dir, "nbest_predictions.json")
    null_file = (os.path.join(cfg.output_dir, "null_odds.json")
                 if cfg.version_2_with_negative else None)
    predictions, _, null_odds = squad.write_predictions(
        eval_examples, eval_features, all_results, cfg.n_best_size,
        cfg.max_answer_length, cfg.do_lower_case, prediction_file, nbest_file,
        null_file, cfg.version_2_with_negative,
        cfg.null_score_diff_threshold, cfg.verbose_logging)
    result["predictions_file"] = prediction_file

    if cfg.do_eval:
      with tf.io.gfile.GFile(cfg.predict_file, "r") as f:
        dataset = json.load(f)
      if cfg.version_2_with_negative:
        metrics = squad_eval.evaluate_v2(dataset, predictions,
                                         na_probs=null_odds)
      else:
        metrics = squad_eval.evaluate_v1(dataset, predictions)
      input_pipeline.atomic_write_text(
          os.path.join(cfg.output_dir, "eval_results.json"),
          json.dumps(metrics, indent=2, sort_keys=True) + "\n")
      for k in sorted(metrics):
        tf.logging.info("  %s = %s", k, metrics[k])
      result["eval"] = metrics

  if cfg.export_dir:
    result["export_path"] = export_lib.export_saved_model(
        estimator, cfg.export_dir, cfg.max_seq_length,
        extra_int_features=("unique_ids",), vocab_file=cfg.vocab_file,
        do_lower_case=cfg.do_lower_case, task="squad")
  return result

"""Masked-LM + next-sentence pretraining driver (what run_pretraining.py calls).

Reads the TFRecords of `create_pretraining_data.py` (`input_ids`,
`input_mask`, `segment_ids`, `masked_lm_positions`, `masked_lm_ids`,
`masked_lm_weights`, `next_sentence_labels`), trains `BertModel` with the
`PretrainingHead` through the shared model_fn, resumes from the last
checkpoint in `output_dir`, and writes `eval_results.txt` with
`masked_lm_accuracy`, `masked_lm_loss`, `next_sentence_accuracy`,
`next_sentence_loss`.
"""

import dataclasses
import itertools
import os
from typing import Optional

import tensorflow.compat.v1 as tf

from bert_tf import distributed
from bert_tf import export as export_lib
from bert_tf import input_pipeline
from bert_tf import model_fn as model_fn_lib
from bert_tf import modeling
from bert_tf import runtime
from bert_tf.heads import PretrainingHead


def name_to_features(max_seq_length, max_predictions_per_seq):
  """The feature spec of pretraining TFRecords."""
  return {
      "input_ids": tf.io.FixedLenFeature([max_seq_length], tf.int64),
      "input_mask": tf.io.FixedLenFeature([max_seq_length], tf.int64),
      "segment_ids": tf.io.FixedLenFeature([max_seq_length], tf.int64),
      "masked_lm_positions": tf.io.FixedLenFeature([max_predictions_per_seq],
                                                   tf.int64),
      "masked_lm_ids": tf.io.FixedLenFeature([max_predictions_per_seq],
                                             tf.int64),
      "masked_lm_weights": tf.io.FixedLenFeature([max_predictions_per_seq],
                                                 tf.float32),
      "next_sentence_labels": tf.io.FixedLenFeature([1], tf.int64),
  }


@dataclasses.dataclass
class PretrainingConfig(distributed.ScaleConfig, runtime.TpuConfig,
                        runtime.RunSettings):
  """The run_pretraining.py flags, by the same names.

  The Horovod, precision, XLA and optimizer settings come from
  `distributed.ScaleConfig`, the TPU settings from `runtime.TpuConfig`,
  checkpointing, seed, export, logging and bucketing from
  `runtime.RunSettings` (all keyword-only).
  """
  input_file: str
  bert_config_file: str
  output_dir: str
  init_checkpoint: Optional[str] = None
  max_seq_length: int = 128
  max_predictions_per_seq: int = 20
  do_train: bool = False
  do_eval: bool = False
  train_batch_size: int = 32
  eval_batch_size: int = 8
  learning_rate: float = 5e-5
  num_train_steps: int = 100000
  num_warmup_steps: int = 10000
  max_eval_steps: int = 100
  eval_input_file: Optional[str] = None


def _check_record_shapes(path, max_seq_length, max_predictions_per_seq):
  """Fails early, naming the file, if its records do not fit the flags."""
  for record in itertools.islice(input_pipeline.iter_records(path), 1):
    feature = tf.train.Example.FromString(record).features.feature
    for name, want in (("input_ids", max_seq_length),
                       ("masked_lm_positions", max_predictions_per_seq)):
      if name not in feature:
        raise ValueError("%s: records lack the feature %r; is it a "
                         "create_pretraining_data.py output?" % (path, name))
      have = len(feature[name].int64_list.value)
      if have != want:
        flag = ("max_seq_length" if name == "input_ids"
                else "max_predictions_per_seq")
        raise ValueError(
            "%s: %s has length %d but --%s=%d; use the value the data was "
            "created with." % (path, name, have, flag, want))


def run(cfg):
  """Pretrains and/or evaluates as `cfg` asks; returns a dict of results."""
  runtime.set_verbosity()
  if not cfg.do_train and not cfg.do_eval:
    raise ValueError("At least one of `do_train` or `do_eval` must be True.")
  dist = distributed.setup(cfg)
  bert_config = modeling.BertConfig.from_json_file(cfg.bert_config_file)
  runtime.check_max_seq_length(cfg.max_seq_length, bert_config,
                               cfg.bert_config_file)
  if dist.is_chief:
    tf.io.gfile.makedirs(cfg.output_dir)
  input_files = input_pipeline.expand_file_patterns(cfg.input_file)
  tf.logging.info("*** Input Files *** %d file(s): %s", len(input_files),
                  ", ".join(input_files[:10]))
  _check_record_shapes(input_files[0], cfg.max_seq_length,
                       cfg.max_predictions_per_seq)

  model_fn = model_fn_lib.model_fn_builder(
      bert_config=bert_config,
      head=PretrainingHead(),
      init_checkpoint=cfg.init_checkpoint,
      learning_rate=dist.learning_rate(cfg.learning_rate),
      num_train_steps=cfg.num_train_steps,
      num_warmup_steps=cfg.num_warmup_steps,
      use_tpu=cfg.use_tpu,
      use_one_hot_embeddings=cfg.use_tpu,
      optimizer_kwargs=dist.optimizer_kwargs())
  estimator = dist.estimator(
      cfg, model_fn, train_batch_size=cfg.train_batch_size,
      eval_batch_size=cfg.eval_batch_size)
  spec = name_to_features(cfg.max_seq_length, cfg.max_predictions_per_seq)
  result = {}

  if cfg.do_train:
    tf.logging.info("***** Running training *****")
    tf.logging.info("  Batch size = %d, steps = %d (resuming from %s)",
                    cfg.train_batch_size, cfg.num_train_steps,
                    tf.train.latest_checkpoint(cfg.output_dir) or "scratch")
    input_fn = input_pipeline.file_based_input_fn_builder(
        input_files, spec, is_training=True, drop_remainder=True,
        seed=cfg.random_seed, shuffle_buffer=cfg.shuffle_buffer,
        use_bucketing=cfg.use_bucketing and not cfg.use_tpu,
        **dist.input_shard(len(input_files)))
    result["train_summary"] = dist.train(estimator, input_fn, cfg,
                                         cfg.num_train_steps)

  if not dist.is_chief:
    # Evaluation and export are rank 0's (Horovod).
    return result

  if cfg.do_eval:
    eval_files = input_files
    if cfg.eval_input_file:
      eval_files = input_pipeline.expand_file_patterns(cfg.eval_input_file)
    tf.logging.info("***** Running evaluation *****")
    input_fn = input_pipeline.file_based_input_fn_builder(
        eval_files, spec, is_training=False, drop_remainder=cfg.use_tpu,
        use_bucketing=cfg.use_bucketing and not cfg.use_tpu)
    metrics = estimator.evaluate(
        input_fn=runtime.bind_batch_size(input_fn, cfg.eval_batch_size,
                                         cfg.use_tpu),
        steps=cfg.max_eval_steps)
    clean = {k: (v.item() if hasattr(v, "item") else v)
             for k, v in metrics.items()}
    text = "".join("%s = %s\n" % (k, clean[k]) for k in sorted(clean))
    for k in sorted(clean):
      tf.logging.info("  %s = %s", k, clean[k])
    input_pipeline.atomic_write_text(
        os.path.join(cfg.output_dir, "eval_results.txt"), text)
    result["eval"] = clean

  if cfg.export_dir:
    # The pretraining heads need masked-LM inputs that serving does not have;
    # what is worth serving from a pretrained model is its encoder.
    result["export_path"] = export_lib.export_from_checkpoint(
        "encoder", cfg.bert_config_file, cfg.output_dir, cfg.export_dir,
        max_seq_length=cfg.max_seq_length)
  return result

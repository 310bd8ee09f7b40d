"""One process of the Horovod tests (tests/test_distributed.py).

Run by `horovodrun --gloo -np 2 -H localhost:2 python horovod_worker.py MODE
ARGS_JSON` (or called in-process for the one-process reference). Each mode
trains through the library's real path (`distributed.setup`, the shared
model_fn, `Context.estimator`, sharded `input_pipeline`, `Context.train`)
and saves what the test compares:

  step        a few updates of a tiny classifier from a fixed checkpoint on
              the records of one TFRecord file, read in order (no shuffling)
              and sharded by record; writes vars_rank<r>.npz (every global
              variable after training) and meta_rank<r>.json. With
              use_horovod false it is the one-process reference.
  classifier  `tasks.classifier.run` (what run_classifier.py calls) with
              the given ClassifierConfig fields; writes vars_rank<r>.npz and
              meta_rank<r>.json (result, model_dir and its files).
"""

import json
import os
import sys

import numpy as np
import tensorflow.compat.v1 as tf

from bert_tf import distributed
from bert_tf import input_pipeline
from bert_tf import model_fn as model_fn_lib
from bert_tf import modeling
from bert_tf import runtime
from bert_tf.heads import ClassificationHead
from bert_tf.tasks import classifier


class DumpVariablesHook(tf.train.SessionRunHook):
  """Saves every global variable's final value to an .npz file."""

  def __init__(self, path):
    self.path = path

  def end(self, session):
    variables = tf.global_variables()
    values = session.run(variables)
    np.savez(self.path, **{v.op.name: x for v, x in zip(variables, values)})


def no_dropout_classification_head(bert_config, model, features, is_training):
  """ClassificationHead(2) without its fixed 0.1 dropout (deterministic)."""
  del is_training
  return ClassificationHead(2)(bert_config, model, features, False)


def _model_dir_files(model_dir):
  if not os.path.isdir(model_dir):
    return []
  return sorted(os.listdir(model_dir))


def run_step(args):
  """Trains `updates` updates; returns the meta dict (also written)."""
  out = args["out_dir"]
  cfg = classifier.ClassifierConfig(
      task_name="unused", data_dir="unused",
      bert_config_file=args["config_file"], output_dir=args["model_dir"],
      train_batch_size=args["batch_size"], learning_rate=args["learning_rate"],
      save_checkpoints_steps=1000, log_every_n_steps=1000,
      use_horovod=args["use_horovod"],
      horovod_fp16_allreduce=args.get("fp16_allreduce", False),
      num_accumulation_steps=args["accumulation"],
      optimizer_type=args.get("optimizer_type", "adamw"))
  runtime.set_verbosity()
  dist = distributed.setup(cfg)
  bert_config = modeling.BertConfig.from_json_file(args["config_file"])
  optimizer_kwargs = dist.optimizer_kwargs()
  # No clipping: the tiny model's gradient norm may pass 1, and clipping
  # would hide a gradient that is off by a constant factor.
  optimizer_kwargs["clip_norm"] = 1e6
  model_fn = model_fn_lib.model_fn_builder(
      bert_config, no_dropout_classification_head,
      init_checkpoint=args["init_checkpoint"],
      learning_rate=dist.learning_rate(cfg.learning_rate),
      num_train_steps=100, num_warmup_steps=0,
      optimizer_kwargs=optimizer_kwargs)
  estimator = dist.estimator(cfg, model_fn,
                             train_batch_size=cfg.train_batch_size)
  input_fn = input_pipeline.file_based_input_fn_builder(
      [args["record_file"]],
      classifier.name_to_features(args["seq_length"]), is_training=False,
      drop_remainder=True, **dist.input_shard(1))
  dump = os.path.join(out, "vars_rank%d.npz" % dist.rank)
  summary = dist.train(estimator, input_fn, cfg, args["updates"],
                       extra_hooks=[DumpVariablesHook(dump)])
  meta = {"rank": dist.rank, "size": dist.size,
          "model_dir": estimator.model_dir,
          "model_dir_files": _model_dir_files(estimator.model_dir),
          "train_steps": summary["steps"] if summary else None}
  with open(os.path.join(out, "meta_rank%d.json" % dist.rank), "w") as f:
    json.dump(meta, f)
  return meta


def run_classifier(args):
  """classifier.run(ClassifierConfig(**args["cfg"])) with a variable dump."""
  out = args["out_dir"]
  seen = {}
  original_train = distributed.Context.train

  def train(self, estimator, input_fn, cfg, max_steps, extra_hooks=None):
    seen["rank"] = self.rank
    seen["model_dir"] = estimator.model_dir
    hooks = list(extra_hooks or []) + [DumpVariablesHook(
        os.path.join(out, "vars_rank%d.npz" % self.rank))]
    summary = original_train(self, estimator, input_fn, cfg, max_steps,
                             extra_hooks=hooks)
    seen["model_dir_files"] = _model_dir_files(estimator.model_dir)
    return summary

  distributed.Context.train = train
  try:
    result = classifier.run(classifier.ClassifierConfig(**args["cfg"]))
  finally:
    distributed.Context.train = original_train
  meta = dict(seen)
  meta["result_keys"] = sorted(result)
  meta["eval"] = result.get("eval")
  meta["num_train_steps"] = result.get("num_train_steps")
  meta["stopped_early"] = result.get("stopped_early")
  meta["history_steps"] = [r["global_step"]
                           for r in result.get("eval_history") or []]
  with open(os.path.join(out, "meta_rank%d.json" % seen["rank"]), "w") as f:
    json.dump(meta, f)
  return meta


def main(argv):
  """`MODE ARGS_JSON`; ARGS_JSON may be a list: one run after the other.

  A run with "only_rank": r runs on that rank alone (a one-process reference
  with use_horovod false, run beside the other rank's).
  """
  mode, args = argv[1], json.loads(argv[2])
  rank = int(os.environ.get("HOROVOD_RANK", "0"))
  for one in args if isinstance(args, list) else [args]:
    if one.get("only_rank", rank) != rank:
      continue
    {"step": run_step, "classifier": run_classifier}[mode](one)


if __name__ == "__main__":
  main(sys.argv)

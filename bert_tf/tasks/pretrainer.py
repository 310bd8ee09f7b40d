"""Masked-LM + next-sentence pretraining as a plug-in of `bert_tf.driver`.

Reads the TFRecords of `create_pretraining_data.py` (`input_ids`,
`input_mask`, `segment_ids`, `masked_lm_positions`, `masked_lm_ids`,
`masked_lm_weights`, `next_sentence_labels`), trains `BertModel` with the
`PretrainingHead`, resumes from the last checkpoint in `output_dir`, and
writes `eval_results.txt` with `masked_lm_accuracy`, `masked_lm_loss`,
`next_sentence_accuracy`, `next_sentence_loss`. The schedule counts updates
(`--num_train_steps`), as the reference's run_pretraining.py does.

`run(PretrainingConfig(...))` is what `run_pretraining.py` calls.
"""

import dataclasses
from typing import Optional

import tensorflow.compat.v1 as tf

from bert_tf import distributed
from bert_tf import driver
from bert_tf import export as export_lib
from bert_tf import input_pipeline
from bert_tf import runtime
from bert_tf.heads import PretrainingHead
from bert_tf.settings import setting


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


@dataclasses.dataclass(kw_only=True)
class PretrainingConfig(driver.ModelSettings, driver.TrainSettings,
                        driver.StepSchedule, driver.EvalDuringTraining,
                        distributed.ScaleConfig, runtime.TpuConfig,
                        runtime.RunSettings):
  """The run_pretraining.py settings (each defines its flag, same name)."""
  input_file: Optional[str] = setting(
      None, "Input TF example files (can be a glob or comma separated).",
      required=True)
  eval_input_file: Optional[str] = setting(
      None, "Optional held-out TF example files for --do_eval and "
      "--eval_every_steps (default: --input_file).")
  max_predictions_per_seq: int = setting(
      20, "Maximum number of masked LM predictions per sequence. Must match "
      "data generation.")
  eval_batch_size: int = setting(8, "Total batch size for eval.")
  max_eval_steps: int = setting(100, "Maximum number of eval steps.")


class PretrainingTask(driver.Task):
  """Masked LM and next-sentence prediction."""
  name = "pretraining"
  default_metric = "masked_lm_accuracy"
  produced_by = "create_pretraining_data.py"
  length_settings = dict(
      driver.Task.length_settings,
      masked_lm_positions="max_predictions_per_seq",
      masked_lm_ids="max_predictions_per_seq",
      masked_lm_weights="max_predictions_per_seq")

  def validate(self, run):
    if getattr(run.cfg, "do_predict", False):
      raise ValueError("run_pretraining.py has no prediction mode.")
    if not run.cfg.input_file:
      raise ValueError("--input_file is required.")

  def prepare(self, run):
    cfg = run.cfg
    self.input_files = input_pipeline.expand_file_patterns(cfg.input_file)
    tf.logging.info("*** Input Files *** %d file(s): %s",
                    len(self.input_files), ", ".join(self.input_files[:10]))
    self.eval_files = self.input_files
    if cfg.eval_input_file:
      self.eval_files = input_pipeline.expand_file_patterns(
          cfg.eval_input_file)
    # Checked on every run, also without training: a text file or records
    # of other settings fail here, naming the file.
    run.check_records(self.input_files, self.spec(run))
    if cfg.eval_input_file:
      run.check_records(self.eval_files, self.spec(run))

  def spec(self, run):
    return name_to_features(run.cfg.max_seq_length,
                            run.cfg.max_predictions_per_seq)

  def head(self, run):
    return PretrainingHead()

  def train_records(self, run):
    return self.input_files, self.spec(run)

  def evaluate(self, run, estimator, checkpoint_path=None, final=True):
    cfg = run.cfg
    tf.logging.info("***** Running evaluation *****")
    metrics = run.evaluate_records(
        estimator, self.eval_files, self.spec(run), cfg.eval_batch_size,
        steps=cfg.max_eval_steps, checkpoint_path=checkpoint_path)
    if final:
      run.write_results("eval_results.txt", metrics)
    return metrics

  def export(self, run, estimator, export_dir, checkpoint_path=None):
    # The pretraining heads need masked-LM inputs that serving does not
    # have; what is worth serving from a pretrained model is its encoder.
    return export_lib.export_from_checkpoint(
        "encoder", run.cfg.bert_config_file,
        checkpoint_path or run.cfg.output_dir, export_dir,
        max_seq_length=run.cfg.max_seq_length)


def run(cfg):
  """Pretrains and/or evaluates as `cfg` asks; returns a dict of results."""
  return driver.run(PretrainingTask(), cfg)

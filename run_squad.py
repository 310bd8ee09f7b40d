"""BERT fine-tuning and prediction on SQuAD 1.1 and 2.0.

The reference's command line runs unchanged, e.g.

  python run_squad.py --vocab_file=$BERT_BASE_DIR/vocab.txt \
    --bert_config_file=$BERT_BASE_DIR/bert_config.json \
    --init_checkpoint=$BERT_BASE_DIR/bert_model.ckpt --do_train=True \
    --train_file=$SQUAD_DIR/train-v1.1.json --do_predict=True \
    --predict_file=$SQUAD_DIR/dev-v1.1.json --train_batch_size=12 \
    --learning_rate=3e-5 --num_train_epochs=2.0 --max_seq_length=384 \
    --doc_stride=128 --output_dir=/tmp/squad_base/

Add --do_eval to score predictions against --predict_file with the official
SQuAD definitions (eval_results.json); --version_2_with_negative for 2.0.
"""

if __name__ == "__main__":
  # A command-line run: its process settings before TensorFlow loads.
  from bert_tf import script_env
  script_env.configure()

from absl import flags

from bert_tf import flags as bert_flags
from bert_tf import heads
from bert_tf import input_pipeline
from bert_tf import model_fn as model_fn_lib
from bert_tf import modeling
from bert_tf import tokenization
from bert_tf.tasks import squad
from bert_tf.tasks import squad_runner

bert_flags.define_config_flags(squad_runner.SquadConfig)

# Flags of the other scripts, refused here with what to use instead.
REFUSALS = dict(
    bert_flags.epoch_script_refusals("run_squad.py"),
    eval_batch_size=("run_squad.py scores its predictions: use "
                     "--predict_batch_size."),
    data_dir="give --train_file and --predict_file.",
    task_name=("run_squad.py has one task; for classification use "
               "run_classifier.py."))


def main(_):
  squad_runner.run(bert_flags.config_from_flags(squad_runner.SquadConfig))


# ---------------------------------------------------------------------------
# The reference's module API: `import run_squad` as in Google's BERT. Thin
# re-exports of bert_tf, with the reference's names and signatures. Where the
# reference reads FLAGS inside (version_2_with_negative, verbose_logging,
# null_score_diff_threshold) these take keyword arguments with its defaults.

SquadExample = squad.SquadExample
InputFeatures = squad.InputFeatures
read_squad_examples = squad.read_squad_examples
convert_examples_to_features = squad.convert_examples_to_features
_improve_answer_span = squad.improve_answer_span
_check_is_max_context = squad.check_is_max_context
RawResult = squad.RawResult
write_predictions = squad.write_predictions
get_final_text = squad.get_final_text
_get_best_indexes = squad.get_best_indexes
_compute_softmax = squad.compute_softmax
FeatureWriter = squad.FeatureWriter


def create_model(bert_config, is_training, input_ids, input_mask, segment_ids,
                 use_one_hot_embeddings):
  """Builds BertModel and the span layer; returns (start_logits,
  end_logits), each float32 [batch_size, seq_length]."""
  model = modeling.BertModel(
      config=bert_config, is_training=is_training, input_ids=input_ids,
      input_mask=input_mask, token_type_ids=segment_ids,
      use_one_hot_embeddings=use_one_hot_embeddings)
  return heads.create_span_logits(bert_config, model.get_sequence_output())


def model_fn_builder(bert_config, init_checkpoint, learning_rate,
                     num_train_steps, num_warmup_steps, use_tpu,
                     use_one_hot_embeddings):
  """The SQuAD model_fn for (TPU)Estimator: predictions hold "unique_ids",
  "start_logits" and "end_logits"."""
  return model_fn_lib.model_fn_builder(
      bert_config, heads.SpanHead(), init_checkpoint=init_checkpoint,
      learning_rate=learning_rate, num_train_steps=num_train_steps,
      num_warmup_steps=num_warmup_steps, use_tpu=use_tpu,
      use_one_hot_embeddings=use_one_hot_embeddings)


def input_fn_builder(input_file, seq_length, is_training, drop_remainder):
  """An input_fn(params) over the TFRecords of a `FeatureWriter`;
  params["batch_size"] is the batch size. Training shuffles and repeats."""

  def input_fn(params):
    return input_pipeline.file_based_input_fn_builder(
        [input_file], squad.name_to_features(seq_length, is_training),
        is_training, drop_remainder)(params)

  return input_fn


def validate_flags_or_throw(bert_config, cfg=None):
  """Raises ValueError for inconsistent settings, as the reference does.

  Args:
    bert_config: `modeling.BertConfig`.
    cfg: the settings to check (anything with the flags' attributes, e.g. a
      `SquadConfig`); default the parsed flags of this script.
  """
  cfg = flags.FLAGS if cfg is None else cfg
  tokenization.validate_case_matches_checkpoint(cfg.do_lower_case,
                                                cfg.init_checkpoint)
  if not cfg.do_train and not cfg.do_predict:
    raise ValueError("At least one of `do_train` or `do_predict` must be True.")
  if cfg.do_train and not cfg.train_file:
    raise ValueError(
        "If `do_train` is True, then `train_file` must be specified.")
  if cfg.do_predict and not cfg.predict_file:
    raise ValueError(
        "If `do_predict` is True, then `predict_file` must be specified.")
  if cfg.max_seq_length > bert_config.max_position_embeddings:
    raise ValueError(
        "Cannot use sequence length %d because the BERT model was only "
        "trained up to sequence length %d" %
        (cfg.max_seq_length, bert_config.max_position_embeddings))
  if cfg.max_seq_length <= cfg.max_query_length + 3:
    raise ValueError(
        "The max_seq_length (%d) must be greater than max_query_length "
        "(%d) + 3" % (cfg.max_seq_length, cfg.max_query_length))


if __name__ == "__main__":
  bert_flags.mark_required_flags(squad_runner.SquadConfig)
  bert_flags.mark_required_flags_by_name(["vocab_file"])
  bert_flags.run_main(main, refusals=REFUSALS)

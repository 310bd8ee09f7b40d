"""The reference's module API: Google's scripts imported as modules.

Third-party code does `import run_classifier` (or run_squad,
create_pretraining_data, run_pretraining, extract_features, modeling,
tokenization, optimization) and calls the reference's functions with the
reference's positional arguments. Every public name of the reference's files
must exist here with its signature, and behave as the reference's does.
"""

import inspect
import json
import os
import random
import subprocess
import sys
import types

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from bert_tf import modeling
from bert_tf import optimization
from bert_tf import tokenization
import serving_helpers as helpers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

# pylint: disable=g-import-not-at-top,wrong-import-position
import create_pretraining_data
import extract_features
import run_classifier
import run_pretraining
import run_squad
# pylint: enable=g-import-not-at-top,wrong-import-position

# name -> the reference's leading parameters (None: a class or a constant).
REFERENCE_API = {
    run_classifier: {
        "InputExample": ["guid", "text_a", "text_b", "label"],
        "PaddingInputExample": None,
        "InputFeatures": ["input_ids", "input_mask", "segment_ids",
                          "label_id", "is_real_example"],
        "DataProcessor": None, "XnliProcessor": None, "MnliProcessor": None,
        "MrpcProcessor": None, "ColaProcessor": None,
        "convert_single_example": ["ex_index", "example", "label_list",
                                   "max_seq_length", "tokenizer"],
        "file_based_convert_examples_to_features": [
            "examples", "label_list", "max_seq_length", "tokenizer",
            "output_file"],
        "file_based_input_fn_builder": ["input_file", "seq_length",
                                        "is_training", "drop_remainder"],
        "_truncate_seq_pair": ["tokens_a", "tokens_b", "max_length"],
        "create_model": ["bert_config", "is_training", "input_ids",
                         "input_mask", "segment_ids", "labels", "num_labels",
                         "use_one_hot_embeddings"],
        "model_fn_builder": ["bert_config", "num_labels", "init_checkpoint",
                             "learning_rate", "num_train_steps",
                             "num_warmup_steps", "use_tpu",
                             "use_one_hot_embeddings"],
        "input_fn_builder": ["features", "seq_length", "is_training",
                             "drop_remainder"],
        "convert_examples_to_features": ["examples", "label_list",
                                         "max_seq_length", "tokenizer"],
    },
    run_squad: {
        "SquadExample": ["qas_id", "question_text", "doc_tokens",
                         "orig_answer_text", "start_position", "end_position",
                         "is_impossible"],
        "InputFeatures": ["unique_id", "example_index", "doc_span_index",
                          "tokens", "token_to_orig_map",
                          "token_is_max_context", "input_ids", "input_mask",
                          "segment_ids", "start_position", "end_position",
                          "is_impossible"],
        "read_squad_examples": ["input_file", "is_training"],
        "convert_examples_to_features": [
            "examples", "tokenizer", "max_seq_length", "doc_stride",
            "max_query_length", "is_training", "output_fn"],
        "_improve_answer_span": ["doc_tokens", "input_start", "input_end",
                                 "tokenizer", "orig_answer_text"],
        "_check_is_max_context": ["doc_spans", "cur_span_index", "position"],
        "create_model": ["bert_config", "is_training", "input_ids",
                         "input_mask", "segment_ids",
                         "use_one_hot_embeddings"],
        "model_fn_builder": ["bert_config", "init_checkpoint",
                             "learning_rate", "num_train_steps",
                             "num_warmup_steps", "use_tpu",
                             "use_one_hot_embeddings"],
        "input_fn_builder": ["input_file", "seq_length", "is_training",
                             "drop_remainder"],
        "RawResult": None,
        "write_predictions": [
            "all_examples", "all_features", "all_results", "n_best_size",
            "max_answer_length", "do_lower_case", "output_prediction_file",
            "output_nbest_file", "output_null_log_odds_file"],
        "get_final_text": ["pred_text", "orig_text", "do_lower_case"],
        "_get_best_indexes": ["logits", "n_best_size"],
        "_compute_softmax": ["scores"],
        "FeatureWriter": ["filename", "is_training"],
        "validate_flags_or_throw": ["bert_config"],
    },
    create_pretraining_data: {
        "TrainingInstance": ["tokens", "segment_ids", "masked_lm_positions",
                             "masked_lm_labels", "is_random_next"],
        "write_instance_to_example_files": [
            "instances", "tokenizer", "max_seq_length",
            "max_predictions_per_seq", "output_files"],
        "create_int_feature": ["values"],
        "create_float_feature": ["values"],
        "create_training_instances": [
            "input_files", "tokenizer", "max_seq_length", "dupe_factor",
            "short_seq_prob", "masked_lm_prob", "max_predictions_per_seq",
            "rng"],
        "create_instances_from_document": [
            "all_documents", "document_index", "max_seq_length",
            "short_seq_prob", "masked_lm_prob", "max_predictions_per_seq",
            "vocab_words", "rng"],
        "MaskedLmInstance": None,
        "create_masked_lm_predictions": [
            "tokens", "masked_lm_prob", "max_predictions_per_seq",
            "vocab_words", "rng"],
        "truncate_seq_pair": ["tokens_a", "tokens_b", "max_num_tokens", "rng"],
    },
    run_pretraining: {
        "model_fn_builder": ["bert_config", "init_checkpoint",
                             "learning_rate", "num_train_steps",
                             "num_warmup_steps", "use_tpu",
                             "use_one_hot_embeddings"],
        "get_masked_lm_output": ["bert_config", "input_tensor",
                                 "output_weights", "positions", "label_ids",
                                 "label_weights"],
        "get_next_sentence_output": ["bert_config", "input_tensor", "labels"],
        "gather_indexes": ["sequence_tensor", "positions"],
        "input_fn_builder": ["input_files", "max_seq_length",
                             "max_predictions_per_seq", "is_training",
                             "num_cpu_threads"],
        "_decode_record": ["record", "name_to_features"],
    },
    extract_features: {
        "InputExample": ["unique_id", "text_a", "text_b"],
        "InputFeatures": ["unique_id", "tokens", "input_ids", "input_mask",
                          "input_type_ids"],
        "input_fn_builder": ["features", "seq_length"],
        "model_fn_builder": ["bert_config", "init_checkpoint",
                             "layer_indexes", "use_tpu",
                             "use_one_hot_embeddings"],
        "convert_examples_to_features": ["examples", "seq_length",
                                         "tokenizer"],
        "_truncate_seq_pair": ["tokens_a", "tokens_b", "max_length"],
        "read_examples": ["input_file"],
    },
    modeling: dict.fromkeys([
        "BertConfig", "BertModel", "gelu", "get_activation",
        "get_assignment_map_from_checkpoint", "dropout", "layer_norm",
        "layer_norm_and_dropout", "create_initializer", "embedding_lookup",
        "embedding_postprocessor", "create_attention_mask_from_input_mask",
        "attention_layer", "transformer_model", "get_shape_list",
        "reshape_to_matrix", "reshape_from_matrix", "assert_rank"]),
    tokenization: dict.fromkeys([
        "validate_case_matches_checkpoint", "convert_to_unicode",
        "printable_text", "load_vocab", "convert_by_vocab",
        "convert_tokens_to_ids", "convert_ids_to_tokens",
        "whitespace_tokenize", "FullTokenizer", "BasicTokenizer",
        "WordpieceTokenizer", "_is_whitespace", "_is_control",
        "_is_punctuation"]),
    optimization: dict.fromkeys(["create_optimizer",
                                 "AdamWeightDecayOptimizer"]),
}


def _params(obj):
  target = obj.__init__ if inspect.isclass(obj) else obj
  names = list(inspect.signature(target).parameters)
  return names[1:] if inspect.isclass(obj) else names


@pytest.mark.parametrize("module", list(REFERENCE_API),
                         ids=lambda m: m.__name__.split(".")[-1])
def test_every_reference_name_with_its_signature(module):
  for name, params in REFERENCE_API[module].items():
    assert hasattr(module, name), "%s.%s is missing" % (module.__name__, name)
    if params is not None:
      got = _params(getattr(module, name))
      assert got[:len(params)] == params, (module.__name__, name, got)
      # Parameters beyond the reference's have defaults: its calls work.
      extra = inspect.signature(
          getattr(module, name).__init__ if inspect.isclass(
              getattr(module, name)) else getattr(module, name)
      ).parameters
      for extra_name in got[len(params):]:
        assert extra[extra_name].default is not inspect.Parameter.empty, (
            module.__name__, name, extra_name)


def test_tokenization_and_optimization_private_helpers():
  basic = tokenization.BasicTokenizer(do_lower_case=True)
  assert basic._run_strip_accents("h\u00e9llo") == "hello"
  assert basic._run_split_on_punc("hi!there") == ["hi", "!", "there"]
  assert basic._tokenize_chinese_chars("a\u4e2db") == "a \u4e2d b"
  assert basic._is_chinese_char(ord("\u4e2d"))
  assert not basic._is_chinese_char(ord("a"))
  assert basic._clean_text("a\x00b\tc") == "ab c"
  opt = optimization.AdamWeightDecayOptimizer(learning_rate=0.1)
  assert opt._get_variable_name("bert/pooler/dense/kernel:0") == (
      "bert/pooler/dense/kernel")
  assert opt._get_variable_name("no_suffix") == "no_suffix"


def _dataset_rows(input_fn, batch_size):
  return [{k: v.numpy() for k, v in batch.items()}
          for batch in input_fn({"batch_size": batch_size})]


def test_run_classifier_as_a_module(tmp_path):
  tiny = helpers.make_tiny_model(tmp_path / "m", num_labels=2,
                                 span_head=False, with_global_step=False)
  data_dir = tmp_path / "cola"
  data_dir.mkdir()
  rows = ["gj04\t1\t\tthe dog runs fast .", "gj04\t0\t*\tdog the fast runs .",
          "gj04\t1\t\ti love this movie .", "gj04\t0\t*\tmovie this love i ."]
  (data_dir / "train.tsv").write_text("\n".join(rows) + "\n")
  processor = run_classifier.ColaProcessor()
  label_list = processor.get_labels()
  examples = processor.get_train_examples(str(data_dir))
  assert [e.label for e in examples] == ["1", "0", "1", "0"]
  tokenizer = tokenization.FullTokenizer(tiny.vocab_file, True)
  seq = 16

  feature = run_classifier.convert_single_example(0, examples[0], label_list,
                                                  seq, tokenizer)
  assert feature.input_ids[:2] == [2, tokenizer.vocab["the"]]
  assert len(feature.input_ids) == seq and feature.label_id == 1
  pad = run_classifier.convert_single_example(
      1, run_classifier.PaddingInputExample(), label_list, seq, tokenizer)
  assert not pad.is_real_example and pad.input_ids == [0] * seq

  record = str(tmp_path / "train.tf_record")
  run_classifier.file_based_convert_examples_to_features(
      examples, label_list, seq, tokenizer, record)
  # The reference's positional arguments; params carry the batch size.
  batches = _dataset_rows(
      run_classifier.file_based_input_fn_builder(record, seq, False, False), 3)
  assert [b["input_ids"].shape for b in batches] == [(3, seq), (1, seq)]
  assert batches[0]["label_ids"].tolist() == [1, 0, 1]

  features = run_classifier.convert_examples_to_features(
      examples, label_list, seq, tokenizer)
  in_memory = _dataset_rows(
      run_classifier.input_fn_builder(features, seq, False, True), 2)
  assert len(in_memory) == 2
  np.testing.assert_array_equal(in_memory[0]["input_ids"],
                                batches[0]["input_ids"][:2])

  tokens_a, tokens_b = list("abcdef"), list("xy")
  run_classifier._truncate_seq_pair(tokens_a, tokens_b, 5)
  assert (tokens_a, tokens_b) == (list("abc"), list("xy"))

  with tf.Graph().as_default():
    ids = tf.constant([feature.input_ids], tf.int32)
    loss, per_example, logits, probs = run_classifier.create_model(
        tiny.bert_config, False, ids, tf.ones_like(ids), tf.zeros_like(ids),
        tf.constant([1]), 2, False)
    assert per_example.shape.as_list() == [1]
    assert logits.shape.as_list() == probs.shape.as_list() == [1, 2]
    assert loss.shape.as_list() == []

  model_fn = run_classifier.model_fn_builder(
      tiny.bert_config, 2, tiny.checkpoint, 1e-3, 2, 0, False, False)
  estimator = tf.estimator.Estimator(
      model_fn, model_dir=str(tmp_path / "out"),
      params={"batch_size": 2})
  train_fn = run_classifier.file_based_input_fn_builder(record, seq, True,
                                                        True)
  estimator.train(lambda params: train_fn(params), max_steps=2)
  results = estimator.evaluate(
      run_classifier.file_based_input_fn_builder(record, seq, False, False))
  assert {"eval_accuracy", "eval_loss"} <= set(results)
  predictions = list(estimator.predict(
      run_classifier.input_fn_builder(features, seq, False, False)))
  assert len(predictions) == 4
  np.testing.assert_allclose(
      [p["probabilities"].sum() for p in predictions], 1.0, rtol=1e-5)


def _squad_json(path):
  context = "the dog runs fast and the cat ran slow ."
  data = {"version": "1.1", "data": [{"title": "t", "paragraphs": [{
      "context": context,
      "qas": [{"id": "q1", "question": "how is the dog ?",
               "answers": [{"text": "fast", "answer_start":
                            context.index("fast")}]},
              {"id": "q2", "question": "what ran ?",
               "answers": [{"text": "the cat", "answer_start":
                            context.index("the cat")}]}]}]}]}
  path.write_text(json.dumps(data))
  return str(path)


def test_run_squad_as_a_module(tmp_path):
  tiny = helpers.make_tiny_model(tmp_path / "m", with_global_step=False)
  tokenizer = tokenization.FullTokenizer(tiny.vocab_file, True)
  squad_file = _squad_json(tmp_path / "squad.json")
  examples = run_squad.read_squad_examples(squad_file, True)
  assert [e.orig_answer_text for e in examples] == ["fast", "the cat"]
  assert examples[0].doc_tokens[examples[0].start_position] == "fast"

  seq = 24
  record = str(tmp_path / "train.tf_record")
  writer = run_squad.FeatureWriter(filename=record, is_training=True)
  features = []

  def append_feature(feature):
    features.append(feature)
    writer.process_feature(feature)

  run_squad.convert_examples_to_features(
      examples=examples, tokenizer=tokenizer, max_seq_length=seq,
      doc_stride=8, max_query_length=8, is_training=True,
      output_fn=append_feature)
  writer.close()
  assert writer.num_features == len(features) >= 2
  first = features[0]
  assert first.tokens[first.start_position] == "fast"

  batches = _dataset_rows(
      run_squad.input_fn_builder(record, seq, False, False), 8)
  assert batches[0]["input_ids"].shape == (len(features), seq)
  assert "start_positions" not in batches[0]  # read only for training
  training = next(iter(run_squad.input_fn_builder(record, seq, True, True)(
      {"batch_size": len(features)})))
  assert first.start_position in training["start_positions"].numpy()

  doc_span = run_squad.squad.DocSpan
  spans = [doc_span(start=0, length=5), doc_span(start=3, length=5)]
  assert run_squad._check_is_max_context(spans, 0, 1)
  assert not run_squad._check_is_max_context(spans, 0, 4)
  assert run_squad._check_is_max_context(spans, 1, 4)
  assert run_squad._get_best_indexes([0.1, 3.0, 2.0, -1.0], 2) == [1, 2]
  np.testing.assert_allclose(run_squad._compute_softmax([0.0, 0.0]),
                             [0.5, 0.5])
  assert run_squad.get_final_text("the cat", "The cat,", True) == "The cat"

  with tf.Graph().as_default():
    ids = tf.constant([features[0].input_ids], tf.int32)
    start_logits, end_logits = run_squad.create_model(
        tiny.bert_config, False, ids, tf.ones_like(ids), tf.zeros_like(ids),
        False)
    assert start_logits.shape.as_list() == end_logits.shape.as_list() == [
        1, seq]

  model_fn = run_squad.model_fn_builder(tiny.bert_config, tiny.checkpoint,
                                        1e-3, 1, 0, False, False)
  estimator = tf.estimator.Estimator(model_fn,
                                     model_dir=str(tmp_path / "out"))
  train_fn = run_squad.input_fn_builder(record, seq, True, True)
  estimator.train(lambda: train_fn({"batch_size": 2}), max_steps=1)
  predict_record = str(tmp_path / "predict.tf_record")
  eval_examples = run_squad.read_squad_examples(squad_file, False)
  eval_features = []
  with run_squad.FeatureWriter(predict_record, False) as predict_writer:
    def keep(feature):
      eval_features.append(feature)
      predict_writer.process_feature(feature)
    run_squad.convert_examples_to_features(eval_examples, tokenizer, seq, 8,
                                           8, False, keep)
  predict_fn = run_squad.input_fn_builder(predict_record, seq, False, False)
  results = [run_squad.RawResult(unique_id=int(r["unique_ids"]),
                                 start_logits=r["start_logits"].tolist(),
                                 end_logits=r["end_logits"].tolist())
             for r in estimator.predict(lambda: predict_fn({"batch_size": 4}))]
  prediction_file = tmp_path / "predictions.json"
  nbest_file = tmp_path / "nbest_predictions.json"
  run_squad.write_predictions(eval_examples, eval_features, results, 5, 10,
                              True, str(prediction_file), str(nbest_file),
                              str(tmp_path / "null_odds.json"))
  predictions = json.loads(prediction_file.read_text())
  assert sorted(predictions) == ["q1", "q2"]
  assert all(isinstance(v, str) for v in predictions.values())

  cfg = types.SimpleNamespace(
      do_lower_case=True, init_checkpoint=None, do_train=True,
      do_predict=False, train_file=None, predict_file=None,
      max_seq_length=seq, max_query_length=8)
  with pytest.raises(ValueError, match="train_file"):
    run_squad.validate_flags_or_throw(tiny.bert_config, cfg)
  cfg.train_file = squad_file
  run_squad.validate_flags_or_throw(tiny.bert_config, cfg)
  cfg.max_query_length = seq
  with pytest.raises(ValueError, match="max_query_length"):
    run_squad.validate_flags_or_throw(tiny.bert_config, cfg)


def test_create_pretraining_data_and_run_pretraining_as_modules(tmp_path):
  tiny = helpers.make_tiny_model(tmp_path / "m", with_global_step=False)
  tokenizer = tokenization.FullTokenizer(tiny.vocab_file, True)
  text = tmp_path / "corpus.txt"
  text.write_text("the dog runs fast .\nthe cat ran slow .\ni love this "
                  "movie .\n\nhello world .\nhow are you ?\nthe book is "
                  "good .\n")
  seq, max_pred = 16, 3
  instances = create_pretraining_data.create_training_instances(
      [str(text)], tokenizer, seq, 2, 0.1, 0.15, max_pred, random.Random(3))
  assert instances and all(
      isinstance(i, create_pretraining_data.TrainingInstance)
      for i in instances)
  assert all(len(i.tokens) <= seq and i.tokens[0] == "[CLS]"
             for i in instances)
  record = str(tmp_path / "pretrain.tf_record")
  written = create_pretraining_data.write_instance_to_example_files(
      instances, tokenizer, seq, max_pred, [record])
  assert written == len(instances)

  tokens = ["[CLS]", "the", "dog", "runs", "[SEP]", "a", "cat", "[SEP]"]
  output, positions, labels = (
      create_pretraining_data.create_masked_lm_predictions(
          tokens, 0.15, max_pred, list(tokenizer.vocab), random.Random(1)))
  assert len(output) == len(tokens) and 1 <= len(positions) <= max_pred
  assert labels == [tokens[p] for p in positions]
  a, b = list("abcdef"), list("xyz")
  create_pretraining_data.truncate_seq_pair(a, b, 5, random.Random(0))
  assert len(a) + len(b) == 5
  feature = create_pretraining_data.create_int_feature([1, 2])
  assert list(feature.int64_list.value) == [1, 2]
  feature = create_pretraining_data.create_float_feature([0.5])
  assert list(feature.float_list.value) == [0.5]

  for is_training in (True, False):
    input_fn = run_pretraining.input_fn_builder([record], seq, max_pred,
                                                is_training)
    batch = next(iter(input_fn({"batch_size": 2})))
    assert batch["masked_lm_ids"].shape == (2, max_pred)
    assert batch["input_ids"].dtype == tf.int32

  with tf.Graph().as_default():
    sequence = tf.reshape(tf.range(2 * 3 * 2, dtype=tf.float32), [2, 3, 2])
    gathered = run_pretraining.gather_indexes(sequence,
                                              tf.constant([[0], [2]]))
    with tf.Session() as sess:
      assert sess.run(gathered).tolist() == [[0.0, 1.0], [10.0, 11.0]]

  model_fn = run_pretraining.model_fn_builder(
      tiny.bert_config, tiny.checkpoint, 1e-3, 1, 0, False, False)
  estimator = tf.estimator.Estimator(model_fn,
                                     model_dir=str(tmp_path / "out"))
  train_fn = run_pretraining.input_fn_builder([record], seq, max_pred, True)
  estimator.train(lambda: train_fn({"batch_size": 2}), max_steps=1)
  eval_fn = run_pretraining.input_fn_builder([record], seq, max_pred, False)
  results = estimator.evaluate(lambda: eval_fn({"batch_size": 2}), steps=3)
  assert {"masked_lm_accuracy", "masked_lm_loss", "next_sentence_accuracy",
          "next_sentence_loss"} <= set(results)


def test_extract_features_as_a_module(tmp_path):
  tiny = helpers.make_tiny_model(tmp_path / "m", with_global_step=False)
  tokenizer = tokenization.FullTokenizer(tiny.vocab_file, True)
  input_file = tmp_path / "input.txt"
  input_file.write_text("the dog runs fast .\nhello world ||| how are you ?\n")
  examples = extract_features.read_examples(str(input_file))
  assert [(e.unique_id, e.text_b) for e in examples] == [
      (0, None), (1, "how are you ?")]
  seq = 12
  features = extract_features.convert_examples_to_features(examples, seq,
                                                           tokenizer)
  assert features[1].input_type_ids[:10].count(1) == 5  # how are you ? [SEP]
  input_fn = extract_features.input_fn_builder(features, seq)
  batch = next(iter(input_fn({"batch_size": 2})))
  assert set(batch) == {"unique_ids", "input_ids", "input_mask",
                        "input_type_ids"}

  model_fn = extract_features.model_fn_builder(
      tiny.bert_config, tiny.checkpoint, [-1, -2], False, False)
  estimator = tf.estimator.Estimator(model_fn,
                                     model_dir=str(tmp_path / "out"))
  results = list(estimator.predict(lambda: input_fn({"batch_size": 2})))
  assert [int(r["unique_id"]) for r in results] == [0, 1]
  assert results[0]["layer_output_0"].shape == (
      seq, tiny.bert_config.hidden_size)
  direct = helpers.direct_bert_outputs(
      tiny.bert_config, tiny.checkpoint,
      np.array([f.input_ids for f in features], np.int32),
      np.array([f.input_mask for f in features], np.int32),
      np.array([f.input_type_ids for f in features], np.int32))
  np.testing.assert_allclose(results[1]["layer_output_0"],
                             direct["all_layers"][-1][1], atol=1e-5)


def test_tfhub_script_accepts_the_reference_flags(tmp_path):
  """The reference's run_classifier_with_tfhub.py inherits run_classifier's
  flags; a Hub module makes some unused, which a warning names."""
  cmd = [sys.executable, os.path.join(ROOT, "run_classifier_with_tfhub.py"),
         "--task_name=MRPC", "--data_dir=" + str(tmp_path),
         "--output_dir=" + str(tmp_path / "out"),
         "--bert_hub_module_handle=" + str(tmp_path / "no_module"),
         "--bert_config_file=x.json", "--vocab_file=vocab.txt",
         "--init_checkpoint=model.ckpt", "--do_lower_case=False",
         "--do_train=True"]
  proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                        cwd=str(tmp_path))
  out = proc.stdout + proc.stderr
  assert "Unknown command line flag" not in out
  assert ("--bert_config_file, --init_checkpoint, --vocab_file, "
          "--do_lower_case: unused") in out, out[-3000:]

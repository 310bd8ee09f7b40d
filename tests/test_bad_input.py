"""The unhappy paths: bad data, bad vocabularies, bad configs, bad flags.

Every error must say which file (and line, or tensor) is wrong and what was
expected; a failed run must leave what was already written intact and no
half-written file behind; the scripts must print one `error: ...` line and
exit non-zero instead of a traceback.
"""

import json
import os
import random
import subprocess
import sys

import pytest
import tensorflow.compat.v1 as tf

from bert_tf import input_pipeline
from bert_tf import model_fn as model_fn_lib
from bert_tf import modeling
from bert_tf.tasks import pretrainer
from bert_tf import tokenization
from bert_tf.tasks import classifier
from bert_tf.tasks import glue
from bert_tf.tasks import pretraining
from test_classifier import write_mrpc_like
from test_classifier import write_tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MRPC_HEADER = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"


def _base(tmp_path, vocab_file, **overrides):
  """ClassifierConfig arguments for MRPC-layout data in tmp_path/data."""
  values = dict(task_name="mrpc", data_dir=str(tmp_path / "data"),
                bert_config_file=write_tiny_config(
                    tmp_path / "bert_config.json"),
                output_dir=str(tmp_path / "out"), vocab_file=vocab_file,
                max_seq_length=32, train_batch_size=4, num_train_epochs=1.0)
  values.update(overrides)
  return values


def _write_train_tsv(tmp_path, body, header=MRPC_HEADER):
  data_dir = tmp_path / "data"
  data_dir.mkdir(exist_ok=True)
  path = data_dir / "train.tsv"
  raw = body if isinstance(body, bytes) else body.encode("utf-8")
  path.write_bytes(header.encode("utf-8") + raw)
  return str(path)


def _temporary_files(directory):
  """Names left by the atomic writers (".<name>.tmp-XXXXXXXX")."""
  found = []
  for root, _, names in os.walk(directory):
    found.extend(os.path.join(root, n) for n in names if ".tmp-" in n)
  return found


def _run_script(args, timeout=240):
  proc = subprocess.run([sys.executable] + args, capture_output=True,
                        text=True, timeout=timeout, cwd=ROOT)
  return proc


def _assert_clean_error(proc, *fragments):
  """Exit status 1, no traceback, last stderr line `error: ...` with all
  `fragments`."""
  assert proc.returncode == 1, (proc.returncode, proc.stderr[-3000:])
  assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
  last = [line for line in proc.stderr.splitlines() if line.strip()][-1]
  assert last.startswith("error: "), proc.stderr[-3000:]
  for fragment in fragments:
    assert fragment in last, (fragment, last)
  return last


# ---------------------------------------------------------------------------
# Classifier data.


def test_data_dir_without_train_tsv(tmp_path, tiny_vocab_file):
  (tmp_path / "data").mkdir()
  cfg = classifier.ClassifierConfig(**_base(tmp_path, tiny_vocab_file),
                                    do_train=True)
  with pytest.raises(FileNotFoundError) as e:
    classifier.run(cfg)
  assert str(e.value) == "Data file not found: %s" % (
      tmp_path / "data" / "train.tsv")


def test_empty_train_tsv(tmp_path, tiny_vocab_file):
  (tmp_path / "data").mkdir()
  (tmp_path / "data" / "train.tsv").write_text("\n  \n")
  cfg = classifier.ClassifierConfig(**_base(tmp_path, tiny_vocab_file),
                                    do_train=True)
  with pytest.raises(ValueError) as e:
    classifier.run(cfg)
  assert str(e.value) == "Data file is empty: %s" % (
      tmp_path / "data" / "train.tsv")


def test_header_only_train_tsv(tmp_path, tiny_vocab_file):
  _write_train_tsv(tmp_path, "")
  cfg = classifier.ClassifierConfig(**_base(tmp_path, tiny_vocab_file),
                                    do_train=True)
  with pytest.raises(ValueError, match="No training examples in %s" %
                     (tmp_path / "data")):
    classifier.run(cfg)


def test_malformed_tsv_row_names_file_and_line(tmp_path, tiny_vocab_file):
  path = _write_train_tsv(
      tmp_path,
      "1\t1\t2\tthe dog runs\tthe dog runs\n"
      "0\t3\t4\ta cat\tthe car\n"
      "1\t5\tonly three columns\n")
  cfg = classifier.ClassifierConfig(**_base(tmp_path, tiny_vocab_file),
                                    do_train=True)
  with pytest.raises(ValueError) as e:
    classifier.run(cfg)
  assert str(e.value) == "%s:4: expected at least 5 columns, found 3" % path


def test_malformed_csv_quote_names_file_and_line(tmp_path):
  path = tmp_path / "train.csv"
  path.write_text('text,label\nfine,1\n"never closed,0\nlast,1\n')
  processor = glue.GenericProcessor("text", label_column="label",
                                    delimiter=",", train_file="train.csv")
  with pytest.raises(ValueError) as e:
    processor.get_train_examples(str(tmp_path))
  message = str(e.value)
  assert message.startswith("%s:3: malformed CSV record" % path), message
  assert "expected each quoted field to be closed" in message


def test_label_outside_label_list(tmp_path, tiny_vocab_file):
  path = _write_train_tsv(
      tmp_path,
      "1\t1\t2\tthe dog runs\tthe dog runs\n"
      "2\t3\t4\ta cat\tthe car\n")
  cfg = classifier.ClassifierConfig(**_base(tmp_path, tiny_vocab_file),
                                    do_train=True)
  with pytest.raises(ValueError) as e:
    classifier.run(cfg)
  assert str(e.value) == ("%s:3: label '2' is not one of the labels '0', '1'"
                          % path)


def _generic(tmp_path, vocab_file, train, dev, **overrides):
  data_dir = tmp_path / "data"
  data_dir.mkdir(exist_ok=True)
  (data_dir / "train.tsv").write_text("text\tlabel\n" + train,
                                      encoding="utf-8")
  (data_dir / "dev.tsv").write_text("text\tlabel\n" + dev, encoding="utf-8")
  values = _base(tmp_path, vocab_file, task_name="generic",
                 text_a_column="text", label_column="label", do_train=True,
                 do_eval=True)
  values.update(overrides)
  return classifier.ClassifierConfig(**values), data_dir


def test_dev_label_that_training_never_saw(tmp_path, tiny_vocab_file):
  cfg, data_dir = _generic(tmp_path, tiny_vocab_file,
                           "the dog\tpos\na cat\tneg\n",
                           "the dog\tpos\ngood movie\tneutral\n")
  with pytest.raises(ValueError) as e:
    classifier.run(cfg)
  assert str(e.value) == (
      "%s:3: label 'neutral' is not one of the labels 'neg', 'pos' (those of "
      "the training file %s, which never has 'neutral': training never saw "
      "it)" % (data_dir / "dev.tsv", data_dir / "train.tsv"))


@pytest.mark.parametrize("in_file", ["train.tsv", "dev.tsv"])
def test_empty_label_in_a_single_label_task(tmp_path, tiny_vocab_file,
                                            in_file):
  rows = "the dog\tpos\na cat\tneg\n"
  empty = "the dog\tpos\nthe man\t\n"
  train, dev = (empty, rows) if in_file == "train.tsv" else (rows, empty)
  cfg, data_dir = _generic(tmp_path, tiny_vocab_file, train, dev)
  with pytest.raises(ValueError) as e:
    classifier.run(cfg)
  assert str(e.value).startswith(
      "%s:3: the label is empty; a single-label task needs exactly one "
      % (data_dir / in_file)), str(e.value)
  # With the labels given, the message lists them.
  cfg, _ = _generic(tmp_path, tiny_vocab_file, train, dev,
                    labels=["neg", "pos"])
  with pytest.raises(ValueError, match=r"needs exactly one of the labels "
                     r"'neg', 'pos' on every row"):
    classifier.run(cfg)


def test_class_weight_list_of_the_wrong_length(tmp_path, tiny_vocab_file):
  cfg, _ = _generic(tmp_path, tiny_vocab_file,
                    "the dog\tpos\na cat\tneg\n", "the dog\tpos\n",
                    class_weights="1,2,3")
  with pytest.raises(ValueError) as e:
    classifier.run(cfg)
  assert str(e.value) == ("--class_weights=1,2,3 gives 3 weight(s); expected "
                          "2, one per label in the order neg, pos.")


def test_non_utf8_tsv_names_file_and_line(tmp_path, tiny_vocab_file):
  path = _write_train_tsv(
      tmp_path,
      b"1\t1\t2\tthe dog runs\tthe dog runs\n"
      b"0\t3\t4\ta caf\xe9 latin-1\tthe car\n")
  cfg = classifier.ClassifierConfig(**_base(tmp_path, tiny_vocab_file),
                                    do_train=True)
  with pytest.raises(ValueError) as e:
    classifier.run(cfg)
  assert str(e.value) == ("%s:3: expected UTF-8 text, found the byte 0xe9 "
                          "that is not valid UTF-8" % path)


# ---------------------------------------------------------------------------
# Vocabulary, config and checkpoint.


def _write_vocab(path, drop):
  tokens = [t for t in ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the",
                        "dog", "runs", "a", "cat"] if t not in drop]
  path.write_text("\n".join(tokens) + "\n")
  return str(path)


@pytest.mark.parametrize("drop", [("[CLS]", "[MASK]"), ("[SEP]",),
                                  ("[UNK]",)])
def test_vocab_without_special_tokens(tmp_path, drop):
  vocab = _write_vocab(tmp_path / "vocab.txt", drop)
  write_mrpc_like(str(tmp_path / "data"), 4, 2, 2)
  cfg = classifier.ClassifierConfig(**_base(tmp_path, vocab), do_train=True)
  with pytest.raises(ValueError) as e:
    classifier.run(cfg)
  assert str(e.value).startswith(
      "Vocabulary %s lacks the special token(s) %s;" % (vocab,
                                                        ", ".join(drop)))
  assert "needs all of [UNK], [CLS], [SEP], [MASK]" in str(e.value)


def test_pretraining_vocab_without_mask(tmp_path):
  vocab = _write_vocab(tmp_path / "vocab.txt", ("[MASK]",))
  corpus = tmp_path / "corpus.txt"
  corpus.write_text("the dog runs\na cat\n")
  tokenizer = tokenization.FullTokenizer(vocab, do_lower_case=True)
  with pytest.raises(ValueError, match=r"Vocabulary .*vocab.txt lacks the "
                     r"special token\(s\) \[MASK\]"):
    pretraining.create_training_instances(
        str(corpus), tokenizer, 16, 1, 0.1, 0.15, 3, random.Random(1))


def test_max_seq_length_above_max_position_embeddings(tmp_path,
                                                       tiny_vocab_file):
  write_mrpc_like(str(tmp_path / "data"), 4, 2, 2)
  base = _base(tmp_path, tiny_vocab_file, max_seq_length=65)
  with pytest.raises(ValueError) as e:
    classifier.run(classifier.ClassifierConfig(**base, do_train=True))
  assert str(e.value) == (
      "Cannot use sequence length 65 because the BERT model was only trained "
      "up to sequence length 64 (max_position_embeddings in %s)." %
      base["bert_config_file"])
  with pytest.raises(ValueError, match="sequence length 65 .* up to sequence "
                     "length 64 .*max_position_embeddings"):
    pretrainer.run(pretrainer.PretrainingConfig(
        input_file=str(tmp_path / "none.tfrecord"),
        bert_config_file=base["bert_config_file"],
        output_dir=str(tmp_path / "p"), max_seq_length=65, do_train=True))


def _save_checkpoint(config_file, prefix):
  """Saves a randomly initialised BertModel of `config_file` at `prefix`."""
  config = modeling.BertConfig.from_json_file(config_file)
  with tf.Graph().as_default():
    ids = tf.zeros([1, 8], tf.int32)
    modeling.BertModel(config, False, ids)
    saver = tf.train.Saver()
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      return saver.save(sess, prefix)


def test_checkpoint_of_another_hidden_size(tmp_path, tiny_vocab_file):
  """The error names a tensor and both shapes; existing results survive."""
  other = write_tiny_config(tmp_path / "other_config.json", hidden_size=48,
                            num_attention_heads=4)
  checkpoint = _save_checkpoint(other, str(tmp_path / "ckpt" / "model.ckpt"))
  write_mrpc_like(str(tmp_path / "data"), 8, 4, 2)
  out = tmp_path / "out"
  out.mkdir()
  (out / "eval_results.txt").write_text("eval_accuracy = 0.75\n")
  cfg = classifier.ClassifierConfig(
      **_base(tmp_path, tiny_vocab_file), init_checkpoint=checkpoint,
      do_train=True, do_eval=True)
  with pytest.raises(model_fn_lib.CheckpointMismatchError) as e:
    classifier.run(cfg)
  message = str(e.value)
  assert checkpoint in message
  assert ("bert/embeddings/word_embeddings: checkpoint has shape [120, 48], "
          "model expects [120, 32]") in message
  assert ("bert/encoder/layer_0/attention/self/query/kernel: checkpoint has "
          "shape [48, 48], model expects [32, 32]") in message
  assert "--bert_config_file" in message
  # The failed run left the earlier results and no temporary file.
  assert (out / "eval_results.txt").read_text() == "eval_accuracy = 0.75\n"
  assert not _temporary_files(str(out))
  assert tf.train.latest_checkpoint(str(out)) is None


# ---------------------------------------------------------------------------
# Pretraining text.


def test_non_utf8_pretraining_text_names_file_and_line(tmp_path,
                                                       tiny_vocab_file):
  corpus = tmp_path / "corpus.txt"
  corpus.write_bytes(b"the dog runs.\nthe cat \xff ran.\n")
  tokenizer = tokenization.FullTokenizer(tiny_vocab_file, do_lower_case=True)
  with pytest.raises(ValueError) as e:
    pretraining.create_training_instances(
        str(corpus), tokenizer, 16, 1, 0.1, 0.15, 3, random.Random(1))
  assert str(e.value) == ("%s:2: not valid UTF-8 (byte 0xff at column 9); "
                          "re-encode the file as UTF-8." % corpus)


def test_empty_documents_are_counted_not_fatal(tmp_path, tiny_vocab_file,
                                                caplog):
  corpus = tmp_path / "corpus.txt"
  # Three documents; the second has text but no token (control characters
  # and U+FFFD, which the tokenizer drops).
  corpus.write_text("the dog runs .\nthe cat ran fast .\n\n"
                    "\x01\x02 \ufffd\n\x7f\n\n"
                    "a man and a woman .\nthe old city .\n")
  tokenizer = tokenization.FullTokenizer(tiny_vocab_file, do_lower_case=True)
  documents, stats = pretraining.read_documents(str(corpus), tokenizer)
  assert stats.num_empty_documents == 1
  assert stats.num_documents == len(documents) == 2
  assert "1 empty ones dropped" in str(stats)
  caplog.set_level("WARNING")
  instances = pretraining.create_training_instances(
      str(corpus), tokenizer, 16, 2, 0.1, 0.15, 3, random.Random(1))
  assert instances
  assert "Dropped 1 empty document(s)." in caplog.text
  assert "Dropping an empty document (%s:4)." % corpus in caplog.text


def test_only_empty_documents_is_an_error(tmp_path, tiny_vocab_file):
  corpus = tmp_path / "corpus.txt"
  corpus.write_text("\x01\n\n\ufffd\n")
  tokenizer = tokenization.FullTokenizer(tiny_vocab_file, do_lower_case=True)
  with pytest.raises(ValueError, match="No text found in"):
    pretraining.create_training_instances(
        str(corpus), tokenizer, 16, 1, 0.1, 0.15, 3, random.Random(1))


# ---------------------------------------------------------------------------
# SQuAD.


def _squad_file(path, qas, context="The cat sat on the mat in Paris."):
  data = {"version": "1.1", "data": [{"title": "t", "paragraphs": [
      {"context": context, "qas": qas}]}]}
  path.write_text(json.dumps(data))
  return str(path)


def test_squad_missing_fields_name_the_question(tmp_path):
  from bert_tf.tasks import squad  # pylint: disable=g-import-not-at-top
  path = _squad_file(tmp_path / "train.json", [
      {"id": "q1", "question": "Where?",
       "answers": [{"text": "Paris", "answer_start": 26}]},
      {"id": "q2", "answers": [{"text": "mat", "answer_start": 19}]}])
  with pytest.raises(ValueError) as e:
    squad.read_squad_examples(path, is_training=True)
  assert str(e.value) == ("%s: data[0].paragraphs[0].qas[1] (question id "
                          "'q2'): missing field 'question'" % path)
  no_start = _squad_file(tmp_path / "b.json", [
      {"id": "q3", "question": "What?", "answers": [{"text": "mat"}]}])
  with pytest.raises(ValueError, match=r"q3.*answers\[0\]: missing field "
                     r"'answer_start'"):
    squad.read_squad_examples(no_start, is_training=True)
  no_data = tmp_path / "c.json"
  no_data.write_text(json.dumps({"version": "1.1"}))
  with pytest.raises(ValueError, match="c.json: missing field 'data'"):
    squad.read_squad_examples(str(no_data), is_training=False)


def test_squad_answers_not_in_context_are_counted(tmp_path, caplog):
  from bert_tf.tasks import squad  # pylint: disable=g-import-not-at-top
  path = _squad_file(tmp_path / "train.json", [
      {"id": "ok", "question": "Where?",
       "answers": [{"text": "Paris", "answer_start": 26}]},
      {"id": "wrong-offset", "question": "What?",
       "answers": [{"text": "Paris", "answer_start": 4}]},
      {"id": "outside", "question": "Who?",
       "answers": [{"text": "dog", "answer_start": 500}]}])
  caplog.set_level("WARNING")
  examples, skipped = squad.read_squad_examples(path, is_training=True,
                                                return_skipped=True)
  assert [e.qas_id for e in examples] == ["ok"]
  assert sorted(qas_id for qas_id, _ in skipped) == ["outside",
                                                     "wrong-offset"]
  assert "skipped 2 question(s)" in caplog.text
  assert "wrong-offset" in caplog.text and "outside" in caplog.text


# ---------------------------------------------------------------------------
# Nothing half-written.


def test_failed_feature_write_keeps_previous_file(tmp_path, tiny_vocab_file):
  tokenizer = tokenization.FullTokenizer(tiny_vocab_file, do_lower_case=True)
  path = tmp_path / "train.tf_record"
  good = [glue.InputExample("g-%d" % i, "the dog", "a cat", "1")
          for i in range(3)]
  classifier.file_based_convert_examples_to_features(
      good, ["0", "1"], 16, tokenizer, str(path))
  before = path.read_bytes()
  bad = good + [glue.InputExample("b-9", "the cat", None, "maybe")]
  with pytest.raises(ValueError, match="Example b-9: label 'maybe' is not in"):
    classifier.file_based_convert_examples_to_features(
        bad, ["0", "1"], 16, tokenizer, str(path))
  assert path.read_bytes() == before
  assert input_pipeline.count_records(str(path)) == 3
  assert not _temporary_files(str(tmp_path))


def test_failed_instance_write_keeps_previous_file(tmp_path, tiny_vocab_file):
  tokenizer = tokenization.FullTokenizer(tiny_vocab_file, do_lower_case=True)
  corpus = tmp_path / "corpus.txt"
  corpus.write_text("the dog runs .\nthe cat ran .\n\na man .\nthe city .\n")
  instances = pretraining.create_training_instances(
      str(corpus), tokenizer, 16, 2, 0.1, 0.15, 3, random.Random(3))
  out = tmp_path / "pretrain.tfrecord"
  pretraining.write_instances(instances, tokenizer, 16, 3, [str(out)])
  before = out.read_bytes()
  too_long = pretraining.TrainingInstance(
      ["[CLS]"] + ["the"] * 20 + ["[SEP]"], [0] * 22, [1], ["the"], False)
  with pytest.raises(ValueError, match="max_seq_length=16"):
    pretraining.write_instances(instances + [too_long], tokenizer, 16, 3,
                                [str(out)])
  assert out.read_bytes() == before
  assert not _temporary_files(str(tmp_path))


# ---------------------------------------------------------------------------
# The scripts: one clean `error:` line, exit status 1.


def _classifier_args(tmp_path, vocab, *extra):
  return [os.path.join(ROOT, "run_classifier.py"), "--task_name=MRPC",
          "--data_dir=%s" % (tmp_path / "data"), "--vocab_file=" + vocab,
          "--bert_config_file=%s" % write_tiny_config(
              tmp_path / "bert_config.json"),
          "--max_seq_length=32", "--output_dir=%s" % (tmp_path / "out")
         ] + list(extra)


def test_script_without_any_do_flag(tmp_path, tiny_vocab_file):
  write_mrpc_like(str(tmp_path / "data"), 4, 2, 2)
  proc = _run_script(_classifier_args(tmp_path, tiny_vocab_file))
  _assert_clean_error(proc, "At least one of `do_train`, `do_eval` or "
                      "`do_predict` must be True.")


def test_script_predict_without_checkpoint(tmp_path, tiny_vocab_file):
  write_mrpc_like(str(tmp_path / "data"), 4, 2, 2)
  (tmp_path / "out").mkdir()
  (tmp_path / "out" / "test_results.tsv").write_text("0.1\t0.9\n")
  proc = _run_script(_classifier_args(tmp_path, tiny_vocab_file,
                                      "--do_predict=true"))
  _assert_clean_error(proc, "needs a model", "--init_checkpoint",
                      str(tmp_path / "out"))
  assert (tmp_path / "out" / "test_results.tsv").read_text() == "0.1\t0.9\n"


def test_script_missing_train_file(tmp_path, tiny_vocab_file):
  (tmp_path / "data").mkdir()
  proc = _run_script(_classifier_args(tmp_path, tiny_vocab_file,
                                      "--do_train=true"))
  _assert_clean_error(proc, "Data file not found: %s" %
                      (tmp_path / "data" / "train.tsv"))


def test_pretraining_data_script_non_utf8(tmp_path, tiny_vocab_file):
  corpus = tmp_path / "corpus.txt"
  corpus.write_bytes(b"the dog runs .\n\nthe cat \xc3\x28 ran .\n")
  out = tmp_path / "examples.tfrecord"
  out.write_bytes(b"previous contents")
  proc = _run_script([os.path.join(ROOT, "create_pretraining_data.py"),
                      "--input_file=%s" % corpus, "--output_file=%s" % out,
                      "--vocab_file=" + tiny_vocab_file,
                      "--max_seq_length=16", "--max_predictions_per_seq=3"])
  _assert_clean_error(proc, "%s:3: not valid UTF-8 (byte 0xc3 at column 9)"
                      % corpus)
  assert out.read_bytes() == b"previous contents"
  assert not _temporary_files(str(tmp_path))


def test_run_pretraining_script_bad_sequence_length(tmp_path):
  config = write_tiny_config(tmp_path / "bert_config.json")
  data = tmp_path / "x.tfrecord"
  input_pipeline.write_examples([], str(data))
  proc = _run_script([os.path.join(ROOT, "run_pretraining.py"),
                      "--input_file=%s" % data,
                      "--output_dir=%s" % (tmp_path / "out"),
                      "--bert_config_file=" + config, "--do_train=true",
                      "--max_seq_length=128"])
  _assert_clean_error(proc, "sequence length 128", "max_position_embeddings",
                      config)

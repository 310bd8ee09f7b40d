"""The files a person reads after --do_predict: labels.txt and
test_predictions.tsv beside the reference's test_results.tsv, and the labels
in the export."""

import csv
import io
import json
import os
import re

from bert_tf import export
from bert_tf.tasks import classifier
from bert_tf.tasks import glue
import serving_helpers as helpers

SEQ = 32
LONG = ("the dog runs fast and the cat ran slow on a very big day in the old "
        "city with a man")
PAIRS = [  # (id, text_a, text_b): ids that are not the row index
    ("17", "the dog runs fast", "a cat ran slow"),
    ("3", LONG, "the man"),
    ("250", "good movie", "bad film"),
    ("9", "hello world", "how are you"),
    ("4", "i love this book", "i hate this story"),
]


def _read_tsv(path):
  with open(path, encoding="utf-8", newline="") as f:
    return [line.split("\t") for line in f.read().split("\n")[:-1]]


def _tiny(tmp_path, num_labels, seed=7):
  """A tiny random model with a classifier head of `num_labels` outputs."""
  return helpers.make_tiny_model(tmp_path / "model", num_labels=num_labels,
                                 span_head=False, seed=seed)


def _predict(tmp_path, tiny, **kw):
  """Predicts (and exports) with the tiny random model, whose checkpoint
  directory is the output_dir; returns the run's result."""
  values = dict(
      data_dir=str(tmp_path / "data"), bert_config_file=tiny.config_file,
      vocab_file=tiny.vocab_file, output_dir=tiny.checkpoint_dir,
      max_seq_length=SEQ, do_predict=True, predict_batch_size=2)
  values.update(kw)
  return classifier.run(classifier.ClassifierConfig(**values))


def _check_predictions(result, labels, ids, texts):
  """test_predictions.tsv against test_results.tsv, labels.txt and the
  inputs (`texts`: per example, the expected text column)."""
  results = _read_tsv(result["predict_file"])
  # test_results.tsv is the reference's: bare probabilities, no header.
  assert len(results) == len(ids)
  for row in results:
    assert len(row) == len(labels)
    assert all(re.fullmatch(r"\d\.\d{8}", cell) for cell in row), row
  with open(result["labels_file"], encoding="utf-8") as f:
    assert f.read() == "".join(label + "\n" for label in labels)
  rows = _read_tsv(result["predictions_file"])
  assert rows[0] == ["id", "predicted_label", "probability", "text"]
  rows = rows[1:]
  assert len(rows) == len(results)
  predicted = []
  for row, cells, want_id, want_text in zip(rows, results, ids, texts):
    assert len(row) == 4, row
    values = [float(c) for c in cells]
    best = values.index(max(values))
    assert row[0] == want_id
    assert row[1] == labels[best]
    assert row[2] == cells[best]
    assert row[3] == want_text
    predicted.append(row[1])
  return predicted


def test_preview_and_rows_by_hand():
  pair = glue.InputExample("test-1", "a\tb\nc\r\nd" + "x" * 70, "e\u2028f",
                           "0", example_id="id\t7")
  single = glue.InputExample("test-2", "short", None, "0")
  assert classifier.preview_text(pair) == (
      "a b c  d" + "x" * 52 + " ||| e f")
  assert classifier.preview_text(single) == "short"
  text = classifier.format_test_predictions(
      [pair, single], [["0.40000000", "0.60000000"],
                       ["0.50000000", "0.50000000"]], ["neg", "pos"])
  assert text == ("id\tpredicted_label\tprobability\ttext\n"
                  "id 7\tpos\t0.60000000\t" + classifier.preview_text(pair) +
                  "\n1\tneg\t0.50000000\tshort\n")  # a tie: the first label
  text = classifier.format_test_predictions([single], [["2.500000"]])
  assert text == "id\tpredicted_value\ttext\n0\t2.500000\tshort\n"


def test_test_examples_carry_their_files_ids(tmp_path):
  """`example_id`: column 0 of a GLUE test file (MRPC, CoLA, SST-2 too,
  whose guids count rows), the generic task's `id_column`, else None."""
  (tmp_path / "test.tsv").write_text(
      "index\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
      "17\t1\t2\ta\tb\n\n3\t4\t5\tc\td\n", encoding="utf-8")
  examples = glue.MrpcProcessor().get_test_examples(str(tmp_path))
  assert [(e.guid, e.example_id) for e in examples] == [("test-1", "17"),
                                                         ("test-2", "3")]
  (tmp_path / "test.tsv").write_text("index\tsentence\n5\tx\n8\ty\n",
                                     encoding="utf-8")
  for name in ("cola", "sst-2"):
    examples = glue.get_processor(name).get_test_examples(str(tmp_path))
    assert [(e.guid, e.example_id) for e in examples] == [("test-1", "5"),
                                                           ("test-2", "8")]
  (tmp_path / "test.tsv").write_text("id\tquestion1\tquestion2\n"
                                     "40\tq\tr\n", encoding="utf-8")
  examples = glue.get_processor("qqp").get_test_examples(str(tmp_path))
  assert [(e.guid, e.example_id) for e in examples] == [("test-40", "40")]
  (tmp_path / "test.tsv").write_text("text\tkey\nx\tk1\ny\tk2\n",
                                     encoding="utf-8")
  kw = dict(text_a_column="text", label_column="label", labels=["a", "b"])
  examples = glue.GenericProcessor(id_column="key", **kw).get_test_examples(
      str(tmp_path))
  assert [e.example_id for e in examples] == ["k1", "k2"]
  examples = glue.GenericProcessor(id_column=1, **kw).get_test_examples(
      str(tmp_path))
  assert [e.example_id for e in examples] == ["k1", "k2"]
  examples = glue.GenericProcessor(**kw).get_test_examples(str(tmp_path))
  assert [e.example_id for e in examples] == [None, None]
  # The flag's value reaches the processor.
  kwargs = glue.processor_kwargs("generic", dict(text_a_column="0",
                                                 id_column="2"))
  assert kwargs["id_column"] == 2


def test_real_mrpc_test_ids(glue_dir):
  examples = glue.MrpcProcessor().get_test_examples(
      str(glue_dir / "MRPC"))
  assert len(examples) == 1725
  assert [e.example_id for e in examples] == [str(i) for i in range(1725)]


def test_mrpc_prediction_files_and_export_labels(tmp_path):
  # Seed 31 predicts both labels, each with a margin of at least 0.02.
  tiny = _tiny(tmp_path, 2, seed=31)
  data_dir = tmp_path / "data"
  data_dir.mkdir()
  with open(data_dir / "test.tsv", "w", encoding="utf-8") as f:
    f.write("index\t#1 ID\t#2 ID\t#1 String\t#2 String\n")
    for i, (example_id, a, b) in enumerate(PAIRS):
      f.write("%s\t%d\t%d\t%s\t%s\n" % (example_id, i, i + 100, a, b))
  result = _predict(tmp_path, tiny, task_name="MRPC",
                    export_dir=str(tmp_path / "export"))
  out = tiny.checkpoint_dir
  assert result["predict_file"] == os.path.join(out, "test_results.tsv")
  assert result["labels_file"] == os.path.join(out, "labels.txt")
  assert result["predictions_file"] == os.path.join(out,
                                                    "test_predictions.tsv")
  predicted = _check_predictions(
      result, ["0", "1"], [p[0] for p in PAIRS],
      [a[:60] + " ||| " + b[:60] for _, a, b in PAIRS])
  assert len(LONG) > 60
  # The model does not give one answer for everything (the mapping of
  # columns to labels is really checked).
  assert sorted(set(predicted)) == ["0", "1"]
  # No temporary files are left behind.
  assert not [n for n in os.listdir(out) if ".tmp-" in n]

  # The export names the label of each output index.
  path = result["export_path"]
  with open(os.path.join(path, "assets.extra", "labels.txt"),
            encoding="utf-8") as f:
    assert f.read() == "0\n1\n"
  meta = export.read_export_metadata(path)
  assert meta["labels"] == ["0", "1"] and meta["labels_file"] == "labels.txt"


def test_generic_csv_prediction_files(tmp_path):
  # Seed 17 predicts each of the 3 labels (margins of at least 0.04).
  tiny = _tiny(tmp_path, 3, seed=17)
  data_dir = tmp_path / "data"
  data_dir.mkdir()
  texts = ["the dog\truns fast", "a cat\nran slow", LONG, "good movie",
           "bad, bad film", "i love this book"]
  ids = ["r-%d" % (10 * i + 3) for i in range(len(texts))]
  buf = io.StringIO()
  writer = csv.writer(buf, lineterminator="\n")
  writer.writerow(["text", "review_id", "label"])
  for example_id, text in zip(ids, texts):
    writer.writerow([text, example_id, ""])
  (data_dir / "test.csv").write_text(buf.getvalue(), encoding="utf-8")
  # Labels in a given (not sorted) order: the columns follow it.
  labels = ["pos", "neg", "neutral"]
  generic = dict(task_name="generic", text_a_column="text",
                 label_column="label", labels=labels, delimiter="comma",
                 test_file="test.csv")
  want = [t.replace("\t", " ").replace("\n", " ")[:60] for t in texts]
  result = _predict(tmp_path, tiny, id_column="review_id", **generic)
  first = _check_predictions(result, labels, ids, want)
  assert sorted(set(first)) == sorted(labels)
  # Without an id column: the 0-based index of the test example.
  result = _predict(tmp_path, tiny, **generic)
  again = _check_predictions(result, labels,
                             [str(i) for i in range(len(texts))], want)
  assert again == first


def test_regression_prediction_files(tmp_path):
  tiny = _tiny(tmp_path, 1)
  data_dir = tmp_path / "data"
  data_dir.mkdir()
  with open(data_dir / "test.tsv", "w", encoding="utf-8") as f:
    f.write("index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\t"
            "sentence1\tsentence2\n")
    for example_id, a, b in PAIRS:
      f.write("%s\tnews\tf\t2012\t0\tx\ty\t%s\t%s\n" % (example_id, a, b))
  result = _predict(tmp_path, tiny, task_name="STS-B",
                    export_dir=str(tmp_path / "export"))
  out = tiny.checkpoint_dir
  # No labels for a regression: test_results.tsv has one value per row.
  assert "labels_file" not in result
  assert not os.path.exists(os.path.join(out, "labels.txt"))
  values = _read_tsv(result["predict_file"])
  assert len(values) == len(PAIRS)
  assert all(len(row) == 1 and re.fullmatch(r"-?\d+\.\d{6}", row[0])
             for row in values)
  rows = _read_tsv(result["predictions_file"])
  assert rows[0] == ["id", "predicted_value", "text"]
  assert rows[1:] == [[p[0], v[0], p[1][:60] + " ||| " + p[2][:60]]
                      for p, v in zip(PAIRS, values)]
  assert len({v[0] for v in values}) > 1
  path = result["export_path"]
  assert not os.path.exists(os.path.join(path, "assets.extra", "labels.txt"))
  meta = json.load(open(os.path.join(path, "assets.extra",
                                     "bert_tf_export.json")))
  assert meta["is_regression"] is True and meta["labels_file"] is None

"""Tests for bert_tf.tasks.glue: file reading, every processor, the registry.

GLUE tasks other than MRPC and SST-2 are not in ../shared, so each processor is
run on a few hand-written rows laid out exactly like the task's GLUE files.
"""

import collections

import numpy as np
import pytest

from bert_tf.tasks import glue

BOM = b"\xef\xbb\xbf"


def _write(directory, name, lines, bom=False, newline="\n"):
  """Writes `lines` (str) as UTF-8 to directory/name; returns the path."""
  path = directory / name
  path.parent.mkdir(parents=True, exist_ok=True)
  data = "".join(line + newline for line in lines).encode("utf-8")
  path.write_bytes((BOM if bom else b"") + data)
  return path


def _t(*fields):
  return "\t".join(fields)


def _as_tuples(examples):
  return [(e.guid, e.text_a, e.text_b, e.label) for e in examples]


# ----------------------------------------------------------------- reading --


def test_read_rows_bom_crlf_quotes_and_blank_lines(tmp_path):
  path = _write(tmp_path, "x.tsv", [
      _t("a", "b"), "", _t('"quoted', 'it\'s "x"'), _t("", "tail")
  ], bom=True, newline="\r\n")
  rows = glue.read_rows(str(path))
  # Line 2 is blank and skipped; later rows keep their own line numbers.
  assert rows == [
      glue.Row(1, ["a", "b"]),
      glue.Row(3, ['"quoted', 'it\'s "x"']),
      glue.Row(4, ["", "tail"]),
  ]
  read_tsv = glue.DataProcessor._read_tsv  # pylint: disable=protected-access
  assert read_tsv(str(path)) == [
      ["a", "b"], ['"quoted', 'it\'s "x"'], ["", "tail"]]


def test_read_rows_does_not_split_on_other_line_breaks(tmp_path):
  # A lone "\r" or U+2028 inside a field is text, not a record separator.
  path = _write(tmp_path, "x.tsv", [_t("a\rb", u"c\u2028d")])
  assert glue.read_rows(str(path)) == [glue.Row(1, ["a\rb", u"c\u2028d"])]


def test_read_rows_csv_quoting(tmp_path):
  path = tmp_path / "x.csv"
  path.write_bytes(b'id,text\r\n1,"a, ""b"""\r\n2,"two\nlines"\r\n3,plain\r\n')
  rows = glue.read_rows(str(path), delimiter=",", quotechar='"')
  assert rows == [
      glue.Row(1, ["id", "text"]),
      glue.Row(2, ["1", 'a, "b"']),
      glue.Row(3, ["2", "two\nlines"]),
      glue.Row(5, ["3", "plain"]),  # the quoted record above spans 3 and 4
  ]


def test_read_rows_missing_empty_and_bad_utf8(tmp_path):
  missing = str(tmp_path / "nope.tsv")
  with pytest.raises(FileNotFoundError, match="nope.tsv"):
    glue.read_rows(missing)
  empty = tmp_path / "empty.tsv"
  empty.write_bytes(BOM + b"\r\n")
  with pytest.raises(ValueError, match="empty.*empty.tsv"):
    glue.read_rows(str(empty))
  bad = tmp_path / "bad.tsv"
  bad.write_bytes(b"ok\tfine\nbad\t\xff\n")
  with pytest.raises(ValueError, match=r"bad.tsv:2: expected UTF-8.*0xff"):
    glue.read_rows(str(bad))


# -------------------------------------------------------------- processors --


def test_cola(tmp_path):
  # train/dev: no header; source, label, original label, sentence.
  _write(tmp_path, "train.tsv", [
      _t("gj04", "1", "", "Our friends won't buy this analysis."),
      _t("gj04", "0", "*", 'They drank the pub "dry".'),
  ])
  _write(tmp_path, "dev.tsv", [_t("bc01", "1", "", "The sailors rode.")])
  _write(tmp_path, "test.tsv", [_t("index", "sentence"), _t("0", "Bill ran.")])
  p = glue.ColaProcessor()
  assert p.get_labels() == ["0", "1"]
  assert p.metric_names == ("mcc",)
  assert _as_tuples(p.get_train_examples(str(tmp_path))) == [
      ("train-0", "Our friends won't buy this analysis.", None, "1"),
      ("train-1", 'They drank the pub "dry".', None, "0"),
  ]
  assert _as_tuples(p.get_dev_examples(str(tmp_path))) == [
      ("dev-0", "The sailors rode.", None, "1")]
  assert _as_tuples(p.get_test_examples(str(tmp_path))) == [
      ("test-1", "Bill ran.", None, "0")]


def test_sst2(tmp_path):
  _write(tmp_path, "train.tsv", [
      _t("sentence", "label"), _t("hide new secretions ", "0"),
      _t("it 's a \"charming\" film ", "1")
  ])
  _write(tmp_path, "test.tsv", [_t("index", "sentence"), _t("0", "uneasy .")])
  p = glue.get_processor("SST-2")
  assert isinstance(p, glue.Sst2Processor)
  assert _as_tuples(p.get_train_examples(str(tmp_path))) == [
      ("train-1", "hide new secretions ", None, "0"),
      ("train-2", "it 's a \"charming\" film ", None, "1"),
  ]
  assert _as_tuples(p.get_test_examples(str(tmp_path))) == [
      ("test-1", "uneasy .", None, "0")]


def test_mrpc(tmp_path):
  header = _t("Quality", "#1 ID", "#2 ID", "#1 String", "#2 String")
  _write(tmp_path, "train.tsv", [
      header, _t("1", "702876", "702977", 'He said "yes".', "He agreed."),
      _t("0", "2108705", "2108831", "Yucaipa owned it.", "It was sold.")
  ], bom=True, newline="\r\n")
  _write(tmp_path, "test.tsv", [
      _t("index", "#1 ID", "#2 ID", "#1 String", "#2 String"),
      _t("0", "1089874", "1089925", "PCCW's chief.", "Current chief."),
  ], bom=True)
  p = glue.MrpcProcessor()
  assert p.metric_names == ("accuracy", "f1")
  assert _as_tuples(p.get_train_examples(str(tmp_path))) == [
      ("train-1", 'He said "yes".', "He agreed.", "1"),
      ("train-2", "Yucaipa owned it.", "It was sold.", "0"),
  ]
  assert _as_tuples(p.get_test_examples(str(tmp_path))) == [
      ("test-1", "PCCW's chief.", "Current chief.", "0")]


def test_qqp_and_its_short_row_error(tmp_path):
  header = _t("id", "qid1", "qid2", "question1", "question2", "is_duplicate")
  _write(tmp_path, "train.tsv", [
      header, _t("133273", "213221", "213222", "How is it?", "How's it?", "1")
  ])
  _write(tmp_path, "dev.tsv", [
      header, _t("1", "3", "4", "Why?", "Why not?", "0"),
      _t("2", "5", "6", "Only one question?")  # 4 columns: malformed
  ])
  _write(tmp_path, "test.tsv", [
      _t("id", "question1", "question2"), _t("0", "Q one?", "Q two?")
  ])
  p = glue.get_processor("qqp")
  assert _as_tuples(p.get_train_examples(str(tmp_path))) == [
      ("train-133273", "How is it?", "How's it?", "1")]
  assert _as_tuples(p.get_test_examples(str(tmp_path))) == [
      ("test-0", "Q one?", "Q two?", "0")]
  with pytest.raises(ValueError) as e:
    p.get_dev_examples(str(tmp_path))
  assert str(e.value) == "%s:3: expected at least 6 columns, found 4" % (
      tmp_path / "dev.tsv")


def test_stsb_regression(tmp_path):
  header = ["index", "genre", "filename", "year", "old_index", "source1",
            "source2", "sentence1", "sentence2"]
  meta = ["main-captions", "MSRvid", "2012test", "0001", "none", "none"]
  _write(tmp_path, "train.tsv", [
      _t(*(header + ["score"])),
      _t("0", *(meta + ["A plane is taking off.", "An air plane is taking off.",
                        "5.000"])),
      _t("1", *(meta + ["A man plays.", "A man sings.", "0.8"])),
  ])
  _write(tmp_path, "dev.tsv", [
      _t(*(header + ["score"])), _t("7", *(meta + ["a", "b", "high"]))
  ])
  _write(tmp_path, "test.tsv", [_t(*header), _t("0", *(meta + ["c", "d"]))])
  p = glue.get_processor("STS-B")
  assert p is not glue.get_processor("stsb")
  assert isinstance(glue.get_processor("stsb"), glue.StsbProcessor)
  assert p.is_regression and p.get_labels() is None
  assert p.num_labels == 1 and p.loss_type == "mean_squared_error"
  assert p.metric_names == ("pearson", "spearman")
  assert _as_tuples(p.get_train_examples(str(tmp_path))) == [
      ("train-0", "A plane is taking off.", "An air plane is taking off.", 5.0),
      ("train-1", "A man plays.", "A man sings.", 0.8),
  ]
  assert _as_tuples(p.get_test_examples(str(tmp_path))) == [
      ("test-0", "c", "d", 0.0)]
  with pytest.raises(ValueError, match=r"dev.tsv:2: expected a real-valued "
                     r"label, found 'high'"):
    p.get_dev_examples(str(tmp_path))


def _mnli_row(index, s1, s2, *labels):
  parses = ["( bp1 )", "( bp2 )", "(ROOT p1)", "(ROOT p2)"]
  return _t(index, "31193", "31193n", "government", *(parses + [s1, s2] +
                                                     list(labels)))


def test_mnli_matched_and_mismatched(tmp_path):
  cols = ["index", "promptID", "pairID", "genre", "sentence1_binary_parse",
          "sentence2_binary_parse", "sentence1_parse", "sentence2_parse",
          "sentence1", "sentence2"]
  _write(tmp_path, "train.tsv", [
      _t(*(cols + ["label1", "gold_label"])),
      _mnli_row("0", "Conceptually cream.", "Product and geography.",
                "neutral", "neutral"),
  ])
  dev_header = _t(*(cols + ["label%d" % i for i in range(1, 6)] +
                    ["gold_label"]))
  _write(tmp_path, "dev_matched.tsv", [
      dev_header,
      _mnli_row("0", "The new rights.", "Everyone loves.", "neutral",
                "entailment", "neutral", "neutral", "neutral", "neutral"),
  ])
  _write(tmp_path, "dev_mismatched.tsv", [
      dev_header,
      _mnli_row("5", "Your gift.", "No gift.", "contradiction", "c", "c", "c",
                "c", "contradiction"),
  ])
  _write(tmp_path, "test_matched.tsv", [_t(*cols), _mnli_row("9", "P.", "H.")])
  p = glue.get_processor("MNLI")
  assert p.get_labels() == ["contradiction", "entailment", "neutral"]
  assert _as_tuples(p.get_train_examples(str(tmp_path))) == [
      ("train-0", "Conceptually cream.", "Product and geography.", "neutral")]
  assert _as_tuples(p.get_dev_examples(str(tmp_path))) == [
      ("dev_matched-0", "The new rights.", "Everyone loves.", "neutral")]
  assert _as_tuples(p.get_dev_mismatched_examples(str(tmp_path))) == [
      ("dev_mismatched-5", "Your gift.", "No gift.", "contradiction")]
  assert _as_tuples(p.get_test_examples(str(tmp_path))) == [
      ("test-9", "P.", "H.", "contradiction")]


@pytest.mark.parametrize("task, header, labels", [
    ("qnli", ("index", "question", "sentence", "label"),
     ("entailment", "not_entailment")),
    ("rte", ("index", "sentence1", "sentence2", "label"),
     ("entailment", "not_entailment")),
    ("wnli", ("index", "sentence1", "sentence2", "label"), ("0", "1")),
])
def test_index_text_text_label_tasks(tmp_path, task, header, labels):
  _write(tmp_path, "train.tsv", [
      _t(*header), _t("0", "First a.", "First b.", labels[1]),
      _t("1", "Second a.", "Second b.", labels[0])
  ])
  _write(tmp_path, "dev.tsv", [_t(*header), _t("3", "a", "b", "maybe")])
  _write(tmp_path, "test.tsv", [_t(*header[:3]), _t("0", "Ta.", "Tb.")])
  p = glue.get_processor(task.upper())
  assert p.get_labels() == list(labels)
  assert _as_tuples(p.get_train_examples(str(tmp_path))) == [
      ("train-0", "First a.", "First b.", labels[1]),
      ("train-1", "Second a.", "Second b.", labels[0]),
  ]
  assert _as_tuples(p.get_test_examples(str(tmp_path))) == [
      ("test-0", "Ta.", "Tb.", labels[0])]
  with pytest.raises(ValueError) as e:
    p.get_dev_examples(str(tmp_path))
  assert str(e.value) == "%s:2: label 'maybe' is not one of the labels %s" % (
      tmp_path / "dev.tsv", ", ".join(repr(l) for l in labels))


def test_xnli(tmp_path):
  _write(tmp_path, "multinli/multinli.train.de.tsv", [
      _t("premise", "hypo", "label"),
      _t("Ein Hund.", "Ein Tier.", "entailment"),
      _t("Ja.", "Nein.", "contradictory")
  ])
  dev_header = _t("language", "gold_label", "s1bp", "s2bp", "s1p", "s2p",
                  "sentence1", "sentence2", "promptID", "pairID", "genre",
                  "label1", "label2", "label3", "label4", "label5")
  rest = ["1", "1", "facetoface", "a", "b", "c", "d", "e"]
  _write(tmp_path, "xnli.dev.tsv", [
      dev_header,
      _t("zh", "neutral", "x", "x", "x", "x", u"\u4f60\u597d", u"\u597d",
         *rest),
      _t("de", "neutral", "x", "x", "x", "x", "Hallo.", "Gut.", *rest),
  ])
  p = glue.get_processor("xnli", language="de")
  assert _as_tuples(p.get_train_examples(str(tmp_path))) == [
      ("train-1", "Ein Hund.", "Ein Tier.", "entailment"),
      ("train-2", "Ja.", "Nein.", "contradiction"),
  ]
  # The guid counts rows of all languages, as in the reference.
  assert _as_tuples(p.get_dev_examples(str(tmp_path))) == [
      ("dev-2", "Hallo.", "Gut.", "neutral")]
  zh = glue.XnliProcessor()
  assert zh.language == "zh"
  assert _as_tuples(zh.get_dev_examples(str(tmp_path))) == [
      ("dev-1", u"\u4f60\u597d", u"\u597d", "neutral")]
  with pytest.raises(ValueError, match=r"xnli.dev.tsv: expected rows for the "
                     r"language 'fr' in column 1, found de, zh"):
    glue.XnliProcessor("fr").get_dev_examples(str(tmp_path))


# ----------------------------------------------------------------- generic --


def test_generic_tsv_by_index_infers_sorted_labels(tmp_path):
  _write(tmp_path, "train.tsv", [
      _t("id", "text", "label"), _t("a", 'says "hi"', "pos"),
      _t("b", "bad one", "neg"), _t("c", "fine", "pos")
  ])
  _write(tmp_path, "dev.tsv", [_t("id", "text", "label"), _t("d", "ok", "neu")])
  _write(tmp_path, "test.tsv", [_t("id", "text"), _t("e", "what")])
  p = glue.get_processor("Generic", text_a_column=1, label_column=2)
  with pytest.raises(ValueError, match="labels are not known yet"):
    p.get_labels()
  assert _as_tuples(p.get_train_examples(str(tmp_path))) == [
      ("train-1", 'says "hi"', None, "pos"),
      ("train-2", "bad one", None, "neg"),
      ("train-3", "fine", None, "pos"),
  ]
  assert p.get_labels() == ["neg", "pos"]
  assert _as_tuples(p.get_test_examples(str(tmp_path))) == [
      ("test-1", "what", None, "neg")]
  with pytest.raises(ValueError) as e:
    p.get_dev_examples(str(tmp_path))
  assert str(e.value) == (
      "%s:2: label 'neu' is not one of the labels 'neg', 'pos' (those of the "
      "training file %s, which never has 'neu': training never saw it)" % (
          tmp_path / "dev.tsv", tmp_path / "train.tsv"))


def test_generic_csv_by_header_name(tmp_path):
  (tmp_path / "train.csv").write_bytes(
      BOM + b'label,premise,hypothesis\r\n'
      b'yes,"Tom, the cat","He said ""meow"""\r\n'
      b'no,"two\nlines",plain\r\n')
  # The test file orders its columns differently; names are looked up per file.
  (tmp_path / "test.csv").write_bytes(b"hypothesis,premise\nh1,p1\n")
  p = glue.GenericProcessor(
      text_a_column="premise", text_b_column="hypothesis",
      label_column="label", labels=["no", "yes"], delimiter=",",
      train_file="train.csv", test_file="test.csv")
  assert p.quotechar == '"'
  assert _as_tuples(p.get_train_examples(str(tmp_path))) == [
      ("train-1", "Tom, the cat", 'He said "meow"', "yes"),
      ("train-2", "two\nlines", "plain", "no"),
  ]
  assert _as_tuples(p.get_test_examples(str(tmp_path))) == [
      ("test-1", "p1", "h1", "no")]
  missing = glue.GenericProcessor(text_a_column="sentence", delimiter=",",
                                  labels=["no", "yes"], train_file="train.csv")
  with pytest.raises(ValueError, match=r"train.csv:1: expected a header with a "
                     r"column named 'sentence', found 'label', 'premise'"):
    missing.get_train_examples(str(tmp_path))


def test_generic_csv_malformed_row(tmp_path):
  (tmp_path / "train.csv").write_bytes(b"s,l\nfine,1\n\nshort\n")
  p = glue.GenericProcessor(0, label_column=1, delimiter=",",
                            train_file="train.csv")
  with pytest.raises(ValueError) as e:
    p.get_train_examples(str(tmp_path))
  assert str(e.value) == "%s:4: expected at least 2 columns, found 1" % (
      tmp_path / "train.csv")


def test_generic_regression_and_argument_checks(tmp_path):
  _write(tmp_path, "train.tsv", [_t("x", "2.5"), _t("y", "-1")])
  p = glue.GenericProcessor(0, label_column=1, has_header=False,
                            is_regression=True)
  assert p.get_labels() is None and p.metric_names == ("pearson", "spearman")
  assert _as_tuples(p.get_train_examples(str(tmp_path))) == [
      ("train-0", "x", None, 2.5), ("train-1", "y", None, -1.0)]
  with pytest.raises(ValueError, match="needs has_header=True"):
    glue.GenericProcessor("text", has_header=False)
  with pytest.raises(ValueError, match="distinct"):
    glue.GenericProcessor(0, labels=["a", "a"])
  with pytest.raises(ValueError, match="Unknown metric"):
    glue.GenericProcessor(0, labels=["a"], metric_names=["bleu"])


# ---------------------------------------------------------------- registry --


def test_registry_names_and_unknown_task():
  assert glue.PROCESSORS["sst-2"] is glue.PROCESSORS["sst2"]
  assert glue.PROCESSORS["sts-b"] is glue.PROCESSORS["stsb"]
  assert set(glue.PROCESSORS) >= {
      "cola", "sst-2", "sst2", "mrpc", "qqp", "sts-b", "stsb", "mnli", "qnli",
      "rte", "wnli", "xnli", "generic"}
  assert isinstance(glue.get_processor(" CoLA "), glue.ColaProcessor)
  with pytest.raises(ValueError) as e:
    glue.get_processor("squadish")
  assert "Unknown task 'squadish'" in str(e.value)
  assert "cola, generic, mnli, mrpc" in str(e.value)


def test_register_processor(monkeypatch):
  monkeypatch.setattr(glue, "PROCESSORS", dict(glue.PROCESSORS))

  class MyProcessor(glue.Sst2Processor):
    pass

  glue.register_processor("My-Task", MyProcessor)
  assert isinstance(glue.get_processor("my-task"), MyProcessor)
  with pytest.raises(ValueError, match="already registered"):
    glue.register_processor("mrpc", MyProcessor)
  with pytest.raises(ValueError, match="DataProcessor subclass"):
    glue.register_processor("x", dict)


# ----------------------------------------------------------------- metrics --


def test_compute_metrics():
  # MRPC from logits: argmax -> [1, 0, 1, 1]; labels [1, 0, 0, 1]:
  # tp=2, fp=1, fn=0 -> accuracy 3/4, F1 = 4 / (4 + 1 + 0) = 0.8.
  logits = [[0.1, 0.9], [2.0, -1.0], [0.0, 0.5], [-3.0, 3.0]]
  result = glue.compute_metrics("mrpc", logits, [1, 0, 0, 1], loss=0.25)
  assert list(result) == ["accuracy", "f1", "loss"]
  assert result["accuracy"] == pytest.approx(0.75)
  assert result["f1"] == pytest.approx(0.8)
  assert result["loss"] == 0.25
  # Label strings are mapped through get_labels(): same numbers as above.
  by_name = glue.compute_metrics(glue.MrpcProcessor(), ["1", "0", "1", "1"],
                                 ["1", "0", "0", "1"])
  assert by_name == {"accuracy": 0.75, "f1": pytest.approx(0.8)}
  # CoLA: tp=2, tn=2, fp=1, fn=0 ->
  # MCC = (2*2 - 1*0) / sqrt((tp+fp)(tp+fn)(tn+fp)(tn+fn)) = 4 / sqrt(3*2*3*2)
  #     = 4/6.
  assert glue.compute_metrics("cola", [1, 0, 1, 0, 1], [1, 0, 0, 0, 1]) == {
      "mcc": pytest.approx(2.0 / 3.0)}
  # STS-B, predictions of shape [n, 1]; x = [1..5], y = [2, 4, 5, 4, 5]:
  # dx = [-2,-1,0,1,2], dy = [-2,0,1,0,1]; r = 6 / sqrt(10 * 6).
  # Ranks of y (ties averaged) = [1, 2.5, 4.5, 2.5, 4.5]; their deviations
  # [-2,-.5,1.5,-.5,1.5] give rho = 7 / sqrt(10 * 9).
  result = glue.compute_metrics("sts-b", [[1.0], [2.0], [3.0], [4.0], [5.0]],
                                [2.0, 4.0, 5.0, 4.0, 5.0])
  assert result == {"pearson": pytest.approx(6.0 / np.sqrt(60.0)),
                    "spearman": pytest.approx(7.0 / np.sqrt(90.0))}
  with pytest.raises(ValueError, match="predictions holds '2', which is not "
                     "one of the labels '0', '1'"):
    glue.compute_metrics("mrpc", ["2"], ["1"])
  with pytest.raises(ValueError, match="needs constructor arguments"):
    glue.compute_metrics("generic", [0], [0])


def test_metric_functions():
  fns = glue.metric_functions("QQP")
  assert list(fns) == ["accuracy", "f1"]
  # predictions [1, 1, 0], labels [1, 0, 0]: tp=1, fp=1 -> F1 = 2/(2+1+0).
  assert fns["f1"](np.array([1, 1, 0]), np.array([1, 0, 0])) == (
      pytest.approx(2.0 / 3.0))
  assert list(glue.metric_functions(glue.ColaProcessor())) == ["mcc"]
  generic = glue.GenericProcessor(0, labels=["a", "b"],
                                  metric_names=["accuracy", "recall"])
  assert list(glue.metric_functions(generic)) == ["accuracy", "recall"]


# --------------------------------------------------------- real GLUE files --


def _raw_line(path, number):
  """Line `number` (1-based) of `path`, from the bytes, without BOM or EOL."""
  raw = path.read_bytes().split(b"\n")[number - 1]
  if number == 1 and raw.startswith(BOM):
    raw = raw[len(BOM):]
  return raw.rstrip(b"\r").decode("utf-8").split("\t")


def test_real_mrpc(glue_dir):
  data_dir = glue_dir / "MRPC"
  assert (data_dir / "train.tsv").read_bytes().startswith(BOM + b"Quality\t")
  p = glue.get_processor("MRPC")
  train = p.get_train_examples(str(data_dir))
  dev = p.get_dev_examples(str(data_dir))
  assert (len(train), len(dev)) == (3668, 408)
  assert collections.Counter(e.label for e in train) == {"1": 2474, "0": 1194}
  assert collections.Counter(e.label for e in dev) == {"1": 279, "0": 129}
  assert [e.guid for e in train[:3]] == ["train-1", "train-2", "train-3"]
  assert train[-1].guid == "train-3668"
  raw = _raw_line(data_dir / "train.tsv", 2)
  assert (train[0].label, train[0].text_a, train[0].text_b) == (
      raw[0], raw[3], raw[4])
  assert train[0].label == "1"
  assert train[0].text_a == ('Amrozi accused his brother, whom he called "the '
                             'witness", of deliberately distorting his '
                             'evidence.')
  # A field that opens with a quote it never closes stays literal text.
  assert dev[0].text_b == ('"The foodservice pie business does not fit our '
                           'long-term growth strategy.')
  assert dev[0].text_b == _raw_line(data_dir / "dev.tsv", 2)[4]


def test_real_sst2(glue_dir):
  data_dir = glue_dir / "SST-2"
  p = glue.get_processor("sst2")
  train = p.get_train_examples(str(data_dir))
  dev = p.get_dev_examples(str(data_dir))
  assert (len(train), len(dev)) == (67349, 872)
  assert collections.Counter(e.label for e in train) == {"1": 37569,
                                                         "0": 29780}
  assert (train[0].guid, train[0].text_a, train[0].text_b, train[0].label) == (
      "train-1", "when are bears bears and ", None, "1")
  assert [train[0].text_a, train[0].label] == _raw_line(
      data_dir / "train.tsv", 2)
  assert (dev[0].guid, dev[0].text_a, dev[0].label) == (
      "dev-1", "it 's a charming and often affecting journey . ", "1")
  assert np.all([e.text_b is None for e in dev])

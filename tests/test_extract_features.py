"""extract_features.py against the encoder layers computed directly."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from bert_tf import extract
from bert_tf import tokenization
import serving_helpers as helpers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_parse_line_and_layers():
  ex = extract.parse_line(4, "The dog runs. ||| A cat ran!")
  assert (ex.unique_id, ex.text_a, ex.text_b) == (4, "The dog runs.",
                                                  "A cat ran!")
  ex = extract.parse_line(0, "just one sentence\n")
  assert (ex.text_a, ex.text_b) == ("just one sentence", None)
  assert extract.parse_layers("-1,-2,0", 2) == [-1, -2, 0]
  with pytest.raises(ValueError, match="out of range"):
    extract.parse_layers("-1,-3", 2)


def test_extract_features_script_matches_model_layers(tmp_path):
  tiny = helpers.make_tiny_model(tmp_path / "m", with_global_step=False)
  lines = ["The dog runs fast.",
           "Hello world ||| How are you?",
           "a very very very good movie and a really great book with a story"]
  input_file = tmp_path / "input.txt"
  input_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
  output_file = str(tmp_path / "out" / "features.jsonl")
  seq = 12  # the third line is truncated to 10 word pieces
  cmd = [sys.executable, os.path.join(ROOT, "extract_features.py"),
         "--input_file=%s" % input_file, "--output_file=" + output_file,
         "--vocab_file=" + tiny.vocab_file,
         "--bert_config_file=" + tiny.config_file,
         "--init_checkpoint=" + tiny.checkpoint, "--layers=-1,-2",
         "--max_seq_length=%d" % seq, "--batch_size=2"]
  proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert os.listdir(os.path.dirname(output_file)) == ["features.jsonl"]
  records = [json.loads(l) for l in open(output_file, encoding="utf-8")]
  assert [r["linex_index"] for r in records] == [0, 1, 2]

  tokenizer = tokenization.FullTokenizer(tiny.vocab_file, True)
  for record, line in zip(records, lines):
    parts = line.split(" ||| ")
    tokens_a = tokenizer.tokenize(parts[0])[:seq - 2]
    tokens = ["[CLS]"] + tokens_a + ["[SEP]"]
    segments = [0] * len(tokens)
    if len(parts) == 2:
      tokens_b = tokenizer.tokenize(parts[1])
      tokens += tokens_b + ["[SEP]"]
      segments += [1] * (len(tokens_b) + 1)
    assert [f["token"] for f in record["features"]] == tokens
    # The model on the unpadded sequence alone (padding must not matter).
    ids = [tokenizer.convert_tokens_to_ids(tokens)]
    direct = helpers.direct_bert_outputs(tiny.bert_config, tiny.checkpoint,
                                         ids, None, [segments])
    for position, feature in enumerate(record["features"]):
      assert [layer["index"] for layer in feature["layers"]] == [-1, -2]
      for layer in feature["layers"]:
        want = direct["all_layers"][layer["index"]][0, position]
        np.testing.assert_allclose(layer["values"], want, atol=2e-5)
        assert all(v == round(v, 6) for v in layer["values"])
  assert len(records[2]["features"]) == seq

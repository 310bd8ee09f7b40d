"""Tests for bert_tf.tokenization.

Expected values are worked out by hand from the algorithm's definition, come
from the `sentencepiece` library itself, or come from Hugging Face's
independent BERT tokenizers run on real text with the same vocabulary.
"""

import inspect

import pytest

from bert_tf import tokenization
from conftest import shared_path


def _vocab_from_file(path):
  """Token -> line index, read without bert_tf (an independent reference)."""
  with open(path, encoding="utf-8") as f:
    return {line.rstrip("\n"): i for i, line in enumerate(f)}


def _write_vocab(tmp_path, tokens, name="vocab.txt"):
  path = tmp_path / name
  path.write_text("".join(t + "\n" for t in tokens), encoding="utf-8")
  return str(path)


# ---------------------------------------------------------------------------
# BasicTokenizer.
# ---------------------------------------------------------------------------


def test_basic_lower_cases_and_strips_accents():
  tok = tokenization.BasicTokenizer(do_lower_case=True)
  assert tok.tokenize(" \tHeLLo!how  \n Are yoU?  ") == [
      "hello", "!", "how", "are", "you", "?"]
  assert tok.tokenize("HéLLo") == ["hello"]
  # Precomposed and decomposed accents both disappear.
  assert tok.tokenize("Ångström naïve cafe\u0301") == [
      "angstrom", "naive", "cafe"]


def test_basic_no_lower_keeps_case_and_accents():
  tok = tokenization.BasicTokenizer(do_lower_case=False)
  assert tok.tokenize(" \tHäLLo!how  \n Are yoU?  ") == [
      "HäLLo", "!", "how", "Are", "yoU", "?"]
  assert tok.tokenize("HéLLo") == ["HéLLo"]


def test_basic_cjk_characters_are_single_tokens():
  tok = tokenization.BasicTokenizer()
  assert tok.tokenize("ah\u535A\u63A8zz") == ["ah", "\u535A", "\u63A8", "zz"]
  assert tok.tokenize("北京欢迎你") == ["北", "京", "欢", "迎", "你"]
  # Hiragana and Hangul are not in the CJK ideograph blocks: no splitting.
  cased = tokenization.BasicTokenizer(do_lower_case=False)
  assert cased.tokenize("ひらがな 한국어") == ["ひらがな", "한국어"]
  # Accent stripping (NFD, drop Mn) removes the dakuten of "が" and leaves
  # Hangul syllables decomposed into conjoining jamo.
  assert tok.tokenize("ひらがな 한국어") == [
      "ひらかな", "한국어"]


def test_basic_splits_punctuation_including_ascii_symbols():
  tok = tokenization.BasicTokenizer()
  # "$", "^", "`", "~" are Unicode symbols (S*), not punctuation (P*), but
  # every non-alphanumeric ASCII character is split off.
  assert tok.tokenize("$5^2 a`b~c") == ["$", "5", "^", "2", "a", "`", "b",
                                        "~", "c"]
  assert tok.tokenize("don't-stop...") == ["don", "'", "t", "-", "stop", ".",
                                           ".", "."]
  assert tok.tokenize("«hi»—ok¿") == ["«", "hi", "»", "—", "ok", "¿"]
  # A non-ASCII symbol (Sm/So) is not punctuation.
  assert tok.tokenize("a±b ©x") == ["a±b", "©x"]


def test_basic_removes_control_characters_nul_and_replacement_char():
  tok = tokenization.BasicTokenizer()
  # NUL, U+FFFD, BEL (Cc), zero-width space and soft hyphen (Cf) vanish
  # without splitting the word.
  assert tok.tokenize("a\x00b\ufffdc\x07d\u200be\u00adf") == ["abcdef"]
  # Like the reference (which drops only Cc/Cf), a private-use character is
  # kept as part of its word.
  assert tok.tokenize("x\ue000y z") == ["x\ue000y", "z"]


def test_basic_whitespace_variants_split_words():
  tok = tokenization.BasicTokenizer()
  text = "a\u00a0b\u3000c\u2009d\te\r\nf \u202fg"
  assert tok.tokenize(text) == ["a", "b", "c", "d", "e", "f", "g"]
  assert tok.tokenize("") == []
  assert tok.tokenize(" \u00a0\t\n ") == []


def test_basic_accepts_utf8_bytes():
  tok = tokenization.BasicTokenizer()
  assert tok.tokenize("Caf\u00e9!".encode("utf-8")) == ["cafe", "!"]


def test_character_class_helpers():
  for ch in (" ", "\t", "\r", "\n", "\u00a0", "\u3000"):
    assert tokenization._is_whitespace(ch), repr(ch)
  for ch in ("A", "-", "\x07"):
    assert not tokenization._is_whitespace(ch), repr(ch)
  for ch in ("\x05", "\x7f", "\u200b"):
    assert tokenization._is_control(ch), repr(ch)
  for ch in ("A", " ", "\t", "\r", "\n", "\ue000"):
    assert not tokenization._is_control(ch), repr(ch)
  for ch in ("-", "$", "`", ".", "\u00bf", "\u3002"):
    assert tokenization._is_punctuation(ch), repr(ch)
  for ch in ("A", " ", "5", "\u00b1"):
    assert not tokenization._is_punctuation(ch), repr(ch)


# ---------------------------------------------------------------------------
# WordpieceTokenizer.
# ---------------------------------------------------------------------------


def test_wordpiece_greedy_longest_match(tiny_vocab_file):
  vocab = tokenization.load_vocab(tiny_vocab_file)
  tok = tokenization.WordpieceTokenizer(vocab)
  assert tok.tokenize("unaffable") == ["un", "##aff", "##able"]
  assert tok.tokenize("playing dogs played") == [
      "play", "##ing", "dog", "##s", "play", "##ed"]
  # "un" matches but no "##w..." piece exists: the whole word is unknown.
  assert tok.tokenize("unwanted") == ["[UNK]"]
  assert tok.tokenize("zebra the") == ["[UNK]", "the"]
  assert tok.tokenize("") == []


def test_wordpiece_max_input_chars_per_word():
  vocab = {"[UNK]": 0, "a": 1, "##a": 2}
  tok = tokenization.WordpieceTokenizer(vocab)
  assert tok.tokenize("a" * 200) == ["a"] + ["##a"] * 199
  assert tok.tokenize("a" * 201) == ["[UNK]"]
  short = tokenization.WordpieceTokenizer(vocab, max_input_chars_per_word=3)
  assert short.tokenize("aaa aaaa") == ["a", "##a", "##a", "[UNK]"]


# ---------------------------------------------------------------------------
# FullTokenizer and vocabulary handling.
# ---------------------------------------------------------------------------


def test_full_tokenizer_ids_and_round_trip(tiny_vocab_file):
  tok = tokenization.FullTokenizer(tiny_vocab_file, do_lower_case=True)
  tokens = tok.tokenize("The DOG, playing unaffable Zebras!")
  assert tokens == ["the", "dog", ",", "play", "##ing", "un", "##aff",
                    "##able", "[UNK]", "!"]
  lines = _vocab_from_file(tiny_vocab_file)
  ids = tok.convert_tokens_to_ids(tokens)
  assert ids == [lines[t] for t in tokens]
  assert tok.convert_ids_to_tokens(ids) == tokens
  # Module-level helpers agree with the methods.
  assert tokenization.convert_tokens_to_ids(tok.vocab, tokens) == ids
  assert tokenization.convert_ids_to_tokens(tok.inv_vocab, ids) == tokens


def test_full_tokenizer_cased_does_not_lower(tiny_vocab_file):
  tok = tokenization.FullTokenizer(tiny_vocab_file, do_lower_case=False)
  assert tok.tokenize("The dog") == ["[UNK]", "dog"]


def test_load_vocab_ids_follow_line_order(tiny_vocab_file):
  vocab = tokenization.load_vocab(tiny_vocab_file)
  assert dict(vocab) == _vocab_from_file(tiny_vocab_file)
  assert list(vocab)[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def test_load_vocab_missing_file_names_path(tmp_path):
  path = str(tmp_path / "no_such_vocab.txt")
  with pytest.raises(FileNotFoundError, match="no_such_vocab.txt"):
    tokenization.load_vocab(path)
  with pytest.raises(FileNotFoundError, match="no_such_vocab.txt"):
    tokenization.FullTokenizer(path)


def test_load_vocab_empty_file_names_path(tmp_path):
  path = tmp_path / "empty_vocab.txt"
  path.write_bytes(b"")
  with pytest.raises(ValueError, match="empty_vocab.txt"):
    tokenization.load_vocab(str(path))


def test_check_special_tokens_names_missing_token(tmp_path):
  tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello"]
  path = _write_vocab(tmp_path, tokens, "nomask_vocab.txt")
  with pytest.raises(ValueError, match=r"\[MASK\]") as info:
    tokenization.check_special_tokens(tokenization.load_vocab(path), path)
  assert "nomask_vocab.txt" in str(info.value)
  assert "[SEP]" not in str(info.value).split("lacks")[1].split(";")[0]
  with pytest.raises(ValueError, match=r"\[MASK\]"):
    tokenization.FullTokenizer(path, check_special=True)
  # Without the check the vocabulary loads fine.
  assert tokenization.FullTokenizer(path).tokenize("Hello") == ["hello"]


def test_check_special_tokens_passes_on_full_vocab(tiny_vocab_file):
  tokenization.check_special_tokens(
      tokenization.load_vocab(tiny_vocab_file), tiny_vocab_file)


def test_convert_to_unicode():
  assert tokenization.convert_to_unicode("héllo") == "héllo"
  assert tokenization.convert_to_unicode("héllo".encode("utf-8")) == "héllo"
  with pytest.raises(ValueError, match="not valid UTF-8"):
    tokenization.convert_to_unicode(b"abc\xff\xfedef")
  with pytest.raises(ValueError, match="Unsupported string type"):
    tokenization.convert_to_unicode(3)
  assert tokenization.printable_text(b"ok") == "ok"


def test_load_vocab_invalid_utf8_names_path_and_line(tmp_path):
  path = tmp_path / "latin1_vocab.txt"
  path.write_bytes(b"[UNK]\ncaf\xe9\n")
  with pytest.raises(ValueError, match=r"latin1_vocab.txt:2"):
    tokenization.load_vocab(str(path))


@pytest.mark.parametrize("do_lower_case,ckpt,raises", [
    (False, "/m/uncased_L-12_H-768_A-12/bert_model.ckpt", True),
    (True, "/m/uncased_L-12_H-768_A-12/bert_model.ckpt", False),
    (True, "/m/cased_L-12_H-768_A-12/bert_model.ckpt", True),
    (False, "/m/cased_L-12_H-768_A-12/bert_model.ckpt", False),
    (True, "gs://b/multi_cased_L-12_H-768_A-12/bert_model.ckpt", True),
    (False, "/m/chinese_L-12_H-768_A-12/bert_model.ckpt", True),
    (False, "/m/my_finetuned_model/bert_model.ckpt", False),
    (True, "/m/model.ckpt-1000", False),
    (False, None, False),
    (True, "", False),
])
def test_validate_case_matches_checkpoint(do_lower_case, ckpt, raises):
  if raises:
    with pytest.raises(ValueError, match="do_lower_case=%s" % do_lower_case):
      tokenization.validate_case_matches_checkpoint(do_lower_case, ckpt)
  else:
    tokenization.validate_case_matches_checkpoint(do_lower_case, ckpt)


# ---------------------------------------------------------------------------
# SentencePiece.
# ---------------------------------------------------------------------------

_SPM_SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "Pack my box with five dozen liquor jugs!",
    "How vexingly quick daft zebras jump.",
    "Sphinx of black quartz, judge my vow.",
    "The five boxing wizards jump quickly.",
    "Jackdaws love my big sphinx of quartz.",
)


@pytest.fixture(scope="module")
def spm_model(tmp_path_factory):
  spm = pytest.importorskip("sentencepiece")
  tmp = tmp_path_factory.mktemp("spm")
  lines = []
  for i in range(36):  # Mixed case, so upper-case letters get pieces too.
    s = _SPM_SENTENCES[i % len(_SPM_SENTENCES)]
    lines.append((s, s.lower(), s.upper())[i % 3])
  corpus = tmp / "corpus.txt"
  corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
  prefix = str(tmp / "tiny")
  spm.SentencePieceTrainer.Train(
      input=str(corpus), model_prefix=prefix, vocab_size=80,
      model_type="unigram", character_coverage=1.0, hard_vocab_limit=False,
      minloglevel=2)
  processor = spm.SentencePieceProcessor()
  processor.Load(prefix + ".model")
  return prefix + ".model", processor


@pytest.mark.parametrize("do_lower_case", [True, False])
def test_sentencepiece_matches_processor(spm_model, do_lower_case):
  model_file, sp = spm_model
  tok = tokenization.FullTokenizer(None, do_lower_case=do_lower_case,
                                   spm_model_file=model_file)
  assert len(tok.vocab) == sp.GetPieceSize()
  for text in ("The QUICK brown fox, judge my vow!",
               "  Sphinx   of\tblack quartz. ",
               "jackdaws LOVE big boxing wizards"):
    expected_text = " ".join(text.split())
    if do_lower_case:
      expected_text = expected_text.lower()
    pieces = tok.tokenize(text)
    assert pieces == sp.EncodeAsPieces(expected_text)
    ids = tok.convert_tokens_to_ids(pieces)
    assert ids == sp.EncodeAsIds(expected_text)
    assert tok.convert_ids_to_tokens(ids) == pieces


def test_sentencepiece_lower_casing_changes_pieces(spm_model):
  model_file, sp = spm_model
  lower = tokenization.FullTokenizer(None, True, spm_model_file=model_file)
  cased = tokenization.FullTokenizer(None, False, spm_model_file=model_file)
  text = "The QUICK Fox"
  assert lower.tokenize(text) == sp.EncodeAsPieces("the quick fox")
  assert cased.tokenize(text) == sp.EncodeAsPieces(text)
  assert lower.tokenize(text) != cased.tokenize(text)


def test_sentencepiece_unknown_characters_map_to_unk(spm_model):
  model_file, sp = spm_model
  tok = tokenization.FullTokenizer(None, True, spm_model_file=model_file)
  # "é" and "ß" never occur in the training text.
  pieces = tok.tokenize("fox é ß")
  unk = sp.IdToPiece(sp.unk_id())
  assert unk in pieces
  assert tok.convert_tokens_to_ids(pieces) == sp.EncodeAsIds("fox é ß")


def test_sentencepiece_missing_model_names_path(tmp_path):
  pytest.importorskip("sentencepiece")
  path = str(tmp_path / "absent.model")
  with pytest.raises(FileNotFoundError, match="absent.model"):
    tokenization.FullTokenizer(None, spm_model_file=path)


# ---------------------------------------------------------------------------
# Parity with Hugging Face's BERT tokenizers on real text.
# ---------------------------------------------------------------------------

# Hand-made inputs exercising accents, CJK, emoji, control characters and
# unusual whitespace. Deliberately excluded (these legitimately differ):
#   * "[CLS]"/"[SEP]"/"[MASK]" written in the text: Hugging Face matches them
#     as special tokens before tokenizing; the reference splits them like any
#     other text ("[", "cl", "##s", "]").
#   * private-use (Co) / unassigned (Cn) code points: Hugging Face deletes
#     every C* character; the reference deletes only Cc and Cf.
#   * upper-case Greek words ending in sigma (e.g. "ΟΔΟΣ"): Python's
#     str.lower() (reference and HF's Python tokenizer) applies the Unicode
#     final-sigma rule, giving "ς"; the Rust tokenizer lower-cases character
#     by character, giving "σ". Checked against the Python tokenizer only.
_HAND_MADE = (
    "Héllo Wörld, naïve café — résumé! Ångström ÅNGSTRÖM",
    "İstanbul ﬁne straße Œuvre Ørsted ĳssel",
    "北京欢迎你 日本語のテキスト 한국어 中文，标点。",
    "I ❤️ emoji 😀👍🏽 👨\u200d👩\u200d👧 ☃ ★",
    "tab\there\x00nul\ufffdrep\x07bell\u200bzw\u00adsoft\x7fdel",
    "nbsp\u00a0ideo\u3000space\u2009thin\u202fnarrow\u2028ls\u2029ps\x85nel",
    "$100^2 `quote` ~tilde~ @user #tag {brace} |pipe| \\back <angle>",
    "\u0301leading combining a\u0300\u0301b e\u0308",
    "x" * 201 + " ok",
    "ｆｕｌｌｗｉｄｔｈ Ⅻ ① ² ½ µ",
    "don't  can't   won't\r\n\r\nnew paragraph",
    "",
    "   ",
)
_GREEK = ("ΟΔΟΣ Σίσυφος ΟΔΥΣΣΕΥΣ.",)


def _read_texts():
  texts = []
  mrpc = shared_path("data", "glue", "MRPC", "train.tsv")
  with open(mrpc, encoding="utf-8-sig") as f:  # The header starts with a BOM.
    rows = [line.rstrip("\n").split("\t") for line in f]
  assert rows[0][0] == "Quality"
  for row in rows[1:301]:
    texts.extend((row[3], row[4]))
  sst = shared_path("data", "glue", "SST-2", "dev.tsv")
  with open(sst, encoding="utf-8") as f:
    rows = [line.rstrip("\n").split("\t") for line in f]
  assert rows[0] == ["sentence", "label"]
  texts.extend(row[0] for row in rows[1:])
  sample = shared_path("data", "corpus", "sample_text.txt")
  with open(sample, encoding="utf-8") as f:
    texts.extend(line for line in f.read().splitlines() if line.strip())
  return texts


def _hf_tokenizers(vocab_file, do_lower_case):
  """Returns [(name, tokenizer)] for HF's Python and Rust BERT tokenizers."""
  transformers = pytest.importorskip("transformers")
  found = []
  try:  # transformers >= 5: the pure-Python tokenizer was renamed.
    from transformers.models.bert.tokenization_bert_legacy import (  # pylint: disable=g-import-not-at-top
        BertTokenizerLegacy as python_cls)
  except ImportError:
    python_cls = transformers.BertTokenizer
  found.append(("python", python_cls(vocab_file,
                                     do_lower_case=do_lower_case)))
  fast_cls = transformers.BertTokenizerFast
  try:
    if "vocab" in inspect.signature(fast_cls.__init__).parameters:
      # transformers >= 5 silently ignores `vocab_file=`; pass the path here.
      fast = fast_cls(vocab=vocab_file, do_lower_case=do_lower_case)
    else:
      fast = fast_cls(vocab_file=vocab_file, do_lower_case=do_lower_case)
  except (OSError, ValueError):  # pragma: no cover - offline without support
    fast = None
  if fast is not None:
    found.append(("rust", fast))
  return found


@pytest.fixture(scope="module")
def minilm_vocab():
  return str(shared_path("models", "minilm-l6-h384-uncased", "vocab.txt"))


@pytest.fixture(scope="module")
def real_texts():
  return _read_texts()


def _assert_same_ids(ours, hf_tokenizers, texts):
  """Asserts each HF tokenizer gives `ours`'s ids on every text."""
  our_ids = [ours.convert_tokens_to_ids(ours.tokenize(t)) for t in texts]
  for name, theirs in hf_tokenizers:
    mismatches = []
    for text, ids in zip(texts, our_ids):
      if ids != theirs.convert_tokens_to_ids(theirs.tokenize(text)):
        mismatches.append(
            (text[:80], ours.tokenize(text)[:20], theirs.tokenize(text)[:20]))
    assert not mismatches, "%s: %d/%d texts differ, e.g. %r" % (
        name, len(mismatches), len(texts), mismatches[:3])


def test_hf_parity_uncased(minilm_vocab, real_texts):
  ours = tokenization.FullTokenizer(minilm_vocab, do_lower_case=True)
  assert len(real_texts) > 1000
  assert sum(any(ord(c) > 127 for c in t) for t in real_texts) >= 5
  hf = _hf_tokenizers(minilm_vocab, do_lower_case=True)
  for name, theirs in hf:
    # Guards against a tokenizer that silently fell back to a default vocab.
    assert len(theirs.get_vocab()) == len(ours.vocab), name
  _assert_same_ids(ours, hf, real_texts + list(_HAND_MADE))
  _assert_same_ids(ours, [t for t in hf if t[0] == "python"], _GREEK)


def test_hf_parity_cased(minilm_vocab, real_texts):
  # The vocabulary is uncased, so capitalised words often become [UNK]; the
  # point is that both sides agree on the cased pipeline (no lower-casing, no
  # accent stripping).
  ours = tokenization.FullTokenizer(minilm_vocab, do_lower_case=False)
  hf = _hf_tokenizers(minilm_vocab, do_lower_case=False)
  texts = real_texts[:200] + real_texts[-40:] + list(_HAND_MADE)
  _assert_same_ids(ours, hf, texts)
  _assert_same_ids(ours, [t for t in hf if t[0] == "python"], _GREEK)


def test_hf_known_difference_private_use(minilm_vocab):
  """Documents the one deliberate divergence from Hugging Face."""
  ours = tokenization.FullTokenizer(minilm_vocab, do_lower_case=True)
  assert ours.tokenize("priv\ue000ate") == ["[UNK]"]
  assert ours.tokenize("private") == ["private"]

"""Tokenization for BERT: basic splitting, WordPiece and SentencePiece.

The public names follow Google's reference `tokenization` module so that code
written against it works with `from bert_tf import tokenization`:

  * `BasicTokenizer`: text cleaning, whitespace and punctuation splitting, CJK
    characters as single tokens, optional lower-casing with accent stripping.
  * `WordpieceTokenizer`: greedy longest-match-first sub-word splitting with
    `##` continuation pieces.
  * `FullTokenizer`: the two above chained, or a SentencePiece model when
    `spm_model_file` is given.

This module never reads absl FLAGS.
"""

import collections
import os
import re
import unicodedata

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
REQUIRED_SPECIAL_TOKENS = ("[UNK]", "[CLS]", "[SEP]", "[MASK]")

# Google's published checkpoints, by the directory name they ship in.
_LOWER_CASED_MODELS = (
    "uncased_L-24_H-1024_A-16",
    "uncased_L-12_H-768_A-12",
    "multilingual_L-12_H-768_A-12",
    "chinese_L-12_H-768_A-12",
)
_CASED_MODELS = (
    "cased_L-12_H-768_A-12",
    "cased_L-24_H-1024_A-16",
    "multi_cased_L-12_H-768_A-12",
)


def validate_case_matches_checkpoint(do_lower_case, init_checkpoint):
  """Raises ValueError if `do_lower_case` contradicts a known checkpoint's name.

  Only Google's published checkpoints are recognised (by the name of the
  directory holding `bert_model.ckpt`); any other path passes unchecked.

  Args:
    do_lower_case: bool, the casing the user asked for.
    init_checkpoint: str or None, path such as
      `.../uncased_L-12_H-768_A-12/bert_model.ckpt`.
  """
  if not init_checkpoint:
    return
  match = re.match(r"^.*?([A-Za-z0-9_-]+)/bert_model\.ckpt", init_checkpoint)
  if match is None:
    return
  model_name = match.group(1)
  if model_name in _LOWER_CASED_MODELS and not do_lower_case:
    actual_flag, case_name, opposite_flag = "False", "lowercased", "True"
  elif model_name in _CASED_MODELS and do_lower_case:
    actual_flag, case_name, opposite_flag = "True", "cased", "False"
  else:
    return
  raise ValueError(
      "You passed in `--do_lower_case=%s` with `--init_checkpoint=%s`. The "
      "checkpoint `%s` is a %s model, so train with `--do_lower_case=%s` (or "
      "use a checkpoint whose casing matches)." %
      (actual_flag, init_checkpoint, model_name, case_name, opposite_flag))


def convert_to_unicode(text):
  """Returns `text` as `str`, decoding UTF-8 bytes.

  Raises:
    ValueError: for bytes that are not valid UTF-8 or for a non-text type.
  """
  if isinstance(text, str):
    return text
  if isinstance(text, bytes):
    try:
      return text.decode("utf-8")
    except UnicodeDecodeError as e:
      raise ValueError(
          "Input text is not valid UTF-8 (bad byte 0x%02x at offset %d of %r). "
          "Re-encode the file as UTF-8." %
          (text[e.start], e.start, text[max(0, e.start - 20):e.start + 20]))
  raise ValueError("Unsupported string type: %s" % type(text))


def printable_text(text):
  """Returns `text` in a form suitable for printing or logging (a `str`)."""
  if isinstance(text, str):
    return text
  if isinstance(text, bytes):
    return text.decode("utf-8", "ignore")
  raise ValueError("Unsupported string type: %s" % type(text))


def load_vocab(vocab_file):
  """Loads a vocabulary file (one token per line) into an ordered dict.

  Args:
    vocab_file: path of the vocabulary.

  Returns:
    collections.OrderedDict mapping token (str) -> id (int), ids in file order.

  Raises:
    FileNotFoundError / ValueError: with the path, for a missing, empty or
      non-UTF-8 file.
  """
  if "://" in vocab_file:
    # Remote (gs://, hdfs://...): through TensorFlow's file system layer.
    import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
    exists, open_file = tf.io.gfile.exists, tf.io.gfile.GFile
  else:
    # Local files without importing TensorFlow (data creation runs without).
    exists, open_file = os.path.exists, open
  if not exists(vocab_file):
    raise FileNotFoundError("Vocabulary file not found: %s" % vocab_file)
  vocab = collections.OrderedDict()
  with open_file(vocab_file, "rb") as reader:
    for line_number, raw in enumerate(reader, start=1):
      try:
        token = convert_to_unicode(raw)
      except ValueError as e:
        raise ValueError("%s:%d: %s" % (vocab_file, line_number, e))
      token = token.strip()
      # Keep the line's id even when the token repeats; first occurrence wins.
      if token not in vocab:
        vocab[token] = line_number - 1
  if not vocab:
    raise ValueError("Vocabulary file is empty: %s" % vocab_file)
  return vocab


def check_special_tokens(vocab, source, required=REQUIRED_SPECIAL_TOKENS):
  """Raises ValueError naming `source` if `vocab` lacks any required token."""
  missing = [t for t in required if t not in vocab]
  if missing:
    raise ValueError(
        "Vocabulary %s lacks the special token(s) %s; a BERT vocabulary needs "
        "all of %s." % (source, ", ".join(missing), ", ".join(required)))


def convert_by_vocab(vocab, items):
  """Maps each item through `vocab` (a dict)."""
  return [vocab[item] for item in items]


def convert_tokens_to_ids(vocab, tokens):
  return convert_by_vocab(vocab, tokens)


def convert_ids_to_tokens(inv_vocab, ids):
  return convert_by_vocab(inv_vocab, ids)


def whitespace_tokenize(text):
  """Strips `text` and splits it on runs of whitespace."""
  return text.split()


def _is_whitespace(char):
  """True for space, tab, newline, carriage return and Unicode `Zs`."""
  if char in (" ", "\t", "\n", "\r"):
    return True
  return unicodedata.category(char) == "Zs"


def _is_control(char):
  """True for Unicode `Cc`/`Cf` characters other than tab, newline and return.

  Like the reference, private-use (`Co`), unassigned (`Cn`) and surrogate
  (`Cs`) code points are kept (WordPiece then maps them to `[UNK]`); Hugging
  Face's tokenizers drop every `C*` character instead.
  """
  if char in ("\t", "\n", "\r"):
    return False
  return unicodedata.category(char) in ("Cc", "Cf")


def _is_punctuation(char):
  """True for ASCII non-alphanumeric symbols and Unicode `P*` characters."""
  cp = ord(char)
  # ASCII symbols such as "^", "$" and "`" are not Unicode punctuation but are
  # split off all the same.
  if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
    return True
  return unicodedata.category(char).startswith("P")


# CJK Unified Ideographs blocks (not Hangul, Hiragana or Katakana, which are
# written with spaces or handled by WordPiece like other scripts).
_CJK_RANGES = (
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F), (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF), (0x2F800, 0x2FA1F),
)


def _is_chinese_char(cp):
  if cp < 0x3400:  # fast path: everything below the first CJK block
    return False
  for lo, hi in _CJK_RANGES:
    if lo <= cp <= hi:
      return True
  return False


# ASCII fast path of BasicTokenizer._clean_text: tab/newline/return become a
# space; the other C0 controls and DEL (Unicode Cc) are dropped.
_ASCII_CLEAN_TABLE = {cp: None for cp in list(range(32)) + [127]}
_ASCII_CLEAN_TABLE.update({9: " ", 10: " ", 13: " "})


class BasicTokenizer(object):
  """Cleans text and splits it on whitespace and punctuation."""

  def __init__(self, do_lower_case=True):
    self.do_lower_case = do_lower_case

  def tokenize(self, text):
    """Returns the list of basic tokens (str) of `text` (str or UTF-8 bytes)."""
    text = self._clean_text(convert_to_unicode(text))
    text = self._space_chinese_chars(text)
    tokens = []
    for token in whitespace_tokenize(text):
      if self.do_lower_case:
        token = self._strip_accents(token.lower())
      tokens.extend(self._split_on_punc(token))
    return whitespace_tokenize(" ".join(tokens))

  @staticmethod
  def _strip_accents(text):
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn")

  @staticmethod
  def _split_on_punc(text):
    """Splits `text` so every punctuation character is its own piece."""
    pieces = []
    current = []
    for char in text:
      if _is_punctuation(char):
        if current:
          pieces.append("".join(current))
          current = []
        pieces.append(char)
      else:
        current.append(char)
    if current:
      pieces.append("".join(current))
    return pieces

  @staticmethod
  def _space_chinese_chars(text):
    if text.isascii():
      return text
    out = []
    for char in text:
      if _is_chinese_char(ord(char)):
        out.extend((" ", char, " "))
      else:
        out.append(char)
    return "".join(out)

  @staticmethod
  def _clean_text(text):
    """Drops NUL, U+FFFD and control characters; maps whitespace to ' '."""
    if text.isascii():
      return text.translate(_ASCII_CLEAN_TABLE)
    out = []
    for char in text:
      cp = ord(char)
      if cp == 0 or cp == 0xFFFD or _is_control(char):
        continue
      out.append(" " if _is_whitespace(char) else char)
    return "".join(out)


  # The reference's names of the steps above (third-party code calls them).

  def _run_strip_accents(self, text):
    """Strips accents (combining marks after NFD) from `text`."""
    return self._strip_accents(text)

  def _run_split_on_punc(self, text):
    """Splits punctuation off `text`: a list of str pieces."""
    return self._split_on_punc(text)

  def _tokenize_chinese_chars(self, text):
    """Adds whitespace around every CJK character."""
    return self._space_chinese_chars(text)

  def _is_chinese_char(self, cp):
    """Whether the code point `cp` is a CJK Unified Ideograph."""
    return _is_chinese_char(cp)


class WordpieceTokenizer(object):
  """Greedy longest-match-first WordPiece splitting."""

  def __init__(self, vocab, unk_token="[UNK]", max_input_chars_per_word=200):
    self.vocab = vocab
    self.unk_token = unk_token
    self.max_input_chars_per_word = max_input_chars_per_word

  def tokenize(self, text):
    """Splits whitespace-separated words of `text` into WordPiece tokens.

    A word longer than `max_input_chars_per_word` characters, or one that
    cannot be covered entirely by vocabulary pieces, becomes `unk_token`.

    Example: "unaffable" -> ["un", "##aff", "##able"].
    """
    output = []
    for word in whitespace_tokenize(convert_to_unicode(text)):
      if len(word) > self.max_input_chars_per_word:
        output.append(self.unk_token)
        continue
      pieces = []
      start = 0
      while start < len(word):
        end = len(word)
        piece = None
        while end > start:
          candidate = word[start:end]
          if start > 0:
            candidate = "##" + candidate
          if candidate in self.vocab:
            piece = candidate
            break
          end -= 1
        if piece is None:
          pieces = None
          break
        pieces.append(piece)
        start = end
      if pieces is None:
        output.append(self.unk_token)
      else:
        output.extend(pieces)
    return output


class FullTokenizer(object):
  """End-to-end tokenizer: BasicTokenizer + WordPiece, or SentencePiece.

  Args:
    vocab_file: path of a WordPiece vocabulary (one token per line). May be
      None when `spm_model_file` is given.
    do_lower_case: lower-case (and, for WordPiece, strip accents) first.
    spm_model_file: optional path of a SentencePiece model; when given, text
      is split into the model's pieces and ids come from the model (or from
      `vocab_file` if that is given too, as ALBERT-style releases ship).
    check_special: if True, raise ValueError when the vocabulary lacks one of
      `[UNK]`, `[CLS]`, `[SEP]`, `[MASK]`.
  """

  def __init__(self, vocab_file, do_lower_case=True, spm_model_file=None,
               check_special=False):
    self.do_lower_case = do_lower_case
    self.vocab_file = vocab_file
    self.spm_model_file = spm_model_file
    self.sp_model = None
    if spm_model_file:
      import sentencepiece as spm  # pylint: disable=g-import-not-at-top
      if not os.path.exists(spm_model_file):
        raise FileNotFoundError(
            "SentencePiece model not found: %s" % spm_model_file)
      self.sp_model = spm.SentencePieceProcessor()
      self.sp_model.Load(spm_model_file)
      if vocab_file:
        self.vocab = load_vocab(vocab_file)
      else:
        self.vocab = collections.OrderedDict(
            (self.sp_model.IdToPiece(i), i)
            for i in range(self.sp_model.GetPieceSize()))
      source = spm_model_file
    else:
      if not vocab_file:
        raise ValueError("FullTokenizer needs a vocab_file or spm_model_file.")
      self.vocab = load_vocab(vocab_file)
      source = vocab_file
    self.inv_vocab = {v: k for k, v in self.vocab.items()}
    if check_special:
      check_special_tokens(self.vocab, source)
    self.basic_tokenizer = BasicTokenizer(do_lower_case=do_lower_case)
    self.wordpiece_tokenizer = WordpieceTokenizer(vocab=self.vocab)

  def tokenize(self, text):
    """Returns the list of tokens (str) of `text` (str or UTF-8 bytes)."""
    if self.sp_model is not None:
      text = convert_to_unicode(text)
      text = " ".join(text.split())
      if self.do_lower_case:
        text = text.lower()
      pieces = self.sp_model.EncodeAsPieces(text)
      unk = self.sp_model.IdToPiece(self.sp_model.unk_id())
      return [p if p in self.vocab else unk for p in pieces]
    split_tokens = []
    for token in self.basic_tokenizer.tokenize(text):
      split_tokens.extend(self.wordpiece_tokenizer.tokenize(token))
    return split_tokens

  def convert_tokens_to_ids(self, tokens):
    return convert_by_vocab(self.vocab, tokens)

  def convert_ids_to_tokens(self, ids):
    return convert_by_vocab(self.inv_vocab, ids)

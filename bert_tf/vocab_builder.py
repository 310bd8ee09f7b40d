"""Builds a BERT vocabulary from raw text with SentencePiece.

Two outputs (`model_type`):

  * "wordpiece" (default): a `vocab.txt` for `FullTokenizer(vocab_file)`
    (BasicTokenizer + greedy WordPiece). The text is first split exactly as
    BasicTokenizer splits it (so punctuation is a word of its own), a
    SentencePiece unigram model is trained on those words, and its pieces are
    rewritten in WordPiece convention: a word-initial piece "▁walk" becomes
    "walk", a word-internal piece "ing" becomes "##ing". The file lists, in
    order: [PAD] [UNK] [CLS] [SEP] [MASK], `num_unused` [unusedN] slots, every
    kept character c as "c" then every one as "##c" (so any word made of kept
    characters can be covered and only words with rare characters become
    [UNK]), then the converted pieces in the model's order, duplicates
    removed, up to `vocab_size` entries.
  * "sentencepiece": `spm.model` (unigram; [PAD]=0, [UNK]=1 and the control
    symbols [CLS]=2, [SEP]=3, [MASK]=4, then [unusedN]) and `vocab.txt` with
    its pieces in id order, for `FullTokenizer(None, spm_model_file=...)`.
    The training text is lower-cased like FullTokenizer does with
    do_lower_case.

Training lines are the non-blank lines of the input files; above
`input_sentence_size` lines a deterministic sample (seeded by `seed`) is used.
SentencePiece runs with one thread (its result depends on the thread count),
so the output depends only on the input and the arguments.

CLI:
  python -m bert_tf.vocab_builder --input_file=corpus/*.txt \
      --output_dir=/tmp/vocab --vocab_size=8000 [--do_lower_case] \
      [--model_type=wordpiece|sentencepiece]

The library functions never read absl FLAGS (flags are defined only when the
module runs as a script).
"""

import collections
import io
import os
import random
import re
import uuid

from absl import app
from absl import flags
from absl import logging
import sentencepiece as spm
import tensorflow.compat.v1 as tf

from bert_tf import input_pipeline
from bert_tf import tokenization
from bert_tf.tasks import pretraining

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
MODEL_TYPES = ("wordpiece", "sentencepiece")

VocabResult = collections.namedtuple(
    "VocabResult",
    ["vocab_file", "spm_model_file", "vocab_size", "unk_rate",
     "num_training_lines"])
VocabResult.__doc__ = """What `build_vocab` wrote.

Attributes:
  vocab_file: str, path of vocab.txt.
  spm_model_file: str or None, path of spm.model ("sentencepiece" only).
  vocab_size: int, entries in vocab.txt.
  unk_rate: float, fraction of [UNK] among the FullTokenizer tokens of up to
    `eval_lines` sampled training lines.
  num_training_lines: int, lines the SentencePiece model was trained on.
"""

# BasicTokenizer on ASCII text: control characters are dropped, tab/newline/
# return become spaces, and every ASCII symbol is a token of its own.
_ASCII_DROP = dict.fromkeys([c for c in range(32) if c not in (9, 10, 13)] +
                            [127])
_ASCII_WORDS = re.compile(r"[A-Za-z0-9]+|[!-/:-@\[-`{-~]")


def basic_words(text, do_lower_case, basic_tokenizer=None):
  """Returns the words BasicTokenizer(do_lower_case) makes of `text` (str).

  ASCII lines take a regex fast path (identical output); others go through
  `basic_tokenizer` (a tokenization.BasicTokenizer).
  """
  if text.isascii():
    text = text.translate(_ASCII_DROP)
    if do_lower_case:
      text = text.lower()
    return _ASCII_WORDS.findall(text)
  if basic_tokenizer is None:
    basic_tokenizer = tokenization.BasicTokenizer(do_lower_case=do_lower_case)
  return basic_tokenizer.tokenize(text)


def read_training_lines(input_files, max_lines=None, seed=12345):
  """Returns the non-blank lines of `input_files` (stripped str).

  Args:
    input_files: list of paths or a str of comma-separated globs.
    max_lines: if more lines than this, a sample of this many lines (kept in
      corpus order) drawn with random.Random(seed).
    seed: int.

  Raises:
    ValueError: naming the file and line for bytes that are not UTF-8, or if
      there is no text.
  """
  lines = []
  for path in input_pipeline.expand_file_patterns(input_files):
    lines.extend(line for _, line in pretraining.read_text_lines(path) if line)
  if not lines:
    raise ValueError("No text in %s." % (input_files,))
  if max_lines and len(lines) > max_lines:
    keep = sorted(random.Random(seed).sample(range(len(lines)), max_lines))
    lines = [lines[i] for i in keep]
  return lines


def _train_sentencepiece(sentences, vocab_size, seed, **kwargs):
  """Trains a unigram SentencePiece model; returns its serialized bytes."""
  spm.set_random_generator_seed(seed)
  model = io.BytesIO()
  options = dict(
      model_type="unigram",
      vocab_size=vocab_size,
      hard_vocab_limit=False,
      input_sentence_size=0,
      shuffle_input_sentence=False,
      max_sentence_length=1 << 16,
      num_threads=1,
      minloglevel=2)
  options.update(kwargs)
  spm.SentencePieceTrainer.train(sentence_iterator=iter(sentences),
                                 model_writer=model, **options)
  return model.getvalue()


def _select_chars(words, character_coverage, max_chars):
  """Most frequent characters covering `character_coverage` of occurrences."""
  counts = collections.Counter()
  for word in words:
    counts.update(word)
  total = sum(counts.values())
  ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
  chars = []
  covered = 0
  for char, count in ordered:
    if chars and (covered >= character_coverage * total or
                  len(chars) >= max_chars):
      break
    chars.append(char)
    covered += count
  return chars


def sentencepiece_to_wordpiece(pieces):
  """Converts SentencePiece pieces to WordPiece tokens.

  "▁x" -> "x" (word-initial), "x" -> "##x" (word-internal); a lone "▁" is
  dropped.

  Args:
    pieces: iterable of str (normal pieces, no control/unknown symbols).

  Returns:
    list of str, same order.
  """
  tokens = []
  for piece in pieces:
    if piece.startswith(pretraining.SPM_WORD_START):
      piece = piece[len(pretraining.SPM_WORD_START):]
      if piece:
        tokens.append(piece)
    elif piece:
      tokens.append("##" + piece)
  return tokens


def _normal_pieces(model_proto):
  processor = spm.SentencePieceProcessor(model_proto=model_proto)
  return [processor.IdToPiece(i) for i in range(processor.GetPieceSize())
          if not (processor.IsControl(i) or processor.IsUnknown(i) or
                  processor.IsUnused(i))]


def _atomic_write_bytes(path, data):
  directory, base = os.path.split(path)
  tmp = os.path.join(directory, ".%s.tmp-%s" % (base, uuid.uuid4().hex[:8]))
  with tf.io.gfile.GFile(tmp, "wb") as f:
    f.write(data)
  tf.io.gfile.rename(tmp, path, overwrite=True)


def unk_rate(tokenizer, lines):
  """Fraction of "[UNK]" (or the SentencePiece unknown piece) in the tokens.

  Args:
    tokenizer: FullTokenizer.
    lines: iterable of str.

  Returns:
    float in [0, 1] (0.0 when there is no token).
  """
  unk = "[UNK]"
  if getattr(tokenizer, "sp_model", None) is not None:
    unk = tokenizer.sp_model.IdToPiece(tokenizer.sp_model.unk_id())
  num_tokens = 0
  num_unk = 0
  for line in lines:
    tokens = tokenizer.tokenize(line)
    num_tokens += len(tokens)
    num_unk += sum(1 for t in tokens if t == unk)
  return num_unk / num_tokens if num_tokens else 0.0


def build_vocab(input_files, output_dir, vocab_size, do_lower_case=True,
                model_type="wordpiece", input_sentence_size=1000000,
                num_unused=0, character_coverage=0.9995, seed=12345,
                eval_lines=5000):
  """Trains a vocabulary on `input_files` and writes it to `output_dir`.

  Args:
    input_files: list of paths or a str of comma-separated globs (UTF-8 text).
    output_dir: directory for vocab.txt (and spm.model); created if needed.
    vocab_size: int, size of vocab.txt ("wordpiece": at most this many, fewer
      when the corpus is too small; "sentencepiece": the model's size, which
      SentencePiece may also lower on a small corpus).
    do_lower_case: lower-case (and, for "wordpiece", strip accents) as
      FullTokenizer(do_lower_case) will.
    model_type: "wordpiece" or "sentencepiece" (see the module docstring).
    input_sentence_size: at most this many training lines (sampled).
    num_unused: number of [unusedN] slots after the special tokens.
    character_coverage: fraction of character occurrences the vocabulary
      must cover.
    seed: int, for line sampling and SentencePiece.
    eval_lines: lines (sampled from the training lines) tokenized to measure
      the [UNK] rate.

  Returns:
    VocabResult.
  """
  if model_type not in MODEL_TYPES:
    raise ValueError("model_type=%r must be one of %s." %
                     (model_type, ", ".join(MODEL_TYPES)))
  num_reserved = len(SPECIAL_TOKENS) + num_unused
  if vocab_size < num_reserved + 10:
    raise ValueError("vocab_size=%d is too small (needs > %d)." %
                     (vocab_size, num_reserved + 10))
  lines = read_training_lines(input_files, input_sentence_size, seed)
  unused = ["[unused%d]" % i for i in range(num_unused)]
  tf.io.gfile.makedirs(output_dir)
  vocab_file = os.path.join(output_dir, "vocab.txt")
  spm_model_file = None

  if model_type == "wordpiece":
    basic = tokenization.BasicTokenizer(do_lower_case=do_lower_case)
    sentences = []
    words = []
    for line in lines:
      line_words = basic_words(line, do_lower_case, basic)
      if line_words:
        sentences.append(" ".join(line_words))
        words.extend(line_words)
    chars = _select_chars(words, character_coverage,
                          max_chars=max(1, (vocab_size - num_reserved) // 4))
    model_proto = _train_sentencepiece(
        sentences, vocab_size=max(vocab_size - num_reserved, len(chars) + 10),
        seed=seed, unk_id=0, bos_id=-1, eos_id=-1, pad_id=-1,
        character_coverage=character_coverage,
        normalization_rule_name="identity", split_digits=False)
    tokens = collections.OrderedDict.fromkeys(
        list(SPECIAL_TOKENS) + unused + chars + ["##" + c for c in chars])
    for token in sentencepiece_to_wordpiece(_normal_pieces(model_proto)):
      if len(tokens) >= vocab_size:
        break
      tokens.setdefault(token)
    vocab = list(tokens)[:vocab_size]
  else:
    sentences = [" ".join(line.split()) for line in lines]
    if do_lower_case:
      sentences = [s.lower() for s in sentences]
    model_proto = _train_sentencepiece(
        sentences, vocab_size=vocab_size, seed=seed,
        pad_id=0, pad_piece="[PAD]", unk_id=1, unk_piece="[UNK]", bos_id=-1,
        eos_id=-1, control_symbols=",".join(["[CLS]", "[SEP]", "[MASK]"] +
                                            unused),
        character_coverage=character_coverage)
    processor = spm.SentencePieceProcessor(model_proto=model_proto)
    vocab = [processor.IdToPiece(i) for i in range(processor.GetPieceSize())]
    spm_model_file = os.path.join(output_dir, "spm.model")
    _atomic_write_bytes(spm_model_file, model_proto)

  input_pipeline.atomic_write_text(vocab_file, "\n".join(vocab) + "\n")
  tokenizer = tokenization.FullTokenizer(
      vocab_file=None if spm_model_file else vocab_file,
      do_lower_case=do_lower_case, spm_model_file=spm_model_file)
  eval_sample = lines
  if len(lines) > eval_lines:
    eval_sample = random.Random(seed + 1).sample(lines, eval_lines)
  rate = unk_rate(tokenizer, eval_sample)
  logging.info("Wrote %s (%d entries%s); [UNK] rate %.4f%% on %d lines.",
               vocab_file, len(vocab),
               ", model %s" % spm_model_file if spm_model_file else "",
               100 * rate, len(eval_sample))
  return VocabResult(vocab_file, spm_model_file, len(vocab), rate, len(lines))


def _define_flags():
  """Defines the CLI flags (only when run as a script)."""
  flags.DEFINE_string("input_file", None,
                      "Text file(s): comma-separated list of files or globs.")
  flags.DEFINE_string("output_dir", None,
                      "Directory for vocab.txt (and spm.model).")
  flags.DEFINE_integer("vocab_size", 30522, "Vocabulary size.")
  flags.DEFINE_bool("do_lower_case", True,
                    "Lower-case the text (uncased model).")
  flags.DEFINE_enum("model_type", "wordpiece", list(MODEL_TYPES),
                    "wordpiece: vocab.txt for BasicTokenizer+WordPiece; "
                    "sentencepiece: spm.model + vocab.txt of its pieces.")
  flags.DEFINE_integer("input_sentence_size", 1000000,
                       "Train on at most this many (sampled) lines.")
  flags.DEFINE_integer("num_unused", 0, "Number of [unusedN] slots.")
  flags.DEFINE_float("character_coverage", 0.9995,
                     "Fraction of character occurrences to cover.")
  flags.DEFINE_integer("seed", 12345, "Seed for line sampling.")
  flags.mark_flag_as_required("input_file")
  flags.mark_flag_as_required("output_dir")


def main(_):
  options = flags.FLAGS
  result = build_vocab(
      options.input_file, options.output_dir, options.vocab_size,
      do_lower_case=options.do_lower_case, model_type=options.model_type,
      input_sentence_size=options.input_sentence_size,
      num_unused=options.num_unused,
      character_coverage=options.character_coverage, seed=options.seed)
  print("vocab_file: %s" % result.vocab_file)
  if result.spm_model_file:
    print("spm_model_file: %s" % result.spm_model_file)
  print("vocab_size: %d" % result.vocab_size)
  print("training_lines: %d" % result.num_training_lines)
  print("unk_rate: %.6f" % result.unk_rate)


if __name__ == "__main__":
  _define_flags()
  app.run(main)

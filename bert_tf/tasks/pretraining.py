"""Pretraining data for BERT: masked-LM and next-sentence-prediction examples.

This is the `create_pretraining_data` step of the BERT reference, as a library
(the absl script `create_pretraining_data.py` only parses flags and calls it).

Pipeline:

  1. `read_documents`: read text files (comma-separated globs), split them into
     documents and tokenize every sentence with a `FullTokenizer`.
     * Default input format (the reference's): one sentence per line, blank
       lines between documents. Runs of blank lines and file ends are document
       boundaries. A document whose lines all tokenize to nothing is dropped
       and counted in `CorpusStats.num_empty_documents`.
     * `sentence_split=True`, for running prose (wrapped lines, blank lines
       between paragraphs): consecutive non-blank lines are joined into a
       paragraph and each paragraph is cut into sentences by `split_sentences`
       (rule based, see there). Documents are chapter-like blocks: a paragraph
       that is a single heading line such as "CHAPTER IV", "Chapter 12",
       "VOLUME II", "Book 3" or "Part I" starts a new document (the heading
       itself is dropped); a file without headings is one document.
     * Bytes that are not UTF-8 raise ValueError naming the file and line.
  2. `create_training_instances`: shuffle the documents, then for each of
     `dupe_factor` passes and each document build `TrainingInstance`s with
     `create_instances_from_document` (segment pairs, random next sentence,
     `truncate_seq_pair`, `create_masked_lm_predictions`), then shuffle all
     instances.
  3. `write_instances`: convert each instance with `instance_to_example` and
     write them round-robin over the output TFRecord files, each written under
     a temporary name and renamed when complete.

Randomness and parallelism. The reference draws everything from a single
`random.Random` stream, which forces documents to be processed one after the
other. Here the master `rng` (seeded by `--random_seed`) shuffles the
documents, draws one 64-bit `base_seed`, and finally shuffles the instances;
the instances of document `d` in duplication pass `p` come from their own
`random.Random` seeded with SHA-256(base_seed, p, d) (`document_rng`). The
random "next sentence" document is drawn with that per-document generator
from the globally shuffled document list, which every worker holds. Therefore
the output for a seed is the same for any `num_workers` (tokenization and
instance creation run in a `multiprocessing` pool, results are gathered in
document order), but it is not byte-identical to the reference's output for
the same seed. The statistics of the instances are the reference's.

Whole-word masking groups a word's pieces: with WordPiece, a `##x` piece
joins the token right before it; with SentencePiece (`FullTokenizer` built
with `spm_model_file`), a piece starting with the word-start marker "▁" (or
one without any letter or digit, such as ",") starts a word and every other
piece joins the token right before it. [CLS]/[SEP] are never masked nor part
of a word.

Deliberate differences from the reference, besides the random streams:
  * the end of an input file ends a document even without a blank line (the
    reference merges the last document of a file with the next file's first);
  * a continuation piece joins a word only if it directly follows it (the
    reference would attach a "##x" that starts segment B, after truncation,
    to the last word of segment A across the [SEP]).

Feature names and layout of the written `tf.train.Example`s (see
`name_to_features`): `input_ids`, `input_mask`, `segment_ids` (int64,
[max_seq_length]), `masked_lm_positions`, `masked_lm_ids` (int64,
[max_predictions_per_seq]), `masked_lm_weights` (float32,
[max_predictions_per_seq]), `next_sentence_labels` (int64, [1]; 1 when
segment B is a random span).

This module never reads absl FLAGS.
"""

import collections
import glob
import hashlib
import multiprocessing
import os
import random
import re
import time

from absl import logging

from bert_tf import tokenization

CLS = "[CLS]"
SEP = "[SEP]"
MASK = "[MASK]"
SPM_WORD_START = "\u2581"  # "▁", SentencePiece's word-start marker.

_LOG_EVERY_SECONDS = 10.0


class TrainingInstance(object):
  """One pretraining instance: `[CLS] A [SEP] B [SEP]` after masking.

  Attributes:
    tokens: list of str, length <= max_seq_length; masked positions hold
      "[MASK]", the original token or a random vocabulary word.
    segment_ids: list of int (0 for [CLS] A [SEP], 1 for B [SEP]), same length.
    masked_lm_positions: sorted list of int, indexes into `tokens`.
    masked_lm_labels: list of str, the original tokens at those positions.
    is_random_next: bool, True when B is a span of another document.
  """

  def __init__(self, tokens, segment_ids, masked_lm_positions, masked_lm_labels,
               is_random_next):
    self.tokens = tokens
    self.segment_ids = segment_ids
    self.masked_lm_positions = masked_lm_positions
    self.masked_lm_labels = masked_lm_labels
    self.is_random_next = is_random_next

  def _key(self):
    return (tuple(self.tokens), tuple(self.segment_ids),
            tuple(self.masked_lm_positions), tuple(self.masked_lm_labels),
            bool(self.is_random_next))

  def __eq__(self, other):
    if not isinstance(other, TrainingInstance):
      return NotImplemented
    return self._key() == other._key()

  def __ne__(self, other):
    result = self.__eq__(other)
    return result if result is NotImplemented else not result

  def __hash__(self):
    return hash(self._key())

  def __str__(self):
    printable = tokenization.printable_text
    return "".join([
        "tokens: %s\n" % " ".join(printable(t) for t in self.tokens),
        "segment_ids: %s\n" % " ".join(str(x) for x in self.segment_ids),
        "is_random_next: %s\n" % self.is_random_next,
        "masked_lm_positions: %s\n" % " ".join(
            str(x) for x in self.masked_lm_positions),
        "masked_lm_labels: %s\n" % " ".join(
            printable(t) for t in self.masked_lm_labels),
        "\n",
    ])

  def __repr__(self):
    return self.__str__()


MaskedLmInstance = collections.namedtuple("MaskedLmInstance",
                                          ["index", "label"])

# One not-yet-tokenized document: `units` are lines (one sentence each) or,
# with sentence splitting, paragraphs. `source`/`line_number` locate its start.
RawDocument = collections.namedtuple("RawDocument",
                                     ["source", "line_number", "units",
                                      "offset"])
RawDocument.__new__.__defaults__ = (None,)


class CorpusStats(object):
  """Counts gathered while reading a corpus (see `read_documents`).

  Attributes:
    num_files: input files read.
    num_lines: lines read (blank ones included).
    num_documents: documents kept (with at least one token).
    num_empty_documents: documents with text but no token, dropped.
    num_sentences: non-empty tokenized sentences in the kept documents.
    num_tokens: tokens in the kept documents.
  """

  def __init__(self):
    self.num_files = 0
    self.num_lines = 0
    self.num_documents = 0
    self.num_empty_documents = 0
    self.num_sentences = 0
    self.num_tokens = 0

  def __str__(self):
    return ("%d files, %d lines, %d documents (%d empty ones dropped), "
            "%d sentences, %d tokens" %
            (self.num_files, self.num_lines, self.num_documents,
             self.num_empty_documents, self.num_sentences, self.num_tokens))


# ----------------------------------------------------------------------------
# Sentence splitting for running text.
# ----------------------------------------------------------------------------

# Words that end in "." without ending a sentence (compared lower-cased,
# without the final "."). "etc" is left out: it usually ends the sentence when
# a capitalised word follows.
ABBREVIATIONS = frozenset([
    "mr", "mrs", "ms", "messrs", "mme", "mlle", "dr", "st", "jr", "sr", "prof",
    "rev", "hon", "gen", "col", "capt", "lt", "sgt", "maj", "gov", "sen",
    "rep", "esq", "mt", "ft", "vol", "ch", "fig", "no", "nos", "vs", "cf",
    "viz", "inc", "ltd", "co", "corp", "dept", "univ", "approx", "e.g", "i.e",
    "a.m", "p.m", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep",
    "sept", "oct", "nov", "dec",
])

# A candidate sentence end: a run of terminators, optional closing quotes,
# brackets or "_" (italics in Gutenberg texts), whitespace, then (possibly
# after opening quotes/brackets) an upper-case letter or a digit.
_SENTENCE_END = re.compile(
    r"([.?!\u2026]+)"
    r"([\"'\u201d\u2019)\]_]*)"
    r"\s+"
    r"(?=[\"'\u201c\u2018(\[_]*[A-Z0-9\u00c0-\u00de])")

_OPENING = "\"'\u201c\u2018([_"


def split_sentences(text):
  """Splits running text into sentences with simple rules.

  A sentence ends after ".", "?", "!" or "…" (or a run of them, e.g. "?!",
  "..."), followed by any closing quotes/brackets, whitespace, and a next
  sentence that starts with an upper-case letter or a digit (possibly after
  opening quotes). A "." does not end a sentence after a known abbreviation
  (`ABBREVIATIONS`: "Mr.", "Mrs.", "Dr.", "St.", "e.g." ...) or a single
  upper-case initial ("J. Smith"). Lower-case continuations such as
  `"Why?" said he.` stay in one sentence.

  Args:
    text: str, one paragraph (newlines are treated as spaces).

  Returns:
    list of str, the stripped non-empty sentences, in order.
  """
  text = " ".join(text.split())
  sentences = []
  start = 0
  for match in _SENTENCE_END.finditer(text):
    if match.group(1) == ".":
      word = text[start:match.start()].rsplit(" ", 1)[-1].lstrip(_OPENING)
      if word.lower() in ABBREVIATIONS:
        continue
      if len(word) == 1 and word.isalpha() and word.isupper():
        continue
    sentence = text[start:match.end(2)].strip()
    if sentence:
      sentences.append(sentence)
    start = match.end()
  tail = text[start:].strip()
  if tail:
    sentences.append(tail)
  return sentences


_HEADING_WORDS = frozenset(["chapter", "volume", "book", "part"])
_HEADING = re.compile(r"^(\w+)\s+([IVXLCDM]+|\d+)\b[.:]?(\s.{0,60})?$")


def is_heading(paragraph):
  """True for a one-line paragraph such as "CHAPTER IV" or "Chapter 3."."""
  if "\n" in paragraph:
    return False
  match = _HEADING.match(paragraph.strip())
  return bool(match) and match.group(1).lower() in _HEADING_WORDS


# ----------------------------------------------------------------------------
# Reading and tokenizing documents.
# ----------------------------------------------------------------------------


def is_remote(path):
  """True for paths that need tf.io.gfile (e.g. gs://, hdfs://)."""
  return "://" in path


def open_file(path, mode="rb"):
  """Opens a local file with `open`, anything else with tf.io.gfile.

  TensorFlow is imported only for remote paths, so that data creation on
  local files runs without it (300 MB and seconds of start-up less).
  """
  if is_remote(path):
    import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
    return tf.io.gfile.GFile(path, mode)
  return open(path, mode)  # pylint: disable=unspecified-encoding


def file_size(path):
  """Size of a local or remote file in bytes."""
  if is_remote(path):
    import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
    return tf.io.gfile.stat(path).length
  return os.path.getsize(path)


def expand_file_patterns(patterns):
  """Expands comma-separated globs (local or remote) into a list of files.

  Each pattern's matches are sorted; patterns keep their order.

  Raises:
    FileNotFoundError: for a pattern that matches nothing, or no pattern.
  """
  if isinstance(patterns, str):
    patterns = patterns.split(",")
  files = []
  for pattern in patterns:
    pattern = pattern.strip()
    if not pattern:
      continue
    if is_remote(pattern):
      import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
      matched = tf.io.gfile.glob(pattern)
    else:
      matched = [p for p in glob.glob(pattern) if os.path.isfile(p)]
    if not matched:
      raise FileNotFoundError("No input file matches %r" % pattern)
    files.extend(sorted(matched))
  if not files:
    raise FileNotFoundError("No input files given")
  return files


def line_number_at(path, offset):
  """1-based number of the line holding byte `offset` of `path`."""
  count = 1
  with open_file(path, "rb") as reader:
    remaining = offset
    while remaining > 0:
      chunk = reader.read(min(remaining, 1 << 20))
      if not chunk:
        break
      count += chunk.count(b"\n")
      remaining -= len(chunk)
  return count


def count_lines(path):
  """Number of lines of `path` (a last line without a newline counts)."""
  count = 0
  last = b"\n"
  with open_file(path, "rb") as reader:
    while True:
      chunk = reader.read(1 << 20)
      if not chunk:
        break
      count += chunk.count(b"\n")
      last = chunk[-1:]
  return count + (last != b"\n")


def _decode_line(path, raw, offset, line_number):
  try:
    return raw.decode("utf-8")
  except UnicodeDecodeError as e:
    if line_number is None:
      line_number = line_number_at(path, offset)
    raise ValueError(
        "%s:%d: not valid UTF-8 (byte 0x%02x at column %d); re-encode the "
        "file as UTF-8." % (path, line_number, raw[e.start], e.start + 1))


def read_text_lines(path):
  """Yields (line_number, str line without surrounding whitespace).

  Raises:
    ValueError: naming `path` and the line for bytes that are not UTF-8.
  """
  with open_file(path, "rb") as reader:
    offset = 0
    for line_number, raw in enumerate(reader, start=1):
      yield line_number, _decode_line(path, raw, offset, line_number).strip()
      offset += len(raw)


def _line_before_is_blank(reader, path, position):
  """True if the line that ends right before byte `position` is blank.

  `position` must be a line start (> 0). Reads backwards to that line's
  start.
  """
  end = position - 1  # the "\n" ending the previous line
  start = end
  chunk_size = 4096
  while start > 0:
    read_from = max(0, start - chunk_size)
    reader.seek(read_from)
    chunk = reader.read(start - read_from)
    newline = chunk.rfind(b"\n")
    if newline >= 0:
      start = read_from + newline + 1
      break
    start = read_from
    chunk_size *= 2
  reader.seek(start)
  raw = reader.read(end - start)
  return not _decode_line(path, raw, start, None).strip()


def iter_text_blocks(path, start=0, end=None):
  """Yields the blocks of consecutive non-blank lines of `path`, streamed.

  A block is what a blank line (or the end of the file) ends: a document in
  the one-sentence-per-line format, a paragraph in running text. With a byte
  range, exactly the blocks whose first line starts in [start, end) are
  yielded, each whole (the last one may run past `end`), so that ranges that
  tile a file yield each of its blocks exactly once.

  Args:
    path: str, a UTF-8 text file (local or remote).
    start: int, first byte of the range.
    end: int or None (the end of the file).

  Yields:
    (line_number, offset, lines): 1-based number of the block's first line
    (None when the range starts past byte 0: counting lines would mean
    reading the file from its start), its byte offset, and the list of its
    stripped lines (str).

  Raises:
    ValueError: naming the file and line of bytes that are not UTF-8.
  """
  with open_file(path, "rb") as reader:
    line_number = 1 if start == 0 else None
    skipping = False  # inside a block that started before `start`
    if start > 0:
      # The line L holding byte start-1 began before the range: the lines
      # after it continue L's block (which is not ours) unless L is blank.
      reader.seek(start - 1)
      tail = reader.readline()
      if not tail.endswith(b"\n"):
        return  # L runs to the end of the file.
      position = start - 1 + len(tail)
      skipping = not _line_before_is_blank(reader, path, position)
      reader.seek(position)
    else:
      position = 0
    lines = []
    block_line = block_offset = None
    for raw in reader:
      text = _decode_line(path, raw, position, line_number).strip()
      if text:
        if not lines and not skipping:
          if end is not None and position >= end:
            return
          block_line, block_offset = line_number, position
        if not skipping:
          lines.append(text)
      else:
        skipping = False
        if lines:
          yield block_line, block_offset, lines
          lines = []
      position += len(raw)
      if line_number is not None:
        line_number += 1
    if lines:
      yield block_line, block_offset, lines


def raw_documents_from_blocks(path, blocks, sentence_split=False):
  """Groups text blocks into untokenized documents.

  Args:
    path: str, the file the blocks come from (for RawDocument.source).
    blocks: iterable of (line_number, offset, lines), see iter_text_blocks.
    sentence_split: False: each block is a document whose units are its lines
      (one sentence each). True: each block is a paragraph (its lines joined
      with spaces); a one-line paragraph that `is_heading` ends the current
      document and is dropped.

  Yields:
    RawDocument, in order; `line_number` is the first line's number (or
    None, see iter_text_blocks) and `offset` its byte offset.
  """
  if not sentence_split:
    for line_number, offset, lines in blocks:
      yield RawDocument(path, line_number, lines, offset)
    return
  units = []
  first = None
  for line_number, offset, lines in blocks:
    text = " ".join(lines)
    if len(lines) == 1 and is_heading(text):
      if units:
        yield RawDocument(path, first[0], units, first[1])
      units = []
      continue
    if not units:
      first = (line_number, offset)
    units.append(text)
  if units:
    yield RawDocument(path, first[0], units, first[1])


def read_raw_documents(path, sentence_split=False, stats=None):
  """Splits one text file into untokenized documents.

  Args:
    path: str, a text file (UTF-8).
    sentence_split: False for one sentence per line with blank lines between
      documents; True for running text (see the module docstring).
    stats: optional CorpusStats; `num_files` and `num_lines` are increased.

  Returns:
    list of RawDocument, in file order; `units` are lines (False) or joined
    paragraphs (True). Documents without any unit are not returned.
  """
  documents = list(raw_documents_from_blocks(path, iter_text_blocks(path),
                                             sentence_split))
  if stats is not None:
    stats.num_files += 1
    stats.num_lines += count_lines(path)
  return documents


def tokenize_document(raw_document, tokenizer, sentence_split=False):
  """Tokenizes one RawDocument.

  Args:
    raw_document: RawDocument.
    tokenizer: FullTokenizer (anything with `tokenize(str) -> list of str`).
    sentence_split: cut each unit into sentences with `split_sentences`.

  Returns:
    list of sentences, each a non-empty list of str tokens (sentences that
    tokenize to nothing are left out).
  """
  sentences = []
  for unit in raw_document.units:
    texts = split_sentences(unit) if sentence_split else [unit]
    for text in texts:
      tokens = tokenizer.tokenize(text)
      if tokens:
        sentences.append(tokens)
  return sentences


def _tokenize_batch(state, raw_documents):
  return [tokenize_document(raw, state["tokenizer"], state["sentence_split"])
          for raw in raw_documents]


def read_documents(input_files, tokenizer, sentence_split=False, num_workers=1,
                   mp_context=None):
  """Reads and tokenizes the documents of `input_files`.

  Args:
    input_files: list of paths, or a str of comma-separated globs.
    tokenizer: FullTokenizer.
    sentence_split: see the module docstring.
    num_workers: processes tokenizing in parallel (1: in this process).
    mp_context: multiprocessing start method ("fork", "spawn", ...); None for
      "fork" where available, else "spawn".

  Returns:
    (documents, stats): documents is a list (file order) of documents, each a
    list of sentences, each a list of str tokens; stats is a CorpusStats.

  Raises:
    FileNotFoundError: for a glob that matches nothing.
    ValueError: for non-UTF-8 bytes (naming the file and line).
  """
  input_files = expand_file_patterns(input_files)
  stats = CorpusStats()
  raw_documents = []
  for path in input_files:
    raw_documents.extend(read_raw_documents(path, sentence_split, stats))

  batches = _batches(raw_documents, lambda d: len(d.units), 2000)
  state = {"tokenizer": tokenizer, "sentence_split": sentence_split}
  documents = []
  start = last_log = time.time()
  done = 0
  for batch, tokenized in zip(
      batches,
      _map_ordered(_tokenize_batch, batches, state, num_workers, mp_context)):
    for raw, sentences in zip(batch, tokenized):
      done += 1
      if not sentences:
        stats.num_empty_documents += 1
        logging.warning("Dropping an empty document (%s:%d).", raw.source,
                        raw.line_number)
        continue
      documents.append(sentences)
      stats.num_sentences += len(sentences)
      stats.num_tokens += sum(len(s) for s in sentences)
    now = time.time()
    if now - last_log > _LOG_EVERY_SECONDS:
      last_log = now
      logging.info("Tokenized %d/%d documents (%.1f documents/sec)", done,
                   len(raw_documents), done / max(now - start, 1e-9))
  stats.num_documents = len(documents)
  elapsed = max(time.time() - start, 1e-9)
  logging.info("Read %s in %.1fs (%.1f documents/sec)", stats, elapsed,
               len(raw_documents) / elapsed)
  return documents, stats


# ----------------------------------------------------------------------------
# Parallel map with deterministic order.
# ----------------------------------------------------------------------------

_WORKER = {}


def _init_worker(fn, state):
  _WORKER["fn"] = fn
  _WORKER["state"] = state


def _call_worker(unit):
  return _WORKER["fn"](_WORKER["state"], unit)


def _map_ordered(fn, units, state, num_workers, mp_context=None):
  """Yields fn(state, unit) for every unit, in order.

  With num_workers > 1 the calls run in a multiprocessing pool; `state` is
  handed to each worker once (inherited with "fork", pickled with "spawn")
  and `fn` must be a module-level function.
  """
  if num_workers <= 1 or len(units) <= 1:
    for unit in units:
      yield fn(state, unit)
    return
  if mp_context is None:
    methods = multiprocessing.get_all_start_methods()
    mp_context = "fork" if "fork" in methods else "spawn"
  context = multiprocessing.get_context(mp_context)
  with context.Pool(min(num_workers, len(units)), initializer=_init_worker,
                    initargs=(fn, state)) as pool:
    for result in pool.imap(_call_worker, units):
      yield result


def _batches(items, size_fn, target_size):
  """Splits `items` into consecutive lists of about `target_size` in size."""
  batches = []
  current = []
  current_size = 0
  for item in items:
    current.append(item)
    current_size += size_fn(item)
    if current_size >= target_size:
      batches.append(current)
      current = []
      current_size = 0
  if current:
    batches.append(current)
  return batches


# ----------------------------------------------------------------------------
# Building instances.
# ----------------------------------------------------------------------------


def document_rng(base_seed, dupe_pass, document_index):
  """Returns the random.Random for one document in one duplication pass.

  Its seed is the first 8 bytes of SHA-256("base_seed/dupe_pass/index"), so it
  depends only on these three integers (not on the process computing it).
  """
  key = ("%d/%d/%d" % (base_seed, dupe_pass, document_index)).encode("ascii")
  seed = int.from_bytes(hashlib.sha256(key).digest()[:8], "big")
  return random.Random(seed)


def check_config(max_seq_length, max_predictions_per_seq, masked_lm_prob=0.15,
                 short_seq_prob=0.1, dupe_factor=1):
  """Raises ValueError with an explanation for inconsistent settings.

  Args:
    max_seq_length: int, must be >= 5 ([CLS], [SEP], [SEP] and two tokens).
    max_predictions_per_seq: int in [1, max_seq_length - 3] (only the tokens
      of A and B can be masked).
    masked_lm_prob: float in [0, 1].
    short_seq_prob: float in [0, 1].
    dupe_factor: int >= 1.
  """
  if max_seq_length < 5:
    raise ValueError(
        "max_seq_length=%d is too small: an instance needs [CLS], two [SEP] "
        "and at least one token in each segment (>= 5)." % max_seq_length)
  if max_predictions_per_seq < 1:
    raise ValueError("max_predictions_per_seq=%d must be >= 1." %
                     max_predictions_per_seq)
  if max_predictions_per_seq > max_seq_length - 3:
    raise ValueError(
        "max_predictions_per_seq=%d exceeds the %d maskable tokens of a "
        "sequence of max_seq_length=%d (max_seq_length - 3); use about "
        "max_seq_length * masked_lm_prob = %d." %
        (max_predictions_per_seq, max_seq_length - 3, max_seq_length,
         int(round(max_seq_length * masked_lm_prob))))
  if not 0.0 <= masked_lm_prob <= 1.0:
    raise ValueError("masked_lm_prob=%r must be in [0, 1]." % masked_lm_prob)
  if not 0.0 <= short_seq_prob <= 1.0:
    raise ValueError("short_seq_prob=%r must be in [0, 1]." % short_seq_prob)
  if dupe_factor < 1:
    raise ValueError("dupe_factor=%d must be >= 1." % dupe_factor)


def _is_sentencepiece(tokenizer):
  return getattr(tokenizer, "sp_model", None) is not None


def _instances_for_range(state, unit):
  """Worker: the instances of documents [start, end) in one pass."""
  dupe_pass, start, end = unit
  instances = []
  for document_index in range(start, end):
    rng = document_rng(state["base_seed"], dupe_pass, document_index)
    instances.extend(create_instances_from_document(
        state["documents"], document_index, state["max_seq_length"],
        state["short_seq_prob"], state["masked_lm_prob"],
        state["max_predictions_per_seq"], state["vocab_words"], rng,
        do_whole_word_mask=state["do_whole_word_mask"],
        sentencepiece=state["sentencepiece"]))
  return instances


def create_training_instances(input_files, tokenizer, max_seq_length,
                              dupe_factor, short_seq_prob, masked_lm_prob,
                              max_predictions_per_seq, rng,
                              do_whole_word_mask=False, sentence_split=False,
                              num_workers=1, mp_context=None):
  """Creates shuffled TrainingInstances from raw text files.

  Args:
    input_files: list of paths, or a str of comma-separated globs.
    tokenizer: FullTokenizer; its vocabulary must hold [CLS], [SEP], [MASK].
    max_seq_length: int, maximum tokens per instance, special tokens included.
    dupe_factor: int, passes over the corpus (each with different masks).
    short_seq_prob: float, probability that a document's target length is a
      random length in [2, max_seq_length - 3] instead of the maximum.
    masked_lm_prob: float, fraction of tokens to mask.
    max_predictions_per_seq: int, cap on masked tokens per instance.
    rng: random.Random, the master generator (see the module docstring).
    do_whole_word_mask: mask all pieces of a word together.
    sentence_split: input is running text, not one sentence per line.
    num_workers: processes for tokenization and instance creation; the output
      does not depend on it.
    mp_context: multiprocessing start method, or None (see read_documents).

  Returns:
    list of TrainingInstance, shuffled by `rng`.
  """
  check_config(max_seq_length, max_predictions_per_seq, masked_lm_prob,
               short_seq_prob, dupe_factor)
  tokenization.check_special_tokens(
      tokenizer.vocab,
      getattr(tokenizer, "vocab_file", None) or
      getattr(tokenizer, "spm_model_file", None) or "of the tokenizer",
      required=(CLS, SEP, MASK))
  documents, stats = read_documents(input_files, tokenizer, sentence_split,
                                    num_workers, mp_context)
  if stats.num_empty_documents:
    logging.warning("Dropped %d empty document(s).", stats.num_empty_documents)
  if not documents:
    raise ValueError("No text found in %s." % (input_files,))
  rng.shuffle(documents)
  base_seed = rng.getrandbits(64)

  state = {
      "documents": documents,
      "base_seed": base_seed,
      "max_seq_length": max_seq_length,
      "short_seq_prob": short_seq_prob,
      "masked_lm_prob": masked_lm_prob,
      "max_predictions_per_seq": max_predictions_per_seq,
      "vocab_words": list(tokenizer.vocab.keys()),
      "do_whole_word_mask": do_whole_word_mask,
      "sentencepiece": _is_sentencepiece(tokenizer),
  }
  # Units of work; their boundaries do not affect the result.
  per_unit = max(1, min(256, len(documents) // max(1, 8 * num_workers)))
  units = [(p, s, min(s + per_unit, len(documents)))
           for p in range(dupe_factor)
           for s in range(0, len(documents), per_unit)]
  instances = []
  start = last_log = time.time()
  total = dupe_factor * len(documents)
  done = 0
  for unit, result in zip(units, _map_ordered(_instances_for_range, units,
                                               state, num_workers,
                                               mp_context)):
    instances.extend(result)
    done += unit[2] - unit[1]
    now = time.time()
    if now - last_log > _LOG_EVERY_SECONDS:
      last_log = now
      logging.info("Built instances for %d/%d documents x passes: %d instances "
                   "(%.1f documents/sec)", done, total, len(instances),
                   done / max(now - start, 1e-9))
  elapsed = max(time.time() - start, 1e-9)
  logging.info("Built %d instances from %d documents x %d passes in %.1fs "
               "(%.1f documents/sec)", len(instances), len(documents),
               dupe_factor, elapsed, total / elapsed)
  rng.shuffle(instances)
  return instances


def create_instances_from_document(all_documents, document_index,
                                   max_seq_length, short_seq_prob,
                                   masked_lm_prob, max_predictions_per_seq,
                                   vocab_words, rng, do_whole_word_mask=False,
                                   sentencepiece=False, special=None,
                                   continues_word=None):
  """Creates the TrainingInstances of one document (the reference algorithm).

  The target length is max_seq_length - 3, or with probability
  `short_seq_prob` a random length in [2, max_seq_length - 3] (drawn once per
  document). Sentences are accumulated into a chunk until the target length
  or the end of the document; A is the first `a_end` sentences of the chunk
  (a_end uniform in [1, len(chunk) - 1]). B is, with probability 0.5 or
  always for a one-sentence chunk, a span of a different random document
  (the unused sentences of the chunk are put back), otherwise the rest of the
  chunk. The pair is truncated to max_seq_length - 3 tokens and masked.

  Args:
    all_documents: list of documents (lists of sentences, lists of str).
    document_index: int, the document to use.
    max_seq_length, short_seq_prob, masked_lm_prob, max_predictions_per_seq:
      see create_training_instances.
    vocab_words: list of str, the vocabulary (for random replacements).
    rng: random.Random.
    do_whole_word_mask, sentencepiece, special, continues_word: see
      create_masked_lm_predictions (tokens may be str or int ids).

  Returns:
    list of TrainingInstance.
  """
  cls, sep = (special or (CLS, SEP, MASK))[:2]
  document = all_documents[document_index]
  max_num_tokens = max_seq_length - 3
  target_seq_length = max_num_tokens
  if rng.random() < short_seq_prob:
    target_seq_length = rng.randint(2, max_num_tokens)

  instances = []
  current_chunk = []
  current_length = 0
  i = 0
  while i < len(document):
    segment = document[i]
    current_chunk.append(segment)
    current_length += len(segment)
    if i == len(document) - 1 or current_length >= target_seq_length:
      if current_chunk:
        a_end = 1
        if len(current_chunk) >= 2:
          a_end = rng.randint(1, len(current_chunk) - 1)
        tokens_a = []
        for j in range(a_end):
          tokens_a.extend(current_chunk[j])

        tokens_b = []
        if len(current_chunk) == 1 or rng.random() < 0.5:
          is_random_next = True
          target_b_length = target_seq_length - len(tokens_a)
          # Up to 10 tries for a document other than this one (a corpus of one
          # document falls back to itself).
          for _ in range(10):
            random_document_index = rng.randint(0, len(all_documents) - 1)
            if random_document_index != document_index:
              break
          random_document = all_documents[random_document_index]
          random_start = rng.randint(0, len(random_document) - 1)
          for j in range(random_start, len(random_document)):
            tokens_b.extend(random_document[j])
            if len(tokens_b) >= target_b_length:
              break
          # Put the unused sentences back for the next instance.
          i -= len(current_chunk) - a_end
        else:
          is_random_next = False
          for j in range(a_end, len(current_chunk)):
            tokens_b.extend(current_chunk[j])
        truncate_seq_pair(tokens_a, tokens_b, max_num_tokens, rng)
        if not tokens_a or not tokens_b:
          raise AssertionError("Empty segment after truncation (document %d)."
                               % document_index)

        tokens = [cls] + tokens_a + [sep] + tokens_b + [sep]
        segment_ids = [0] * (len(tokens_a) + 2) + [1] * (len(tokens_b) + 1)
        (tokens, masked_lm_positions,
         masked_lm_labels) = create_masked_lm_predictions(
             tokens, masked_lm_prob, max_predictions_per_seq, vocab_words, rng,
             do_whole_word_mask=do_whole_word_mask, sentencepiece=sentencepiece,
             special=special, continues_word=continues_word)
        instances.append(TrainingInstance(
            tokens=tokens,
            segment_ids=segment_ids,
            masked_lm_positions=masked_lm_positions,
            masked_lm_labels=masked_lm_labels,
            is_random_next=is_random_next))
      current_chunk = []
      current_length = 0
    i += 1
  return instances


def _starts_word(token, sentencepiece):
  """True if `token` begins a new word for whole-word masking."""
  if sentencepiece:
    # Pieces without a letter or digit (punctuation, symbols) stand alone.
    return (token.startswith(SPM_WORD_START) or
            not any(c.isalnum() for c in token))
  return not token.startswith("##")


def create_masked_lm_predictions(tokens, masked_lm_prob,
                                 max_predictions_per_seq, vocab_words, rng,
                                 do_whole_word_mask=False,
                                 sentencepiece=False, special=None,
                                 continues_word=None):
  """Masks tokens for the masked-LM objective (the reference's statistics).

  Candidates are all positions except [CLS]/[SEP], grouped by word with
  `do_whole_word_mask`. Up to
  num_to_predict = min(max_predictions_per_seq,
                       max(1, round(len(tokens) * masked_lm_prob)))
  positions are chosen; each chosen position becomes "[MASK]" (80%), stays
  (10%) or becomes a random vocabulary word (10%).

  Without whole-word masking the chosen positions are a uniformly random
  subset of num_to_predict candidates (a partial Fisher-Yates shuffle: the
  distribution of the reference's shuffle-and-take-the-first, for a fraction
  of the random draws). With whole-word masking the word groups are visited in random
  order (`rng.shuffle`) and a group that would exceed the budget is skipped
  whole, as in the reference.

  Args:
    tokens: list of str (or int ids, with `special` and `continues_word`),
      `[CLS] A [SEP] B [SEP]`.
    masked_lm_prob: float.
    max_predictions_per_seq: int.
    vocab_words: sequence of replacement tokens (str, or ids).
    rng: random.Random.
    do_whole_word_mask: group a word's pieces.
    sentencepiece: str pieces are SentencePiece pieces ("▁" starts a word),
      not WordPiece ("##" continues a word). A continuation piece only joins
      the token right before it (never across [SEP]).
    special: optional (cls, sep, mask) tokens in the type of `tokens`;
      default ("[CLS]", "[SEP]", "[MASK]").
    continues_word: optional callable token -> bool for whole-word masking
      (needed for id tokens); default from `sentencepiece`.

  Returns:
    (output_tokens, masked_lm_positions, masked_lm_labels): the masked copy of
    `tokens`, the sorted masked positions and the original tokens there.
  """
  cls, sep, mask = special or (CLS, SEP, MASK)
  output_tokens = list(tokens)
  num_to_predict = min(max_predictions_per_seq,
                       max(1, int(round(len(tokens) * masked_lm_prob))))
  if do_whole_word_mask:
    if continues_word is None:
      continues_word = lambda t: not _starts_word(t, sentencepiece)
    cand_indexes = []
    for i, token in enumerate(tokens):
      if token == cls or token == sep:
        continue
      if (cand_indexes and cand_indexes[-1][-1] == i - 1 and
          continues_word(token)):
        cand_indexes[-1].append(i)
      else:
        cand_indexes.append([i])
    rng.shuffle(cand_indexes)
    chosen = []
    for index_set in cand_indexes:
      if len(chosen) >= num_to_predict:
        break
      # Skip a whole word rather than go over the budget.
      if len(chosen) + len(index_set) > num_to_predict:
        continue
      chosen.extend(index_set)
  else:
    n = len(tokens)
    if (n >= 3 and tokens[0] == cls and tokens[-1] == sep and
        tokens.count(sep) == 2 and tokens.count(cls) == 1):
      # [CLS] A [SEP] B [SEP]: every other position is a candidate.
      middle = tokens.index(sep)
      candidates = list(range(1, middle)) + list(range(middle + 1, n - 1))
    else:
      candidates = [i for i, token in enumerate(tokens)
                    if token != cls and token != sep]
    # A uniformly random subset in random order (partial Fisher-Yates).
    num_candidates = len(candidates)
    count = min(num_to_predict, num_candidates)
    random_draw = rng.random
    for i in range(count):
      j = i + int(random_draw() * (num_candidates - i))
      candidates[i], candidates[j] = candidates[j], candidates[i]
    chosen = candidates[:count]

  num_words = len(vocab_words)
  random_draw = rng.random
  for index in chosen:
    if random_draw() < 0.8:
      output_tokens[index] = mask
    elif random_draw() >= 0.5:
      output_tokens[index] = vocab_words[rng.randrange(num_words)]
    # else: the token stays.
  chosen.sort()
  return output_tokens, chosen, [tokens[i] for i in chosen]


def truncate_seq_pair(tokens_a, tokens_b, max_num_tokens, rng):
  """Truncates a pair in place to at most `max_num_tokens` tokens in total.

  One token at a time is removed from the longer list (B on ties), from its
  front or its back with probability 0.5 each.
  """
  while len(tokens_a) + len(tokens_b) > max_num_tokens:
    trunc_tokens = tokens_a if len(tokens_a) > len(tokens_b) else tokens_b
    if rng.random() < 0.5:
      del trunc_tokens[0]
    else:
      trunc_tokens.pop()


# ----------------------------------------------------------------------------
# Writing and reading examples.
# ----------------------------------------------------------------------------


def instance_to_example(instance, tokenizer, max_seq_length,
                        max_predictions_per_seq):
  """Converts a TrainingInstance into a padded tf.train.Example.

  Args:
    instance: TrainingInstance.
    tokenizer: FullTokenizer (for `convert_tokens_to_ids`).
    max_seq_length: int, length of input_ids/input_mask/segment_ids.
    max_predictions_per_seq: int, length of the masked_lm_* features.

  Returns:
    tf.train.Example with the features of `name_to_features`.

  Raises:
    ValueError: if the instance does not fit the lengths.
  """
  from bert_tf import input_pipeline  # pylint: disable=g-import-not-at-top
  input_ids = tokenizer.convert_tokens_to_ids(instance.tokens)
  if len(input_ids) > max_seq_length:
    raise ValueError("Instance has %d tokens > max_seq_length=%d." %
                     (len(input_ids), max_seq_length))
  if len(instance.masked_lm_positions) > max_predictions_per_seq:
    raise ValueError("Instance has %d predictions > max_predictions_per_seq=%d."
                     % (len(instance.masked_lm_positions),
                        max_predictions_per_seq))
  input_mask = [1] * len(input_ids)
  segment_ids = list(instance.segment_ids)
  padding = max_seq_length - len(input_ids)
  input_ids = list(input_ids) + [0] * padding
  input_mask += [0] * padding
  segment_ids += [0] * padding

  masked_lm_positions = list(instance.masked_lm_positions)
  masked_lm_ids = list(
      tokenizer.convert_tokens_to_ids(instance.masked_lm_labels))
  masked_lm_weights = [1.0] * len(masked_lm_ids)
  padding = max_predictions_per_seq - len(masked_lm_positions)
  masked_lm_positions += [0] * padding
  masked_lm_ids += [0] * padding
  masked_lm_weights += [0.0] * padding

  features = collections.OrderedDict()
  features["input_ids"] = input_pipeline.create_int_feature(input_ids)
  features["input_mask"] = input_pipeline.create_int_feature(input_mask)
  features["segment_ids"] = input_pipeline.create_int_feature(segment_ids)
  features["masked_lm_positions"] = input_pipeline.create_int_feature(
      masked_lm_positions)
  features["masked_lm_ids"] = input_pipeline.create_int_feature(masked_lm_ids)
  features["masked_lm_weights"] = input_pipeline.create_float_feature(
      masked_lm_weights)
  features["next_sentence_labels"] = input_pipeline.create_int_feature(
      [1 if instance.is_random_next else 0])
  return input_pipeline.make_example(features)


def write_instances(instances, tokenizer, max_seq_length,
                    max_predictions_per_seq, output_files, num_logged=20):
  """Writes instances round-robin over `output_files` (each atomically).

  Args:
    instances: iterable of TrainingInstance.
    tokenizer: FullTokenizer.
    max_seq_length, max_predictions_per_seq: feature lengths.
    output_files: str (comma-separated) or list of str.
    num_logged: the first this many instances are logged in full.

  Returns:
    int, the number of examples written.
  """
  if isinstance(output_files, str):
    output_files = [p.strip() for p in output_files.split(",") if p.strip()]
  if not output_files:
    raise ValueError("No output file given.")
  start = last_log = time.time()
  counter = [0]

  def examples():
    nonlocal last_log
    for instance in instances:
      example = instance_to_example(instance, tokenizer, max_seq_length,
                                    max_predictions_per_seq)
      if counter[0] < num_logged:
        logging.info("*** Example %d ***\n%s", counter[0], instance)
      counter[0] += 1
      now = time.time()
      if now - last_log > _LOG_EVERY_SECONDS:
        last_log = now
        logging.info("Wrote %d instances (%.1f/sec)", counter[0],
                     counter[0] / max(now - start, 1e-9))
      yield example

  from bert_tf import input_pipeline  # pylint: disable=g-import-not-at-top
  total = input_pipeline.write_examples(examples(), output_files)
  logging.info("Wrote %d instances to %d file(s): %s", total,
               len(output_files), ", ".join(output_files))
  return total


def name_to_features(max_seq_length, max_predictions_per_seq):
  """Returns the feature spec for tf.io.parse_single_example of the examples.

  Args:
    max_seq_length: int.
    max_predictions_per_seq: int.

  Returns:
    dict name -> tf.io.FixedLenFeature (int64 except masked_lm_weights).
  """
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  return {
      "input_ids": tf.io.FixedLenFeature([max_seq_length], tf.int64),
      "input_mask": tf.io.FixedLenFeature([max_seq_length], tf.int64),
      "segment_ids": tf.io.FixedLenFeature([max_seq_length], tf.int64),
      "masked_lm_positions":
          tf.io.FixedLenFeature([max_predictions_per_seq], tf.int64),
      "masked_lm_ids":
          tf.io.FixedLenFeature([max_predictions_per_seq], tf.int64),
      "masked_lm_weights":
          tf.io.FixedLenFeature([max_predictions_per_seq], tf.float32),
      "next_sentence_labels": tf.io.FixedLenFeature([1], tf.int64),
  }

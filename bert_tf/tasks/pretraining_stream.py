"""Streaming, sharded creation of pretraining TFRecords (bounded memory).

`pretraining.create_training_instances` holds the whole tokenized corpus and
every instance in memory, as the reference does; that is what makes
Wikipedia-size runs fail on ordinary machines. `create_pretraining_data`
here streams instead:

  1. Plan (`plan_parts`): the input files, taken as one byte stream, are cut
     into *windows* of about `window_bytes` (only file sizes are needed; the
     plan does not depend on the number of output files). A window owns the
     text blocks (documents in the one-sentence-per-line format, paragraphs
     with `sentence_split`) whose first line starts in its range
     (`pretraining.iter_text_blocks`), so the windows tile the corpus. With
     `sentence_split`, a chapter cut by a window boundary becomes two
     documents.
  2. Each window is one independent unit of work: read its documents (seeking
     into the file), tokenize them to ids, shuffle them, build the instances of
     every duplication pass (the reference algorithm; the "random next"
     segment comes from another document of the same window), shuffle the
     window's instances and write them, serialized without TensorFlow, to a
     part file. Its random stream is seeded by SHA-256(random_seed, window
     index) only. Memory per worker is bounded by the window size, whatever
     the size of the corpus.
  3. Dealing (`_deal`): the windows' instances, taken in window order as one
     sequence, are dealt round-robin over the k output files, as the
     reference's writer deals its instances: instance g goes to file g % k,
     so the files' instance counts differ by at most one, whatever the corpus
     size and k. Each output is streamed from the part files (one record in
     memory at a time) under a temporary name and renamed when complete.

Hence the output for a seed depends on the inputs, the settings, the number
of output files and the window size, never on `num_workers` or
`num_tasks`. Workers take windows from a shared counter and write their own
part files (the parent process is one of them); nothing but a few counters
goes between processes. A completed output is skipped when the same command
runs again, and so is a completed part file of the same settings (parts are
kept in a hidden `.<first output>.parts-<fingerprint>/` beside the first
output until every output is written).

Several machines (`task_index`/`num_tasks`): task i writes the outputs k with
k % num_tasks == i. Every output draws instances from every window, so a task
needs every window's part: it builds the windows i, i + num_tasks, ... first,
then the others in reverse order, skipping each part that another task has
already written. On a shared output directory (NFS, a shared disk) the tasks
so divide the windows between them; on separate disks each task builds all
of them. Either way the files are byte for byte those of one machine.

Statistics are the reference's: masking (15% of the tokens, 80/10/10), 50%
random next sentences (plus the forced ones of single-sentence chunks),
`short_seq_prob`. Differences: random next segments come from the same
window rather than from the whole corpus, and instances are shuffled within a
window; the training input pipeline interleaves files and shuffles further.

This module never imports TensorFlow for local files, and never reads absl
FLAGS.
"""

import array
import collections
import dataclasses
import hashlib
import json
import math
import multiprocessing
import os
import random
import re
import shutil
import struct
import time
import traceback
import uuid

from absl import logging

from bert_tf import tfrecord
from bert_tf.tasks import pretraining

_LOG_EVERY_SECONDS = 10.0
_SHARD_COUNT = re.compile(r"^(.*)@(\d+)$")

# Characters that str.split() treats as whitespace but BERT's BasicTokenizer
# removes as control characters (or keeps): a line holding one of them is
# tokenized whole, not word by word.
_SPLIT_MISMATCH = re.compile("[\x0b\x0c\x1c-\x1f\x85\u2028\u2029]")
_WORD_CACHE_LIMIT = 200000


@dataclasses.dataclass(frozen=True)
class DataConfig:
  """Settings of instance creation (the reference's flags, plus the window).

  Attributes:
    max_seq_length: tokens per instance, special tokens included.
    max_predictions_per_seq: cap on masked positions per instance.
    masked_lm_prob: fraction of tokens to mask.
    short_seq_prob: probability of a shorter random target length.
    dupe_factor: passes over the corpus, each with different masks.
    random_seed: seed of everything random.
    do_whole_word_mask: mask all pieces of a word together.
    sentence_split: input is running text (see pretraining's docstring).
    window_bytes: input bytes per window (unit of work and of shuffling).
  """
  max_seq_length: int = 128
  max_predictions_per_seq: int = 20
  masked_lm_prob: float = 0.15
  short_seq_prob: float = 0.1
  dupe_factor: int = 10
  random_seed: int = 12345
  do_whole_word_mask: bool = False
  sentence_split: bool = False
  window_bytes: int = 1 << 20

  def check(self):
    pretraining.check_config(self.max_seq_length, self.max_predictions_per_seq,
                             self.masked_lm_prob, self.short_seq_prob,
                             self.dupe_factor)
    if self.window_bytes < 1:
      raise ValueError("window_bytes=%d must be >= 1." % self.window_bytes)


Part = collections.namedtuple("Part", ["index", "pieces"])
Part.__doc__ = """One window: global `index`, and `pieces`, a list of
(path, start, end) byte ranges (a window may span files)."""


def output_paths(output_file):
  """Output file names from a comma-separated list or a `name@N` count.

  `out/wiki.tfrecord@4` gives out/wiki.tfrecord-00000-of-00004 ...
  out/wiki.tfrecord-00003-of-00004 (the sharded-file convention).

  Raises:
    ValueError: for no name, a count below 1, or a repeated name.
  """
  names = []
  for item in (output_file or "").split(","):
    item = item.strip()
    if not item:
      continue
    match = _SHARD_COUNT.match(item)
    if match:
      count = int(match.group(2))
      if count < 1:
        raise ValueError("Output shard count must be >= 1 in %r." % item)
      names.extend("%s-%05d-of-%05d" % (match.group(1), i, count)
                   for i in range(count))
    else:
      names.append(item)
  if not names:
    raise ValueError("No output file given.")
  if len(set(names)) != len(names):
    raise ValueError("An output file is named twice in %r." % output_file)
  return names


def plan_parts(input_files, window_bytes, sizes=None):
  """Cuts the inputs into windows (see the module docstring).

  Args:
    input_files: list of paths, in order.
    window_bytes: target bytes per window.
    sizes: optional list of file sizes (default: read from the files).

  Returns:
    list of Part, in order: max(1, round(total bytes / window_bytes))
    windows of equal byte ranges.
  """
  if sizes is None:
    sizes = [pretraining.file_size(p) for p in input_files]
  total = sum(sizes)
  file_starts = []
  position = 0
  for size in sizes:
    file_starts.append(position)
    position += size

  def pieces(start, end):
    out = []
    for path, file_start, size in zip(input_files, file_starts, sizes):
      lo, hi = max(start, file_start), min(end, file_start + size)
      if lo < hi:
        out.append((path, lo - file_start, hi - file_start))
    return out

  count = max(1, int(round(total / float(window_bytes))))
  return [Part(w, pieces(total * w // count, total * (w + 1) // count))
          for w in range(count)]


def task_order(num_parts, task_index, num_tasks):
  """The order in which task `task_index` of `num_tasks` builds windows:
  its own (every num_tasks-th from task_index) first, then the others in
  reverse, so that tasks sharing a directory meet late and rarely build the
  same window twice."""
  own = list(range(task_index, num_parts, num_tasks))
  mine = set(own)
  return own + [j for j in reversed(range(num_parts)) if j not in mine]


# ----------------------------------------------------------------------------
# Tokenizing to ids.
# ----------------------------------------------------------------------------


class IdTokenizer(object):
  """Text -> array of token ids, with a per-word cache for WordPiece.

  WordPiece tokenization of a line equals the concatenation of the
  tokenizations of its whitespace-separated words (BERT's basic tokenizer
  cleans, lower-cases, strips accents and splits punctuation word by word),
  except around the few characters that `str.split` and BERT disagree on
  (`_SPLIT_MISMATCH`); such lines are tokenized whole. So each distinct word
  is tokenized once. SentencePiece tokenizes whole lines.
  """

  def __init__(self, tokenizer):
    self.tokenizer = tokenizer
    self.vocab = tokenizer.vocab
    self.wordpiece = getattr(tokenizer, "sp_model", None) is None
    self.cache = {}

  def _ids(self, text):
    return array.array(
        "i", self.tokenizer.convert_tokens_to_ids(self.tokenizer.tokenize(text)))

  def ids(self, text):
    """Returns array('i') of the ids of `text`."""
    if not self.wordpiece or _SPLIT_MISMATCH.search(text):
      return self._ids(text)
    out = array.array("i")
    cache = self.cache
    for word in text.split():
      ids = cache.get(word)
      if ids is None:
        ids = self._ids(word)
        if len(cache) >= _WORD_CACHE_LIMIT:
          cache.clear()
        cache[word] = ids
      out.extend(ids)
    return out


# ----------------------------------------------------------------------------
# Serializing instances.
# ----------------------------------------------------------------------------


class ExampleEncoder(object):
  """Instances of ids -> serialized, framed tf.train.Example records.

  The bytes are built directly (see `tfrecord`): the fixed-length features
  (input_mask, segment_ids, masked_lm_weights, next_sentence_labels) have
  precomputed headers, varints of ids come from a table.
  """

  def __init__(self, max_id, max_seq_length, max_predictions_per_seq):
    self.max_seq_length = max_seq_length
    self.max_predictions_per_seq = max_predictions_per_seq
    self.varints = [tfrecord.encode_varint(i)
                    for i in range(max(max_id, max_seq_length, 1 << 14) + 1)]
    self.keys = {name: b"\x0a" + self.varints[len(name)] + name.encode()
                 for name in ("input_ids", "input_mask", "segment_ids",
                              "masked_lm_positions", "masked_lm_ids",
                              "masked_lm_weights", "next_sentence_labels")}
    # Headers of the fixed-length features: everything before the packed
    # values.
    self.mask_header = self._int64_entry("input_mask",
                                         b"\x00" * max_seq_length)[:-max_seq_length]
    self.segment_header = self._int64_entry(
        "segment_ids", b"\x00" * max_seq_length)[:-max_seq_length]
    weights = 4 * max_predictions_per_seq
    self.weights_header = self._entry(
        "masked_lm_weights", b"\x12", b"\x00" * weights)[:-weights]
    self.next_sentence = (self._int64_entry("next_sentence_labels", b"\x00"),
                          self._int64_entry("next_sentence_labels", b"\x01"))
    self.one_weight = struct.pack("<f", 1.0)

  def _varint(self, value):
    if value < len(self.varints):
      return self.varints[value]
    return tfrecord.encode_varint(value)

  def _entry(self, name, list_tag, packed):
    # Features.feature map entry {key: name, value: Feature{<list>{packed}}}.
    varint = self._varint
    values = b"\x0a" + varint(len(packed)) + packed
    feature = list_tag + varint(len(values)) + values
    entry = self.keys[name] + b"\x12" + varint(len(feature)) + feature
    return b"\x0a" + varint(len(entry)) + entry

  def _int64_entry(self, name, packed):
    return self._entry(name, b"\x1a", packed)

  def encode(self, tokens, segment_ids, positions, label_ids, is_random_next):
    """Returns the TFRecord record (framed bytes) of one instance.

    Args:
      tokens: ids of `[CLS] A [SEP] B [SEP]` (after masking).
      segment_ids: 0/1 per token.
      positions: sorted masked positions.
      label_ids: original ids at those positions.
      is_random_next: bool.
    """
    varints = self.varints
    seq_len = self.max_seq_length
    num_pred = self.max_predictions_per_seq
    n = len(tokens)
    if n > seq_len:
      raise ValueError("Instance has %d tokens > max_seq_length=%d." %
                       (n, seq_len))
    k = len(positions)
    if k > num_pred:
      raise ValueError("Instance has %d predictions > "
                       "max_predictions_per_seq=%d." % (k, num_pred))
    pad = b"\x00" * (seq_len - n)
    pred_pad = b"\x00" * (num_pred - k)
    entries = b"".join((
        self._int64_entry("input_ids",
                          b"".join(map(varints.__getitem__, tokens)) + pad),
        self.mask_header, b"\x01" * n, pad,
        self.segment_header, bytes(segment_ids), pad,
        self._int64_entry("masked_lm_positions",
                          b"".join(map(varints.__getitem__, positions)) +
                          pred_pad),
        self._int64_entry("masked_lm_ids",
                          b"".join(map(varints.__getitem__, label_ids)) +
                          pred_pad),
        self.weights_header, self.one_weight * k, pred_pad * 4,
        self.next_sentence[1 if is_random_next else 0],
    ))
    return tfrecord.frame_record(b"\x0a" + self._varint(len(entries)) +
                                 entries)


# ----------------------------------------------------------------------------
# One window.
# ----------------------------------------------------------------------------


class WindowStats(object):
  """Counts of one window (or, summed, of a run)."""

  FIELDS = ("windows", "documents", "empty_documents", "sentences", "tokens",
            "instances", "random_next", "masked", "single_document_windows",
            "bytes")

  def __init__(self, **counts):
    for field in self.FIELDS:
      setattr(self, field, counts.get(field, 0))

  def add(self, other):
    for field in self.FIELDS:
      setattr(self, field, getattr(self, field) + getattr(other, field))

  def to_dict(self):
    return {field: getattr(self, field) for field in self.FIELDS}

  def __str__(self):
    return (
        "%d windows, %d documents (%d empty ones dropped), %d sentences, "
        "%d tokens -> %d instances (%.1f%% random next, %.2f masked per "
        "instance)" % (self.windows, self.documents, self.empty_documents,
                       self.sentences, self.tokens, self.instances,
                       100.0 * self.random_next / max(1, self.instances),
                       self.masked / float(max(1, self.instances))))


def _window_seed(random_seed, window_index):
  key = ("window/%d/%d" % (random_seed, window_index)).encode("ascii")
  return int.from_bytes(hashlib.sha256(key).digest()[:8], "big")


class _WindowBuilder(object):
  """Builds one window's records; holds the tokenizer and settings."""

  def __init__(self, tokenizer, config):
    self.config = config
    self.id_tokenizer = IdTokenizer(tokenizer)
    vocab = tokenizer.vocab
    self.special = (vocab[pretraining.CLS], vocab[pretraining.SEP],
                    vocab[pretraining.MASK])
    self.vocab_ids = list(vocab.values())
    max_id = max(self.vocab_ids)
    sentencepiece = getattr(tokenizer, "sp_model", None) is not None
    continuation = bytearray(max_id + 1)
    for token, token_id in vocab.items():
      if not pretraining._starts_word(token, sentencepiece):  # pylint: disable=protected-access
        continuation[token_id] = 1
    self.continues_word = continuation.__getitem__
    self.encoder = ExampleEncoder(max_id, config.max_seq_length,
                                  config.max_predictions_per_seq)

  def documents(self, part, stats):
    """The window's tokenized documents (lists of id arrays), in order."""
    documents = []
    for path, start, end in part.pieces:
      blocks = pretraining.iter_text_blocks(path, start, end)
      for raw in pretraining.raw_documents_from_blocks(
          path, blocks, self.config.sentence_split):
        sentences = []
        for unit in raw.units:
          texts = (pretraining.split_sentences(unit)
                   if self.config.sentence_split else (unit,))
          for text in texts:
            ids = self.id_tokenizer.ids(text)
            if ids:
              sentences.append(ids)
        if not sentences:
          stats.empty_documents += 1
          if stats.empty_documents <= 5:
            logging.warning("Dropping an empty document (%s, byte %d).", path,
                            raw.offset)
          continue
        documents.append(sentences)
        stats.sentences += len(sentences)
        stats.tokens += sum(len(s) for s in sentences)
      stats.bytes += end - start
    stats.documents = len(documents)
    return documents

  def records(self, part):
    """(list of framed records in their final order, WindowStats)."""
    config = self.config
    stats = WindowStats(windows=1)
    documents = self.documents(part, stats)
    rng = random.Random(_window_seed(config.random_seed, part.index))
    rng.shuffle(documents)
    if len(documents) == 1:
      stats.single_document_windows += 1
    records = []
    encode = self.encoder.encode
    for _ in range(config.dupe_factor):
      for index in range(len(documents)):
        for instance in pretraining.create_instances_from_document(
            documents, index, config.max_seq_length, config.short_seq_prob,
            config.masked_lm_prob, config.max_predictions_per_seq,
            self.vocab_ids, rng, do_whole_word_mask=config.do_whole_word_mask,
            special=self.special, continues_word=self.continues_word):
          records.append(encode(instance.tokens, instance.segment_ids,
                                instance.masked_lm_positions,
                                instance.masked_lm_labels,
                                instance.is_random_next))
          stats.random_next += instance.is_random_next
          stats.masked += len(instance.masked_lm_positions)
    rng.shuffle(records)
    stats.instances = len(records)
    return records, stats


# ----------------------------------------------------------------------------
# Files: parts, shards, resumption.
# ----------------------------------------------------------------------------


def _fingerprint(input_files, sizes, tokenizer, config):
  """Hex digest of everything a part's content depends on."""
  digest = hashlib.sha256()
  digest.update(json.dumps(dataclasses.asdict(config), sort_keys=True).encode())
  digest.update(json.dumps([list(input_files), list(sizes)]).encode())
  for token, token_id in tokenizer.vocab.items():
    digest.update(("%s\t%d\n" % (token, token_id)).encode("utf-8"))
  digest.update(str(bool(getattr(tokenizer, "do_lower_case", True))).encode())
  return digest.hexdigest()[:12]


def _output_fingerprint(parts_fingerprint, outputs):
  """Hex digest of what an output file depends on: the parts and how many
  outputs they are dealt over."""
  key = "%s/%d" % (parts_fingerprint, len(outputs))
  return hashlib.sha256(key.encode("ascii")).hexdigest()[:12]


def _part_dir(outputs, fingerprint):
  """The hidden directory of the part files, beside the first output."""
  directory, name = os.path.split(os.path.abspath(outputs[0]))
  return os.path.join(directory, ".%s.parts-%s" % (name, fingerprint))


def _part_path(part_dir, part):
  return os.path.join(part_dir, "part-%06d.tfrecord" % part.index)


def _write_atomic(path, chunks):
  """Writes byte chunks to `path` via a temporary name and a rename."""
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  tmp = "%s.tmp-%s" % (path, uuid.uuid4().hex[:8])
  try:
    with open(tmp, "wb") as writer:
      for chunk in chunks:
        writer.write(chunk)
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def _run_part(builder, part, path):
  """Builds one window and writes its part file (+ stats JSON), atomically."""
  stats_path = path + ".json"
  if os.path.exists(path) and os.path.exists(stats_path):
    with open(stats_path, "r", encoding="utf-8") as reader:
      return WindowStats(**json.load(reader)), True
  records, stats = builder.records(part)
  _write_atomic(path, records)
  _write_atomic(stats_path, [json.dumps(stats.to_dict()).encode("utf-8")])
  return stats, False


# Worker state, inherited through fork (or pickled with spawn).
_WORKER = {}


def _worker_loop(worker_id, state, counter, done_parts, done_instances,
                 report):
  """Takes windows from `counter` until none is left; calls `report(msg)`."""
  builder = state["builder"]
  todo = state["todo"]
  last_log = time.time()
  while True:
    with counter.get_lock():
      j = counter.value
      counter.value += 1
    if j >= len(todo):
      return
    part, path = todo[j]
    try:
      stats, reused = _run_part(builder, part, path)
    except Exception as e:  # pylint: disable=broad-except
      with counter.get_lock():
        counter.value = len(todo)  # the others stop after their window
      report(("error", j, (type(e).__name__, str(e)), traceback.format_exc()))
      return
    with done_parts.get_lock():
      done_parts.value += 1
    with done_instances.get_lock():
      done_instances.value += stats.instances
    report(("done", j, stats.to_dict(), reused))
    now = time.time()
    if now - last_log > _LOG_EVERY_SECONDS:
      last_log = now
      elapsed = now - state["start"]
      logging.info(
          "[worker %d] windows %d/%d, %d instances (%.0f instances/s)",
          worker_id, done_parts.value, len(todo), done_instances.value,
          done_instances.value / max(elapsed, 1e-9))


def _child_main(worker_id, counter, done_parts, done_instances, results):
  import gc  # pylint: disable=g-import-not-at-top
  gc.freeze()
  try:
    _worker_loop(worker_id, _WORKER["state"], counter, done_parts,
                 done_instances, results.put)
  finally:
    results.put(("exit", worker_id, None, None))


Summary = collections.namedtuple(
    "Summary", ["outputs", "written", "skipped", "stats", "seconds"])
Summary.__doc__ = """Result of create_pretraining_data: all output paths,
those written and those skipped (already complete), summed WindowStats of the
windows built (or reused) in this run, and the wall time."""


def create_pretraining_data(input_files, output_files, tokenizer, config,
                            num_workers=1, task_index=0, num_tasks=1,
                            mp_context=None):
  """Creates sharded pretraining TFRecords with bounded memory.

  Args:
    input_files: list of paths or a str of comma-separated globs.
    output_files: list of output paths, or a str for `output_paths`.
    tokenizer: pretraining.FullTokenizer-like (vocab, tokenize,
      convert_tokens_to_ids); its vocabulary must hold [CLS], [SEP], [MASK].
    config: DataConfig.
    num_workers: processes building windows (this one included).
    task_index, num_tasks: this machine writes the outputs k with
      k % num_tasks == task_index (see the module docstring).
    mp_context: multiprocessing start method (default "fork" where
      available).

  Returns:
    Summary.

  Raises:
    ValueError: bad settings, non-UTF-8 input (naming file and line), no
      text in the whole input, or fewer instances than output files (some
      file would be empty).
    FileNotFoundError: a pattern that matches nothing.
  """
  config.check()
  if num_workers < 1:
    raise ValueError("num_workers=%d must be >= 1." % num_workers)
  if not 0 <= task_index < num_tasks:
    raise ValueError("task_index=%d must be in [0, num_tasks=%d)." %
                     (task_index, num_tasks))
  tokenization_source = (getattr(tokenizer, "vocab_file", None) or
                         getattr(tokenizer, "spm_model_file", None) or
                         "of the tokenizer")
  from bert_tf import tokenization  # pylint: disable=g-import-not-at-top
  tokenization.check_special_tokens(
      tokenizer.vocab, tokenization_source,
      required=(pretraining.CLS, pretraining.SEP, pretraining.MASK))
  start_time = time.time()
  input_files = pretraining.expand_file_patterns(input_files)
  outputs = (output_paths(output_files) if isinstance(output_files, str)
             else list(output_files))
  if not outputs:
    raise ValueError("No output file given.")
  sizes = [pretraining.file_size(p) for p in input_files]
  parts = plan_parts(input_files, config.window_bytes, sizes)
  fingerprint = _fingerprint(input_files, sizes, tokenizer, config)
  output_fingerprint = _output_fingerprint(fingerprint, outputs)
  part_dir = _part_dir(outputs, fingerprint)

  mine = [k for k in range(len(outputs)) if k % num_tasks == task_index]
  done = [k for k in mine if _is_complete(outputs[k], output_fingerprint)]
  skipped = [outputs[k] for k in done]
  shards = [k for k in mine if k not in done]
  for path in skipped:
    logging.info("%s was completed by a run with the same inputs and "
                 "settings: skipped (delete it to create it again).", path)
  total = WindowStats()
  written = []
  if shards:
    order = task_order(len(parts), task_index, num_tasks)
    todo = [(parts[j], _part_path(part_dir, parts[j])) for j in order]
    logging.info(
        "%d input file(s), %.1f MB -> %d output file(s) (%d to write here), "
        "%d window(s) of ~%.2f MB, %d worker(s)", len(input_files),
        sum(sizes) / 1e6, len(outputs), len(shards), len(todo),
        config.window_bytes / 1e6, num_workers)
    builder = _WindowBuilder(tokenizer, config)
    results_by_part = {}
    _build_parts(builder, todo, num_workers, mp_context, results_by_part,
                 start_time)
    stats_by_window = {todo[j][0].index: results_by_part[j]
                       for j in results_by_part}
    for w in sorted(stats_by_window):
      total.add(stats_by_window[w])
    if total.documents == 0:
      shutil.rmtree(part_dir, ignore_errors=True)
      raise ValueError("No text found in %s." % (input_files,))
    if total.instances < len(outputs):
      raise ValueError(
          "The input makes %d instance(s), too few for %d output files: "
          "%d of them would be empty. Name at most %d output file(s), or "
          "give more text or a larger --dupe_factor." %
          (total.instances, len(outputs), len(outputs) - total.instances,
           total.instances))
    _deal([_part_path(part_dir, part) for part in parts], outputs, shards,
          start_time)
    for k in shards:
      _write_atomic(_marker_path(outputs[k]),
                    [output_fingerprint.encode("ascii")])
      written.append(outputs[k])
    if total.single_document_windows:
      logging.warning(
          "%d window(s) held a single document: their random next segments "
          "come from the same document. Use a larger window.",
          total.single_document_windows)
  if all(_is_complete(path, output_fingerprint) for path in outputs):
    shutil.rmtree(part_dir, ignore_errors=True)
  elif num_tasks > 1:
    logging.info("The part files stay in %s until every task has written "
                 "its outputs (the last one removes them).", part_dir)
  seconds = time.time() - start_time
  logging.info("Wrote %d file(s) (%d skipped, complete) in %.1fs: %s",
               len(written), len(skipped), seconds, total)
  return Summary(outputs, written, skipped, total, seconds)


def _deal(part_paths, outputs, shards, start_time):
  """Writes outputs[k] for k in `shards`: record g of the parts (in order)
  goes to output g % len(outputs). Each output is written under a temporary
  name and renamed once all of them are complete."""
  num_outputs = len(outputs)
  tmp = {k: "%s.tmp-%s" % (outputs[k], uuid.uuid4().hex[:8]) for k in shards}
  writers = {}
  counts = dict.fromkeys(shards, 0)
  last_log = time.time()
  try:
    for k in shards:
      os.makedirs(os.path.dirname(os.path.abspath(outputs[k])), exist_ok=True)
      writers[k] = open(tmp[k], "wb")
    g = 0
    for j, path in enumerate(part_paths):
      for record in tfrecord.iter_framed_records(path):
        writer = writers.get(g % num_outputs)
        if writer is not None:
          writer.write(record)
          counts[g % num_outputs] += 1
        g += 1
      now = time.time()
      if now - last_log > _LOG_EVERY_SECONDS:
        last_log = now
        logging.info("Dealing instances to the output files: window %d/%d, "
                     "%d instances (%.0fs)", j + 1, len(part_paths), g,
                     now - start_time)
    for writer in writers.values():
      writer.close()
    for k in shards:
      os.replace(tmp[k], outputs[k])
  except BaseException:
    for k, writer in writers.items():
      writer.close()
      if os.path.exists(tmp[k]):
        os.remove(tmp[k])
    raise
  logging.info("Dealt %d instances round-robin over %d output file(s): %s "
               "here.", g, num_outputs,
               ", ".join("%s %d" % (os.path.basename(outputs[k]), counts[k])
                         for k in shards))


def _marker_path(path):
  """The hidden file beside a shard that says which run completed it."""
  directory, name = os.path.split(path)
  return os.path.join(directory, "." + name + ".complete")


def _is_complete(path, fingerprint):
  """Whether `path` was written by a run of the same inputs and settings
  (a file of another origin is written anew, as the reference would)."""
  marker = _marker_path(path)
  if not (os.path.exists(path) and os.path.exists(marker)):
    return False
  with open(marker, "rb") as f:
    return f.read().decode("ascii", "replace").strip() == fingerprint


def _build_parts(builder, todo, num_workers, mp_context, results_by_part,
                 start_time):
  """Runs every window of `todo`, in this process and `num_workers - 1`."""
  num_children = min(num_workers, len(todo)) - 1
  if mp_context is None:
    methods = multiprocessing.get_all_start_methods()
    mp_context = "fork" if "fork" in methods else "spawn"
  context = multiprocessing.get_context(mp_context)
  counter = context.Value("q", 0)
  done_parts = context.Value("q", 0)
  done_instances = context.Value("q", 0)
  results = context.SimpleQueue()
  state = {"builder": builder, "todo": todo, "start": start_time}
  _WORKER["state"] = state
  children = []
  messages = []
  try:
    for worker_id in range(1, num_children + 1):
      process = context.Process(
          target=_child_main,
          args=(worker_id, counter, done_parts, done_instances, results),
          daemon=True)
      process.start()
      children.append(process)
    _worker_loop(0, state, counter, done_parts, done_instances,
                 messages.append)
    exited = set()
    while len(exited) < len(children):
      if results.empty():
        if not any(p.is_alive() for p in children) and results.empty():
          raise RuntimeError(
              "A data-creation worker died without reporting (exit codes "
              "%s)." % [p.exitcode for p in children])
        time.sleep(0.01)
        continue
      message = results.get()
      if message[0] == "exit":
        exited.add(message[1])
      else:
        messages.append(message)
    errors = [m for m in messages if m[0] == "error"]
    if errors:
      _, key, (type_name, text), trace = min(errors)
      if type_name in ("ValueError", "FileNotFoundError", "UnicodeError"):
        # Bad input: its message names the file and line (the traceback
        # only with BERT_TF_TRACEBACK=1, as for any user error).
        if os.environ.get("BERT_TF_TRACEBACK"):
          logging.info("Worker traceback (window %d):\n%s", key, trace)
        raise ValueError(text)
      logging.info("Worker traceback (window %d):\n%s", key, trace)
      raise RuntimeError("Window %d failed: %s: %s" % (key, type_name, text))
    for _, key, payload, _ in messages:
      results_by_part[key] = WindowStats(**payload)
    if len(results_by_part) != len(todo):
      raise RuntimeError("%d of %d windows were not built." %
                         (len(todo) - len(results_by_part), len(todo)))
  finally:
    for process in children:
      process.join(timeout=5)
      if process.is_alive():
        process.terminate()
    _WORKER.clear()

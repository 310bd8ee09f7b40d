"""TFRecord writing (atomic) and reading (tf.data) for every bert_tf task.

Writing: `create_int_feature`/`create_float_feature` build `tf.train.Feature`s;
`AtomicTFRecordWriter` writes to a temporary name and renames on success, so a
TFRecord is never left half-written under its final name; `write_examples`
spreads examples round-robin over several files.

Reading: `file_based_input_fn_builder` returns an Estimator `input_fn(params)`
for fixed-length int64/float features (the reference's feature names), with
per-worker sharding, shuffling and repetition for training, and optional
length bucketing (`use_bucketing`: batches of similar real length, each
trimmed to its longest member; see `bucket_by_length` and `trim_batch`).

This module never reads absl FLAGS.
"""

import collections
import os
import uuid

import tensorflow.compat.v1 as tf


def create_int_feature(values):
  """Returns a tf.train.Feature holding `values` as an Int64List."""
  return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))


def create_float_feature(values):
  """Returns a tf.train.Feature holding `values` as a FloatList."""
  return tf.train.Feature(float_list=tf.train.FloatList(value=list(values)))


def make_example(features):
  """Builds a tf.train.Example from an ordered dict name -> tf.train.Feature."""
  return tf.train.Example(features=tf.train.Features(feature=features))


def _temporary_name(path):
  directory, base = os.path.split(path)
  return os.path.join(directory, ".%s.tmp-%s" % (base, uuid.uuid4().hex[:8]))


def atomic_write_text(path, text):
  """Writes `text` to `path` via a temporary file and a rename.

  If writing fails, the temporary file is removed and any previous file at
  `path` is left untouched.
  """
  tmp = _temporary_name(path)
  try:
    with tf.io.gfile.GFile(tmp, "w") as f:
      f.write(text)
    tf.io.gfile.rename(tmp, path, overwrite=True)
  except BaseException:
    if tf.io.gfile.exists(tmp):
      tf.io.gfile.remove(tmp)
    raise


class CloseOrAbortOnExit(object):
  """Context-manager mixin: `close()` on a clean exit, `abort()` on an error.

  Subclasses define `close` (finish the output under its final name) and
  `abort` (drop the partial output, leave any previous file untouched).
  """

  def __enter__(self):
    return self

  def __exit__(self, exc_type, exc, tb):
    if exc_type is None:
      self.close()
    else:
      self.abort()
    return False


class AtomicTFRecordWriter(CloseOrAbortOnExit):
  """A TFRecordWriter that appears under `path` only when closed cleanly.

  Use as a context manager: on an exception the temporary file is removed and
  any previous file at `path` is left untouched.
  """

  def __init__(self, path):
    self.path = path
    directory = os.path.dirname(path)
    if directory:
      tf.io.gfile.makedirs(directory)
    self._tmp = _temporary_name(path)
    self._writer = tf.io.TFRecordWriter(self._tmp)
    self.num_written = 0

  def write(self, record):
    """Writes a serialized record (bytes) or a tf.train.Example."""
    if not isinstance(record, bytes):
      record = record.SerializeToString()
    self._writer.write(record)
    self.num_written += 1

  def close(self):
    self._writer.close()
    tf.io.gfile.rename(self._tmp, self.path, overwrite=True)

  def abort(self):
    self._writer.close()
    if tf.io.gfile.exists(self._tmp):
      tf.io.gfile.remove(self._tmp)


def write_examples(examples, output_files):
  """Writes tf.train.Examples round-robin over `output_files` atomically.

  Args:
    examples: iterable of tf.train.Example (or serialized bytes).
    output_files: str or list of str.

  Returns:
    int, number of records written.
  """
  if isinstance(output_files, str):
    output_files = [output_files]
  writers = [AtomicTFRecordWriter(path) for path in output_files]
  try:
    count = 0
    for example in examples:
      writers[count % len(writers)].write(example)
      count += 1
  except BaseException:
    for w in writers:
      w.abort()
    raise
  for w in writers:
    w.close()
  return count


def decode_record(record, name_to_features):
  """Parses one serialized Example; int64 features are cast to int32 (TPU)."""
  example = tf.io.parse_single_example(record, name_to_features)
  for name in list(example.keys()):
    t = example[name]
    if t.dtype == tf.int64:
      example[name] = tf.cast(t, tf.int32)
  return example


def expand_file_patterns(patterns):
  """Expands comma-separated globs into a sorted list of existing files."""
  if isinstance(patterns, str):
    patterns = patterns.split(",")
  files = []
  for pattern in patterns:
    pattern = pattern.strip()
    if not pattern:
      continue
    matched = tf.io.gfile.glob(pattern)
    if not matched:
      raise FileNotFoundError("No input file matches %r" % pattern)
    files.extend(sorted(matched))
  if not files:
    raise FileNotFoundError("No input files given")
  return files


# Features of shape [seq_length] that length bucketing trims.
SEQUENCE_FEATURES = ("input_ids", "input_mask", "segment_ids")
DEFAULT_LENGTH_MULTIPLE = 8
DEFAULT_BUCKET_WIDTH = 8


InputShare = collections.namedtuple(
    "InputShare", ["rank", "by", "files", "records", "num_shards",
                   "shard_index"])
InputShare.__doc__ = """What one process (rank) of a data-parallel job reads.

Attributes:
  rank: the process.
  by: "file" (it reads `files` whole) or "record" (it reads every
    `num_shards`-th record of all the files, from `shard_index`).
  files: the files it opens, in order.
  records: how many records its share holds.
  num_shards, shard_index: the `file_based_input_fn_builder` arguments
    (1 and 0 when by file).
"""

# By file only while the smallest share holds at least this fraction of the
# largest one.
SHARE_BALANCE = 0.9


class InputShareError(ValueError):
  """Some process of a data-parallel job would get no training records."""


def count_records_of(paths):
  """Record counts of TFRecord files: from the record headers for local
  files (`tfrecord.count_records`, no data read), by reading for others."""
  from bert_tf import tfrecord  # pylint: disable=g-import-not-at-top
  counts = []
  for path in paths:
    if "://" in path:
      counts.append(count_records(path))
    else:
      try:
        counts.append(tfrecord.count_records(path))
      except ValueError as e:
        raise ValueError("%s; expected a TFRecord file of training records."
                         % e) from None
  return counts


def plan_input_shares(files, num_shards, counts, balance=SHARE_BALANCE):
  """Splits training files over `num_shards` processes so none starves.

  By file when the files can be dealt so that every process gets records
  and the smallest share holds at least `balance` of the largest (files go,
  largest first, to the process with the fewest records so far; ties by
  order, so every process computes the same plan); otherwise by record:
  every process reads all the files and keeps every num_shards-th record of
  the one stream (shares differ by at most one record).

  Args:
    files: list of TFRecord paths, in order.
    num_shards: number of processes.
    counts: list of their record counts.
    balance: see above.

  Returns:
    list of InputShare, one per rank.

  Raises:
    InputShareError: fewer records than processes (some rank would have
      none), naming the ranks, the files and their counts.
  """
  total = sum(counts)
  if num_shards <= 1:
    return [InputShare(0, "file", list(files), total, 1, 0)]
  if total < num_shards:
    listing = ", ".join("%s (%d)" % (f, c) for f, c in zip(files, counts))
    raise InputShareError(
        "%d training record(s) in %d file(s) for %d processes: rank(s) %s "
        "would get none, train 0 steps and leave the others waiting. Files "
        "and their record counts: %s. Give at least one record per process "
        "(more data, or fewer processes)." % (
            total, len(files), num_shards,
            ", ".join(str(r) for r in range(total, num_shards)), listing))
  if len(files) >= num_shards:
    loads = [0] * num_shards
    assigned = [[] for _ in range(num_shards)]
    for index in sorted(range(len(files)), key=lambda i: (-counts[i], i)):
      rank = min(range(num_shards), key=lambda r: (loads[r], r))
      assigned[rank].append(index)
      loads[rank] += counts[index]
    if min(loads) > 0 and min(loads) >= balance * max(loads):
      return [InputShare(r, "file", [files[i] for i in sorted(assigned[r])],
                         loads[r], 1, 0) for r in range(num_shards)]
  return [InputShare(r, "record", list(files),
                     len(range(r, total, num_shards)), num_shards, r)
          for r in range(num_shards)]


def describe_input_shares(shares, counts_by_file):
  """One line per rank: how it reads and how many records it holds."""
  lines = []
  for share in shares:
    if share.by == "file":
      lines.append("rank %d: %d record(s) in %s" % (
          share.rank, share.records, ", ".join(
              "%s (%d)" % (os.path.basename(f), counts_by_file[f])
              for f in share.files)))
    else:
      lines.append("rank %d: %d record(s), every %d-th of %d file(s) from "
                   "record %d" % (share.rank, share.records, share.num_shards,
                                  len(share.files), share.shard_index))
  return lines


def file_based_input_fn_builder(input_files, name_to_features, is_training,
                                drop_remainder, num_shards=1, shard_index=0,
                                shard_by="auto",
                                shuffle_buffer=100, seed=None,
                                num_cpu_threads=4, cycle_length=None,
                                use_bucketing=False, bucket_boundaries=None,
                                bucket_width=DEFAULT_BUCKET_WIDTH,
                                length_multiple=DEFAULT_LENGTH_MULTIPLE,
                                sequence_features=SEQUENCE_FEATURES):
  """Returns an Estimator input_fn reading `input_files`.

  Args:
    input_files: list of TFRecord paths (or a comma-separated glob string).
    name_to_features: dict feature name -> tf.io.FixedLenFeature.
    is_training: shuffle and repeat forever when True.
    drop_remainder: keep batch shapes static (TPU).
    num_shards, shard_index: per-worker sharding (Horovod): by file when there
      are at least `num_shards` files, otherwise by record. Never duplicated.
      (`distributed.Context.input_share` decides with the record counts,
      `plan_input_shares`, and passes one process's files or
      `shard_by="record"`.)
    shard_by: "auto" (as above) or "record" (by record whatever the number
      of files).
    shuffle_buffer: records held for shuffling in training (the
      reference's 100: each epoch is the file order perturbed by about that
      many places); 0 or less holds them all (this process's shard), so
      every epoch is a full permutation, drawn anew each epoch.
    seed: shuffle seed.
    num_cpu_threads, cycle_length: parallel reading of several files.
    use_bucketing: length bucketing (CPUs/GPUs; keep False on TPUs, which
      need fixed shapes). In training, examples are grouped by their real
      length (sum of `input_mask`) into the buckets of `bucket_boundaries`,
      and each batch holds examples of one bucket. In training, evaluation
      and prediction alike each batch's `sequence_features` are trimmed to
      its longest member (rounded up to `length_multiple`, at most the
      record length). Evaluation and prediction keep the records' order, and
      since padding is masked out they give the fixed-padding results.
    bucket_boundaries: sorted ints, the exclusive upper lengths of all but
      the last bucket; default `default_bucket_boundaries(seq_length,
      bucket_width)`.
    bucket_width: int >= 1, the width of the default buckets; a width of at
      least the records' length makes one bucket, so training batches are
      composed as without bucketing (same stream, same order for a seed)
      and only trimmed.
    length_multiple: trimmed lengths are rounded up to a multiple of this
      (fewer distinct shapes for oneDNN / XLA to prepare); 1 trims exactly.
    sequence_features: the [seq_length] features trimmed with bucketing;
      "input_mask" must be one of them (it gives the real lengths).

  Returns:
    input_fn(params) -> tf.data.Dataset of dicts of tensors; `params` must
    hold "batch_size". With bucketing the sequence features have shape
    [batch_size, None] (int32).
  """
  input_files = expand_file_patterns(input_files)

  def input_fn(params):
    batch_size = params["batch_size"]
    files = input_files
    if num_shards > 1 and len(files) >= num_shards and shard_by != "record":
      files = files[shard_index::num_shards]
      record_shard = False
    else:
      record_shard = num_shards > 1
    # Sharding by record must cut one stream that is the same on every
    # worker (the files in their given order), before any shuffling:
    # otherwise each worker would take every n-th record of a different
    # order, and the shards would overlap.
    if is_training and len(files) > 1 and not record_shard:
      d = tf.data.Dataset.from_tensor_slices(tf.constant(files))
      d = d.shuffle(buffer_size=len(files), seed=seed)
      d = d.interleave(
          tf.data.TFRecordDataset,
          cycle_length=cycle_length or min(num_cpu_threads, len(files)),
          num_parallel_calls=tf.data.experimental.AUTOTUNE,
          deterministic=seed is not None)
    else:
      d = tf.data.TFRecordDataset(files)
    if record_shard:
      d = d.shard(num_shards, shard_index)
    if is_training:
      buffer_size = shuffle_buffer
      if buffer_size <= 0:
        # Every record of this process's shard.
        total = sum(count_records_of(files))
        buffer_size = max(1, -(-total // num_shards) if record_shard
                          else total)
      d = d.shuffle(buffer_size=buffer_size, seed=seed,
                    reshuffle_each_iteration=True)
      d = d.repeat()
    d = d.map(lambda r: decode_record(r, name_to_features),
              num_parallel_calls=tf.data.experimental.AUTOTUNE)
    if use_bucketing and is_training:
      d = bucket_by_length(d, batch_size, seq_length, boundaries,
                           drop_remainder=drop_remainder)
    else:
      d = d.batch(batch_size, drop_remainder=drop_remainder)
    if use_bucketing:
      d = d.map(lambda batch: trim_batch(batch, sequence_features,
                                         length_multiple),
                num_parallel_calls=tf.data.experimental.AUTOTUNE)
    return d.prefetch(tf.data.experimental.AUTOTUNE)

  seq_length = None
  boundaries = None
  if use_bucketing:
    missing = [n for n in sequence_features if n not in name_to_features]
    if missing or "input_mask" not in sequence_features:
      raise ValueError(
          "Length bucketing needs the sequence features %s (with input_mask) "
          "in the feature spec; missing: %s" % (list(sequence_features),
                                                missing or ["input_mask"]))
    seq_length = int(name_to_features["input_mask"].shape[0])
    if bucket_boundaries is None and (
        not isinstance(bucket_width, int) or bucket_width < 1):
      raise ValueError("bucket_width must be an int >= 1, got %r" %
                       (bucket_width,))
    boundaries = list(bucket_boundaries if bucket_boundaries is not None
                      else default_bucket_boundaries(seq_length,
                                                     bucket_width))
    if boundaries != sorted(set(boundaries)) or (
        boundaries and boundaries[0] < 1):
      raise ValueError("bucket_boundaries must be increasing positive ints, "
                       "got %s" % (boundaries,))
  return input_fn


def default_bucket_boundaries(seq_length, width=None):
  """Bucket boundaries every `width` tokens below `seq_length`.

  Args:
    seq_length: int, the records' (maximum) sequence length.
    width: int, the bucket width (default `DEFAULT_BUCKET_WIDTH`); at least
      `seq_length` gives no boundary (one bucket).

  Returns:
    List of ints [width + 1, 2 * width + 1, ...] below `seq_length` + 1: the
    bucket of an example of real length L holds lengths in
    (k * width, (k + 1) * width].
  """
  width = width or DEFAULT_BUCKET_WIDTH
  return [b + 1 for b in range(width, seq_length, width)]


def example_length(features):
  """The real length of one decoded example: sum(input_mask), int32 scalar."""
  return tf.reduce_sum(tf.cast(features["input_mask"], tf.int32))


def bucket_by_length(dataset, batch_size, seq_length, boundaries,
                     drop_remainder=True):
  """Batches examples of similar real length together.

  Args:
    dataset: tf.data.Dataset of unbatched feature dicts with "input_mask"
      int32 [seq_length].
    batch_size: int.
    seq_length: int, the records' sequence length.
    boundaries: sorted ints; bucket i holds lengths in
      [boundaries[i-1], boundaries[i]) (open-ended at both ends).
    drop_remainder: only full batches (a finite dataset drops each bucket's
      last partial batch).

  Returns:
    Dataset of batched feature dicts (still padded to seq_length; see
    `trim_batch`).
  """
  del seq_length
  bounds = tf.constant(boundaries, dtype=tf.int32)

  def key_fn(features):
    length = example_length(features)
    return tf.cast(tf.reduce_sum(tf.cast(bounds <= length, tf.int32)),
                   tf.int64)

  def reduce_fn(unused_key, window):
    return window.batch(batch_size, drop_remainder=drop_remainder)

  return dataset.group_by_window(key_func=key_fn, reduce_func=reduce_fn,
                                 window_size=batch_size)


def trim_batch(batch, sequence_features=SEQUENCE_FEATURES,
               length_multiple=DEFAULT_LENGTH_MULTIPLE):
  """Trims a padded batch to its longest member.

  Args:
    batch: dict name -> Tensor; the `sequence_features` are int32
      [batch_size, seq_length] with "input_mask" 1 on real tokens, which come
      first.
    sequence_features: names of the features to trim.
    length_multiple: round the new length up to a multiple of this (but never
      beyond seq_length).

  Returns:
    The dict with the sequence features sliced to [batch_size, new_length],
    new_length = min(seq_length, roundup(max(sum(input_mask)), multiple)),
    at least 1; other features unchanged.
  """
  mask = batch["input_mask"]
  seq_length = tf.shape(mask)[1]
  longest = tf.reduce_max(tf.reduce_sum(tf.cast(mask, tf.int32), axis=1))
  longest = tf.maximum(longest, 1)
  if length_multiple and length_multiple > 1:
    longest = (longest + length_multiple - 1) // length_multiple * (
        length_multiple)
  new_length = tf.minimum(longest, seq_length)
  out = dict(batch)
  for name in sequence_features:
    out[name] = batch[name][:, :new_length]
  return out


def iter_records(path):
  """Yields the serialized records (bytes) of one TFRecord file.

  Works in graph and eager mode alike, so library code and scripts that call
  `tf.disable_eager_execution()` can both use it.
  """
  return tf.io.tf_record_iterator(path)


def count_records(path):
  """Returns the number of records in one TFRecord file."""
  return sum(1 for _ in iter_records(path))


FeatureSpec = collections.namedtuple("FeatureSpec", ["name", "length", "dtype"])


def check_records(path, name_to_features, produced_by=None,
                  length_settings=None):
  """Fails early, naming `path`, unless its first record fits the spec.

  Reads one record: the file must be a TFRecord file whose records are
  `tf.train.Example`s holding every feature of `name_to_features` with the
  declared kind (int64 or float) and length.

  Args:
    path: a TFRecord file.
    name_to_features: dict name -> tf.io.FixedLenFeature.
    produced_by: optional text naming what writes such files (for the
      message), e.g. "create_pretraining_data.py".
    length_settings: optional dict feature name -> the setting that gives
      its length, e.g. "--max_seq_length=128" (for the message).

  Raises:
    ValueError: naming the file, the feature and what was expected.
  """
  source = (" (written by %s)" % produced_by) if produced_by else ""
  expected = ", ".join(
      "%s %s[%d]" % (name, spec.dtype.name, _spec_length(spec))
      for name, spec in sorted(name_to_features.items()))
  try:
    record = next(iter(iter_records(path)), None)
  except (tf.errors.DataLossError, tf.errors.OpError) as e:
    raise ValueError(
        "%s is not a TFRecord file%s: %s. Expected TFRecords of "
        "tf.train.Examples with %s." % (path, source, e.message.split("\n")[0],
                                        expected)) from None
  if record is None:
    raise ValueError("%s holds no records; expected TFRecords%s with %s." %
                     (path, source, expected))
  try:
    example = tf.train.Example.FromString(record)
  except Exception:  # pylint: disable=broad-except
    raise ValueError("%s: its first record is not a tf.train.Example; "
                     "expected TFRecords%s with %s." % (path, source,
                                                        expected)) from None
  feature = example.features.feature
  for name, spec in sorted(name_to_features.items()):
    if name not in feature:
      raise ValueError(
          "%s: records lack the feature %r; expected TFRecords%s with %s "
          "(were the records made with other settings or by another "
          "task?)." % (path, name, source, expected))
    kind = feature[name].WhichOneof("kind")
    want_kind = "float_list" if spec.dtype.is_floating else "int64_list"
    if kind != want_kind:
      raise ValueError("%s: feature %r holds %s values, expected %s." %
                       (path, name, kind, want_kind))
    have = len(getattr(feature[name], kind).value)
    want = _spec_length(spec)
    if have != want:
      setting_text = (length_settings or {}).get(name)
      raise ValueError(
          "%s: feature %r has length %d, expected %d%s: the records were "
          "made with other settings; pass the values the data was created "
          "with." % (path, name, have, want,
                     (" for %s" % setting_text) if setting_text else ""))


def _spec_length(spec):
  length = 1
  for dim in spec.shape:
    length *= int(dim)
  return length

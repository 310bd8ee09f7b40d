"""TFRecord writing (atomic) and reading (tf.data) for every bert_tf task.

Writing: `create_int_feature`/`create_float_feature` build `tf.train.Feature`s;
`AtomicTFRecordWriter` writes to a temporary name and renames on success, so a
TFRecord is never left half-written under its final name; `write_examples`
spreads examples round-robin over several files.

Reading: `file_based_input_fn_builder` returns an Estimator `input_fn(params)`
for fixed-length int64/float features (the reference's feature names), with
per-worker sharding, shuffling and repetition for training.

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


class AtomicTFRecordWriter(object):
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

  def __enter__(self):
    return self

  def __exit__(self, exc_type, exc, tb):
    if exc_type is None:
      self.close()
    else:
      self.abort()
    return False


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


def file_based_input_fn_builder(input_files, name_to_features, is_training,
                                drop_remainder, num_shards=1, shard_index=0,
                                shuffle_buffer=100, seed=None,
                                num_cpu_threads=4, cycle_length=None):
  """Returns an Estimator input_fn reading `input_files`.

  Args:
    input_files: list of TFRecord paths (or a comma-separated glob string).
    name_to_features: dict feature name -> tf.io.FixedLenFeature.
    is_training: shuffle and repeat forever when True.
    drop_remainder: keep batch shapes static (TPU).
    num_shards, shard_index: per-worker sharding (Horovod): by file when there
      are at least `num_shards` files, otherwise by record. Never duplicated.
    shuffle_buffer: records held for shuffling in training.
    seed: shuffle seed.

  Returns:
    input_fn(params) -> tf.data.Dataset of dicts of tensors; `params` must
    hold "batch_size".
  """
  input_files = expand_file_patterns(input_files)

  def input_fn(params):
    batch_size = params["batch_size"]
    files = input_files
    if num_shards > 1 and len(files) >= num_shards:
      files = files[shard_index::num_shards]
      record_shard = False
    else:
      record_shard = num_shards > 1
    if is_training and len(files) > 1:
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
      d = d.shuffle(buffer_size=shuffle_buffer, seed=seed)
      d = d.repeat()
    d = d.map(lambda r: decode_record(r, name_to_features),
              num_parallel_calls=tf.data.experimental.AUTOTUNE)
    d = d.batch(batch_size, drop_remainder=drop_remainder)
    return d.prefetch(tf.data.experimental.AUTOTUNE)

  return input_fn


def count_records(path):
  """Returns the number of records in one TFRecord file."""
  return sum(1 for _ in tf.data.TFRecordDataset(path).as_numpy_iterator())


FeatureSpec = collections.namedtuple("FeatureSpec", ["name", "length", "dtype"])

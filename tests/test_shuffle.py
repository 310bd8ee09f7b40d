"""Training shuffle: the reference's 100-record buffer and the full permutation."""

import numpy as np

from bert_tf import input_pipeline
from bert_tf import runtime
from bert_tf.tasks import classifier

from test_bucketing import SEQ, _batches, _write_records  # pylint: disable=g-bad-import-order

N = 300
BATCH = 50


def _labels(path, shuffle_buffer, num_batches, **kwargs):
  input_fn = input_pipeline.file_based_input_fn_builder(
      [path], classifier.name_to_features(SEQ), is_training=True,
      drop_remainder=True, seed=7, shuffle_buffer=shuffle_buffer, **kwargs)
  return np.concatenate([b["label_ids"] for b in
                         _batches(input_fn, BATCH, num_batches)])


def test_full_shuffle_is_a_new_permutation_every_epoch(tmp_path):
  path = str(tmp_path / "train.tf_record")
  _write_records(path, [10] * N)  # label_ids = the record's index
  stream = _labels(path, 0, 2 * N // BATCH)
  first, second = stream[:N], stream[N:]
  # Each epoch holds every record exactly once ...
  np.testing.assert_array_equal(np.sort(first), np.arange(N))
  np.testing.assert_array_equal(np.sort(second), np.arange(N))
  # ... in a different order ...
  assert (first != second).mean() > 0.9
  # ... drawn from the whole file: a 100-record buffer can emit its k-th
  # record only from the first 100 + k of the file, a permutation can not
  # be held to that (chance of it here: below 1e-30).
  assert first[:BATCH].max() >= 100 + BATCH
  # The same seed gives the same stream.
  np.testing.assert_array_equal(stream, _labels(path, 0, 2 * N // BATCH))


def test_reference_buffer_stays_near_file_order(tmp_path):
  path = str(tmp_path / "train.tf_record")
  _write_records(path, [10] * N)
  stream = _labels(path, 100, 2 * N // BATCH)
  first = stream[:N]
  np.testing.assert_array_equal(np.sort(first), np.arange(N))
  # The k-th record emitted comes from the first 100 + k of the file.
  assert all(first[k] < 100 + k + 1 for k in range(N - 100))
  assert not np.array_equal(first, np.arange(N))


def test_full_shuffle_of_a_record_shard(tmp_path):
  path = str(tmp_path / "train.tf_record")
  _write_records(path, [10] * N)
  stream = _labels(path, 0, N // 2 // BATCH, num_shards=2, shard_index=1)
  np.testing.assert_array_equal(np.sort(stream), np.arange(1, N, 2))


def test_run_settings_default_is_the_reference_buffer():
  assert runtime.RunSettings().shuffle_buffer == 100

"""How a data-parallel job's training files are split over its processes
(`input_pipeline.plan_input_shares`, `tfrecord.count_records`): no rank may
starve. The runs of these plans under horovodrun are in test_distributed.py.
"""

import pytest
import tensorflow.compat.v1 as tf

from bert_tf import input_pipeline
from bert_tf import tfrecord


def _write(path, n):
  with open(path, "wb") as f:
    for i in range(n):
      f.write(tfrecord.frame_record(b"record %d " % i * (i % 7 + 1)))
  return str(path)


def test_count_records_reads_headers_only(tmp_path):
  for n in (0, 1, 17):
    path = _write(tmp_path / ("f%d" % n), n)
    assert tfrecord.count_records(path) == n == sum(
        1 for _ in tf.io.tf_record_iterator(path))
    assert [r for r in tfrecord.iter_framed_records(path)] == [
        tfrecord.frame_record(d) for d in tfrecord.read_records(path)]
  bad = tmp_path / "text.txt"
  bad.write_text("not a tfrecord file at all\n" * 3)
  with pytest.raises(ValueError, match=r"text\.txt: corrupt record length "
                     r"at byte 0"):
    input_pipeline.count_records_of([str(bad)])
  flipped = bytearray(open(_write(tmp_path / "two", 2), "rb").read())
  flipped[-6] ^= 1  # in the second record's data
  (tmp_path / "flipped").write_bytes(bytes(flipped))
  first = len(tfrecord.frame_record(b"record 0 "))
  with pytest.raises(ValueError, match=r"flipped: corrupt record data at "
                     r"byte %d" % first):
    list(tfrecord.read_records(str(tmp_path / "flipped")))
  truncated = tmp_path / "cut"
  truncated.write_bytes(
      open(_write(tmp_path / "whole", 3), "rb").read()[:-5])
  with pytest.raises(ValueError, match=r"cut: truncated record at byte \d+"):
    tfrecord.count_records(str(truncated))


def test_equal_files_are_shared_by_file():
  files = ["f%d" % i for i in range(8)]
  shares = input_pipeline.plan_input_shares(files, 4, [100] * 8)
  assert [s.by for s in shares] == ["file"] * 4
  assert [s.records for s in shares] == [200] * 4
  assert sorted(f for s in shares for f in s.files) == files
  assert all((s.num_shards, s.shard_index) == (1, 0) for s in shares)


def test_unequal_files_dealt_largest_first_when_that_balances():
  files = ["a", "b", "c", "d", "e"]
  counts = [30, 70, 30, 40, 30]
  shares = input_pipeline.plan_input_shares(files, 2, counts)
  # Largest first to the emptier rank: b | d, a | c (rank 0, 70 + 30) ...
  assert [(s.by, s.files, s.records) for s in shares] == [
      ("file", ["b", "c"], 100), ("file", ["a", "d", "e"], 100)]


@pytest.mark.parametrize("counts,num_shards", [
    ([384, 0], 2),             # the two files, one of them empty
    ([1000, 1000, 1000, 3, 4], 4),  # three large files, two tiny ones
    ([10], 3),                 # fewer files than processes
    ([90, 100], 2),            # 90% of the largest: still by file
])
def test_starving_or_unequal_files_are_shared_by_record(counts, num_shards):
  files = ["f%d" % i for i in range(len(counts))]
  shares = input_pipeline.plan_input_shares(files, num_shards, counts)
  total = sum(counts)
  assert sum(s.records for s in shares) == total
  assert max(s.records for s in shares) - min(
      s.records for s in shares) <= (1 if shares[0].by == "record" else
                                     0.1 * total)
  assert min(s.records for s in shares) > 0
  if counts == [90, 100]:
    assert shares[0].by == "file"
  else:
    assert [(s.by, s.files, s.num_shards, s.shard_index) for s in shares] == [
        ("record", files, num_shards, r) for r in range(num_shards)]


def test_fewer_records_than_processes_names_ranks_and_files():
  with pytest.raises(input_pipeline.InputShareError) as error:
    input_pipeline.plan_input_shares(["x.tfrecord", "y.tfrecord"], 4, [2, 0])
  message = str(error.value)
  assert "rank(s) 2, 3 would get none" in message
  assert "x.tfrecord (2), y.tfrecord (0)" in message
  assert "fewer processes" in message


def test_record_sharding_forced_with_enough_files(tmp_path):
  # shard_by="record": every num_shards-th record even with >= N files.
  files = [_write(tmp_path / ("p%d" % i), 0) for i in range(2)]
  input_pipeline.write_examples(
      (input_pipeline.make_example(
          {"input_ids": input_pipeline.create_int_feature([i])})
       for i in range(10)), files)
  spec = {"input_ids": tf.io.FixedLenFeature([1], tf.int64)}
  seen = []
  for rank in range(2):
    input_fn = input_pipeline.file_based_input_fn_builder(
        files, spec, is_training=False, drop_remainder=False, num_shards=2,
        shard_index=rank, shard_by="record")
    with tf.Graph().as_default():
      batch = tf.data.make_one_shot_iterator(
          input_fn({"batch_size": 100})).get_next()
      with tf.Session() as sess:
        seen.append(sorted(int(i) for i in sess.run(batch["input_ids"])[:, 0]))
  # write_examples deals 0, 2, 4, ... to p0 and 1, 3, ... to p1; the stream
  # is p0 then p1, and the ranks take alternate records of it.
  assert seen == [[0, 3, 4, 7, 8], [1, 2, 5, 6, 9]]


class _TwoRanks(object):
  """The `horovod.tensorflow` calls of `distributed.Context`, rank 0 of 2."""

  def rank(self):
    return 0

  def size(self):
    return 2

  def local_rank(self):
    return 0

  def local_size(self):
    return 1


def _context_seeing(monkeypatch, other_report):
  """Rank 0's Context whose allgather returns its own report and
  `other_report(own)` as rank 1's."""
  from bert_tf import distributed  # pylint: disable=g-import-not-at-top
  import json  # pylint: disable=g-import-not-at-top
  cfg = distributed.ScaleConfig(use_horovod=True)
  context = distributed.Context(cfg, _TwoRanks())

  def allgather(data):
    own = json.loads(data)
    return [data, json.dumps(other_report(dict(own))).encode()]

  monkeypatch.setattr(context, "allgather_bytes", allgather)
  return context


def test_ranks_that_see_other_files_stop_together(tmp_path, monkeypatch):
  files = [_write(tmp_path / ("r%d" % i), 10) for i in range(2)]

  def fewer_files(own):
    own.update(rank=1, host="hostB", files=["r0"], counts=[10])
    return own

  with pytest.raises(input_pipeline.InputShareError,
                     match=r"Rank 1 \(host hostB\) found other training "
                     r"files than rank 0.*1 file\(s\); only there: none; "
                     r"only on rank 0: \['r1'\]"):
    _context_seeing(monkeypatch, fewer_files).input_share(files)

  def other_counts(own):
    own.update(rank=1, host="hostB", counts=[10, 3])
    return own

  with pytest.raises(input_pipeline.InputShareError,
                     match=r"Rank 1 \(host hostB\) sees other training files"
                     r".*r1 \(rank 0: 10, rank 1: 3\) records"):
    _context_seeing(monkeypatch, other_counts).input_share(files)

  def unreadable(own):
    own.pop("counts")
    own.update(rank=1, host="hostB", error="[Errno 2] No such file: r1")
    return own

  with pytest.raises(input_pipeline.InputShareError,
                     match=r"checked before the first step: rank 1 \(host "
                     r"hostB\): \[Errno 2\] No such file: r1"):
    _context_seeing(monkeypatch, unreadable).input_share(files)

  def agrees(own):
    own.update(rank=1, host="hostB")
    return own

  context = _context_seeing(monkeypatch, agrees)
  assert context.input_share(files) == ([files[0]], dict(num_shards=1,
                                                         shard_index=0))
  assert context.roster == [(0, context.roster[0][1]), (1, "hostB")]

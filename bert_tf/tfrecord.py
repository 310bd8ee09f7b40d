"""TFRecord files and `tf.train.Example` protos without importing TensorFlow.

Data creation is pure Python work; importing TensorFlow only to write records
costs about 300 MB of memory and seconds of start-up per process. This module
writes the same bytes TensorFlow reads:

  * a TFRecord file is a sequence of records, each
    `uint64 length | uint32 masked_crc32c(length) | data | uint32
    masked_crc32c(data)` (little-endian), so files can be concatenated;
  * `tf.train.Example` is serialized by hand for int64 and float lists (packed
    repeated fields, the encoding TensorFlow's own parser reads).

CRC32C comes from `google_crc32c` (C) when installed, else a pure-Python
table (correct, slow).
"""

import os
import struct

try:
  import google_crc32c as _google_crc32c  # pylint: disable=g-import-not-at-top
except ImportError:  # pragma: no cover - exercised by the fallback test.
  _google_crc32c = None

_CRC_TABLE = None


def _crc32c_python(data):
  """Pure-Python CRC32C (Castagnoli), reflected, table driven."""
  global _CRC_TABLE
  if _CRC_TABLE is None:
    table = []
    for i in range(256):
      crc = i
      for _ in range(8):
        crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
      table.append(crc)
    _CRC_TABLE = table
  table = _CRC_TABLE
  crc = 0xFFFFFFFF
  for byte in data:
    crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
  return crc ^ 0xFFFFFFFF


def crc32c(data):
  """CRC32C of `data` (bytes) as an unsigned int."""
  if _google_crc32c is not None:
    return _google_crc32c.value(data)
  return _crc32c_python(data)


def masked_crc32c(data):
  """The masked CRC32C that TFRecord stores."""
  crc = crc32c(data)
  return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def frame_record(data):
  """Returns `data` (bytes) framed as one TFRecord record."""
  length = struct.pack("<Q", len(data))
  return b"".join((length, struct.pack("<I", masked_crc32c(length)), data,
                   struct.pack("<I", masked_crc32c(data))))


def read_records(path):
  """Yields the records (bytes) of a local TFRecord file, checking CRCs.

  Raises:
    ValueError: naming the file and byte offset of a truncated or corrupt
      record.
  """
  offset = 0
  for framed in iter_framed_records(path):
    data = framed[12:-4]
    if masked_crc32c(data) != struct.unpack("<I", framed[-4:])[0]:
      raise ValueError("%s: corrupt record data at byte %d" % (path, offset))
    offset += len(framed)
    yield data


def iter_framed_records(path):
  """Yields each record of a local TFRecord file still framed (its length,
  CRCs and data, as `frame_record` makes them), checking the length CRCs.

  For copying records between files without decoding them.

  Raises:
    ValueError: naming the file and byte offset of a truncated record.
  """
  with open(path, "rb") as reader:
    offset = 0
    while True:
      header = reader.read(12)
      if not header:
        return
      length = _checked_length(path, offset, header)
      rest = reader.read(length + 4)
      if len(rest) < length + 4:
        raise ValueError("%s: truncated record at byte %d" % (path, offset))
      offset += 16 + length
      yield header + rest


def count_records(path):
  """The number of records of a local TFRecord file, read from the record
  headers alone (the data is skipped, not read).

  Raises:
    ValueError: naming the file and byte offset of a truncated or corrupt
      record header.
  """
  size = os.path.getsize(path)
  count = 0
  offset = 0
  with open(path, "rb") as reader:
    while offset < size:
      reader.seek(offset)
      length = _checked_length(path, offset, reader.read(12))
      offset += 16 + length
      if offset > size:
        raise ValueError("%s: truncated record at byte %d" %
                         (path, offset - 16 - length))
      count += 1
  return count


def _checked_length(path, offset, header):
  if len(header) < 12:
    raise ValueError("%s: truncated record header at byte %d" %
                     (path, offset))
  length, length_crc = struct.unpack("<QI", header)
  if masked_crc32c(header[:8]) != length_crc:
    raise ValueError("%s: corrupt record length at byte %d (not a TFRecord "
                     "file?)" % (path, offset))
  return length


# ----------------------------------------------------------------------------
# Protocol-buffer encoding of tf.train.Example.
# ----------------------------------------------------------------------------


def encode_varint(value):
  """Base-128 varint of a non-negative int (negative ints as 64-bit)."""
  if value < 0:
    value += 1 << 64
  out = bytearray()
  while value > 0x7F:
    out.append((value & 0x7F) | 0x80)
    value >>= 7
  out.append(value)
  return bytes(out)


def _length_delimited(field_tag, payload):
  return field_tag + encode_varint(len(payload)) + payload


def int64_feature_payload(values_bytes):
  """`Feature{int64_list{value: packed}}` from already-encoded varints."""
  packed = _length_delimited(b"\x0a", values_bytes)  # Int64List.value = 1
  return _length_delimited(b"\x1a", packed)  # Feature.int64_list = 3


def float_feature_payload(values):
  """`Feature{float_list{value: packed}}` from a sequence of floats."""
  packed = _length_delimited(b"\x0a",
                             struct.pack("<%df" % len(values), *values))
  return _length_delimited(b"\x12", packed)  # Feature.float_list = 2


def feature_entry(name, feature_payload):
  """One `Features.feature` map entry (key = name, value = feature)."""
  entry = (_length_delimited(b"\x0a", name.encode("utf-8")) +
           _length_delimited(b"\x12", feature_payload))
  return _length_delimited(b"\x0a", entry)  # Features.feature = 1


def example_from_entries(entries):
  """Serialized `tf.train.Example` from `feature_entry` byte strings."""
  return _length_delimited(b"\x0a", b"".join(entries))  # Example.features = 1


def serialize_example(features):
  """Serializes {name: ("int64" | "float", list of values)} to Example bytes.

  A convenient (not the fastest) entry point, used by tests; the pretraining
  writer precomputes the varints of its ids instead.
  """
  entries = []
  for name, (kind, values) in features.items():
    if kind == "int64":
      payload = int64_feature_payload(b"".join(encode_varint(int(v))
                                               for v in values))
    elif kind == "float":
      payload = float_feature_payload([float(v) for v in values])
    else:
      raise ValueError("Unknown feature kind %r for %r." % (kind, name))
    entries.append(feature_entry(name, payload))
  return example_from_entries(entries)

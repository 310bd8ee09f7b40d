"""The synthetic batch both frameworks train and predict on."""

import collections

import numpy as np

Batch = collections.namedtuple(
    "Batch", ["batch_size", "input_ids", "segment_ids", "label_ids"])


def synthetic_batch(bert_config, cfg, mode):
  """Random token ids, two segments and random labels, from `cfg.seed`.

  Args:
    bert_config: `modeling.BertConfig` (its vocabulary size).
    cfg: `BenchmarkConfig`.
    mode: "train" (`cfg.batch_size` examples) or "predict"
      (`cfg.predict_batch_size`).

  Returns:
    A `Batch` of int64 numpy arrays: `input_ids`, `segment_ids` (0 for the
    first half of the sequence, 1 for the second) [batch, seq_length] and
    `label_ids` [batch]; every position is a real token (no padding).
  """
  batch = cfg.batch_size if mode == "train" else cfg.predict_batch_size
  rng = np.random.RandomState(cfg.seed)
  s = cfg.seq_length
  ids = rng.randint(1, bert_config.vocab_size, size=(batch, s))
  segments = np.zeros((batch, s), np.int64)
  segments[:, s // 2:] = 1
  labels = rng.randint(0, cfg.num_labels, size=(batch,))
  return Batch(batch, ids.astype(np.int64), segments,
               labels.astype(np.int64))

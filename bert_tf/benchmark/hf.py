"""Hugging Face transformers + PyTorch, the framework bert_tf is timed against.

`HFRunner` builds `BertForSequenceClassification` from a
`transformers.BertConfig` of the same shape (same activation: Google's
"gelu" is the tanh approximation, HF's "gelu_new"), trains with
`torch.optim.AdamW` and the same global-norm clipping, and predicts under
`torch.inference_mode()`; bf16 uses `torch.autocast("cpu", bfloat16)`.
`HFRunner.op_profile` is the torch side of `--op_profile`
(`profile_torch_ops`).
"""

import numpy as np

from bert_tf.benchmark import graphs
from bert_tf.benchmark import inputs

# bert_config.json hidden_act -> transformers' name of the same function.
HF_ACTIVATIONS = {"gelu": "gelu_new", "gelu_exact": "gelu",
                  "gelu_erf": "gelu", "relu": "relu", "tanh": "tanh"}


class HFRunner(object):
  """BertForSequenceClassification of the same shape, for one mode."""

  def __init__(self, bert_config, cfg, mode, threads):
    import torch  # pylint: disable=g-import-not-at-top
    import transformers  # pylint: disable=g-import-not-at-top
    torch.set_num_threads(threads)
    torch.manual_seed(cfg.seed)
    self.torch = torch
    self.mode = mode
    training = mode == "train"
    data = inputs.synthetic_batch(bert_config, cfg, mode)
    self.batch_size = data.batch_size
    act = bert_config.hidden_act
    hf_config = transformers.BertConfig(
        vocab_size=bert_config.vocab_size,
        hidden_size=bert_config.hidden_size,
        num_hidden_layers=bert_config.num_hidden_layers,
        num_attention_heads=bert_config.num_attention_heads,
        intermediate_size=bert_config.intermediate_size,
        hidden_act=HF_ACTIVATIONS.get(act, act),
        hidden_dropout_prob=bert_config.hidden_dropout_prob,
        attention_probs_dropout_prob=bert_config.attention_probs_dropout_prob,
        max_position_embeddings=bert_config.max_position_embeddings,
        type_vocab_size=bert_config.type_vocab_size,
        initializer_range=bert_config.initializer_range,
        num_labels=cfg.num_labels)
    self.model = transformers.BertForSequenceClassification(hf_config)
    self.inputs = dict(
        input_ids=torch.from_numpy(data.input_ids),
        attention_mask=torch.from_numpy(np.ones_like(data.input_ids)),
        token_type_ids=torch.from_numpy(data.segment_ids))
    self.labels = torch.from_numpy(data.label_ids)
    self.autocast = cfg.precision == "bf16"
    if training:
      self.model.train()
      self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=2e-5,
                                         weight_decay=0.01, eps=1e-6)
    else:
      self.model.eval()

  def _forward(self, **kwargs):
    if self.autocast:
      with self.torch.autocast("cpu", dtype=self.torch.bfloat16):
        return self.model(**self.inputs, **kwargs)
    return self.model(**self.inputs, **kwargs)

  def step(self):
    torch = self.torch
    if self.mode == "train":
      loss = self._forward(labels=self.labels).loss
      loss.backward()
      torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
      self.optimizer.step()
      self.optimizer.zero_grad(set_to_none=True)
      if not torch.isfinite(loss):
        raise FloatingPointError("HF training loss is %s" % loss.item())
    else:
      with torch.inference_mode():
        self._forward().logits.sum().item()

  def op_profile(self):
    """Op time by aten op of one profiled step (see `profile_torch_ops`)."""
    from torch import profiler  # pylint: disable=g-import-not-at-top
    with profiler.profile(activities=[profiler.ProfilerActivity.CPU]) as prof:
      self.step()
    return profile_torch_ops(
        (e.key, e.self_cpu_time_total, e.count) for e in prof.key_averages())

  def close(self):
    self.model = None
    self.optimizer = None


# aten kernels whose time is a matrix product: the dense layers (addmm, mm,
# _addmm_activation), the attention's batched products (bmm, baddbmm) and
# torch's fused attention kernels (_scaled_dot_product_*: both attention
# products and the softmax between them in one kernel). The ops that only
# dispatch to them (linear, matmul, scaled_dot_product_attention) are not:
# their self time is the dispatch's.
_TORCH_MATMUL_OPS = ("mm", "bmm", "addmm", "baddbmm", "_addmm_activation")


def _is_torch_matmul(op):
  name = op.split("::", 1)[-1]
  return (name in _TORCH_MATMUL_OPS or
          name.startswith("_scaled_dot_product"))


def profile_torch_ops(events):
  """Where one profiled torch step's op time went, as `graphs.profile_ops`.

  Args:
    events: (op name, self CPU time in microseconds, calls) per op, e.g.
      from `torch.profiler`'s `key_averages()`. Self time excludes the ops
      an op called, so the times add up without double counting.

  Returns:
    dict: "total_ms", "matmul_share" (0..1: matrix products and torch's
    fused attention kernels, which hold the attention's two products and
    its softmax) and "by_op" {op: {"ms", "count"}}, largest first.
  """
  by_op = {}
  for name, self_us, count in events:
    entry = by_op.setdefault(name, {"ms": 0.0, "count": 0})
    entry["ms"] += self_us / 1e3
    entry["count"] += int(count)
  return graphs.summarize_op_times(
      {op: e for op, e in by_op.items() if e["ms"] > 0}, _is_torch_matmul)

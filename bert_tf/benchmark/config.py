"""What a benchmark run measures (`BenchmarkConfig`) and the model shapes."""

import dataclasses
import glob
import os
from typing import Optional, Tuple

import bert_tf

PRECISIONS = ("fp32", "bf16", "fp16")
MODES = ("train", "predict")


@dataclasses.dataclass
class BenchmarkConfig:
  """What `run` measures.

  Attributes:
    config: a shape name of `bert_tf.CONFIG_DIR` ("tiny", "mini", "small",
      "medium", "base", "large", "minilm") or a path to a bert_config.json.
    seq_length: tokens per example.
    batch_size: training batch size (per rank).
    predict_batch_size: prediction batch size.
    precision: "fp32", "bf16" or "fp16".
    xla: XLA JIT compilation of the bert_tf graph.
    num_ranks: Horovod processes for bert_tf training (1: none).
    modes: subset of ("train", "predict").
    hf: also measure Hugging Face transformers + PyTorch.
    unfused: also measure bert_tf built in the reference's op sequence
      (`modeling.fusible_ops(False)`: no dense+GELU fusion, the reference's
      layer norm; every position of the last layer, where bert_tf's graph
      computes [CLS] only; `create_optimizer(fused=False)`: the optimizer
      update as separate element-wise ops), timed in alternation with the
      default graph, so that the gain is measured in the same run.
    warmup_steps: untimed steps per framework and mode.
    steps: timed steps per framework, mode and round.
    rounds: alternations bert_tf / HF per mode.
    max_block_seconds: a timed block stops early (after at least 2 steps)
      once it has run this long.
    threads: CPU threads for TF (intra-op) and torch; 0 = all cores.
    matmul_size: side of the square matmuls of the matmul-rate measurement.
    num_labels: classifier labels.
    seed: random seed of the weights and inputs.
    op_profile: also trace one step of each bert_tf graph and record the
      time of its ops by op type (`graphs.profile_ops`): where a graph's
      time goes beyond its matmuls; with `hf`, HF's step too, by aten op
      (`torch.profiler`, `hf.profile_torch_ops`).
    json_path: where to write the results (None: nowhere).
  """
  config: str = "base"
  seq_length: int = 128
  batch_size: int = 16
  predict_batch_size: int = 32
  precision: str = "fp32"
  xla: bool = False
  num_ranks: int = 1
  modes: Tuple[str, ...] = MODES
  hf: bool = True
  unfused: bool = True
  warmup_steps: int = 2
  steps: int = 5
  rounds: int = 2
  max_block_seconds: float = 120.0
  threads: int = 0
  matmul_size: int = 2048
  num_labels: int = 2
  seed: int = 12345
  op_profile: bool = False
  json_path: Optional[str] = None


def check(cfg):
  """Raises ValueError for a precision or mode `run` does not know."""
  if cfg.precision not in PRECISIONS:
    raise ValueError("precision must be one of %s, got %r" %
                     (", ".join(PRECISIONS), cfg.precision))
  for mode in cfg.modes:
    if mode not in MODES:
      raise ValueError("modes must be among %s, got %r" % (MODES, mode))


def resolve_config(name, config_dir=None):
  """Returns (path, short name) of a shape name or a bert_config.json path.

  Args:
    name: a path to a bert_config.json, or a shape name matched against
      the file names `*<name>_*.json` of `config_dir`.
    config_dir: where the shapes are (default: `bert_tf.CONFIG_DIR`, the
      package's configs/).
  """
  if os.path.isfile(name):
    return name, os.path.splitext(os.path.basename(name))[0]
  config_dir = config_dir or bert_tf.CONFIG_DIR
  matches = sorted(glob.glob(os.path.join(config_dir, "*%s_*.json" %
                                          name.lower())))
  if not matches:
    known = sorted(os.path.basename(p) for p in
                   glob.glob(os.path.join(config_dir, "*.json")))
    raise ValueError("Unknown config %r: give a path to a bert_config.json "
                     "or one of %s" % (name, ", ".join(known)))
  return matches[0], name.lower()


def default_json_path(config, seq_length, precision, xla):
  """benchmark-<config>-seq<S>-<precision>[-xla].json (current directory)."""
  return "benchmark-%s-seq%d-%s%s.json" % (
      os.path.splitext(os.path.basename(config))[0], seq_length, precision,
      "-xla" if xla else "")

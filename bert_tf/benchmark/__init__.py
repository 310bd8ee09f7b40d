"""Training and prediction throughput of BertModel, against Hugging Face.

  python -m bert_tf.benchmark --config=base --seq_length=128 --batch_size=16 \\
      --predict_batch_size=32 --precision=fp32 --xla=off --json=out.json

For a named shape (`bert_tf.CONFIG_DIR/bert_<name>_*.json`: tiny, mini,
small, medium, base, large, minilm; or a path to any bert_config.json) this
measures, in one process and one run:

* bert_tf: `modeling.BertModel` + the classification loss + AdamW with the
  reference's schedule and clipping in a plain `tf.Session` graph, random
  weights and synthetic inputs held in variables (`graphs.TFRunner`).
  Training runs the train op; prediction runs the probabilities.
* bert_tf with the reference's op sequence (`--unfused=on`, the default):
  the same model built under `modeling.fusible_ops(False)`, i.e. without
  the op patterns oneDNN's graph rewriter fuses (dense + GELU into one
  `_MklNativeFusedMatMul`, layer norm into `_MklLayerNorm` in prediction,
  the attention mask every layer fuses) and computing every position of the
  last layer (bert_tf's graph computes [CLS] only there, as its classifier
  does), timed in alternation with the default graph; `fusion_speedup` is their ratio and `fused_ops` lists the
  fused ops each graph really ran. `--op_profile=on` also traces one step
  of each (and of HF, by aten op) and reports its op time by op type and
  the share in matmuls.
* Hugging Face transformers + PyTorch on the CPU (`hf.HFRunner`):
  `BertForSequenceClassification` of the same shape and activation,
  `torch.optim.AdamW` with the same clipping, `torch.set_num_threads`.
* The machine's dense matmul rate (`flops.measure_matmul_rate`) in float32
  and in bfloat16, against which model FLOP utilisation (MFU) is computed
  from the model's matmul FLOPs (the formula is in `flops`' docstring).

Each mode (train, predict) warms all frameworks up, then alternates timed
blocks of steps between them for `rounds` rounds, so that load from other
processes hits all alike; rates use the median step time (`timing`). The
load average is recorded before and after.

Precision: "fp32"; "bf16" turns on TensorFlow's oneDNN automatic bfloat16
rewrite (float32 variables; it pays only on CPUs with native bfloat16,
AVX512-BF16 or AMX, and the JSON counts the bfloat16 ops that were really
in the executed graph); "fp16" turns on the float16 automatic mixed
precision rewrite (NVIDIA GPUs only; on a CPU the graph stays float32) with
dynamic loss scaling in training. `--xla=on` JIT-compiles the graph.
`--num_ranks=N > 1` re-runs this command under `horovodrun -np N`: every
rank trains bert_tf on its own batch with gradients averaged by Horovod
(`bert_tf.distributed`), with cores / N threads each; throughput counts all
ranks; HF and the matmul rate run on rank 0 alone while the others wait.

Writes a JSON file (see `run`) and prints a table. The library never reads
the global absl FLAGS: `main` parses its own flags (`cli`).

The package, one module per concern: `config` (`BenchmarkConfig`, the
shapes), `inputs` (the synthetic batch), `graphs` (the bert_tf graphs and
the op counts of what ran), `hf` (the Hugging Face side), `flops` (model
FLOPs, matmul rate), `timing` (warm-up, alternated timed blocks, rates),
`report` (results, notes, table, JSON), `runner` (`run`; the cores and CPU
from `bert_tf.host`) and `cli`.
"""

# pylint: disable=g-importing-member,unused-import
from bert_tf.benchmark.cli import main
from bert_tf.benchmark.cli import parse_args
from bert_tf.benchmark.config import BenchmarkConfig
from bert_tf.benchmark.config import MODES
from bert_tf.benchmark.config import PRECISIONS
from bert_tf.benchmark.config import resolve_config
from bert_tf.benchmark.flops import measure_matmul_rate
from bert_tf.benchmark.flops import model_flops_per_example
from bert_tf.benchmark.graphs import count_fused_ops
from bert_tf.benchmark.graphs import count_low_precision_ops
from bert_tf.benchmark.report import format_table
from bert_tf.benchmark.runner import run

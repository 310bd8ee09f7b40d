"""The demo's settings (`DemoConfig`) and where the pretrained MiniLM is.

The MiniLM of `--from_minilm` lives in the shared data directory, under
models/minilm-l6-h384-uncased. That directory is $BERT_TF_SHARED, or, when
the package runs from a repository checkout, the `shared` directory beside
the checkout; an installed package without BERT_TF_SHARED needs
--minilm_dir. The current directory plays no part.
"""

import dataclasses
import os
from typing import Optional

SHARED_ENV = "BERT_TF_SHARED"
MINILM_SUBDIR = os.path.join("models", "minilm-l6-h384-uncased")


def shared_dir():
  """The shared data directory, or None when there is none to assume.

  $BERT_TF_SHARED if set; else `shared` beside the repository checkout that
  holds this package (a checkout: setup.py beside the bert_tf package).
  """
  from_env = os.environ.get(SHARED_ENV)
  if from_env:
    return from_env
  package_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  checkout = os.path.dirname(package_dir)
  if os.path.isfile(os.path.join(checkout, "setup.py")):
    return os.path.join(os.path.dirname(checkout), "shared")
  return None


def default_minilm_dir():
  """The MiniLM directory in the shared data directory (None: none known)."""
  shared = shared_dir()
  return os.path.join(shared, MINILM_SUBDIR) if shared else None


@dataclasses.dataclass
class DemoConfig:
  """Settings of the demo (the CLI flags, by the same names).

  The defaults are the full demo (about 5 minutes on 2 CPU cores); `quick`
  shrinks every stage to a few steps (for tests).
  """
  output_dir: str = "demo_output"
  quick: bool = False
  from_minilm: bool = False
  minilm_dir: Optional[str] = None  # None: `default_minilm_dir()`
  dev_fraction: float = 0.2
  vocab_size: int = 3000
  max_seq_length: int = 64
  max_predictions_per_seq: int = 10
  dupe_factor: int = 5
  pretrain_steps: int = 1500
  pretrain_batch_size: int = 16
  pretrain_learning_rate: float = 5e-4
  finetune_epochs: float = 4.0
  finetune_batch_size: int = 32
  finetune_learning_rate: Optional[float] = None  # 5e-4, MiniLM: 1e-4
  num_classes: int = 8
  compare_with_scratch: bool = False
  num_predictions: int = 8
  pretrain_log_every_n_steps: int = 100
  log_every_n_steps: int = 20
  seed: int = 12345

  def resolved(self):
    """The config with --quick applied and defaults filled in.

    Raises:
      ValueError: `from_minilm` without a MiniLM directory to assume.
    """
    cfg = dataclasses.replace(self)
    if cfg.minilm_dir is None:
      cfg.minilm_dir = default_minilm_dir()
    if cfg.from_minilm and not cfg.minilm_dir:
      raise ValueError(
          "--from_minilm needs the Hugging Face MiniLM directory: pass "
          "--minilm_dir=DIR, or set %s to the shared data directory that "
          "holds %s" % (SHARED_ENV, MINILM_SUBDIR))
    if cfg.finetune_learning_rate is None:
      cfg.finetune_learning_rate = 1e-4 if cfg.from_minilm else 5e-4
    if cfg.quick:
      cfg.vocab_size = min(cfg.vocab_size, 800)
      cfg.dupe_factor = 1
      cfg.pretrain_steps = min(cfg.pretrain_steps, 4)
      cfg.pretrain_batch_size = min(cfg.pretrain_batch_size, 8)
      cfg.finetune_epochs = min(cfg.finetune_epochs, 1.0)
      cfg.finetune_batch_size = min(cfg.finetune_batch_size, 8)
      cfg.num_predictions = min(cfg.num_predictions, 4)
      cfg.pretrain_log_every_n_steps = 2
      cfg.log_every_n_steps = 2
    return cfg

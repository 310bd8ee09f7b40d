"""The demo's command line (`python -m bert_tf.demo`, `make demo`)."""

from bert_tf.demo import config
from bert_tf.demo import pipeline


def define_flags():
  """Defines the CLI flags (only when run as a script)."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  defaults = config.DemoConfig()
  flags.DEFINE_string("output_dir", defaults.output_dir,
                      "Where everything is written.")
  flags.DEFINE_bool("quick", False,
                    "A few steps per stage (for tests): checks the plumbing, "
                    "learns nothing.")
  flags.DEFINE_bool("from_minilm", False,
                    "Fine-tune the converted MiniLM checkpoint of "
                    "--minilm_dir instead of pretraining a small BERT.")
  flags.DEFINE_string("minilm_dir", None,
                      "Hugging Face MiniLM directory for --from_minilm "
                      "(default: $%s/%s, or, in a repository checkout, "
                      "../shared/%s beside it)." % (
                          config.SHARED_ENV, config.MINILM_SUBDIR,
                          config.MINILM_SUBDIR))
  flags.DEFINE_integer("pretrain_steps", defaults.pretrain_steps,
                       "Pretraining steps.")
  flags.DEFINE_float("finetune_epochs", defaults.finetune_epochs,
                     "Fine-tuning epochs over the training sentences.")
  flags.DEFINE_float("finetune_learning_rate", None,
                     "Fine-tuning learning rate (default 5e-4, MiniLM 1e-4).")
  flags.DEFINE_bool("compare_with_scratch", False,
                    "Also fine-tune from random weights (about a minute "
                    "more) to show what the pretraining adds.")
  flags.DEFINE_integer("vocab_size", defaults.vocab_size, "Vocabulary size.")
  flags.DEFINE_integer("seed", defaults.seed, "Random seed.")


def main(_):
  from absl import flags  # pylint: disable=g-import-not-at-top
  options = flags.FLAGS
  cfg = config.DemoConfig(
      output_dir=options.output_dir, quick=options.quick,
      from_minilm=options.from_minilm, minilm_dir=options.minilm_dir,
      pretrain_steps=options.pretrain_steps,
      finetune_epochs=options.finetune_epochs,
      finetune_learning_rate=options.finetune_learning_rate,
      compare_with_scratch=options.compare_with_scratch,
      vocab_size=options.vocab_size, seed=options.seed)
  pipeline.run(cfg)
  return 0

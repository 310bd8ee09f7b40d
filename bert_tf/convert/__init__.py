"""Hugging Face <-> Google BERT checkpoint conversion (library and CLI).

Two directions, both exact (float32 stays float32, bit for bit):

  * `hf_to_google(hf_dir, output_dir)`: a Hugging Face BERT directory
    (`config.json` + `model.safetensors` or `pytorch_model.bin`, `vocab.txt`)
    becomes a Google directory: `bert_config.json`, a TF1 checkpoint
    `bert_model.ckpt.{index,data-*}` with the reference's variable names, a
    `checkpoint` state file (so `tf.train.latest_checkpoint` works) and the
    vocabulary / tokenizer files.
  * `google_to_hf(checkpoint, output_dir, ...)`: the reverse, producing
    `config.json` + `model.safetensors` (+ `vocab.txt`).

Every tensor's shape is checked against the configuration before anything is
written; tensors a configuration requires but the source lacks are errors
naming them; tensors nobody maps are reported by name and skipped. Output is
staged in a temporary sibling directory and renamed into place only when
complete, so a failed conversion leaves nothing under `output_dir`.

Activation names differ: Hugging Face's "gelu" is the exact erf GELU, which
bert_tf calls "gelu_exact"; Google's "gelu" is the tanh approximation, which
Hugging Face calls "gelu_new" (also "gelu_pytorch_tanh", "gelu_fast").

Command line:

  python -m bert_tf.convert hf2google --hf_dir D --output_dir O
  python -m bert_tf.convert google2hf --checkpoint C --bert_config_file F \
      --output_dir O [--vocab_file V]

The command's flags are absl flags of their own (`cli`); the library never
reads the global absl FLAGS.

The package, one module per concern: `names` (the Hugging Face <-> Google
variable-name mapping and the tensor checks), `configs` (config.json <->
bert_config.json), `io` (reading weights, writing checkpoints, atomic output
directories), `hf2google` and `google2hf` (the two directions), `reporting`
(`ConversionReport`, `ConversionError`) and `cli`. Every public name is
re-exported here: `from bert_tf import convert; convert.hf_to_google(...)`.
"""

# pylint: disable=g-importing-member,unused-import
from bert_tf.convert.cli import main
from bert_tf.convert.configs import BERT_CONFIG_FIELDS
from bert_tf.convert.configs import bert_config_to_hf_config
from bert_tf.convert.configs import GOOGLE_LAYER_NORM_EPS
from bert_tf.convert.configs import GOOGLE_POSITION_EMBEDDING_TYPE
from bert_tf.convert.configs import GOOGLE_TO_HF_ACTIVATION
from bert_tf.convert.configs import HF_BERT_DEFAULTS
from bert_tf.convert.configs import hf_config_to_bert_config
from bert_tf.convert.configs import HF_TO_GOOGLE_ACTIVATION
from bert_tf.convert.google2hf import google_to_hf
from bert_tf.convert.google2hf import resolve_checkpoint
from bert_tf.convert.hf2google import hf_to_google
from bert_tf.convert.io import BERT_CONFIG_NAME
from bert_tf.convert.io import CHECKPOINT_PREFIX
from bert_tf.convert.io import HF_CONFIG_NAME
from bert_tf.convert.io import HF_PYTORCH_INDEX_NAME
from bert_tf.convert.io import HF_PYTORCH_NAME
from bert_tf.convert.io import HF_SAFETENSORS_INDEX_NAME
from bert_tf.convert.io import HF_SAFETENSORS_NAME
from bert_tf.convert.io import LICENSE_PATTERNS
from bert_tf.convert.io import load_hf_weights
from bert_tf.convert.io import TOKENIZER_FILES
from bert_tf.convert.io import VOCAB_NAME
from bert_tf.convert.io import write_tf_checkpoint
from bert_tf.convert.names import HEAD_GROUPS
from bert_tf.convert.names import HF_BODY_PREFIX
from bert_tf.convert.names import HF_IGNORED_BUFFERS
from bert_tf.convert.names import HF_MLM_BIAS
from bert_tf.convert.names import HF_TIED_DECODER_BIAS
from bert_tf.convert.names import HF_TIED_DECODER_WEIGHT
from bert_tf.convert.names import HF_WORD_EMBEDDINGS
from bert_tf.convert.names import REQUIRED_GROUPS
from bert_tf.convert.names import tensor_specs
from bert_tf.convert.names import TensorSpec
from bert_tf.convert.reporting import ConversionError
from bert_tf.convert.reporting import ConversionReport

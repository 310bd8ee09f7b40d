"""Files of a conversion: reading Hugging Face weights (safetensors, or
torch pickles weights-only), JSON, the TF1 checkpoint writer, and atomic
output directories (staged in a temporary sibling, renamed into place)."""

import collections
import glob
import json
import os
import shutil
import uuid

import tensorflow.compat.v1 as tf

from bert_tf.convert import reporting

BERT_CONFIG_NAME = "bert_config.json"
CHECKPOINT_PREFIX = "bert_model.ckpt"
HF_CONFIG_NAME = "config.json"
HF_SAFETENSORS_NAME = "model.safetensors"
HF_SAFETENSORS_INDEX_NAME = "model.safetensors.index.json"
HF_PYTORCH_NAME = "pytorch_model.bin"
HF_PYTORCH_INDEX_NAME = "pytorch_model.bin.index.json"
VOCAB_NAME = "vocab.txt"

# Files copied beside the weights in either direction when present.
TOKENIZER_FILES = ("vocab.txt", "tokenizer_config.json",
                   "special_tokens_map.json", "tokenizer.json",
                   "added_tokens.json", "spiece.model")
LICENSE_PATTERNS = ("LICENSE*", "NOTICE*")


def read_json(path):
  if not os.path.isfile(path):
    raise reporting.ConversionError("no such file: %s" % path)
  with open(path, "r", encoding="utf-8") as reader:
    try:
      value = json.load(reader)
    except ValueError as e:
      raise reporting.ConversionError(
          "%s is not valid JSON: %s" % (path, e)) from e
  if not isinstance(value, dict):
    raise reporting.ConversionError("%s: expected a JSON object, got %s" %
                                    (path, type(value).__name__))
  return value


def load_hf_weights(hf_dir):
  """Reads a Hugging Face state dict as numpy arrays.

  Prefers `model.safetensors` (read with `safetensors.numpy`, no torch), then
  a sharded `model.safetensors.index.json`, then `pytorch_model.bin` (or its
  index). A `.bin` file is a pickle: it is loaded only with
  `torch.load(..., map_location="cpu", weights_only=True)`, which refuses to
  build arbitrary Python objects.

  Args:
    hf_dir: str, a Hugging Face model directory.

  Returns:
    (state, source): state is a dict key -> np.ndarray (dtypes as stored);
    source is a str naming the file(s) read.

  Raises:
    ConversionError: when no weights file is found or one cannot be read.
  """
  path = os.path.join(hf_dir, HF_SAFETENSORS_NAME)
  if os.path.isfile(path):
    return _load_safetensors(path), path
  path = os.path.join(hf_dir, HF_SAFETENSORS_INDEX_NAME)
  if os.path.isfile(path):
    state = {}
    for shard in _index_shards(path):
      _merge_shard(state, _load_safetensors(shard), shard)
    return state, path
  pickle_note = " (a pickle, loaded with torch.load(weights_only=True))"
  path = os.path.join(hf_dir, HF_PYTORCH_NAME)
  if os.path.isfile(path):
    return _load_pytorch(path), path + pickle_note
  path = os.path.join(hf_dir, HF_PYTORCH_INDEX_NAME)
  if os.path.isfile(path):
    state = {}
    for shard in _index_shards(path):
      _merge_shard(state, _load_pytorch(shard), shard)
    return state, path + pickle_note
  raise reporting.ConversionError(
      "%s has no weights: expected %s, %s, %s or %s" %
      (hf_dir, HF_SAFETENSORS_NAME, HF_SAFETENSORS_INDEX_NAME, HF_PYTORCH_NAME,
       HF_PYTORCH_INDEX_NAME))


def _index_shards(index_path):
  weight_map = read_json(index_path).get("weight_map")
  if not isinstance(weight_map, dict) or not weight_map:
    raise reporting.ConversionError(
        "%s: expected a non-empty 'weight_map' object" %
        index_path)
  directory = os.path.dirname(index_path)
  return [os.path.join(directory, name)
          for name in sorted(set(weight_map.values()))]


def _merge_shard(state, shard_state, shard_path):
  for key, value in shard_state.items():
    if key in state:
      raise reporting.ConversionError(
          "%s: tensor %r also appears in another shard" %
          (shard_path, key))
    state[key] = value


def _load_safetensors(path):
  import safetensors.numpy  # pylint: disable=g-import-not-at-top
  try:
    return dict(safetensors.numpy.load_file(path))
  except Exception as e:  # pylint: disable=broad-except
    raise reporting.ConversionError(
        "cannot read %s with safetensors.numpy (%s: %s); bfloat16 tensors "
        "are not supported, cast the model to float32 first" %
        (path, type(e).__name__, e)) from e


def _load_pytorch(path):
  """Loads a torch state dict in weights-only mode; returns numpy arrays."""
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise reporting.ConversionError("%s needs torch to read; or provide %s" %
                                    (path, HF_SAFETENSORS_NAME)) from e
  tf.logging.info("Loading %s: a pickle, read with torch.load(weights_only="
                  "True), which refuses arbitrary Python objects", path)
  try:
    loaded = torch.load(path, map_location="cpu", weights_only=True)
  except Exception as e:  # pylint: disable=broad-except
    raise reporting.ConversionError(
        "refusing %s: torch.load(weights_only=True) failed (%s: %s); it is "
        "a pickle holding more than tensors, which this tool never unpickles"
        % (path, type(e).__name__, e)) from e
  if not isinstance(loaded, dict):
    raise reporting.ConversionError(
        "%s: expected a state dict (name -> tensor), got %s"
        % (path, type(loaded).__name__))
  state = {}
  for key, value in loaded.items():
    if not isinstance(key, str) or not isinstance(value, torch.Tensor):
      raise reporting.ConversionError(
          "%s: expected a flat state dict of tensors, got %r -> %s" %
          (path, key, type(value).__name__))
    if value.dtype == torch.bfloat16:
      raise reporting.ConversionError(
          "%s: tensor %r is bfloat16, which this converter does not handle; "
          "cast the model to float32 first" % (path, key))
    state[key] = value.detach().cpu().numpy()
  return state


def check_output_dir(output_dir, overwrite):
  if os.path.lexists(output_dir):
    if not os.path.isdir(output_dir):
      raise reporting.ConversionError(
          "output_dir %s exists and is not a directory" %
          output_dir)
    if os.listdir(output_dir) and not overwrite:
      raise reporting.ConversionError(
          "output_dir %s exists and is not empty; pass overwrite=True "
          "(--overwrite) to replace it" % output_dir)


class StagedDirectory(object):
  """A temporary sibling of `output_dir`, renamed onto it on success."""

  def __init__(self, output_dir, overwrite):
    self._final = os.path.abspath(output_dir)
    self._overwrite = overwrite
    self.path = None

  def __enter__(self):
    parent, base = os.path.split(self._final)
    os.makedirs(parent, exist_ok=True)
    self.path = os.path.join(parent,
                             ".%s.tmp-%s" % (base, uuid.uuid4().hex[:8]))
    os.mkdir(self.path)
    return self.path

  def __exit__(self, exc_type, exc_value, traceback):
    if exc_type is not None:
      shutil.rmtree(self.path, ignore_errors=True)
      return False
    try:
      self._commit()
    except BaseException:
      shutil.rmtree(self.path, ignore_errors=True)
      raise
    return False

  def _commit(self):
    backup = None
    if os.path.lexists(self._final):
      check_output_dir(self._final, self._overwrite)
      if os.listdir(self._final):
        backup = self.path + ".old"
        os.rename(self._final, backup)
      else:
        os.rmdir(self._final)
    os.rename(self.path, self._final)
    if backup is not None:
      shutil.rmtree(backup, ignore_errors=True)


def write_json(path, value):
  with open(path, "w", encoding="utf-8") as writer:
    json.dump(value, writer, indent=2)
    writer.write("\n")


def copy_side_files(source_dir, target_dir, report, vocab_file=None,
                    exclude=()):
  """Copies vocab/tokenizer/licence files from source_dir into target_dir."""
  names = []
  if vocab_file is not None:
    if not os.path.isfile(vocab_file):
      raise reporting.ConversionError(
          "vocab_file %s does not exist" % vocab_file)
    shutil.copyfile(vocab_file, os.path.join(target_dir, VOCAB_NAME))
    names.append(VOCAB_NAME)
  candidates = [os.path.join(source_dir, n) for n in TOKENIZER_FILES]
  for pattern in LICENSE_PATTERNS:
    candidates.extend(sorted(glob.glob(os.path.join(source_dir, pattern))))
  for path in candidates:
    name = os.path.basename(path)
    if name in names or name in exclude or not os.path.isfile(path):
      continue
    shutil.copyfile(path, os.path.join(target_dir, name))
    names.append(name)
  if VOCAB_NAME not in names:
    report.warn("no %s found beside the source; copy the vocabulary into %s "
                "yourself" % (VOCAB_NAME, report.output_dir))
  report.copied_files = names


def check_vocab_size(vocab_path, vocab_size, report):
  if not os.path.isfile(vocab_path):
    return
  with open(vocab_path, "r", encoding="utf-8") as reader:
    lines = sum(1 for line in reader if line.strip())
  if lines > vocab_size:
    report.warn("%s has %d tokens but vocab_size is %d: ids past %d have no "
                "embedding" % (vocab_path, lines, vocab_size, vocab_size - 1))


def write_tf_checkpoint(tensors, checkpoint_prefix):
  """Writes numpy arrays as a TF1 checkpoint with exactly the given names.

  The values enter the graph through placeholders (no constants embedded),
  initialise `tf.get_variable`s one by one and are saved by `tf.train.Saver`
  with relative paths, so the directory can be moved afterwards.

  Args:
    tensors: ordered mapping variable name -> np.ndarray (its dtype is kept).
    checkpoint_prefix: str, e.g. ".../bert_model.ckpt".

  Returns:
    The saved checkpoint path (the prefix).
  """
  graph = tf.Graph()
  with graph.as_default():
    variables = collections.OrderedDict()
    placeholders = {}
    for index, (name, value) in enumerate(tensors.items()):
      placeholder = tf.placeholder(tf.as_dtype(value.dtype), shape=value.shape,
                                   name="convert_feed_%d" % index)
      variable = tf.get_variable(name, initializer=placeholder)
      variables[name] = variable
      placeholders[name] = placeholder
    saver = tf.train.Saver(var_list=variables, save_relative_paths=True,
                           max_to_keep=None)
    config = tf.ConfigProto(device_count={"GPU": 0})
    with tf.Session(graph=graph, config=config) as sess:
      for name, variable in variables.items():
        sess.run(variable.initializer,
                 feed_dict={placeholders[name]: tensors[name]})
      return saver.save(sess, checkpoint_prefix, write_meta_graph=False)

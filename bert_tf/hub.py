"""TF-Hub: export the encoder as a TF1 Hub module or a TF2 SavedModel; use one.

TF1 Hub module (`export_tf1_hub_module`), in the format of Google's BERT
modules on tfhub.dev:

  * graph variants: tags set() (is_training=False) and {"train"}
    (is_training=True, dropout on); the variables are trainable;
  * signature "tokens" (the default for `module(inputs, signature="tokens",
    as_dict=True)`): inputs int32 `input_ids`, `input_mask`, `segment_ids`
    [batch, seq] (seq up to max_position_embeddings); outputs float32
    `pooled_output` [batch, H] and `sequence_output` [batch, seq, H];
  * signature "tokenization_info": outputs `vocab_file` (string scalar, the
    vocabulary as a module asset) and `do_lower_case` (bool scalar).

  module = hub.Module(path, tags={"train"}, trainable=True)
  out = module(dict(input_ids=ids, input_mask=mask, segment_ids=seg),
               signature="tokens", as_dict=True)

TF2 SavedModel (`export_tf2_saved_model`), for `hub.load` / `hub.KerasLayer`:

  layer = hub.KerasLayer(path, trainable=True)
  out = layer({"input_ids": ids, "input_mask": mask, "segment_ids": seg})
  out["pooled_output"]    # float32 [batch, H]
  out["sequence_output"]  # float32 [batch, seq, H]
  pooled, sequence = layer([ids, mask, seg])   # list in -> list out

All inputs are int32 [batch, seq], any batch and seq up to
max_position_embeddings.
Dict keys `input_word_ids`/`input_type_ids` (Google's TF2 names) work too.
The call has no `training` argument: the graph is the inference graph (no
dropout), also when fine-tuned through KerasLayer(trainable=True). The object
also carries `vocab_file` (an Asset), `do_lower_case` (a bool Variable) and a
`serving_default` signature (dict in, dict out).

Fine-tuning through a TF1 module: `hub_model_builder(handle)` plugs a module
into `model_fn.model_fn_builder`, `create_tokenizer_from_hub_module` reads the
tokenizer from `tokenization_info`, and `run_classifier(cfg, handle)` is what
`run_classifier_with_tfhub.py` calls.

TF2 APIs (tf.saved_model.save, tf.function) are used only in this module.
This module never reads absl FLAGS.
"""

import os
import re
import sys
import types
import uuid

import numpy as np
import tensorflow.compat.v1 as tf

from bert_tf import export as export_lib
from bert_tf import modeling
from bert_tf import tokenization

_INPUT_NAMES = ("input_ids", "input_mask", "segment_ids")
# Google's TF2 BERT SavedModels name the inputs like this.
_TF2_ALIAS_NAMES = ("input_word_ids", "input_mask", "input_type_ids")


def import_tensorflow_hub():
  """Imports and returns `tensorflow_hub`.

  tensorflow_hub 0.15 imports `pkg_resources` only to compare TF versions;
  setuptools >= 81 no longer ships it. A stand-in with `parse_version` (from
  `packaging`) is installed for that import only and removed afterwards.
  """
  if "tensorflow_hub" in sys.modules:
    return sys.modules["tensorflow_hub"]
  try:
    import tensorflow_hub  # pylint: disable=g-import-not-at-top
    return tensorflow_hub
  except ModuleNotFoundError as e:
    if e.name != "pkg_resources":
      raise
  from packaging import version  # pylint: disable=g-import-not-at-top
  shim = types.ModuleType("pkg_resources")
  shim.parse_version = version.parse
  sys.modules["pkg_resources"] = shim
  try:
    for name in [m for m in sys.modules if m.startswith("tensorflow_hub")]:
      del sys.modules[name]  # a half-imported package from the first try
    import tensorflow_hub  # pylint: disable=g-import-not-at-top
  finally:
    if sys.modules.get("pkg_resources") is shim:
      del sys.modules["pkg_resources"]
  return tensorflow_hub


def _as_bert_config(bert_config):
  if isinstance(bert_config, modeling.BertConfig):
    return bert_config
  return modeling.BertConfig.from_json_file(bert_config)


def _temporary_dir(path):
  parent, base = os.path.split(os.path.abspath(path))
  tf.io.gfile.makedirs(parent)
  return os.path.join(parent, ".%s.tmp-%s" % (base, uuid.uuid4().hex[:8]))


def _check_output_path(path, overwrite):
  if tf.io.gfile.exists(path):
    if not overwrite:
      raise FileExistsError("%s already exists (pass overwrite=True, or "
                            "--overwrite, to replace it)" % path)


def _finish_dir(tmp, path):
  """Renames the completed `tmp` directory to `path` (replacing it)."""
  if tf.io.gfile.exists(path):
    tf.io.gfile.rmtree(path)
  tf.io.gfile.rename(tmp, path)


def _check_checkpoint_covers(variables_by_name, checkpoint, what):
  """Raises ValueError naming missing/misshapen tensors of `checkpoint`."""
  ckpt = dict(tf.train.list_variables(checkpoint))
  problems = []
  for name, var in sorted(variables_by_name.items()):
    want = var.shape.as_list()
    if name not in ckpt:
      problems.append("%s %s: missing" % (name, want))
    elif list(ckpt[name]) != want:
      problems.append("%s: checkpoint has shape %s, %s expects %s" %
                      (name, list(ckpt[name]), what, want))
  if problems:
    raise ValueError(
        "The checkpoint %s does not fit the %s built from the BERT config "
        "(is the bert_config.json the checkpoint's own?):\n  %s" %
        (checkpoint, what, "\n  ".join(problems[:20])))


# ---------------------------------------------------------------------------
# TF1 Hub module.


def create_module_fn(bert_config, vocab_file, do_lower_case,
                     use_one_hot_embeddings=False):
  """Returns module_fn(is_training) for `hub.create_module_spec`.

  Args:
    bert_config: `BertConfig`.
    vocab_file: the vocabulary, stored as a module asset.
    do_lower_case: bool, returned by the tokenization_info signature.
    use_one_hot_embeddings: one-hot embedding lookup (TPU).
  """
  hub = import_tensorflow_hub()

  def module_fn(is_training):
    inputs = {name: tf.placeholder(tf.int32, [None, None], name=name)
              for name in _INPUT_NAMES}
    model = modeling.BertModel(
        config=bert_config, is_training=is_training,
        input_ids=inputs["input_ids"], input_mask=inputs["input_mask"],
        token_type_ids=inputs["segment_ids"],
        use_one_hot_embeddings=use_one_hot_embeddings)
    hub.add_signature(
        "tokens", inputs=inputs,
        outputs={"pooled_output": model.get_pooled_output(),
                 "sequence_output": model.get_sequence_output()})
    vocab = tf.constant(vocab_file, name="vocab_file")
    tf.add_to_collection(tf.GraphKeys.ASSET_FILEPATHS, vocab)
    hub.add_signature(
        "tokenization_info", inputs={},
        outputs={"vocab_file": vocab,
                 "do_lower_case": tf.constant(bool(do_lower_case),
                                              name="do_lower_case")})

  return module_fn


def export_tf1_hub_module(bert_config, init_checkpoint, vocab_file,
                          do_lower_case, export_path, overwrite=False,
                          use_one_hot_embeddings=False):
  """Exports the encoder of a Google-format checkpoint as a TF1 Hub module.

  Args:
    bert_config: `BertConfig` or the path of its bert_config.json.
    init_checkpoint: checkpoint prefix or directory with the `bert/...`
      variables (other variables, e.g. heads or optimizer slots, are ignored).
    vocab_file: the model's vocabulary (becomes the module's asset).
    do_lower_case: bool, the tokenizer's casing.
    export_path: the module directory to create.
    overwrite: replace an existing `export_path`.
    use_one_hot_embeddings: one-hot embedding lookup (TPU).

  Returns:
    str, `export_path` (written under a temporary name, renamed at the end).
  """
  hub = import_tensorflow_hub()
  bert_config = _as_bert_config(bert_config)
  init_checkpoint = export_lib.resolve_checkpoint(init_checkpoint)
  if not tf.io.gfile.exists(vocab_file):
    raise FileNotFoundError("Vocabulary file not found: %s" % vocab_file)
  _check_output_path(export_path, overwrite)
  spec = hub.create_module_spec(
      create_module_fn(bert_config, vocab_file, do_lower_case,
                       use_one_hot_embeddings),
      tags_and_args=[(set(), {"is_training": False}),
                     ({"train"}, {"is_training": True})])
  tmp = _temporary_dir(export_path)
  try:
    with tf.Graph().as_default():
      module = hub.Module(spec, trainable=True)
      _check_checkpoint_covers(module.variable_map, init_checkpoint,
                               "TF-Hub module")
      with tf.Session() as sess:
        tf.train.Saver(module.variable_map).restore(sess, init_checkpoint)
        module.export(tmp, sess)
    _finish_dir(tmp, export_path)
  finally:
    if tf.io.gfile.exists(tmp):
      tf.io.gfile.rmtree(tmp)
  tf.logging.info("Exported TF1 Hub module to %s", export_path)
  return export_path


class HubBertModel(object):
  """The `BertModel` interface over a TF1 BERT Hub module's outputs."""

  def __init__(self, outputs, handle):
    self._outputs = outputs
    self._handle = handle

  def get_pooled_output(self):
    """float32 Tensor [batch_size, hidden_size]."""
    return self._outputs["pooled_output"]

  def get_sequence_output(self):
    """float32 Tensor [batch_size, seq_length, hidden_size]."""
    return self._outputs["sequence_output"]

  def get_embedding_table(self):
    raise NotImplementedError(
        "The TF-Hub module %s exposes no embedding table (its `tokens` "
        "signature gives pooled_output and sequence_output only)." %
        self._handle)

  def get_all_encoder_layers(self):
    raise NotImplementedError(
        "The TF-Hub module %s exposes only the last layer." % self._handle)


def hub_model_builder(handle, trainable=True):
  """Returns model_builder(features, is_training) for `model_fn_builder`.

  Each call instantiates `hub.Module(handle, tags={"train"} when training
  else set(), trainable=trainable)` and applies its `tokens` signature to the
  int32 features `input_ids`, `input_mask`, `segment_ids`.
  """
  hub = import_tensorflow_hub()

  def model_builder(features, is_training):
    tags = {"train"} if is_training else set()
    module = hub.Module(handle, tags=tags, trainable=trainable)
    outputs = module(
        inputs={name: tf.cast(features[name], tf.int32)
                for name in _INPUT_NAMES},
        signature="tokens", as_dict=True)
    return HubBertModel(outputs, handle)

  return model_builder


def read_tokenization_info(handle):
  """Returns (vocab_file str, do_lower_case bool) from the module."""
  hub = import_tensorflow_hub()
  with tf.Graph().as_default():
    module = hub.Module(handle)
    if "tokenization_info" not in module.get_signature_names():
      raise ValueError("The TF-Hub module %s has no `tokenization_info` "
                       "signature (signatures: %s)" %
                       (handle, ", ".join(module.get_signature_names())))
    info = module(signature="tokenization_info", as_dict=True)
    with tf.Session() as sess:
      vocab_file, do_lower_case = sess.run(
          [info["vocab_file"], info["do_lower_case"]])
  if isinstance(vocab_file, bytes):
    vocab_file = vocab_file.decode("utf-8")
  return vocab_file, bool(do_lower_case)


def create_tokenizer_from_hub_module(handle):
  """A `FullTokenizer` with the module's vocabulary and casing."""
  vocab_file, do_lower_case = read_tokenization_info(handle)
  return tokenization.FullTokenizer(vocab_file=vocab_file,
                                    do_lower_case=do_lower_case,
                                    check_special=True)


def bert_config_from_hub_module(handle):
  """A `BertConfig` inferred from the module's variable shapes.

  vocab_size, hidden_size, num_hidden_layers, intermediate_size,
  max_position_embeddings and type_vocab_size come from the variables;
  num_attention_heads cannot be recovered and is None; initializer_range is
  the reference's 0.02 (what the task heads use).
  """
  hub = import_tensorflow_hub()
  path = hub.resolve(handle)
  prefix = os.path.join(path, "variables", "variables")
  if not tf.io.gfile.exists(prefix + ".index"):
    raise FileNotFoundError("%s is not a TF1 Hub module with variables "
                            "(no %s.index)" % (handle, prefix))
  shapes = {}
  for name, shape in tf.train.list_variables(prefix):
    shapes[re.sub(r"^.*?(bert/)", r"\1", name, count=1)] = shape
  try:
    vocab_size, hidden = shapes["bert/embeddings/word_embeddings"]
    max_pos = shapes["bert/embeddings/position_embeddings"][0]
    type_vocab = shapes["bert/embeddings/token_type_embeddings"][0]
    intermediate = shapes[
        "bert/encoder/layer_0/intermediate/dense/kernel"][1]
  except KeyError as e:
    raise ValueError("The TF-Hub module %s has no BERT variable %s" %
                     (handle, e))
  layers = len({m.group(1) for m in (re.match(r"bert/encoder/layer_(\d+)/", n)
                                     for n in shapes) if m})
  config = modeling.BertConfig(
      vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=layers,
      num_attention_heads=None, intermediate_size=intermediate,
      max_position_embeddings=max_pos, type_vocab_size=type_vocab,
      initializer_range=0.02)
  return config


def run_classifier(cfg, bert_hub_module_handle):
  """Fine-tunes a classifier through a TF1 BERT Hub module.

  Args:
    cfg: `tasks.classifier.ClassifierConfig`; its bert_config_file,
      vocab_file, do_lower_case and init_checkpoint are not used (the module
      brings the weights and the tokenizer).
    bert_hub_module_handle: module path or URL.

  Returns:
    the dict of `tasks.classifier.run`.
  """
  from bert_tf.tasks import classifier  # pylint: disable=g-import-not-at-top
  tokenizer = create_tokenizer_from_hub_module(bert_hub_module_handle)
  bert_config = bert_config_from_hub_module(bert_hub_module_handle)
  tf.logging.info("TF-Hub module %s: vocab %s, do_lower_case=%s, %s",
                  bert_hub_module_handle, tokenizer.vocab_file,
                  tokenizer.do_lower_case, bert_config.to_json_string())
  return classifier.run(cfg, bert_config=bert_config, tokenizer=tokenizer,
                        model_builder=hub_model_builder(bert_hub_module_handle))


# ---------------------------------------------------------------------------
# TF2 SavedModel for hub.load / hub.KerasLayer.


def _tf2():
  import tensorflow as tf2  # pylint: disable=g-import-not-at-top
  return tf2


def _make_encoder_class(tf2):
  """Defines the saved tf.Module class (needs the TF2 API at hand)."""

  class BertEncoder(tf2.Module):
    """Tracks the encoder's variables and serves it as `__call__`."""

    # Plain attributes instead of tf.Module's computed properties: a
    # reusable SavedModel must carry these lists (hub.KerasLayer reads them).
    variables = None
    trainable_variables = None

    def __init__(self, wrapped, variables, vocab_file, do_lower_case):
      super().__init__(name="bert_encoder")
      self._wrapped = wrapped
      self.variables = list(variables)
      self.trainable_variables = list(variables)
      self.regularization_losses = []
      if vocab_file:
        self.vocab_file = tf2.saved_model.Asset(vocab_file)
      self.do_lower_case = tf2.Variable(bool(do_lower_case), trainable=False,
                                        name="do_lower_case")

    @tf2.function
    def __call__(self, inputs):
      """dict -> dict, or [ids, mask, segments] -> [pooled, sequence]."""
      if isinstance(inputs, dict):
        if "input_word_ids" in inputs:
          args = [inputs[n] for n in _TF2_ALIAS_NAMES]
        else:
          args = [inputs[n] for n in _INPUT_NAMES]
        return self._wrapped(*args)
      outputs = self._wrapped(*inputs)
      return [outputs["pooled_output"], outputs["sequence_output"]]

  return BertEncoder


def export_tf2_saved_model(bert_config, init_checkpoint, export_path,
                           vocab_file=None, do_lower_case=True,
                           overwrite=False):
  """Exports the encoder as a TF2 SavedModel for hub.load / hub.KerasLayer.

  The graph is `BertModel(is_training=False)` built once by
  `tf.compat.v1.wrap_function` (dynamic batch and sequence length); its
  variables are set from `init_checkpoint` and tracked by a tf.Module that
  `tf.saved_model.save` writes. See the module docstring for the call.

  Args:
    bert_config: `BertConfig` or the path of its bert_config.json.
    init_checkpoint: checkpoint prefix or directory with the `bert/...`
      variables.
    export_path: the SavedModel directory to create.
    vocab_file: optional vocabulary, saved as the `vocab_file` Asset.
    do_lower_case: bool, saved as the `do_lower_case` variable.
    overwrite: replace an existing `export_path`.

  Returns:
    str, `export_path` (written under a temporary name, renamed at the end).
  """
  tf2 = _tf2()
  if not tf2.executing_eagerly():
    raise RuntimeError("export_tf2_saved_model needs eager execution (call "
                       "it outside of any tf.Graph().as_default() block).")
  bert_config = _as_bert_config(bert_config)
  init_checkpoint = export_lib.resolve_checkpoint(init_checkpoint)
  if vocab_file and not tf.io.gfile.exists(vocab_file):
    raise FileNotFoundError("Vocabulary file not found: %s" % vocab_file)
  _check_output_path(export_path, overwrite)

  def build(input_ids, input_mask, segment_ids):
    model = modeling.BertModel(
        config=bert_config, is_training=False, input_ids=input_ids,
        input_mask=input_mask, token_type_ids=segment_ids)
    return {"pooled_output": model.get_pooled_output(),
            "sequence_output": model.get_sequence_output()}

  specs = [tf2.TensorSpec([None, None], tf2.int32, name=n)
           for n in _INPUT_NAMES]
  wrapped = tf.wrap_function(build, specs)
  variables = list(wrapped.variables)
  by_name = {v.name.split(":")[0]: v for v in variables}
  _check_checkpoint_covers(by_name, init_checkpoint, "TF2 encoder")
  reader = tf.train.load_checkpoint(init_checkpoint)
  for name, var in by_name.items():
    var.assign(reader.get_tensor(name).astype(np.float32))

  encoder = _make_encoder_class(tf2)(wrapped, variables, vocab_file,
                                     do_lower_case)
  dict_specs = {n: tf2.TensorSpec([None, None], tf2.int32, name=n)
                for n in _INPUT_NAMES}
  alias_specs = {n: tf2.TensorSpec([None, None], tf2.int32, name=n)
                 for n in _TF2_ALIAS_NAMES}
  serving = encoder.__call__.get_concrete_function(dict_specs)
  encoder.__call__.get_concrete_function(alias_specs)
  encoder.__call__.get_concrete_function(list(specs))

  tmp = _temporary_dir(export_path)
  try:
    tf2.saved_model.save(encoder, tmp, signatures={"serving_default": serving})
    _finish_dir(tmp, export_path)
  finally:
    if tf.io.gfile.exists(tmp):
      tf.io.gfile.rmtree(tmp)
  tf.logging.info("Exported TF2 SavedModel to %s", export_path)
  return export_path


def _define_cli_flags():
  """Defines the command's flags (only when run as a script)."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_enum("format", "tf1", ["tf1", "tf2"],
                    "tf1: a TF1 Hub module (hub.Module, the format of "
                    "Google's BERT modules); tf2: a TF2 SavedModel for "
                    "hub.load / hub.KerasLayer.")
  flags.DEFINE_string("bert_config_file", None, "The model's bert_config.json.")
  flags.DEFINE_string("checkpoint", None,
                      "Checkpoint prefix, or a directory (its latest one), "
                      "holding the bert/... variables.")
  flags.DEFINE_string("vocab_file", None, "The model's vocabulary.")
  flags.DEFINE_bool("do_lower_case", True, "The tokenizer's casing.")
  flags.DEFINE_string("export_path", None, "The directory to create.")
  flags.DEFINE_bool("overwrite", False, "Replace an existing --export_path.")
  for name in ("bert_config_file", "checkpoint", "vocab_file", "export_path"):
    flags.mark_flag_as_required(name)
  return flags.FLAGS


def _cli_main(flag_values):
  """Exports the checkpoint's encoder in the requested format."""
  from bert_tf import runtime  # pylint: disable=g-import-not-at-top
  runtime.set_verbosity()
  if flag_values.format == "tf1":
    path = export_tf1_hub_module(
        flag_values.bert_config_file, flag_values.checkpoint,
        flag_values.vocab_file, flag_values.do_lower_case,
        flag_values.export_path, overwrite=flag_values.overwrite)
  else:
    path = export_tf2_saved_model(
        flag_values.bert_config_file, flag_values.checkpoint,
        flag_values.export_path, vocab_file=flag_values.vocab_file,
        do_lower_case=flag_values.do_lower_case,
        overwrite=flag_values.overwrite)
  print(path)


if __name__ == "__main__":
  # python -m bert_tf.hub --format=tf1|tf2 --bert_config_file=... \
  #   --checkpoint=... --vocab_file=... --do_lower_case=true --export_path=DIR
  from bert_tf import flags as _bert_flags  # pylint: disable=g-import-not-at-top
  _flags = _define_cli_flags()
  _bert_flags.run_main(lambda argv: _cli_main(_flags))

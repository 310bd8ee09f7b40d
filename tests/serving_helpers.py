"""Helpers for the serving tests: a tiny random model and direct BertModel runs.

The golden values of those tests come from `BertModel` run directly on the
checkpoint (or from `estimator.predict`), never from the path under test.
"""

import collections
import os

import numpy as np
import tensorflow.compat.v1 as tf

from bert_tf import export
from bert_tf import model_fn as model_fn_lib
from bert_tf import modeling
from conftest import TINY_VOCAB
from test_classifier import write_tiny_config

TinyModel = collections.namedtuple(
    "TinyModel", ["dir", "config_file", "bert_config", "vocab_file",
                  "checkpoint", "checkpoint_dir"])


def write_vocab(path):
  seen = []
  for token in TINY_VOCAB:
    if token not in seen:
      seen.append(token)
  with open(path, "w", encoding="utf-8") as f:
    f.write("\n".join(seen) + "\n")
  return str(path)


def make_tiny_model(directory, num_labels=3, span_head=True,
                    with_global_step=True, seed=7):
  """A 2-layer, hidden-32 model with random weights saved as a checkpoint.

  initializer_range 0.2 (not 0.02) so that outputs vary clearly between
  inputs and equality checks can tell inputs apart.
  """
  directory = str(directory)
  os.makedirs(directory, exist_ok=True)
  config_file = write_tiny_config(os.path.join(directory, "bert_config.json"),
                                  initializer_range=0.2)
  bert_config = modeling.BertConfig.from_json_file(config_file)
  vocab_file = write_vocab(os.path.join(directory, "vocab.txt"))
  ckpt_dir = os.path.join(directory, "ckpt")
  prefix = os.path.join(ckpt_dir, "bert_model.ckpt")
  if with_global_step:
    checkpoint = export.save_random_checkpoint(
        bert_config, prefix, num_labels=num_labels, span_head=span_head,
        seed=seed)
  else:  # like Google's released checkpoints: bert/* only, no global_step
    with tf.Graph().as_default():
      tf.set_random_seed(seed)
      modeling.BertModel(bert_config, False, tf.zeros([1, 4], tf.int32))
      with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        checkpoint = tf.train.Saver().save(sess, prefix,
                                           write_meta_graph=False)
  return TinyModel(directory, config_file, bert_config, vocab_file,
                   checkpoint, ckpt_dir)


def random_inputs(batch, seq, vocab_size, seed=0):
  """int32 input_ids/input_mask/segment_ids [batch, seq] with padding."""
  rng = np.random.RandomState(seed)
  lengths = rng.randint(3, seq + 1, size=batch)
  lengths[0] = seq
  ids = rng.randint(5, vocab_size, size=(batch, seq)).astype(np.int32)
  mask = (np.arange(seq)[None, :] < lengths[:, None]).astype(np.int32)
  segments = ((np.arange(seq)[None, :] >= (lengths // 2)[:, None]) &
              (mask > 0)).astype(np.int32)
  ids[:, 0] = 2  # [CLS]
  return {"input_ids": ids * mask, "input_mask": mask,
          "segment_ids": segments}


def direct_bert_outputs(bert_config, checkpoint, input_ids, input_mask=None,
                        segment_ids=None):
  """Runs `BertModel(is_training=False)` on numpy inputs, restoring bert/*.

  Returns:
    dict: pooled_output [b, H], sequence_output [b, s, H], all_layers
    [num_layers, b, s, H] (float32 np.ndarrays).
  """
  with tf.Graph().as_default():
    ids = tf.constant(np.asarray(input_ids, np.int32))
    mask = None if input_mask is None else tf.constant(
        np.asarray(input_mask, np.int32))
    seg = None if segment_ids is None else tf.constant(
        np.asarray(segment_ids, np.int32))
    model = modeling.BertModel(bert_config, False, ids, mask, seg)
    with tf.Session() as sess:
      tf.train.Saver(tf.global_variables()).restore(sess, checkpoint)
      pooled, sequence, layers = sess.run(
          [model.get_pooled_output(), model.get_sequence_output(),
           model.get_all_encoder_layers()])
  return {"pooled_output": pooled, "sequence_output": sequence,
          "all_layers": np.stack(layers)}


def estimator_predict(bert_config, head, checkpoint, features, model_dir,
                      batch_size=4):
  """`estimator.predict` of model_fn_builder(head) on in-memory features.

  Returns:
    dict name -> np.ndarray concatenated over the examples.
  """
  model_fn = model_fn_lib.model_fn_builder(bert_config, head)
  estimator = tf.estimator.Estimator(model_fn=model_fn, model_dir=model_dir)

  def input_fn():
    return tf.data.Dataset.from_tensor_slices(dict(features)).batch(
        batch_size)

  out = collections.defaultdict(list)
  for batch in estimator.predict(input_fn, checkpoint_path=checkpoint,
                                 yield_single_examples=False):
    for name, value in batch.items():
      out[name].append(value)
  return {name: np.concatenate(v, axis=0) for name, v in out.items()}


def load_signature(saved_model_dir):
  """Returns (session, graph, signature_def) of a loaded SavedModel."""
  graph = tf.Graph()
  sess = tf.Session(graph=graph)
  with graph.as_default():
    meta = tf.saved_model.loader.load(sess, ["serve"], saved_model_dir)
  return sess, graph, meta.signature_def["serving_default"]


def run_signature(saved_model_dir, features):
  """Runs serving_default on numpy `features`; returns dict of outputs."""
  sess, _, sig = load_signature(saved_model_dir)
  try:
    feed = {sig.inputs[k].name: v for k, v in features.items()}
    names = sorted(sig.outputs)
    values = sess.run([sig.outputs[n].name for n in names], feed)
  finally:
    sess.close()
  return dict(zip(names, values))

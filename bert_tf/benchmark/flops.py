"""Model FLOPs per example, and the machine's dense matmul rate.

Model FLOPs count matmuls only (embeddings lookups, softmax, layer norm and
the optimizer are not counted). For L layers, hidden H, intermediate I,
sequence S, per example, forward:

    F = L * (8 * S * H^2        # Q, K, V and attention-output projections
             + 4 * S^2 * H      # scores Q.K^T and probabilities.V
             + 4 * S * H * I)   # the two feed-forward matmuls
        + 2 * H^2 + 2 * H * C   # pooler and classifier (C labels)

and training = 3 * F (the backward pass computes two matmuls per forward
matmul: the gradients of its input and of its weight). Model FLOP
utilisation (MFU) = F_mode * examples/sec / measured matmul rate, the rate
of a chain of `tf.matmul`s (`measure_matmul_rate`).

F is the model's count, as the reference's graph and Hugging Face compute
it, for every framework: bert_tf's classifier computes the last layer at
[CLS] only (`BertModel(output_positions=...)`), about (L - 1 + 1/6) / L of
F at BERT-Base's shape, so its MFU reads that much above the rate its
kernels ran at, and MFUs compare as examples/sec do.
"""

import time

import numpy as np


def model_flops_per_example(bert_config, seq_length, num_labels=2,
                            training=False):
  """Matmul FLOPs per example (see the module docstring for the formula).

  Args:
    bert_config: `modeling.BertConfig`.
    seq_length: int, S.
    num_labels: int, classifier outputs C.
    training: forward + backward (3x the forward).

  Returns:
    float, FLOPs per example.
  """
  s = float(seq_length)
  h = float(bert_config.hidden_size)
  i = float(bert_config.intermediate_size)
  per_layer = 8 * s * h * h + 4 * s * s * h + 4 * s * h * i
  forward = (bert_config.num_hidden_layers * per_layer + 2 * h * h +
             2 * h * num_labels)
  return 3.0 * forward if training else forward


def measure_matmul_rate(size=2048, dtype="float32", threads=0, chain=8,
                        repeats=3):
  """Dense matmul rate of TensorFlow on this machine, GFLOP/s.

  Runs a chain of `chain` dependent [size, size] x [size, size] `tf.matmul`s
  (`dtype` "float32" or "bfloat16") `repeats` times after one warm-up and
  returns the best rate (2 * size^3 FLOPs per matmul).
  """
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  from bert_tf import runtime  # pylint: disable=g-import-not-at-top
  graph = tf.Graph()
  rng = np.random.RandomState(0)
  with graph.as_default():
    tf_dtype = tf.bfloat16 if dtype == "bfloat16" else tf.float32
    a = tf.Variable(tf.cast(rng.randn(size, size).astype(np.float32),
                            tf_dtype))
    # Scaled so that the chain's values stay of order one.
    b = tf.Variable(tf.cast((rng.randn(size, size) / np.sqrt(size)).astype(
        np.float32), tf_dtype))
    c = a
    for _ in range(chain):
      c = tf.matmul(c, b)
    done = tf.reduce_sum(tf.cast(c[:1, :1], tf.float32))
    init = tf.global_variables_initializer()
  config = runtime.make_session_config(intra_op_threads=threads,
                                       inter_op_threads=1)
  with tf.Session(graph=graph, config=config) as sess:
    sess.run(init)
    sess.run(done)
    best = float("inf")
    for _ in range(repeats):
      start = time.perf_counter()
      sess.run(done)
      best = min(best, time.perf_counter() - start)
  return chain * 2.0 * size ** 3 / best / 1e9

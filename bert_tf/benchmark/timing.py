"""Timing loops: warm-up, blocks of steps alternated between frameworks,
median rates.

Each mode warms every framework up, then alternates timed blocks of steps
between them for a number of rounds, so that load from other processes hits
all of them alike; rates use the median step time.
"""

import statistics
import time

from bert_tf.benchmark import report


def warm_up(runner, steps):
  """Runs `steps` untimed steps."""
  for _ in range(steps):
    runner.step()


def time_block(runner, steps, max_seconds):
  """Step times (seconds) of up to `steps` steps; stops early, after at
  least 2 steps, once the block has run `max_seconds`."""
  times = []
  start = time.perf_counter()
  for _ in range(steps):
    t0 = time.perf_counter()
    runner.step()
    times.append(time.perf_counter() - t0)
    if len(times) >= 2 and time.perf_counter() - start > max_seconds:
      break
  return times


def alternate(groups, rounds, steps, max_seconds, sync=None):
  """Times the runners of `groups` in turn, `rounds` times.

  Args:
    groups: a list of groups, each a list of (key, label, runner); within a
      round the groups run in order, and `sync` is called after each.
    rounds: int.
    steps: timed steps per runner and round.
    max_seconds: see `time_block`.
    sync: optional `sync(name)`, e.g. a Horovod barrier, with a name unique
      to the round and group.

  Returns:
    {key: [step time, ...]} over all rounds.
  """
  times = {key: [] for group in groups for key, _, _ in group}
  for r in range(rounds):
    for g, group in enumerate(groups):
      for key, label, runner in group:
        times[key] += time_block(runner, steps, max_seconds)
        report.log("  round %d %s %.3f s/step" % (
            r + 1, label, statistics.median(times[key][-steps:])))
      if sync is not None:
        sync("%d_%d" % (r, g))
  return times


def median_rate(step_times, batch_size):
  """(examples per second at the median step time, the median step time)."""
  med = statistics.median(step_times)
  return batch_size / med, med


def rate_entry(step_times, batch_size):
  """The JSON entry of one framework's timings."""
  rate, med = median_rate(step_times, batch_size)
  return {"examples_per_sec": rate, "step_time_sec": med,
          "step_times_sec": step_times, "batch_size": batch_size}


def barrier(hvd, name):
  """Waits for all Horovod ranks (a tiny allreduce)."""
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  with tf.Graph().as_default():
    op = hvd.allreduce(tf.constant([1.0]), name="bench_barrier_" + name)
    with tf.Session() as sess:
      sess.run(op)

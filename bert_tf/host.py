"""The machine a process runs on: its cores and its CPU (no TensorFlow).

Read from the process's CPU affinity and, on Linux, /proc/cpuinfo; where that
is unreadable the CPU has no known flags.
"""

import os
import platform
import socket

# CPU flags of native bfloat16 arithmetic (AVX512-BF16, AMX).
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def num_cpus():
  """CPU cores this process may use."""
  try:
    return len(os.sched_getaffinity(0))
  except AttributeError:  # pragma: no cover (not Linux)
    return os.cpu_count() or 1


def _cpuinfo(field):
  """The value of the first `field` line of /proc/cpuinfo, or None."""
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith(field):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return None


def cpu_flags():
  """The CPU feature flags (a set; empty where unreadable)."""
  return set((_cpuinfo("flags") or "").split())


def cpu_model():
  """The CPU's model name (else the platform's processor or machine)."""
  return (_cpuinfo("model name") or platform.processor() or
          platform.machine())


def bf16_note(flags=None):
  """What oneDNN's automatic bfloat16 rewrite does on this CPU, in words.

  Args:
    flags: CPU flags (default: this machine's `cpu_flags()`).
  """
  flags = cpu_flags() if flags is None else set(flags)
  native = flags & NATIVE_BF16_FLAGS
  if native:
    return "this CPU has native bfloat16 (%s)" % ", ".join(sorted(native))
  if "avx512f" in flags:
    return ("this CPU has AVX512 but no native bfloat16: oneDNN emulates "
            "it, which may be slower than float32")
  # Measured with TF 2.15.1 on an AVX2-only host: the rewrite still casts
  # the graph to bfloat16, oneDNN refuses it ("BFloat16 support are only on
  # platforms with AVX512") and TensorFlow's generic kernels run it, with
  # none of oneDNN's fusions.
  return ("this CPU has no AVX512: the graph is still rewritten to "
          "bfloat16, but oneDNN cannot run it and TensorFlow's generic "
          "kernels do, without the fusions, which is slower than float32")


def hostname():
  """This machine's host name (for messages naming a machine)."""
  return socket.gethostname()

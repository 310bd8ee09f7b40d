"""The machine a benchmark runs on: its cores and CPU."""

import os
import platform


def num_cpus():
  """CPU cores this process may use."""
  try:
    return len(os.sched_getaffinity(0))
  except AttributeError:  # pragma: no cover (not Linux)
    return os.cpu_count() or 1


def cpu_info():
  """(model name, has native bf16) from /proc/cpuinfo where readable."""
  model, flags = platform.processor() or platform.machine(), set()
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          model = line.split(":", 1)[1].strip()
        elif line.startswith("flags"):
          flags = set(line.split(":", 1)[1].split())
  except OSError:
    pass
  return model, bool(flags & {"avx512_bf16", "amx_bf16"})

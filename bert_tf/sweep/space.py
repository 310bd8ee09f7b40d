"""The sweep's search space: `Param`s from text, trials from `Param`s.

  learning_rate=loguniform:1e-6:1e-4   log-uniform on [1e-6, 1e-4]
  warmup_proportion=uniform:0:0.2      uniform on [0, 0.2]
  train_batch_size=choice:16,32        one of the listed values
  num_train_epochs=3                   a fixed value
"""

import collections
import dataclasses
import itertools
import math
import random

DEFAULT_SPACE = ("learning_rate=loguniform:1e-6:1e-4",
                 "train_batch_size=choice:16,32",
                 "num_train_epochs=choice:2,3,4",
                 "warmup_proportion=choice:0.0,0.1")


def parse_value(text):
  """'32' -> 32, '1e-5' -> 1e-05, 'true' -> True, anything else -> str."""
  if isinstance(text, (bool, int, float)):
    return text
  lowered = text.strip().lower()
  if lowered in ("true", "false"):
    return lowered == "true"
  try:
    return int(text)
  except ValueError:
    pass
  try:
    return float(text)
  except ValueError:
    return text.strip()


def _round(x):
  """Four significant digits: readable flags, values inside the range."""
  return float("%.4g" % x)


@dataclasses.dataclass(frozen=True)
class Param:
  """One searched hyperparameter: a range or a list of choices."""
  name: str
  kind: str  # "loguniform", "uniform" or "choice"
  low: float = 0.0
  high: float = 0.0
  values: tuple = ()

  def spec(self):
    """The text form, as `parse_param` reads it."""
    if self.kind == "choice":
      return "%s=choice:%s" % (self.name, ",".join(str(v) for v in self.values))
    return "%s=%s:%r:%r" % (self.name, self.kind, self.low, self.high)

  def sample(self, rng):
    """One value drawn with `rng` (a random.Random)."""
    if self.kind == "choice":
      return self.values[rng.randrange(len(self.values))]
    if self.kind == "loguniform":
      x = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
    else:
      x = rng.uniform(self.low, self.high)
    return min(max(_round(x), self.low), self.high)

  def grid(self, points):
    """The grid values: every choice, or `points` points over the range."""
    if self.kind == "choice":
      return list(self.values)
    if points < 1:
      raise ValueError("grid_points must be at least 1")
    if points == 1 or self.low == self.high:
      if self.kind == "loguniform":
        return [_round(math.sqrt(self.low * self.high))]
      return [_round((self.low + self.high) / 2)]
    out = []
    for i in range(points):
      f = i / (points - 1)
      if self.kind == "loguniform":
        x = math.exp(math.log(self.low) +
                     f * (math.log(self.high) - math.log(self.low)))
      else:
        x = self.low + f * (self.high - self.low)
      out.append(min(max(_round(x), self.low), self.high))
    return out


def parse_param(text):
  """Parses 'name=loguniform:LOW:HIGH', 'name=uniform:LOW:HIGH',
  'name=choice:A,B,...' or 'name=VALUE' (fixed) into a `Param`.

  Raises:
    ValueError: naming the malformed part.
  """
  if "=" not in text:
    raise ValueError("Search space entry %r: expected NAME=SPEC, e.g. "
                     "learning_rate=loguniform:1e-6:1e-4" % text)
  name, spec = (s.strip() for s in text.split("=", 1))
  if not name:
    raise ValueError("Search space entry %r has no name" % text)
  kind, _, rest = spec.partition(":")
  kind = kind.strip().lower()
  if kind in ("loguniform", "uniform"):
    parts = rest.split(":")
    try:
      low, high = (float(p) for p in parts)
    except ValueError:
      raise ValueError("Search space entry %r: expected %s:LOW:HIGH with two "
                       "numbers" % (text, kind))
    if low > high:
      raise ValueError("Search space entry %r: LOW > HIGH" % text)
    if kind == "loguniform" and low <= 0:
      raise ValueError("Search space entry %r: a log-uniform range needs "
                       "LOW > 0 (use choice:0,... to try zero)" % text)
    return Param(name, kind, low, high)
  if kind == "choice":
    values = tuple(parse_value(v) for v in rest.split(",") if v.strip())
    if not values:
      raise ValueError("Search space entry %r lists no choices" % text)
    return Param(name, "choice", values=values)
  if ":" in spec:
    raise ValueError("Search space entry %r: unknown kind %r (expected "
                     "loguniform, uniform or choice)" % (text, kind))
  return Param(name, "choice", values=(parse_value(spec),))


def parse_space(entries):
  """A list of `Param`s from text entries; names must be unique."""
  params = [parse_param(e) for e in entries]
  names = [p.name for p in params]
  duplicates = sorted({n for n in names if names.count(n) > 1})
  if duplicates:
    raise ValueError("Search space names %s more than once" % duplicates)
  return params


def make_trials(params, search="random", num_trials=8, seed=0,
                grid_points=3):
  """The trials' parameter dicts, in the order they run.

  Args:
    params: list of `Param`.
    search: "random" (`num_trials` samples) or "grid" (every combination;
      with `num_trials` > 0 and fewer than the grid, a seeded random subset
      of it, in grid order).
    num_trials: see `search`.
    seed: the random seed (the same seed gives the same trials).
    grid_points: points per continuous range in a grid.

  Returns:
    list of OrderedDict name -> value.
  """
  rng = random.Random(seed)
  if search == "random":
    if num_trials < 1:
      raise ValueError("A random search needs num_trials >= 1")
    return [collections.OrderedDict((p.name, p.sample(rng)) for p in params)
            for _ in range(num_trials)]
  if search != "grid":
    raise ValueError("search must be 'random' or 'grid', not %r" % search)
  combos = list(itertools.product(*[p.grid(grid_points) for p in params]))
  if 0 < num_trials < len(combos):
    keep = sorted(rng.sample(range(len(combos)), num_trials))
    combos = [combos[i] for i in keep]
  return [collections.OrderedDict(zip([p.name for p in params], combo))
          for combo in combos]

"""Early-stopping rules of the sweep: median and bandit (see the package)."""

import dataclasses
import math
import statistics

POLICIES = ("none", "median", "bandit")


def better(a, b, maximize):
  """True if value a is strictly better than b (NaN is worst)."""
  if math.isnan(a):
    return False
  if math.isnan(b):
    return True
  return a > b if maximize else a < b


def _until(curve, step):
  return [v for s, v in curve if s <= step]


def best_so_far(curve, step, maximize):
  """The best value of `curve` (list of (step, value)) at steps <= step."""
  values = _until(curve, step)
  if not values:
    return None
  best = values[0]
  for v in values[1:]:
    if better(v, best, maximize):
      best = v
  return best


def running_average(curve, step):
  """The mean of `curve`'s values at steps <= step (None if none)."""
  values = _until(curve, step)
  return sum(values) / len(values) if values else None


def _comparable(peers, step):
  """The peer curves that have reached `step` (a value at <= and >= it)."""
  return [c for c in peers
          if c and c[0][0] <= step and max(s for s, _ in c) >= step]


def median_rule(curve, peers, step, maximize, min_peers=1):
  """Median stopping: (stop, reason).

  Stop if the trial's best value so far is worse than the median of the
  peers' running averages at `step`.
  """
  peers = _comparable(peers, step)
  if len(peers) < max(1, min_peers):
    return False, "%d comparable trials at step %d (need %d)" % (
        len(peers), step, max(1, min_peers))
  best = best_so_far(curve, step, maximize)
  median = statistics.median(running_average(c, step) for c in peers)
  if best is None:
    return False, "no value yet"
  if better(median, best, maximize):
    return True, ("best %.6g is worse than the median %.6g of %d trials' "
                  "running averages at step %d" % (best, median, len(peers),
                                                    step))
  return False, "best %.6g vs median %.6g" % (best, median)


def bandit_threshold(best, maximize, slack):
  """The bandit policy's bar: best/(1+slack) (maximise), best*(1+slack)
  (minimise); for negative values widened by the same fraction of |best|."""
  if maximize:
    return best - abs(best) * slack / (1.0 + slack)
  return best + abs(best) * slack


def bandit_rule(curve, peers, step, maximize, slack=0.1, min_peers=1):
  """Bandit stopping with a slack factor: (stop, reason)."""
  peers = _comparable(peers, step)
  if len(peers) < max(1, min_peers):
    return False, "%d comparable trials at step %d (need %d)" % (
        len(peers), step, max(1, min_peers))
  best = best_so_far(curve, step, maximize)
  if best is None:
    return False, "no value yet"
  leader = None
  for c in peers:
    value = best_so_far(c, step, maximize)
    if leader is None or better(value, leader, maximize):
      leader = value
  if math.isnan(leader):
    return False, "no finite peer value"
  bar = bandit_threshold(leader, maximize, slack)
  if better(bar, best, maximize):
    return True, ("best %.6g is outside the slack %g of the leader %.6g "
                  "(bar %.6g) at step %d" % (best, slack, leader, bar, step))
  return False, "best %.6g vs bar %.6g" % (best, bar)


@dataclasses.dataclass
class StoppingRule:
  """An early-stopping policy ("none", "median" or "bandit")."""
  policy: str = "none"
  slack: float = 0.1
  min_steps: int = 0
  min_peers: int = 1

  def decide(self, curve, peers, step, maximize):
    """(stop, reason) for a trial with `curve` at evaluation `step`."""
    if self.policy == "none":
      return False, "no early stopping"
    if step < self.min_steps:
      return False, "step %d < min_steps %d" % (step, self.min_steps)
    if self.policy == "median":
      return median_rule(curve, peers, step, maximize, self.min_peers)
    if self.policy == "bandit":
      return bandit_rule(curve, peers, step, maximize, self.slack,
                         self.min_peers)
    raise ValueError("early stopping policy must be one of %s, not %r" %
                     (POLICIES, self.policy))

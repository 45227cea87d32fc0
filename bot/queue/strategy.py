"""How the merge queue spends CI runs: batch size, bisection and the flaky-failure budget. Pure.

Finding the broken PRs among queued ones is adaptive group testing: a CI run on a staging commit
answers "is any PR in this group broken?". With each PR broken with probability p, no strategy can
use fewer than H(p)/(1-p) runs per merged PR. The policy here gets close to it:

- **Batch size from the recent failure rate.** p is estimated from the lane's last outcomes with a
  Beta prior (mean 5 %), and a fresh batch takes about ln 2 / p PRs (a test then fails about half
  the time, so each run yields about one bit), capped by `merge.batch_size`.
- **Test one half, infer the other.** A failed group is known to hold a broken PR. Only its first
  half is tested: green → that half lands (it was tested on the exact base) and the other half is
  known bad without a run of its own; red → the first half is the known-bad group and the other
  half returns to the pool, unjudged, to be batched with newer PRs.
- **Speculation.** With `merge.parallel` > 1 builds are stacked (each on the previous staging
  commit), batches are half as large, and a known-bad group is bisected by probes beside the chain:
  up to N - 1 of its `parts` are each built alone on the tip (information only, never landed), the
  last part is still inferred. Bisecting no longer stops the chain: fresh batches keep landing.
- **Retry budget for flakes.** A PR singled out by one red run is confirmed by one more run alone
  before it is rejected, while the observed share of confirmations that came back green (flakes)
  is at least `confirm_threshold` (Beta prior 1/10, so the first culprit of a lane is confirmed).
  A run costs little next to rejecting a good PR, but confirming every culprit costs p/(1-p) runs
  per merged PR, which at p = 0.1 is more than the whole gap to the bound.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

PRIOR_BAD = 1.0  # Beta prior on the failure rate: 1 broken in 20 PRs
PRIOR_GOOD = 19.0
FLAKE_PRIOR = 1.0  # Beta prior on "a culprit was a flake": 1 in 10
FLAKE_PRIOR_N = 10.0
WINDOW = 100  # recent outcomes that estimate the failure rate


def failure_rate(recent: Sequence[int]) -> float:
    """Posterior mean failure rate from recent outcomes (1 = the PR was broken, 0 = it landed)."""
    window = list(recent)[-WINDOW:]
    return (sum(window) + PRIOR_BAD) / (len(window) + PRIOR_BAD + PRIOR_GOOD)


def batch_size(recent: Sequence[int], ceiling: int, adaptive: bool = True, parallel: int = 1) -> int:
    """How many PRs a fresh batch takes: about ln 2 / p, within [1, ceiling].

    With speculative builds (`parallel` > 1) half that: a build stacked on others is only worth its
    run if every build below it passes, so each aims to pass about 70 % of the time rather than 50 %
    (measured in bench/queue_sim.py: fewer runs per merged PR and a shorter time to merge).
    """
    if not adaptive:
        return max(1, ceiling)
    p = failure_rate(recent)
    target = math.log(2) / p / (2 if parallel > 1 else 1)
    return max(1, min(ceiling, round(target)))


def split(group: Sequence[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(the half to test, the half to infer) of a known-bad group of two or more PRs.

    The tested half is the first (higher priority, older) one: if it is green it lands first.
    """
    if len(group) < 2:
        raise ValueError("only a group of two or more PRs is split")
    cut = len(group) // 2
    return tuple(group[:cut]), tuple(group[cut:])


def parts(group: Sequence[int], count: int) -> tuple[tuple[int, ...], ...]:
    """`group` cut into `count` consecutive parts as even as possible (larger ones first), for probes:
    all but the last are tested at once, the last is inferred."""
    if count < 1 or count > len(group):
        raise ValueError(f"cannot cut {len(group)} PRs into {count} parts")
    size, extra = divmod(len(group), count)
    out, start = [], 0
    for i in range(count):
        end = start + size + (1 if i < extra else 0)
        out.append(tuple(group[start:end]))
        start = end
    return tuple(out)


def flake_share(confirmations: int, flakes: int) -> float:
    """Posterior mean share of singled-out PRs that passed when re-run alone."""
    return (flakes + FLAKE_PRIOR) / (confirmations + FLAKE_PRIOR_N)


def should_confirm(strikes: int, confirmations: int, flakes: int, threshold: float) -> bool:
    """Re-run a singled-out PR alone before rejecting it? Only after its first strike."""
    return strikes < 2 and flake_share(confirmations, flakes) >= threshold


def entropy_bound(p: float) -> float:
    """H(p)/(1-p): the fewest CI runs per merged PR any group-testing strategy can average."""
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return math.inf
    h = -p * math.log2(p) - (1 - p) * math.log2(1 - p)
    return h / (1 - p)

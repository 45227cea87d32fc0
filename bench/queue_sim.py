"""Discrete-event simulation of merge strategies with one CI pipeline: how many CI runs per merged PR?

The strategies see the same PRs (same broken ones, same arrival times, per seed):
- serial: one PR per CI run (what a "rebase and wait" bot does);
- halving: bors-ng's rule: batch the waiting PRs, split a failed batch in halves and test both;
- mlgate N=k: the real state machine of bot/queue/transitions.py with `merge.parallel: k` (k builds
  in flight per base, each stacked on the previous staging commit; with k > 1 a failed batch is
  bisected by probes on the tip beside them), driven through a fake GitHub
  (commit graph, fast-forward refusal, a CI that fails a staging commit when it contains a broken
  PR, plus random flaky failures, each run in its own runner, cancelled when the build is
  abandoned), not a re-implementation.

Reported per strategy: CI runs per merged PR (a cancelled run counts as a run), merged PRs per CI
hour (CI time actually used: a cancelled run counts until it was cancelled), and the median and
p90 hours from `/merge` to landing. For mlgate, where its N build slots went (`LaneStats`): PRs
landed per wall hour, the share of slot time with a CI run in flight (a run the queue abandoned
before it knew the commit's SHA cannot be cancelled and still counts), the share left idle while
PRs were ready, the share of wall time a known-bad group was open, and the runs cancelled. Then
N=k / N=1 for the median and for CI runs per merged PR (the targets of `merge.parallel`).

A PR is broken with probability --fail-rate; every CI run also fails by chance with probability
--flaky-rate. Finding the broken PRs is group testing, so no strategy averages fewer than
H(p)/(1-p) CI runs per merged PR; the bound is printed next to the numbers.

    python bench/queue_sim.py --prs 100 --fail-rate 0.1 --seeds 20
    python bench/queue_sim.py --arrival poisson --rate 20 --prs 200 --seeds 20   # 20 PRs/hour
    python bench/queue_sim.py --arrival poisson --gap-minutes 20 --json
"""

from __future__ import annotations

import argparse
import hashlib
import heapq
import json
import random
import statistics
import sys
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mlgate.bot import queue as q
from mlgate.bot.queue.strategy import entropy_bound

CHECK = "ci"
BASE = "main"
BATCH_DELAY_SECONDS = 60.0  # mlgate waits a minute for more /merge before starting a fresh batch


@dataclass(frozen=True)
class Scenario:
    """One seed's world: when each PR arrives (minutes) and which ones are broken."""

    arrivals: tuple[float, ...]
    broken: frozenset[int]
    seed: int


@dataclass
class Outcome:
    runs: int = 0
    ci_minutes_used: float | None = None  # None: every run took the full CI time
    merged: dict[int, float] = field(default_factory=dict)  # PR -> minutes from arrival to landing
    rejected: set[int] = field(default_factory=set)
    landed_broken: int = 0  # must stay 0: a broken PR never lands
    lanes: LaneStats | None = None  # mlgate only: how the `merge.parallel` slots were used

    def metrics(self, ci_minutes: float, scenario: Scenario) -> dict[str, float]:
        merged = len(self.merged)
        used = self.runs * ci_minutes if self.ci_minutes_used is None else self.ci_minutes_used
        ci_hours = used / 60
        waits = sorted(self.merged.values())
        return {
            "ci_runs": self.runs,
            "merged": merged,
            "ci_runs_per_merged": self.runs / merged if merged else float("inf"),
            "merged_per_ci_hour": merged / ci_hours if ci_hours else 0.0,
            "median_hours_to_merge": statistics.median(waits) / 60 if merged else float("inf"),
            "p90_hours_to_merge": waits[min(len(waits) - 1, int(0.9 * len(waits)))] / 60 if merged else float("inf"),
            "good_rejected": len(self.rejected - scenario.broken),
            "broken_landed": self.landed_broken,
            **(self.lanes.metrics() | {"merged_per_hour": merged / (self.lanes.span / 60 or 1.0)}
               if self.lanes else {}),
        }


@dataclass
class LaneStats:
    """Where the N build slots of the lane spend their time (mlgate only), in slot-minutes.

    busy: a CI run in flight; idle_waiting: a slot free while PRs are ready (or suspects wait), the
    time a faster pipeline would win back; bisecting: wall minutes with a known-bad group open.
    """

    slots: int
    span: float = 0.0  # minutes from the first arrival to the last landing
    busy: float = 0.0
    idle_waiting: float = 0.0
    bisecting: float = 0.0
    idle_bisecting: float = 0.0  # part of idle_waiting: while a known-bad group is bisected
    idle_red_below: float = 0.0  # part of idle_waiting: a build in flight failed, the one below runs on
    cancelled_runs: int = 0
    cancelled_minutes: float = 0.0

    def metrics(self) -> dict[str, float]:
        capacity = self.slots * self.span or 1.0
        return {
            "slot_utilisation": self.busy / capacity,
            "slot_idle_with_prs_waiting": self.idle_waiting / capacity,
            "bisecting_share": self.bisecting / (self.span or 1.0),
            "slot_idle_bisecting": self.idle_bisecting / capacity,
            "slot_idle_red_below": self.idle_red_below / capacity,
            "cancelled_runs": self.cancelled_runs,
            "cancelled_ci_hours": self.cancelled_minutes / 60,
        }


def scenario(n: int, p: float, arrival: str, gap_minutes: float, seed: int) -> Scenario:
    rng = random.Random(seed)
    broken = frozenset(i for i in range(1, n + 1) if rng.random() < p)
    if arrival == "together":
        arrivals = tuple(0.0 for _ in range(n))
    else:
        t, times = 0.0, []
        for _ in range(n):
            times.append(t)
            t += rng.expovariate(1 / gap_minutes)
        arrivals = tuple(times)
    return Scenario(arrivals, broken, seed)


class CI:
    """One pipeline: a run takes `minutes`; red if the tested PRs include a broken one, or a flake."""

    def __init__(self, sc: Scenario, flaky: float, minutes: float, salt: str) -> None:
        self.sc, self.minutes = sc, minutes
        self.flaky = flaky
        self.rng = random.Random(f"{sc.seed}/{salt}")
        self.runs = 0

    def verdict(self, prs: frozenset[int]) -> bool:
        self.runs += 1
        return not (prs & self.sc.broken) and self.rng.random() >= self.flaky


# ---------------------------------------------------------------------------------------------
# Baselines


def run_serial(sc: Scenario, flaky: float, minutes: float, batch_size: int) -> Outcome:
    ci = CI(sc, flaky, minutes, "serial")
    out, t = Outcome(), 0.0
    for number, arrived in enumerate(sc.arrivals, start=1):
        t = max(t, arrived) + minutes
        if ci.verdict(frozenset({number})):
            out.merged[number] = t - arrived
        else:
            out.rejected.add(number)
    out.runs = ci.runs
    return out


def run_halving(sc: Scenario, flaky: float, minutes: float, batch_size: int) -> Outcome:
    """bors-ng: a batch of the waiting PRs; a red batch is split in two halves, each tested."""
    ci = CI(sc, flaky, minutes, "halving")
    out, t = Outcome(), 0.0
    pending = deque(enumerate(sc.arrivals, start=1))
    waiting: list[int] = []
    groups: deque[list[int]] = deque()
    while pending or waiting or groups:
        while pending and pending[0][1] <= t:
            waiting.append(pending.popleft()[0])
        if not groups:
            if not waiting:
                t = pending[0][1]
                continue
            groups.append(waiting[:batch_size])
            del waiting[:batch_size]
        group = groups.popleft()
        t += minutes
        if ci.verdict(frozenset(group)):
            for number in group:
                out.merged[number] = t - sc.arrivals[number - 1]
        elif len(group) == 1:
            out.rejected.add(group[0])
        else:
            half = len(group) // 2
            groups.extendleft([group[half:], group[:half]])
    out.runs = ci.runs
    return out


# ---------------------------------------------------------------------------------------------
# mlgate: the real state machine against a fake GitHub


class FakeGitHub:
    """Commit graph (sha -> PRs it contains and its parent), the base ref, the staging builds."""

    def __init__(self) -> None:
        self.contents: dict[str, frozenset[int]] = {"root": frozenset()}
        self.parent: dict[str, str | None] = {"root": None}
        self.base = "root"
        self.counter = 0

    def commit(self, parent: str, prs: tuple[int, ...]) -> str:
        self.counter += 1
        sha = hashlib.sha1(f"{parent}+{prs}+{self.counter}".encode()).hexdigest()
        self.contents[sha] = self.contents[parent] | frozenset(prs)
        self.parent[sha] = parent
        return sha

    def descends(self, sha: str, ancestor: str) -> bool:
        node: str | None = sha
        while node is not None:
            if node == ancestor:
                return True
            node = self.parent[node]
        return False


def run_mlgate(sc: Scenario, flaky: float, minutes: float, batch_size: int,
               config: q.QueueConfig | None = None, parallel: int = 1) -> Outcome:
    cfg = config or q.QueueConfig(branches=(BASE,), batch_size=batch_size, required_checks=(CHECK,),
                                  timeout_minutes=minutes * 10, start_timeout_minutes=minutes * 10,
                                  batch_delay_seconds=BATCH_DELAY_SECONDS, parallel=parallel)
    ci = CI(sc, flaky, minutes, "mlgate")
    gh = FakeGitHub()
    state = q.QueueState("sim/repo")
    out = Outcome()
    events: list[tuple[float, int, object]] = []
    seq = 0
    running: dict[str, tuple[int, float]] = {}  # staging sha -> (CI run id, start minute); cancelled: removed
    used = 0.0  # CI minutes actually spent
    stats = LaneStats(cfg.parallel)
    last = 0.0
    def push(at: float, event: object) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(events, (at, seq, event))

    for number, arrived in enumerate(sc.arrivals, start=1):
        push(arrived, q.MergeRequested(number, BASE, f"head{number}", "dev", gates="success"))
        push(arrived + cfg.batch_delay_seconds / 60, q.Tick())

    execute: Callable[[float, q.QueueAction], None]

    def execute(now: float, action: q.QueueAction) -> None:
        if isinstance(action, q.CreateStaging):
            base_sha = gh.base if action.base_sha is None else action.base_sha
            sha = gh.commit(base_sha, tuple(p.number for p in action.pulls))
            push(now, q.StagingCreated(action.build_id, sha, base_sha))
            green = ci.verdict(gh.contents[sha] - gh.contents[gh.base])  # all it holds beyond what landed
            running[sha] = (ci.runs, now)
            push(now + minutes, ("ci", sha, ci.runs, green))
        elif isinstance(action, q.FastForward):
            if gh.base == action.from_sha and gh.descends(action.to_sha, gh.base):
                gh.base = action.to_sha
                push(now, q.FastForwardDone(action.build_id, action.to_sha))
            else:
                push(now, q.FastForwardRefused(action.build_id, "not a fast-forward", gh.base))
        elif isinstance(action, q.MergePull):
            assert action.landed_sha == gh.base
            out.merged[action.number] = now - sc.arrivals[action.number - 1]
            out.landed_broken += action.number in sc.broken
        elif isinstance(action, q.Dequeue) and action.outcome == q.FAILED:
            out.rejected.add(action.number)
        elif isinstance(action, q.CancelBuild) and action.sha and action.sha in running:
            nonlocal used
            spent = now - running.pop(action.sha)[1]
            used += spent
            stats.cancelled_runs += 1
            stats.cancelled_minutes += spent

    while events:
        now, _, event = heapq.heappop(events)
        observe(state, now - last, len(running), stats)
        last = now
        if isinstance(event, tuple):  # a CI run finished
            _, sha, run_id, green = event
            if sha not in running or running[sha][0] != run_id:
                continue
            del running[sha]
            used += minutes
            event = q.CheckUpdate(sha, CHECK, "completed", "success" if green else "failure")
        state, actions = q.step(state, event, now * 60, cfg)  # type: ignore[arg-type]
        for action in actions:
            execute(now, action)
    out.runs = ci.runs
    out.ci_minutes_used = used
    stats.span = last - sc.arrivals[0]
    out.lanes = stats
    counts = q.outcome_counts(state)
    stuck = {k: v for k, v in counts.items() if k in q.ACTIVE}
    if stuck:
        raise AssertionError(f"seed {sc.seed}: PRs left in the queue at the end: {stuck}")
    return out


def observe(state: q.QueueState, minutes: float, in_flight: int, stats: LaneStats) -> None:
    """Charge the `minutes` since the last event to the slots as the state stood during them."""
    if minutes <= 0:
        return
    stats.busy += in_flight * minutes
    lane = state.lane(BASE)
    if lane is None:
        return
    if lane.suspects:
        stats.bisecting += minutes
    waiting = any(p.status == q.QUEUED and not p.held for p in state.pulls)
    if waiting:
        stats.idle_waiting += max(0, stats.slots - in_flight) * minutes
        idle = max(0, stats.slots - in_flight) * minutes
        if lane.suspects:
            stats.idle_bisecting += idle
        elif any(r.conclusion == "failure" for b in lane.chain for r in b.checks):
            stats.idle_red_below += idle


Strategy = Callable[[Scenario, float, float, int], Outcome]


def strategies(parallel: tuple[int, ...] = (1,)) -> dict[str, Strategy]:
    """serial, halving, and mlgate once per `merge.parallel` value ("mlgate" alone for (1,))."""
    out: dict[str, Strategy] = {"serial": run_serial, "halving": run_halving}
    for k in parallel:
        name = "mlgate" if parallel == (1,) else f"mlgate N={k}"
        out[name] = (lambda sc, fl, mi, bs, k=k: run_mlgate(sc, fl, mi, bs, parallel=k))
    return out


def simulate(prs: int, fail_rate: float, flaky_rate: float, ci_minutes: float, seeds: int, arrival: str,
             gap_minutes: float, batch_size: int, halving_batch: int,
             parallel: tuple[int, ...] = (1,)) -> dict[str, dict[str, float]]:
    """Per strategy, the mean over seeds of each metric."""
    table = strategies(parallel)
    per: dict[str, list[dict[str, float]]] = {name: [] for name in table}
    for seed in range(seeds):
        sc = scenario(prs, fail_rate, arrival, gap_minutes, seed)
        for name, fn in table.items():
            size = halving_batch if name == "halving" else batch_size
            per[name].append(fn(sc, flaky_rate, ci_minutes, size).metrics(ci_minutes, sc))
    return {name: {k: round(statistics.fmean(r[k] for r in rows), 4) for k in rows[0]} for name, rows in per.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arrival", choices=("together", "poisson"), default="together")
    ap.add_argument("--prs", type=int, default=100)
    ap.add_argument("--fail-rate", type=float, default=0.1, help="probability that a PR is broken")
    ap.add_argument("--flaky-rate", type=float, default=0.0, help="probability that any CI run fails by chance")
    ap.add_argument("--ci-minutes", type=float, default=30.0)
    ap.add_argument("--seeds", type=int, default=100, help="seeds averaged (about 2 s per 100)")
    ap.add_argument("--gap-minutes", type=float, default=None,
                    help="mean minutes between arrivals with --arrival poisson (default: ci-minutes / 2)")
    ap.add_argument("--rate", type=float, default=None, help="PRs per hour with --arrival poisson (= 60 / gap)")
    ap.add_argument("--parallel", default="1", help="merge.parallel values for mlgate, e.g. 1,2,3,4")
    ap.add_argument("--batch-size", type=int, default=50, help="merge.batch_size for mlgate (a ceiling)")
    ap.add_argument("--halving-batch", type=int, default=None, help="bors-ng batch size (default: --batch-size)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if args.prs < 1 or args.seeds < 1 or args.ci_minutes <= 0:
        ap.error("--prs and --seeds must be at least 1 and --ci-minutes positive")
    if not (0 <= args.fail_rate < 1 and 0 <= args.flaky_rate < 1):
        ap.error("--fail-rate and --flaky-rate must be in [0, 1)")
    if args.rate is not None and args.rate <= 0:
        ap.error("--rate must be positive")
    try:
        parallel = tuple(int(k) for k in args.parallel.split(","))
    except ValueError:
        ap.error(f"--parallel must be numbers separated by commas, not {args.parallel!r}")
    if not parallel or min(parallel) < 1:
        ap.error("--parallel values must be at least 1")
    gap = 60 / args.rate if args.rate else args.gap_minutes if args.gap_minutes is not None else args.ci_minutes / 2
    result = simulate(args.prs, args.fail_rate, args.flaky_rate, args.ci_minutes, args.seeds, args.arrival, gap,
                      args.batch_size, args.halving_batch or args.batch_size, parallel)
    bound = entropy_bound(args.fail_rate)
    if args.json:
        for metrics in result.values():
            metrics["bound_ci_runs_per_merged"] = round(bound, 4)
        print(json.dumps(result, indent=2))
        return 0
    rate = f" ({60 / gap:g} PRs/h)" if args.arrival == "poisson" else ""
    print(f"PRs={args.prs} arrival={args.arrival}{rate} p={args.fail_rate} flaky={args.flaky_rate} "
          f"T={args.ci_minutes:g} min seeds={args.seeds}")
    print(f"{'strategy':<11} {'runs/merged':>11} {'merged/CI-h':>11} {'median h':>9} {'p90 h':>7} "
          f"{'good rejected':>14}")
    for name, m in result.items():
        print(f"{name:<11} {m['ci_runs_per_merged']:>11.3f} {m['merged_per_ci_hour']:>11.3f} "
              f"{m['median_hours_to_merge']:>9.2f} {m['p90_hours_to_merge']:>7.2f} {m['good_rejected']:>14.2f}")
    print(f"{'bound':<11} {bound:>11.3f}   (H(p)/(1-p): no strategy averages fewer CI runs per merged PR)")
    print()
    print(f"{'slots':<11} {'landed/h':>8} {'busy':>6} {'idle, PRs waiting':>17} {'bisecting':>10} "
          f"{'cancelled runs':>15} {'cancelled CI-h':>15}")
    for name, m in result.items():
        if "slot_utilisation" in m:
            print(f"{name:<11} {m['merged_per_hour']:>8.2f} {m['slot_utilisation']:>6.1%} "
                  f"{m['slot_idle_with_prs_waiting']:>17.1%} {m['bisecting_share']:>10.1%} "
                  f"{m['cancelled_runs']:>15.1f} {m['cancelled_ci_hours']:>15.1f}")
    one = result.get("mlgate N=1")
    if one:
        for name, m in result.items():
            if name.startswith("mlgate N=") and m is not one:
                print(f"{name} / N=1: median {m['median_hours_to_merge'] / one['median_hours_to_merge']:.3f}x, "
                      f"CI runs per merged PR {m['ci_runs_per_merged'] / one['ci_runs_per_merged']:.3f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The worker: takes stored deliveries and hands them to a Dispatcher, one repository at a time.

Guarantees (see docs/bot-operations.md):
- one repository's deliveries are handled in received order, by one worker at a time (a key lock
  row with a lease, in any number of processes); different repositories run in parallel threads;
- a delivery is marked done exactly once; a worker that dies mid-delivery loses its leases when
  they expire and another worker takes the delivery over, so handlers must be idempotent;
- a failing handler is retried with exponential backoff, later deliveries of that repository
  wait behind it, and after `max_attempts` it is marked failed with the error; a refusal by
  GitHub's rate limit (`RateLimitedError`: GitHub did not act) waits as long as GitHub asks and
  does not count as an attempt, so a long rate limit slows the bot down but loses nothing;
- PRs returned by handlers are re-evaluated after a debounce that extends while events keep
  coming (up to a maximum wait): a burst of check runs gives one evaluation;
- every `resync_interval` each known repository is resynced through the dispatcher;
- deliveries done more than `retention_seconds` ago are deleted with their payloads, in batches
  (pending and failed ones never), so the inbox does not grow forever.

The worker knows nothing about GitHub beyond that one error: everything goes through the Dispatcher protocol.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.engine import Engine

from mlgate.bot.observability import metrics
from mlgate.bot.observability.logs import delivery_context
from mlgate.bot.settings import DEFAULTS, Settings
from mlgate.bot.store.inbox import ClaimedDelivery, DueEvaluation, Inbox, utcnow
from mlgate.retry import RateLimitedError

log = logging.getLogger(__name__)

PullRef = tuple[str, int]


class Dispatcher(Protocol):
    """What the worker calls; the bot's is `mlgate.bot.intake.handlers.Handlers` (built by
    `mlgate.bot.wiring.build_dispatcher`). A dispatcher with timers also has `tick()`, which the
    worker calls about once a second."""

    def handle(self, event: str, payload: dict[str, Any], delivery_id: str) -> set[PullRef]:
        """Act on one delivery (idempotently); return the PRs whose report must be re-evaluated."""
        ...

    def evaluate(self, repo: str, number: int) -> None:
        """Re-evaluate one PR's gates and update its report (idempotent)."""
        ...

    def resync(self, repo: str) -> set[PullRef]:
        """Re-read a repository after possibly missed webhooks; return the PRs to re-evaluate."""
        ...


# `mlgate serve|worker --dispatcher module:function` names one of these (the bot's own is
# `mlgate.bot.wiring.build_dispatcher`): it builds the Dispatcher from the settings and the engine
# of the bot's database, which everything durable shares.
DispatcherFactory = Callable[[Settings, Engine], Dispatcher]


@dataclass(frozen=True)
class WorkerConfig:
    """The worker's knobs: those an operator sets come from `Settings` (`from_settings`), and their
    defaults are the settings' defaults; the rest are fixed policy (overridden only by tests)."""

    threads: int = DEFAULTS.worker_threads
    lease_seconds: float = DEFAULTS.lease_seconds
    max_attempts: int = DEFAULTS.max_attempts
    retry_backoff_seconds: float = DEFAULTS.retry_backoff_seconds
    retry_backoff_max_seconds: float = DEFAULTS.retry_backoff_max_seconds
    debounce_seconds: float = DEFAULTS.debounce_seconds
    debounce_max_seconds: float = DEFAULTS.debounce_max_seconds
    resync_interval_seconds: float = DEFAULTS.resync_interval_seconds
    poll_interval_seconds: float = DEFAULTS.poll_interval_seconds
    retention_seconds: float = DEFAULTS.retention_days * 86400.0  # done deliveries older than this are deleted
    batch_per_key: int = 50  # deliveries handled before a key lock is given back (fairness)
    purge_batch_size: int = 500  # deleted per transaction (the intake waits for at most one)
    purge_interval_seconds: float = 3600.0  # how often to look for expired deliveries

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkerConfig:
        return cls(
            threads=settings.worker_threads,
            lease_seconds=settings.lease_seconds,
            max_attempts=settings.max_attempts,
            retry_backoff_seconds=settings.retry_backoff_seconds,
            retry_backoff_max_seconds=settings.retry_backoff_max_seconds,
            debounce_seconds=settings.debounce_seconds,
            debounce_max_seconds=settings.debounce_max_seconds,
            resync_interval_seconds=settings.resync_interval_seconds,
            poll_interval_seconds=settings.poll_interval_seconds,
            retention_seconds=settings.retention_days * 86400.0,
        )


def rate_limit_wait(exc: RateLimitedError) -> float:
    """Seconds until a rate-limited delivery is tried again: GitHub's wait (at least 1 s, at most
    the primary limit's hour plus a margin, whatever a header claims)."""
    return min(max(float(exc.wait), 1.0), 3900.0)


def backoff_delay(attempt: int, base: float, cap: float) -> float:
    """Seconds to wait after the `attempt`-th failure: base, 2·base, 4·base … at most `cap`."""
    return min(cap, base * (2 ** max(0, attempt - 1)))


def _names(items: Any) -> list[str]:
    if not isinstance(items, list):
        return []
    return [item["full_name"] for item in items if isinstance(item, dict) and isinstance(item.get("full_name"), str)]


def repository_changes(event: str, payload: dict[str, Any]) -> tuple[set[tuple[str, int | None]], set[str]]:
    """Which repositories a delivery shows the app can see (seen) or can no longer see (gone)."""
    installation = payload.get("installation")
    inst = installation.get("id") if isinstance(installation, dict) else None
    inst = inst if isinstance(inst, int) and not isinstance(inst, bool) else None
    seen: set[tuple[str, int | None]] = set()
    gone: set[str] = set()
    repository = payload.get("repository")
    if isinstance(repository, dict) and isinstance(repository.get("full_name"), str):
        seen.add((repository["full_name"], inst))
    action = payload.get("action")
    if event == "installation":
        names = _names(payload.get("repositories"))
        if action in {"created", "new_permissions_accepted", "unsuspend"}:
            seen.update((name, inst) for name in names)
        elif action in {"deleted", "suspend"}:
            gone.update(names)
    elif event == "installation_repositories":
        seen.update((name, inst) for name in _names(payload.get("repositories_added")))
        gone.update(_names(payload.get("repositories_removed")))
    seen = {(name, i) for name, i in seen if name not in gone}
    return seen, gone


def _is_repo_key(key: str) -> bool:
    return "/" in key and ":" not in key


def _pull_refs(value: Iterable[Any] | None, source: str) -> set[PullRef]:
    refs: set[PullRef] = set()
    for item in value or ():
        if (not isinstance(item, tuple) or len(item) != 2 or not isinstance(item[0], str)
                or not isinstance(item[1], int) or isinstance(item[1], bool)):
            raise TypeError(f"{source} must return a set of (repo, number) tuples, got an item {item!r}")
        refs.add(item)
    return refs


class Worker:
    """Runs deliveries, evaluations and resyncs from the store through a Dispatcher."""

    def __init__(self, store: Inbox, dispatcher: Dispatcher, config: WorkerConfig | None = None, *,
                 owner: str | None = None, clock: Callable[[], datetime] = utcnow,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        """`clock`: the wall clock (timezone-aware UTC) for everything stored: leases, retries,
        debounce, resync and retention times. `monotonic`: seconds for the scheduler's own timers
        (the next tick, resync check and purge). Tests inject both."""
        self.store = store
        self.dispatcher = dispatcher
        self.config = config or WorkerConfig()
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.clock = clock
        self.monotonic = monotonic
        self._lease = timedelta(seconds=self.config.lease_seconds)
        self._debounce = timedelta(seconds=self.config.debounce_seconds)
        self._max_wait = timedelta(seconds=self.config.debounce_max_seconds)
        self._pool = ThreadPoolExecutor(max_workers=self.config.threads, thread_name_prefix="mlgate-worker")
        self._lock = threading.Lock()
        self._active: set[str] = set()
        self._inflight: set[int] = set()
        self._noted_repos: set[tuple[str, int | None]] = set()
        self._hints: set[str] = set()
        self._full_pass = False
        self._ticking = False
        self._next_tick = 0.0
        self._next_purge = 0.0
        self._purged = 0  # deleted in the current round of batches
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------------ running

    def wake(self, key: str | None = None) -> None:
        """Look for work now instead of at the next poll. The web app passes the delivery's key:
        when that key is being drained already, its drain picks the delivery up and the
        scheduler can skip a database pass (a burst to one repository costs no scans)."""
        with self._lock:
            if key is None:
                self._full_pass = True
            else:
                self._hints.add(key)
        self._wake.set()

    def start(self) -> None:
        """Run the scheduler and the lease heartbeat in background threads."""
        if self._threads:
            return
        self._stop.clear()
        for target, name in ((self._loop, "mlgate-scheduler"), (self._heartbeat, "mlgate-heartbeat")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("worker %s started with %d threads", self.owner, self.config.threads)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop taking work, let running handlers finish (up to `timeout`), give the locks back."""
        self._stop.set()
        self.wake()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()
        self._pool.shutdown(wait=True, cancel_futures=True)
        log.info("worker %s stopped", self.owner)

    def run_forever(self, stop: threading.Event) -> None:
        self.start()
        try:
            stop.wait()
        finally:
            self.stop()

    def run_pending(self, max_rounds: int = 1000) -> int:
        """Synchronously handle everything that is ready now; returns how many items were handled."""
        total = 0
        for _ in range(max_rounds):
            now = self.clock()
            keys = self.store.acquire_keys(self.store.ready_keys(now, limit=1000), self.owner, now, self._lease)
            if not keys:
                break
            with self._lock:
                self._active.update(keys)
            done = sum(future.result() for future in [self._pool.submit(self._drain, key) for key in keys])
            total += done
            if done == 0:
                break
        return total

    def _loop(self) -> None:
        next_resync_check = 0.0
        last_pass = 0.0
        while not self._stop.is_set():
            try:
                if self.monotonic() >= next_resync_check:
                    interval = timedelta(seconds=self.config.resync_interval_seconds)
                    if self.store.mark_resync_due(self.clock(), interval):
                        log.info("periodic resync requested")
                    next_resync_check = self.monotonic() + min(60.0, self.config.resync_interval_seconds / 4)
                self._schedule()
                self._maybe_tick()
                self._maybe_purge()
                last_pass = time.monotonic()
            except Exception as exc:  # the database may be briefly unreachable: keep going
                log.error("worker scheduling failed (%s: %s); retrying", type(exc).__name__, exc)
                self._stop.wait(self.config.poll_interval_seconds)
            # A short pause first: a burst of wake-ups (one per stored delivery) costs one pass.
            self._stop.wait(0.01)
            while True:
                woken = self._wake.wait(self.config.poll_interval_seconds)
                self._wake.clear()
                with self._lock:
                    hints, self._hints = self._hints, set()
                    full, self._full_pass = self._full_pass, False
                    covered = bool(hints) and hints <= self._active
                recent = time.monotonic() - last_pass < self.config.poll_interval_seconds
                if not (woken and covered and not full and recent) or self._stop.is_set():
                    break

    def _schedule(self) -> None:
        with self._lock:
            active = set(self._active)
        free = self.config.threads - len(active)
        if free <= 0:
            return
        now = self.clock()
        candidates = self.store.ready_keys(now, exclude=active, limit=free)
        for key in self.store.acquire_keys(candidates, self.owner, now, self._lease):
            with self._lock:
                self._active.add(key)
            self._pool.submit(self._drain, key)

    def _maybe_tick(self) -> None:
        """Timers of the dispatcher (the merge queue's timeouts), if it has any: `dispatcher.tick()`
        at most once a second, in the pool, never two at once."""
        tick = getattr(self.dispatcher, "tick", None)
        if tick is None or self._stop.is_set() or self.monotonic() < self._next_tick:
            return
        with self._lock:
            if self._ticking:
                return
            self._ticking = True
        self._next_tick = self.monotonic() + 1.0

        def run() -> None:
            try:
                tick()
            except Exception as exc:
                log.error("dispatcher tick failed (%s: %s)", type(exc).__name__, exc)
            finally:
                with self._lock:
                    self._ticking = False

        self._pool.submit(run)

    def _maybe_purge(self) -> None:
        """Retention: while expired deliveries remain, one batch per scheduler pass (each batch a
        short transaction, so neither the intake nor the handlers wait long); then nothing until
        `purge_interval_seconds` later."""
        if self._stop.is_set() or self.monotonic() < self._next_purge:
            return
        cutoff = self.clock() - timedelta(seconds=self.config.retention_seconds)
        try:
            deleted = self.store.purge_done_deliveries(cutoff, self.config.purge_batch_size)
        except Exception as exc:
            log.error("retention purge failed (%s: %s); next try in %.0f s", type(exc).__name__, exc,
                      self.config.purge_interval_seconds)
            deleted = 0
        self._purged += deleted
        if deleted < self.config.purge_batch_size:
            if self._purged:
                log.info("retention: deleted %d delivery(ies) done before %s", self._purged,
                         cutoff.isoformat(timespec="seconds"))
            self._purged = 0
            self._next_purge = self.monotonic() + self.config.purge_interval_seconds

    def _heartbeat(self) -> None:
        period = max(0.05, self.config.lease_seconds / 3)
        while not self._stop.wait(period):
            with self._lock:
                keys, ids = list(self._active), list(self._inflight)
            if not keys and not ids:
                continue
            try:
                self.store.renew(self.owner, keys, ids, self.clock(), self._lease)
            except Exception as exc:
                log.error("lease renewal failed (%s: %s)", type(exc).__name__, exc)

    # ------------------------------------------------------------------ one key

    def _drain(self, key: str) -> int:
        """Handle a key's ready deliveries in order, then its resync and due evaluations."""
        done = 0
        try:
            delivery = None
            if not self._stop.is_set():
                delivery = self.store.claim_next_delivery(key, self.owner, self.clock(), self._lease,
                                                          self.config.max_attempts)
            while delivery is not None:
                current = delivery.id
                with self._lock:
                    self._inflight.add(current)
                try:
                    more = done + 1 < self.config.batch_per_key and not self._stop.is_set()
                    ok, delivery = self._process(delivery, claim_next=more)
                finally:
                    with self._lock:
                        self._inflight.discard(current)
                done += 1
                if not ok:
                    break  # later deliveries of this key wait for the retry
            if _is_repo_key(key) and not self._stop.is_set():
                done += self._resync(key)
                done += self._evaluate_due(key)
        except Exception as exc:
            log.error("worker failed on %s (%s: %s)", key, type(exc).__name__, exc)
        finally:
            try:
                self.store.release_key(key, self.owner)
            except Exception as exc:
                log.error("could not release %s (%s); its lease will expire", key, type(exc).__name__)
            with self._lock:
                self._active.discard(key)
                self._full_pass = True
            self._wake.set()
        return done

    def _process(self, delivery: ClaimedDelivery, *, claim_next: bool) -> tuple[bool, ClaimedDelivery | None]:
        """Handle one delivery and record the outcome; with `claim_next`, also lease the key's next
        delivery in the same transaction. Returns (succeeded, next delivery or None)."""
        if delivery.received_at is not None:
            metrics.WORKER_LAG.observe(max(0.0, (self.clock() - delivery.received_at).total_seconds()))
        try:
            with delivery_context(delivery.delivery_id):
                refs = _pull_refs(self.dispatcher.handle(delivery.event, delivery.payload, delivery.delivery_id),
                                  "Dispatcher.handle")
        except Exception as exc:
            metrics.DELIVERIES_FAILED.labels(event=delivery.event).inc()
            error = f"{type(exc).__name__}: {exc}"
            now = self.clock()
            if isinstance(exc, RateLimitedError):  # GitHub refused before acting: wait, never give up
                wait = rate_limit_wait(exc)
                log.warning("delivery %s (%s) rate limited by GitHub; it and the rest of its repository wait "
                            "%.0fs: %s", delivery.delivery_id, delivery.event, wait, error)
                self.store.fail_delivery(delivery.id, self.owner, now, error, now + timedelta(seconds=wait),
                                         count_attempt=False)
                return False, None
            if delivery.attempts >= self.config.max_attempts:
                log.error("delivery %s (%s) failed for good after %d attempts: %s", delivery.delivery_id,
                          delivery.event, delivery.attempts, error)
                retry_at = None
            else:
                delay = backoff_delay(delivery.attempts, self.config.retry_backoff_seconds,
                                      self.config.retry_backoff_max_seconds)
                log.warning("delivery %s (%s) attempt %d failed, retrying in %.1fs: %s", delivery.delivery_id,
                            delivery.event, delivery.attempts, delay, error)
                retry_at = now + timedelta(seconds=delay)
            self.store.fail_delivery(delivery.id, self.owner, now, error, retry_at)
            return False, None
        seen, gone = repository_changes(delivery.event, delivery.payload)
        with self._lock:  # note each repository once per process, not once per delivery
            seen -= self._noted_repos
            self._noted_repos.difference_update({item for item in self._noted_repos if item[0] in gone})
        nxt: ClaimedDelivery | None = None
        if claim_next:
            ok, nxt = self.store.complete_and_claim_next(
                delivery.id, self.owner, self.clock(), key=delivery.serial_key, lease=self._lease,
                max_attempts=self.config.max_attempts, to_evaluate=refs, debounce=self._debounce,
                max_wait=self._max_wait, seen_repos=seen, gone_repos=gone)
        else:
            ok = self.store.complete_delivery(delivery.id, self.owner, self.clock(), to_evaluate=refs,
                                              debounce=self._debounce, max_wait=self._max_wait, seen_repos=seen,
                                              gone_repos=gone)
        if not ok:
            log.warning("lease on delivery %s expired while it was handled; another worker owns it now",
                        delivery.delivery_id)
        else:
            with self._lock:
                self._noted_repos.update(seen)
            metrics.DELIVERIES_HANDLED.labels(event=delivery.event).inc()
            log.info("delivery %s (%s%s) handled; %d PR(s) to re-evaluate", delivery.delivery_id, delivery.event,
                     f".{delivery.action}" if delivery.action else "", len(refs),
                     extra={"event": "delivery.handled", "delivery": delivery.delivery_id, "repo": delivery.repo,
                            "gh_event": delivery.event})
        return ok, nxt

    def _resync(self, repo: str) -> int:
        if not self.store.take_resync(repo):
            return 0
        try:
            refs = _pull_refs(self.dispatcher.resync(repo), "Dispatcher.resync")
        except Exception as exc:
            log.error("resync of %s failed (%s: %s); next one at the next interval", repo, type(exc).__name__, exc)
            return 1
        self.store.request_evaluations(refs, self.clock(), debounce=self._debounce, max_wait=self._max_wait)
        log.info("resync of %s queued %d PR(s)", repo, len(refs))
        return 1

    def _evaluate_due(self, repo: str) -> int:
        due_items = self.store.claim_due_evaluations(repo, self.clock())
        for due in due_items:
            if self._stop.is_set():
                break
            self._evaluate(due)
        return len(due_items)

    def _evaluate(self, due: DueEvaluation) -> None:
        started = time.monotonic()
        try:
            self.dispatcher.evaluate(due.repo, due.number)
        except Exception as exc:
            metrics.EVALUATIONS.labels(outcome="error").inc()
            metrics.EVALUATION_SECONDS.observe(time.monotonic() - started)
            error = f"{type(exc).__name__}: {exc}"
            attempt = due.attempts + 1
            now = self.clock()
            if isinstance(exc, RateLimitedError):
                wait = rate_limit_wait(exc)
                log.warning("evaluation of %s#%d rate limited by GitHub; retrying in %.0fs", due.repo, due.number, wait)
                self.store.fail_evaluation(due, now, error, now + timedelta(seconds=wait), count_attempt=False)
                return
            if attempt >= self.config.max_attempts:
                log.error("evaluation of %s#%d failed for good after %d attempts: %s", due.repo, due.number,
                          attempt, error)
                self.store.fail_evaluation(due, now, error, None)
            else:
                delay = backoff_delay(attempt, self.config.retry_backoff_seconds, self.config.retry_backoff_max_seconds)
                log.warning("evaluation of %s#%d failed, retrying in %.1fs: %s", due.repo, due.number, delay, error)
                self.store.fail_evaluation(due, now, error, now + timedelta(seconds=delay))
            return
        metrics.EVALUATIONS.labels(outcome="ok").inc()
        metrics.EVALUATION_SECONDS.observe(time.monotonic() - started)
        self.store.finish_evaluation(due)


__all__ = ["Dispatcher", "PullRef", "Worker", "WorkerConfig", "backoff_delay", "repository_changes"]

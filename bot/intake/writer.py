"""Group commit for the webhook endpoint, and what its answer means.

Request threads hand their delivery to one writer thread and wait; the writer stores every
delivery waiting at that moment in a single transaction, so one fsync acknowledges a whole burst
instead of one request each.

The answer is decided here, and it is never a guess:
- `add` returns (202 / 200) only after the delivery's transaction committed;
- it raises `NotStored` (503) only when the delivery was not written and never will be.

Each delivery has a deadline (`timeout` seconds after it arrived, well under GitHub's 10 s). The
writer takes a delivery into a transaction only once that transaction holds its locks
(`Inbox.intake_batch`), and only before the deadline; a request whose deadline passes while
its delivery is still waiting withdraws it, so the writer can no longer take it. A delivery that
was taken only waits for its inserts and the commit, which wait for nothing else.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from mlgate.bot.store.engine import StoreError
from mlgate.bot.store.inbox import DEFAULT_INTAKE_TIMEOUT, Delivery, Inbox, IntakeBusy, utcnow

log = logging.getLogger(__name__)

WAITING, TAKEN, WITHDRAWN, FINISHED = "waiting", "taken", "withdrawn", "finished"


class NotStored(StoreError):
    """The delivery was not stored and will not be: GitHub's redelivery is the remedy."""


@dataclass(eq=False)
class _Pending:
    delivery: Delivery
    received_at: datetime
    deadline: float  # time.monotonic()
    state: str = WAITING
    new: bool = False
    error: str | None = None
    done: threading.Event = field(default_factory=threading.Event)


class IntakeWriter:
    """One writer thread storing deliveries in batches; see the module docstring for the contract."""

    def __init__(self, store: Inbox, *, max_batch: int = 256, timeout: float = DEFAULT_INTAKE_TIMEOUT) -> None:
        self.store = store
        self.max_batch = max_batch
        self.timeout = timeout
        self._lock = threading.Lock()  # guards every _Pending.state
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="mlgate-intake", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ request threads

    def add(self, delivery: Delivery, now: datetime | None = None) -> bool:
        """Inbox `delivery` durably; False for a redelivery. Raises NotStored when it was not stored."""
        item = _Pending(delivery, now or utcnow(), time.monotonic() + self.timeout)
        self._queue.put(item)
        if not item.done.wait(self.timeout):
            with self._lock:
                if item.state in (WAITING, WITHDRAWN):
                    item.state = WITHDRAWN
                    raise NotStored(f"the database was busy for {self.timeout:g} s; the delivery was not stored")
            # Taken: its transaction already holds the locks; only the inserts and the commit remain.
            item.done.wait()
        if item.error is not None:
            raise NotStored(item.error)
        return item.new

    def close(self) -> None:
        """Write what is queued, then stop the writer thread."""
        self._queue.put(None)
        self._thread.join(max(30.0, 3 * self.timeout))

    # ------------------------------------------------------------------ the writer thread

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            try:
                self._write(batch)
            except BaseException as exc:  # never leave a request waiting, never let the thread die
                self._finish(batch, f"internal error ({type(exc).__name__})")
            if stop:
                return

    def _take(self, batch: list[_Pending]) -> list[_Pending]:
        """The deliveries that are still wanted, now committed to this transaction's outcome."""
        now = time.monotonic()
        taken = []
        with self._lock:
            for item in batch:
                if item.state == WAITING and now < item.deadline:
                    item.state = TAKEN
                    taken.append(item)
                elif item.state == WAITING:
                    item.state = WITHDRAWN
                    item.error = "the delivery's time ran out before the database was free; it was not stored"
        return taken

    def _write(self, batch: list[_Pending]) -> None:
        # Wait for the locks as long as the youngest delivery may wait; older ones that run out
        # meanwhile are withdrawn by their request threads (or not taken).
        lock_wait = max(item.deadline for item in batch) - time.monotonic()
        taken: list[_Pending] = []
        try:
            with self.store.intake_batch(lock_wait) as intake:
                taken = self._take(batch)
                results = intake.insert([(item.delivery, item.received_at) for item in taken])
        except IntakeBusy as exc:
            log.error("%d delivery(ies) not stored: %s", len(batch), exc)
            self._finish(batch, f"{exc}; the delivery was not stored")
            return
        except Exception as exc:
            if not taken or isinstance(exc, sa.exc.OperationalError):
                log.error("%d delivery(ies) not stored: %s", len(batch), type(exc).__name__)
                self._finish(batch, f"the database failed ({type(exc).__name__}); the delivery was not stored")
                return
            log.warning("a batch of %d deliveries failed (%s); storing them one by one", len(taken),
                        type(exc).__name__)
            self._one_by_one(taken)
            self._finish(batch, None)
            return
        for item, new in zip(taken, results, strict=True):
            item.new = new
        self._finish(batch, None)

    def _one_by_one(self, taken: list[_Pending]) -> None:
        """After a failed batch: each delivery in its own savepoint, so one bad row fails alone.
        The wait for the locks is bounded by the oldest delivery's deadline."""
        lock_wait = min(item.deadline for item in taken) - time.monotonic()
        try:
            with self.store.intake_transaction(max(0.0, lock_wait)) as conn:
                for item in taken:
                    try:
                        with conn.begin_nested():
                            item.new = self.store.insert_delivery(conn, item.delivery, item.received_at)
                    except Exception as exc:
                        log.error("delivery %s not stored: %s", item.delivery.delivery_id, type(exc).__name__)
                        item.error = f"the database refused the delivery ({type(exc).__name__}); it was not stored"
        except Exception as exc:
            for item in taken:
                item.error = f"the database failed ({type(exc).__name__}); the delivery was not stored"

    def _finish(self, batch: list[_Pending], error: str | None) -> None:
        with self._lock:
            for item in batch:
                if item.state == WAITING or (item.state == TAKEN and error is not None):
                    item.error = item.error or error
                if item.state != WITHDRAWN:
                    item.state = FINISHED
        for item in batch:
            item.done.set()

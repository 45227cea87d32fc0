"""Primary rate limits with GitHub's headers: X-RateLimit-Limit/Remaining/Used/Reset/Resource."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

LIMITS = {"anonymous": 60, "user": 5000, "installation": 5000, "app": 5000}
WINDOW_SECONDS = 3600


@dataclass
class Bucket:
    limit: int
    used: int = 0
    reset: int = 0


@dataclass
class RateLimiter:
    overrides: dict[str, int] = field(default_factory=dict)  # principal key -> limit (tests)
    _buckets: dict[str, Bucket] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def bucket(self, key: str, kind: str) -> Bucket:
        now = int(time.time())
        with self._lock:
            b = self._buckets.get(key)
            if b is None or b.reset <= now:
                b = Bucket(limit=self.overrides.get(key, LIMITS.get(kind, 5000)), reset=now + WINDOW_SECONDS)
                self._buckets[key] = b
            return b

    def consume(self, key: str, kind: str) -> tuple[Bucket, bool]:
        """Count one call; False when the bucket was already empty."""
        b = self.bucket(key, kind)
        with self._lock:
            if b.used >= b.limit:
                return b, False
            b.used += 1
            return b, True

    def refund(self, key: str, kind: str) -> None:
        """Conditional requests answered 304 do not count, as on GitHub."""
        b = self.bucket(key, kind)
        with self._lock:
            b.used = max(0, b.used - 1)

    def set_limit(self, key: str, limit: int) -> None:
        with self._lock:
            self.overrides[key] = limit
            self._buckets.pop(key, None)

    @staticmethod
    def headers(b: Bucket) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(b.limit),
            "X-RateLimit-Remaining": str(max(0, b.limit - b.used)),
            "X-RateLimit-Used": str(b.used),
            "X-RateLimit-Reset": str(b.reset),
            "X-RateLimit-Resource": "core",
        }

"""A small thread-safe LRU, and the caches built on it.

Two levels: the place-independent DaySky per local date (element boundaries, new moons,
Sun and Moon samples: the expensive astronomy), and finished results per (rounded place,
zone, local date). Each process has its own; threads share them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRUCache(Generic[K, V]):
    """Least-recently-used cache; each missing key is computed once even under contention."""

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be at least 1, got {maxsize}")
        self.maxsize = maxsize
        self._data: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()
        # One lock per key being computed, so two threads asking for the same new key do the
        # work once, while threads asking for other keys are not held up.
        self._inflight: dict[K, threading.Lock] = {}
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)

    def _lookup(self, key: K) -> tuple[bool, V | None]:
        if key in self._data:
            self._data.move_to_end(key)
            self.hits += 1
            return True, self._data[key]
        return False, None

    def get_or_compute(self, key: K, compute: Callable[[], V]) -> V:
        """The cached value for `key`, computing and storing it on a miss."""
        with self._lock:
            found, value = self._lookup(key)
            if found:
                return value  # type: ignore[return-value]
            key_lock = self._inflight.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                found, value = self._lookup(key)
                if found:
                    return value  # type: ignore[return-value]
                self.misses += 1
            try:
                result = compute()
                with self._lock:
                    self._data[key] = result
                    while len(self._data) > self.maxsize:
                        self._data.popitem(last=False)
            finally:
                with self._lock:
                    self._inflight.pop(key, None)
        return result

    def clear(self) -> None:
        """Drop every entry and reset the counters."""
        with self._lock:
            self._data.clear()
            self.hits = self.misses = 0

"""Several servers behind one client: round robin, failover to another replica, and the retry rule.

Both transports send every call through `Replicas.call`, with one server or many.

The retry rule:
- What is retried: an attempt the server did not answer. Over gRPC that is UNAVAILABLE (no
  connection, a connection lost mid-call, a server draining or not ready); over REST a refused or
  dropped connection, no connection within `clients.tfs_rest.CONNECT_TIMEOUT_S`, a 503, or no answer
  within the timeout.
- Why that is safe: the calls are reads or pure functions of the request (Predict, Classify,
  Regress, MultiInference, GetModelMetadata, GetModelStatus): sending one again, even after a
  server ran it and died before answering, changes nothing and gives the same answer.
  `GrpcClient.reload_config` replaces a server's whole model list, so resending it to the same
  server is harmless too; it needs the address of exactly that server, and a client of several
  addresses refuses it.
- Where: the next replica in this call's order (round robin, replicas that failed recently last);
  the same replica again only once every replica was tried in this call, after a pause of
  `backoff * 2**n` seconds (jittered down to half, at least what a 503's Retry-After asked, never
  more than `MAX_PAUSE_S`).
- How often: `retries` retries at most, `retries + 1` attempts in all (gRPC: within the call's one
  deadline).
- Never retried: an answer. INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION, RESOURCE_EXHAUSTED,
  a server's own DEADLINE_EXCEEDED (504) ... would come back the same from any replica.

A replica that failed cools down for `COOLDOWN_S[0]` seconds, doubling with each consecutive
failure up to `COOLDOWN_S[1]`: meanwhile it is tried after the others, and its first answer ends the
cool-down, so a replica that comes back is used again within `COOLDOWN_S[1]` seconds. When every
replica is cooling down they are still tried, the one soonest back first.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from clients.errors import ServingError

E = TypeVar("E")
R = TypeVar("R")

COOLDOWN_S = (1.0, 10.0)  # first and longest cool-down of a replica after a failed attempt
MAX_PAUSE_S = 30.0  # the longest pause between two rounds over the replicas, whatever backoff or Retry-After say


def addresses(value: str | Sequence[str]) -> list[str]:
    """One address or several, as a list (a client's public argument takes either)."""
    found = [value] if isinstance(value, str) else list(value)
    if not found or not all(isinstance(a, str) and a.strip() for a in found):
        raise ValueError(f"give a server address or a list of them, not {value!r}")
    return [a.strip() for a in found]


class RetryableError(Exception):
    """Raised by a transport for an attempt the server did not answer (the retry rule above)."""

    def __init__(self, error: ServingError, retry_after: float | None = None):
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


class Replicas(Generic[E]):
    """The endpoints of one client (gRPC channels, REST base URLs) and their recent failures."""

    def __init__(self, endpoints: Sequence[E], *, retries: int, backoff: float):
        if not endpoints:
            raise ValueError("give at least one server address")
        self.endpoints = list(endpoints)
        self.retries = max(0, retries)
        self.backoff = backoff
        self._turn = itertools.count()
        self._failures = [0] * len(self.endpoints)
        self._cool_until = [0.0] * len(self.endpoints)
        self._lock = threading.Lock()

    def order(self) -> list[int]:
        """One call's order: round robin from the next turn; replicas cooling down last, soonest back first."""
        n = len(self.endpoints)
        with self._lock:
            start = next(self._turn) % n
            now = time.monotonic()
            ring = [(start + k) % n for k in range(n)]
            # Healthy replicas all sort as `now` (a stable sort keeps their ring order).
            return sorted(ring, key=lambda i: max(self._cool_until[i], now))

    def call(self, send: Callable[[E], R]) -> R:
        """`send(endpoint)` on one replica after another until one answers (see the retry rule)."""
        order = self.order()
        last: RetryableError | None = None
        for attempt in range(self.retries + 1):
            index = order[attempt % len(order)]
            if attempt >= len(order):
                time.sleep(self._pause(attempt // len(order), last))
            try:
                result = send(self.endpoints[index])
            except RetryableError as failed:
                self._failed(index)
                last = failed
                continue
            except ServingError:
                self._answered(index)  # an answer, not an outage: the replica is fine
                raise
            self._answered(index)
            return result
        assert last is not None
        raise last.error from last.__cause__

    def _pause(self, round_number: int, last: RetryableError | None) -> float:
        longest = min(self.backoff * 2 ** (round_number - 1), MAX_PAUSE_S)
        pause = random.uniform(longest / 2, longest)
        if last is not None and last.retry_after:
            pause = max(pause, last.retry_after)
        return min(pause, MAX_PAUSE_S)

    def _failed(self, index: int) -> None:
        with self._lock:
            self._failures[index] += 1
            cooldown = min(COOLDOWN_S[1], COOLDOWN_S[0] * 2 ** (self._failures[index] - 1))
            self._cool_until[index] = time.monotonic() + cooldown

    def _answered(self, index: int) -> None:
        with self._lock:
            self._failures[index] = 0
            self._cool_until[index] = 0.0

"""Closed-loop load: C clients, each sending its share of a fixed number of requests back to back.

A cell is bounded twice: by its request count and by a time limit after which no client starts a
new request (requests already sent are waited for). Throughput divides the completed requests by
the time from the common start to the last answer; latencies are per request, as the client saw
them (encoding and decoding included).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

# A caller is what one client thread uses: call() sends one request and returns when it is answered.
Caller = Callable[[], object]
CallerFactory = Callable[[], tuple[Caller, Callable[[], None]]]  # -> (call, close)


@dataclass
class Cell:
    model: str
    path: str
    concurrency: int
    batching: bool | None  # None where the path has no batching switch
    batch: int = 1  # images per request
    requests: int = 0
    errors: int = 0
    first_error: str = ""
    seconds: float = 0.0
    throughput: float = 0.0  # images per second
    p50_ms: float = math.nan
    p90_ms: float = math.nan
    p99_ms: float = math.nan
    max_ms: float = math.nan
    mean_ms: float = math.nan
    load_average: float | None = None  # 1-minute load average around the cell (other work on the machine)
    request_bytes: int | None = None
    response_bytes: int | None = None
    model_runs: int | None = None  # batching on: the batches the server ran for this cell's requests
    latencies_ms: list[float] = field(default_factory=list, repr=False)

    def to_json(self) -> dict:
        return asdict(self)


def median_ms(fn, repeats: int) -> float:
    """The median of `repeats` timed calls of `fn`, in ms."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return float(np.median(times))


def percentile(samples_ms: list[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default); NaN for no samples."""
    return float(np.percentile(samples_ms, q)) if samples_ms else math.nan


def run_cell(cell: Cell, factory: CallerFactory, total_requests: int, max_seconds: float) -> Cell:
    """Runs `total_requests` requests from `cell.concurrency` threads (shares differ by at most one)."""
    clients = cell.concurrency
    shares = [total_requests // clients + (1 if i < total_requests % clients else 0) for i in range(clients)]
    samples: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []
    window: dict[str, float] = {}

    def open_window() -> None:
        window["start"] = time.perf_counter()
        window["stop"] = window["start"] + max_seconds

    barrier = threading.Barrier(clients + 1, action=open_window)
    ends = [0.0] * clients

    def client(i: int) -> None:
        try:
            call, close = factory()
        except Exception as e:  # noqa: BLE001 - counted and reported in the cell
            errors.append(f"setup: {e!r}")
            barrier.abort()
            return
        try:
            barrier.wait()
            for _ in range(shares[i]):
                if time.perf_counter() > window["stop"]:
                    break
                start = time.perf_counter()
                try:
                    call()
                except Exception as e:  # noqa: BLE001 - counted and reported in the cell
                    errors.append(repr(e)[:300])
                    continue
                samples[i].append((time.perf_counter() - start) * 1e3)
        except threading.BrokenBarrierError:
            pass
        finally:
            ends[i] = time.perf_counter()
            close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    try:
        barrier.wait()
    except threading.BrokenBarrierError:
        pass
    for t in threads:
        t.join()
    latencies = [s for per_client in samples for s in per_client]
    cell.requests = len(latencies)
    cell.errors = len(errors)
    cell.first_error = errors[0] if errors else ""
    if "start" in window and latencies:
        cell.seconds = max(ends) - window["start"]
        cell.throughput = cell.requests * cell.batch / cell.seconds
    cell.latencies_ms = latencies
    cell.p50_ms, cell.p90_ms, cell.p99_ms = (percentile(latencies, q) for q in (50, 90, 99))
    cell.max_ms = max(latencies) if latencies else math.nan
    cell.mean_ms = float(np.mean(latencies)) if latencies else math.nan
    return cell

"""The scheduler on its own: one thread for any number of jobs due later, run in due order, cancellable."""

from __future__ import annotations

import threading
import time

from serving.core.workers import Scheduler


def test_jobs_run_in_due_order_on_one_thread_and_cancelled_ones_never():
    scheduler = Scheduler("test_scheduler")
    threads = threading.active_count()
    ran: list[tuple[int, str]] = []
    done = threading.Event()
    entries = [
        scheduler.call_later(delay, lambda n=n: ran.append((n, threading.current_thread().name)))
        for n, delay in ((3, 0.3), (1, 0.1), (2, 0.2))
    ]
    entries[2].cancel()
    scheduler.call_later(0.4, done.set)
    assert threading.active_count() == threads  # four jobs, no thread of their own
    assert done.wait(10)
    assert ran == [(1, "test_scheduler"), (3, "test_scheduler")]
    scheduler.shutdown()


def test_a_stopped_scheduler_runs_nothing_still_pending():
    scheduler = Scheduler("test_scheduler")
    ran = threading.Event()
    scheduler.call_later(0.2, ran.set)
    scheduler.shutdown()
    time.sleep(0.4)
    assert not ran.is_set() and scheduler.pending == 0

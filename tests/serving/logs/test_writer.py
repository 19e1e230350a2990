"""The bounded hand-off: a request never waits for a writer; past the bound, records are dropped and counted."""

from __future__ import annotations

import threading

from serving.logs.writer import BackgroundWriter


def test_a_full_queue_drops_and_counts_without_waiting():
    release, started = threading.Event(), threading.Event()
    handled, dropped = [], []

    def handle(item):
        started.set()
        release.wait(30)  # a disk that stalls
        handled.append(item)

    writer = BackgroundWriter("test", handle, max_items=3, max_bytes=1 << 20, on_drop=dropped.append)
    try:
        assert writer.offer(0)
        assert started.wait(10)  # the writer holds item 0
        accepted = [writer.offer(i) for i in range(1, 6)]
        assert accepted == [True, True, True, False, False]
        assert writer.dropped == 2 and dropped == [4, 5]
        release.set()
        assert writer.flush(10)
        assert handled == [0, 1, 2, 3]
    finally:
        release.set()
        writer.close()


def test_the_byte_bound_counts_what_is_waiting():
    release = threading.Event()
    writer = BackgroundWriter("test", lambda item: release.wait(30), max_items=100, max_bytes=1000)
    try:
        assert writer.offer("a", 600)
        assert writer.offer("b", 400)
        assert not writer.offer("c", 1)
        release.set()
        assert writer.flush(10) and writer.pending_bytes == 0
        assert writer.offer("d", 1000)  # room again once written
    finally:
        release.set()
        writer.close()


def test_a_failing_write_costs_that_record_only():
    handled = []

    def handle(item):
        if item == "bad":
            raise OSError(28, "No space left on device")
        handled.append(item)

    idle = []
    writer = BackgroundWriter("test", handle, 10, 1000, on_idle=lambda: idle.append(len(handled)))
    try:
        for item in ("a", "bad", "b"):
            writer.offer(item)
        assert writer.flush(10)
        assert handled == ["a", "b"] and writer.failed == 1 and idle
    finally:
        writer.close()

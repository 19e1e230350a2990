"""glibc's allocator, set for a server that runs the same graphs again and again.

A Session run allocates and frees the same activation buffers every call (EfficientNet-B0: dozens of
0.4-5 MB tensors). With glibc's defaults those buffers are handed back to the system after each run
(munmap, or a heap trim) and page-faulted in again on the next one (~3,500 faults a B0 predict on an AMD EPYC;
none on an Intel Xeon, where glibc's adaptive threshold happened to keep them); where it happens, freed memory
kept for the next run makes B0's Session run 0.85x the time (`python -m benchmarks allocator`,
docs/performance.md), and where it does not, both run even. So the server keeps
buffers up to `MMAP_THRESHOLD` in its heaps and trims a heap only past `TRIM_THRESHOLD` free at its top,
the ceiling glibc's own adaptive rule can reach (32 MiB, and twice that to trim), set from the start.
Memory a server unloads still goes back at once (`return_freed_memory`, as TF Serving releases it after
an unload). A MALLOC_*_ or GLIBC_TUNABLES setting of the operator's wins: then nothing is changed.
"""

from __future__ import annotations

import ctypes
import logging
import os

log = logging.getLogger("serving")

MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt's parameter numbers (malloc.h)
OPERATOR_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")


def _libc():
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (musl, macOS): its allocator is left as it is
        return None


def keep_freed_memory_for_reuse() -> bool:
    """Sets the thresholds above (before any model loads); False when the operator set the allocator or
    this is not glibc."""
    chosen = [name for name in OPERATOR_SETTINGS if name in os.environ]
    if chosen:
        log.info("Allocator: left as %s sets it", ", ".join(chosen))
        return False
    mallopt = getattr(_libc(), "mallopt", None)
    if mallopt is None:
        return False
    done = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    if done:
        log.info(
            "Allocator: freed buffers up to %d MiB kept for the next run (set MALLOC_MMAP_THRESHOLD_, "
            "MALLOC_TRIM_THRESHOLD_ or GLIBC_TUNABLES to choose otherwise)",
            MMAP_THRESHOLD >> 20,
        )
    return done


def return_freed_memory() -> None:
    """glibc keeps the heap a closed session freed in its arenas (one per thread that allocated); give it back
    to the system so a server's RSS follows what it holds (measured on 4 swaps of EfficientNet-B0: RSS climbed
    1192 -> 1408 -> 1626 MB before falling back, without this)."""
    trim = getattr(_libc(), "malloc_trim", None)
    if trim is not None:
        trim(0)

"""Chunks of examples: a per-example computation (a loss and its gradient, which are sums over
examples) run on slices of a batch, optionally on worker threads.

Chunking keeps every temporary small: glibc serves blocks below its mapping threshold (32 MiB at
most) from a heap it reuses, while larger arrays are mapped afresh and page-faulted on every step.
NumPy releases the GIL inside its loops, so threads use several cores for element-wise work and
copies too, which BLAS's own threads never do.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

_EXECUTORS: dict[int, ThreadPoolExecutor] = {}  # one pool per thread count, kept for the process
_HEAP_RAISED = False


def raise_heap_thresholds() -> None:
    """Once per process, allocate and free one block just under 32 MiB (never touched).

    glibc's malloc starts with a 128 KiB mapping threshold and returns the top of its heap to the
    system whenever more than twice that threshold is free there; freeing a mapped block raises
    the threshold to the block's size (at most 32 MiB). Without this, the blocks a training step
    frees at its end are given back to the system and page-faulted afresh on the next step; with
    it, they stay in the heap. ``python benchmarks/bench_lenet.py`` prints the minor page faults
    per LeNet step. Other allocators ignore it.
    """
    global _HEAP_RAISED
    if not _HEAP_RAISED:
        np.empty(2**25 - 2**13, dtype=np.uint8)  # mapped, then unmapped at once
        _HEAP_RAISED = True


def example_chunks(n: int, size: int) -> list[slice]:
    """``[slice(0, size), slice(size, 2*size), ..., slice(.., n)]``: ``n`` examples in chunks."""
    size = max(1, int(size))
    return [slice(a, min(a + size, n)) for a in range(0, n, size)]


def map_chunks(fn, chunks: list, threads: int = 1) -> list:
    """``[fn(s) for s in chunks]``, in order, on ``threads`` worker threads when there are several
    chunks. The caller combines the results in list order, so they do not depend on ``threads``."""
    if threads == 1 or len(chunks) == 1:
        return [fn(s) for s in chunks]
    if threads not in _EXECUTORS:
        _EXECUTORS[threads] = ThreadPoolExecutor(threads, thread_name_prefix="chunks")
    return list(_EXECUTORS[threads].map(fn, chunks))

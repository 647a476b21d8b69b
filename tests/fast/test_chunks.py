"""Chunks of examples: exact cover of the batch, results in chunk order whatever the threads, and
the once-per-process heap setting."""

import numpy as np

from adaptive_lr.fast import chunks as chunks_module
from adaptive_lr.fast.chunks import example_chunks, map_chunks, raise_heap_thresholds


def test_example_chunks_cover_the_batch_once_in_order():
    chunks = example_chunks(70, 64)
    assert chunks == [slice(0, 64), slice(64, 70)]
    assert example_chunks(3, 64) == [slice(0, 3)]
    covered = np.concatenate([np.arange(70)[s] for s in example_chunks(70, 16)])
    np.testing.assert_array_equal(covered, np.arange(70))


def test_map_chunks_keeps_chunk_order_on_threads():
    chunks = example_chunks(1000, 7)
    x = np.random.default_rng(0).standard_normal(1000)
    one = map_chunks(lambda s: x[s].sum(), chunks, threads=1)
    two = map_chunks(lambda s: x[s].sum(), chunks, threads=2)
    assert one == two  # same values, same order: sums combined in order are bit for bit equal


def test_raise_heap_thresholds_allocates_one_block_under_32_mib_once(monkeypatch):
    """The first call allocates one block just under glibc's 32 MiB cap on the mapping threshold
    (a larger block would not raise it); every later call allocates nothing."""
    calls = []
    real_empty = np.empty

    def counting_empty(shape, dtype=float, *args, **kwargs):
        calls.append(np.dtype(dtype).itemsize * int(np.prod(shape)))  # bytes
        return real_empty(shape, dtype, *args, **kwargs)

    monkeypatch.setattr(chunks_module, "_HEAP_RAISED", False)  # as in a fresh process
    monkeypatch.setattr(chunks_module.np, "empty", counting_empty)
    raise_heap_thresholds()
    assert len(calls) == 1 and 32 * 2**20 - 2**16 <= calls[0] < 32 * 2**20
    raise_heap_thresholds()
    raise_heap_thresholds()
    assert len(calls) == 1

"""What the step benchmarks share: a PyTorch child process that times steps on request, a
round-robin timer that gives NumPy and PyTorch turns on the same machine, and peak memory.

Imported by the scripts beside it (``python benchmarks/bench_lenet.py`` puts this folder first on
``sys.path``).
"""

from __future__ import annotations

import json
import subprocess
import time
import tracemalloc

import numpy as np

PAUSE = 0.2  # s, untimed, between NumPy's and PyTorch's turns (their idle threads spin-wait)


class TorchChild:
    """A process started as ``cmd`` that prints ``true``/``false`` (PyTorch found or not), then
    answers each line ``k`` on its stdin with the JSON list of ``k`` step times (s)."""

    def __init__(self, cmd: list[str]):
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        self.ok = bool(json.loads(self.proc.stdout.readline() or "false"))

    def run(self, k: int) -> list:
        self.proc.stdin.write(f"{k}\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


def time_round_robin(fns: dict, steps: int, *, warmup: int, torch: TorchChild | None = None,
                     block: int = 1, torch_steps: int | None = None,
                     torch_warmup: int | None = None) -> dict:
    """Median ms per call of each function, one call of each in turn after ``warmup`` calls;
    after every ``block`` rounds the PyTorch child ``torch`` runs ``torch_steps`` steps
    (default ``block``), after ``torch_warmup`` untimed ones (default ``warmup``)."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in fns}
    if torch is not None:
        torch.run(warmup if torch_warmup is None else torch_warmup)
        times["torch"] = []
    for i in range(steps):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
        if torch is not None and (i + 1) % block == 0:
            time.sleep(PAUSE)  # OpenBLAS's idle threads spin ~0.1 s before they sleep
            times["torch"] += torch.run(block if torch_steps is None else torch_steps)
            time.sleep(PAUSE)  # and so, more briefly, do PyTorch's OpenMP threads
    return {name: 1e3 * float(np.median(t)) for name, t in times.items() if t}


def peak_memory_mb(fn) -> float:
    """Peak traced memory (MiB) of one call of ``fn``."""
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20

"""Time one LeNet training step in NumPy: basic SGD and the second-order step with fused probes.

    python benchmarks/bench_lenet.py [--steps 60] [--batches 32 256] [--dtypes float32 float64]
                                     [--threads 1] [--torch-threads 0]

For each batch size and dtype it prints the median wall-clock time (ms) of

* ``basic``: draw the dropout masks, loss + gradient, SGD update;
* ``adaptive``: the same plus the five probe losses of Eq. 16, fused (conv1 reused from the
  gradient's forward pass, the rest on the five probes stacked);
* ``plain``: the same with five independent forward passes, for reference (timed after the
  others, in a round-robin with ``basic`` of its own, whose ratio ``plain/basic`` is printed);
* ``forward``: one loss evaluation in evaluation mode;
* ``torch``: PyTorch CPU's ``zero_grad, forward, backward, SGD step`` of the same network, when
  ``torch`` happens to be importable (it is not a dependency of this package).

The methods are timed round-robin (one step of each, repeated) after a warm-up, so that a noisy
shared machine slows all of them alike; the figures are medians. PyTorch runs in a child process
and takes its turn in blocks of steps: in one process, its OpenMP threads and OpenBLAS's threads
spin-wait against each other on two cores and slow both several-fold. Threads: OpenBLAS and
PyTorch use their defaults (one per core) unless ``OPENBLAS_NUM_THREADS`` and ``--torch-threads``
say otherwise; ``--threads 2`` runs LeNet's chunks of examples on 2 threads (``LeNet(threads=2)``),
meant for ``OPENBLAS_NUM_THREADS=1``. Peak memory of one adaptive step at the largest batch is
measured with ``tracemalloc`` (NumPy reports its buffers to it) and printed with the process's
maximum resident set size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

import numpy as np
from timing import TorchChild, peak_memory_mb, time_round_robin

from adaptive_lr.models.base import Model
from adaptive_lr.models.lenet import LeNet

ETA, EPS = 0.01, 1e-5
ETAS = ETA + EPS * np.array([-2.0, -1.0, 0.0, 1.0, 2.0])


def numpy_steps(model, w, X, y, rng):
    dtype = w.dtype.type

    def basic():
        noise = model.sample_noise(rng, X.shape[0])
        grad = model.forward_backward(w, X, y, noise=noise).grad
        return w - dtype(ETA) * grad

    def adaptive():
        noise = model.sample_noise(rng, X.shape[0])
        _, grad, cache, _ = model.forward_backward(w, X, y, noise=noise)
        model.line_losses(w, grad, ETAS, X, y, noise=noise, cache=cache)
        return w - dtype(ETA) * grad

    def plain():
        noise = model.sample_noise(rng, X.shape[0])
        grad = model.forward_backward(w, X, y, noise=noise).grad
        Model.line_losses(model, w, grad, ETAS, X, y, noise=noise)  # one pass per eta
        return w - dtype(ETA) * grad

    def forward():
        return model.loss(w, X, y)

    return {"basic": basic, "adaptive": adaptive, "plain": plain, "forward": forward}


def torch_step(X, y, dtype_name, threads: int = 0):
    """One PyTorch training step of the same LeNet as a function, or None without torch.
    ``threads`` > 0 sets PyTorch's thread count; 0 keeps its default."""
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        return None
    if threads > 0:
        torch.set_num_threads(threads)
    tdtype = getattr(torch, dtype_name)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = torch.nn.Conv2d(3, 6, 5), torch.nn.Conv2d(6, 16, 5)
            self.fc1, self.fc2 = torch.nn.Linear(400, 120), torch.nn.Linear(120, 84)
            self.fc3, self.drop = torch.nn.Linear(84, 10), torch.nn.Dropout(0.5)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv1(x)), 2)
            x = F.max_pool2d(F.relu(self.conv2(x)), 2).flatten(1)
            x = self.drop(F.relu(self.fc1(x)))
            return self.fc3(self.drop(F.relu(self.fc2(x))))

    net = Net().to(tdtype)
    opt = torch.optim.SGD(net.parameters(), lr=ETA)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

    def step():
        opt.zero_grad()
        F.cross_entropy(net(Xt), yt).backward()
        opt.step()

    return step


def torch_worker(n: int, dtype_name: str, threads: int) -> None:
    """Child process: for each line ``k`` on stdin, time ``k`` PyTorch steps, print the times."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 3, 32, 32)).astype(dtype_name)
    step = torch_step(X, rng.integers(0, 10, n), dtype_name, threads)
    print(json.dumps(step is not None), flush=True)
    for line in sys.stdin:
        times = []
        for _ in range(int(line)):
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
        print(json.dumps(times), flush=True)


def page_faults_per_step(fn, steps: int = 10) -> float:
    """Minor page faults per call of ``fn``: memory that glibc unmapped or trimmed and the next
    step touches afresh (large NumPy temporaries). Setting ``MALLOC_MMAP_THRESHOLD_`` and
    ``MALLOC_TRIM_THRESHOLD_`` (both, e.g. to 1000000000) keeps that memory in the heap."""
    fn()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(steps):
        fn()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / steps


def main() -> None:
    if sys.argv[1:2] == ["--torch-worker"]:
        return torch_worker(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=60, help="timed steps per method (batch 32)")
    parser.add_argument("--batches", type=int, nargs="+", default=[32, 256])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    parser.add_argument("--threads", type=int, default=1, help="LeNet(threads=...)")
    parser.add_argument("--torch-threads", type=int, default=0, help="0: PyTorch's default")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    model = LeNet(threads=args.threads)
    print(
        f"numpy {np.__version__}, OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')},"
        f" LeNet threads={args.threads}, torch threads={args.torch_threads or 'default'}"
    )
    print(f"load average {os.getloadavg()[0]:.2f} at start")
    header = (
        f"{'batch':>5} {'dtype':>7} | {'basic':>7} {'adaptive':>8} {'plain':>7} {'forward':>7}"
        f" {'torch':>7} | {'adapt/basic':>11} {'plain/basic':>11} {'basic/torch':>11}"
    )
    results, plain_fns = {}, {}
    for n in args.batches:
        steps = max(10, args.steps * 32 // n)
        for dtype_name in args.dtypes:
            dtype = np.dtype(dtype_name)
            w = model.init_params(rng, dtype)
            X = rng.standard_normal((n, 3, 32, 32)).astype(dtype)
            y = rng.integers(0, 10, n)
            fns = numpy_steps(model, w, X, y, rng)
            plain_fns[n, dtype_name] = {"basic": fns["basic"], "plain": fns.pop("plain")}
            child = TorchChild([sys.executable, __file__, "--torch-worker", str(n), dtype_name,
                                str(args.torch_threads)])
            torch = child if child.ok else None
            results[n, dtype_name] = time_round_robin(fns, steps, warmup=5, torch=torch, block=5)
            child.close()
    # The plain probes run Model.line_losses, whose five loss() calls on 256-image chunks free
    # mappings that leave glibc's heap trimming on later steps (~2,400 more page faults per basic
    # step at batch 256): they are timed last, against basic again, in loops of their own.
    for (n, dtype_name), fns in plain_fns.items():
        t = time_round_robin(fns, max(10, args.steps * 32 // n), warmup=5)
        results[n, dtype_name]["plain"] = t["plain"]
        results[n, dtype_name]["plain/basic"] = t["plain"] / t["basic"]
    print("median ms per step\n" + header + "\n" + "-" * len(header))
    for (n, dtype_name), t in results.items():
        t_torch = t.get("torch", float("nan"))
        print(
            f"{n:>5} {dtype_name:>7} | {t['basic']:7.2f} {t['adaptive']:8.2f} {t['plain']:7.2f}"
            f" {t['forward']:7.2f} {t_torch:7.2f} | {t['adaptive'] / t['basic']:11.2f}"
            f" {t['plain/basic']:11.2f} {t['basic'] / t_torch:11.2f}"
        )
    n = max(args.batches)
    for dtype_name in args.dtypes:
        dtype = np.dtype(dtype_name)
        w = model.init_params(rng, dtype)
        X = rng.standard_normal((n, 3, 32, 32)).astype(dtype)
        fns = numpy_steps(model, w, X, rng.integers(0, 10, n), rng)
        print(
            f"peak traced memory, batch {n} {dtype_name}: basic step "
            f"{peak_memory_mb(fns['basic']):.0f} MiB, adaptive step "
            f"{peak_memory_mb(fns['adaptive']):.0f} MiB; minor page faults per step: basic "
            f"{page_faults_per_step(fns['basic']):.0f}, adaptive "
            f"{page_faults_per_step(fns['adaptive']):.0f} (4 KiB each)"
        )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"max resident set size of this process: {rss:.0f} MiB")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()

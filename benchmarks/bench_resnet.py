"""Time one training step of the authors' ResNet-18 in NumPy against PyTorch CPU, and check our
loss, gradient and running statistics against PyTorch's for the same weights.

    python benchmarks/bench_resnet.py [--steps 6] [--batches 256 32] [--dtype float32]
                                      [--torch-python PATH] [--torch-threads 0] [--no-check]

``--torch-python`` names the Python that has torch (default: this one); PyTorch runs in a child
process (``benchmarks/torch_resnet.py``, which imports only numpy and torch) and takes its turn
in blocks of steps, as in ``bench_lenet.py``: in one process, its OpenMP threads and OpenBLAS's
spin-wait against each other. Without torch the PyTorch columns are ``nan``.

Check (float64, batch 8): the state_dict from ``ResNet18.unflatten`` and ``init_state`` is
loaded into the PyTorch model with ``load_state_dict(strict=True)``; both run one training-mode
pass with the same Dropout2d masks and then evaluate; the largest differences of the loss, the
gradient (relative to its largest entry), the new running statistics and the evaluation loss are
printed.

Timing, per batch size, median wall-clock ms of

* ``basic``: the dropout masks, loss + gradient (training mode, new running statistics), SGD;
* ``adaptive``: the same plus the five probe losses of Eq. 16 (forward-only training-mode passes,
  one per rate, as ``ResNet18.line_losses`` runs them);
* ``5 x fwd`` / ``stacked``: five forward-only training-mode passes on ``N`` images against one
  pass on the ``5N`` images stacked, each BatchNorm normalising each group of ``N`` on its own
  (``groups=5``). The stacked pass, with one set of weights, is a lower bound on what fused
  probes could cost: fusion pays only if ``stacked`` is clearly below ``5 x fwd``;
* ``torch``: PyTorch's ``zero_grad, forward, backward, SGD step`` of the same network.

Peak memory of one basic and one adaptive step at the largest batch (``tracemalloc``, which
NumPy reports its buffers to) and the process's maximum resident set size are printed last.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from timing import TorchChild, peak_memory_mb, time_round_robin

from adaptive_lr.fast.chunks import raise_heap_thresholds
from adaptive_lr.models.resnet import ResNet18
from adaptive_lr.models.resnet_layers import forward

ETA, EPS = 0.1, 1e-5
ETAS = ETA + EPS * np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
WORKER = str(Path(__file__).with_name("torch_resnet.py"))


def numpy_steps(model, w, X, y, rng):
    state = model.init_state(w.dtype)
    p = model.unflatten(w)
    x5 = np.concatenate([np.ascontiguousarray(X.transpose(1, 2, 3, 0))] * 5, axis=3)

    def basic():
        noise = model.sample_noise(rng, len(X))
        out = model.forward_backward(w, X, y, noise=noise, state=state)
        return w - w.dtype.type(ETA) * out.grad, out.state

    def adaptive():
        noise = model.sample_noise(rng, len(X))
        out = model.forward_backward(w, X, y, noise=noise, state=state)
        model.line_losses(w, out.grad, ETAS, X, y, noise=noise, state=state)
        return w - w.dtype.type(ETA) * out.grad, out.state

    def five_forward():
        noise = model.sample_noise(rng, len(X))
        for _ in range(5):
            model.loss(w, X, y, noise=noise, state=state)

    def stacked():
        noise = model.sample_noise(rng, len(X))
        forward(p, x5, model.arch, train=True, noise=noise, dropout=model.dropout, groups=5,
                keep_cache=False)

    return {"basic": basic, "adaptive": adaptive, "5 x fwd": five_forward, "stacked": stacked}


def check_against_torch(python: str) -> None:
    model = ResNet18()
    rng = np.random.default_rng(1)
    w = model.init_params(rng)
    X, y = rng.standard_normal((8, 3, 32, 32)), rng.integers(0, 10, 8)
    noise = model.sample_noise(rng, 8)
    # a state with non-trivial running statistics: the one after a first pass
    state = model.forward_backward(w, X[::-1].copy(), y, noise=noise).state
    out = model.forward_backward(w, X, y, noise=noise, state=state)
    eval_loss = model.loss(w, X, y, state=out.state)
    with tempfile.TemporaryDirectory() as tmp:
        inp, res = os.path.join(tmp, "in.npz"), os.path.join(tmp, "out.npz")
        arrays = {f"sd.{k}": v for k, v in model.unflatten(w).items()}
        arrays.update({f"sd.{k}": v for k, v in state.items()})
        np.savez(inp, X=X, y=y, keep0=noise[0], keep1=noise[1], n_classes=np.array(10),
                 **arrays)
        done = subprocess.run([python, WORKER, "check", inp, res], capture_output=True,
                              text=True)
        if done.returncode != 0:
            print(f"PyTorch check not run ({done.stderr.strip().splitlines()[-1:]})")
            return
        with np.load(res, allow_pickle=False) as f:
            ref = {k: f[k] for k in f.files}
    grads = model.unflatten(out.grad)
    g_scale = max(np.abs(ref[f"grad.{k}"]).max() for k in grads)
    g_err = max(np.abs(grads[k] - ref[f"grad.{k}"]).max() for k in grads) / g_scale
    s_err = max(np.abs(out.state[k] - ref[f"state.{k}"]).max() for k in out.state)
    print("against PyTorch (float64, batch 8, same weights and masks, load_state_dict strict):")
    print(f"  training loss {out.loss:.12f} vs {float(ref['loss']):.12f}: difference "
          f"{abs(out.loss - float(ref['loss'])):.2e}")
    print(f"  gradient: max |difference| / max |gradient| = {g_err:.2e} over "
          f"{len(grads)} tensors")
    print(f"  new running statistics (and num_batches_tracked): max |difference| {s_err:.2e}")
    print(f"  evaluation-mode loss with the new statistics: difference "
          f"{abs(eval_loss - float(ref['eval_loss'])):.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=6, help="timed rounds at the largest batch")
    parser.add_argument("--batches", type=int, nargs="+", default=[256, 32])
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--torch-python", default=sys.executable)
    parser.add_argument("--torch-threads", type=int, default=0, help="0: PyTorch's default")
    parser.add_argument("--no-check", action="store_true", help="skip the PyTorch check")
    args = parser.parse_args()
    raise_heap_thresholds()
    print(f"numpy {np.__version__}, OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}"
          f", {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
    if not args.no_check:
        check_against_torch(args.torch_python)
    model = ResNet18()
    print(f"the authors' ResNet-18: {model.num_params:,} parameters, "
          f"{model.multiply_adds / 1e6:.1f} M multiply-adds per 32x32 image; {args.dtype}")
    rng = np.random.default_rng(0)
    dtype = np.dtype(args.dtype)
    header = (f"{'batch':>5} | {'basic':>8} {'adaptive':>8} {'5 x fwd':>8} {'stacked':>8} "
              f"{'torch':>8} | {'basic/torch':>11} {'adapt/basic':>11} {'stack/5fwd':>10}")
    rows = []
    largest = max(args.batches)
    for n in args.batches:
        w = model.init_params(rng, dtype)
        X = rng.standard_normal((n, 3, 32, 32)).astype(dtype)
        y = rng.integers(0, 10, n)
        fns = numpy_steps(model, w, X, y, rng)
        child = TorchChild([args.torch_python, WORKER, "time", str(n), args.dtype,
                            str(args.torch_threads)])
        steps = max(args.steps, args.steps * largest // (4 * n))
        rows.append((n, time_round_robin(fns, steps, warmup=1, torch=child if child.ok else None,
                                             torch_steps=2, torch_warmup=2)))
        child.close()
    print("median ms per step\n" + header + "\n" + "-" * len(header))
    for n, t in rows:
        tt = t.get("torch", float("nan"))
        print(f"{n:>5} | {t['basic']:8.0f} {t['adaptive']:8.0f} {t['5 x fwd']:8.0f} "
              f"{t['stacked']:8.0f} {tt:8.0f} | {t['basic'] / tt:11.2f} "
              f"{t['adaptive'] / t['basic']:11.2f} {t['stacked'] / t['5 x fwd']:10.2f}")
    w = model.init_params(rng, dtype)
    X = rng.standard_normal((largest, 3, 32, 32)).astype(dtype)
    fns = numpy_steps(model, w, X, rng.integers(0, 10, largest), rng)
    print(f"peak traced memory at batch {largest}, {args.dtype}: basic step "
          f"{peak_memory_mb(fns['basic']):.0f} MiB, adaptive step "
          f"{peak_memory_mb(fns['adaptive']):.0f} MiB")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"max resident set size of this process: {rss:.0f} MiB")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()

"""The training loop: SGD with a learning-rate controller, and its history.

One step ``k`` on a batch ``B`` (the paper's Sec. 4.1):

1. ``noise = model.sample_noise(rng, |B|)``: the step's random state, shared by the gradient and
   every probe (DESIGN.md, idea 3);
2. ``L(k), g = model.loss_and_grad(w, B)``; the direction is ``d = direction(g)``: ``d = g``
   for SGD (the default), Adam's direction for Sec. 5.4 (:mod:`adaptive_lr.directions`);
3. ``phi = Probe(model, w, d, B')`` with ``B' = B`` (Eq. 4) or a held-out validation batch
   (Eq. 23, Sec. 5.3);
4. ``eta = controller.step(g, phi)``; ``w <- w - eta * d``.

Everything random comes from one seeded ``numpy.random.Generator``: the same seed gives the same
history, bit for bit. A step whose loss or new weights are not finite is not applied: the run
stops, says so in ``history.diverged`` (naming the iteration and the rate) and keeps the last
finite weights.

Checkpoints (:mod:`adaptive_lr.checkpoint`) are taken at *epoch boundaries*, after the epoch's
evaluation: every ``checkpoint_every`` epochs, after the last epoch and when a callback stops the
run. Each holds the weights, the controller's and the direction's state, the generator's state,
the epoch reached and the history. ``train(..., resume_from=path)`` continues from it to
``epochs`` (the total, not the number still to run); with the same data and arguments the result
is the uninterrupted run's, bit for bit (only the ``time`` column, a wall clock, differs).
A diverging run writes no checkpoint: the last one on disk is the last finite state.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from .checkpoint import CheckpointError, load_checkpoint, prefixed, save_checkpoint, unprefixed
from .directions import GradientDirection
from .nn.chunks import raise_heap_thresholds
from .probe import PassCounter, Probe

#: Steps after which a full-batch run recomputes its forward from scratch (see ``reuse``).
REFRESH_EVERY = 50

#: History fields saved per iteration / per evaluation, with their checkpoint dtypes.
_SERIES = {"lr": np.float64, "loss": np.float64, "epoch_of_iter": np.int64, "epoch": np.int64,
           "train_loss": np.float64, "train_acc": np.float64, "test_loss": np.float64,
           "test_acc": np.float64, "lr_epoch": np.float64, "time": np.float64}
#: At most about this many progress lines per run (every epoch when there are fewer epochs).
PROGRESS_LINES = 25


@dataclass
class History:
    """What a run did. Per iteration: ``lr`` (the rate used), ``loss`` (the batch loss at the
    weights before the step) and ``epoch_of_iter``. Per evaluation (index 0 is before training,
    then one per epoch): ``epoch``, ``train_loss``, ``train_acc``, ``test_loss``, ``test_acc``
    (``nan`` where it does not apply), ``lr_epoch`` (the controller's rate) and ``time``
    (seconds spent training so far, evaluations excluded). Counts: ``forward`` and ``backward``
    passes of the optimizer (:mod:`adaptive_lr.probe`), ``rejected`` controller updates."""

    lr: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    epoch_of_iter: list[int] = field(default_factory=list)
    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    lr_epoch: list[float] = field(default_factory=list)
    time: list[float] = field(default_factory=list)
    forward: int = 0
    backward: int = 0
    rejected: int = 0
    diverged: str | None = None

    def to_dict(self) -> dict:
        """Plain lists and numbers (JSON-ready; NaN stays NaN)."""
        return asdict(self)


@dataclass
class TrainResult:
    """The final weights ``w`` and the run's :class:`History`."""

    w: np.ndarray
    history: History


def evaluate(model, w, X, y, chunk: int | None = 2048) -> tuple[float, float]:
    """Mean loss and accuracy (``nan`` for a regression) of ``w`` on ``(X, y)``, in chunks of
    ``chunk`` rows so that large sets fit in memory; no dropout (``noise=None``)."""
    n = len(X)
    step = n if chunk is None else chunk
    total, correct = 0.0, 0
    for a in range(0, n, step):
        Xc, yc = X[a : a + step], y[a : a + step]
        total += model.loss(w, Xc, yc) * len(Xc)
        if model.task == "classification":
            correct += int(np.sum(model.predict(w, Xc) == yc))
    acc = correct / n if model.task == "classification" else math.nan
    return total / n, acc


def _check_data(X, y, name: str, dtype) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim < 2:
        raise ValueError(f"{name}: X must have a sample axis and feature axes, got shape {X.shape}")
    if len(X) != len(y):
        raise ValueError(f"{name}: X has {len(X)} rows but y has {len(y)} entries")
    if len(X) == 0:
        raise ValueError(f"{name}: no samples")
    X = np.ascontiguousarray(X, dtype=dtype)
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{name}: X contains NaN or inf")
    if np.issubdtype(y.dtype, np.floating) and not np.all(np.isfinite(y)):
        raise ValueError(f"{name}: y contains NaN or inf")
    return X, y


def _format_progress(epoch: int, epochs: int, hist: History) -> str:
    parts = [f"epoch {epoch}/{epochs}", f"loss {hist.train_loss[-1]:.4g}"]
    if not math.isnan(hist.train_acc[-1]):
        parts.append(f"acc {hist.train_acc[-1]:.4f}")
    if not math.isnan(hist.test_loss[-1]):
        parts.append(f"test_loss {hist.test_loss[-1]:.4g}")
    if not math.isnan(hist.test_acc[-1]):
        parts.append(f"test_acc {hist.test_acc[-1]:.4f}")
    parts += [f"eta {hist.lr_epoch[-1]:.4g}", f"time {hist.time[-1]:.1f}s"]
    return "  ".join(parts)


def _save_state(path, *, w, controller, direction, rng, epoch, iteration, train_time, hist,
                counter, forward) -> None:
    arrays = {"w": w}
    if forward is not None:  # the next step's forward, derived (see ``reuse`` in train)
        arrays["forward"] = forward
    arrays.update(prefixed("controller", controller.state_dict()))
    arrays.update(prefixed("direction", direction.state_dict()))
    arrays.update({f"history.{k}": np.asarray(getattr(hist, k), dtype=t)
                   for k, t in _SERIES.items()})
    meta = {"rng": rng.bit_generator.state, "epoch": epoch, "iteration": iteration,
            "train_time": train_time, "forward": counter.forward, "backward": counter.backward,
            "diverged": hist.diverged, "controller": type(controller).__name__,
            "direction": type(direction).__name__}
    save_checkpoint(path, arrays, meta)


def _restore_state(path, model, controller, direction, rng, dtype):
    arrays, meta = load_checkpoint(path)
    for what, obj in (("controller", controller), ("direction", direction)):
        if meta.get(what) != type(obj).__name__:
            raise CheckpointError(f"checkpoint {path} was written with {what} "
                                  f"{meta.get(what)}, this run uses {type(obj).__name__}")
    w = arrays.get("w")
    if w is None or w.shape != (model.num_params,) or w.dtype != dtype:
        got = None if w is None else (w.shape, str(w.dtype))
        raise CheckpointError(f"checkpoint {path}: weights {got} do not fit "
                              f"{model!r} in {dtype}")
    try:
        controller.load_state_dict(unprefixed("controller", arrays))
        direction.load_state_dict(unprefixed("direction", arrays))
        rng.bit_generator.state = meta["rng"]
        hist = History(**{k: arrays[f"history.{k}"].tolist() for k in _SERIES})
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path} is incomplete ({exc})") from None
    hist.diverged = meta.get("diverged")
    counter = PassCounter(int(meta["forward"]), int(meta["backward"]))
    forward = arrays.get("forward")
    return (w.copy(), hist, counter, int(meta["epoch"]), int(meta["iteration"]),
            float(meta["train_time"]), None if forward is None else forward.copy())


def train(model, controller, X, y, *, epochs: int = 1, batch_size: int | None = None,
          seed: int = 0, w0: np.ndarray | None = None, dtype=np.float64,
          X_test=None, y_test=None, X_val=None, y_val=None, probe_on: str = "train",
          eval_chunk: int | None = 2048, callback=None, direction=None,
          checkpoint_path=None, checkpoint_every: int = 1, resume_from=None,
          progress=None) -> TrainResult:
    """Train ``model`` with SGD whose rate comes from ``controller``.

    Parameters
    ----------
    model : Model
    controller : LearningRateController
    X, y : ndarray
        Training data, ``X`` of shape (N, ...) and ``y`` of shape (N,).
    epochs : int >= 0
        Passes over the training set (the total, also when resuming).
    batch_size : int or None
        Mini-batch size; ``None`` (or ``>= N``) for full-batch gradient descent, where the
        batch is the whole set in its original order.
    seed : int
        Seeds the one ``Generator`` behind the initial weights (unless ``w0``), the shuffles,
        the dropout masks and the validation batches.
    w0 : ndarray, optional
        Initial weights (copied); default ``model.init_params(rng, dtype)``.
    dtype : float32 or float64
        Precision of the weights and data (default float64, DESIGN.md idea 5).
    X_test, y_test : ndarray, optional
        Evaluated once per epoch, never trained on.
    X_val, y_val : ndarray, optional
        Held-out validation set for ``probe_on="validation"`` (Eq. 22-23): the probes of each
        step are evaluated on a random batch of it; the gradient never sees it.
    probe_on : {"train", "validation"}
        Which batch the controller's probe evaluates.
    eval_chunk : int or None
        Rows per chunk in evaluation.
    callback : callable, optional
        ``callback(epoch, history, w)`` after each epoch's evaluation; returning True stops.
    direction : callable, optional
        ``d = direction(grad)``, called once per step (:mod:`adaptive_lr.directions`); default
        :class:`~adaptive_lr.directions.GradientDirection` (SGD). The probe is built along ``d``.
    checkpoint_path : str or PathLike, optional
        Where to save checkpoints (an ``.npz``, replaced atomically each time).
    checkpoint_every : int >= 1
        Save every this many *epochs* (and after the last one).
    resume_from : str or PathLike, optional
        A checkpoint of the same run (same model, controller and direction classes, dtype and
        data) to continue from; ``w0`` and ``seed`` are then taken from it.
    progress : file-like, optional
        Receives a line per epoch (at most about :data:`PROGRESS_LINES` per run): loss,
        accuracy, eta and elapsed training time.

    Returns
    -------
    TrainResult
        ``w`` (the final, finite weights) and ``history``.
    """
    if isinstance(epochs, bool) or int(epochs) != epochs or epochs < 0:
        raise ValueError(f"epochs must be an integer >= 0, got {epochs!r}")
    if batch_size is not None and (int(batch_size) != batch_size or batch_size < 1):
        raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}")
    if probe_on not in ("train", "validation"):
        raise ValueError(f"probe_on must be 'train' or 'validation', got {probe_on!r}")
    if isinstance(checkpoint_every, bool) or int(checkpoint_every) != checkpoint_every \
            or checkpoint_every < 1:
        raise ValueError(f"checkpoint_every must be an integer >= 1, got {checkpoint_every!r}")
    dtype = np.dtype(dtype)
    X, y = _check_data(X, y, "training data", dtype)
    if X_test is not None:
        X_test, y_test = _check_data(X_test, y_test, "test data", dtype)
    if probe_on == "validation":
        if X_val is None:
            raise ValueError("probe_on='validation' needs X_val and y_val")
        X_val, y_val = _check_data(X_val, y_val, "validation data", dtype)
    direction = GradientDirection() if direction is None else direction

    # once per process: keep the step's large temporaries (logits of a full batch, im2col) in
    # malloc's heap instead of page-faulting them afresh every step (adaptive_lr.nn.chunks)
    raise_heap_thresholds()
    rng = np.random.default_rng(seed)
    if resume_from is not None:
        w, hist, counter, start, iteration, train_time, next_forward = _restore_state(
            resume_from, model, controller, direction, rng, dtype)
    else:
        w = model.init_params(rng, dtype) if w0 is None else np.array(w0, dtype=dtype)
        if not np.all(np.isfinite(w)):
            raise ValueError("w0 contains NaN or inf")
        hist, counter, start, iteration, train_time = History(), PassCounter(), 0, 0, 0.0
        next_forward = None
    n = len(X)
    full_batch = batch_size is None or batch_size >= n
    bs = n if full_batch else int(batch_size)

    def record_epoch(epoch: int) -> bool:
        tl, ta = evaluate(model, w, X, y, eval_chunk)
        hist.epoch.append(epoch)
        hist.train_loss.append(tl)
        hist.train_acc.append(ta)
        if X_test is not None:
            vl, va = evaluate(model, w, X_test, y_test, eval_chunk)
        else:
            vl, va = math.nan, math.nan
        hist.test_loss.append(vl)
        hist.test_acc.append(va)
        hist.lr_epoch.append(controller.lr)
        hist.time.append(train_time)
        stride = max(1, math.ceil(epochs / PROGRESS_LINES))
        if progress is not None and (epoch % stride == 0 or epoch == epochs):
            print(_format_progress(epoch, epochs, hist), file=progress, flush=True)
        return bool(callback(epoch, hist, w)) if callback is not None else False

    def checkpoint(epoch: int) -> None:
        if checkpoint_path is not None:
            _save_state(checkpoint_path, w=w, controller=controller, direction=direction,
                        rng=rng, epoch=epoch, iteration=iteration, train_time=train_time,
                        hist=hist, counter=counter, forward=next_forward)

    stop = hist.diverged is not None
    if resume_from is None:
        stop = record_epoch(0)
        if stop or epochs == 0:
            checkpoint(0)
    w_new = np.empty_like(w)
    # Full batch, probes on it, a forward linear in w: the next step's forward X (w - eta d)
    # is X w - eta X d from the probe's products, one product with X fewer per step. It is
    # recomputed from scratch every REFRESH_EVERY steps, so rounding cannot accumulate, and
    # checkpoints carry it, so a resumed run stays bit for bit the uninterrupted one.
    reuse = full_batch and probe_on == "train" and getattr(model, "supports_forward_reuse",
                                                           False)
    for epoch in range(start + 1, epochs + 1):
        if stop:
            break
        t0 = time.perf_counter()
        order = None if full_batch else rng.permutation(n)
        for a in range(0, n, bs):
            if full_batch:
                Xb, yb = X, y
            else:
                idx = order[a : a + bs]
                Xb, yb = X[idx], y[idx]
            noise = model.sample_noise(rng, len(Xb))
            reused = {} if next_forward is None else {"forward": next_forward}
            loss, grad, cache = model.forward_backward(w, Xb, yb, noise=noise, **reused)
            counter.add(forward=1, backward=1)
            d = direction(grad)
            if probe_on == "validation":
                vidx = rng.integers(0, len(X_val), size=min(bs, len(X_val)))
                phi = Probe(model, w, d, X_val[vidx], y_val[vidx],
                            noise=model.sample_noise(rng, len(vidx)), counter=counter)
            else:
                phi = Probe(model, w, d, Xb, yb, noise=noise, cache=cache, counter=counter)
            eta = controller.step(grad, phi)
            hist.lr.append(eta)
            hist.loss.append(loss)
            hist.epoch_of_iter.append(epoch)
            iteration += 1
            np.multiply(d, w.dtype.type(eta), out=w_new)
            np.subtract(w, w_new, out=w_new)
            if not (math.isfinite(loss) and np.all(np.isfinite(w_new))):
                what = "loss" if not math.isfinite(loss) else "weights"
                before = f" (the step before used {hist.lr[-2]:.6g})" if len(hist.lr) > 1 else ""
                hist.diverged = (f"diverged at iteration {iteration} (epoch {epoch}): the {what} "
                                 f"became non-finite with learning rate {eta:.6g}{before}; "
                                 f"kept the last finite weights")
                break
            w, w_new = w_new, w
            next_forward = None
            if reuse and iteration % REFRESH_EVERY and phi.direction_cache is not None:
                next_forward = model.advance_forward(cache, phi.direction_cache, eta)
        train_time += time.perf_counter() - t0
        if hist.diverged:
            break
        stop = record_epoch(epoch)
        if stop or epoch == epochs or epoch % checkpoint_every == 0:
            checkpoint(epoch)
    hist.forward, hist.backward = counter.forward, counter.backward
    hist.rejected = controller.n_rejected
    return TrainResult(w=w, history=hist)

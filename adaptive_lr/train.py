"""The training loop: the paper's step (Sec. 4.1), repeated over the batches of each epoch.

One step ``k`` on a batch ``B`` (:func:`train_step`):

1. ``noise``: the step's random state (dropout masks), drawn once and shared by the gradient
   and every probe of the step, so that the finite differences see one function;
2. ``L(k), g(k)``: the loss and gradient at ``w(k)``; the direction is ``d = direction(g)``,
   ``d = g`` for SGD (the default), Adam's direction for Sec. 5.4 (:mod:`adaptive_lr.directions`);
3. ``phi(eta) = L(w(k) - eta d)``, the probe on ``B`` (Eq. 4) or on a held-out validation
   batch (Eq. 22-23, Sec. 5.3) (:func:`step_probe`);
4. ``eta(k) = controller.step(g, phi)``: the rate rule (Eq. 2; Eq. 6-8 or Eq. 16-21);
5. ``w(k+1) = w(k) - eta(k) d`` (Eq. 1, :func:`sgd_step`).

Every source of randomness has its own stream, spawned from the seed
(:class:`~adaptive_lr.run_state.Streams`): the same seed gives the same history, bit for bit,
and a run that differs only in its probe differs in nothing else. A step whose loss or new
weights are not finite is not applied: the run stops, says so in ``history.diverged`` (naming
the iteration and the rate) and keeps the last finite weights.

Checkpoints (:mod:`adaptive_lr.checkpoint`) are taken at *epoch boundaries*, after the epoch's
evaluation: every ``checkpoint_every`` epochs, after the last epoch and when a callback stops the
run. ``train(..., resume_from=path)`` continues from one to ``epochs`` (the total, not the number
still to run); with the same data and arguments the result is the uninterrupted run's, bit for
bit (only the ``time`` column, a wall clock, differs). A diverging run writes no checkpoint: the
last one on disk is the last finite state.
"""

from __future__ import annotations

import math
import time

import numpy as np

from .arguments import TrainData, check_train_arguments
from .checkpoint import restore_run, save_run
from .directions import GradientDirection
from .evaluation import evaluate, record_evaluation, report_progress, report_steps
from .history import History, TrainResult
from .probe import Probe, validation_batch
from .run_state import RunState, Streams

__all__ = ["History", "TrainResult", "evaluate", "sgd_step", "step_probe", "train",
           "train_step"]


def sgd_step(w: np.ndarray, eta: float, d: np.ndarray) -> np.ndarray:
    """Eq. 1 (and 5, 9): ``w(t+1) = w(t) - eta(t) d(t)``, with ``d = g(t)`` for SGD.

    Returns a new array: a ``w`` that a caller keeps is never overwritten by later steps.

    >>> sgd_step(np.array([1.0, 2.0]), 0.5, np.array([2.0, -2.0]))
    array([0., 3.])
    """
    return w - w.dtype.type(eta) * d


def step_probe(model, run: RunState, d, batch, noise, cache, validation) -> Probe:
    """The probe ``phi(eta) = L(w - eta d)`` of this step: on the step's own batch with its
    masks and forward cache (Eq. 4), or, with a ``validation`` set, on a fresh random batch of
    it, of the same size, with masks of its own (Eq. 22-23), both from the validation stream."""
    if validation is None:
        return Probe(model, run.w, d, *batch, noise=noise, cache=cache, state=run.model_state,
                     counter=run.counter)
    Xv, yv = validation_batch(*validation, len(batch[0]), run.streams.validation)
    noise_v = model.sample_noise(run.streams.validation, len(Xv))
    return Probe(model, run.w, d, Xv, yv, noise=noise_v, state=run.model_state,
                 counter=run.counter)


def train_step(model, run: RunState, batch, validation=None) -> bool:
    """One step of Sec. 4.1 on ``batch = (X, y)`` (module docstring); updates ``run``.

    Returns False, and applies nothing, when the loss or the new weights are not finite.
    """
    noise = model.sample_noise(run.streams.noise, len(batch[0]))  # one function per step
    out = model.forward_backward(run.w, *batch, noise=noise, state=run.model_state)  # L, g
    run.counter.add(forward=1, backward=1)
    d = run.direction(out.grad)  # d = g for SGD
    phi = step_probe(model, run, d, batch, noise, out.cache, validation)  # Eq. 4 / 22-23
    eta = run.controller.step(out.grad, phi)  # Eq. 2: the rate of this step
    w_next = sgd_step(run.w, eta, d)  # Eq. 1
    run.iteration += 1
    run.history.record_step(eta, out.loss, run.epoch + 1)
    if not (math.isfinite(out.loss) and np.all(np.isfinite(w_next))):
        run.history.diverged = _divergence(run, "loss" if not math.isfinite(out.loss)
                                           else "weights")
        return False
    run.w, run.model_state = w_next, out.state
    return True


def _divergence(run: RunState, what: str) -> str:
    lr = run.history.lr
    before = f" (the step before used {lr[-2]:.6g})" if len(lr) > 1 else ""
    return (f"diverged at iteration {run.iteration} (epoch {run.epoch + 1}): the {what} became "
            f"non-finite with learning rate {lr[-1]:.6g}{before}; kept the last finite weights")


def batches(data: TrainData, batch_size: int | None, rng: np.random.Generator):
    """The batches of one epoch: the whole set in its order (``batch_size=None``), else a new
    permutation cut into batches of ``batch_size`` (the last one may be smaller)."""
    if batch_size is None:
        yield data.X, data.y
        return
    order = rng.permutation(len(data.X))
    for a in range(0, len(order), batch_size):
        idx = order[a : a + batch_size]
        yield data.X[idx], data.y[idx]


def start_run(model, controller, direction, seed: int, w0, dtype) -> RunState:
    """A fresh run: the streams from ``seed``, the weights ``w0`` (copied) or drawn."""
    streams = Streams.from_seed(seed)
    w = model.init_params(streams.init, dtype) if w0 is None else np.array(w0, dtype=dtype)
    if not np.all(np.isfinite(w)):
        raise ValueError("w0 contains NaN or inf")
    return RunState(w=w, controller=controller, direction=direction, streams=streams,
                    model_state=model.init_state(dtype))


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
        Seeds the run's random streams (:class:`~adaptive_lr.run_state.Streams`): initial
        weights (unless ``w0``), shuffles, dropout masks, validation batches.
    w0 : ndarray, optional
        Initial weights (copied); default ``model.init_params(rng, dtype)``.
    dtype : float32 or float64
        Precision of the weights and data (default float64: see ``docs/design.md``).
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
        ``w`` is that epoch's weights; later steps never write into it.
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
        Receives a line per epoch (at most about 25 per run): loss, accuracy, eta, elapsed
        training time and the evaluation's time; and, within an epoch longer than 10 s, the
        step reached (:func:`~adaptive_lr.evaluation.report_steps`).

    Returns
    -------
    TrainResult
        ``w`` (the final, finite weights), ``history`` and ``model_state``.
    """
    dtype = np.dtype(dtype)
    data, batch_size = check_train_arguments(
        X, y, epochs=epochs, batch_size=batch_size, probe_on=probe_on,
        checkpoint_every=checkpoint_every, dtype=dtype, X_test=X_test, y_test=y_test,
        X_val=X_val, y_val=y_val)
    direction = GradientDirection() if direction is None else direction
    run = start_run(model, controller, direction, seed, w0, dtype)
    if resume_from is not None:
        run = restore_run(resume_from, run, model.num_params)
    stop = run.history.diverged is not None
    if resume_from is None:
        stop = _end_of_epoch(run, model, data, epochs, eval_chunk, callback, progress)
        if stop or epochs == 0:
            _checkpoint(checkpoint_path, run)
    steps = 1 if batch_size is None else math.ceil(len(data.X) / batch_size)
    while not stop and run.epoch < epochs:
        t0 = time.perf_counter()
        finite = all(train_step(model, run, batch, data.validation)
                     for batch in report_steps(progress, run, epochs, steps,
                                               batches(data, batch_size, run.streams.shuffle)))
        run.train_time += time.perf_counter() - t0
        if not finite:
            break
        run.epoch += 1
        stop = _end_of_epoch(run, model, data, epochs, eval_chunk, callback, progress)
        if stop or run.epoch == epochs or run.epoch % checkpoint_every == 0:
            _checkpoint(checkpoint_path, run)
    hist = run.history
    hist.forward, hist.backward = run.counter.forward, run.counter.backward
    hist.rejected = run.controller.n_rejected
    return TrainResult(w=run.w, history=hist, model_state=run.model_state)


def _end_of_epoch(run, model, data, epochs, eval_chunk, callback, progress) -> bool:
    """Evaluate, report, and ask the callback whether to stop."""
    t0 = time.perf_counter()
    record_evaluation(run, model, data, run.epoch, eval_chunk)
    report_progress(progress, run.epoch, epochs, run.history, time.perf_counter() - t0)
    return bool(callback(run.epoch, run.history, run.w)) if callback is not None else False


def _checkpoint(path, run: RunState) -> None:
    if path is not None:
        save_run(path, run)

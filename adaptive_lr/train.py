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
and a run that differs only in its probe differs in nothing else.

Divergence: a step whose batch loss or new weights are not finite is not applied, and an epoch
whose training loss is not finite ends the run too; the run stops, says so in
``history.diverged`` and returns the last weights whose loss was evaluated finite
(:mod:`adaptive_lr.divergence`).

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

from .arguments import (
    TrainData,
    check_float_dtype,
    check_instance,
    check_int,
    check_optional_count,
    check_path,
    check_real_array,
    check_train_arguments,
    describe,
)
from .checkpoint import describe_run, restore_run, save_run
from .directions import GradientDirection
from .divergence import describe_divergence, keep_last_finite
from .evaluation import evaluate, record_evaluation, report_progress, report_steps
from .history import History, TrainResult
from .probe import Probe, validation_batch
from .registry import DIRECTIONS, make_direction
from .run_state import Kept, RunState, Streams

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

    Returns False, and applies nothing, when the loss or the new weights are not finite
    (``run.history.diverged`` says which; :func:`train` then restores the last finite weights).
    """
    noise = model.sample_noise(run.streams.noise, len(batch[0]))  # one function per step
    out = model.forward_backward(run.w, *batch, noise=noise, state=run.model_state)  # L, g
    run.counter.add(forward=1, backward=1)
    if math.isfinite(out.loss):
        run.finite = Kept(run.w, run.model_state, run.iteration)
    d = check_direction_output(run.direction(out.grad), out.grad)  # d = g for SGD
    phi = step_probe(model, run, d, batch, noise, out.cache, validation)  # Eq. 4 / 22-23
    eta = check_rate(run.controller.step(out.grad, phi), run.controller)  # Eq. 2
    w_next = sgd_step(run.w, eta, d)  # Eq. 1
    run.iteration += 1
    run.history.record_step(eta, out.loss, run.epoch + 1)
    run.history.internals.append(dict(getattr(run.controller, "last_info", {})))
    if not (math.isfinite(out.loss) and np.all(np.isfinite(w_next))):
        what = "batch loss" if not math.isfinite(out.loss) else "weights"
        run.history.diverged = describe_divergence(run, what, run.epoch + 1)
        return False
    run.w, run.model_state = w_next, out.state
    return True


def check_direction_output(d, grad: np.ndarray) -> np.ndarray:
    """``d = direction(grad)`` must be an array of ``grad``'s shape and dtype."""
    if not isinstance(d, np.ndarray) or d.shape != grad.shape or d.dtype != grad.dtype:
        got = (f"{d.dtype} of shape {d.shape}" if isinstance(d, np.ndarray)
               else describe(d))
        raise ValueError(f"direction(grad) must return an array like grad ({grad.dtype} of "
                         f"shape {grad.shape}), got {got}")
    return d


def check_rate(eta, controller) -> float:
    """The rate a controller returned: a finite real number ``>= 0`` (every controller of the
    package keeps its rates so, Eq. 19; a NaN here would pass for a divergence of the weights)."""
    if isinstance(eta, (bool, np.bool_)) or not isinstance(
            eta, (int, float, np.integer, np.floating)) or not math.isfinite(eta) or eta < 0:
        raise ValueError(f"controller.step must return a finite learning rate >= 0; "
                         f"{type(controller).__name__} returned {describe(eta)}")
    return float(eta)


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
    if w0 is None:
        w = model.init_params(streams.init, dtype)
    else:
        w = check_real_array("w0", w0)
        if w.shape != (model.num_params,):
            raise ValueError(f"w0 must have shape ({model.num_params},), the model's "
                             f"parameters, got {w.shape}")
        w = np.array(w, dtype=dtype)
    if not np.all(np.isfinite(w)):
        raise ValueError("w0 contains NaN or inf")
    return RunState(w=w, controller=controller, direction=direction, streams=streams,
                    model_state=model.init_state(dtype))


#: What :func:`train` uses of a model, a controller.
MODEL_METHODS = ("init_params", "init_state", "sample_noise", "forward_backward", "loss",
                 "line_losses", "predict")
CONTROLLER_METHODS = ("step", "state_dict", "load_state_dict")


def check_parts(model, controller, direction, callback, progress, checkpointing: bool):
    """The objects a run is made of, or a ``TypeError`` naming the one that is not what
    :func:`train` needs; ``direction`` may be a name of :data:`~adaptive_lr.registry.DIRECTIONS`
    (built with its default options). Returns the direction."""
    check_instance("model", model, MODEL_METHODS, "an adaptive_lr model (LinearRegression, "
                   "LogisticRegression, LeNet or a Model subclass)")
    check_instance("controller", controller, CONTROLLER_METHODS,
                   "a learning-rate controller such as FixedLR(0.1) or SecondOrderLR(0.01) "
                   "(adaptive_lr.registry.make_controller builds one by name)")
    if direction is None:
        direction = GradientDirection()
    elif isinstance(direction, str):
        direction = make_direction(direction)
    else:
        check_instance("direction", direction, ("__call__",),
                       f"a step direction such as AdamDirection() (or one of the names "
                       f"{', '.join(map(repr, DIRECTIONS))})")
    if checkpointing and not all(callable(getattr(direction, m, None))
                                 for m in ("state_dict", "load_state_dict")):
        raise TypeError("checkpoints need a direction with state_dict() and load_state_dict() "
                        f"(GradientDirection, AdamDirection, ...), got {describe(direction)}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable(epoch, history, w), got {describe(callback)}")
    if progress is not None and not callable(getattr(progress, "write", None)):
        raise TypeError(f"progress must be a file-like object (with write), got "
                        f"{describe(progress)}")
    return direction


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
    seed : int >= 0
        Seeds the run's random streams (:class:`~adaptive_lr.run_state.Streams`): initial
        weights (unless ``w0``), shuffles, dropout masks, validation batches. Required to be an
        integer (not ``None``): a run is reproducible from its arguments.
    w0 : ndarray, optional
        Initial weights (copied); default ``model.init_params(rng, dtype)``.
    dtype : float32 or float64
        Precision of the weights and data (default float64: see ``docs/design.md``). Data of
        any real dtype (integers, float16, float32, float64) is cast to it; bool, complex,
        object and string arrays are refused, and so is float16 arithmetic.
    X_test, y_test : ndarray, optional
        Evaluated once per epoch, never trained on.
    X_val, y_val : ndarray, optional
        Held-out validation set for ``probe_on="validation"`` (Eq. 22-23): the probes of each
        step are evaluated on a random batch of it; the gradient never sees it. A row of
        ``X_val`` equal to a row of ``X`` is a ``ValueError``. Unused with ``probe_on="train"``.
    probe_on : {"train", "validation"}
        Which batch the controller's probe evaluates.
    eval_chunk : int >= 1 or None
        Rows per chunk in evaluation (``None``: the whole set at once).
    callback : callable, optional
        ``callback(epoch, history, w)`` after each epoch's evaluation; returning True stops.
        ``w`` is that epoch's weights; later steps never write into it.
    direction : callable or str, optional
        ``d = direction(grad)``, called once per step (:mod:`adaptive_lr.directions`), an array
        of ``grad``'s shape and dtype; default :class:`~adaptive_lr.directions.GradientDirection`
        (SGD). A name (``"gradient"``, ``"averaged"``, ``"adam"``) builds the direction of
        :func:`~adaptive_lr.registry.make_direction` with its default options. The probe is
        built along ``d``.
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
        ``w`` (the final, finite weights; after a divergence the last ones whose loss was
        evaluated finite, see the module docstring), ``history`` and ``model_state``.

    Raises
    ------
    TypeError, ValueError
        For bad arguments, naming the argument; ``ValueError`` also when the training loss at
        the initial weights is not finite (there are no finite weights to keep).
    """
    dtype = check_float_dtype(dtype)
    check_int("seed", seed, 0)
    eval_chunk = check_optional_count("eval_chunk", eval_chunk, 1)
    check_path("checkpoint_path", checkpoint_path)
    check_path("resume_from", resume_from)
    direction = check_parts(model, controller, direction, callback, progress,
                            checkpoint_path is not None or resume_from is not None)
    data, batch_size = check_train_arguments(
        X, y, epochs=epochs, batch_size=batch_size, probe_on=probe_on,
        checkpoint_every=checkpoint_every, dtype=dtype, X_test=X_test, y_test=y_test,
        X_val=X_val, y_val=y_val, model=model)
    settings = None  # what a checkpoint records and a resume must match
    if checkpoint_path is not None or resume_from is not None:
        settings = describe_run(model, controller, direction, data, dtype=dtype,
                                batch_size=batch_size, probe_on=probe_on)
    run = start_run(model, controller, direction, seed, w0, dtype)
    if resume_from is not None:
        run = restore_run(resume_from, run, model.num_params, settings, epochs)
        last = run.history.train_loss[-1] if run.history.train_loss else math.nan
        run.evaluated = Kept(run.w, run.model_state, run.iteration, last)
    stop = run.history.diverged is not None
    if resume_from is None:
        stop = _end_of_epoch(run, model, data, epochs, eval_chunk, callback, progress)
        if stop or epochs == 0:
            _checkpoint(checkpoint_path, run, settings)
    steps = 1 if batch_size is None else math.ceil(len(data.X) / batch_size)
    while not stop and run.epoch < epochs:
        t0 = time.perf_counter()
        finite = all(train_step(model, run, batch, data.validation)
                     for batch in report_steps(progress, run, epochs, steps,
                                               batches(data, batch_size, run.streams.shuffle)))
        run.train_time += time.perf_counter() - t0
        if finite:
            run.epoch += 1
            stop = _end_of_epoch(run, model, data, epochs, eval_chunk, callback, progress)
        if run.history.diverged is not None:  # no checkpoint: the last one is finite
            keep_last_finite(run, model, data, eval_chunk)
            break
        if stop or run.epoch == epochs or run.epoch % checkpoint_every == 0:
            _checkpoint(checkpoint_path, run, settings)
    hist = run.history
    hist.forward, hist.backward = run.counter.forward, run.counter.backward
    hist.rejected = run.controller.n_rejected
    return TrainResult(w=run.w, history=hist, model_state=run.model_state)


def _end_of_epoch(run, model, data, epochs, eval_chunk, callback, progress) -> bool:
    """Evaluate, report, and ask the callback whether to stop. A non-finite training loss is a
    divergence (``history.diverged``; no callback), except before training, where it is an
    error."""
    t0 = time.perf_counter()
    with np.errstate(over="ignore"):  # an overflow is reported as a divergence below
        record_evaluation(run, model, data, run.epoch, eval_chunk)
    report_progress(progress, run.epoch, epochs, run.history, time.perf_counter() - t0)
    loss = run.history.train_loss[-1]
    if not math.isfinite(loss):
        if run.epoch == 0:
            raise ValueError(f"the training loss at the initial weights is {loss}: there are "
                             f"no finite weights to start from (scale X, or give a smaller w0)")
        run.history.diverged = describe_divergence(run, "training loss", run.epoch)
        return True
    run.evaluated = Kept(run.w, run.model_state, run.iteration, loss)
    return bool(callback(run.epoch, run.history, run.w)) if callback is not None else False


def _checkpoint(path, run: RunState, settings) -> None:
    if path is not None:
        save_run(path, run, settings)

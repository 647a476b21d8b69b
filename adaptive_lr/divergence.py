"""What a run keeps when it diverges: the last weights whose loss was evaluated finite.

A step whose batch loss or new weights are not finite is not applied, and an epoch whose
evaluation gives a non-finite training loss (an overflow in the mean of finite batch losses, or
weights that the last step made too large) ends the run too. The run stops, says so in
``history.diverged`` (naming the iteration and the rate) and returns the last weights whose loss
was evaluated finite: those of the last finite batch loss if the training loss at them is finite
too (one extra evaluation, made only then), else those of the last finite epoch evaluation.
``history.kept_iteration`` says after how many updates they were reached.

:func:`adaptive_lr.train.train_step` remembers the weights of each finite batch loss
(``run.finite``), the end of each epoch those of a finite training loss (``run.evaluated``),
both as a :class:`~adaptive_lr.run_state.Kept`.
"""

from __future__ import annotations

import math

import numpy as np

from .arguments import TrainData
from .evaluation import evaluate
from .run_state import Kept, RunState


def describe_divergence(run: RunState, what: str, epoch: int) -> str:
    """``history.diverged``: where the run diverged, ``what`` became non-finite and the rate
    of the last step (and of the one before)."""
    lr = run.history.lr
    before = f" (the step before used {lr[-2]:.6g})" if len(lr) > 1 else ""
    return (f"diverged at iteration {run.iteration} (epoch {epoch}): the {what} became "
            f"non-finite with learning rate {lr[-1]:.6g}{before}")


def keep_last_finite(run: RunState, model, data: TrainData, eval_chunk) -> None:
    """After a divergence: back to the last weights whose loss was evaluated finite, the last
    finite batch loss's if the training loss there is finite, else the last finite
    evaluation's (module docstring); ``history`` says which."""
    kept, batch = run.evaluated, run.finite
    if batch is not None and batch.iteration > kept.iteration:
        with np.errstate(over="ignore", invalid="ignore"):
            loss, _ = evaluate(model, batch.w, data.X, data.y, eval_chunk,
                               state=batch.model_state)
        if math.isfinite(loss):
            kept = Kept(batch.w, batch.model_state, batch.iteration, loss)
    run.w, run.model_state = kept.w, kept.model_state
    hist = run.history
    hist.kept_iteration = kept.iteration
    hist.diverged += (f"; kept the last finite weights, those after iteration {kept.iteration} "
                      f"(training loss {kept.loss:.6g})")

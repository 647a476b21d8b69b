"""What a training run records: its :class:`History`, and the :class:`TrainResult` of ``train``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

#: History fields saved per iteration / per evaluation, with their checkpoint dtypes.
SERIES = {"lr": np.float64, "loss": np.float64, "epoch_of_iter": np.int64, "epoch": np.int64,
          "train_loss": np.float64, "train_acc": np.float64, "test_loss": np.float64,
          "test_acc": np.float64, "lr_epoch": np.float64, "time": np.float64}


@dataclass
class History:
    """What a run did.

    Per iteration: ``lr`` (the rate of that step's update), ``loss`` (the batch loss at the
    weights before the step) and ``epoch_of_iter``. Per evaluation (index 0 is before training,
    then one per epoch): ``epoch``, ``train_loss``, ``train_acc``, ``test_loss``, ``test_acc``
    (``nan`` where it does not apply), ``lr_epoch`` (``controller.lr``: the rate of the epoch's
    last update; the initial rate at index 0) and ``time`` (seconds spent training so far,
    evaluations excluded). Counts: ``forward`` and ``backward`` passes of the optimizer
    (:mod:`adaptive_lr.probe`), ``rejected`` controller updates. ``internals``: per iteration, the
    controller's ``last_info`` (its rule's internals; not in :meth:`to_dict`, nor kept by
    checkpoints).

    ``diverged`` is ``None``, or the message of a run that stopped because a loss or the weights
    became non-finite (:mod:`adaptive_lr.train`); ``kept_iteration`` then says which weights the
    run returned: those after that many updates (0: the initial weights). When they come from
    a step, ``loss[kept_iteration]`` is the finite batch loss evaluated at them.
    """

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
    internals: list[dict] = field(default_factory=list)  #: controller.last_info, per iteration
    forward: int = 0
    backward: int = 0
    rejected: int = 0
    diverged: str | None = None
    kept_iteration: int | None = None

    def record_step(self, eta: float, loss: float, epoch: int) -> None:
        """One iteration: the rate used, the batch loss before the step, its epoch."""
        self.lr.append(float(eta))
        self.loss.append(float(loss))
        self.epoch_of_iter.append(int(epoch))

    def to_dict(self) -> dict:
        """Plain lists and numbers (JSON-ready; NaN stays NaN), ``internals`` left out."""
        return {k: v for k, v in asdict(self).items() if k != "internals"}


@dataclass
class TrainResult:
    """The final weights ``w`` (finite), the run's :class:`History` and the model's final
    non-parameter state (``None`` for models without one)."""

    w: np.ndarray
    history: History
    model_state: dict | None = None

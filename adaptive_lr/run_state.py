"""What a training run carries from step to step: weights, controller, direction, random streams,
counters and history, in one record (:class:`RunState`) that a checkpoint saves and restores."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .history import History
from .probe import PassCounter

#: The independent random streams of a run, in the order they are spawned from the seed.
STREAMS = ("init", "shuffle", "noise", "validation")


@dataclass
class Streams:
    """One generator per source of randomness, spawned from one seed
    (``numpy.random.SeedSequence(seed).spawn``), so that changing one source changes nothing
    else: probing on a validation batch does not change the training batches' order, and
    dropout does not change the shuffle.

    * ``init``: the initial weights (unless ``w0`` is given);
    * ``shuffle``: the order of the training examples, one permutation per epoch;
    * ``noise``: the step's random state (dropout masks), shared by the gradient and the probes;
    * ``validation``: the held-out probe batches of Eq. 22-23 and their masks.
    """

    init: np.random.Generator
    shuffle: np.random.Generator
    noise: np.random.Generator
    validation: np.random.Generator

    @classmethod
    def from_seed(cls, seed: int) -> Streams:
        children = np.random.SeedSequence(seed).spawn(len(STREAMS))
        return cls(*(np.random.default_rng(child) for child in children))

    def get_state(self) -> dict:
        """The bit generators' states (JSON-ready dicts of ints and strings)."""
        return {name: getattr(self, name).bit_generator.state for name in STREAMS}

    def set_state(self, states: dict) -> None:
        for name in STREAMS:
            getattr(self, name).bit_generator.state = states[name]


@dataclass
class Kept:
    """Weights whose loss was evaluated finite: a batch loss (``loss is None``) or the
    training loss of an evaluation (``loss``). References, not copies: the training loop
    replaces ``w`` and the model state, it never writes into them."""

    w: np.ndarray
    model_state: dict | None
    iteration: int  #: the weights after this many updates (0: the initial weights)
    loss: float | None = None  #: the training loss, when an evaluation found it finite


@dataclass
class RunState:
    """Everything a run needs to take its next step, and what it has done so far."""

    w: np.ndarray  #: the weights (a flat vector; replaced, never written in place)
    controller: object  #: the learning-rate controller (its own typed state inside)
    direction: object  #: the step direction (state inside)
    streams: Streams
    model_state: dict | None = None  #: the model's non-parameter state
    history: History = field(default_factory=History)
    counter: PassCounter = field(default_factory=PassCounter)
    epoch: int = 0  #: epochs completed
    iteration: int = 0  #: steps taken
    train_time: float = 0.0  #: seconds spent in steps (evaluations excluded)
    finite: Kept | None = None  #: the last weights whose batch loss was finite
    evaluated: Kept | None = None  #: the last weights whose training loss was finite

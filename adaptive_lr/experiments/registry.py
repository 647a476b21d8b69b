"""The paper's experiments by name, with the paper's hyperparameters and where each comes from.

An :class:`Experiment` names a model, a data set, the runs to compare and their
hyperparameters; ``sources`` says, for every value, whether it is the paper's (with its section)
or our choice. ``quick`` holds the overrides of ``--quick`` (a subset, fewer epochs, and for
ResNet-18 a smaller batch).

Run labels end in ``basic`` (a fixed rate) or ``adaptive`` (a learned rate), as the paper's
legends do (Sec. 4.2: "legends with suffix _basic refer to simple SGD, ... _adaptive to our
adaptive SGD algorithm").
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Run:
    """One training run of an experiment.

    ``controller`` is ``"fixed"``, ``"first-order"``, ``"second-order"`` or ``"exact-newton"``;
    ``hyper`` holds its keyword arguments (``eta``, ``alpha``, ``eps``, ``delta``,
    ``delta_rule``, ``beta``). ``eta_from`` names an earlier run of the same experiment whose
    settled rate (median over its last epoch) replaces ``eta`` (Sec. 5.1).
    """

    label: str
    controller: str
    hyper: dict
    direction: str = "gradient"
    probe_on: str = "train"
    eta_from: str | None = None


@dataclass(frozen=True)
class Experiment:
    name: str
    title: str
    paper: str
    model: str
    dataset: str
    batch_size: int | None
    epochs: int
    runs: tuple[Run, ...]
    sources: dict
    quick: dict = field(default_factory=dict)
    val_size: float | None = None
    dropout: float = 0.0
    notes: str = ""


SECOND = {"eps": 1e-5, "delta": 1e-6, "delta_rule": "always"}
SECOND_SOURCES = {
    "eps": "1e-5, Sec. 4.2 and 6.1 (every experiment of the paper)",
    "delta": "1e-6, Sec. 4.1 ('a typical value of delta')",
    "delta_rule": "'always' (Eq. 18 as printed; docs/design.md, the delta rule); "
                  "--delta-rule if-zero for the authors' code",
}
LENET_SOURCES = {
    "model": "LeNet-5 with dropout after fc1 and fc2, Sec. 4.2.3",
    "dropout": "0.5: our choice (the paper does not give it; PyTorch's default)",
    "batch_size": "32, Sec. 4.2.3",
    "epochs": "50: about what Fig. 5 shows (test accuracy peaks by epoch 35 for the basic "
              "method, Sec. 4.2.3)",
    "data": "all of CIFAR-10 in the paper; the first 4000/1000 images when the data folder "
            "holds the subset",
}
LENET_QUICK = {"epochs": 1, "n_train": 256, "n_test": 128}
LENET_NOTE = ("The paper ran this on ResNet-18 with rate 0.1 and batch 256 (the experiment "
              "without the lenet- prefix); this variant runs it on LeNet with LeNet's reference "
              "settings (rate 0.01, batch 32), in seconds per epoch.")
RESNET_SOURCES = {
    "model": "the authors' ResNet-18 (neural_networks/resnet.py): 16-32-64-128 channels, "
             "strides 1-2-1-2, stem max pooling, BatchNorm (ResNet18 docstring)",
    "dropout": "Dropout2d 0.5 after layer2 and layer4: the authors' code (Sec. 6.4: 'We have "
               "tried to add dropout to the ResNet model')",
    "batch_size": "256, Sec. 4.2.3",
    "epochs": "50: about what Fig. 6 shows (the basic method plateaus after ~40 epochs)",
    "data": "all of CIFAR-10 in the paper; the first 4000/1000 images when the data folder "
            "holds the subset",
}
#: --quick: two steps of 32 (one step of the paper's 256 would show no rate but the initial one)
RESNET_QUICK = {"epochs": 1, "n_train": 64, "n_test": 32, "batch_size": 32}


def _resnet(name, title, paper, runs, sources, notes="", dataset="cifar10", **kw) -> Experiment:
    return Experiment(name=name, title=title, paper=paper, model="resnet18", dataset=dataset,
                      batch_size=256, epochs=50, runs=runs,
                      sources={**RESNET_SOURCES, **sources}, quick=dict(RESNET_QUICK),
                      dropout=0.5, notes=notes, **kw)


def _lenet(name, title, paper, runs, sources, notes="", **kw) -> Experiment:
    return Experiment(name=name, title=title, paper=paper, model="lenet", dataset="cifar10",
                      batch_size=32, epochs=50, runs=runs, sources={**LENET_SOURCES, **sources},
                      quick=dict(LENET_QUICK), dropout=0.5, notes=notes, **kw)


EXPERIMENTS: dict[str, Experiment] = {}


def _register(exp: Experiment) -> None:
    EXPERIMENTS[exp.name] = exp


_register(Experiment(
    name="boston", title="Linear regression on Boston Housing", paper="Sec. 4.2.1, Fig. 1-2",
    model="linear", dataset="boston", batch_size=None, epochs=500,
    runs=(Run("basic", "fixed", {"eta": 1e-6}),
          Run("first_order_adaptive", "first-order", {"eta": 1e-7, "alpha": 1e-9}),
          Run("adaptive", "second-order", {"eta": 1e-2, **SECOND})),
    sources={"batch_size": "full batch, Sec. 4.2.1", "split": "400/106, Sec. 4.2.1",
             "basic eta": "1e-6, Sec. 4.2.1 (after line search)",
             "first-order eta, alpha": "1e-7, 1e-9, Sec. 4.2.1 (after a double line search)",
             "second-order eta": "1e-2, Sec. 4.2.1", **SECOND_SOURCES,
             "epochs": "500 full-batch iterations: our choice (Fig. 1 shows a few hundred)",
             "loss": "half mean squared error: the paper's rates fit it, not the printed sum "
                     "(adaptive_lr/models/linear.py)"},
    quick={"epochs": 100},
))

_register(Experiment(
    name="mnist", title="Logistic regression on MNIST", paper="Sec. 4.2.2, Fig. 3-4",
    model="logistic", dataset="mnist", batch_size=32, epochs=10,
    runs=(Run("basic", "fixed", {"eta": 0.01}),
          Run("first_order_adaptive", "first-order", {"eta": 0.01, "alpha": 1e-6}),
          Run("adaptive", "second-order", {"eta": 0.01, **SECOND})),
    sources={"alpha": "1e-6, Sec. 4.2.2", **SECOND_SOURCES,
             "batch_size": "32: our choice (not given in the paper)",
             "eta": "0.01 for every run: our choice (not given in the paper)",
             "epochs": "10: our choice (not given in the paper)"},
    quick={"epochs": 2, "n_train": 2000, "n_test": 500},
))

_register(_lenet(
    "lenet", "LeNet on CIFAR-10", "Sec. 4.2.3, Fig. 5 and 7",
    (Run("basic", "fixed", {"eta": 0.01}),
     Run("adaptive", "second-order", {"eta": 0.01, **SECOND})),
    {"eta": "0.01 for both runs, Sec. 4.2.3 (the best fixed rate found)", **SECOND_SOURCES},
))

_register(_lenet(
    "lenet-momentum", "Second-order method with momentum on the rate", "Sec. 5.2, Fig. 12",
    (Run("basic", "fixed", {"eta": 0.01}),
     Run("momentum_adaptive", "second-order", {"eta": 0.01, **SECOND, "beta": 0.9})),
    {"beta": "0.9, Sec. 5.2 (Eq. 20-21)", "eta": "0.01: LeNet's reference, Sec. 4.2.3",
     **SECOND_SOURCES}, notes=LENET_NOTE,
))

_register(_lenet(
    "lenet-validation", "Probing the rate on a held-out validation batch", "Sec. 5.3, Fig. 13",
    (Run("basic", "fixed", {"eta": 0.01}),
     Run("validation_adaptive", "second-order", {"eta": 0.01, **SECOND}, probe_on="validation")),
    {"validation": "10% of the training set held out (disjoint; both runs train on the other "
                   "90%): our choice, the paper does not give the split (Eq. 22-23)",
     "eta": "0.01: LeNet's reference, Sec. 4.2.3", **SECOND_SOURCES},
    notes=LENET_NOTE, val_size=0.1,
))

_register(_lenet(
    "lenet-adam", "Adam with a fixed rate and with the adaptive rate", "Sec. 5.4, Fig. 14",
    (Run("adam_basic", "fixed", {"eta": 0.1}, direction="adam"),
     Run("adam_adaptive", "second-order", {"eta": 0.1, **SECOND}, direction="adam")),
    {"eta": "0.1 for both runs, Sec. 5.4 (Adam's default 1e-3 raised to 0.1)",
     "adam": "beta1 0.9, beta2 0.999, eps 1e-8: Adam's defaults (Kingma & Ba)",
     "direction": "the adaptive run probes along Adam's direction (the paper's conclusion)",
     **SECOND_SOURCES},
    notes=LENET_NOTE,
))

_register(_lenet(
    "lenet-learn-lr", "Learning the learning rate", "Sec. 5.1, Fig. 11",
    (Run("search_adaptive", "second-order", {"eta": 0.01, **SECOND}),
     Run("learned_basic", "fixed", {"eta": 0.01}, eta_from="search_adaptive"),
     Run("learned_adaptive", "second-order", {"eta": 0.01, **SECOND},
         eta_from="search_adaptive")),
    {"eta": "the search run starts at 0.01 (Sec. 4.2.3); the other two start from the median "
            "rate of its last epoch (Sec. 5.1)", **SECOND_SOURCES},
    notes=LENET_NOTE,
))


_register(_resnet(
    "resnet", "ResNet-18 on CIFAR-10, the reference experiment", "Sec. 4.2.3, Fig. 6 and 7",
    (Run("basic", "fixed", {"eta": 0.1}),
     Run("adaptive", "second-order", {"eta": 0.1, **SECOND})),
    {"eta": "0.1 for both runs, Sec. 4.2.3 ('the reference learning rate of 0.1 given by [4]')",
     **SECOND_SOURCES},
))

_register(_resnet(
    "resnet-lr0.01", "ResNet-18 on CIFAR-10 from rate 0.01", "Sec. 4.2.3, Fig. 8",
    (Run("basic", "fixed", {"eta": 0.01}),
     Run("adaptive", "second-order", {"eta": 0.01, **SECOND})),
    {"eta": "0.01 for both runs, Sec. 4.2.3 (Fig. 8)", **SECOND_SOURCES},
))

_register(_resnet(
    "resnet-first-order", "First-order method on ResNet-18", "Sec. 4.2.3, Fig. 9",
    (Run("basic", "fixed", {"eta": 0.1}),
     Run("first_order_adaptive", "first-order", {"eta": 0.1, "alpha": 1e-6})),
    {"eta": "0.1 for both runs, Sec. 4.2.3 (Fig. 9)",
     "alpha": "1e-6: our choice (the paper gives no alpha for ResNet; 1e-6 is its MNIST value, "
              "Sec. 4.2.2)"},
))

_register(_resnet(
    "resnet-cifar100", "ResNet-18 on CIFAR-100", "Sec. 4.2.3, Fig. 10",
    (Run("basic", "fixed", {"eta": 0.02}),
     Run("adaptive", "second-order", {"eta": 0.02, **SECOND})),
    {"eta": "0.02 for both runs, Sec. 4.2.3 ('after a line-search ... 0.02')",
     "data": "CIFAR-100 (50000/10000, fine labels) in the paper and here; no subset",
     **SECOND_SOURCES}, dataset="cifar100",
))

_register(_resnet(
    "learn-lr", "Learning the learning rate: ResNet-18 restarted at the learned rate",
    "Sec. 5.1, Fig. 11",
    (Run("basic", "fixed", {"eta": 0.05}),
     Run("adaptive", "second-order", {"eta": 0.05, **SECOND})),
    {"eta": "0.05 for both runs, Sec. 5.1 (the rate the 0.01 run of Fig. 8 settled on; "
            "lenet-learn-lr finds the rate with a search run instead)", **SECOND_SOURCES},
))

_register(_resnet(
    "momentum", "Second-order method with momentum on the rate", "Sec. 5.2, Fig. 12",
    (Run("basic", "fixed", {"eta": 0.1}),
     Run("momentum_adaptive", "second-order", {"eta": 0.1, **SECOND, "beta": 0.9})),
    {"beta": "0.9, Sec. 5.2 (Eq. 20-21)", "eta": "0.1: the reference experiment, Sec. 5.2",
     **SECOND_SOURCES},
))

_register(_resnet(
    "validation", "Probing the rate on a held-out validation batch", "Sec. 5.3, Fig. 13",
    (Run("basic", "fixed", {"eta": 0.1}),
     Run("validation_adaptive", "second-order", {"eta": 0.1, **SECOND}, probe_on="validation")),
    {"validation": "10% of the training set held out (disjoint; both runs train on the other "
                   "90%): our choice, the paper does not give the split (Eq. 22-23)",
     "eta": "0.1: the reference experiment, Sec. 5.3", **SECOND_SOURCES},
    val_size=0.1,
))

_register(_resnet(
    "adam", "Adam with a fixed rate and with the adaptive rate", "Sec. 5.4, Fig. 14",
    (Run("adam_basic", "fixed", {"eta": 0.1}, direction="adam"),
     Run("adam_adaptive", "second-order", {"eta": 0.1, **SECOND}, direction="adam")),
    {"eta": "0.1 for both runs, Sec. 5.4 (Adam's default 1e-3 raised to 0.1)",
     "adam": "beta1 0.9, beta2 0.999, eps 1e-8: Adam's defaults (Kingma & Ba)",
     "direction": "the adaptive run probes along Adam's direction (the paper's conclusion)",
     **SECOND_SOURCES},
))


def get_experiment(name: str) -> Experiment:
    """The experiment called ``name``; ``ValueError`` listing the known names otherwise."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose one of {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[name]

"""The ResNet-18 experiments: the paper's hyperparameters in the registry, the model in the
experiments' model table, and CIFAR-100 in ``load_data`` (from files in the official binary
layout, and the synthetic stand-in of ``--quick``). That every experiment runs in ``--quick``
mode and writes its files is ``test_experiments.py``'s check."""

import numpy as np
import pytest

from adaptive_lr import ResNet18
from adaptive_lr.experiments import EXPERIMENTS, load_data
from adaptive_lr.experiments import data as data_module
from adaptive_lr.experiments.build import make_model
from adaptive_lr.models.resnet import ResNetNoise

# (name, section, {run label: (controller, eta, extra)}, dataset)
PAPER = [
    ("resnet", "Fig. 6", {"basic": ("fixed", 0.1), "adaptive": ("second-order", 0.1)},
     "cifar10"),
    ("resnet-lr0.01", "Fig. 8", {"basic": ("fixed", 0.01), "adaptive": ("second-order", 0.01)},
     "cifar10"),
    ("resnet-first-order", "Fig. 9", {"basic": ("fixed", 0.1),
                                      "first_order_adaptive": ("first-order", 0.1)}, "cifar10"),
    ("resnet-cifar100", "Fig. 10", {"basic": ("fixed", 0.02), "adaptive": ("second-order", 0.02)},
     "cifar100"),
    ("learn-lr", "Fig. 11", {"basic": ("fixed", 0.05), "adaptive": ("second-order", 0.05)},
     "cifar10"),
    ("momentum", "Fig. 12", {"basic": ("fixed", 0.1), "momentum_adaptive": ("second-order", 0.1)},
     "cifar10"),
    ("validation", "Fig. 13", {"basic": ("fixed", 0.1),
                               "validation_adaptive": ("second-order", 0.1)}, "cifar10"),
    ("adam", "Fig. 14", {"adam_basic": ("fixed", 0.1), "adam_adaptive": ("second-order", 0.1)},
     "cifar10"),
]


@pytest.mark.parametrize("name, figure, runs, dataset", PAPER, ids=[p[0] for p in PAPER])
def test_resnet_experiments_carry_the_papers_hyperparameters(name, figure, runs, dataset):
    exp = EXPERIMENTS[name]
    assert exp.model == "resnet18" and exp.batch_size == 256 and exp.dataset == dataset
    assert figure in exp.paper and exp.dropout == 0.5
    assert {r.label: (r.controller, r.hyper["eta"]) for r in exp.runs} == runs
    for run in exp.runs:
        if run.controller == "second-order":
            assert run.hyper["eps"] == 1e-5
    by_label = {r.label: r for r in exp.runs}
    if name == "momentum":
        assert by_label["momentum_adaptive"].hyper["beta"] == 0.9
    if name == "validation":
        assert by_label["validation_adaptive"].probe_on == "validation" and exp.val_size
    if name == "adam":
        assert all(r.direction == "adam" for r in exp.runs)
    assert exp.quick["epochs"] == 1 and exp.quick["n_train"] <= 64


def test_lenet_variants_of_section_5_are_kept_under_their_own_names():
    for name in ("lenet-momentum", "lenet-validation", "lenet-adam", "lenet-learn-lr"):
        assert EXPERIMENTS[name].model == "lenet" and EXPERIMENTS[name].batch_size == 32


def test_the_model_table_builds_the_authors_resnet(tmp_path, monkeypatch):
    monkeypatch.setenv("ADAPTIVE_LR_DATA", str(tmp_path))  # no files: the stand-in
    data = load_data("cifar100", "images", n_train=8, n_test=4, allow_synthetic=True)
    model = make_model("resnet18", data, dropout=0.5)
    assert isinstance(model, ResNet18) and model.n_classes == 100
    assert model.widths == (16, 32, 64, 128) and model.dropout == 0.5
    assert isinstance(model.sample_noise(np.random.default_rng(0), 2), ResNetNoise)


def test_cifar100_synthetic_stand_in_has_100_classes(tmp_path, monkeypatch):
    monkeypatch.setenv("ADAPTIVE_LR_DATA", str(tmp_path))
    data = load_data("cifar100", "images", n_train=300, n_test=20, allow_synthetic=True)
    assert data.synthetic and "SYNTHETIC" in data.source and data.n_classes == 100
    assert data.X.shape == (300, 3, 32, 32) and data.y.max() > 10 and data.y.max() < 100
    with pytest.raises(FileNotFoundError, match="cifar-100"):
        load_data("cifar100", "images")


def test_cifar100_from_files_in_the_official_binary_layout(tmp_path, monkeypatch):
    """Small train.bin / test.bin files (1 coarse + 1 fine label byte + 3072 pixels a record);
    load_data reads the fine labels and scales pixels to [-1, 1]. The official loader insists on
    50000 / 10000 records, so the test lets it read the small files without that count."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "cifar100" / "cifar-100-binary"
    folder.mkdir(parents=True)
    parts = {}
    for name, n in (("train.bin", 6), ("test.bin", 3)):
        images = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
        coarse, fine = rng.integers(0, 20, n), rng.integers(0, 100, n)
        records = np.concatenate([coarse[:, None], fine[:, None], images.reshape(n, -1)], axis=1)
        (folder / name).write_bytes(records.astype(np.uint8).tobytes())
        parts[name] = (images, fine)
    monkeypatch.setenv("ADAPTIVE_LR_DATA", str(tmp_path))
    real = data_module.load_cifar100
    monkeypatch.setattr(data_module, "load_cifar100", lambda: real(verify=False))
    data = load_data("cifar100", "images")
    assert not data.synthetic and data.source.startswith("CIFAR-100") and data.n_classes == 100
    images, fine = parts["train.bin"]
    assert np.array_equal(data.y, fine) and np.array_equal(data.y_test, parts["test.bin"][1])
    np.testing.assert_allclose(data.X, (images / 255 - 0.5) / 0.5, rtol=1e-15)

"""Run an experiment's runs, then write its CSV, JSON and figures into ``OUT/NAME/``, and last
its ``manifest.json`` (:mod:`.outputs`): a folder holds the files of one run, never a mix."""

from __future__ import annotations

import math
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..datasets import validation_split
from ..registry import make_controller, make_direction
from ..train import train
from .build import MODEL_LAYOUT, make_model, parse_dtype, settled_rate
from .data import load_data
from .outputs import (
    begin_results,
    finish_results,
    write_epochs_csv,
    write_iterations_csv,
    write_json,
)
from .registry import Experiment, Run, get_experiment


def summarize(history, wall: float) -> dict:
    """Final and best numbers of a run, its settled rate and its costs."""
    test_acc = np.asarray(history.test_acc, dtype=np.float64)
    test_loss = np.asarray(history.test_loss, dtype=np.float64)
    best = {}
    if np.any(np.isfinite(test_acc)):
        i = int(np.nanargmax(test_acc))
        best = {"best_test_acc": float(test_acc[i]), "best_epoch": int(history.epoch[i]),
                "time_to_best": float(history.time[i])}
    elif np.any(np.isfinite(test_loss)):
        i = int(np.nanargmin(test_loss))
        best = {"best_test_loss": float(test_loss[i]), "best_epoch": int(history.epoch[i]),
                "time_to_best": float(history.time[i])}
    return {"epochs": int(history.epoch[-1]), "iterations": len(history.lr),
            "final_train_loss": history.train_loss[-1], "final_train_acc": history.train_acc[-1],
            "final_test_loss": history.test_loss[-1], "final_test_acc": history.test_acc[-1],
            **best, "settled_lr": settled_rate(history) if history.lr else math.nan,
            "train_seconds": history.time[-1], "wall_seconds": wall,
            "forward": history.forward, "backward": history.backward,
            "rejected": history.rejected, "diverged": history.diverged}


def run_training(model, controller, data, *, label: str, out_dir: Path, epochs: int,
                 batch_size, seed: int, dtype, direction: str = "gradient",
                 probe_on: str = "train", X_val=None, y_val=None,
                 checkpoint_every: int | None = None, resume: bool = False,
                 progress=None, log=None):
    """One run with checkpoints in ``out_dir/checkpoint_<label>.npz``; returns its history.

    ``resume=True`` continues from that checkpoint when it exists (and then checkpoints every
    epoch unless ``checkpoint_every`` says otherwise); otherwise the run starts afresh.
    """
    ckpt = out_dir / f"checkpoint_{label}.npz"
    resume_from = None
    if resume:
        if ckpt.is_file():
            resume_from = ckpt
            if log:
                log(f"  resuming {label} from {ckpt}")
        elif log:
            log(f"  no checkpoint {ckpt}: starting {label} from scratch")
        checkpoint_every = checkpoint_every or 1
    # A diverging run overflows before it stops; train() reports it in history.diverged, so
    # NumPy's overflow warnings would only repeat it, less clearly.
    with np.errstate(over="ignore", invalid="ignore"):
        result = train(model, controller, data.X, data.y, epochs=epochs,
                       batch_size=batch_size, seed=seed, dtype=dtype, X_test=data.X_test,
                       y_test=data.y_test, X_val=X_val, y_val=y_val, probe_on=probe_on,
                       direction=make_direction(direction),
                       checkpoint_path=ckpt if checkpoint_every else None,
                       checkpoint_every=checkpoint_every or 1, resume_from=resume_from,
                       progress=progress)
    if result.history.diverged and log:
        log(f"  {label}: {result.history.diverged}")
    return result.history


def write_run_files(out_dir: Path, label: str, history) -> list[Path]:
    return [write_iterations_csv(out_dir / f"history_{label}.csv", history),
            write_epochs_csv(out_dir / f"epochs_{label}.csv", history)]


def experiment_data(exp: Experiment, *, n_train, n_test, quick: bool, dtype, seed: int):
    """The experiment's data, and its held-out validation set (``None`` without one), split off
    the training set once, up front, so that no run trains on it."""
    data = load_data(exp.dataset, MODEL_LAYOUT[exp.model], n_train=n_train, n_test=n_test,
                     allow_synthetic=quick, dtype=dtype)
    if not exp.val_size:
        return data, None, None
    tr, va = validation_split(len(data.X), max(1, round(exp.val_size * len(data.X))), seed)
    X_val, y_val = data.X[va], data.y[va]
    data.X, data.y = data.X[tr], data.y[tr]
    return data, X_val, y_val


def run_hyper(run: Run, delta_rule: str | None, histories: dict) -> dict:
    """A run's hyperparameters, with the ``--delta-rule`` override and, for a run that starts
    from an earlier run's settled rate (Sec. 5.1), that rate as ``eta``."""
    hyper = dict(run.hyper)
    if delta_rule is not None and run.controller == "second-order":
        hyper["delta_rule"] = delta_rule
    if run.eta_from is not None:
        hyper["eta"] = settled_rate(histories[run.eta_from])
    return hyper


def results_folder(out_root: str | Path, name: str) -> Path:
    """``out_root / name``, where ``name`` (``--name``) must be one plain folder name: never a
    path that leads outside ``out_root`` (``..``, ``a/b``, an absolute path).

    >>> results_folder("results", "boston").as_posix()
    'results/boston'
    """
    if (not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\\" in name
            or Path(name).is_absolute() or Path(name).drive or "\0" in name):
        raise ValueError(f"the results folder's name (--name) must be a plain folder name "
                         f"inside --out (no '/', '\\', '..' or absolute path), got {name!r}")
    return Path(out_root) / name


def run_experiment(name: str, out_root: str | Path = "results", *, quick: bool = False,
                   epochs: int | None = None, seed: int = 0, dtype: str = "float64",
                   delta_rule: str | None = None, checkpoint_every: int | None = None,
                   resume: bool = False, progress=None, log=None, plots: bool = True,
                   n_train: int | None = None, n_test: int | None = None) -> dict:
    """Run the experiment ``name`` and write its files into ``out_root/name/``.

    Parameters
    ----------
    name : str or Experiment
        A key of :data:`~adaptive_lr.experiments.registry.EXPERIMENTS`, or an experiment built
        by the caller (``adaptive-lr train`` builds one with a single run).
    out_root : str or Path
        Parent folder of the experiment's folder (created if needed).
    quick : bool
        The reduced version (the experiment's ``quick`` overrides); falls back to a labelled
        synthetic stand-in when the real files are absent.
    epochs, seed, dtype
        Override the experiment's epochs; seed and dtype of every run.
    delta_rule : {"always", "if-zero"}, optional
        Override the second-order runs' reading of Eq. 17-18.
    checkpoint_every, resume, progress, log
        See :func:`run_training`; ``log(str)`` receives status lines.
    plots : bool
        Write the PNG figures.
    n_train, n_test : int, optional
        Keep only the first examples of each part (override ``quick``'s subset).

    Returns
    -------
    dict
        What ``history.json`` holds (without the full histories) plus ``files``.
    """
    exp = name if isinstance(name, Experiment) else get_experiment(name)
    if epochs is not None and (isinstance(epochs, bool) or int(epochs) != epochs or epochs < 0):
        raise ValueError(f"epochs must be an integer >= 0, got {epochs!r}")
    np_dtype = parse_dtype(dtype)
    out = results_folder(out_root, exp.name)
    q = exp.quick if quick else {}
    n_epochs = int(epochs) if epochs is not None else q.get("epochs", exp.epochs)
    batch_size = q.get("batch_size", exp.batch_size)
    out.mkdir(parents=True, exist_ok=True)
    manifest = begin_results(out, {
        "experiment": exp.name, "quick": quick, "epochs": n_epochs, "seed": seed,
        "dtype": dtype, "delta_rule": delta_rule, "n_train": n_train, "n_test": n_test,
        "runs": [asdict(run) for run in exp.runs]})
    data, X_val, y_val = experiment_data(
        exp, n_train=n_train if n_train is not None else q.get("n_train"),
        n_test=n_test if n_test is not None else q.get("n_test"), quick=quick, dtype=np_dtype,
        seed=seed)
    if log:
        log(f"{exp.name}: {exp.title} ({exp.paper}); {n_epochs} epochs; data: {data.source}")
    histories, runs, files = {}, [], []
    for run in exp.runs:
        hyper = run_hyper(run, delta_rule, histories)
        model = make_model(exp.model, data, dropout=exp.dropout)
        controller = make_controller(run.controller, **hyper)
        if log:
            log(f"run {run.label}: {controller!r}, direction {run.direction}, "
                f"probe on {run.probe_on}")
        t0 = time.perf_counter()
        hist = run_training(model, controller, data, label=run.label, out_dir=out,
                            epochs=n_epochs, batch_size=batch_size, seed=seed,
                            dtype=np_dtype, direction=run.direction, probe_on=run.probe_on,
                            X_val=X_val, y_val=y_val, checkpoint_every=checkpoint_every,
                            resume=resume, progress=progress, log=log)
        histories[run.label] = hist
        files += write_run_files(out, run.label, hist)
        runs.append({**asdict(run), "hyper": hyper, "model": repr(model),
                     "summary": summarize(hist, time.perf_counter() - t0)})
    title = exp.title + (" [SYNTHETIC data]" if data.synthetic else "") + (
        " (quick)" if quick else "")
    payload = {"experiment": exp.name, "title": exp.title, "paper": exp.paper,
               "quick": quick, "epochs": n_epochs, "seed": seed, "dtype": dtype,
               "batch_size": batch_size, "data": data.source, "synthetic": data.synthetic,
               "sources": exp.sources, "notes": exp.notes, "runs": runs}
    files.append(write_json(out / "history.json", {
        **payload, "histories": {k: h.to_dict() for k, h in histories.items()}}))
    if plots:
        from ..plots import plot_experiment  # matplotlib only when figures are wanted

        files += plot_experiment(histories, out, title, data.n_classes is not None)
    files.append(finish_results(out, manifest, files))  # last: the folder is complete
    return {**payload, "out_dir": str(out), "run_id": manifest["run_id"],
            "files": [str(f) for f in files]}


def format_summary(result: dict) -> str:
    """A plain-text table of the runs of :func:`run_experiment`'s result."""
    lines = [f"{result['experiment']}: {result['data']}"]
    head = f"{'run':24} {'train_loss':>11} {'test_loss':>11} {'test_acc':>9} {'best@ep':>9} " \
           f"{'lr':>10} {'train_s':>8}"
    lines.append(head)
    for run in result["runs"]:
        s = run["summary"]
        acc = s["final_test_acc"]
        best = f"{s.get('best_test_acc', math.nan):.3f}@{s.get('best_epoch', '-')}" \
            if "best_test_acc" in s else f"ep {s.get('best_epoch', '-')}"
        lines.append(f"{run['label']:24} {s['final_train_loss']:11.4g} "
                     f"{s['final_test_loss']:11.4g} {acc:9.4f} {best:>9} "
                     f"{s['settled_lr']:10.3g} {s['train_seconds']:8.1f}")
        if s["diverged"]:
            lines.append(f"  {s['diverged']}")
    return "\n".join(lines)


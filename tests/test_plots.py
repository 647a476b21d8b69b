"""The figures are drawn for any history a run can produce, a diverging one included."""

import numpy as np

from adaptive_lr.history import History
from adaptive_lr.plots import plot_experiment


def test_a_run_whose_loss_grows_to_1e285_is_drawn(tmp_path):
    """A fixed rate above Boston's stability limit multiplies the loss by ~1e3 per epoch, up
    to 1e285; matplotlib's log tick locator overflows on such an axis unless it is clipped."""
    loss = list(np.logspace(3, 285, 101))
    h = History(lr=[1e-4] * 100, loss=loss[:100], epoch_of_iter=list(range(1, 101)),
                epoch=list(range(101)), train_loss=loss, train_acc=[np.nan] * 101,
                test_loss=loss, test_acc=[np.nan] * 101, lr_epoch=[1e-4] * 101,
                time=list(np.linspace(0, 1, 101)))
    paths = plot_experiment({"basic": h}, tmp_path, "diverging", classification=False)
    assert {p.name for p in paths} >= {"loss.png", "lr.png", "loss_time.png"}
    assert all(p.stat().st_size > 1000 for p in paths)

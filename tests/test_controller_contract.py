"""One contract, run over every learning-rate controller and every step direction.

In the spirit of optax's test over all of its optimizers: a new controller or direction is covered
by adding one line to ``CONTROLLERS`` or ``DIRECTIONS``. The contract (``controllers/base.py``,
``probe.py``, ``directions.py``):

* after any sequence of steps, on any probe values (NaN, inf, huge, tiny included), every rate
  is finite and ``>= delta``, and ``controller.lr`` is the value the last ``step`` returned;
* a NaN/inf probe is rejected without poisoning the rate: the rate does not change, the
  rejection is counted;
* a plain callable ``phi(etas) -> losses`` is accepted, or refused with a ``TypeError`` that
  names what the controller needs;
* float32 in, float32 state out;
* the state round trip through a checkpoint file gives a bit-identical continuation;
* the same inputs give the same outputs.
"""

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adaptive_lr import (
    AdamDirection,
    ArmijoLR,
    AveragedGradientDirection,
    DAdaptSGDLR,
    DoGLR,
    ExactNewtonLR,
    FirstOrderLR,
    FixedLR,
    GeNLR,
    GradientDirection,
    PolyakLR,
    SafeguardedSecondOrderLR,
    SecondOrderLR,
)

OFF = dict(average=0.0, trust_ratio=None, curvature_fallback=False, target_fallback=False,
           no_increasing_step=False, relative_eps=None)

#: (name, factory, what it needs of the probe beyond calling it: None or the attribute)
CONTROLLERS = [
    ("fixed", lambda: FixedLR(0.1), None),
    ("first-order", lambda: FirstOrderLR(0.1, alpha=1e-2), None),
    ("first-order-momentum", lambda: FirstOrderLR(0.1, alpha=1e-2, beta=0.9), None),
    ("first-order-probe", lambda: FirstOrderLR(0.1, alpha=1e-2, derivative="probe"), None),
    ("second-order", lambda: SecondOrderLR(0.1), None),
    ("second-order-if-zero", lambda: SecondOrderLR(0.1, delta_rule="if-zero", beta=0.9), None),
    ("second-order-delta-0", lambda: SecondOrderLR(0.1, delta=0.0, delta_rule="if-zero"), None),
    ("exact-newton", lambda: ExactNewtonLR(0.1), "derivatives"),
    ("safeguarded", lambda: SafeguardedSecondOrderLR(0.1), None),
    ("safeguarded-off", lambda: SafeguardedSecondOrderLR(0.1, **OFF), None),
    ("armijo", lambda: ArmijoLR(0.1, n_batches=10), None),
    ("sps", lambda: PolyakLR(0.1, n_batches=10), None),
    ("sps-max", lambda: PolyakLR(0.1, smoothing="max", eta_max=1.0), None),
    ("gen", lambda: GeNLR(0.1, every=2), None),
    ("dog", lambda: DoGLR(0.1), "w"),
    ("d-adapt", lambda: DAdaptSGDLR(0.1), None),
]
IDS = [c[0] for c in CONTROLLERS]

#: Probe values a hostile or broken problem can produce.
VALUES = st.one_of(st.floats(-1e3, 1e3), st.floats(allow_nan=True, allow_infinity=True),
                   st.sampled_from([0.0, 1.0, 1.0 + 1e-12, 1e300, -1e300, 5e-324]))


class ScriptedProbe:
    """A probe whose answers come from a list (cycled), with a direction and exact derivatives,
    in a given dtype; it records whether it was asked anything."""

    def __init__(self, values, d, dtype=np.float64):
        self.values, self.i, self.d, self.dtype, self.asked = list(values), 0, d, dtype, False
        self.w = np.zeros_like(np.asarray(d))  # the weights the line starts from (phi.w)

    def _next(self, k):
        out = [self.values[(self.i + j) % len(self.values)] for j in range(k)]
        self.i += k
        self.asked = True
        return out

    def __call__(self, etas):
        return np.array(self._next(len(etas)), dtype=self.dtype)

    def derivatives(self, eta):
        return tuple(self._next(2))


def _rate_floor(ctrl) -> float:
    return getattr(ctrl, "delta", 0.0)


def _next_rate(ctrl) -> float:
    """The rate the next step starts from (``next_lr`` where the rule knows it)."""
    return getattr(ctrl.state, "next_lr", ctrl.lr)


def _finite_state(ctrl) -> bool:
    for f in dataclasses.fields(ctrl.state):
        v = getattr(ctrl.state, f.name)
        if isinstance(v, np.ndarray):
            if not np.all(np.isfinite(v)):
                return False
        elif v is not None and not math.isfinite(v):
            return False
    return True


@pytest.mark.parametrize("name, make, needs", CONTROLLERS, ids=IDS)
@settings(max_examples=30)
@given(values=st.lists(VALUES, min_size=1, max_size=12),
       grads=st.lists(st.lists(st.floats(-1e3, 1e3), min_size=3, max_size=3), min_size=1,
                      max_size=6))
def test_rates_stay_finite_and_above_delta(name, make, needs, values, grads):
    ctrl = make()
    for g in grads:
        g = np.array(g)
        used = ctrl.step(g, ScriptedProbe(values, g))
        assert type(used) is float and math.isfinite(used)
        # Eq. 19: >= delta; with delta = 0 a rate of exactly 0 is possible (documented)
        assert used > 0 or _rate_floor(ctrl) == 0
        assert ctrl.lr == used  # one meaning of lr: the rate of the last update
        assert used >= _rate_floor(ctrl) and _next_rate(ctrl) >= _rate_floor(ctrl)
        assert _finite_state(ctrl)
        assert ctrl.n_steps >= 1


@pytest.mark.parametrize("name, make, needs", CONTROLLERS, ids=IDS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_non_finite_probe_is_rejected_without_harm(name, make, needs, bad):
    rng = np.random.default_rng(0)
    ctrl = make()
    good = [1.0, 0.9, 0.85, 0.9, 1.0, 0.2, 0.4]
    for _ in range(3):  # some ordinary steps first
        g = rng.normal(size=3)
        ctrl.step(g, ScriptedProbe(good, g))
    before, rejected = _next_rate(ctrl), ctrl.n_rejected
    g = rng.normal(size=3)
    probe = ScriptedProbe([bad], g)
    used = ctrl.step(g, probe)
    if probe.asked:  # it consumed a non-finite value: rejected, nothing moved
        assert used == before == _next_rate(ctrl)
        assert ctrl.n_rejected == rejected + 1
    assert _finite_state(ctrl) and math.isfinite(used)
    g = rng.normal(size=3)
    assert math.isfinite(ctrl.step(g, ScriptedProbe(good, g)))  # and it goes on


@pytest.mark.parametrize("name, make, needs", CONTROLLERS, ids=IDS)
def test_a_plain_callable_probe_is_accepted_or_refused_clearly(name, make, needs):
    ctrl = make()

    def phi(etas):  # a plain function: no direction, no derivatives
        return (np.asarray(etas) - 0.3) ** 2

    g = np.array([1.0, -2.0])
    if needs is None:
        for _ in range(3):
            assert math.isfinite(ctrl.step(g, phi))
    else:
        with pytest.raises(TypeError, match=needs):
            ctrl.step(g, phi)


@pytest.mark.parametrize("name, make, needs", CONTROLLERS, ids=IDS)
def test_a_probe_of_the_wrong_length_is_a_clear_error(name, make, needs):
    ctrl = make()
    g = np.ones(2)

    class Short(ScriptedProbe):
        called = False

        def __call__(self, etas):
            self.called = True
            return np.ones(len(etas) + 1)

    short = Short([1.0, 2.0], g)
    try:
        ctrl.step(g, short)
    except ValueError as exc:
        assert "phi" in str(exc) and "shape" in str(exc)
    else:
        assert not short.called  # only a controller that never calls phi may not notice


@pytest.mark.parametrize("name, make, needs", CONTROLLERS, ids=IDS)
def test_float32_in_float32_state_out(name, make, needs):
    ctrl = make()
    rng = np.random.default_rng(1)
    for _ in range(3):
        g = rng.normal(size=4).astype(np.float32)
        used = ctrl.step(g, ScriptedProbe([1.0, 0.9, 0.85, 0.9, 1.0, 0.5], g, np.float32))
        assert type(used) is float
    for f in dataclasses.fields(ctrl.state):
        v = getattr(ctrl.state, f.name)
        assert v is None or type(v) in (float, int) or v.dtype == np.float32, f.name
    for key, array in ctrl.state_dict().items():
        assert array.dtype in (np.float64, np.int64, np.float32), key


def _run(ctrl, rng, steps, dtype=np.float64):
    out = []
    for _ in range(steps):
        g = rng.normal(size=5).astype(dtype)
        values = list(1.0 + 0.01 * rng.normal(size=7))
        out.append(ctrl.step(g, ScriptedProbe(values, g, dtype)))
    return out


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name, make, needs", CONTROLLERS, ids=IDS)
def test_checkpoint_round_trip_continues_bit_for_bit(tmp_path, name, make, needs, dtype):
    a = make()
    _run(a, np.random.default_rng(2), 5, dtype)
    path = tmp_path / "state.npz"
    np.savez(path, **a.state_dict())
    with np.load(path, allow_pickle=False) as saved:
        b = make()
        b.load_state_dict({k: saved[k] for k in saved.files})
    assert b.state.__class__ is a.state.__class__
    rest_a = _run(a, np.random.default_rng(3), 5, dtype)
    rest_b = _run(b, np.random.default_rng(3), 5, dtype)
    assert rest_a == rest_b
    assert a.state_dict().keys() == b.state_dict().keys()
    for key, value in a.state_dict().items():
        np.testing.assert_array_equal(value, b.state_dict()[key], err_msg=key)
        assert value.dtype == b.state_dict()[key].dtype


@pytest.mark.parametrize("name, make, needs", CONTROLLERS, ids=IDS)
def test_same_inputs_same_outputs(name, make, needs):
    assert _run(make(), np.random.default_rng(4), 8) == _run(make(), np.random.default_rng(4), 8)
    assert repr(make())  # and it can say what it is


@pytest.mark.parametrize("name, make, needs", CONTROLLERS, ids=IDS)
def test_a_state_with_a_missing_field_is_refused(name, make, needs):
    state = make().state_dict()
    state.pop("lr")
    with pytest.raises(ValueError, match="lr"):
        make().load_state_dict(state)


#: (name, factory)
DIRECTIONS = [
    ("gradient", GradientDirection),
    ("averaged", lambda: AveragedGradientDirection(0.9)),
    ("adam", AdamDirection),
]
DIRECTION_IDS = [d[0] for d in DIRECTIONS]


def _directions(direction, rng, steps, dtype):
    out = []
    for _ in range(steps):
        g = rng.normal(size=6).astype(dtype)
        g_before = g.copy()
        d = direction(g)
        assert np.array_equal(g, g_before)  # the gradient is not modified
        assert d.shape == g.shape and d.dtype == g.dtype and np.all(np.isfinite(d))
        out.append(d.copy())
    return out


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name, make", DIRECTIONS, ids=DIRECTION_IDS)
def test_direction_contract(tmp_path, name, make, dtype):
    a = make()
    first = _directions(a, np.random.default_rng(0), 4, dtype)
    kept = [d.copy() for d in first]
    # same inputs, same outputs
    assert all(np.array_equal(x, y) for x, y in zip(
        first, _directions(make(), np.random.default_rng(0), 4, dtype), strict=True))
    # state through a checkpoint file: a bit-identical continuation
    np.savez(tmp_path / "d.npz", **a.state_dict())
    with np.load(tmp_path / "d.npz", allow_pickle=False) as saved:
        b = make()
        b.load_state_dict({k: saved[k] for k in saved.files})
    rest_a = _directions(a, np.random.default_rng(1), 3, dtype)
    rest_b = _directions(b, np.random.default_rng(1), 3, dtype)
    assert all(np.array_equal(x, y) for x, y in zip(rest_a, rest_b, strict=True))
    # directions returned earlier were not changed by later calls
    assert all(np.array_equal(x, y) for x, y in zip(first, kept, strict=True))
    assert repr(a)

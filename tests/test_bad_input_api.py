"""Bad input to the public API, by class: every case is a ``TypeError`` (wrong kind of value) or a
``ValueError`` (right kind, bad value) raised by the package, whose message names the argument.

Each test asserts the exception type and that the message names the argument; where the inputs
can be drawn, hypothesis draws them (bad scalars for every count argument, bad dtypes for data).
"""

import math
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adaptive_lr import (
    AdamDirection,
    AveragedGradientDirection,
    ExactNewtonLR,
    FirstOrderLR,
    FixedLR,
    LeNet,
    LinearRegression,
    LogisticRegression,
    Probe,
    SafeguardedSecondOrderLR,
    SecondOrderLR,
    evaluate,
    train,
)

rng = np.random.default_rng(0)
X = rng.normal(size=(12, 3))
y_reg = rng.normal(size=12)
y_cls = rng.integers(0, 3, size=12)
LIN = LinearRegression(3)
LOG = LogisticRegression(3, 3)
W_LIN = LIN.init_params(rng)
W_LOG = LOG.init_params(rng)
NET = LeNet(in_channels=1, n_classes=3, image_size=16, dropout=0.0)
W_NET = NET.init_params(rng)
X_IMG = rng.normal(size=(4, 1, 16, 16))
Y_IMG = np.array([0, 1, 2, 0])

#: Scalars a hostile user passes where a count is expected.
BAD_SCALARS = [None, math.nan, math.inf, -1, 0, True, False, 2.5, 3.0, "3", [3],
               np.array([3]), np.array(3.0), np.float64(2.0), 1 + 0j]


def is_integer(value):
    """What a count argument accepts: a Python or NumPy integer, not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def raises(kind, name):
    """``pytest.raises(kind)`` whose message must name ``name``."""
    return pytest.raises(kind, match=re.escape(name))


def expected_count_error(value, least, none_ok=False):
    """The error a count argument must raise for ``value`` (``None``: accepted)."""
    if value is None and none_ok:
        return None
    if not is_integer(value):
        return TypeError
    return ValueError if value < least else None


# -- counts: train, evaluate and the constructors ------------------------------------------
#: train's count arguments: (least value, whether None is allowed)
TRAIN_COUNTS = {"epochs": (0, False), "batch_size": (1, True), "checkpoint_every": (1, False),
                "eval_chunk": (1, True), "seed": (0, False)}


@given(name=st.sampled_from(sorted(TRAIN_COUNTS)), value=st.sampled_from(BAD_SCALARS))
def test_train_count_arguments(name, value):
    least, none_ok = TRAIN_COUNTS[name]
    kind = expected_count_error(value, least, none_ok)
    call = lambda: train(LIN, FixedLR(1e-3), X, y_reg, **{"epochs": 1, name: value})  # noqa: E731
    if kind is None:
        assert np.all(np.isfinite(call().w))
    else:
        with raises(kind, name):
            call()


def test_seed_none_is_refused_not_random():
    with raises(TypeError, "seed"):
        train(LIN, FixedLR(1e-3), X, y_reg, seed=None)


def test_eval_chunk_minus_one_is_refused_not_a_zero_loss():
    with raises(ValueError, "eval_chunk"):
        train(LIN, FixedLR(1e-3), X, y_reg, eval_chunk=-1)


@given(value=st.sampled_from(BAD_SCALARS))
def test_evaluate_chunk(value):
    kind = expected_count_error(value, 1, none_ok=True)
    if kind is None:
        loss, _ = evaluate(LIN, W_LIN, X, y_reg, value)
        assert loss == pytest.approx(LIN.loss(W_LIN, X, y_reg), rel=1e-12)
    else:
        with raises(kind, "chunk"):
            evaluate(LIN, W_LIN, X, y_reg, value)


def test_evaluate_on_an_empty_set():
    with raises(ValueError, "X"):
        evaluate(LIN, W_LIN, X[:0], y_reg[:0])
    with raises(ValueError, "y"):
        evaluate(LIN, W_LIN, X, y_reg[:3])


LENET_COUNTS = {"in_channels": 1, "n_classes": 2, "eval_batch_size": 1, "threads": 1}


@given(name=st.sampled_from(sorted(LENET_COUNTS)), value=st.sampled_from(BAD_SCALARS))
def test_lenet_count_arguments(name, value):
    kind = expected_count_error(value, LENET_COUNTS[name])
    kw = {"in_channels": 1, "image_size": 16, name: value}
    if kind is None:
        assert getattr(LeNet(**kw), name) == value
    else:
        with raises(kind, name):
            LeNet(**kw)


@pytest.mark.parametrize("value, kind", [
    ((32,), TypeError), ("32", TypeError), ((32, 32.0), TypeError), (32.0, TypeError),
    ([32, 32, 32], TypeError), (None, TypeError), (True, TypeError), (12, ValueError),
    ((16, 8), ValueError)])
def test_lenet_image_size(value, kind):
    with raises(kind, "image_size"):
        LeNet(image_size=value)


@pytest.mark.parametrize("value, kind", [
    ("0.5", TypeError), (None, TypeError), (True, TypeError), ([0.5], TypeError),
    (math.nan, ValueError), (1.0, ValueError), (-0.1, ValueError), (math.inf, ValueError)])
def test_lenet_dropout(value, kind):
    with raises(kind, "dropout"):
        LeNet(dropout=value)


def test_lenet_rounds_nothing_silently():
    for kw, name in (({"in_channels": 2.7}, "in_channels"), ({"n_classes": 10.5}, "n_classes"),
                     ({"eval_batch_size": 0}, "eval_batch_size")):
        with raises((TypeError, ValueError), name):
            LeNet(**kw)


@given(value=st.sampled_from(BAD_SCALARS))
def test_linear_models_feature_and_class_counts(value):
    kind = expected_count_error(value, 1)
    for make, name in ((lambda v: LinearRegression(v), "n_features"),
                       (lambda v: LogisticRegression(v, 3), "n_features")):
        if kind is None:
            assert make(value).n_features == value
        else:
            with raises(kind, name):
                make(value)
    kind = expected_count_error(value, 2)
    if kind is None:
        assert LogisticRegression(3, value).n_classes == value
    else:
        with raises(kind, "n_classes"):
            LogisticRegression(3, value)


@pytest.mark.parametrize("value", ["no", 1, 0, None, np.array(True), "False"])
def test_fit_intercept_must_be_a_bool(value):
    with raises(TypeError, "fit_intercept"):
        LinearRegression(3, fit_intercept=value)


@pytest.mark.parametrize("value", [None, 1, "mean", ["sum"]])
def test_reduction_must_be_a_name(value):
    with raises(ValueError, "reduction"):
        LinearRegression(3, reduction=value)


@pytest.mark.parametrize("model", [LIN, LOG, NET], ids=["linear", "logistic", "lenet"])
@pytest.mark.parametrize("rng_arg", [0, None, "seed", np.random.RandomState(0)])
def test_init_params_needs_a_generator(model, rng_arg):
    with raises(TypeError, "rng"):
        model.init_params(rng_arg)


@pytest.mark.parametrize("model", [LIN, LOG, NET], ids=["linear", "logistic", "lenet"])
@pytest.mark.parametrize("dtype", [np.float16, np.int64, complex])
def test_init_params_dtype(model, dtype):
    with raises(ValueError, "dtype"):
        model.init_params(np.random.default_rng(0), dtype)


@pytest.mark.parametrize("n, kind", [(-1, ValueError), (0, ValueError), (2.0, TypeError),
                                     (None, TypeError)])
def test_lenet_sample_noise_count(n, kind):
    with raises(kind, "n"):
        LeNet(in_channels=1, image_size=16).sample_noise(np.random.default_rng(0), n)


# -- data: dtypes, shapes, overlaps --------------------------------------------------------
BAD_DTYPES = [np.complex128, np.bool_, object, np.str_]


def as_dtype(a, dtype):
    return a.astype(str) if dtype is np.str_ else a.astype(dtype)


@given(dtype=st.sampled_from(BAD_DTYPES), which=st.sampled_from(["X", "X_test", "X_val"]))
def test_train_refuses_data_that_is_not_real(dtype, which):
    kw = {"X_test": X, "y_test": y_reg}
    if which == "X_val":
        kw.update(probe_on="validation", X_val=X[:4] + 100.0, y_val=y_reg[:4])
    bad = as_dtype(X if which == "X" else kw[which], dtype)
    args = (bad, y_reg) if which == "X" else (X, y_reg)
    if which != "X":
        kw[which] = bad
    with raises(ValueError, which):
        train(LIN, FixedLR(1e-3), *args, **kw)


@given(dtype=st.sampled_from(BAD_DTYPES))
def test_models_refuse_data_that_is_not_real(dtype):
    for call in (lambda: LIN.loss(W_LIN, as_dtype(X, dtype), y_reg),
                 lambda: LOG.predict(W_LOG, as_dtype(X, dtype)),
                 lambda: NET.loss(W_NET, as_dtype(X_IMG, dtype), Y_IMG)):
        with raises(ValueError, "X"):
            call()
    with raises(ValueError, "y"):
        LIN.loss(W_LIN, X, as_dtype(y_reg, dtype))


def test_complex_X_is_not_cast_silently():
    with raises(ValueError, "X"):
        train(LIN, FixedLR(1e-3), X + 1j, y_reg)


def test_float16_data_is_cast_exactly_and_float16_arithmetic_refused():
    X16 = X.astype(np.float16)
    a = train(LIN, FixedLR(1e-3), X16, y_reg, epochs=2)
    b = train(LIN, FixedLR(1e-3), X16.astype(np.float64), y_reg, epochs=2)
    assert np.array_equal(a.w, b.w)  # float16 -> float64 is exact
    with raises(ValueError, "dtype"):
        train(LIN, FixedLR(1e-3), X16, y_reg, dtype=np.float16)
    with raises(TypeError, "dtype"):
        train(LIN, FixedLR(1e-3), X, y_reg, dtype="not a dtype")


@pytest.mark.parametrize("y, name", [
    (y_cls[:, None], "y"), (y_cls.astype(float), "y"), (y_cls + 3, "y"), (y_cls[:5], "y"),
    (y_cls.astype(complex), "y"), (None, "y")])
def test_train_refuses_bad_labels(y, name):
    with raises((TypeError, ValueError), name):
        train(LOG, FixedLR(1e-3), X, y)


def test_bad_test_labels_name_the_test_set():
    with raises(ValueError, "y_test"):
        train(LOG, FixedLR(1e-3), X, y_cls, X_test=X, y_test=y_cls + 3)
    with raises(TypeError, "y_test"):
        train(LOG, FixedLR(1e-3), X, y_cls, X_test=X)


@pytest.mark.parametrize("rows", [slice(None), slice(0, 4), [3, 11]])
def test_validation_set_must_be_held_out(rows):
    with raises(ValueError, "X_val"):
        train(LOG, SecondOrderLR(0.1), X, y_cls, probe_on="validation", X_val=X[rows],
              y_val=y_cls[rows])


def test_a_held_out_validation_set_is_accepted():
    res = train(LOG, SecondOrderLR(0.1), X, y_cls, probe_on="validation", X_val=X[:4] + 1e-3,
                y_val=y_cls[:4], batch_size=4)
    assert res.history.diverged is None


@pytest.mark.parametrize("w0, kind", [
    (np.zeros(3), ValueError), (np.zeros((4, 1)), ValueError), (np.array(["0"] * 4), ValueError),
    (np.zeros(4) + 1j, ValueError), (np.full(4, np.nan), ValueError), ("0000", ValueError)])
def test_w0(w0, kind):
    with raises(kind, "w0"):
        train(LIN, FixedLR(1e-3), X, y_reg, w0=w0)


# -- the parts of a run ----------------------------------------------------------------------
def test_direction_by_name_is_the_registry_direction():
    a = train(LOG, FixedLR(0.1), X, y_cls, epochs=2, batch_size=4, direction="adam")
    b = train(LOG, FixedLR(0.1), X, y_cls, epochs=2, batch_size=4, direction=AdamDirection())
    assert np.array_equal(a.w, b.w)


@pytest.mark.parametrize("direction, kind", [
    ("sgd", ValueError), (3, TypeError), (np.ones(4), TypeError),
    (lambda g: g[:-1], ValueError), (lambda g: g.astype(np.float32), ValueError),
    (lambda g: list(g), ValueError), (lambda g: None, ValueError)])
def test_bad_direction(direction, kind):
    with raises(kind, "direction"):
        train(LIN, FixedLR(1e-3), X, y_reg, direction=direction)


def test_checkpoints_need_a_direction_with_state(tmp_path):
    with raises(TypeError, "direction"):
        train(LIN, FixedLR(1e-3), X, y_reg, direction=lambda g: g,
              checkpoint_path=tmp_path / "c.npz")


@pytest.mark.parametrize("kw, kind, name", [
    ({"controller": "fixed"}, TypeError, "controller"),
    ({"controller": 0.1}, TypeError, "controller"),
    ({"model": "linear"}, TypeError, "model"),
    ({"callback": 3}, TypeError, "callback"),
    ({"progress": "stdout"}, TypeError, "progress"),
    ({"checkpoint_path": 3}, TypeError, "checkpoint_path"),
    ({"resume_from": 3}, TypeError, "resume_from"),
    ({"probe_on": "test"}, ValueError, "probe_on"),
    ({"probe_on": None}, ValueError, "probe_on"),
])
def test_bad_parts_of_a_run(kw, kind, name):
    args = {"model": LIN, "controller": FixedLR(1e-3), **kw}
    with raises(kind, name):
        train(args.pop("model"), args.pop("controller"), X, y_reg, **args)


# -- weights, step sizes, probes -------------------------------------------------------------
@pytest.mark.parametrize("model, w, Xb, yb", [(LIN, W_LIN, X, y_reg), (LOG, W_LOG, X, y_cls),
                                              (NET, W_NET, X_IMG, Y_IMG)],
                         ids=["linear", "logistic", "lenet"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_weights_are_named_not_answered(model, w, Xb, yb, bad):
    wb = w.copy()
    wb[0] = bad
    for call in (lambda: model.loss(wb, Xb, yb), lambda: model.predict(wb, Xb)):
        with raises(ValueError, "w"):
            call()


@pytest.mark.parametrize("model, w, Xb, yb", [(LIN, W_LIN, X, y_reg), (LOG, W_LOG, X, y_cls),
                                              (NET, W_NET, X_IMG, Y_IMG)],
                         ids=["linear", "logistic", "lenet"])
@pytest.mark.parametrize("etas, kind", [
    ([], ValueError), ([[0.1, 0.2]], ValueError), ([0.1, np.nan], ValueError),
    ([np.inf], ValueError), (["a"], ValueError), ([0.1 + 1j], ValueError), (0.1, ValueError),
    ([True], ValueError)])
def test_line_losses_etas(model, w, Xb, yb, etas, kind):
    for call in (lambda: model.line_losses(w, w, etas, Xb, yb),
                 lambda: Probe(model, w, w, Xb, yb)(etas)):
        with raises(kind, "etas"):
            call()


@pytest.mark.parametrize("model, w, y", [(LIN, W_LIN, y_reg), (LOG, W_LOG, y_cls)])
@pytest.mark.parametrize("eta, kind", [(np.nan, ValueError), (np.inf, ValueError),
                                       ("0.1", TypeError), (None, TypeError),
                                       (np.array([0.1]), TypeError)])
def test_line_derivatives_eta(model, w, y, eta, kind):
    with raises(kind, "eta"):
        model.line_derivatives(w, w, eta, X, y)
    with raises(kind, "eta"):
        Probe(model, w, w, X, y).derivatives(eta)


def test_linear_model_cache_of_another_batch():
    _, _, cache, _ = LIN.forward_backward(W_LIN, X, y_reg)
    with raises(ValueError, "cache"):
        LIN.line_losses(W_LIN, W_LIN, [0.1], X[:5], y_reg[:5], cache=cache)
    _, _, cache, _ = LOG.forward_backward(W_LOG, X, y_cls)
    with raises(ValueError, "cache"):
        LOG.line_losses(W_LOG, W_LOG, [0.1], X[:5], y_cls[:5], cache=cache)


PROBING = [lambda: SecondOrderLR(0.1), lambda: SafeguardedSecondOrderLR(0.1),
           lambda: FirstOrderLR(0.1, 1e-3, derivative="probe")]


@pytest.mark.parametrize("make", PROBING, ids=["second", "safeguarded", "first-probe"])
@pytest.mark.parametrize("answer, kind", [
    (lambda e: np.ones(len(e) - 1), ValueError), (lambda e: np.ones(len(e) + 1), ValueError),
    (lambda e: 1.0, ValueError), (lambda e: None, ValueError), (lambda e: [[1.0]] * len(e),
                                                                 ValueError),
    (lambda e: ["1"] * len(e), TypeError), (lambda e: np.ones(len(e)) + 1j, TypeError),
    (lambda e: [1.0, [2.0]], ValueError)])
def test_probe_answers_are_checked_before_they_are_read(make, answer, kind):
    with raises(kind, "phi(etas)"):
        make().step(np.ones(3), answer)


class ExactStub:
    """A probe whose derivatives answer ``answer``."""

    def __init__(self, answer):
        self.answer = answer

    def __call__(self, etas):
        return np.zeros(len(etas))

    def derivatives(self, eta):
        return self.answer


@pytest.mark.parametrize("answer, kind", [((1.0,), ValueError), ((1.0, 2.0, 3.0), ValueError),
                                          (None, ValueError), (("a", "b"), TypeError),
                                          (1.0, ValueError)])
def test_exact_derivatives_answers_are_checked(answer, kind):
    with raises(kind, "phi.derivatives"):
        ExactNewtonLR(0.1).step(np.ones(3), ExactStub(answer))


def test_first_order_gradient_and_probe_direction():
    with raises(TypeError, "grad"):
        FirstOrderLR(0.1, 1e-3).step(None)
    with raises(TypeError, "grad"):
        FirstOrderLR(0.1, 1e-3).step(["a", "b"])

    class WrongD:
        d = np.ones(2)

        def __call__(self, etas):
            return np.zeros(len(etas))

    with raises(ValueError, "phi.d"):
        FirstOrderLR(0.1, 1e-3).step(np.ones(3), WrongD())


# -- saved states ----------------------------------------------------------------------------
def trained(make):
    c = make()
    phi = Probe(LOG, W_LOG, W_LOG.copy(), X, y_cls)
    for _ in range(2):
        c.step(W_LOG.copy(), phi)
    return c


CONTROLLERS = {"fixed": lambda: FixedLR(0.1), "first": lambda: FirstOrderLR(0.1, 1e-3, beta=0.5),
               "second": lambda: SecondOrderLR(0.1, beta=0.5),
               "safeguarded": lambda: SafeguardedSecondOrderLR(0.1),
               "exact": lambda: ExactNewtonLR(0.1)}
BAD_FIELD_VALUES = [np.array(np.nan), np.array(np.inf), np.array(-np.inf), np.array([0.1, 0.2]),
                    np.array(True), np.array("0.1")]


@given(name=st.sampled_from(sorted(CONTROLLERS)), data=st.data())
def test_controller_states_are_checked_field_by_field(name, data):
    state = trained(CONTROLLERS[name]).state_dict()
    field = data.draw(st.sampled_from(sorted(state)))
    bad = data.draw(st.sampled_from(BAD_FIELD_VALUES))
    if field == "direction_prev" and bad.ndim == 1:
        bad = np.array([np.nan, 1.0, 2.0])  # an array field: a non-finite array
    state[field] = bad
    with raises(ValueError, field):
        CONTROLLERS[name]().load_state_dict(state)


@pytest.mark.parametrize("name", sorted(CONTROLLERS))
@pytest.mark.parametrize("field, value", [("lr", -0.1), ("n_steps", -1), ("n_steps", 2.5),
                                          ("n_rejected", 10**6)])
def test_controller_state_signs_and_counts(name, field, value):
    state = trained(CONTROLLERS[name]).state_dict()
    state[field] = np.array(value)
    with raises(ValueError, field):
        CONTROLLERS[name]().load_state_dict(state)


def test_velocity_inf_and_negative_next_rate_are_refused():
    for field, value in (("velocity", np.inf), ("next_lr", -1.0), ("velocity", np.nan)):
        state = trained(CONTROLLERS["second"]).state_dict()
        state[field] = np.array(value)
        with raises(ValueError, field):
            SecondOrderLR(0.1).load_state_dict(state)


@pytest.mark.parametrize("make", [AdamDirection, AveragedGradientDirection])
def test_directions_refuse_integer_gradients_and_a_change_of_shape(make):
    with raises(TypeError, "grad"):
        make()(np.array([1, 2, 3]))
    d = make()
    d(np.ones(3))
    with raises(ValueError, "grad"):
        d(np.ones(4))
    with raises(ValueError, "grad"):
        d(np.ones(3, dtype=np.float32))


@pytest.mark.parametrize("make", [AdamDirection, AveragedGradientDirection])
@pytest.mark.parametrize("key, value", [
    ("t", np.array(-1)), ("t", np.array(1.5)), ("t", np.array([1, 2])),
    ("m", np.array([np.nan, 1.0, 1.0])), ("m", np.array([1.0, 1.0])),
    ("m", np.array(["a", "b", "c"])), ("t", np.array(0))])
def test_direction_states_are_checked(make, key, value):
    d = make()
    d(np.ones(3))
    state = d.state_dict()
    if key == "m" and len(value) == 2 and make is AveragedGradientDirection:
        state["t"] = np.array(1)
        value = np.array([[1.0, 1.0]])  # no v to differ from: make m the wrong kind instead
        state["m"] = np.array(["x"])
        key = "m"
    else:
        state[key] = value
    with raises(ValueError, key):
        make().load_state_dict(state)


def test_adam_second_moment_must_be_nonnegative():
    d = AdamDirection()
    d(np.ones(3))
    state = d.state_dict()
    state["v"] = -np.ones(3)
    with raises(ValueError, "v"):
        AdamDirection().load_state_dict(state)


class BadRate(FixedLR):
    """A controller that returns ``rate`` instead of its own."""

    def __init__(self, rate):
        super().__init__(0.1)
        self.rate = rate

    def step(self, grad=None, phi=None):
        return self.rate


@pytest.mark.parametrize("rate", [math.nan, math.inf, -0.1, "0.1", None, np.array([0.1]), True])
def test_a_controller_returning_a_bad_rate_is_named(rate):
    with raises(ValueError, "BadRate returned"):
        train(LIN, BadRate(rate), X, y_reg)


@pytest.mark.parametrize("model", ["linear", None, LinearRegression])
def test_evaluate_needs_a_model(model):
    with raises(TypeError, "model"):
        evaluate(model, W_LIN, X, y_reg)


@pytest.mark.parametrize("kw", [{"model": LinearRegression}, {"controller": FixedLR},
                                {"direction": AdamDirection}])
def test_classes_instead_of_instances(kw):
    args = {"model": LIN, "controller": FixedLR(1e-3), **kw}
    name = next(iter(kw))
    with raises(TypeError, f"{name} must be an instance"):
        train(args.pop("model"), args.pop("controller"), X, y_reg, **args)

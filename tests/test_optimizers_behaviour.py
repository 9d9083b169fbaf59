"""Optimizer behaviour: the seeds' clipping example and ravine claim, Keras' interface
(identifiers, configs, errors), state save/restore, the buffer path, and edge cases."""

import json

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import optimizers
from deepgrad.optimizers import schedules

ALL_NAMES = ["sgd", "rmsprop", "adam", "adamw", "adagrad", "adadelta", "adamax", "nadam", "lion", "lars"]


def make_variables(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return [dg.tensor(rng.normal(size=(3, 4)), requires_grad=True, dtype=dtype),
            dg.tensor(rng.normal(size=4), requires_grad=True, dtype=dtype)]


def set_gradients(variables, seed=1):
    rng = np.random.default_rng(seed)
    for v in variables:
        v.grad = rng.normal(size=v.shape).astype(v.dtype)


# ----------------------------------------------------------------------------- clipping
def test_seed_clipvalue_example():
    """clipvalue=1.0 turns [0.9, 100.0] into [0.9, 1.0] (the direction changes)."""
    w = dg.tensor([0.0, 0.0], requires_grad=True, dtype=np.float64)
    w.grad = np.array([0.9, 100.0])
    optimizers.SGD(learning_rate=1.0, clipvalue=1.0).step([w])
    np.testing.assert_allclose(-w.numpy(), [0.9, 1.0])


def test_seed_clipnorm_example_keeps_direction():
    """clipnorm=1.0 turns [0.9, 100.0] into [0.00899, 0.999995] = g / ||g||."""
    g = np.array([0.9, 100.0])
    w = dg.tensor([0.0, 0.0], requires_grad=True, dtype=np.float64)
    w.grad = g.copy()
    optimizers.SGD(learning_rate=1.0, clipnorm=1.0).step([w])
    np.testing.assert_allclose(-w.numpy(), g / np.linalg.norm(g))
    # the seeds quote it rounded, [0.00899, 0.999995]; exactly it is [0.0089996, 0.9999595]
    np.testing.assert_allclose(-w.numpy(), [0.00899, 0.999995], atol=4e-5)
    np.testing.assert_array_equal(w.grad, g)  # the gradient array itself is left alone


def test_clipnorm_is_per_variable_and_global_clipnorm_is_joint():
    for buffered in (False, True):
        a = dg.tensor([0.0, 0.0], requires_grad=True, dtype=np.float64)
        b = dg.tensor([0.0], requires_grad=True, dtype=np.float64)
        if buffered:
            dg.ParameterBuffer([a, b])
        set_grad(a, [3.0, 4.0])
        set_grad(b, [0.5])
        optimizers.SGD(learning_rate=1.0, clipnorm=1.0).step([a, b])
        np.testing.assert_allclose(-a.numpy(), [0.6, 0.8])     # norm 5 -> 1
        np.testing.assert_allclose(-b.numpy(), [0.5])          # norm 0.5 < 1: unchanged
    a = dg.tensor([0.0, 0.0], requires_grad=True, dtype=np.float64)
    b = dg.tensor([0.0], requires_grad=True, dtype=np.float64)
    a.grad, b.grad = np.array([3.0, 4.0]), np.array([12.0])     # joint norm 13
    optimizers.SGD(learning_rate=1.0, global_clipnorm=1.0).step([a, b])
    np.testing.assert_allclose(-np.concatenate([a.numpy(), b.numpy()]), np.array([3.0, 4.0, 12.0]) / 13)


@pytest.mark.parametrize("name", ALL_NAMES)
def test_more_than_one_clipping_argument_raises(name):
    cls = type(optimizers.get(name))
    with pytest.raises(ValueError, match="Only one of `clipnorm`, `clipvalue` and `global_clipnorm`"):
        cls(clipnorm=1.0, clipvalue=0.5)
    assert cls(clipnorm=1.0).clipnorm == 1.0 and cls(global_clipnorm=2.0).global_clipnorm == 2.0


# ----------------------------------------------------------------------------- the ravine
def steps_below(optimizer, threshold=1e-6, limit=3000):
    """Steps of `optimizer` on f(x, y) = (x^2 + 100 y^2) / 2 from (1, 1) until f < threshold."""
    curvature = np.array([1.0, 100.0])
    w = dg.tensor([1.0, 1.0], requires_grad=True, dtype=np.float64)
    for step in range(limit):
        if 0.5 * float((curvature * w.data ** 2).sum()) < threshold:
            return step
        w.grad = curvature * w.data
        optimizer.step([w])
    return limit


def test_ravine_momentum_rmsprop_adam_beat_plain_sgd():
    """The seeds' claim: in a ravine (condition number 100) plain gradient descent zigzags
    and crawls; momentum, RMSprop and Adam reach the bottom in far fewer steps."""
    counts = {
        "SGD (lr=0.019, near the best fixed rate 2/(L+mu))": steps_below(optimizers.SGD(learning_rate=0.019)),
        "SGD momentum=0.8 (lr=0.02)": steps_below(optimizers.SGD(learning_rate=0.02, momentum=0.8)),
        "RMSprop (lr=0.03)": steps_below(optimizers.RMSprop(learning_rate=0.03)),
        "Adam (lr=0.1)": steps_below(optimizers.Adam(learning_rate=0.1)),
    }
    print("\nsteps until loss < 1e-6 on the ravine (x^2 + 100 y^2)/2:")
    for name, count in counts.items():
        print(f"  {name:55s} {count}")
    plain, *others = counts.values()
    assert plain < 3000, "plain SGD should still get there"
    assert all(count * 3 < plain for count in others), counts


# ----------------------------------------------------------------------------- interface
@pytest.mark.parametrize("name", ALL_NAMES)
def test_get_names_case_insensitively_and_round_trips_config(name):
    optimizer = optimizers.get(name.upper() if name != "adam" else "Adam")
    assert type(optimizer).__name__.lower() == name
    config = optimizer.get_config()
    json.dumps(config)
    clone = type(optimizer).from_config(config)
    assert clone.get_config() == config
    assert optimizers.deserialize(json.loads(json.dumps(optimizers.serialize(optimizer)))).get_config() == config


def test_keras_defaults():
    sgd = optimizers.SGD()
    assert ((sgd.learning_rate, sgd.momentum, sgd.nesterov, sgd.weight_decay, sgd.name)
            == (0.01, 0.0, False, None, "SGD"))
    adam = optimizers.Adam()
    assert ((adam.learning_rate, adam.beta_1, adam.beta_2, adam.epsilon, adam.amsgrad)
            == (0.001, 0.9, 0.999, 1e-7, False))
    rms = optimizers.RMSprop()
    assert (rms.learning_rate, rms.rho, rms.momentum, rms.epsilon, rms.centered) == (0.001, 0.9, 0.0, 1e-7, False)
    assert optimizers.Adagrad().initial_accumulator_value == 0.1
    assert (optimizers.Adadelta().learning_rate, optimizers.Adadelta().rho) == (0.001, 0.95)
    assert optimizers.AdamW().weight_decay == 0.004
    assert (optimizers.Lion().beta_1, optimizers.Lion().beta_2) == (0.9, 0.99)


def test_unknown_identifiers_and_arguments_explain_the_fix():
    with pytest.raises(ValueError, match="'sgd'.*'lars'"):
        optimizers.get("adamm")
    with pytest.raises(ValueError, match="could not interpret"):
        optimizers.get(3)
    with pytest.raises(TypeError, match="learning_rate"):
        optimizers.SGD(lr=0.1)
    with pytest.raises(ValueError, match="momentum"):
        optimizers.SGD(momentum=1.5)
    with pytest.raises(ValueError, match="weight_decay"):
        optimizers.AdamW(weight_decay=None)
    with pytest.raises(TypeError, match="Tensors"):
        optimizers.SGD().step([np.zeros(3)])
    w = make_variables()[0]
    with pytest.raises(ValueError, match="does not match"):
        optimizers.SGD().apply_gradients([(np.zeros(5), w)])


def test_apply_gradients_and_step_agree():
    a, b = make_variables(), make_variables()
    set_gradients(a)
    grads = [v.grad.copy() for v in a]
    first, second = optimizers.Adam(learning_rate=0.1), optimizers.Adam(learning_rate=0.1)
    for _ in range(3):
        first.step(a)
        second.apply_gradients(zip(grads, b))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.numpy(), y.numpy())
    assert first.iterations == second.iterations == 3


def test_schedule_drives_the_learning_rate_by_iterations():
    schedule = schedules.PiecewiseConstantDecay([0], [1.0, 0.5])
    optimizer = optimizers.SGD(learning_rate=schedule)
    w = dg.tensor([0.0], requires_grad=True, dtype=np.float64)
    for _ in range(2):
        w.grad = np.array([1.0])
        optimizer.step([w])
    np.testing.assert_allclose(w.numpy(), [-1.5])  # step 0 uses 1.0, step 1 uses 0.5
    config = json.loads(json.dumps(optimizer.get_config()))
    assert isinstance(optimizers.SGD.from_config(config)._learning_rate, schedules.PiecewiseConstantDecay)
    with pytest.raises(TypeError, match="not settable"):
        optimizer.learning_rate = 0.1


def test_weight_decay_is_decoupled():
    w = dg.tensor([2.0], requires_grad=True, dtype=np.float64)
    w.grad = np.array([0.0])
    optimizers.Adam(learning_rate=0.1, weight_decay=0.5).step([w])
    np.testing.assert_allclose(w.numpy(), [2.0 - 0.1 * 0.5 * 2.0])  # zero gradient: only the decay acts


# ----------------------------------------------------------------------------- state
@pytest.mark.parametrize("name", ALL_NAMES)
@pytest.mark.parametrize("buffered", [False, True], ids=["loose", "buffer"])
def test_state_round_trip_continues_identically(name, buffered):
    """Save after 3 steps, restore into a fresh optimizer and fresh copies: the next 3 steps match."""
    variables = make_variables()
    if buffered:
        dg.ParameterBuffer(variables)
    optimizer = type(optimizers.get(name))(learning_rate=0.01)
    for seed in range(3):
        set_gradients_inplace(variables, seed)
        optimizer.step(variables)
    state = optimizer.get_state()
    json.dumps({k: v for k, v in state.items() if k != "arrays"})
    assert all(isinstance(a, np.ndarray) for a in state["arrays"].values())

    copies = [dg.tensor(v.numpy().copy(), requires_grad=True, dtype=np.float64) for v in variables]
    restored = type(optimizer).from_config(optimizer.get_config())
    restored.set_state(state)  # before the first step: applied when the state is built
    for seed in range(3, 6):
        set_gradients_inplace(variables, seed)
        set_gradients_inplace(copies, seed)
        optimizer.step(variables)
        restored.step(copies)
    for a, b in zip(variables, copies):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12)
    assert restored.iterations == optimizer.iterations == 6


def set_grad(variable, values):
    """Write a gradient: into the buffer view for buffered tensors, else as a new array."""
    if variable._grad_view is not None:
        variable._grad_view[...] = values
        variable.grad = variable._grad_view
    else:
        variable.grad = np.asarray(values, dtype=variable.dtype)


def set_gradients_inplace(variables, seed):
    rng = np.random.default_rng(seed)
    for v in variables:
        set_grad(v, rng.normal(size=v.shape))


def test_set_state_checks_shapes():
    variables = make_variables()
    set_gradients(variables)
    optimizer = optimizers.Adam()
    optimizer.step(variables)
    state = optimizer.get_state()
    other = [dg.tensor(np.zeros((2, 2)), requires_grad=True), variables[1]]
    with pytest.raises(ValueError, match="shape"):
        optimizers.Adam().set_state(state, other)
    with pytest.raises(ValueError, match="slots"):
        optimizers.Adam(amsgrad=True).set_state(state, variables)


def test_buffer_path_equals_loose_path_and_shares_state():
    loose, buffered = make_variables(seed=3), make_variables(seed=3)
    buffer = dg.ParameterBuffer(buffered)
    a = optimizers.LARS(learning_rate=0.5, weight_decay=1e-3, clipnorm=0.5)
    b = optimizers.LARS(learning_rate=0.5, weight_decay=1e-3, clipnorm=0.5)
    for seed in range(4):
        set_gradients_inplace(loose, seed)
        set_gradients_inplace(buffered, seed)
        a.step(loose)
        b.step(buffer)
    for x, y in zip(loose, buffered):
        np.testing.assert_allclose(x.numpy(), y.numpy(), rtol=1e-12)
    assert b._flat is not None and np.shares_memory(b._state[0]["momentum"], b._flat.slots["momentum"])
    # a subset of the buffer falls back to the per-variable path on the same state
    set_gradients_inplace(loose, 9)
    set_gradients_inplace(buffered, 9)
    a.apply_gradients([(loose[0].grad, loose[0])])
    b.apply_gradients([(buffered[0].grad.copy(), buffered[0])])
    np.testing.assert_allclose(loose[0].numpy(), buffered[0].numpy(), rtol=1e-12)


# ----------------------------------------------------------------------------- edge cases
@pytest.mark.parametrize("name", ALL_NAMES)
def test_zero_gradients_leave_variables_unchanged(name):
    variables = make_variables()
    before = [v.numpy().copy() for v in variables]
    for v in variables:
        v.grad = np.zeros(v.shape)
    optimizer = optimizers.get(name)
    if name in ("adamw",):
        optimizer = optimizers.AdamW(weight_decay=0.0)
    optimizer.step(variables)
    for v, b in zip(variables, before):
        np.testing.assert_array_equal(v.numpy(), b)


@pytest.mark.parametrize("name", ALL_NAMES)
def test_variable_without_gradient_is_skipped(name):
    variables = make_variables()
    set_gradients(variables)
    variables[1].grad = None
    before = variables[1].numpy().copy()
    optimizer = optimizers.get(name)
    optimizer.step(variables)
    optimizer.apply_gradients([(None, variables[1]), (variables[0].grad, variables[0])])
    np.testing.assert_array_equal(variables[1].numpy(), before)
    assert optimizer.iterations == 2


@pytest.mark.parametrize("clip", [{}, {"clipnorm": 1.0}, {"clipvalue": 1.0}, {"global_clipnorm": 1.0}])
@pytest.mark.parametrize("name", ALL_NAMES)
def test_nan_gradient_is_never_turned_into_a_finite_update(name, clip):
    variables = make_variables()
    set_gradients(variables)
    variables[0].grad[1, 2] = np.nan
    optimizer = type(optimizers.get(name))(**clip)
    optimizer.step(variables)
    assert np.isnan(variables[0].numpy()[1, 2])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ALL_NAMES)
def test_float32_and_float64_variables_keep_their_dtype(name, dtype):
    variables = make_variables(dtype=dtype)
    buffer = dg.ParameterBuffer(variables)
    set_gradients_inplace(variables, 0)
    optimizer = type(optimizers.get(name))(learning_rate=0.01)
    for _ in range(2):
        optimizer.step(variables)
    assert buffer.data.dtype == dtype and all(v.dtype == dtype for v in variables)
    state = optimizer.get_state()
    assert all(a.dtype == dtype for a in state["arrays"].values())
    reference = make_variables(dtype=np.float64)
    set_gradients_inplace(reference, 0)
    optimizer64 = type(optimizers.get(name))(learning_rate=0.01)
    for _ in range(2):
        optimizer64.step(reference)
    for v, r in zip(variables, reference):
        np.testing.assert_allclose(v.numpy(), r.numpy(), rtol=1e-4, atol=1e-5)

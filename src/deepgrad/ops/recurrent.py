"""Recurrent layers as one op each: the loop over time forward, backpropagation through time backward.

Each op takes a whole batch of sequences x (batch, time, features) and returns the hidden
state of every step, so that ``return_sequences`` and ``return_state`` are views of one
result and the graph holds one node per layer instead of one per gate per step.

Shared structure of the three ops:

* The input projection of every step is one matrix product before the loop:
  P = x W + b, shape (batch, time, k units), with k = 1 (SimpleRNN), 4 (LSTM), 3 (GRU).
* Each step adds the recurrent projection h_{t-1} U, one product for all k gates.
* Masks (Keras semantics): where ``mask[n, t]`` is False, sample n keeps its previous
  state and repeats its previous output: h_t = m h_new + (1 - m) h_{t-1}. The backward
  pass routes the gradient of a masked step straight to h_{t-1}.
* ``go_backwards`` processes the steps in reverse input order and returns the states in
  processing order (as Keras does: the output sequence is reversed too).
* ``recurrent_dropout_mask`` (batch, units), when given, multiplies h_{t-1} before the
  recurrent product at every step (one mask for all steps, as Keras draws it).
* Backward: the loop runs once from the last step to the first, carrying dL/dh (and
  dL/dc for the LSTM) and storing dL/dz_t for every step; dW = X^T dZ, dU = H_prev^T dZ,
  db = sum dZ and dX = dZ W^T are then one matrix product each over all steps.

Speed: the LSTM and the GRU (reset_after) keep every per-step buffer time-major
(time, batch, ...) in processing order, so each step reads and writes contiguous slices;
the recurrent product of each step is written into a preallocated array
(``matmul(..., out=)``), and the gate arithmetic of a step is one call of a step
function of :mod:`deepgrad.ops.recurrent_fused` (compiled with numba when available).

Weight layouts are Keras 3's: kernel (input_dim, k units), recurrent_kernel (units,
k units), gates in the order i, f, c, o (LSTM) and z, r, h (GRU).

``last_state_gradients`` holds, after each backward of a recurrent op, the norm of
dL/dh_t per processing step (averaged over the batch) under the op's ``trace_key``
(the layer's name; the op's name when absent), which
:class:`deepgrad.diagnostics.GradientMonitor` reads to show gradients through time.
"""

from __future__ import annotations

from ..backend import namespace
from ..tensor import Tensor, as_tensor, make_result
from .elementwise import sigmoid_data
from .recurrent_fused import step_functions
from .replay import called_again


def _relu(v):
    return v * (v > 0)


def _hard_sigmoid(v):
    return ((v + 3).clip(0, 6)) / 6


#: activation name -> (f(z), f'(z) written as a function of y = f(z))
ACTIVATIONS = {
    "tanh": (lambda v: namespace(v).tanh(v), lambda y: 1 - y * y),
    "sigmoid": (sigmoid_data, lambda y: y * (1 - y)),
    "relu": (_relu, lambda y: (y > 0).astype(y.dtype)),
    "linear": (lambda v: v, lambda y: namespace(y).ones_like(y)),
    "hard_sigmoid": (_hard_sigmoid, lambda y: ((y > 0) & (y < 1)).astype(y.dtype) / 6),
}

#: norms of dL/dh_t per step of the last backward pass of each recurrent op, by op name
last_state_gradients: dict = {}


def activation_pair(name, argument="activation"):
    """(f, f' from f's output) for an activation the recurrent ops support, or a ValueError naming them."""
    if callable(name):
        name = getattr(name, "__name__", repr(name))
    if name is None:
        name = "linear"
    if name not in ACTIVATIONS:
        raise ValueError(f"recurrent layers support {argument} in {sorted(ACTIVATIONS)}, got {name!r}.")
    return ACTIVATIONS[name]


def _prepare(x, kernel, recurrent_kernel, bias, states, mask, k, what):
    """Tensors, shapes and the step order shared by the three ops; checks every shape."""
    x = as_tensor(x)
    kernel = as_tensor(kernel, like=x)
    recurrent_kernel = as_tensor(recurrent_kernel, like=x)
    if x.ndim != 3:
        raise ValueError(f"{what} expects inputs of shape (batch, timesteps, features), got shape {x.shape}.")
    batch, steps, features = x.shape
    units = recurrent_kernel.shape[0]
    if kernel.shape != (features, k * units) or recurrent_kernel.shape != (units, k * units):
        raise ValueError(f"{what}: kernel must be ({features}, {k * units}) and recurrent_kernel "
                         f"({units}, {k * units}), got {kernel.shape} and {recurrent_kernel.shape}.")
    checked = []
    for state in states:
        if state is None:
            checked.append(None)
            continue
        state = as_tensor(state, like=x)
        if state.shape != (batch, units):
            raise ValueError(f"{what}: initial_state must have shape (batch, units) = ({batch}, {units}), "
                             f"got {state.shape}.")
        checked.append(state)
    if mask is not None:
        mask = mask.data if isinstance(mask, Tensor) else mask
        if tuple(mask.shape) != (batch, steps):
            raise ValueError(f"{what}: mask must have shape (batch, timesteps) = ({batch}, {steps}), "
                             f"got {tuple(mask.shape)}.")
    bias = None if bias is None else as_tensor(bias, like=x)
    return x, kernel, recurrent_kernel, bias, checked, mask


def _step_order(steps, go_backwards):
    return list(range(steps - 1, -1, -1)) if go_backwards else list(range(steps))


def _mask_columns(xp, mask, order, dtype):
    """Per processing step, the keep mask as a (batch, 1) float column, or None when nothing is masked."""
    if mask is None:
        return None
    m = xp.asarray(mask).astype(dtype)[:, order]
    return None if bool(m.all()) else m[:, :, None]


def _record_norms(name, dh_steps):
    xp = namespace(dh_steps)
    last_state_gradients[name] = xp.sqrt((dh_steps * dh_steps).sum(axis=-1)).mean(axis=0)


def _parameter_gradients(x_data, order, kernel, dz, h_prev, want):
    """dX, dW, dU, db from dL/dz of every step: one matrix product each over all steps."""
    batch, steps, features = x_data.shape
    width = dz.shape[-1]
    flat = dz.reshape(batch * steps, width)
    # dz is in processing order; put it back in input order once for dX and dW
    dz_input = dz[:, order] if order[0] != 0 else dz
    flat_input = dz_input.reshape(batch * steps, width)
    dx = (flat_input @ kernel.T).reshape(x_data.shape) if want[0] else None
    dw = x_data.reshape(batch * steps, features).T @ flat_input if want[1] else None
    du = h_prev.reshape(batch * steps, -1).T @ flat if want[2] else None
    db = flat.sum(axis=0) if want[3] else None
    return dx, dw, du, db


def _activation_name(name):
    if callable(name):
        name = getattr(name, "__name__", repr(name))
    return "linear" if name is None else name


def _time_major(xp, data, go_backwards):
    """(time, batch, ...) contiguous copy of a (batch, time, ...) array, steps in processing order."""
    data = data.transpose(1, 0, *range(2, data.ndim))
    return xp.ascontiguousarray(data[::-1] if go_backwards else data)


def _input_projection(xp, data, kernel, bias, go_backwards):
    """The time-major inputs and x_t W + b for every step at once: one matrix product, (time, batch, gates)."""
    x_steps = _time_major(xp, data, go_backwards)
    steps, batch = x_steps.shape[:2]
    proj = x_steps.reshape(steps * batch, -1) @ kernel
    if bias is not None:
        proj += bias
    return x_steps, proj.reshape(steps, batch, kernel.shape[1])


def _keep_rows(xp, mask, go_backwards, shape, dtype):
    """Per processing step the keep flag of each sample, (time, batch) floats: ones where nothing is masked."""
    if mask is None:
        return xp.ones(shape, dtype)
    return _time_major(xp, xp.asarray(mask).astype(dtype), go_backwards)


def _batch_major(xp, data, go_backwards=False):
    """The inverse of _time_major: (batch, time, ...) contiguous, steps in input order."""
    data = data[::-1] if go_backwards else data
    return xp.ascontiguousarray(data.transpose(1, 0, *range(2, data.ndim)))


def _time_major_gradients(x_steps, kernel, da, h_prev, go_backwards, want):
    """dX, dW, dU, db from dL/da of every step (time-major, processing order): one product each."""
    xp = namespace(da)
    steps, batch, width = da.shape
    flat = da.reshape(steps * batch, width)
    dx = None
    if want[0]:
        dx = _batch_major(xp, (flat @ kernel.T).reshape(steps, batch, -1), go_backwards)
    dw = x_steps.reshape(steps * batch, -1).T @ flat if want[1] else None
    du = h_prev.reshape(steps * batch, -1).T @ flat if want[2] else None
    db = flat.sum(axis=0) if want[3] else None
    return dx, dw, du, db


@called_again
def simple_rnn(x, kernel, recurrent_kernel, bias=None, initial_state=None, mask=None, go_backwards=False,
               activation="tanh", recurrent_dropout_mask=None, trace_key=None) -> Tensor:
    """A fully connected recurrence, all steps in one op: states (batch, time, units).

    Forward: z_t = x_t W + (h_{t-1} * r) U + b, h_t = f(z_t) (r: the recurrent dropout
    mask, 1 when absent; h_0 = ``initial_state`` or zeros).

    Backward through time: with δ_t = dL/dh_t (the gradient from the output at step t plus
    the gradient carried from step t+1),
    dL/dz_t = δ_t f'(z_t) and dL/dh_{t-1} = (dL/dz_t U^T) * r.
    The gradient reaching step t from step T is therefore the product
    prod_{s=t+1..T} diag(f'(z_s)) U^T: with |f'| <= 1 and a recurrent matrix of norm
    below one it shrinks geometrically with the distance T - t (the vanishing gradient).
    """
    x, kernel, recurrent_kernel, bias, (h0,), mask = _prepare(
        x, kernel, recurrent_kernel, bias, [initial_state], mask, 1, "SimpleRNN")
    f, f_prime = activation_pair(activation)
    xp = namespace(x.data)
    batch, steps, features = x.shape
    units = recurrent_kernel.shape[0]
    order = _step_order(steps, go_backwards)
    dtype = x.data.dtype
    proj = x.data.reshape(batch * steps, features) @ kernel.data
    if bias is not None:
        proj = proj + bias.data
    proj = proj.reshape(batch, steps, units)
    keep = _mask_columns(xp, mask, order, dtype)
    r = None if recurrent_dropout_mask is None else xp.asarray(recurrent_dropout_mask, dtype=dtype)
    u = recurrent_kernel.data
    h = xp.zeros((batch, units), dtype) if h0 is None else h0.data
    hs = xp.empty((batch, steps, units), dtype)
    h_prev = xp.empty((batch, steps, units), dtype)  # the recurrent input of each step (after dropout)
    ys = xp.empty((batch, steps, units), dtype)      # f(z_t), before the mask
    for s, t in enumerate(order):
        hin = h if r is None else h * r
        h_prev[:, s] = hin
        y = f(proj[:, t] + hin @ u)
        ys[:, s] = y
        h = y if keep is None else keep[:, s] * y + (1 - keep[:, s]) * h
        hs[:, s] = h
    x_data, k_data = x.data, kernel.data
    parents = [p for p in (x, kernel, recurrent_kernel, bias, h0) if p is not None]

    def grads(g):
        dz = xp.empty_like(ys)
        dh_steps = xp.empty_like(ys)
        dh = xp.zeros((batch, units), dtype)
        for s in range(steps - 1, -1, -1):
            dh = dh + g[:, s]
            dh_steps[:, s] = dh
            dnew = dh if keep is None else dh * keep[:, s]
            dz[:, s] = dnew * f_prime(ys[:, s])
            back = dz[:, s] @ u.T
            if r is not None:
                back = back * r
            dh = back if keep is None else back + dh * (1 - keep[:, s])
        _record_norms(trace_key or "simple_rnn", dh_steps)
        want = (x.requires_grad, kernel.requires_grad, recurrent_kernel.requires_grad,
                bias is not None and bias.requires_grad)
        dx, dw, du, db = _parameter_gradients(x_data, order, k_data, dz, h_prev, want)
        result = [dx, dw, du] + ([db] if bias is not None else [])
        if h0 is not None:
            result.append(dh)
        return tuple(result)

    return make_result(hs, tuple(parents), grads, "simple_rnn")


@called_again
def lstm(x, kernel, recurrent_kernel, bias=None, initial_state=None, mask=None, go_backwards=False,
         activation="tanh", recurrent_activation="sigmoid", recurrent_dropout_mask=None, trace_key=None) -> Tensor:
    """Long short-term memory, all steps in one op: (batch, time, 2 units) = [h_t | c_t] per step.

    Forward (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al. 2000;
    σ = ``recurrent_activation``, φ = ``activation``), gates in Keras' order i, f, c, o:

        [a_i a_f a_c a_o] = x_t W + (h_{t-1} * r) U + b
        i = σ(a_i), f = σ(a_f), g = φ(a_c), o = σ(a_o)
        c_t = f c_{t-1} + i g
        h_t = o φ(c_t)

    ``initial_state`` is [h_0, c_0] (zeros when absent).

    Backward through time, with δh_t = dL/dh_t and δc_t = dL/dc_t (each the gradient from
    the outputs at step t plus the one carried from step t+1):

        δc_t += δh_t o φ'(c_t)
        da_o = δh_t φ(c_t) σ'(a_o),   da_i = δc_t g σ'(a_i)
        da_f = δc_t c_{t-1} σ'(a_f),  da_c = δc_t i φ'(a_c)
        δh_{t-1} = ([da_i da_f da_c da_o] U^T) * r
        δc_{t-1} = δc_t f

    Why the LSTM does not forget its gradient: the cell path c_{t-1} -> c_t is additive,
    so dc_t/dc_{t-1} = f (elementwise, no weight matrix, no squashing derivative). Over k
    steps the gradient is multiplied by f_{t+1} ... f_{t+k}, which stays close to 1 while
    the forget gates are open (``unit_forget_bias`` starts them open), instead of by
    k products diag(φ') U^T that shrink it geometrically as in a plain RNN.
    """
    h0, c0 = (None, None) if initial_state is None else initial_state
    x, kernel, recurrent_kernel, bias, (h0, c0), mask = _prepare(
        x, kernel, recurrent_kernel, bias, [h0, c0], mask, 4, "LSTM")
    pairs = activation_pair(recurrent_activation, "recurrent_activation") + activation_pair(activation)
    xp = namespace(x.data)
    batch, steps, features = x.shape
    n = recurrent_kernel.shape[0]
    dtype = x.data.dtype
    # time-major buffers in processing order: every step reads and writes contiguous slices
    x_steps, proj = _input_projection(xp, x.data, kernel.data, None if bias is None else bias.data, go_backwards)
    step_forward, step_backward = step_functions(
        "lstm", (_activation_name(activation), _activation_name(recurrent_activation), pairs), proj)
    keep = _keep_rows(xp, mask, go_backwards, (steps, batch), dtype)
    r = None if recurrent_dropout_mask is None else xp.asarray(recurrent_dropout_mask, dtype=dtype)
    u = recurrent_kernel.data
    hs = xp.empty((steps + 1, batch, n), dtype)         # h_{s-1} at [s], h_s at [s + 1]
    cs = xp.empty((steps + 1, batch, n), dtype)
    hs[0] = 0 if h0 is None else h0.data
    cs[0] = 0 if c0 is None else c0.data
    gates = xp.empty((steps, batch, 4 * n), dtype)      # i, f, g, o after their activations
    tanh_c = xp.empty((steps, batch, n), dtype)         # φ(c_t) of the new cell state
    a = xp.empty((batch, 4 * n), dtype)
    for s in range(steps):
        xp.matmul(hs[s] if r is None else hs[s] * r, u, out=a)
        step_forward(a, proj[s], hs[s], cs[s], keep[s], gates[s], tanh_c[s], hs[s + 1], cs[s + 1])
    out = xp.concatenate([_batch_major(xp, hs[1:]), _batch_major(xp, cs[1:])], axis=2)
    k_data = kernel.data
    parents = [p for p in (x, kernel, recurrent_kernel, bias, h0, c0) if p is not None]

    def grads(g):
        g = _time_major(xp, g, False)
        gh, gc = xp.ascontiguousarray(g[:, :, :n]), xp.ascontiguousarray(g[:, :, n:])
        ones = xp.ones((batch, n), dtype)
        rr = ones if r is None else r
        da = xp.empty_like(gates)
        dh_steps = xp.empty((steps, batch, n), dtype)
        back = xp.zeros((batch, n), dtype)
        skip = xp.zeros((batch, n), dtype)
        dc = xp.zeros((batch, n), dtype)
        u_t = xp.ascontiguousarray(u.T)
        for s in range(steps - 1, -1, -1):
            step_backward(back, rr, skip, dc, gh[s], gc[s], gates[s], cs[s], tanh_c[s], keep[s], da[s],
                          dh_steps[s])
            xp.matmul(da[s], u_t, out=back)
        _record_norms(trace_key or "lstm", dh_steps.transpose(1, 0, 2))
        want = (x.requires_grad, kernel.requires_grad, recurrent_kernel.requires_grad,
                bias is not None and bias.requires_grad)
        h_prev = hs[:-1] if r is None else hs[:-1] * r
        dx, dw, du, db = _time_major_gradients(x_steps, k_data, da, h_prev, go_backwards, want)
        result = [dx, dw, du] + ([db] if bias is not None else [])
        if h0 is not None:
            result.append(back * rr + skip)
        if c0 is not None:
            result.append(dc)
        return tuple(result)

    return make_result(out, tuple(parents), grads, "lstm")


def _check_gru_bias(bias, n, reset_after):
    expected = (2, 3 * n) if reset_after else (3 * n,)
    if bias is not None and bias.shape != expected:
        raise ValueError(f"GRU: bias must have shape {expected} with reset_after={reset_after}, got {bias.shape}.")


@called_again
def gru(x, kernel, recurrent_kernel, bias=None, initial_state=None, mask=None, go_backwards=False,
        activation="tanh", recurrent_activation="sigmoid", reset_after=True,
        recurrent_dropout_mask=None, trace_key=None) -> Tensor:
    """Gated recurrent unit (Cho et al. 2014), all steps in one op: states (batch, time, units).

    Gates in Keras' order z, r, h; σ = ``recurrent_activation``, φ = ``activation``;
    with ``reset_after=True`` (Keras 3's default and PyTorch's formulation) the bias is
    (2, 3 units): b_x (input) and b_h (recurrent):

        [p_z p_r p_h] = x_t W + b_x,  [q_z q_r q_h] = (h_{t-1} * r) U + b_h
        z = σ(p_z + q_z), r_t = σ(p_r + q_r), ĥ = φ(p_h + r_t q_h)
        h_t = z h_{t-1} + (1 - z) ĥ

    With ``reset_after=False`` (the original GRU; bias (3 units,)) the reset gate acts
    before the product: ĥ = φ(p_h + (r_t h_{t-1}) U_h), the z and r columns as above.

    Backward through time, δ_t = dL/dh_t:

        dĥ = δ_t (1 - z),  da_h = dĥ φ'(ĥ),  da_z = δ_t (h_{t-1} - ĥ) σ'(z)
        reset_after:  dq_h = da_h r_t,  da_r = da_h q_h σ'(r_t)
        δh_{t-1} = δ_t z + ([da_z da_r dq_h] U^T) * r

    The term δ_t z is the GRU's additive path: an update gate z near 1 copies the state
    and its gradient through the step unchanged, as the LSTM's forget gate does.
    """
    x, kernel, recurrent_kernel, bias, (h0,), mask = _prepare(
        x, kernel, recurrent_kernel, bias, [initial_state], mask, 3, "GRU")
    if reset_after:
        _check_gru_bias(bias, recurrent_kernel.shape[0], reset_after)
        return _gru_reset_after(x, kernel, recurrent_kernel, bias, h0, mask, go_backwards, activation,
                                recurrent_activation, recurrent_dropout_mask, trace_key)
    sig, sig_prime = activation_pair(recurrent_activation, "recurrent_activation")
    phi, phi_prime = activation_pair(activation)
    xp = namespace(x.data)
    batch, steps, features = x.shape
    n = recurrent_kernel.shape[0]
    order = _step_order(steps, go_backwards)
    dtype = x.data.dtype
    # reset_after=False from here on: the reset gate acts before the recurrent product
    _check_gru_bias(bias, n, False)
    proj = x.data.reshape(batch * steps, features) @ kernel.data
    if bias is not None:
        proj = proj + bias.data
    proj = proj.reshape(batch, steps, 3 * n)
    keep = _mask_columns(xp, mask, order, dtype)
    r_drop = None if recurrent_dropout_mask is None else xp.asarray(recurrent_dropout_mask, dtype=dtype)
    u = recurrent_kernel.data
    h = xp.zeros((batch, n), dtype) if h0 is None else h0.data
    hs = xp.empty((batch, steps, n), dtype)
    gates = xp.empty((batch, steps, 3 * n), dtype)   # z, r, ĥ after their activations
    h_prev = xp.empty((batch, steps, n), dtype)       # the recurrent input h_{t-1} * dropout mask
    h_last = xp.empty((batch, steps, n), dtype)       # h_{t-1} itself
    for s, t in enumerate(order):
        hin = h if r_drop is None else h * r_drop
        h_prev[:, s] = hin
        h_last[:, s] = h
        p = proj[:, t]
        gate = gates[:, s]
        gate[:, :2 * n] = sig(p[:, :2 * n] + hin @ u[:, :2 * n])
        gate[:, 2 * n:] = phi(p[:, 2 * n:] + (gate[:, n:2 * n] * hin) @ u[:, 2 * n:])
        z, hh = gate[:, :n], gate[:, 2 * n:]
        h_new = z * h + (1 - z) * hh
        h = h_new if keep is None else keep[:, s] * h_new + (1 - keep[:, s]) * h
        hs[:, s] = h
    x_data, k_data = x.data, kernel.data
    parents = [p for p in (x, kernel, recurrent_kernel, bias, h0) if p is not None]

    def grads(g):
        da = xp.empty_like(gates)        # d(input projection) of z, r, h
        dh_steps = xp.empty((batch, steps, n), dtype)
        du_h = xp.zeros((n, n), dtype)
        dh = xp.zeros((batch, n), dtype)
        for s in range(steps - 1, -1, -1):
            dh = dh + g[:, s]
            dh_steps[:, s] = dh
            m = None if keep is None else keep[:, s]
            dnew = dh if m is None else dh * m
            gate = gates[:, s]
            z, rr, hh = gate[:, :n], gate[:, n:2 * n], gate[:, 2 * n:]
            hp = h_last[:, s]
            step = da[:, s]
            step[:, 2 * n:] = dnew * (1 - z) * phi_prime(hh)
            step[:, :n] = dnew * (hp - hh) * sig_prime(z)
            carry = dnew * z
            hin = h_prev[:, s]
            d_rh = step[:, 2 * n:] @ u[:, 2 * n:].T
            step[:, n:2 * n] = d_rh * hin * sig_prime(rr)
            du_h += (rr * hin).T @ step[:, 2 * n:]
            back = step[:, :2 * n] @ u[:, :2 * n].T + d_rh * rr
            if r_drop is not None:
                back = back * r_drop
            dh = carry + back
            if m is not None:
                dh = dh + dh_steps[:, s] * (1 - m)
        _record_norms(trace_key or "gru", dh_steps)
        want = (x.requires_grad, kernel.requires_grad, recurrent_kernel.requires_grad,
                bias is not None and bias.requires_grad)
        dx, dw, _, db = _parameter_gradients(x_data, order, k_data, da, h_prev, (want[0], want[1], False, want[3]))
        du = None
        if want[2]:
            flat_prev = h_prev.reshape(batch * steps, n)
            du = xp.concatenate([flat_prev.T @ da[:, :, :2 * n].reshape(batch * steps, 2 * n), du_h], axis=1)
        result = [dx, dw, du] + ([db] if bias is not None else [])
        if h0 is not None:
            result.append(dh)
        return tuple(result)

    return make_result(hs, tuple(parents), grads, "gru")


def _gru_reset_after(x, kernel, recurrent_kernel, bias, h0, mask, go_backwards, activation, recurrent_activation,
                     recurrent_dropout_mask, trace_key):
    """The GRU with reset_after=True on time-major buffers (equations in :func:`gru`)."""
    pairs = activation_pair(recurrent_activation, "recurrent_activation") + activation_pair(activation)
    xp = namespace(x.data)
    batch, steps, features = x.shape
    n = recurrent_kernel.shape[0]
    dtype = x.data.dtype
    x_steps, proj = _input_projection(xp, x.data, kernel.data, None if bias is None else bias.data[0], go_backwards)
    b_h = None if bias is None else bias.data[1]
    step_forward, step_backward = step_functions(
        "gru", (_activation_name(activation), _activation_name(recurrent_activation), pairs), proj)
    keep = _keep_rows(xp, mask, go_backwards, (steps, batch), dtype)
    r = None if recurrent_dropout_mask is None else xp.asarray(recurrent_dropout_mask, dtype=dtype)
    u = recurrent_kernel.data
    hs = xp.empty((steps + 1, batch, n), dtype)         # h_{s-1} at [s], h_s at [s + 1]
    hs[0] = 0 if h0 is None else h0.data
    gates = xp.empty((steps, batch, 3 * n), dtype)      # z, r, ĥ after their activations
    q = xp.empty((steps, batch, 3 * n), dtype)          # the recurrent products h_{t-1} U + b_h
    for s in range(steps):
        xp.matmul(hs[s] if r is None else hs[s] * r, u, out=q[s])
        if b_h is not None:
            q[s] += b_h
        step_forward(q[s], proj[s], hs[s], keep[s], gates[s], hs[s + 1])
    out = _batch_major(xp, hs[1:])
    k_data = kernel.data
    parents = [p for p in (x, kernel, recurrent_kernel, bias, h0) if p is not None]

    def grads(g):
        gh = _time_major(xp, g, False)
        rr = xp.ones((batch, n), dtype) if r is None else r
        da = xp.empty_like(gates)
        dq = xp.empty_like(gates)
        dh_steps = xp.empty((steps, batch, n), dtype)
        back = xp.zeros((batch, n), dtype)
        skip = xp.zeros((batch, n), dtype)
        u_t = xp.ascontiguousarray(u.T)
        for s in range(steps - 1, -1, -1):
            step_backward(back, rr, skip, gh[s], gates[s], q[s], hs[s], keep[s], da[s], dq[s], dh_steps[s])
            xp.matmul(dq[s], u_t, out=back)
        _record_norms(trace_key or "gru", dh_steps.transpose(1, 0, 2))
        want = (x.requires_grad, kernel.requires_grad, recurrent_kernel.requires_grad,
                bias is not None and bias.requires_grad)
        h_prev = hs[:-1] if r is None else hs[:-1] * r
        dx, dw, _, db = _time_major_gradients(x_steps, k_data, da, h_prev, go_backwards, (*want[:3], False))
        du = h_prev.reshape(steps * batch, n).T @ dq.reshape(steps * batch, 3 * n) if want[2] else None
        if want[3]:
            db = xp.stack([da.reshape(-1, 3 * n).sum(axis=0), dq.reshape(-1, 3 * n).sum(axis=0)])
        result = [dx, dw, du] + ([db] if bias is not None else [])
        if h0 is not None:
            result.append(back * rr + skip)
        return tuple(result)

    return make_result(out, tuple(parents), grads, "gru")

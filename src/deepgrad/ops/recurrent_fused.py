"""One time step of the LSTM and GRU recurrences, as NumPy equations and as optional compiled loops.

The recurrent ops (:mod:`deepgrad.ops.recurrent`) run their loop over time in Python; each
step is one matrix product (h_{t-1} U, written into a preallocated slice) and one call of
a step function from this module, which applies the gate nonlinearities, the state update
and the mask in place on time-major buffers. The NumPy form of that step is about fifteen
array operations on (batch, units) slices, each a separate pass with its own Python call;
compiled with numba, the same equations run as one loop over the batch and the units.

Both forms take and return the same arrays (the compiled one only for the default
activations, tanh and sigmoid, on contiguous NumPy arrays); ``step_functions`` picks the
compiled one when numba is installed (``pip install 'deepgrad[fast]'``), the arrays
allow it and the environment variable ``DEEPGRAD_FUSED`` is not ``0``, the NumPy one
otherwise. The compiled loops are single-threaded (see :mod:`deepgrad.optimizers.fused`
for why) and use NumPy's error model, so exp overflowing to inf gives sigmoid 0 as in NumPy.

Measured (2 shared cores, one process, LSTM(64) on (32, 50, 64), forward + backward,
best of 30): the former batch-major NumPy loop 10.2 ms, these time-major steps with the
NumPy equations about the same, with the kernels 6.8 ms (one BLAS thread; 6.1 ms with two);
torch.nn.LSTM 4.7 ms on one thread. Compiling the transcendental functions in the loops
was slower than NumPy (numba's scalar libm tanh: ~180 us against NumPy's 4 us per step).

Step conventions (s: processing step, n: units, keep: 1.0 where the step counts, 0.0 where
the mask skips it, for each sample):

* forward ``(a, proj, h, c, keep, gates, tanh_c, h_out, c_out)``: a = h_{t-1} U
  (batch, 4n, overwritten), proj = x_t W + b; writes the activated gates i, f, g, o, φ(c_t), h_t, c_t.
* backward ``(back, r, skip, dc, gh, gc, gates, c_prev, tanh_c, keep, da, dh_out)``:
  back = da_{s+1} U^T (zeros after the last step), r the recurrent dropout mask (ones when
  absent), skip = δh_{s+1} (1 - keep_{s+1}) and dc the carried cell gradient (both updated
  in place for the next step down), gh/gc the output gradients of step s; writes dL/da_s
  and δh_s.
* GRU (reset_after) forward ``(q, proj, h, keep, gates, h_out)`` with q = h_{t-1} U + b_h,
  and backward ``(back, r, skip, gh, gates, q, h, keep, da, dq, dh_out)``, the same way,
  with ``skip`` carrying δh_{s+1} z + δh_{s+1} (1 - keep).
"""

from __future__ import annotations

import os

import numpy as np

from .kernels import jit

_KERNELS = None


def _compile() -> dict:  # noqa: C901 - the kernels are nested so that numba is imported only here
    try:
        import numba  # noqa: PLC0415 - optional dependency
    except ImportError:
        return {}
    compiled = jit(numba)

    @compiled
    def lstm_gates(t, c, c_new):
        batch, n = c.shape
        one = c.dtype.type(1)
        half = one / 2
        for b in range(batch):
            for j in range(n):
                i = half * t[b, j] + half                                    # σ(a) = (1 + tanh(a / 2)) / 2
                f = half * t[b, n + j] + half
                t[b, j] = i
                t[b, n + j] = f
                t[b, 3 * n + j] = half * t[b, 3 * n + j] + half
                c_new[b, j] = f * c[b, j] + i * t[b, 2 * n + j]            # c_t = f c_{t-1} + i g

    @compiled
    def lstm_state(gates, h, c, keep, tanh_c, h_out, c_out):
        batch, n = c.shape
        one = c.dtype.type(1)
        for b in range(batch):
            m = keep[b]
            for j in range(n):
                c_new = gates[b, n + j] * c[b, j] + gates[b, j] * gates[b, 2 * n + j]
                h_out[b, j] = m * (gates[b, 3 * n + j] * tanh_c[b, j]) + (one - m) * h[b, j]   # h_t = o φ(c_t)
                c_out[b, j] = m * c_new + (one - m) * c[b, j]

    @compiled
    def lstm_backward(back, r, skip, dc, gh, gc, gates, c_prev, tanh_c, keep, da, dh_out):
        batch, n = dc.shape
        one = dc.dtype.type(1)
        for b in range(batch):
            m = keep[b]
            for j in range(n):
                dh = back[b, j] * r[b, j] + skip[b, j] + gh[b, j]          # δh_t
                dh_out[b, j] = dh
                dc_total = dc[b, j] + gc[b, j]                             # δc_t
                dh_new = dh * m
                i = gates[b, j]
                f = gates[b, n + j]
                g = gates[b, 2 * n + j]
                o = gates[b, 3 * n + j]
                tc = tanh_c[b, j]
                dc_new = dc_total * m + dh_new * o * (one - tc * tc)         # δc_t += δh_t o φ'(c_t)
                da[b, j] = dc_new * g * (i * (one - i))
                da[b, n + j] = dc_new * c_prev[b, j] * (f * (one - f))
                da[b, 2 * n + j] = dc_new * i * (one - g * g)
                da[b, 3 * n + j] = dh_new * tc * (o * (one - o))
                skip[b, j] = dh * (one - m)
                dc[b, j] = dc_new * f + dc_total * (one - m)                 # δc_{t-1} = δc_t f

    @compiled
    def gru_backward(back, r, skip, gh, gates, q, h, keep, da, dq, dh_out):
        batch, n = h.shape
        one = h.dtype.type(1)
        for b in range(batch):
            m = keep[b]
            for j in range(n):
                dh = back[b, j] * r[b, j] + skip[b, j] + gh[b, j]          # δh_t
                dh_out[b, j] = dh
                dnew = dh * m
                z = gates[b, j]
                rr = gates[b, n + j]
                hh = gates[b, 2 * n + j]
                d_h = dnew * (one - z) * (one - hh * hh)                       # da_h = δ (1 - z) φ'(ĥ)
                d_z = dnew * (h[b, j] - hh) * (z * (one - z))                # da_z = δ (h_{t-1} - ĥ) σ'(z)
                d_r = d_h * q[b, 2 * n + j] * (rr * (one - rr))              # da_r = da_h q_h σ'(r)
                da[b, j] = d_z
                da[b, n + j] = d_r
                da[b, 2 * n + j] = d_h
                dq[b, j] = d_z
                dq[b, n + j] = d_r
                dq[b, 2 * n + j] = d_h * rr                                # dq_h = da_h r
                skip[b, j] = dnew * z + dh * (one - m)

    return {"lstm_gates": lstm_gates, "lstm_state": lstm_state, "lstm_backward": lstm_backward,
            "gru_backward": gru_backward}


def _kernels() -> dict:
    global _KERNELS
    if _KERNELS is None:
        _KERNELS = _compile()
    return _KERNELS


def enabled() -> bool:
    """True when numba is importable and ``DEEPGRAD_FUSED`` is not '0'."""
    return os.environ.get("DEEPGRAD_FUSED", "1") != "0" and bool(_kernels())


def numpy_lstm_steps(sig, sig_prime, phi, phi_prime):
    """The LSTM step functions (forward, backward) as NumPy equations, for any activations."""

    def forward(a, proj, h, c, keep, gates, tanh_c, h_out, c_out):
        n = c.shape[1]
        a = proj + a
        gates[:, :2 * n] = sig(a[:, :2 * n])
        gates[:, 2 * n:3 * n] = phi(a[:, 2 * n:3 * n])
        gates[:, 3 * n:] = sig(a[:, 3 * n:])
        c_new = gates[:, n:2 * n] * c + gates[:, :n] * gates[:, 2 * n:3 * n]
        tanh_c[...] = phi(c_new)
        m = keep[:, None]
        h_out[...] = m * (gates[:, 3 * n:] * tanh_c) + (1 - m) * h
        c_out[...] = m * c_new + (1 - m) * c

    def backward(back, r, skip, dc, gh, gc, gates, c_prev, tanh_c, keep, da, dh_out):
        n = dc.shape[1]
        m = keep[:, None]
        dh = back * r + skip + gh
        dh_out[...] = dh
        dc_total = dc + gc
        dh_new = dh * m
        i, f, g, o = gates[:, :n], gates[:, n:2 * n], gates[:, 2 * n:3 * n], gates[:, 3 * n:]
        dc_new = dc_total * m + dh_new * o * phi_prime(tanh_c)
        da[:, :n] = dc_new * g * sig_prime(i)
        da[:, n:2 * n] = dc_new * c_prev * sig_prime(f)
        da[:, 2 * n:3 * n] = dc_new * i * phi_prime(g)
        da[:, 3 * n:] = dh_new * tanh_c * sig_prime(o)
        skip[...] = dh * (1 - m)
        dc[...] = dc_new * f + dc_total * (1 - m)

    return forward, backward


def numpy_gru_steps(sig, sig_prime, phi, phi_prime):
    """The GRU step functions (reset_after; forward, backward) as NumPy equations, for any activations."""

    def forward(q, proj, h, keep, gates, h_out):
        n = h.shape[1]
        gates[:, :2 * n] = sig(proj[:, :2 * n] + q[:, :2 * n])
        gates[:, 2 * n:] = phi(proj[:, 2 * n:] + gates[:, n:2 * n] * q[:, 2 * n:])
        z = gates[:, :n]
        h_new = z * h + (1 - z) * gates[:, 2 * n:]
        m = keep[:, None]
        h_out[...] = m * h_new + (1 - m) * h

    def backward(back, r, skip, gh, gates, q, h, keep, da, dq, dh_out):
        n = h.shape[1]
        m = keep[:, None]
        dh = back * r + skip + gh
        dh_out[...] = dh
        dnew = dh * m
        z, rr, hh = gates[:, :n], gates[:, n:2 * n], gates[:, 2 * n:]
        da[:, 2 * n:] = dnew * (1 - z) * phi_prime(hh)
        da[:, :n] = dnew * (h - hh) * sig_prime(z)
        da[:, n:2 * n] = da[:, 2 * n:] * q[:, 2 * n:] * sig_prime(rr)
        dq[:, :2 * n] = da[:, :2 * n]
        dq[:, 2 * n:] = da[:, 2 * n:] * rr
        skip[...] = dnew * z + dh * (1 - m)

    return forward, backward


def compiled_lstm_steps(kernels, pairs, n, dtype):
    """The LSTM step functions with the compiled kernels (tanh and sigmoid only).

    numba has no vectorized tanh or exp here (one libm call per element, ~40x slower than
    NumPy's SIMD ufuncs), so the transcendental functions stay NumPy passes: one tanh over
    all four gates, with σ(a) = (1 + tanh(a / 2)) / 2 (exact in real arithmetic), and one
    over the new cell state; the kernels do the arithmetic between and after them.
    """
    scale = np.full(4 * n, 0.5, dtype)
    scale[2 * n:3 * n] = 1

    def forward(a, proj, h, c, keep, gates, tanh_c, h_out, c_out):
        np.add(a, proj, out=a)
        np.multiply(a, scale, out=a)
        np.tanh(a, out=gates)
        kernels["lstm_gates"](gates, c, tanh_c)
        np.tanh(tanh_c, out=tanh_c)
        kernels["lstm_state"](gates, h, c, keep, tanh_c, h_out, c_out)

    return forward, kernels["lstm_backward"]


def compiled_gru_steps(kernels, pairs, n, dtype):
    """The GRU step functions: NumPy equations forward (its tanh and exp are NumPy's), the kernel backward."""
    forward, _ = numpy_gru_steps(*pairs)
    return forward, kernels["gru_backward"]


_NUMPY = {"lstm": numpy_lstm_steps, "gru": numpy_gru_steps}
_COMPILED = {"lstm": compiled_lstm_steps, "gru": compiled_gru_steps}


def step_functions(cell, activations, sample):
    """(forward, backward) step functions of ``cell`` ('lstm' or 'gru').

    ``activations`` = (activation name, recurrent activation name, (σ, σ', φ, φ')); the
    compiled kernels serve ('tanh', 'sigmoid') on C-contiguous float32/float64 NumPy
    arrays like ``sample`` when enabled, the NumPy equations everything else.
    """
    activation, recurrent_activation, pairs = activations
    if (activation == "tanh" and recurrent_activation == "sigmoid" and type(sample) is np.ndarray
            and sample.dtype in (np.float32, np.float64) and enabled()):
        return _COMPILED[cell](_kernels(), pairs, sample.shape[-1] // (4 if cell == "lstm" else 3), sample.dtype)
    return _NUMPY[cell](*pairs)

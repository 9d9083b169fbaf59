"""Matrix products, forward beside backward.

For out = a @ b (with NumPy's rules for 1-D and batched operands):
dL/da = g @ b^T and dL/db = a^T @ g, with broadcast batch axes summed back.
"""

from __future__ import annotations

import numpy as np

from ..backend import namespace
from ..tensor import Tensor, as_tensor, make_result


def _shape_error(a, b):
    k_a = a.shape[-1]
    k_b = b.shape[-2] if b.ndim > 1 else b.shape[0]
    return ValueError(
        f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} are not aligned: the last axis of "
        f"the first ({k_a}) must equal the {'second-to-last' if b.ndim > 1 else 'only'} axis of the "
        f"second ({k_b}). Transpose or reshape one operand."
    )


def matmul(a, b) -> Tensor:
    """Matrix product a @ b (1-D, 2-D and batched, as numpy.matmul).

    Backward: dL/da = g b^T, dL/db = a^T g. Gradients are computed only for operands
    that require them (the input batch of a first layer never does).
    """
    if not isinstance(a, Tensor):
        a = as_tensor(a, like=b)
    if not isinstance(b, Tensor):
        b = as_tensor(b, like=a)
    a_data, b_data = a.data, b.data
    if a_data.ndim == 0 or b_data.ndim == 0:
        raise ValueError("matmul: operands must have at least one dimension; use * for scalars.")
    try:
        out = a_data @ b_data
    except ValueError:
        raise _shape_error(a, b) from None

    if a_data.ndim == 2 and b_data.ndim == 2:
        def backward(g):
            return (g @ b_data.T if a.requires_grad else None,
                    a_data.T @ g if b.requires_grad else None)

        return make_result(out, (a, b), backward, "matmul", np.matmul)

    def backward_general(g):
        return _matmul_backward_general(g, a_data, b_data, a.requires_grad, b.requires_grad)

    return make_result(out, (a, b), backward_general, "matmul", np.matmul)


def _matmul_backward_general(g, a_data, b_data, grad_a_wanted, grad_b_wanted):
    """dL/da and dL/db of a @ b for 1-D and batched operands (broadcast axes summed back)."""
    # put back the length-1 axes that numpy.matmul drops for 1-D operands: the column
    # of a 1-D right operand first, then the row of a 1-D left one (so a 0-d g works)
    xp = namespace(g)
    a2 = a_data[None, :] if a_data.ndim == 1 else a_data
    b2 = b_data[:, None] if b_data.ndim == 1 else b_data
    g2 = g
    if b_data.ndim == 1:
        g2 = xp.expand_dims(g2, -1)
    if a_data.ndim == 1:
        g2 = xp.expand_dims(g2, -2)
    grad_a = grad_b = None
    if grad_a_wanted:
        grad_a = g2 @ xp.swapaxes(b2, -1, -2)
        if a_data.ndim == 1:  # rows of every batch add up into the one vector
            grad_a = grad_a.reshape(-1, a_data.shape[0]).sum(axis=0)
    if grad_b_wanted and b_data.ndim == 2 and a_data.ndim >= 3:
        # a batch of rows times one matrix (a Dense layer on a sequence): one product over
        # every row instead of a batched product and a sum over the batch axes
        grad_b = a_data.reshape(-1, a_data.shape[-1]).T @ g.reshape(-1, g.shape[-1])
    elif grad_b_wanted:
        grad_b = xp.swapaxes(a2, -1, -2) @ g2
        if b_data.ndim == 1:
            grad_b = grad_b.reshape(-1, b_data.shape[0]).sum(axis=0)
    return grad_a, grad_b

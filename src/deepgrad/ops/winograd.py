"""Winograd's minimal filtering F(4x4, 3x3): the 3x3 convolution with 2.25x fewer multiplications per output.

A 2-d 3x3 convolution (stride 1, no dilation, one group) computes each 4x4 block of
outputs of one filter from the 6x6 input patch under it. Lavin & Gray (2016, "Fast
Algorithms for Convolutional Neural Networks") write that block as

    Y = A^T [ (G W G^T) (.) (B^T d B) ] A          (.) the elementwise product

with d the 6x6 patch, W the 3x3 kernel and the constant matrices below, built from
polynomial interpolation at the points 0, 1, -1, 2, -2 and infinity. Summed over the C
input channels, for every tile t of every sample and every filter f:

    V[xi, t, c] = (B^T d[t, c] B)[xi]              input transform (per 6x6 patch)
    U[xi, c, f] = (G W[:, :, c, f] G^T)[xi]         kernel transform (once per step)
    M[xi]       = V[xi] @ U[xi]                     36 matrix products (T, C) @ (C, F)
    Y[t, f]     = A^T M[:, t, f] A                  output transform (per 6x6 tile)

so the arithmetic is 36 products of T*C*F multiply-adds against the 9 * 16 = 144 of
direct convolution (or im2col) for the same 16 outputs: 2.25x fewer. The transforms are
passes in memory, smaller than im2col's copy: V holds 36/16 = 2.25 numbers per input
pixel and channel where the im2col matrix holds 9.

Backward is the same algebra transposed (every map above is linear):

    dM[:, t, f] = A dY[t, f] A^T                    output-gradient transform
    dU[xi]      = V[xi]^T @ dM[xi]                  36 products (C, T) @ (T, F)
    dW          = G^T dU G                          per (c, f)
    dV[xi]      = dM[xi] @ U[xi]^T                  36 products (T, F) @ (F, C)
    dx          += B dV[t, c] B^T                   added into the 6x6 patch of tile t

The transforms run as compiled loops (numba), two loop forms each compiled for two
transforms: one reads a x a patches of an image at a stride of 4 and writes L X L^T for
each (the input transform with L = B^T, the output-gradient transform with L = A), the
other reads tiles and writes or adds L X L^T into an image (the output transform with
L = A^T, adding the bias and the ReLU on the way, and the input-gradient transform with
L = B). The matrices are written out as formulas on one row or column (``_input_line``
and its siblings; the tests check them against the arrays below). Zero padding ('same')
and the ragged last row and column of tiles are the loops' bounds checks, so the input
is never padded or copied.

Precision: the transforms multiply by up to 8 and divide by 24, so float32 results differ
from im2col's by a few units in the 6th significant digit (the convolution tests compare
both to PyTorch); in float64 they agree to about 1e-13 and pass the gradient checks. The
im2col path stays for every other convolution, for inputs with fewer than
:data:`MIN_CHANNELS` channels (a 1-channel image's 36 products of inner size 1 cost more
than one im2col product with inner size 9), without numba, on a GPU, and when
``DEEPGRAD_WINOGRAD=0``.
"""

from __future__ import annotations

import math
import os

import numpy as np

from . import kernels

TILE = 4  # outputs per tile side (m); a tile reads a (m + 2) x (m + 2) = 6 x 6 patch
MIN_CHANNELS = 8
# A training step goes through memory about as often for both algorithms, so the one with the smaller
# arrays wins: measured (fit, best of 4 interleaved, batch 64-128) Winograd/im2col step time against
# tile_ratio: 0.57 at 0.50 (16x16x64->64 'same'), 0.69 at 0.50 (32x32x32->32 'same'), 0.94 at 0.65
# (14x14x32->32 'same'), 1.09 at 0.89 (13x13x32->64 'valid', the MNIST convnet's second layer).
TRAINING_TILE_RATIO = 0.75

# Lavin & Gray's F(4, 3) at the points 0, 1, -1, 2, -2, infinity (rows of B^T and A^T, columns of G
# follow the points in that order)
B_T = np.array([[4, 0, -5, 0, 1, 0],
                [0, -4, -4, 1, 1, 0],
                [0, 4, -4, -1, 1, 0],
                [0, -2, -1, 2, 1, 0],
                [0, 2, -1, -2, 1, 0],
                [0, 4, 0, -5, 0, 1]], dtype=np.float64)
G = np.array([[1 / 4, 0, 0],
              [-1 / 6, -1 / 6, -1 / 6],
              [-1 / 6, 1 / 6, -1 / 6],
              [1 / 24, 1 / 12, 1 / 6],
              [1 / 24, -1 / 12, 1 / 6],
              [0, 0, 1]], dtype=np.float64)
A_T = np.array([[1, 1, 1, 1, 1, 0],
                [0, 1, -1, 2, -2, 0],
                [0, 1, 1, 4, 4, 0],
                [0, 1, -1, 8, -8, 1]], dtype=np.float64)
ALPHA = B_T.shape[0]  # 6: the patch side
INPUT, OUTPUT, OUTPUT_GRAD, INPUT_GRAD = "input", "output", "output_grad", "input_grad"  # the four transforms
POSITIONS = ALPHA * ALPHA  # 36 elementwise products per tile


# The four 1-d transforms, each on one column or row of a patch (v0..v5; a 4-long input leaves v4, v5
# unread, a 4-long output is padded with zeros). The constants come in the data's dtype (_constants).


def _input_line(v0, v1, v2, v3, v4, v5, two, four, five, eight):  # B^T d
    return (four * v0 - five * v2 + v4, v3 + v4 - four * (v1 + v2), four * (v1 - v2) - v3 + v4,
            two * (v3 - v1) - v2 + v4, two * (v1 - v3) - v2 + v4, four * v1 - five * v3 + v5)


def _output_line(v0, v1, v2, v3, v4, v5, two, four, five, eight):  # A^T m
    zero = v5 - v5
    return (v0 + v1 + v2 + v3 + v4, v1 - v2 + two * (v3 - v4), v1 + v2 + four * (v3 + v4),
            v1 - v2 + eight * (v3 - v4) + v5, zero, zero)


def _output_grad_line(v0, v1, v2, v3, v4, v5, two, four, five, eight):  # A g (g = v0..v3)
    return (v0, v0 + v1 + v2 + v3, v0 - v1 + v2 - v3, v0 + two * v1 + four * v2 + eight * v3,
            v0 - two * v1 + four * v2 - eight * v3, v3)


def _input_grad_line(v0, v1, v2, v3, v4, v5, two, four, five, eight):  # B v
    return (four * v0, four * (v2 - v1 + v5) + two * (v4 - v3), -five * v0 - four * (v1 + v2) - v3 - v4,
            v1 - v2 + two * (v3 - v4) - five * v5, v0 + v1 + v2 + v3 + v4, v5)


def _constants(one):
    # built by additions: an integer times a float32 scalar is a float64 in numba, which would halve the
    # vector width of every transform
    two = one + one
    four = two + two
    return two, four, four + one, four + four


def _sandwich(line, x, half, y):
    # y = L x L^T for x, y (6, 6, C): L on every column of x (into half), then on every row of half
    c_ = x.shape[2]
    two, four, five, eight = _constants(x.dtype.type(1))
    for q in range(6):
        for c in range(c_):
            h = line(x[0, q, c], x[1, q, c], x[2, q, c], x[3, q, c], x[4, q, c], x[5, q, c], two, four, five, eight)
            half[0, q, c], half[1, q, c], half[2, q, c], half[3, q, c], half[4, q, c], half[5, q, c] = h
    for i in range(6):
        for c in range(c_):
            o = line(half[i, 0, c], half[i, 1, c], half[i, 2, c], half[i, 3, c], half[i, 4, c], half[i, 5, c],
                     two, four, five, eight)
            y[i, 0, c], y[i, 1, c], y[i, 2, c], y[i, 3, c], y[i, 4, c], y[i, 5, c] = o


def _gather(image, n, r0, s0, size, patch):
    # patch[p, q] = image[n, r0 + p, s0 + q] for p, q < size, zero outside the image
    h_, w_, c_ = image.shape[1:]
    for p in range(size):
        for q in range(size):
            if 0 <= r0 + p < h_ and 0 <= s0 + q < w_:
                for c in range(c_):
                    patch[p, q, c] = image[n, r0 + p, s0 + q, c]
            else:
                for c in range(c_):
                    patch[p, q, c] = 0


def _store(y, image, n, r0, s0, size, bias, relu, accumulate):
    # image[n, r0 + p, s0 + q] = y[p, q] + bias (then max(., 0) when relu), or += y[p, q] when accumulate,
    # for p, q < size inside the image
    h_, w_, c_ = image.shape[1:]
    for p in range(max(0, -r0), min(size, h_ - r0)):
        for q in range(max(0, -s0), min(size, w_ - s0)):
            if accumulate:
                for c in range(c_):
                    image[n, r0 + p, s0 + q, c] += y[p, q, c]
            elif relu:
                for c in range(c_):
                    v = y[p, q, c] + bias[c]
                    image[n, r0 + p, s0 + q, c] = v if v > 0 else 0
            else:
                for c in range(c_):
                    image[n, r0 + p, s0 + q, c] = y[p, q, c] + bias[c]


def _to_tiles_loop(line, size):
    """The loop that writes tiles[t] = L X L^T (as (36, C)) for every tile t = (n, i1, i2), L = ``line``.

    X is the size x size patch of image (N, H, W, C) at rows 4 i1 - lo1 + p and columns
    4 i2 - lo2 + q, zero outside the image (and in the rows and columns past ``size``: patch
    and half are (6, 6, C) zeros, scratch).
    """

    def to_tiles(image, tiles, lo1, lo2, t1_, t2_, patch, half):
        n_, c_ = image.shape[0], image.shape[3]
        for n in range(n_):
            for i1 in range(t1_):
                for i2 in range(t2_):
                    t = (n * t1_ + i1) * t2_ + i2
                    _gather(image, n, 4 * i1 - lo1, 4 * i2 - lo2, size, patch)
                    _sandwich(line, patch, half, tiles[t].reshape((6, 6, c_)))

    return to_tiles


def _to_image_loop(line, size):
    """The loop that stores Y = L X L^T of every tile t = (n, i1, i2) into an image, L = ``line``.

    X = tiles[t] as (6, 6, C); image[n, 4 i1 - lo1 + p, 4 i2 - lo2 + q] = Y[p, q] + bias (then
    max(., 0) when relu), or += Y[p, q] when accumulate, for p, q < ``size`` inside the image.
    half and y: (6, 6, C) scratch.
    """

    def to_image(tiles, image, bias, relu, accumulate, lo1, lo2, t1_, t2_, half, y):
        n_, c_ = image.shape[0], image.shape[3]
        for n in range(n_):
            for i1 in range(t1_):
                for i2 in range(t2_):
                    t = (n * t1_ + i1) * t2_ + i2
                    _sandwich(line, tiles[t].reshape((6, 6, c_)), half, y)
                    _store(y, image, n, 4 * i1 - lo1, 4 * i2 - lo2, size, bias, relu, accumulate)

    return to_image


_KERNELS = None


def _kernels() -> dict:
    global _KERNELS
    if _KERNELS is None:
        try:
            import numba  # noqa: PLC0415 - optional dependency
        except ImportError:
            _KERNELS = {}
            return _KERNELS
        for helper in (_input_line, _output_line, _output_grad_line, _input_grad_line, _constants, _sandwich,
                       _gather, _store):
            numba.extending.register_jitable(inline="always")(helper)  # inlined: 2.5x faster than calls
        compiled = kernels.jit(numba)
        _KERNELS = {INPUT: compiled(_to_tiles_loop(_input_line, 6)),
                    OUTPUT_GRAD: compiled(_to_tiles_loop(_output_grad_line, 4)),
                    OUTPUT: compiled(_to_image_loop(_output_line, 4)),
                    INPUT_GRAD: compiled(_to_image_loop(_input_grad_line, 6))}
    return _KERNELS


def applies(x, kernel, kernel_size, strides, dilation_rate, groups, out_shape, training=False) -> bool:
    """Whether :func:`deepgrad.ops.convolution.conv` of the arrays ``x`` (N, H, W, C) and ``kernel``
    runs as Winograd F(4x4, 3x3) here.

    It can when the kernel is 3x3, at stride 1, without dilation, in one group, on at least
    :data:`MIN_CHANNELS` input channels, on NumPy arrays of one floating dtype, with numba
    installed and neither ``DEEPGRAD_FUSED`` nor ``DEEPGRAD_WINOGRAD`` set to '0'. It does for
    inference whenever it can, and for a step that will run the backward (``training``) when
    :func:`tile_ratio` is at most :data:`TRAINING_TILE_RATIO`.
    """
    if not (kernel_size == (3, 3) and strides == (1, 1) and dilation_rate == (1, 1) and groups == 1
            and x.ndim == 4 and x.shape[-1] >= MIN_CHANNELS
            and type(x) is np.ndarray and type(kernel) is np.ndarray
            and x.dtype == kernel.dtype and x.dtype in (np.float32, np.float64)
            and os.environ.get("DEEPGRAD_WINOGRAD", "1") != "0" and os.environ.get("DEEPGRAD_FUSED", "1") != "0"):
        return False
    if training and tile_ratio(out_shape, x.shape[-1], kernel.shape[-1]) > TRAINING_TILE_RATIO:
        return False
    return bool(_kernels())


def tile_ratio(out_shape, channels, features) -> float:
    """The numbers in Winograd's tile arrays per number in the im2col matrix of the same convolution.

    Per output pixel, im2col writes 9 C numbers; the tiles hold 36/16 = 2.25 (C + F) numbers for
    the input and product tiles, times the padding of the output to whole 4x4 tiles
    (``waste`` = ceil(H'/4) ceil(W'/4) 16 / (H' W')): ratio = waste (C + F) / (4 C).
    """
    waste = math.prod(-(-o // TILE) * TILE for o in out_shape) / math.prod(out_shape)
    return waste * (channels + features) / (4 * channels)


def _constant(matrix, dtype):
    return np.ascontiguousarray(matrix, dtype=dtype)


class Winograd:
    """One 3x3 convolution of an (N, H, W, C) input by F(4x4, 3x3), forward and backward.

    ``pads`` are the (lo, hi) zero paddings of the two spatial axes and ``out_shape`` the
    output's (H', W'), from :func:`deepgrad.ops.convolution.conv_padding`. Tile arrays are
    (T, 36, C), tile-major so that each transform reads and writes one contiguous block per
    tile; the 36 products read and write them as (T, C) slices with a row stride of 36 C,
    which BLAS takes as its leading dimension.
    """

    def __init__(self, x_shape, pads, out_shape, dtype):
        self.x_shape, self.out_shape, self.dtype = tuple(x_shape), tuple(out_shape), np.dtype(dtype)
        self.lo = (pads[0][0], pads[1][0])
        self.tiles = tuple(-(-o // TILE) for o in out_shape)
        self.rows = x_shape[0] * math.prod(self.tiles)  # T: tiles in the batch

    def _to_tiles(self, image, which, lo):
        channels = image.shape[-1]
        tiles = np.empty((self.rows, POSITIONS, channels), self.dtype)
        patch, half = np.zeros((ALPHA, ALPHA, channels), self.dtype), np.zeros((ALPHA, ALPHA, channels), self.dtype)
        _kernels()[which](image, tiles, *lo, *self.tiles, patch, half)
        return tiles

    def _to_image(self, tiles, which, image, bias, relu, accumulate, lo):
        channels = tiles.shape[-1]
        half, y = np.zeros((ALPHA, ALPHA, channels), self.dtype), np.zeros((ALPHA, ALPHA, channels), self.dtype)
        _kernels()[which](tiles, image, bias, relu, accumulate, *lo, *self.tiles, half, y)

    @staticmethod
    def _products(a, b, out_shape, dtype):
        """out[:, xi] = a[:, xi] @ b[xi] for the 36 positions: a (T, 36, K), b (36, K, F) -> (T, 36, F)."""
        out = np.empty(out_shape, dtype)
        np.matmul(a.transpose(1, 0, 2), b, out=out.transpose(1, 0, 2))
        return out

    def kernel_transform(self, kernel):
        """U[xi, c, f] = (G W[:, :, c, f] G^T)[xi]: (36, C, F)."""
        g = _constant(G, kernel.dtype)
        u = np.einsum("ip,pqcf,jq->ijcf", g, kernel, g, optimize=True)
        return np.ascontiguousarray(u.reshape((POSITIONS,) + kernel.shape[2:]))

    def input_transform(self, x):
        """V[t, xi, c] = (B^T d B)[xi] for the 6x6 patch d of every tile t: (T, 36, C)."""
        return self._to_tiles(x, INPUT, self.lo)

    def forward(self, x, kernel, bias, relu):
        """(out (N, H', W', F) = conv(x, W) + bias, then max(., 0) when ``relu``; V and U for the backward)."""
        v, u = self.input_transform(np.ascontiguousarray(x)), self.kernel_transform(kernel)
        features = kernel.shape[-1]
        products = self._products(v, u, (self.rows, POSITIONS, features), self.dtype)
        out = np.empty((x.shape[0],) + self.out_shape + (features,), self.dtype)
        bias = np.zeros(features, self.dtype) if bias is None else np.ascontiguousarray(bias, dtype=self.dtype)
        self._to_image(products, OUTPUT, out, bias, relu, False, (0, 0))
        return out, v, u

    def output_grad_transform(self, g):
        """dM[t, :, f] = A dY[t, f] A^T for the 4x4 block of g (N, H', W', F) under every tile: (T, 36, F)."""
        return self._to_tiles(np.ascontiguousarray(g, dtype=self.dtype), OUTPUT_GRAD, (0, 0))

    def kernel_grad(self, v, grad_products, kernel_shape):
        """dW = G^T (V^T dM) G, in the kernel's layout (3, 3, C, F)."""
        du = np.matmul(v.transpose(1, 2, 0), grad_products.transpose(1, 0, 2))
        du = du.reshape((ALPHA, ALPHA) + tuple(kernel_shape[2:]))
        g = _constant(G, du.dtype)
        return np.einsum("ip,ijcf,jq->pqcf", g, du, g, optimize=True)

    def input_grad(self, grad_products, u):
        """dx (N, H, W, C): B (dM U^T)[t, :, c] B^T added into the patch of every tile, inside the input."""
        grad_v = self._products(grad_products, u.transpose(0, 2, 1), (self.rows, POSITIONS, u.shape[1]), self.dtype)
        grad_x = np.zeros(self.x_shape, self.dtype)
        self._to_image(grad_v, INPUT_GRAD, grad_x, np.zeros(1, self.dtype), False, True, self.lo)
        return grad_x

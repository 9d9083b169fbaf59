"""Preprocessing and image augmentation layers (Keras 3 names, arguments and defaults).

``Rescaling`` and ``Normalization`` transform every batch. The augmentation layers
(``RandomFlip``, ``RandomTranslation``, ``RandomRotation``, ``RandomZoom``,
``RandomContrast``) act only while training and are the identity at inference; each
draws from its own seeded stream (``backend.SeedGenerator``), so ``deepgrad.manual_seed``
makes them repeat.

The geometric layers share one vectorised resampler. For a batch they build one affine
matrix per image, A (2x3), mapping each output pixel (x = column, y = row, pixel
centres at integers) to the input point (x_in, y_in) = A [x, y, 1] it is read from;
the source coordinates of the whole batch are one broadcasted product, and the pixels
are read with one gather (bilinear: the 4 neighbours weighted by the fractional parts;
nearest: the rounded point). Points outside the image follow ``fill_mode`` as Keras
defines it (``keras.ops.image.affine_transform``):

* ``'reflect'``: d c b a | a b c d | d c b a (reflected about the edge of the last pixel);
* ``'wrap'``: a b c d | a b c d | a b c d;
* ``'nearest'``: a a a a | a b c d | d d d d;
* ``'constant'``: k k k k | a b c d | k k k k with k = ``fill_value``.

The gather is a differentiable indexing op, so gradients flow through the layers too.
"""

from __future__ import annotations

import numpy as np

from .. import backend
from ..tensor import Tensor
from .base import Layer, check_axes, check_number
from .core import _RandomLayer

_FILL_MODES = ("reflect", "wrap", "constant", "nearest")
_INTERPOLATIONS = ("bilinear", "nearest")
_FLIP_MODES = ("horizontal", "vertical", "horizontal_and_vertical")
# Keras' backend.epsilon(): the floor of Normalization's standard deviation
_EPSILON = 1e-7


def _choice(layer, argument, value, allowed):
    if value not in allowed:
        raise ValueError(f"{layer}: {argument} must be one of {list(allowed)}, got {argument}={value!r}.")
    return value


def _data_format(layer, data_format):
    return _choice(layer, "data_format", data_format or "channels_last", ("channels_last", "channels_first"))


def _as_float(inputs, dtype):
    return inputs if inputs.dtype == dtype else inputs.astype(dtype)


def _listed(value):
    """A factor as a JSON value: pairs as lists, so a config read back from a file compares equal."""
    return list(value) if isinstance(value, tuple) else value


def _factor_range(layer, argument, factor, low=None, high=None):
    """Keras' factor convention: a number f gives (-f, f), a pair gives (lower, upper); both checked."""
    if isinstance(factor, (list, tuple)):
        if len(factor) != 2:
            raise ValueError(f"{layer}: {argument} must be a number or a pair (lower, upper), got {factor!r}.")
        lower, upper = factor
    else:
        lower, upper = -check_number(layer, argument, factor, 0), factor
    lower = check_number(layer, argument, lower, low, high)
    upper = check_number(layer, argument, upper, low, high)
    if upper < lower:
        raise ValueError(f"{layer}: {argument} needs lower <= upper, got {argument}={factor!r}.")
    return lower, upper


# --------------------------------------------------------------------------- resampling

def _fix_index(index, size, fill_mode):
    """Integer source indices moved inside [0, size) as ``fill_mode`` says (constant: left as they are)."""
    if fill_mode == "nearest":
        return np.clip(index, 0, size - 1)
    if fill_mode == "wrap":
        return np.mod(index, size)
    if fill_mode == "reflect":
        # half-sample symmetric reflection: period 2*size, the edge pixel repeated once
        period = np.mod(index, 2 * size)
        return np.where(period < size, period, 2 * size - 1 - period)
    return index


def _nodes(coordinate, interpolation):
    """The integer neighbours of each coordinate and their interpolation weights."""
    if interpolation == "nearest":
        return [(np.round(coordinate).astype(np.int64), np.ones_like(coordinate))]
    lower = np.floor(coordinate)
    upper_weight = coordinate - lower
    lower = lower.astype(np.int64)
    return [(lower, 1.0 - upper_weight), (lower + 1, upper_weight)]


def resample(images, rows, cols, interpolation="bilinear", fill_mode="reflect", fill_value=0.0):
    """Images read at source points: out[b, i, j, :] = images[b, rows[b, i, j], cols[b, i, j], :].

    ``images`` is a Tensor (batch, height, width, channels); ``rows``/``cols`` float
    arrays (batch, out_height, out_width) of source coordinates. Fractional points are
    interpolated (bilinear: sum of the 4 neighbours times (1 - |dy|)(1 - |dx|)), points
    outside follow ``fill_mode`` (see the module docstring). One gather of every
    neighbour of every pixel of the batch (shape (K, batch, h, w, channels), K = 4 or 1),
    weighted and summed: the result is linear in ``images``, so it is differentiable.
    """
    batch, height, width, channels = images.shape
    xp = backend.namespace(images.data)
    corners, weights, outside = [], [], []
    for row, row_weight in _nodes(rows, interpolation):
        for col, col_weight in _nodes(cols, interpolation):
            weight = row_weight * col_weight
            if fill_mode == "constant":
                valid = (row >= 0) & (row < height) & (col >= 0) & (col < width)
                outside.append(np.where(valid, 0.0, weight))
                weight = np.where(valid, weight, 0.0)
                row, col = np.clip(row, 0, height - 1), np.clip(col, 0, width - 1)
            else:
                row, col = _fix_index(row, height, fill_mode), _fix_index(col, width, fill_mode)
            base = np.arange(batch).reshape(batch, 1, 1) * (height * width)
            corners.append(base + row * width + col)
            weights.append(weight)
    flat = images.reshape(batch * height * width, channels)
    index = xp.asarray(np.stack(corners))
    gathered = flat[index]  # (K, batch, h, w, channels)
    dtype = images.dtype
    weight = Tensor(xp.asarray(np.stack(weights)[..., None].astype(dtype)))
    out = (gathered * weight).sum(axis=0) if len(corners) > 1 else gathered[0] * weight[0]
    if outside and fill_value != 0:
        fill = np.sum(outside, axis=0)[..., None].astype(dtype) * dtype.type(fill_value)
        out = out + Tensor(xp.asarray(fill))
    return out


def affine_source_points(matrices, height, width):
    """Source (rows, cols) of every output pixel for per-image affine matrices (batch, 2, 3).

    (x_in, y_in) = A [x, y, 1] with x the column and y the row of the output pixel,
    computed for the whole batch in one broadcast (Keras' transform vector
    [a0, a1, a2, b0, b1, b2, 0, 0] is A's two rows).
    """
    y, x = np.meshgrid(np.arange(height, dtype=np.float64), np.arange(width, dtype=np.float64), indexing="ij")
    a = matrices[:, :, :, None, None]  # (batch, 2, 3, 1, 1) against (h, w)
    source = a[:, :, 0] * x + a[:, :, 1] * y + a[:, :, 2]
    return source[:, 1], source[:, 0]


class _ImageLayer(_RandomLayer):
    """An augmentation layer over images (batch, h, w, c), channels_last, or (batch, c, h, w)."""

    def __init__(self, seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.data_format = _data_format(type(self).__name__, data_format)

    def call(self, inputs, training=False):
        if not training:
            return inputs
        inputs = _as_float(inputs, self.dtype)
        rank = len(inputs.shape)
        if rank not in (3, 4):
            raise ValueError(f"{type(self).__name__} {self.name!r} expects images of rank 4 (batch, height, width, "
                             f"channels) or 3 (one image), got shape {tuple(inputs.shape)}; add a channel axis "
                             "with x[..., None] for grey images.")
        images = inputs if rank == 4 else inputs.reshape((1,) + tuple(inputs.shape))
        if self.data_format == "channels_first":
            images = images.transpose(0, 2, 3, 1)
        out = self.augment(images)
        if self.data_format == "channels_first":
            out = out.transpose(0, 3, 1, 2)
        return out if rank == 4 else out.reshape(tuple(inputs.shape))

    def augment(self, images):
        """The augmented batch of channels_last images (a Tensor of the same shape)."""
        raise NotImplementedError

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config["data_format"] = self.data_format
        return config


class _AffineLayer(_ImageLayer):
    """A geometric augmentation: one random affine map per image, applied by :func:`resample`."""

    def __init__(self, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0,
                 data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        name = type(self).__name__
        self.fill_mode = _choice(name, "fill_mode", fill_mode, _FILL_MODES)
        self.interpolation = _choice(name, "interpolation", interpolation, _INTERPOLATIONS)
        self.fill_value = check_number(name, "fill_value", fill_value)

    def matrices(self, batch, height, width):
        """The affine matrices (batch, 2, 3) mapping output pixels to input points."""
        raise NotImplementedError

    def augment(self, images):
        batch, height, width, _ = images.shape
        rows, cols = affine_source_points(self.matrices(batch, height, width), height, width)
        return resample(images, rows, cols, self.interpolation, self.fill_mode, self.fill_value)

    def _sample(self, bounds, batch):
        lower, upper = bounds
        return self._rng.uniform(lower, upper, size=batch)

    def get_config(self):
        config = super().get_config()
        config.update({"fill_mode": self.fill_mode, "interpolation": self.interpolation,
                       "fill_value": self.fill_value})
        return config


def _affine(batch, a0, a1, a2, b0, b1, b2):
    """Stack per-image coefficients (scalars or (batch,) arrays) into matrices (batch, 2, 3)."""
    rows = [np.broadcast_to(np.asarray(v, dtype=np.float64), (batch,)) for v in (a0, a1, a2, b0, b1, b2)]
    return np.stack(rows, axis=1).reshape(batch, 2, 3)


class RandomFlip(_ImageLayer):
    """Flips each image left-right and/or up-down with probability 1/2 while training.

    ``mode`` is ``'horizontal'``, ``'vertical'`` or ``'horizontal_and_vertical'`` (each
    direction drawn independently). Identity at inference.
    """

    def __init__(self, mode="horizontal_and_vertical", seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.mode = _choice("RandomFlip", "mode", mode, _FLIP_MODES)

    def augment(self, images):
        batch, height, width, _ = images.shape
        rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
        rows = np.broadcast_to(rows, (batch, height, width))
        cols = np.broadcast_to(cols, (batch, height, width))
        if self.mode != "vertical":
            flip = self._rng.random(batch) < 0.5
            cols = np.where(flip[:, None, None], width - 1 - cols, cols)
        if self.mode != "horizontal":
            flip = self._rng.random(batch) < 0.5
            rows = np.where(flip[:, None, None], height - 1 - rows, rows)
        return resample(images, rows.astype(np.float64), cols.astype(np.float64), "nearest", "nearest")

    def get_config(self):
        config = super().get_config()
        config["mode"] = self.mode
        return config


class RandomRotation(_AffineLayer):
    """Rotates each image about its centre by a random angle while training.

    ``factor`` is a fraction of a full turn: a number f draws the angle from
    [-f * 2 pi, f * 2 pi], a pair (lower, upper) from [lower * 2 pi, upper * 2 pi];
    positive angles turn counter-clockwise. For angle t the output pixel (x, y) reads
    x_in = cos t x - sin t y + ox, y_in = sin t x + cos t y + oy, with the offsets
    ox = ((w-1) - (cos t (w-1) - sin t (h-1))) / 2 and oy = ((h-1) - (sin t (w-1) + cos t (h-1))) / 2
    keeping the centre fixed. Identity at inference.
    """

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0,
                 data_format=None, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.factor = factor
        self._bounds = _factor_range("RandomRotation", "factor", factor)

    def matrices(self, batch, height, width):
        angle = self._sample(self._bounds, batch) * 2.0 * np.pi
        cos, sin = np.cos(angle), np.sin(angle)
        x_offset = ((width - 1) - (cos * (width - 1) - sin * (height - 1))) / 2.0
        y_offset = ((height - 1) - (sin * (width - 1) + cos * (height - 1))) / 2.0
        return _affine(batch, cos, -sin, x_offset, sin, cos, y_offset)

    def get_config(self):
        config = super().get_config()
        config["factor"] = _listed(self.factor)
        return config


class RandomTranslation(_AffineLayer):
    """Shifts each image by a random fraction of its height and width while training.

    A number f draws the shift from [-f, f] of the size, a pair (lower, upper) from
    [lower, upper] (each in [-1, 1]); positive values move the image down (height) and
    right (width): out(x, y) = in(x - dx, y - dy). Identity at inference.
    """

    def __init__(self, height_factor, width_factor, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self._height = _factor_range("RandomTranslation", "height_factor", height_factor, -1, 1)
        self._width = _factor_range("RandomTranslation", "width_factor", width_factor, -1, 1)

    def matrices(self, batch, height, width):
        dy = self._sample(self._height, batch) * height
        dx = self._sample(self._width, batch) * width
        return _affine(batch, 1.0, 0.0, -dx, 0.0, 1.0, -dy)

    def get_config(self):
        config = super().get_config()
        config.update({"height_factor": _listed(self.height_factor), "width_factor": _listed(self.width_factor)})
        return config


class RandomZoom(_AffineLayer):
    """Zooms each image about its centre by a random amount while training.

    ``height_factor`` f (or a pair) draws the vertical zoom z_y from 1 + [-f, f]
    (each bound >= -1): positive values zoom out (the image shrinks), negative ones
    zoom in. ``width_factor=None`` keeps the aspect ratio (z_x = z_y). The output pixel
    (x, y) reads x_in = z_x x + (w-1)/2 (1 - z_x), y_in = z_y y + (h-1)/2 (1 - z_y).
    Identity at inference.
    """

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect", interpolation="bilinear",
                 seed=None, fill_value=0.0, data_format=None, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self._height = _factor_range("RandomZoom", "height_factor", height_factor, -1)
        self._width = None if width_factor is None else _factor_range("RandomZoom", "width_factor", width_factor, -1)

    def matrices(self, batch, height, width):
        zoom_y = 1.0 + self._sample(self._height, batch)
        zoom_x = zoom_y if self._width is None else 1.0 + self._sample(self._width, batch)
        x_offset = (width - 1) / 2.0 * (1.0 - zoom_x)
        y_offset = (height - 1) / 2.0 * (1.0 - zoom_y)
        return _affine(batch, zoom_x, 0.0, x_offset, 0.0, zoom_y, y_offset)

    def get_config(self):
        config = super().get_config()
        config.update({"height_factor": _listed(self.height_factor), "width_factor": _listed(self.width_factor)})
        return config


class RandomContrast(_ImageLayer):
    """Scales each image's contrast by a random factor while training.

    For each image and channel, out = (x - mean) * c + mean, with mean over the
    pixels and c drawn per image from [1 - lower, 1 + upper] (``factor`` f gives
    lower = upper = f; a pair gives them apart; each in [0, 1]); the result is clipped
    to ``value_range`` as in Keras 3. Identity at inference.
    """

    def __init__(self, factor, value_range=(0, 255), seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        if isinstance(factor, (list, tuple)):
            if len(factor) != 2:
                raise ValueError(f"RandomContrast: factor must be a number or a pair, got factor={factor!r}.")
            lower, upper = factor
        else:
            lower = upper = factor
        self._lower = check_number("RandomContrast", "factor", lower, 0, 1)
        self._upper = check_number("RandomContrast", "factor", upper, 0, 1)
        self.factor = factor
        if not isinstance(value_range, (list, tuple)) or len(value_range) != 2 or value_range[0] >= value_range[1]:
            raise ValueError(f"RandomContrast: value_range must be a pair (low, high) with low < high, "
                             f"got value_range={value_range!r}.")
        self.value_range = tuple(check_number("RandomContrast", "value_range", v) for v in value_range)

    def augment(self, images):
        batch = images.shape[0]
        xp = backend.namespace(images.data)
        contrast = self._rng.uniform(1.0 - self._lower, 1.0 + self._upper, size=batch)
        contrast = Tensor(xp.asarray(contrast.reshape(batch, 1, 1, 1).astype(images.dtype)))
        mean = images.mean(axis=(1, 2), keepdims=True)
        return ((images - mean) * contrast + mean).clip(*self.value_range)

    def get_config(self):
        config = super().get_config()
        config.update({"factor": _listed(self.factor), "value_range": list(self.value_range)})
        return config


# --------------------------------------------------------------------------- Rescaling, Normalization

class Rescaling(Layer):
    """Multiplies and shifts the inputs: out = x * scale + offset (e.g. ``Rescaling(1/255)`` for pixels).

    ``scale`` and ``offset`` are numbers or per-channel lists (broadcast against the
    last axis). Integer inputs are cast to the layer's float dtype first.
    """

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = self._check("scale", scale)
        self.offset = self._check("offset", offset)

    @staticmethod
    def _check(argument, value):
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            check_number("Rescaling", argument, v)
        return [float(v) for v in value] if isinstance(value, (list, tuple)) else float(value)

    def call(self, inputs):
        inputs = _as_float(inputs, self.dtype)
        xp = backend.namespace(inputs.data)
        scale = Tensor(xp.asarray(self.scale, dtype=self.dtype))
        offset = Tensor(xp.asarray(self.offset, dtype=self.dtype))
        return inputs * scale + offset

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"scale": self.scale, "offset": self.offset})
        return config


def _batches(data):
    """The arrays of ``data``: one array, or the x part of each batch of an iterable/PyDataset."""
    if isinstance(data, (np.ndarray, Tensor)) or np.isscalar(data):
        yield backend.to_numpy(data.data if isinstance(data, Tensor) else np.asarray(data))
        return
    if hasattr(data, "__getitem__") and hasattr(data, "__len__") and not isinstance(data, (list, tuple)):
        items = (data[i] for i in range(len(data)))
    elif isinstance(data, (list, tuple)) and data and np.isscalar(data[0]):
        items = [np.asarray(data)]
    else:
        items = iter(data)
    for item in items:
        x = item[0] if isinstance(item, tuple) else item
        yield np.asarray(x.data if isinstance(x, Tensor) else x)


def _as_list(value):
    return None if value is None else np.asarray(value).tolist()


class Normalization(Layer):
    """Feature-wise standardization: out = (x - mean) / max(sqrt(variance), 1e-7).

    ``axis`` names the axes that keep their own statistics (default -1: one mean and
    variance per feature of the last axis; ``None``: one scalar for everything); the
    statistics are taken over all the other axes. Give ``mean`` and ``variance`` at
    construction, or learn them from data with :meth:`adapt` (stored as the
    non-trainable weights ``mean`` and ``variance``, so they are saved with the model).
    ``invert=True`` undoes the normalization: out = mean + x * max(sqrt(variance), 1e-7).
    """

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        self.axis = () if axis is None else check_axes("Normalization", "axis", axis)
        if (mean is None) != (variance is None):
            raise ValueError("Normalization: pass both mean and variance, or neither (and call adapt()).")
        self.input_mean, self.input_variance = mean, variance
        self.invert = bool(invert)
        self.mean = self.variance = None

    def _keep_axes(self, ndim):
        axes = [self.axis] if isinstance(self.axis, int) else list(self.axis)
        for a in axes:
            if not -ndim <= a < ndim:
                raise ValueError(f"Normalization {self.name!r}: axis {a} is out of range for inputs of rank {ndim}.")
        return sorted(a % ndim for a in axes)

    def build(self, input_shape):
        ndim = len(input_shape)
        keep = self._keep_axes(ndim)
        if 0 in keep:
            raise ValueError(f"Normalization {self.name!r}: axis must not include the batch axis 0.")
        shape = tuple(input_shape[a] for a in keep)
        if any(s is None for s in shape):
            raise ValueError(f"Normalization {self.name!r}: the axes {keep} of {input_shape} must be known.")
        self._reduce = tuple(a for a in range(ndim) if a not in keep)
        self._broadcast = tuple(input_shape[a] if a in keep else 1 for a in range(ndim))
        if self.input_mean is None:
            self.mean = self.add_weight(shape, "zeros", trainable=False, name="mean")
            self.variance = self.add_weight(shape, "ones", trainable=False, name="variance")
        else:
            self.mean = Tensor(np.broadcast_to(np.asarray(self.input_mean, self.dtype), shape).copy())
            self.variance = Tensor(np.broadcast_to(np.asarray(self.input_variance, self.dtype), shape).copy())

    def adapt(self, data):
        """Learn the mean and (population) variance of ``data`` over the reduced axes.

        ``data`` is an array, or an iterable / ``PyDataset`` of batches (``x`` or
        ``(x, y)``); batches are combined exactly (Chan et al.'s pairwise update), so
        the result equals the statistics of all the data at once.
        """
        if self.input_mean is not None:
            raise ValueError(f"Normalization {self.name!r} was given mean and variance; it cannot adapt().")
        count, mean, m2 = 0, None, None
        for x in _batches(data):
            x = x.astype(np.float64)
            if not self.built:
                self.build((None,) + x.shape[1:])
            n = int(np.prod([x.shape[a] for a in self._reduce]))
            batch_mean = x.mean(axis=self._reduce)
            batch_m2 = ((x - batch_mean.reshape(self._broadcast)) ** 2).sum(axis=self._reduce)
            if count == 0:
                count, mean, m2 = n, batch_mean, batch_m2
                continue
            delta = batch_mean - mean
            total = count + n
            mean = mean + delta * n / total
            m2 = m2 + batch_m2 + delta ** 2 * count * n / total
            count = total
        if count == 0:
            raise ValueError(f"Normalization {self.name!r}: adapt() got no data.")
        self.mean.data[...] = backend.to_device(mean.reshape(self.mean.shape).astype(self.dtype), self.mean.device)
        variance = (m2 / count).reshape(self.variance.shape).astype(self.dtype)
        self.variance.data[...] = backend.to_device(variance, self.variance.device)

    def call(self, inputs):
        inputs = _as_float(inputs, self.dtype)
        xp = backend.namespace(inputs.data)
        shape = (1,) + self._broadcast[1:]
        mean = xp.asarray(self.mean.data).reshape(shape)
        std = xp.maximum(xp.sqrt(xp.asarray(self.variance.data)), _EPSILON).astype(self.dtype).reshape(shape)
        if self.invert:
            return inputs * Tensor(std) + Tensor(mean)
        return (inputs - Tensor(mean)) * Tensor((1.0 / std).astype(self.dtype))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"axis": None if self.axis == () else self.axis, "invert": self.invert,
                       "mean": _as_list(self.input_mean), "variance": _as_list(self.input_variance)})
        return config


__all__ = ["Normalization", "RandomContrast", "RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom",
           "Rescaling", "resample", "affine_source_points"]


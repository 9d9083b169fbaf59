"""Core layers: Input, Dense, Activation, Dropout and noise, Gaussian sampling, Flatten, Reshape, Lambda."""

from __future__ import annotations

import inspect

import numpy as np

from .. import backend, distribution
from ..ops.convolution import check_data_format
from ..ops.replay import drawn
from ..ops.sampling import gaussian_sample
from .base import KerasTensor, Layer, _serialize, check_number, is_string_dtype, normalize_shape


def get_activation(identifier):
    """The activation function for ``identifier`` (a Keras name, a callable or None = linear)."""
    from .. import activations  # noqa: PLC0415

    return activations.get(identifier)


def takes_training(function) -> bool:
    """Whether an activation behaves differently in training (takes ``training=``, like rrelu)."""
    try:
        return "training" in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False


def apply_activation(function, z, training):
    """``function(z)``, passing ``training`` to activations that take it."""
    return function(z, training=training) if takes_training(function) else function(z)


class InputLayer(Layer):
    """The entry point of a model: holds the shape of one sample (the batch axis is None).

    ``dtype="string"`` (Keras' name; ``str`` too) declares raw text, for a model whose first
    layer is ``TextVectorization``: the symbolic tensor's dtype is ``"string"`` while the
    layer's own ``dtype`` stays the float type the model computes in.
    """

    def __init__(self, shape=None, batch_size=None, dtype=None, batch_shape=None, name=None,
                 input_shape=None, **kwargs):
        if batch_shape is not None:
            shape = tuple(batch_shape)[1:]
            batch_size = tuple(batch_shape)[0]
        if shape is None:
            shape = input_shape
        if shape is None:
            raise ValueError("InputLayer needs shape=(...) (the shape of one sample, without the batch axis).")
        self.strings = is_string_dtype(dtype)
        super().__init__(name=name or backend.unique_name("input_layer"), dtype=None if self.strings else dtype,
                         **kwargs)
        self.shape = normalize_shape(shape, "shape")
        self.batch_size = batch_size
        self.built = True
        self.input_shape_built = (None,) + self.shape
        self.output = KerasTensor((None,) + self.shape, "string" if self.strings else str(self.dtype), self, None,
                                  name=self.name)

    def call(self, inputs, training=False):
        return inputs

    def get_config(self):
        return {"batch_shape": [self.batch_size, *self.shape], "dtype": self.output.dtype, "name": self.name}


def Input(shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None, name=None, tensor=None):
    """A symbolic input of the functional API: ``x = Input(shape=(4,))``.

    Returns a :class:`KerasTensor` of shape ``(None, *shape)``; layers called on it
    build a graph that :class:`deepgrad.models.Model` turns into a model.
    """
    if sparse:
        raise ValueError("deepgrad has no sparse tensors; pass dense arrays.")
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, batch_shape=batch_shape, name=name)
    return layer.output


class Dense(Layer):
    """A fully connected layer: ``a = activation(x W + b)``.

    ``x`` has shape (batch, ..., in), the kernel W (in, units), the bias b (units,).
    The pre-activation z = x W + b is what each neuron of the course computes
    (weighted sum plus bias); the activation is applied to it elementwise.

    ``lora_rank=r`` (or :meth:`enable_lora` on a built layer) fine-tunes with LoRA (Hu et al.,
    2021), as Keras 3: the kernel W0 is frozen and two trainable factors A (in, r), drawn
    he_uniform, and B (r, units), zeros, give the effective kernel
    W = W0 + (lora_alpha / r) A B (lora_alpha defaults to r), so training starts from W0.
    ``layer.kernel`` is that effective kernel; the frozen weight stays ``layer.weights[0]``.
    """

    def __init__(self, units=None, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 output_dim=None, lora_rank=None, lora_alpha=None, **kwargs):
        if units is None:  # ``output_dim`` is the Keras 1 spelling some course code still uses
            units = output_dim
        if not isinstance(units, (int, np.integer)) or isinstance(units, bool) or units <= 0:
            raise ValueError(f"Dense: units must be a positive integer, got {units!r}.")
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.units = int(units)
        self.activation = get_activation(activation)
        self._activation_takes_training = takes_training(self.activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.kernel_regularizer = kernel_regularizer
        self.bias_regularizer = bias_regularizer
        self.kernel_constraint = kernel_constraint
        self.bias_constraint = bias_constraint
        if lora_rank is not None:
            _check_lora_rank(lora_rank, self.name)
        self.lora_rank = lora_rank
        self.lora_alpha = lora_alpha if lora_alpha is not None else lora_rank
        self.lora_enabled = False
        self.kernel = None
        self.bias = None

    @property
    def kernel(self):
        """The kernel W: the weight itself, or W0 + (lora_alpha / r) A B with LoRA enabled."""
        if not self.lora_enabled:
            return self._kernel
        return self._kernel + (self.lora_kernel_a @ self.lora_kernel_b) * (self.lora_alpha / self.lora_rank)

    @kernel.setter
    def kernel(self, value):
        self._kernel = value

    def build(self, input_shape):
        fan_in = input_shape[-1]
        if fan_in is None:
            raise ValueError(f"Dense layer {self.name!r} needs a known last input dimension, got {input_shape}.")
        self.kernel = self.add_weight((fan_in, self.units), self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint, name="kernel")
        if self.use_bias:
            self.bias = self.add_weight((self.units,), self.bias_initializer,
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint, name="bias")
        if self.lora_rank:
            self.built = True
            self.enable_lora(self.lora_rank, self.lora_alpha)

    def enable_lora(self, rank, lora_alpha=None, a_initializer="he_uniform", b_initializer="zeros"):
        """Freeze the kernel and add the LoRA factors A (in, rank) and B (rank, units) (Keras 3's method).

        The layer must be built, without a kernel constraint, and LoRA can be enabled once.
        """
        _check_lora_rank(rank, self.name)
        if self.kernel_constraint:
            raise ValueError("Lora is incompatible with kernel constraints. In order to enable lora on this layer, "
                             "remove the `kernel_constraint` argument.")
        if not self.built:
            raise ValueError("Cannot enable lora on a layer that isn't yet built.")
        if self.lora_enabled:
            raise ValueError("lora is already enabled. This can only be done once per layer.")
        index = next(i for i, w in enumerate(self._weights) if w is self._kernel)
        self._weight_trainable[index] = False
        self._kernel.requires_grad = False
        fan_in = self._kernel.shape[0]
        self.lora_kernel_a = self.add_weight((fan_in, rank), a_initializer, name="lora_kernel_a")
        self.lora_kernel_b = self.add_weight((rank, self.units), b_initializer, name="lora_kernel_b")
        self.lora_enabled = True
        self.lora_rank = rank
        self.lora_alpha = lora_alpha if lora_alpha is not None else rank

    def pre_activation(self, inputs, training=False):
        """z = x W + b, the input of the activation."""
        kernel = self.kernel
        if inputs.data.shape[-1] != kernel.data.shape[0]:
            raise ValueError(
                f"Dense layer {self.name!r} expects inputs whose last axis has {kernel.shape[0]} "
                f"features, got shape {tuple(inputs.shape)}."
            )
        z = inputs @ kernel
        return z + self.bias if self.use_bias else z

    def call(self, inputs, training=False):
        z = self.pre_activation(inputs)
        if self._activation_takes_training:
            return self.activation(z, training=training)
        return self.activation(z)

    def get_config(self):
        config = super().get_config()
        config.update({
            "units": self.units,
            "activation": _serialize(self.activation),
            "use_bias": self.use_bias,
            **self.serialized("kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer",
                              "kernel_constraint", "bias_constraint"),
        })
        if self.lora_rank:
            config.update(lora_rank=self.lora_rank, lora_alpha=self.lora_alpha)
        return config


def _check_lora_rank(rank, name):
    if not isinstance(rank, (int, np.integer)) or isinstance(rank, bool) or rank < 1:
        raise ValueError(f"Dense layer {name!r}: lora_rank must be a positive integer, got {rank!r}.")


class Activation(Layer):
    """Applies an activation function: ``a = activation(x)``."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = get_activation(activation)

    def pre_activation(self, inputs, training=False):
        """z = x: the layer is its activation alone."""
        return inputs

    def call(self, inputs, training=False):
        return apply_activation(self.activation, inputs, training)

    def get_config(self):
        config = super().get_config()
        config["activation"] = _serialize(self.activation)
        return config


class _RandomLayer(Layer):
    """A layer that draws random numbers from its own seeded generator."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = backend.SeedGenerator(seed)

    @property
    def _rng(self):
        # in data-parallel training, draws for the whole global batch and keeps this rank's rows
        return distribution.layer_generator(self.seed_generator.generator)

    def _uniform(self, shape, like):
        xp = backend.namespace(like)
        sample = self._rng.random(shape, dtype=np.float32)
        return sample if xp is np else xp.asarray(sample)

    def _normal(self, shape, like):
        xp = backend.namespace(like)
        sample = self._rng.standard_normal(shape, dtype=np.float32)
        return sample if xp is np else xp.asarray(sample)

    def get_config(self):
        config = super().get_config()
        config["seed"] = self.seed
        return config


def _check_rate(rate, layer):
    return check_number(layer, "rate", rate, 0, 1, high_open=True)


def _check_noise_shape(noise_shape, layer):
    if noise_shape is None:
        return None
    if isinstance(noise_shape, str) or not isinstance(noise_shape, (list, tuple, np.ndarray)):
        raise ValueError(f"{layer}: Invalid value received for argument `noise_shape`. Expected a tuple or list of "
                         f"integers. Received: noise_shape={noise_shape!r}")
    if not all(s is None or (isinstance(s, (int, np.integer)) and not isinstance(s, bool)) for s in noise_shape):
        raise ValueError(f"{layer}: Invalid value received for argument `noise_shape`. Expected all elements to "
                         f"be integers or None. Received: noise_shape={noise_shape!r}")
    shape = normalize_shape(noise_shape, "noise_shape")
    if any(s is not None and s <= 0 for s in shape):
        raise ValueError(f"{layer}: noise_shape entries must be positive or None, got {noise_shape!r}.")
    return shape


class Dropout(_RandomLayer):
    """Inverted dropout: while training, each unit is zeroed with probability ``rate``.

    out = x * m / (1 - rate) with m ~ Bernoulli(1 - rate), so the expected activation
    is unchanged and inference (where the layer is the identity) needs no rescaling.
    """

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.rate = _check_rate(rate, "Dropout")
        self.noise_shape = _check_noise_shape(noise_shape, "Dropout")

    def _mask_shape(self, shape):
        """The shape of the keep mask: ``noise_shape`` with None read from the input; an axis of
        size 1 shares one draw along that axis of the input (the mask broadcasts)."""
        if self.noise_shape is None:
            return shape
        mask = tuple(s if n is None else n for s, n in zip(shape, self.noise_shape))
        if len(self.noise_shape) != len(shape) or any(m not in (1, s) for m, s in zip(mask, shape)):
            raise ValueError(f"Dropout layer {self.name!r}: noise_shape={self.noise_shape} does not fit inputs of "
                             f"shape {tuple(shape)}: give one entry per input axis, each None, 1 (one draw shared "
                             "along that axis) or the input's size.")
        return mask

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        keep = 1.0 - self.rate
        shape, like = self._mask_shape(inputs.shape), inputs.data

        def draw():
            # one uniform draw and one comparison per unit; the scale is folded into the mask
            mask = (self._uniform(shape, like) < keep).astype(like.dtype)
            mask *= 1.0 / keep
            return mask

        return inputs * drawn(draw)

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "noise_shape": self.noise_shape})
        return config


class _SpatialDropout(Dropout):
    """Dropout of whole feature maps: one keep-or-drop draw per sample and channel, shared by every position.

    Neighbouring pixels of a feature map are strongly correlated, so dropping single
    activations regularizes a convolutional network little; dropping whole channels does
    (Tompson et al., 2015, "Efficient Object Localization Using Convolutional Networks").
    The mask has shape (batch, 1, ..., 1, channels) (channels_first: (batch, channels, 1, ..., 1)).
    """

    rank = None

    def __init__(self, rate, data_format=None, seed=None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)
        self.data_format = check_data_format(data_format)

    def build(self, input_shape):
        if len(input_shape) != self.rank + 2:
            layout = ", ".join(["batch"] + ["size"] * self.rank + ["channels"]) if self.data_format == \
                "channels_last" else ", ".join(["batch", "channels"] + ["size"] * self.rank)
            raise ValueError(f"{type(self).__name__} layer {self.name!r}: expected inputs of rank {self.rank + 2} "
                             f"({layout}), got shape {tuple(input_shape)}.")

    def _mask_shape(self, shape):
        if self.data_format == "channels_last":
            return (shape[0],) + (1,) * self.rank + (shape[-1],)
        return (shape[0], shape[1]) + (1,) * self.rank

    def get_config(self):
        config = super().get_config()
        del config["noise_shape"]
        config["data_format"] = self.data_format
        return config


class SpatialDropout1D(_SpatialDropout):
    """Drops whole channels of (batch, steps, channels) sequences (rate per sample and channel)."""

    rank = 1

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)

    def get_config(self):
        config = super().get_config()
        del config["data_format"]  # Keras's SpatialDropout1D is channels-last only
        return config


class SpatialDropout2D(_SpatialDropout):
    """Drops whole feature maps of (batch, height, width, channels) images."""

    rank = 2


class SpatialDropout3D(_SpatialDropout):
    """Drops whole feature maps of (batch, depth, height, width, channels) volumes."""

    rank = 3


class AlphaDropout(_RandomLayer):
    """Dropout that keeps SELU's self-normalizing mean 0 and variance 1.

    Dropped units are set to alpha' = -lambda * alpha (SELU's negative saturation),
    then out = a (x m + alpha' (1 - m)) + b with a = ((1 - rate)(1 + rate alpha'^2))^(-1/2)
    and b = -a alpha' rate.
    """

    _ALPHA_PRIME = -1.6732632423543772 * 1.0507009873554805

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.rate = _check_rate(rate, "AlphaDropout")
        self.noise_shape = _check_noise_shape(noise_shape, "AlphaDropout")

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        rate, alpha_p = self.rate, self._ALPHA_PRIME
        shape = inputs.shape if self.noise_shape is None else tuple(
            s if n is None else n for s, n in zip(inputs.shape, self.noise_shape))
        a = ((1 - rate) * (1 + rate * alpha_p ** 2)) ** -0.5
        b = -a * alpha_p * rate
        like = inputs.data

        def draw():  # the factor and the offset of each unit, from one uniform draw
            keep = (self._uniform(shape, like) >= rate).astype(like.dtype)
            xp = backend.namespace(like)
            return xp.stack([a * keep, (a * alpha_p * (1 - keep) + b).astype(like.dtype)])

        factor_offset = drawn(draw)
        return inputs * factor_offset[0] + factor_offset[1]

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "noise_shape": self.noise_shape})
        return config


class GaussianNoise(_RandomLayer):
    """Adds zero-mean Gaussian noise while training: out = x + eps, eps ~ N(0, stddev^2)."""

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.stddev = check_number("GaussianNoise", "stddev", stddev, 0)

    def call(self, inputs, training=False):
        if not training or self.stddev == 0:
            return inputs
        shape, like, stddev = inputs.shape, inputs.data, np.float32(self.stddev)

        def draw():
            return (self._normal(shape, like) * stddev).astype(like.dtype, copy=False)

        return inputs + drawn(draw)

    def get_config(self):
        config = super().get_config()
        config["stddev"] = self.stddev
        return config


class GaussianSampling(_RandomLayer):
    """A draw z ~ N(z_mean, exp(z_log_var)) through which gradients flow: a VAE's sampling layer.

    Called on ``[z_mean, z_log_var]`` (two tensors of the same shape, the encoder's
    outputs), it returns z = z_mean + exp(0.5 * z_log_var) * eps with eps ~ N(0, 1)
    drawn from the layer's seeded generator, a new draw per call, in training and
    inference alike (like the ``Sampling`` layer of the Keras VAE example). The op
    :func:`deepgrad.ops.sampling.gaussian_sample` carries the reparameterisation trick's
    gradient: dz/dz_mean = 1, dz/dz_log_var = 0.5 * exp(0.5 * z_log_var) * eps.
    """

    def __init__(self, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)

    def _check_inputs(self, shapes):
        if not isinstance(shapes, (list, tuple)) or len(shapes) != 2 or \
                not all(isinstance(s, (list, tuple)) for s in shapes):
            raise ValueError(f"GaussianSampling layer {self.name!r} takes two tensors, [z_mean, z_log_var]; "
                             f"got {shapes!r}.")
        if tuple(shapes[0]) != tuple(shapes[1]):
            raise ValueError(f"GaussianSampling layer {self.name!r}: z_mean and z_log_var must have the same "
                             f"shape, got {tuple(shapes[0])} and {tuple(shapes[1])}.")

    def build(self, input_shape):
        self._check_inputs(input_shape)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        return gaussian_sample(z_mean, z_log_var, self._normal(z_mean.shape, z_mean.data))

    def compute_output_shape(self, input_shape):
        self._check_inputs(input_shape)
        return tuple(input_shape[0])


class Flatten(Layer):
    """Flattens each sample: (batch, d1, d2, ...) -> (batch, d1 * d2 * ...)."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format

    def call(self, inputs, training=False):
        return inputs.reshape(inputs.shape[0], -1)

    def get_config(self):
        config = super().get_config()
        config["data_format"] = self.data_format
        return config


class Reshape(Layer):
    """Reshapes each sample to ``target_shape`` (one entry may be -1)."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = normalize_shape(target_shape, "target_shape")
        if (None in self.target_shape or self.target_shape.count(-1) > 1
                or any(s == 0 or s < -1 for s in self.target_shape)):
            raise ValueError(f"Reshape: target_shape needs positive sizes and at most one -1, "
                             f"got target_shape={target_shape!r}.")

    def call(self, inputs, training=False):
        return inputs.reshape((inputs.shape[0],) + self.target_shape)

    def get_config(self):
        config = super().get_config()
        config["target_shape"] = list(self.target_shape)
        return config


class Lambda(Layer):
    """Wraps a function of tensors as a layer: out = function(x, **arguments).

    Functions are not serialized as code (no pickle, no eval): a saved model that
    contains a Lambda layer is loaded by passing the function in ``custom_objects``
    under its ``__name__``.
    """

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(f"Lambda needs a callable, got {function!r}.")
        self.function = function
        self.arguments = dict(arguments or {})
        self._output_shape = output_shape

    def call(self, inputs, training=False):
        return self.function(inputs, **self.arguments)

    def get_config(self):
        config = super().get_config()
        name = getattr(self.function, "__name__", None)
        if not name or name == "<lambda>":
            raise ValueError(
                f"Lambda layer {self.name!r} wraps an anonymous function, which cannot be saved "
                "(deepgrad never stores code). Use a named function and pass it to load_model() "
                "in custom_objects."
            )
        config.update({"function": name, "arguments": self.arguments})
        return config

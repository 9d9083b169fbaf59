"""deepgrad: a transparent deep learning framework.

Define-by-run autograd on NumPy (CuPy on a GPU), every backward rule written out,
with a Keras-compatible model API on top.

>>> import deepgrad as dg
>>> w = dg.tensor([1.0, 0.75], requires_grad=True)
>>> z = (dg.tensor([0.8, 1.2]) * w).sum() + 0.5
>>> round(z.relu().item(), 6)
2.2

The package is also Keras 3's namespace: with ``import deepgrad as keras`` (or
``from deepgrad import keras``), ``keras.layers``, ``keras.models``, ``keras.Sequential``,
``keras.optimizers``, ``keras.losses``, ``keras.constraints``, ``keras.ops``,
``keras.utils``, ``keras.saving``, ... are deepgrad's own modules under Keras' names.
"""

from . import (
                  activations,
                  allocator,
                  backend,
                  callbacks,
                  constraints,
                  datasets,
                  diagnostics,
                  initializers,
                  layers,
                  losses,
                  metrics,
                  models,
                  optimizers,
                  regularizers,
                  saving,
                  utils,
)
from .backend import cuda_available, get_default_device, manual_seed, set_default_device
from .datasets import cifar10, fashion_mnist, imdb, mnist  # keras.datasets.mnist.load_data() and the like
from .datasets.download import get_file
from .factories import arange, eye, full, ones, ones_like, rand, randn, zeros, zeros_like
from .gradcheck import GradcheckError, gradcheck
from .layers import Input, KerasTensor, Layer
from .model_plot import plot_model
from .models import Model, Sequential
from .ops import (
                  abs,
                  add,
                  broadcast_to,
                  clip,
                  concatenate,
                  exp,
                  expand_dims,
                  gather,
                  log,
                  log1p,
                  log_softmax,
                  logsumexp,
                  matmul,
                  max,
                  maximum,
                  mean,
                  min,
                  minimum,
                  mul,
                  neg,
                  one_hot,
                  pad,
                  permute,
                  pow,
                  prod,
                  relu,
                  reshape,
                  sigmoid,
                  sigmoid_binary_cross_entropy,
                  sign,
                  softmax,
                  softmax_cross_entropy,
                  softplus,
                  split,
                  sqrt,
                  squeeze,
                  stack,
                  std,
                  sub,
                  sum,
                  take_along_axis,
                  tanh,
                  transpose,
                  truediv,
                  unsqueeze,
                  var,
                  where,
)
from .parameters import ParameterBuffer
from .tensor import Tensor, enable_grad, grad, is_grad_enabled, no_grad, tensor
from .utils import PyDataset

# keras.utils gathers helpers from several floors: the ground floor's deepgrad.utils cannot
# import the download cache or the plots above it, so the package joins them here
utils.get_file = get_file
utils.plot_model = plot_model

__version__ = "0.1.0"

"""Optimizers, gradient clipping and learning-rate schedules (Keras 3 names and arguments).

Every optimizer applies, per step: gradient clipping (``clipvalue``, ``clipnorm`` or
``global_clipnorm``), decoupled ``weight_decay``, then its own update equation, in place
on the variables' arrays.

>>> import deepgrad as dg
>>> w = dg.tensor([1.0, 2.0], requires_grad=True)
>>> optimizer = dg.optimizers.get("adam")          # or dg.optimizers.Adam(learning_rate=1e-3)
>>> loss = (w * w).sum()
>>> loss.backward()
>>> optimizer.step([w])                            # PyTorch style: uses w.grad
>>> optimizer.zero_grad([w])
>>> optimizer.apply_gradients([(w.data * 2, w)])   # Keras style: (gradient, variable) pairs
>>> optimizer.iterations
2

Which one? The course's summary: plain (mini-batch) gradient descent generalizes well but
is slow in ravines; momentum and Nesterov speed it up along the valley; AdaGrad suits
sparse features but its rate decays to zero; RMSprop and AdaDelta fix that decay; Adam
merges momentum with RMSprop's scaling and is the usual default; AdamW decouples weight
decay; LARS and Lamb rescale each layer for very large batches; Lion takes sign steps; Ftrl
keeps sparse linear models sparse; Adafactor stores a factored second moment.
"""

from . import schedules
from .adam import Adam, Adamax, AdamW, Lion, Nadam
from .adaptive import Adadelta, Adagrad, RMSprop
from .base import Optimizer
from .extra import Adafactor, Ftrl, Lamb
from .lr_finder import LearningRateRangeTest, find_learning_rate
from .registry import deserialize, get, serialize
from .schedules import LearningRateSchedule
from .sgd import LARS, SGD

__all__ = ["Optimizer", "SGD", "RMSprop", "Adam", "AdamW", "Adagrad", "Adadelta", "Adamax", "Nadam",
           "Lion", "LARS", "Lamb", "Ftrl", "Adafactor", "LearningRateSchedule", "schedules", "get", "serialize",
           "deserialize", "find_learning_rate", "LearningRateRangeTest"]

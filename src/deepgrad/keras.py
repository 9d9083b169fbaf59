"""``from deepgrad import keras``: the same namespace as ``import deepgrad as keras``.

This module is replaced by the package itself when imported, so ``deepgrad.keras.layers``
is ``deepgrad.layers`` and there is one set of names to keep up to date (the package's
``__init__``).
"""

import sys

import deepgrad

sys.modules[__name__] = deepgrad

"""The test configuration turns deepgrad's own warnings into errors (pyproject.toml, filterwarnings)."""

import warnings

import numpy as np
import pytest

import deepgrad as dg
from deepgrad.callbacks import EarlyStopping
from deepgrad.layers import Dense
from deepgrad.models import Sequential
from deepgrad.perceptron import ConvergenceWarning


def _fit_with_a_missing_monitor():
    dg.manual_seed(0)
    model = Sequential([Dense(1, input_dim=2)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.ones((4, 2), dtype=np.float32)
    model.fit(x, x[:, :1], epochs=1, verbose=0, callbacks=[EarlyStopping(monitor="val_nothing")])


def test_a_deepgrad_warning_fails_the_test_that_did_not_expect_it():
    with pytest.raises(UserWarning, match="`val_nothing` which is not available"):
        _fit_with_a_missing_monitor()


def test_a_test_that_expects_the_warning_says_so():
    with pytest.warns(UserWarning, match="`val_nothing` which is not available"):
        _fit_with_a_missing_monitor()


def test_convergence_warnings_are_errors_wherever_they_are_attributed():
    with pytest.raises(ConvergenceWarning):
        warnings.warn("did not converge", ConvergenceWarning, stacklevel=1)  # attributed to this test

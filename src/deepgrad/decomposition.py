"""Principal component analysis: the best linear code of a given size, the baseline of autoencoders.

An autoencoder with a code of k numbers is measured against the best any linear code of k
numbers can do. That is PCA (Eckart and Young, 1936): project the centred data on its
first k principal directions (the right singular vectors of the centred data matrix) and
map back; no linear encoder and decoder reach a lower squared reconstruction error on the
training data. A linear autoencoder trained on the squared error learns the same subspace
(Baldi and Hornik, 1989), so beating PCA is what the nonlinearity buys.

>>> import numpy as np
>>> from deepgrad.decomposition import PCA
>>> x = np.random.default_rng(0).normal(size=(100, 5))
>>> pca = PCA(2).fit(x)
>>> pca.transform(x).shape, pca.reconstruct(x).shape
((100, 2), (100, 5))
"""

from __future__ import annotations

import numbers

import numpy as np


class PCA:
    """Principal component analysis by NumPy's SVD, with scikit-learn's names.

    ``fit(x)`` centres the samples (each flattened to one row of d features) and takes
    the singular value decomposition X - mean = U S V^T; the first ``n_components`` rows
    of V^T are ``components_``. Then

        code           = (x - mean) V_k                (transform)
        reconstruction = code V_k^T + mean             (inverse_transform)

    and ``reconstruct(x)`` is both in one, returned in the samples' own shape (images stay
    images). When there are more samples than features (n > d) the SVD is taken of the
    d x d scatter matrix (X - mean)^T (X - mean) = V S^2 V^T instead, in float64: the same V
    for one matrix product and a small SVD (60,000 images of 784 pixels: seconds instead
    of a minute). Each component's sign is fixed so that its largest entry is positive,
    so fits repeat exactly.

    Attributes after fit: ``components_`` (k, d), ``mean_`` (d,), ``singular_values_`` (k,),
    ``explained_variance_`` (k,) = S^2 / (n - 1) and ``explained_variance_ratio_`` (k,).
    """

    def __init__(self, n_components):
        if isinstance(n_components, bool) or not isinstance(n_components, numbers.Integral) or n_components < 1:
            raise ValueError(f"PCA: n_components must be a positive integer, got {n_components!r}.")
        self.n_components = int(n_components)

    def _rows(self, x, what):
        x = np.asarray(x)
        if x.ndim < 2 or not len(x):
            raise ValueError(f"PCA.{what} takes samples along the first axis, (n_samples, ...) with n_samples > 0; "
                             f"got shape {x.shape}.")
        return x.reshape(len(x), -1).astype(np.float64)

    def fit(self, x):
        """Learn the mean and the first ``n_components`` principal directions of the samples ``x``."""
        rows = self._rows(x, "fit")
        n, d = rows.shape
        if self.n_components > min(n, d):
            raise ValueError(f"PCA: n_components={self.n_components} is more than min(n_samples, n_features) = "
                             f"{min(n, d)} for data of shape {np.shape(x)}; pick at most {min(n, d)}.")
        self.mean_ = rows.mean(axis=0)
        centred = rows - self.mean_
        if n > d:
            _, squares, vt = np.linalg.svd(centred.T @ centred, hermitian=True)
            singular = np.sqrt(np.maximum(squares, 0.0))
        else:
            _, singular, vt = np.linalg.svd(centred, full_matrices=False)
        components = vt[:self.n_components]
        biggest = np.abs(components).argmax(axis=1)
        components = components * np.sign(components[np.arange(len(components)), biggest])[:, None]
        self.components_ = components
        self.singular_values_ = singular[:self.n_components]
        variance = singular ** 2 / max(n - 1, 1)
        self.explained_variance_ = variance[:self.n_components]
        total = variance.sum()
        self.explained_variance_ratio_ = self.explained_variance_ / total if total > 0 else \
            np.zeros(self.n_components)
        self._sample_shape = np.shape(x)[1:]
        return self

    def _check_fitted(self):
        if not hasattr(self, "components_"):
            raise RuntimeError("this PCA is not fitted yet: call fit(x_train) first.")

    def transform(self, x):
        """The codes of ``x``: (x - mean) V_k, shape (n_samples, n_components)."""
        self._check_fitted()
        rows = self._rows(x, "transform")
        if rows.shape[1] != self.mean_.shape[0]:
            raise ValueError(f"PCA was fitted on samples of {self.mean_.shape[0]} features, got {rows.shape[1]} "
                             f"(shape {np.shape(x)}).")
        return (rows - self.mean_) @ self.components_.T

    def inverse_transform(self, codes):
        """The samples the codes stand for: code V_k^T + mean, in the fitted samples' shape."""
        self._check_fitted()
        codes = np.asarray(codes, dtype=np.float64)
        if codes.ndim != 2 or codes.shape[1] != self.n_components:
            raise ValueError(f"PCA.inverse_transform takes codes of shape (n_samples, {self.n_components}), "
                             f"got {codes.shape}.")
        return (codes @ self.components_ + self.mean_).reshape((len(codes),) + tuple(self._sample_shape))

    def reconstruct(self, x):
        """inverse_transform(transform(x)): the best rank-k linear reconstruction of ``x``."""
        return self.inverse_transform(self.transform(x))

    def fit_transform(self, x):
        """fit(x), then the codes of x."""
        return self.fit(x).transform(x)

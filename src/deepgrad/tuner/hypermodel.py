"""HyperModel: how to build (and optionally train) a model for given hyperparameter values."""

from __future__ import annotations


class HyperModel:
    """Subclass and define ``build(hp)`` (returns a compiled model); override ``fit`` to train differently.

    ``fit(hp, model, *args, **kwargs)`` receives the arguments given to ``tuner.search`` and
    returns a ``History`` (the objective is read epoch by epoch), a dict of metric values,
    or one number (the objective's value). It may itself call ``hp.Int(...)`` etc., e.g.
    to tune the batch size: ``model.fit(*args, batch_size=hp.Choice('batch_size', [16, 32]), **kwargs)``.
    For parallel searches the hypermodel travels to the workers by pickling: define the
    class at the top level of an importable module.
    """

    def __init__(self, name=None, tunable=True):
        self.name = name
        self.tunable = tunable

    def build(self, hp):
        raise NotImplementedError(f"{type(self).__name__} must define build(self, hp) returning a compiled model.")

    def fit(self, hp, model, *args, **kwargs):
        """Train ``model``; by default ``model.fit(*args, **kwargs)``."""
        return model.fit(*args, **kwargs)


class FunctionHyperModel(HyperModel):
    """A ``build_model(hp)`` function as a HyperModel (picklable when the function is top-level)."""

    def __init__(self, build_fn):
        super().__init__(name=getattr(build_fn, "__name__", None))
        self.build_fn = build_fn

    def build(self, hp):
        return self.build_fn(hp)


def get_hypermodel(hypermodel) -> HyperModel:
    """A HyperModel from a HyperModel or a ``build_model(hp)`` function."""
    if isinstance(hypermodel, HyperModel):
        return hypermodel
    if callable(hypermodel):
        return FunctionHyperModel(hypermodel)
    raise TypeError(
        "hypermodel must be a function build_model(hp) returning a compiled model, or a HyperModel "
        f"with build(hp); got {type(hypermodel).__name__}."
    )


__all__ = ["HyperModel", "FunctionHyperModel", "get_hypermodel"]

"""The settings protocol shared by losses, initializers and regularizers (Keras' get_config)."""

from __future__ import annotations


class Configurable:
    """An object described by its settings: ``type(obj).from_config(obj.get_config())`` rebuilds it.

    ``get_config()`` returns the constructor's keyword arguments as plain (JSON-able)
    values; ``from_config(config)`` calls the constructor with them.
    """

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        settings = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({settings})"

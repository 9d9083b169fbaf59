"""The settings protocol shared by losses, initializers and regularizers (Keras' get_config)."""

from __future__ import annotations

import inspect


class Configurable:
    """An object described by its settings: ``type(obj).from_config(obj.get_config())`` rebuilds it.

    ``get_config()`` returns the constructor's keyword arguments as plain (JSON-able)
    values; ``from_config(config)`` calls the constructor with them.
    """

    def get_config(self) -> dict:
        """The constructor's arguments as a dict of plain values."""
        return {}

    @classmethod
    def from_config(cls, config):
        """A new object built from :meth:`get_config`'s output."""
        return cls(**config)

    def __repr__(self):
        settings = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({settings})"


class Registry:
    """The string identifiers of one kind of object (losses, initializers, regularizers) and Keras'
    get/serialize/deserialize over them.

    ``entries`` maps names to classes (instantiated with their defaults by :meth:`get`) or
    to functions (returned as they are, or called with no arguments when
    ``call_functions``: factories such as ``l1_l2``). ``base`` is the class whose
    instances serialize to ``{'class_name': ..., 'config': get_config()}``.
    """

    def __init__(self, kind, base, entries, hint, call_functions=False):
        self.kind, self.base, self.entries, self.hint = kind, base, dict(entries), hint
        self.call_functions = call_functions

    def names(self) -> list:
        """Every string identifier, sorted."""
        return sorted(name for name, obj in self.entries.items() if obj is not self.base)

    def _build(self, obj):
        if inspect.isclass(obj) or self.call_functions:
            return obj()
        return obj

    def get(self, identifier):
        """The object for a name, a config dict, a class (instantiated), or a callable (as is); None -> None."""
        if identifier is None:
            return None
        if isinstance(identifier, dict):
            return self.deserialize(identifier)
        if isinstance(identifier, str):
            obj = self.entries.get(identifier)
            if obj is None or obj is self.base:
                raise ValueError(f"unknown {self.kind} {identifier!r}. Valid names: "
                                 f"{', '.join(self.names())}; {self.hint}.")
            return self._build(obj)
        if inspect.isclass(identifier) and issubclass(identifier, self.base):
            return identifier()
        if callable(identifier):
            return identifier
        raise TypeError(f"{self.kind} identifiers are names, dicts, {self.base.__name__} objects or "
                        f"callables, got {type(identifier).__name__}.")

    def serialize(self, obj):
        """A registered function -> its name; an instance of ``base`` -> {'class_name', 'config'}."""
        if isinstance(obj, self.base):
            return {"class_name": type(obj).__name__, "config": obj.get_config()}
        name = getattr(obj, "__name__", None)
        if name is not None and self.entries.get(name) is obj and not inspect.isclass(obj):
            return name
        raise ValueError(f"cannot serialize the {self.kind} {obj!r}: use a {self.base.__name__} "
                         f"(it has a config) or one of {', '.join(self.names())}.")

    def deserialize(self, config):
        """The object for :meth:`serialize`'s output (a name or a class_name/config dict)."""
        if isinstance(config, str):
            return self.get(config)
        if isinstance(config, dict) and config.get("class_name") == "function":
            return self.get(config.get("config"))
        cls = self.entries.get(config.get("class_name")) if isinstance(config, dict) else None
        if not (inspect.isclass(cls) and issubclass(cls, self.base)) or cls is self.base:
            classes = sorted({c.__name__ for c in self.entries.values()
                              if inspect.isclass(c) and c is not self.base})
            raise ValueError(f"unknown {self.kind} config {config!r}: expected a name or "
                             "{'class_name': <one of " + ", ".join(classes) + ">, 'config': {...}}.")
        return cls.from_config(dict(config.get("config") or {}))

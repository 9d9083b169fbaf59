"""The settings protocol (Keras' get_config) and the one registry of string identifiers that
losses, metrics, activations, initializers, regularizers, optimizers and schedules share."""

from __future__ import annotations

import difflib
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


class IdentifierError(ValueError, TypeError):
    """An identifier that is neither a name, a config dict, an object of the kind nor a callable.

    Both a ValueError (what Keras raises for an identifier it cannot interpret) and a
    TypeError (the argument has the wrong type), so either ``except`` clause catches it.
    """


def closest_name(name, candidates):
    """The candidate most like ``name`` by difflib's ratio (>= 0.6), or None.

    Letter case counts first ('acuracy' -> 'accuracy' rather than 'Accuracy'); only when
    nothing is close is case ignored ('ADAMM' -> 'adam').
    """
    candidates = list(candidates)
    matches = difflib.get_close_matches(str(name), candidates, n=1)
    if matches:
        return matches[0]
    folded = {}
    for candidate in candidates:
        folded.setdefault(candidate.lower(), candidate)
    matches = difflib.get_close_matches(str(name).lower(), list(folded), n=1)
    return folded[matches[0]] if matches else None


def each_identifier(spec, visit):
    """Call ``visit`` on every identifier of a compile-time argument: one identifier, a list or
    tuple of them (nested: one list per output) or a dict by output name (a dict with a
    ``'class_name'`` key is one serialized identifier, not a mapping)."""
    if isinstance(spec, (list, tuple)):
        for item in spec:
            each_identifier(item, visit)
    elif isinstance(spec, dict) and "class_name" not in spec:
        for item in spec.values():
            each_identifier(item, visit)
    else:
        visit(spec)


class Registry:
    """The string identifiers of one kind of object (losses, metrics, activations, optimizers, ...)
    and Keras' get/serialize/deserialize over them.

    ``entries`` maps names to classes (instantiated with their defaults by :meth:`get`) or
    to functions (returned as they are, or called with no arguments when
    ``call_functions``: factories such as ``l1_l2``). ``base`` is the class whose
    instances serialize to ``{'class_name': ..., 'config': get_config()}`` and are returned
    as they are by :meth:`get` (None for kinds that are plain functions). ``fold_case``
    also accepts names in any letter case (Keras does so for optimizers);
    ``accept_callables`` returns other callables as they are (custom losses, activations);
    ``unlisted`` names are deserialized but not offered as identifiers.

    Every unknown name raises ValueError naming the closest valid name and all of them,
    in the order they were registered; any other unusable identifier raises
    :class:`IdentifierError`.
    """

    def __init__(self, kind, base, entries, hint, call_functions=False, fold_case=False,
                 accept_callables=True, unlisted=()):
        self.kind, self.base, self.entries, self.hint = kind, base, dict(entries), hint
        self.call_functions, self.fold_case, self.accept_callables = call_functions, fold_case, accept_callables
        self.unlisted = frozenset(unlisted)

    def _listed(self):
        """Names for lookup, in registration order (the abstract base itself is no identifier)."""
        return [name for name, obj in self.entries.items() if obj is not self.base and name not in self.unlisted]

    def names(self) -> list:
        """Every string identifier, sorted."""
        return sorted(self._listed())

    def _build(self, obj):
        if inspect.isclass(obj) or self.call_functions:
            return obj()
        return obj

    def _find(self, name, extra=None):
        """The entry for ``name`` (exact, then case-folded when allowed), or None."""
        table = {**self.entries, **(extra or {})}
        obj = table.get(name)
        if obj is None and self.fold_case:
            obj = table.get(name.lower())
        if obj is None:
            obj = self._registered(name)
        return None if obj is self.base else obj

    def _registered(self, name):
        """A user object registered as ``name`` (:func:`register_keras_serializable`) if it is of this kind."""
        obj = custom_objects_with().get(name)
        if inspect.isclass(obj):
            return obj if self.base is not None and issubclass(obj, self.base) else None
        return obj if self.accept_callables and callable(obj) else None

    def unknown_name(self, name, valid=None) -> ValueError:
        """The error for a name that is not registered: the closest valid name, then all of them."""
        valid = self._listed() if valid is None else list(valid)
        match = closest_name(name, valid)
        suggestion = f"; did you mean {match!r}?" if match else "."
        return ValueError(f"unknown {self.kind} {name!r}{suggestion} Valid names: "
                          f"{', '.join(repr(v) for v in valid)}; {self.hint}.")

    def not_understood(self, identifier) -> IdentifierError:
        """The error for an identifier of an unusable type (a number, a list, ...)."""
        kinds = ["a name", "a config dict"]
        if self.base is not None:
            kinds.append(f"an object of class {self.base.__name__}")
        if self.accept_callables:
            kinds.append("a callable")
        return IdentifierError(f"could not interpret {self.kind} identifier {identifier!r} (of type "
                               f"{type(identifier).__name__}): expected {', '.join(kinds[:-1])} or "
                               f"{kinds[-1]}.")

    def lookup(self, name):
        """The registered class or function for a string identifier (not built); unknown -> ValueError."""
        obj = self._find(name)
        if obj is None:
            raise self.unknown_name(name)
        return obj

    def get(self, identifier):
        """The object for a name, a config dict, a class (instantiated), an object of the kind or a
        callable (as is); None -> None."""
        if identifier is None:
            return None
        if self.base is not None and isinstance(identifier, self.base):
            return identifier
        if isinstance(identifier, dict):
            return self.deserialize(identifier)
        if isinstance(identifier, str):
            return self._build(self.lookup(identifier))
        if self.base is not None and inspect.isclass(identifier) and issubclass(identifier, self.base):
            return identifier()
        if self.accept_callables and callable(identifier):
            return identifier
        raise self.not_understood(identifier)

    def serialize(self, obj):
        """A registered function -> its name; an instance of ``base`` -> {'class_name', 'config'}."""
        if self.base is not None and isinstance(obj, self.base):
            return {"class_name": type(obj).__name__, "config": obj.get_config()}
        name = getattr(obj, "__name__", None)
        if name is not None and self.entries.get(name) is obj and not inspect.isclass(obj):
            return name
        raise ValueError(f"cannot serialize the {self.kind} {obj!r}: use "
                         + (f"a {self.base.__name__} (it has a config) or " if self.base is not None else "")
                         + f"one of {', '.join(self.names())}.")

    def deserialize(self, config, custom_objects=None):
        """The object for :meth:`serialize`'s output (a name or a class_name/config dict).

        ``custom_objects`` maps further class names to classes (your own subclasses).
        """
        if isinstance(config, str):
            return self.get(config)
        if isinstance(config, dict) and config.get("class_name") == "function":
            return self.get(config.get("config"))
        class_name = config.get("class_name") if isinstance(config, dict) else None
        cls = self._find(class_name, custom_objects) if isinstance(class_name, str) else None
        if not (inspect.isclass(cls) and (self.base is None or issubclass(cls, self.base))):
            classes = sorted({c.__name__ for c in self.entries.values()
                              if inspect.isclass(c) and c is not self.base})
            match = closest_name(class_name, classes) if isinstance(class_name, str) else None
            suggestion = f" (did you mean {match!r}?)" if match else ""
            raise ValueError(f"unknown {self.kind} config {config!r}{suggestion}: expected a name or "
                             "{'class_name': <one of " + ", ".join(classes) + ">, 'config': {...}}.")
        settings = config.get("config")
        if settings is None:
            settings = {}
        if not isinstance(settings, dict):
            raise ValueError(f"the {self.kind} config of {class_name!r} must be a dict of settings, "
                             f"got {settings!r}.")
        return cls.from_config(dict(settings))


# --------------------------------------------------------------------------- user objects by name

#: Objects registered with :func:`register_keras_serializable` (or added by hand to
#: :func:`get_custom_objects`), by their registered name ``'package>Name'``.
_CUSTOM_OBJECTS: dict = {}


def get_custom_objects() -> dict:
    """The live dict of user objects that loading and ``get()`` may find by name (Keras' ``get_custom_objects``).

    Keys are registered names (``'package>Name'`` from :func:`register_keras_serializable`,
    or any name you add yourself: ``get_custom_objects()['my_loss'] = my_loss``). Nothing
    from a file is ever executed: a name in a file only selects an object put here.
    """
    return _CUSTOM_OBJECTS


def register_keras_serializable(package="Custom", name=None):
    """Decorator registering a class or function under ``'package>name'`` (default name: its ``__name__``).

    A registered custom layer, loss, metric, activation, ... is then found by name when a
    model file is loaded or an identifier is resolved, without ``custom_objects=``.
    Classes must define ``get_config`` so that they can be saved.

    >>> @register_keras_serializable(package="Docs")
    ... def doubled(x):
    ...     return x * 2
    >>> get_custom_objects()["Docs>doubled"] is doubled
    True
    >>> del get_custom_objects()["Docs>doubled"]
    """
    if not isinstance(package, str) or ">" in package:
        raise ValueError(f"register_keras_serializable: package must be a string without '>', got {package!r}.")

    def register(obj):
        registered = f"{package}>{name or obj.__name__}"
        if inspect.isclass(obj) and not hasattr(obj, "get_config"):
            raise ValueError(f"cannot register {obj.__name__}: a class needs a get_config() method to be saved.")
        if registered in _CUSTOM_OBJECTS and _CUSTOM_OBJECTS[registered] is not obj:
            raise ValueError(f"{registered!r} is already registered to {_CUSTOM_OBJECTS[registered]!r}; "
                             "choose another package or name.")
        _CUSTOM_OBJECTS[registered] = obj
        return obj

    return register


def get_registered_name(obj) -> str:
    """The name ``obj`` was registered under, else its ``__name__`` (Keras' ``get_registered_name``)."""
    for registered, candidate in _CUSTOM_OBJECTS.items():
        if candidate is obj:
            return registered
    return obj.__name__


def get_registered_object(name, custom_objects=None, module_objects=None):
    """The object registered (or passed in ``custom_objects``/``module_objects``) as ``name``, else None."""
    return custom_objects_with(custom_objects, module_objects).get(name)


def custom_objects_with(*extra) -> dict:
    """Every user object by name: the registered ones under ``'package>Name'`` and under their bare
    ``Name`` (files name classes bare), then each dict of ``extra`` (later ones win)."""
    table = {}
    for registered, obj in _CUSTOM_OBJECTS.items():
        table.setdefault(registered.rpartition(">")[2], obj)
    table.update(_CUSTOM_OBJECTS)
    for more in extra:
        table.update(more or {})
    return table

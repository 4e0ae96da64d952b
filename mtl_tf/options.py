"""Keyword options of the registries (data sources, builders, objectives, the position tower, transfer).

A registry declares the options it reads as ``{name: default}`` next to the code that reads them
(``mtl_tf.data.OPTIONS``, ``mtl_tf.models.OPTIONS``, ``mtl_tf.ranking.OPTIONS``, an objective
class's ``options``, ...). A call takes them as keyword arguments; it may also take ``values``,
any object with attributes of those names (the apps pass their parsed flags, a notebook an
``argparse.Namespace``), read for the declared names only. The apps' flags take their defaults
from the same declarations, so every default lives in one place.

No absl here: the library is used without parsing any flag.
"""

import inspect
import types
from typing import Mapping

MISSING = object()


def resolve(declared: Mapping[str, object], values=None, overrides: Mapping[str, object] = None,
            what: str = "option") -> types.SimpleNamespace:
    """A namespace with every name of ``declared``: ``overrides[name]``, else ``values.name``, else
    the declared default. A name in ``overrides`` that is not declared is a TypeError naming it."""
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise TypeError(f"unknown {what}(s) {unknown}; the known ones are {sorted(declared)}.")
    out = {}
    for name, default in declared.items():
        if name in overrides:
            out[name] = overrides[name]
        else:
            value = getattr(values, name, MISSING) if values is not None else MISSING
            out[name] = default if value is MISSING else value
    return types.SimpleNamespace(**out)


def parameter_default(function, parameter: str):
    """The default of ``function``'s keyword ``parameter`` (a class: its ``__init__``'s)."""
    return inspect.signature(function).parameters[parameter].default

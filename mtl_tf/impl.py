"""Which implementation of the graded pieces runs: ``solutions`` or ``homework``.

The instructor checkout has both packages; a student handout has only
``homework``. ``auto`` (the default) picks ``solutions`` when it can be imported.
The choice comes from, in order: ``select(name)`` (mtl-train's ``--impl`` and
pytest's ``--impl`` call it), the ``MTL_IMPL`` environment variable, ``auto``.

Graded modules: see ``MODULES``. Framework code reaches them only through
``impl.module(name)``, never by importing ``solutions`` directly.
"""

import importlib
import os

CHOICES = ("auto", "solutions", "homework")
MODULES = ("conditioning", "architectures", "objectives", "gradients", "optimization", "transfer", "ranking")

_selected = None


def select(name: str) -> None:
    """Choose the implementation package for this process."""
    global _selected
    if name not in CHOICES:
        raise ValueError(f"impl must be one of {CHOICES}, got {name!r}.")
    _selected = name


def package_name() -> str:
    """The resolved package name: 'solutions' or 'homework'."""
    name = _selected or os.environ.get("MTL_IMPL", "auto")
    if name not in CHOICES:
        raise ValueError(f"MTL_IMPL must be one of {CHOICES}, got {name!r}.")
    if name != "auto":
        return name
    try:
        importlib.import_module("solutions")
        return "solutions"
    except ImportError:
        return "homework"


def module(name: str):
    """The graded module ``name`` (e.g. 'architectures') of the selected package."""
    if name not in MODULES:
        raise ValueError(f"Unknown graded module {name!r}; known: {MODULES}.")
    return importlib.import_module(f"{package_name()}.{name}")


def graded(name: str):
    """``module(name)``, callable while a ``tf.function`` is traced (autograph leaves it alone:
    importlib has no source for it to convert)."""
    return module(name)


# autograph calls a function carrying this attribute as is (what ``tf.autograph.experimental.
# do_not_convert`` sets); set here without importing TensorFlow, so that importing impl stays cheap
# for the grader, whose children import it before any test (a TensorFlow import is ~5 s)
graded.autograph_info__ = {}

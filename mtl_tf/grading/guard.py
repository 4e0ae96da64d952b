"""In-child defences against a submission that fools the comparisons (used by ``child.py``).

Two checks, both set up before any student code runs:

* ``Snapshot``: the objects comparisons depend on (numpy, numpy.testing, math, operator,
  builtins, pytest, TensorFlow/Keras tensor and variable classes, pytest's runner, the grading
  plugins) are recorded; ``changed()`` lists those that were replaced since (monkeypatching).
* ``Firewall``: every function of an imported ``homework`` module is wrapped so that what it
  returns is checked: a value whose comparison or conversion methods (``__eq__``, ``__bool__``,
  ``__float__``, ``__array__``, ...) are Python code from outside the installed libraries (an
  object whose ``__eq__`` lies) is refused with a TypeError, so the test fails.
"""

import functools
import importlib.machinery
import os
import sys
import types

GUARDED_MODULES = ("builtins", "math", "operator", "json", "hmac", "numpy", "numpy.testing",
                   "numpy.testing._private.utils", "numpy._core.numeric", "numpy.core.numeric",
                   "_pytest.python_api", "_pytest.approx", "_pytest.runner", "_pytest.reports", "_pytest.outcomes", "pytest",
                   "mtl_tf.impl", "mtl_tf.grading.plugin", "mtl_tf.grading.report", "mtl_tf.grading.child",
                   "mtl_tf.grading.guard")
DUNDERS = ("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__bool__", "__float__", "__int__",
           "__index__", "__complex__", "__array__", "__array_ufunc__", "__array_function__", "__len__",
           "__abs__", "__sub__", "__rsub__", "__neg__", "__iter__", "__getitem__", "__tf_tensor__",
           "__getattr__", "__getattribute__")
C_CALLABLES = (types.BuiltinFunctionType, types.WrapperDescriptorType, types.MethodWrapperType,
               types.MethodDescriptorType, types.ClassMethodDescriptorType, type(None))
MAX_ITEMS = 10_000


def _guarded_objects():
    """{label: object} for everything a comparison depends on."""
    objects = {}
    for name in GUARDED_MODULES:
        module = sys.modules.get(name)
        if module is None:
            continue
        objects[f"sys.modules[{name!r}]"] = module
        for attr, value in list(vars(module).items()):
            if callable(value) and not isinstance(value, types.ModuleType):
                objects[f"{name}.{attr}"] = value
            if isinstance(value, type) and getattr(value, "__module__", "").startswith(name.split(".")[0]):
                for cls_attr, member in list(vars(value).items()):
                    objects[f"{name}.{attr}.{cls_attr}"] = member
    classes = []
    if "numpy" in sys.modules:
        classes.append(sys.modules["numpy"].ndarray)
    if "tensorflow" in sys.modules:
        tf = sys.modules["tensorflow"]
        classes += [tf.Tensor, type(tf.constant(0.0)), tf.Variable]
    if "keras" in sys.modules:
        classes.append(sys.modules["keras"].Variable)
    for cls in classes:
        for attr, value in list(vars(cls).items()):
            objects[f"{cls.__module__}.{cls.__qualname__}.{attr}"] = value
    objects["sys.meta_path"] = tuple(sys.meta_path)
    return objects


_MISSING = object()


class Snapshot:
    """The guarded objects at one moment; ``changed()`` names those replaced since."""

    def __init__(self, firewall=None, keep=()):
        self.objects = _guarded_objects()
        self.firewall = firewall
        self.keep = list(keep)   # import hooks that must stay in sys.meta_path

    def changed(self):
        live = _guarded_objects()
        names = []
        for label, obj in self.objects.items():
            now = live.get(label, _MISSING)
            if label == "sys.meta_path":
                if self.firewall is not None and self.firewall not in now or any(k not in now for k in self.keep):
                    names.append("sys.meta_path (the grader's import hook was removed)")
            elif now is not obj:
                names.append(label)
        if self.firewall is not None:
            names += self.firewall.unwrapped()
        return sorted(names)


def _trusted_function(f, student_dir: str) -> bool:
    """True if ``f`` is C code, or Python code of a library module loaded from its own file."""
    if isinstance(f, (classmethod, staticmethod)):
        f = f.__func__
    if isinstance(f, types.MethodType):
        f = f.__func__
    if isinstance(f, C_CALLABLES):
        return True
    if not isinstance(f, types.FunctionType):
        return False
    module = sys.modules.get(f.__globals__.get("__name__", ""))
    path = getattr(module, "__file__", None)
    if module is None or module.__dict__ is not f.__globals__ or not path or module.__name__.startswith("homework"):
        return False
    path = os.path.realpath(path)
    return not path.startswith(student_dir) and os.path.realpath(f.__code__.co_filename) == path


def untrusted_methods(value, student_dir: str):
    """Names of comparison/conversion methods of ``type(value)`` that are not library code."""
    cls = type(value)
    bad = []
    for name in DUNDERS:
        try:
            f = type.__getattribute__(cls, name) if hasattr(cls, name) else None
        except AttributeError:
            continue
        if not _trusted_function(f, student_dir):
            bad.append(name)
    return bad


def check_value(value, student_dir: str, where: str, depth: int = 0, budget=None) -> None:
    """Raise TypeError if ``value`` (or an item of a tuple/list/dict in it) has untrusted methods."""
    budget = budget if budget is not None else [MAX_ITEMS]
    budget[0] -= 1
    if budget[0] < 0 or depth > 6:
        return
    bad = untrusted_methods(value, student_dir)
    if bad:
        raise TypeError(f"{where} returned a {type(value).__name__} whose {', '.join(bad)} "
                        "come from the submission: return tensors, arrays or Python numbers.")
    if type(value) in (tuple, list):
        for item in value:
            check_value(item, student_dir, where, depth + 1, budget)
    elif type(value) is dict:
        for key, item in value.items():
            check_value(key, student_dir, where, depth + 1, budget)
            check_value(item, student_dir, where, depth + 1, budget)


class Firewall:
    """A meta-path finder that wraps the functions of ``homework.*`` modules as they are imported."""

    def __init__(self, student_dir: str):
        self.student_dir = os.path.realpath(student_dir)
        self.wrapped = {}   # (module name, attr) -> wrapper
        self.modules = {}   # module name -> the module object this firewall wrapped

    def find_spec(self, name, path=None, target=None):
        if not name.startswith("homework."):
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            execute = spec.loader.exec_module

            def exec_module(module):
                execute(module)
                self.wrap(module)

            spec.loader.exec_module = exec_module
        return spec

    def wrap(self, module) -> None:
        self.modules[module.__name__] = module
        for attr, value in list(vars(module).items()):
            if isinstance(value, types.FunctionType) and value.__module__ == module.__name__:
                wrapper = self._wrapper(value, f"{module.__name__.split('.')[-1]}.{attr}")
                setattr(module, attr, wrapper)
                self.wrapped[(module.__name__, attr)] = wrapper

    def _wrapper(self, fn, where):
        student_dir = self.student_dir

        @functools.wraps(fn)
        def checked(*args, **kwargs):
            value = fn(*args, **kwargs)
            check_value(value, student_dir, where)
            return value

        return checked

    def unwrapped(self):
        """Wrapped functions the submission has since replaced in its module."""
        names = [f"homework: {name}.{attr} was rebound" for (name, attr), wrapper in self.wrapped.items()
                 if getattr(sys.modules.get(name), attr, None) is not wrapper]
        names += [f"sys.modules[{name!r}] was not imported through the grader" for name in list(sys.modules)
                  if name.startswith("homework.") and sys.modules[name] is not self.modules.get(name)]
        return names

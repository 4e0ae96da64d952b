"""Mutation check of the graded tests: does every plausible wrong implementation lose points?

A mutant is one file ``tests/mutants/<module>/<name>.py``: a docstring saying which mistake it
makes, ``TARGETS = ["tests/test_x.py::test_y", ...]`` (the graded tests that must catch it), and
the wrong definition(s). Its homework module is ``solutions/<module>.py`` followed by the mutant's
text, so later definitions replace the reference ones (and other functions of the module that call
them use the wrong one too, as in a student's file).

  python -m mtl_tf.grading.mutants [--json=PATH] [-k SUBSTRING]

runs each mutant's targets in this process (one pytest session per mutant, every other graded
module from ``solutions``) and prints, per mutant, whether it was "killed" (every target failed:
it loses all their points) or "SURVIVED" (some target still passed). Exit status 1 if any survives.
"""

import argparse
import ast
import importlib
import json
import os
import sys
import types
from typing import Dict, List, NamedTuple

from mtl_tf.grading import report as results_report


class Mutant(NamedTuple):
    name: str          # "<module>/<file stem>"
    module: str        # graded module it replaces, e.g. "objectives"
    path: str
    doc: str
    targets: List[str]


def load(directory: str) -> List[Mutant]:
    """Every mutant under ``directory`` (one sub-folder per graded module)."""
    mutants = []
    for module in sorted(os.listdir(directory)):
        folder = os.path.join(directory, module)
        if not os.path.isdir(folder) or module.startswith(("_", ".")):
            continue
        for name in sorted(os.listdir(folder)):
            if not name.endswith(".py") or name.startswith("_"):
                continue
            path = os.path.join(folder, name)
            with open(path) as f:
                tree = ast.parse(f.read(), path)
            targets = [ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
                       and any(getattr(t, "id", None) == "TARGETS" for t in node.targets)]
            if not targets or not targets[0]:
                raise ValueError(f"{path}: a mutant needs TARGETS = ['tests/test_x.py::test_y', ...]")
            mutants.append(Mutant(f"{module}/{name[:-3]}", module, path, ast.get_docstring(tree) or "",
                                  list(targets[0])))
    return mutants


def build_module(root: str, mutant: Mutant) -> types.ModuleType:
    """The homework module of ``mutant``: the reference source with the mutant appended."""
    with open(os.path.join(root, "solutions", f"{mutant.module}.py")) as f:
        source = f.read()
    with open(mutant.path) as f:
        source += f"\n\n# --- mutant {mutant.name} ---\n" + f.read()
    module = types.ModuleType(f"homework.{mutant.module}")
    module.__file__ = mutant.path
    exec(compile(source, mutant.path, "exec"), module.__dict__)
    return module


class _Outcomes:
    """pytest plugin: {test function node id: all its cases passed}."""

    def __init__(self):
        self.passed: Dict[str, bool] = {}

    def pytest_runtest_logreport(self, report):
        key = results_report.test_key(report.nodeid)
        ok = not report.failed and not (report.skipped and report.when != "teardown")
        self.passed[key] = self.passed.get(key, True) and ok


def run(root: str, mutants: List[Mutant]) -> Dict[str, Dict[str, bool]]:
    """{mutant name: {target: True if the target still passed (mutant survived)}}."""
    import pytest
    from mtl_tf import impl

    impl.select("homework")
    reference = {}
    for name in impl.MODULES:
        try:
            reference[name] = importlib.import_module(f"solutions.{name}")
        except ImportError:
            pass
    package = importlib.import_module("homework")
    results = {}
    for mutant in mutants:
        modules = dict(reference, **{mutant.module: build_module(root, mutant)})
        for name, module in modules.items():
            sys.modules[f"homework.{name}"] = module
            setattr(package, name, module)
        outcomes = _Outcomes()
        pytest.main(["-qq", "--no-header", "-p", "no:cacheprovider", "--impl=homework", "--rootdir", root,
                     *[os.path.join(root, t) for t in mutant.targets]], plugins=[outcomes])
        # a target that did not run (renamed?) counts as passed: the mutant is not shown to be caught
        results[mutant.name] = {t: outcomes.passed.get(t, True) for t in mutant.targets}
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mtl_tf.grading.mutants", description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=None, help="instructor checkout (default: this one)")
    parser.add_argument("--json", default=None, help="write {mutant: {target: survived}} here")
    parser.add_argument("-k", dest="keyword", default="", help="only mutants whose name contains this")
    parser.add_argument("--shard", default="0/1", help="I/N: run only every N-th mutant from the I-th (0-based)")
    args = parser.parse_args(argv)
    index, count = (int(v) for v in args.shard.split("/"))
    from mtl_tf.grading.assign import _default_root
    root = os.path.abspath(args.root or _default_root())
    os.chdir(root)
    mutants = [m for m in load(os.path.join(root, "tests", "mutants")) if args.keyword in m.name][index::count]
    results = run(root, mutants)
    survivors = [name for name, targets in results.items() if any(targets.values())]
    for m in mutants:
        state = "SURVIVED" if m.name in survivors else "killed"
        print(f"{state:8}  {m.name}: {m.doc.splitlines()[0] if m.doc else ''}")
    print(f"{len(mutants) - len(survivors)}/{len(mutants)} mutants killed")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())

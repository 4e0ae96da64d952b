"""Mutation check of the graded tests: does every plausible wrong implementation lose points?

A mutant is one file ``tests/mutants/<module>/<name>.py``: a docstring saying which mistake it
makes, ``TARGETS = ["tests/test_x.py::test_y", ...]`` (the graded tests that must catch it; a
parametrized test may be narrowed to one case, ``tests/test_x.py::test_y[case]``), and the wrong
definition(s). Its homework module is ``solutions/<module>.py`` followed by the mutant's
text, so later definitions replace the reference ones (and other functions of the module that call
them use the wrong one too, as in a student's file).

  python -m mtl_tf.grading.mutants [--json=PATH] [-k SUBSTRING] [--shard=I/N]
  python -m mtl_tf.grading.mutants --coverage

The first runs each mutant's targets in this process (one pytest session for all of them, every
other graded module from ``solutions``) and prints, per mutant, whether it was "killed" (every target failed:
it loses all their points) or "SURVIVED" (some target still passed). Exit status 1 if any survives.
``--coverage`` prints, per graded function (a function of ``solutions/<module>.py`` with a
``# BEGIN SOLUTION`` region, for every module of ``mtl_tf.impl.MODULES`` found there), how many
mutants replace it; exit status 1 if one has fewer than MIN_PER_FUNCTION.
"""

import argparse
import ast
import importlib
import json
import os
import sys
import types
from typing import Dict, List, NamedTuple

from mtl_tf.grading import assign
from mtl_tf.grading import report as results_report

MIN_PER_FUNCTION = 2


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


def graded_functions(root: str) -> Dict[str, List[str]]:
    """{graded module: names of its top-level functions holding a ``# BEGIN SOLUTION`` region},
    for every module of ``mtl_tf.impl.MODULES`` that ``root/solutions`` has."""
    from mtl_tf import impl

    graded = {}
    for module in impl.MODULES:
        path = os.path.join(root, "solutions", f"{module}.py")
        if not os.path.exists(path):
            continue
        with open(path) as f:
            source = f.read()
        lines = source.splitlines()
        graded[module] = [node.name for node in ast.parse(source, path).body
                          if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                          and any(assign.BEGIN.match(line) for line in lines[node.lineno - 1:node.end_lineno])]
    return graded


def replaced_functions(mutant: Mutant) -> List[str]:
    """Names of the top-level functions ``mutant`` (re)defines."""
    with open(mutant.path) as f:
        return [node.name for node in ast.parse(f.read(), mutant.path).body
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]


def coverage(root: str, mutants: List[Mutant]) -> Dict[str, Dict[str, List[str]]]:
    """{graded module: {graded function: names of the mutants that replace it}}."""
    table = {module: {fn: [] for fn in fns} for module, fns in graded_functions(root).items()}
    for m in mutants:
        for fn in replaced_functions(m):
            if fn in table.get(m.module, {}):
                table[m.module][fn].append(m.name)
    return table


def coverage_table(table: Dict[str, Dict[str, List[str]]]) -> str:
    """The per-function mutant counts as a plain-text table (thin rows marked)."""
    rows = [("module", "graded function", "mutants")]
    rows += [(module, fn, str(len(names)) + ("  < %d" % MIN_PER_FUNCTION if len(names) < MIN_PER_FUNCTION else ""))
             for module, fns in table.items() for fn, names in fns.items()]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


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
    """{node id: all its cases passed}, for each test function (``path::test``: a parametrized test
    passes only if every case does) and each case (``path::test[param]``)."""

    def __init__(self):
        self.passed: Dict[str, bool] = {}

    def add(self, report) -> None:
        ok = not report.failed and not (report.skipped and report.when != "teardown")
        for key in {results_report.test_key(report.nodeid), report.nodeid}:
            self.passed[key] = self.passed.get(key, True) and ok


class _RunEveryMutant:
    """pytest plugin: one session collects every target once, then runs, mutant after mutant, that
    mutant's targets with its homework module in place (a fresh fixture set for every test run).

    Collecting and setting pytest up once instead of once per mutant keeps the corpus fast as it grows.
    """

    def __init__(self, mutants: List[Mutant], install):
        self.mutants, self.install = mutants, install
        self.results: Dict[str, Dict[str, bool]] = {}

    def pytest_runtestloop(self, session):
        from _pytest.runner import runtestprotocol

        if session.testsfailed and not session.config.option.continue_on_collection_errors:
            return None  # a collection error: pytest reports it
        for mutant in self.mutants:
            self.install(mutant)
            outcomes = _Outcomes()
            chosen = [item for item in session.items if any(
                item.nodeid == t or results_report.test_key(item.nodeid) == t for t in mutant.targets)]
            for item in chosen:
                item._initrequest()  # forget the previous run's fixture values
                for report in runtestprotocol(item, log=True, nextitem=None):
                    outcomes.add(report)
            # a target that did not run (renamed?) counts as passed: the mutant is not shown to be caught
            self.results[mutant.name] = {t: outcomes.passed.get(t, True) for t in mutant.targets}
        return True


def run(root: str, mutants: List[Mutant]) -> Dict[str, Dict[str, bool]]:
    """{mutant name: {target: True if the target still passed (mutant survived)}}, from one pytest
    session in this process (every other graded module from ``solutions``)."""
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

    def install(mutant):
        for name, module in dict(reference, **{mutant.module: build_module(root, mutant)}).items():
            sys.modules[f"homework.{name}"] = module
            setattr(package, name, module)

    targets = list(dict.fromkeys(t for m in mutants for t in m.targets))
    runner = _RunEveryMutant(mutants, install)
    if targets:
        pytest.main(["-qq", "--no-header", "-p", "no:cacheprovider", "--impl=homework", "--rootdir", root,
                     *[os.path.join(root, t) for t in targets]], plugins=[runner])
    return {m.name: runner.results.get(m.name, {t: True for t in m.targets}) for m in mutants}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mtl_tf.grading.mutants", description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=None, help="instructor checkout (default: this one)")
    parser.add_argument("--mutants", default=None, help="the corpus folder (default: ROOT/tests/mutants)")
    parser.add_argument("--json", default=None, help="write {mutant: {target: survived}} here")
    parser.add_argument("-k", dest="keyword", default="", help="only mutants whose name contains this")
    parser.add_argument("--shard", default="0/1", help="I/N: run only every N-th mutant from the I-th (0-based)")
    parser.add_argument("--coverage", action="store_true",
                        help="print how many mutants each graded function has (runs nothing)")
    args = parser.parse_args(argv)
    index, count = (int(v) for v in args.shard.split("/"))
    root = os.path.abspath(args.root or assign._default_root())
    corpus = os.path.abspath(args.mutants or os.path.join(root, "tests", "mutants"))
    os.chdir(root)
    if args.coverage:
        table = coverage(root, load(corpus))
        print(coverage_table(table))
        return 1 if any(len(names) < MIN_PER_FUNCTION for fns in table.values() for names in fns.values()) else 0
    mutants = [m for m in load(corpus) if args.keyword in m.name][index::count]
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

"""mtl-assign: generate the student's ``homework/`` from the reference ``solutions/``.

Every ``# BEGIN SOLUTION`` ... ``# END SOLUTION`` region of ``solutions/*.py`` becomes a TODO
and a ``raise NotImplementedError`` naming the enclosing function; everything outside the
markers is copied as is, so the two packages have the same API and docstrings.

  mtl-assign            write homework/
  mtl-assign --check    exit 1 if homework/ differs from what would be generated
  mtl-assign build OUT/ the student handout OUT/student/ and the Gradescope OUT/autograder.zip
                        (--assignment=assignments/hw1.toml: only that assignment's parts)
  mtl-assign map        re-record assignments/graded_tests.json: which graded functions each graded
                        test calls (run on the reference code; the build uses it to pick tests)
"""

import argparse
import os
import sys

from mtl_tf.grading.generation import (BEGIN, DEF, END, FORBIDDEN_IMPORT, HOMEWORK_INIT, AssignError,  # noqa: F401
                                       _default_root, _enclosing_function, differences, generate,
                                       strip_solutions, write)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["map"]:
        return map_main(argv[1:])
    if argv[:1] == ["build"]:
        from mtl_tf.grading import build  # build needs generate(): imported here, not at the top
        return build.main(argv[1:])
    parser = argparse.ArgumentParser(prog="mtl-assign", description=__doc__.split("\n\n")[0],
                                     epilog="mtl-assign build OUT/ writes the student handout OUT/student/ and the "
                                            "Gradescope bundle OUT/autograder.zip (mtl-assign build --help).")
    parser.add_argument("--check", action="store_true", help="exit 1 if homework/ is out of date")
    parser.add_argument("--solutions", default=None, help="solutions folder (default: <repo>/solutions)")
    parser.add_argument("--homework", default=None, help="homework folder (default: <repo>/homework)")
    args = parser.parse_args(argv)
    root = _default_root()
    solutions_dir = args.solutions or os.path.join(root, "solutions")
    homework_dir = args.homework or os.path.join(root, "homework")
    if not os.path.isdir(solutions_dir):
        print(f"mtl-assign: error: no solutions folder at {solutions_dir}", file=sys.stderr)
        return 2
    try:
        files = generate(solutions_dir)
    except AssignError as e:
        print(f"mtl-assign: error: {e}", file=sys.stderr)
        return 2
    if args.check:
        problems = differences(files, homework_dir)
        if problems:
            print("mtl-assign: homework/ is out of date (run mtl-assign):\n" + "\n".join(problems), file=sys.stderr)
            return 1
        print(f"mtl-assign: homework/ is up to date ({len(files)} files).")
        return 0
    write(files, homework_dir)
    print(f"mtl-assign: wrote {len(files)} files to {homework_dir}")
    return 0


class _Recorder:
    """pytest plugin: wraps every graded function of ``solutions`` and records, per graded test case
    (node id), which of them ran during its setup, call and teardown."""

    def __init__(self, solutions_dir: str):
        from mtl_tf.grading.generation import graded_functions
        self.functions = graded_functions(solutions_dir)
        self.current = None
        self.calls = {}

    def pytest_configure(self, config):
        import functools
        import importlib
        for key in sorted(self.functions):
            module_name, fn = key.split(".")
            module = importlib.import_module(f"solutions.{module_name}")
            original = getattr(module, fn)

            setattr(module, fn, functools.wraps(original)(self._wrap(key, original)))

    def _wrap(self, key, original):
        def wrapper(*args, **kwargs):
            if self.current is not None:
                self.current.add(key)
            return original(*args, **kwargs)
        return wrapper

    def pytest_runtest_protocol(self, item, nextitem):
        self.current = self.calls.setdefault(item.nodeid, set())

    def pytest_runtest_logfinish(self, nodeid, location):
        self.current = None


def map_main(argv) -> int:
    """``mtl-assign map``: run every graded test (public and hidden) on the reference code and
    write {test: [graded functions it calls]} to assignments/graded_tests.json."""
    import json
    import pytest
    parser = argparse.ArgumentParser(prog="mtl-assign map", description=map_main.__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=None, help="default: <repo>/assignments/graded_tests.json")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (e.g. one test file)")
    args = parser.parse_args(argv)
    root = _default_root()
    recorder = _Recorder(os.path.join(root, "solutions"))
    os.chdir(root)
    code = pytest.main(["-q", "-m", "points", "--impl=solutions", "-p", "no:randomly",
                        *(args.pytest_args or ["tests"])], plugins=[recorder])
    if code != 0:
        print(f"mtl-assign map: the graded tests did not all pass on the reference code (pytest exit {code})",
              file=sys.stderr)
        return 1
    out = args.out or os.path.join(root, "assignments", "graded_tests.json")
    previous = {}
    if args.pytest_args and os.path.exists(out):
        with open(out) as f:
            previous = json.load(f)["tests"]
    tests = dict(previous, **{k: sorted(v) for k, v in recorder.calls.items()})
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump({"about": "Generated by `mtl-assign map`: the graded functions of solutions/ each graded test "
                            "calls. mtl-assign build --assignment=... keeps a test only if it calls a function "
                            "the assignment asks for (a parametrized test: per case).", "tests": dict(sorted(tests.items()))}, f, indent=1)
        f.write("\n")
    print(f"mtl-assign map: {len(tests)} graded tests -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())


def run():
    """Console-script entry point."""
    sys.exit(main())

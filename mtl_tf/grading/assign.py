"""mtl-assign: generate the student's ``homework/`` from the reference ``solutions/``.

Every ``# BEGIN SOLUTION`` ... ``# END SOLUTION`` region of ``solutions/*.py`` becomes a TODO
and a ``raise NotImplementedError`` naming the enclosing function; everything outside the
markers is copied as is, so the two packages have the same API and docstrings.

  mtl-assign            write homework/
  mtl-assign --check    exit 1 if homework/ differs from what would be generated
  mtl-assign build OUT/ the student handout OUT/student/ and the Gradescope OUT/autograder.zip
"""

import argparse
import os
import sys

from mtl_tf.grading.generation import (BEGIN, DEF, END, FORBIDDEN_IMPORT, HOMEWORK_INIT, AssignError,  # noqa: F401
                                       _default_root, _enclosing_function, differences, generate,
                                       strip_solutions, write)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
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


if __name__ == "__main__":
    sys.exit(main())


def run():
    """Console-script entry point."""
    sys.exit(main())

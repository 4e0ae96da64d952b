"""mtl-grade: grade a submission exactly as the Gradescope autograder does.

  mtl-grade                                  grade the untouched homework/ (scores 0)
  mtl-grade --submission=DIR                 grade DIR/homework/*.py (or DIR/*.py)
  mtl-grade --impl=solutions                 grade the reference solutions (instructor check)
  mtl-grade --results=results.json           where to write the Gradescope results

Student code runs in a sandboxed child process (``mtl_tf.grading.sandbox``); this process
writes results.json and prints a per-part score table.
"""

import argparse
import json
import os
import signal
import sys
import tempfile

from mtl_tf.grading import report, sandbox, workspace


def _solutions_as_submission(root: str, into: str) -> str:
    """A submission folder holding the reference solutions under homework/ names."""
    hw = os.path.join(into, "homework")
    os.makedirs(hw)
    for name in workspace.expected_files(root):
        src = os.path.join(root, "solutions", name)
        if os.path.exists(src):
            with open(src) as f, open(os.path.join(hw, name), "w") as g:
                g.write(f.read())
    return into


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="mtl-grade", description=__doc__.split("\n\n")[0])
    parser.add_argument("--impl", default="homework", choices=("homework", "solutions"),
                        help="with no --submission: grade the starter homework/ or the reference solutions/")
    parser.add_argument("--submission", default=None, help="folder with the submitted homework files")
    parser.add_argument("--results", default="results.json", help="path of the Gradescope results.json")
    parser.add_argument("--root", default=None, help="grader source folder (default: this checkout)")
    parser.add_argument("--no-hidden", action="store_true", help="run the public graded tests only")
    parser.add_argument("--timeout", type=float, default=sandbox.DEFAULT_TIMEOUT, help="seconds per test")
    parser.add_argument("--time-limit", type=float, default=sandbox.DEFAULT_TIME_LIMIT,
                        help="seconds for the whole run")
    parser.add_argument("--hidden-visibility", default="after_published", choices=report.VISIBILITIES)
    parser.add_argument("--user", default=None,
                        help="as root: the user that runs student code (default nobody; '' keeps root)")
    parser.add_argument("-k", dest="select", action="append", default=None,
                        help="only this test node id, e.g. tests/test_objectives.py::test_x (repeatable)")
    args = parser.parse_args(argv)
    root = os.path.abspath(args.root or workspace.source_root())
    # A valid results.json exists from the start: if this process is killed (SIGKILL, the platform's
    # timeout), what is left says so instead of nothing or a stale file.
    write_results(args.results, sandbox._error_results(
        "The grading did not finish (the grader was stopped or ran out of time). Please tell the course staff."))
    previous = {s: signal.signal(s, _stop) for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)}
    for s in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGALRM, signal.SIGPIPE):
        previous[s] = signal.signal(s, signal.SIG_IGN)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            submission = args.submission
            if submission is None and args.impl == "solutions":
                submission = _solutions_as_submission(root, tmp)
            if submission is not None and not os.path.isdir(submission):
                print(f"mtl-grade: error: no submission folder at {submission}", file=sys.stderr)
                write_results(args.results, sandbox._error_results(f"No submission folder at {submission}."))
                return 2
            results = sandbox.grade(submission, root=root, include_hidden=not args.no_hidden,
                                    timeout=args.timeout, time_limit=args.time_limit,
                                    hidden_visibility=args.hidden_visibility, as_user=args.user,
                                    select=args.select)
    except _Stopped as e:
        results = sandbox._error_results(f"The grading was stopped ({e}) before it finished. "
                                         "Please tell the course staff.")
    except Exception as e:  # the grader itself failed: still leave a valid results.json
        results = sandbox._error_results(f"The autograder failed ({type(e).__name__}: {report.truncate(e, 2000)}); "
                                         "please tell the course staff.")
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if not results.get("tests") and not results.get("extra_data", {}).get("grading_error"):
        # a grading that graded nothing must fail loudly, whatever the runner said
        reason = (results.get("output") or "").strip()
        results = sandbox._error_results("No graded test ran" + (f": {report.truncate(reason, 2000)}" if reason else
                                         " (the tests could not be collected or started, and gave no reason)")
                                         + ". Please tell the course staff.")
    write_results(args.results, results)
    print(results["output"])
    print(f"score {results['score']:g}/{results['max_score']:g} in {results['execution_time']:g} s -> {args.results}")
    error = results.get("extra_data", {}).get("grading_error")
    if error:
        print(f"mtl-grade: error: {error}", file=sys.stderr)
        return 1
    return 0


class _Stopped(Exception):
    pass


def _stop(signum, frame):
    raise _Stopped(signal.Signals(signum).name)


def write_results(path: str, results: dict) -> None:
    """Write ``results`` to ``path`` atomically (a reader sees the old file or the new one, whole),
    as strict JSON (no NaN; the strings are already cleaned by the report)."""
    path = os.path.abspath(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".results-", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(results, f, indent=2, allow_nan=False)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


if __name__ == "__main__":
    sys.exit(main())


def run():
    """Console-script entry point."""
    sys.exit(main())

"""Autograder wall time on the reference solutions, exactly as Gradescope runs it.

Builds the bundle (``mtl-assign build``), unpacks it as /autograder/source would be (under a
temporary AUTOGRADER_ROOT), submits the reference solutions as the student's homework files, runs
``run_autograder`` and times it. The bar: under 3 minutes on 2 CPU cores.

  python benchmarks/autograder_time.py [--repeats=1]

Prints a table, then a JSON line with the numbers.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from mtl_tf.grading import assign, workspace  # noqa: E402


def one_run(bundle: str, work: str) -> dict:
    root = os.path.join(work, "autograder")
    shutil.rmtree(root, ignore_errors=True)
    with zipfile.ZipFile(bundle) as z:
        z.extractall(os.path.join(root, "source"))
    os.chmod(os.path.join(root, "source", "run_autograder"), 0o755)
    os.makedirs(os.path.join(root, "submission"))
    for name in workspace.expected_files(ROOT):
        shutil.copy(os.path.join(ROOT, "solutions", name), os.path.join(root, "submission", name))
    env = dict(os.environ, AUTOGRADER_ROOT=root, TF_CPP_MIN_LOG_LEVEL="2")
    start = time.perf_counter()
    proc = subprocess.run([os.path.join(root, "source", "run_autograder")], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    with open(os.path.join(root, "results", "results.json")) as f:
        results = json.load(f)
    return {"wall_s": round(wall, 1), "score": results["score"], "max_score": results["max_score"],
            "tests": len(results["tests"]), "failed": [t["name"].split(":")[0] for t in results["tests"]
                                                       if t["status"] != "passed"], "rc": proc.returncode}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        assert assign.main(["build", os.path.join(work, "out")]) == 0
        runs = [one_run(os.path.join(work, "out", "autograder.zip"), work) for _ in range(args.repeats)]
    print(f"{'run':>3}  {'wall s':>7}  {'score':>11}  tests")
    for i, r in enumerate(runs):
        print(f"{i:>3}  {r['wall_s']:>7}  {r['score']:>5g}/{r['max_score']:<5g}  {r['tests']}")
    best = min(runs, key=lambda r: r["wall_s"])
    print(json.dumps({"cpu_count": os.cpu_count(), "wall_s": best["wall_s"], "score": best["score"],
                      "max_score": best["max_score"], "tests": best["tests"], "failed": best["failed"],
                      "under_3_min": best["wall_s"] < 180}))


if __name__ == "__main__":
    main()

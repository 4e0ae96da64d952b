"""The grader's two ends: untouched homework scores 0 on every graded test; results.json is valid."""

import json
import os
import subprocess
import sys

from conftest import REPO


def test_untouched_homework_scores_zero_and_results_json_is_gradescope(tmp_path):
    results = tmp_path / "results.json"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "points", "--impl=homework",
                           f"--results={results}"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert results.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads(results.read_text())
    assert data["tests"], "no graded test ran"
    passed = [t["name"] for t in data["tests"] if t["status"] == "passed"]
    assert not passed, f"these graded tests pass on the untouched homework (they grade nothing): {passed}"
    assert data["score"] == 0 and data["max_score"] > 0
    assert isinstance(data["execution_time"], (int, float))
    assert "total" in data["output"] and data["stdout_visibility"] == "visible"
    for t in data["tests"]:
        assert {"name", "number", "score", "max_score", "status", "output", "visibility", "tags"} <= set(t)
        assert t["score"] == 0 and "not implemented yet" in t["output"], t
        hidden = "hidden" in t["tags"]
        assert t["visibility"] == ("after_published" if hidden else "visible"), t

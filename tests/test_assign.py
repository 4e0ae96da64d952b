"""mtl-assign: solutions -> homework, markers checked, drift detected."""

import os
import shutil
import subprocess
import sys

import pytest

from conftest import REPO
from mtl_tf.grading.assign import AssignError, differences, generate, main, strip_solutions

SOURCE = '''def f(x):
    """Doc stays."""
    y = 1
    # BEGIN SOLUTION
    return x + y
    # END SOLUTION


def g():
    return 2
'''


def test_region_becomes_todo_naming_the_function():
    out = strip_solutions(SOURCE, "solutions/m.py")
    assert "return x + y" not in out
    assert '"""Doc stays."""' in out and "    y = 1\n" in out and "def g():\n    return 2\n" in out
    assert 'raise NotImplementedError("f in homework/m.py is not implemented yet")' in out
    namespace = {}
    exec(compile(out, "m.py", "exec"), namespace)
    with pytest.raises(NotImplementedError, match="f in homework"):
        namespace["f"](1)
    assert namespace["g"]() == 2


@pytest.mark.parametrize("text, words", [
    ("def f():\n    # BEGIN SOLUTION\n    # BEGIN SOLUTION\n    pass\n    # END SOLUTION\n", "cannot nest"),
    ("def f():\n    pass\n    # END SOLUTION\n", "without a matching"),
    ("def f():\n    # BEGIN SOLUTION\n    pass\n", "never closed"),
    ("from solutions.x import y\n", "imports from 'solutions'"),
])
def test_malformed_markers_are_clear_errors(text, words):
    with pytest.raises(AssignError, match=words):
        strip_solutions(text, "solutions/bad.py")


def test_repository_homework_is_up_to_date():
    proc = subprocess.run([sys.executable, "-m", "mtl_tf.grading.assign", "--check"], cwd=REPO,
                          capture_output=True, text=True)
    assert proc.returncode == 0, "homework/ drifted from solutions/; run mtl-assign\n" + proc.stderr


def test_check_detects_drift(tmp_path):
    hw = tmp_path / "homework"
    assert main(["--homework", str(hw)]) == 0
    assert differences(generate(os.path.join(REPO, "solutions")), str(hw)) == []
    target = hw / "objectives.py"
    target.write_text(target.read_text() + "\n# edited\n")
    (hw / "stale.py").write_text("")
    assert main(["--homework", str(hw), "--check"]) == 1
    problems = differences(generate(os.path.join(REPO, "solutions")), str(hw))
    assert any("objectives.py: differs" in p for p in problems) and any("stale" in p for p in problems)


def test_every_solution_module_has_a_region():
    for name, text in generate(os.path.join(REPO, "solutions")).items():
        if name != "__init__.py":
            assert "NotImplementedError" in text, f"solutions/{name} has no solution region"

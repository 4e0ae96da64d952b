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


# ---- assignments composed from parts (assignments/*.toml, mtl-assign build --assignment=...)

ASSIGNMENTS = os.path.join(REPO, "assignments")


def test_given_functions_keep_their_code_and_the_others_become_todos():
    files = generate(os.path.join(REPO, "solutions"), given={"objectives.sum_objective"})
    text = files["objectives.py"]
    assert "sum_objective in homework" not in text and "weighted_objective in homework/objectives.py" in text
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    assert generate(os.path.join(REPO, "solutions"))["conditioning.py"] == files["conditioning.py"]
    assert not any("solutions" in t for t in files.values()), "the homework files must not mention solutions"


@pytest.mark.parametrize("name", ["hw1.toml", "everything.toml"])
def test_assignment_files_pick_tests_that_need_the_students_code(name):
    """Every graded test of the sources is in graded_tests.json (else: run mtl-assign map); a kept case
    needs a function the student writes, a left-out case needs only given ones; every required or
    optional function earns points."""
    from mtl_tf.grading import build
    assignment = build.load_assignment(os.path.join(ASSIGNMENTS, name), REPO)
    plan = build.plan(assignment, REPO)
    status = assignment["status"]
    written = {f for f, s in status.items() if s != "given"}
    assert all(c["needs"] and set(c["needs"]) <= written for c in plan["cases"])
    calls = build.load_map(REPO)
    assert all(set(calls[n]) and not set(calls[n]) & written for n in plan["drop"])
    alone = {c["needs"][0] for c in plan["cases"] if len(c["needs"]) == 1}
    together = {f for c in plan["cases"] for f in c["needs"]}
    assert written <= together, f"no graded test needs {sorted(written - together)}"
    if name == "everything.toml":
        assert set(status.values()) == {"required"} and not plan["drop"]
    else:
        assert {"required", "optional", "given"} == set(status.values())
        # the functions whose every test also needs another one (the handout lists them "together")
        assert written - alone == {"optimization.train_step", "transfer.reuse_trunk", "transfer.set_trunk_trainable"}
        hours = sum(p["hours"] for p in assignment["parts"] if not p.get("extra_credit"))
        hours += sum(e["hours"] for e in assignment["experiments"]) + assignment["writing_hours"]
        assert hours <= 12, f"hw1 is estimated at {hours} h; a week's homework is at most 12"
        assert 4 <= len(assignment["experiments"]) <= 5 and assignment["questions"]


@pytest.mark.parametrize("text, words", [
    ('[[parts]]\nkey = "objectives"\nrequired = ["no_such_function"]\n', "not a graded function"),
    ('[[parts]]\nkey = "nowhere"\n', "a part is one graded module"),
    ('[[parts]]\nkey = "objectives"\nrequired = ["sum_objective"]\ngiven = ["sum_objective"]\n', "listed twice"),
    ('default = "maybe"\n', "default = 'maybe'"),
    ('title = \n', "Invalid"),
])
def test_bad_assignment_files_are_clear_errors(tmp_path, text, words):
    from mtl_tf.grading import build
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(AssignError, match=words):
        build.load_assignment(str(path), REPO)

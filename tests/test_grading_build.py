"""mtl-assign build: the student handout and the Gradescope bundle have the right contents and work."""

import os
import shutil
import stat
import subprocess
import sys
import zipfile

import pytest

from conftest import REPO
from mtl_tf.grading import assign, sandbox

SUM_TEST = "tests/test_objectives.py::test_sum_objective_adds_present_tasks_only"
HIDDEN_TEST = "tests/hidden/test_objectives_hidden.py::test_sum_objective_ignores_non_finite_absent_losses"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("build")
    assert assign.main(["build", str(out)]) == 0
    return out


def test_student_tree_has_the_handout_and_nothing_secret(built):
    student = built / "student"
    for path in ("README.md", "setup.py", "pytest.ini", "mtl_tf/train.py", "mtl_tf/grading/plugin.py",
                 "tests/conftest.py", "tests/test_objectives.py", "flags/default.flags", "homework/__init__.py"):
        assert (student / path).exists(), f"student/{path} is missing"
    for path in ("solutions", "tests/hidden", "tests/mutants", "tests/fixtures", "tests/test_assign.py",
                 "tests/test_grading_build.py"):
        assert not (student / path).exists(), f"student/{path} must not be handed out"
    generated = assign.generate(os.path.join(REPO, "solutions"))
    assert assign.differences(generated, str(student / "homework")) == []
    readme = (student / "README.md").read_text()
    for words in ("pip install", "pytest", "mtl-train", "homework/objectives.py", "Submit"):
        assert words in readme, f"the student README does not mention {words!r}"
    for hw in student.glob("homework/*.py"):
        assert "BEGIN SOLUTION" not in hw.read_text() and "END SOLUTION" not in hw.read_text()


def test_student_tree_imports_without_solutions_and_scores_zero(built):
    student = str(built / "student")
    code = ("import mtl_tf, homework, mtl_tf.train; from mtl_tf import impl; "
            "m = impl.module('objectives'); print(mtl_tf.__file__); print(m.__file__)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=student, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, MTL_IMPL="homework", TF_CPP_MIN_LOG_LEVEL="2"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert all(line.startswith(student) for line in proc.stdout.split()), proc.stdout
    results = sandbox.grade(None, root=student, timeout=60)
    assert results["tests"] and results["max_score"] > 0
    assert results["score"] == 0, [t["name"] for t in results["tests"] if t["score"]]
    assert not any(t["tags"][-1] == "hidden" for t in results["tests"])


def test_autograder_zip_has_the_gradescope_layout(built):
    with zipfile.ZipFile(built / "autograder.zip") as z:
        names = set(z.namelist())
        for name in ("setup.sh", "run_autograder"):
            assert name in names, f"{name} must be at the root of the zip"
            assert (z.getinfo(name).external_attr >> 16) & stat.S_IXUSR, f"{name} is not executable"
        setup = z.read("setup.sh").decode()
        requirements = z.read("requirements.txt").decode()
    for name in ("requirements.txt", "setup.py", "mtl_tf/grading/sandbox.py", "mtl_tf/grading/child.py",
                 "homework/objectives.py", "tests/conftest.py", "tests/test_objectives.py",
                 "tests/hidden/test_objectives_hidden.py"):
        assert name in names, f"autograder.zip lacks {name}"
    assert not any(n.startswith(("solutions/", "tests/mutants/", "tests/fixtures/")) for n in names)
    assert "venv" in setup and "update-alternatives" not in setup, "setup.sh must leave the system python3 alone"
    assert "tensorflow==" in requirements and "pytest==" in requirements, requirements


def test_run_autograder_grades_a_submission_into_results_json(built, tmp_path):
    root = tmp_path / "autograder"
    with zipfile.ZipFile(built / "autograder.zip") as z:
        z.extractall(root / "source")
    os.chmod(root / "source" / "run_autograder", 0o755)
    (root / "submission").mkdir()
    shutil.copy(os.path.join(REPO, "solutions", "objectives.py"), root / "submission" / "objectives.py")
    (root / "submission" / "conftest.py").write_text("raise SystemExit('ignored')\n")
    env = dict(os.environ, AUTOGRADER_ROOT=str(root), TF_CPP_MIN_LOG_LEVEL="2",
               MTL_GRADE_ARGS=f"-k {SUM_TEST} -k {HIDDEN_TEST}")
    proc = subprocess.run([str(root / "source" / "run_autograder")], env=env, capture_output=True, text=True,
                          timeout=300)
    results_path = root / "results" / "results.json"
    assert results_path.exists(), proc.stdout[-2000:] + proc.stderr[-2000:]
    import json
    results = json.loads(results_path.read_text())
    assert [t["status"] for t in results["tests"]] == ["passed", "passed"], results["output"]
    assert results["score"] == results["max_score"] == 3
    hidden = results["tests"][1]
    assert hidden["visibility"] == "after_published" and "hidden" in hidden["tags"]
    assert "part" in proc.stdout and "score 3/3" in proc.stdout


def test_student_tree_builds_a_package_without_solutions(built, tmp_path):
    student = tmp_path / "student"
    shutil.copytree(built / "student", student)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                           str(tmp_path / "wheel"), str(student)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (wheel,) = (tmp_path / "wheel").glob("*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
    assert "homework/objectives.py" in names and "mtl_tf/grading/grade.py" in names
    assert not any(n.startswith("solutions/") for n in names)
    assert any(n.endswith("entry_points.txt") for n in names)


def test_every_graded_module_reaches_both_trees_with_its_tests(built):
    """Each module of mtl_tf.impl.MODULES that solutions/ has is handed out (starter + public tests) and
    graded by the bundle (starter + public + hidden tests), whoever added it: nothing lists them by hand."""
    from mtl_tf import impl

    modules = [m for m in impl.MODULES if os.path.exists(os.path.join(REPO, "solutions", f"{m}.py"))]
    assert {"objectives", "gradients"} <= set(modules), modules
    with zipfile.ZipFile(built / "autograder.zip") as z:
        names = set(z.namelist())
    for m in modules:
        assert f"homework/{m}.py" in names, f"autograder.zip lacks homework/{m}.py"
        assert (built / "student" / "homework" / f"{m}.py").exists(), f"student/homework/{m}.py is missing"
        for rel in (f"tests/test_{m}.py", f"tests/hidden/test_{m}_hidden.py"):
            if os.path.exists(os.path.join(REPO, rel)):
                assert rel in names, f"autograder.zip lacks {rel}"
                assert (built / "student" / rel).exists() == ("hidden" not in rel), \
                    f"student/{rel}: hidden tests must not be handed out, public ones must"


def test_a_new_graded_module_is_built_and_graded_without_being_listed(tmp_path):
    """A module added to solutions/ with a graded test and a hidden test: the bundle and the grader take
    both, from the files alone."""
    root = tmp_path / "root"
    (root / "solutions").mkdir(parents=True)
    (root / "tests" / "hidden").mkdir(parents=True)
    os.symlink(os.path.join(REPO, "mtl_tf"), root / "mtl_tf")
    (root / "solutions" / "__init__.py").write_text("")
    (root / "solutions" / "extra.py").write_text(
        "def double(x):\n    \"\"\"2 x.\"\"\"\n    # BEGIN SOLUTION\n    return 2 * x\n    # END SOLUTION\n")
    (root / "tests" / "conftest.py").write_text("")
    test = ("import pytest\n\n\n@pytest.mark.points({points})\ndef test_{name}():\n    from homework import extra\n"
            "    got = extra.double({x})\n    assert got == {y}, f'double({x}): expected {y}, got {{got}}'\n")
    (root / "tests" / "test_extra.py").write_text(test.format(points=2, name="double", x=3, y=6))
    (root / "tests" / "hidden" / "test_extra_hidden.py").write_text(test.format(points=1, name="double_hidden",
                                                                                  x=-4, y=-8))
    out = tmp_path / "out"
    assert assign.main(["build", str(out), f"--root={root}"]) == 0
    with zipfile.ZipFile(out / "autograder.zip") as z:
        names = set(z.namelist())
    assert {"homework/extra.py", "tests/test_extra.py", "tests/hidden/test_extra_hidden.py"} <= names, names
    assert (out / "student" / "homework" / "extra.py").exists()
    assert not (out / "student" / "tests" / "hidden").exists()
    submission = tmp_path / "submission"
    submission.mkdir()
    (submission / "extra.py").write_text("def double(x):\n    return x + x\n")
    results = sandbox.grade(str(submission), root=str(root), timeout=60)
    assert [(t["name"].split(":")[0], t["score"]) for t in results["tests"]] == [
        ("test_double", 2.0), ("test_double_hidden", 1.0)], results
    starter = sandbox.grade(None, root=str(root), timeout=60)
    assert starter["score"] == 0 and "not implemented yet" in starter["tests"][0]["output"], starter

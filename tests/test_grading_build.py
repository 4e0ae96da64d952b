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

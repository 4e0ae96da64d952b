"""The student kit works as handed out: build assignments/hw1.toml, then run the student README's
commands with only the handout on the path (a throwaway venv that sees this interpreter's
packages but not the instructor checkout: no ``solutions``, no editable ``mtl_tf``).

Kept cheap: one build and one venv for the module; the graded runs are restricted to one part
(``-k test_objectives`` still collects every shipped test module)."""

import json
import os
import re
import shutil
import site
import subprocess
import sys
import zipfile

import pytest

from conftest import REPO
from mtl_tf.grading import build as kit
from mtl_tf.grading import generation, grade

HW1 = os.path.join(REPO, "assignments", "hw1.toml")
IMPLEMENTED = "objectives.sum_objective"     # the one function the "student" writes
PART_FILE = "tests/test_objectives.py"


@pytest.fixture(scope="module")
def kit_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("hw1")
    paths = kit.build(str(out), REPO, assignment_path=HW1)
    venv = out / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    purelib = subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    # this interpreter's packages (TensorFlow, pytest), without processing their .pth files: the
    # instructor checkout that easy-install.pth / an editable install would add stays off the path
    with open(os.path.join(purelib, "instructor_packages.pth"), "w") as f:
        f.write("\n".join(p for p in site.getsitepackages() if os.path.isdir(p)) + "\n")
    assignment = kit.load_assignment(HW1, REPO)
    kit_dir = {"out": out, "student": paths["student"], "python": str(venv / "bin" / "python"),
               "plan": kit.plan(assignment, REPO), "assignment": assignment}
    # Every command starts now and its test reads the result: the runs overlap (each pays TensorFlow's
    # import), so the module costs about one run's wall time, not four.
    kit_dir["train"] = script(kit_dir, "mtl-train", "--impl=homework", "--steps=1", f"--run_dir={out / 'run'}",
                              wait=False)
    kit_dir["untouched"] = pytest_run(kit_dir, "-m", "points", "-k", "test_objectives", wait=False)
    one = str(out / "student_one_function")
    shutil.copytree(kit_dir["student"], one)
    module, fn = IMPLEMENTED.split(".")
    given = {f.split(".", 1)[1] for f, s in assignment["status"].items() if s == "given" and f.startswith(module + ".")}
    with open(os.path.join(REPO, "solutions", f"{module}.py")) as f:
        text = generation.strip_solutions(f.read(), f"solutions/{module}.py", keep=given | {fn})
    with open(os.path.join(one, "homework", f"{module}.py"), "w") as f:
        f.write(text)
    keys = sorted({c["key"] for c in kit_dir["plan"]["cases"] if c["key"].startswith(PART_FILE + "::")})
    kit_dir["one"] = one
    kit_dir["one_grade"] = script(kit_dir, "mtl-grade", "--no-hidden", f"--results={out / 'results.json'}",
                                  *[a for k in keys for a in ("-k", k)], cwd=one, wait=False)
    kit_dir["one_pytest"] = pytest_run(kit_dir, "-m", "points", PART_FILE, cwd=one, wait=False)
    yield kit_dir
    for name in ("train", "untouched", "one_grade", "one_pytest"):
        if kit_dir[name].poll() is None:
            kit_dir[name].kill()
        kit_dir[name].communicate()


def student_env():
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MTL_IMPL", "TF_CPP_MIN_LOG_LEVEL")}
    return dict(env, PYTHONNOUSERSITE="1")


def script(kit_dir, name, *args, cwd=None, wait=True):
    """Console script ``name`` as the handout's setup.py declares it, run in the student folder."""
    cwd = cwd or kit_dir["student"]
    with open(os.path.join(cwd, "setup.py")) as f:
        module, fn = dict((n, (m, f_)) for n, m, f_ in re.findall(r'"(mtl-[a-z]+)=([\w.]+):(\w+)"', f.read()))[name]
    code = f"import sys; sys.argv[0] = {name!r}; from {module} import {fn}; sys.exit({fn}())"
    return start([kit_dir["python"], "-c", code, *args], cwd, wait)


def start(command, cwd, wait=True):
    proc = subprocess.Popen(command, cwd=cwd, env=student_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    return finish(proc) if wait else proc


def finish(proc, timeout=300):
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def pytest_run(kit_dir, *args, cwd=None, wait=True):
    return start([kit_dir["python"], "-m", "pytest", "-q", "-p", "no:randomly", *args], cwd or kit_dir["student"], wait)


def expected_points(plan, file, only=None):
    """(points earned when exactly ``only`` is implemented, maximum) of ``file``'s public graded cases."""
    cases = [c for c in plan["cases"] if c["key"].startswith(file + "::")]
    return (round(sum(c["points"] for c in cases if only and c["needs"] == [only]), 2),
            round(sum(c["points"] for c in cases), 2))


def score_line(text):
    m = re.search(r"score ([\d.]+)/([\d.]+)", text)
    assert m, text[-3000:]
    return float(m.group(1)), float(m.group(2))


def test_handout_has_the_parts_and_no_reference_code(kit_dir):
    """The handout (Markdown): goals with slides, parts, points, experiments with one command each,
    questions, the answer template; the estimate is within a week's 12 hours; the answer key stays
    with the instructor; the word 'solutions' appears in nothing a student reads."""
    student = kit_dir["student"]
    handout = open(os.path.join(student, "HANDOUT.md")).read()
    for words in ("## Goals", "slides 9-14", "## Suggested order and time", "## Points", "## Part 1",
                  "## Required experiments", "mtl-report --claims=3", "flags/claims/claim03_negative_transfer.flags",
                  "## Written questions", "ANSWERS.md", "extra credit"):
        assert words in handout, f"HANDOUT.md lacks {words!r}"
    hours = float(re.search(r"about ([\d.]+) hours in all", handout).group(1))
    assert 8 <= hours <= 12, hours
    assert handout.count("```bash\nmtl-report") == len(kit_dir["assignment"]["experiments"]) >= 4
    answers = open(os.path.join(student, "ANSWERS.md")).read()
    assert answers.count("*(your answer)*") == len(kit_dir["assignment"]["experiments"]) + len(kit_dir["assignment"]["questions"])
    key = open(os.path.join(kit_dir["out"], "instructor", "ANSWER_KEY.md")).read()
    secrets = [q["answer"] for q in kit_dir["assignment"]["questions"]] + [
        e["expect"] for e in kit_dir["assignment"]["experiments"] if e.get("expect")]
    assert "**Rubric.**" in key and "**Answer.**" in key and all(secret in key for secret in secrets)
    offenders = []
    for dirpath, dirnames, filenames in os.walk(student):
        rel_dir = os.path.relpath(dirpath, student)
        for name in filenames:
            rel = os.path.normpath(os.path.join(rel_dir, name))
            with open(os.path.join(dirpath, name), errors="replace") as f:
                text = f.read()
            assert not any(secret in text for secret in secrets), f"{rel} leaks the answer key"
            # framework source (mtl_tf/, setup.py) names its own impl choices; what a student reads does not
            if not rel.startswith("mtl_tf" + os.sep) and rel != "setup.py" and re.search(r"solutions", text, re.I):
                offenders.append(rel)
    assert not offenders, f"'solutions' appears in the handout: {offenders}"
    with zipfile.ZipFile(os.path.join(kit_dir["out"], "autograder.zip")) as z:
        assert not any("ANSWER_KEY" in n or n.endswith(".toml") for n in z.namelist())
        conftest = z.read("tests/conftest.py").decode()
    # the autograder does not grade the hidden tests of functions shipped solved
    assert "tests/hidden/test_ranking_hidden.py::test_drop_positions" in conftest


def test_untouched_homework_scores_zero_and_every_shipped_test_collects(kit_dir):
    """`pytest -m points` on the untouched homework (every shipped module collected, the tests of one
    part run: -k) scores 0 of the handout's public maximum (required + extra credit), on the homework
    package."""
    proc = finish(kit_dir["untouched"])
    out = proc.stdout + proc.stderr
    assert "ERROR collecting" not in out and "(homework)" in out, out[-3000:]
    maximum = round(sum(c["points"] for c in kit_dir["plan"]["cases"] if not c["hidden"]), 2)
    assert score_line(out) == (0, maximum)
    handout = open(os.path.join(kit_dir["student"], "HANDOUT.md")).read()
    public = re.search(r"\| \*\*total\*\* \|  \| required \| ([\d.]+) \|", handout).group(1)
    extra = re.search(r"\| \*\*extra credit\*\* \|  \| optional \| ([\d.]+) \|", handout).group(1)
    assert round(float(public) + float(extra), 2) == maximum


def test_one_implemented_function_earns_exactly_its_points(kit_dir):
    """One reference function copied into (a copy of) the handout's homework: `pytest -m points` and
    `mtl-grade` both give exactly the points the handout's table gives it (the part's other functions: 0)."""
    fn = IMPLEMENTED.split(".")[1]
    earned, maximum = expected_points(kit_dir["plan"], PART_FILE, IMPLEMENTED)
    handout = open(os.path.join(kit_dir["student"], "HANDOUT.md")).read()
    listed = re.search(rf"\| `{fn}` \| required \| ([\d.]+) \|", handout)
    assert listed and 0 < earned < maximum, "the part's table lists the function's points"
    proc = finish(kit_dir["one_pytest"])
    assert score_line(proc.stdout) == (earned, maximum), proc.stdout[-3000:]
    proc = finish(kit_dir["one_grade"])
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    data = json.load(open(kit_dir["out"] / "results.json"))
    assert (data["score"], data["max_score"]) == (earned, maximum), data["output"]
    # the table's row for the function counts its hidden points too: the public share is what ran here
    public = sum(c["points"] for c in kit_dir["plan"]["cases"] if c["needs"] == [IMPLEMENTED] and not c["hidden"])
    assert round(public, 2) == earned


def test_mtl_train_on_an_unfinished_part_says_which_function_in_one_line(kit_dir):
    """`mtl-train --impl=homework` (the README's first experiment) on the untouched homework: exit 1
    and one line naming the function to write, no traceback, no hint at a reference package."""
    proc = finish(kit_dir["train"])
    assert proc.returncode == 1, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr[-3000:]
    assert re.match(r"mtl-train: error: \w+ in homework/\w+\.py is not implemented yet", lines[0]), lines
    assert "solutions" not in proc.stdout + proc.stderr


def test_mtl_grade_that_graded_nothing_exits_1_with_the_reason(monkeypatch, tmp_path, capsys):
    """A grading in which no test ran (the runner gave no reason, or one) is an error, never a 0/0."""
    for output in ("", "The tests could not start: "):
        monkeypatch.setattr(grade.sandbox, "grade", lambda *a, **k: {
            "score": 0.0, "max_score": 0.0, "execution_time": 0.1, "stdout_visibility": "visible", "tests": [],
            "output": output})
        path = tmp_path / "results.json"
        assert grade.main([f"--results={path}", "--root", REPO]) == 1
        err = capsys.readouterr().err
        assert "mtl-grade: error: No graded test ran" in err, err
        assert json.loads(path.read_text())["extra_data"]["grading_error"].startswith("No graded test ran")

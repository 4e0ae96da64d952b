"""``mtl-assign build OUT/``: the student handout and the Gradescope autograder bundle.

  OUT/student/         framework, generated homework/, the public graded tests, flags, setup.py,
                       README.md, HANDOUT.md (problem statements, points, experiments, questions)
                       and ANSWERS.md (the template of the write-up)
                       (no reference code, no hidden tests, no mutants, no instructor-only tests)
  OUT/autograder.zip   setup.sh and run_autograder at the root, requirements.txt (pinned from this
                       environment), the framework, the generated homework/ (the template the
                       grader copies submitted files over), graded tests including tests/hidden/
  OUT/instructor/      ANSWER_KEY.md (answers and rubric of the written part, the point table with
                       the test names, hidden ones included) and the assignment file: never handed out

``--assignment=FILE`` (default: assignments/everything.toml when it exists) says which graded
functions the students write (required), may write (optional: extra credit) or get solved
(given); see assignments/hw1.toml. The tests of given functions are left out of both trees.
"""

import ast
import importlib.metadata
import os
import re
import shutil
import stat
import zipfile
from typing import Dict, List

from mtl_tf.grading import generation as assign  # generate, write, AssignError (not mtl-assign's main)
from mtl_tf.grading import report, workspace

TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")
PINNED = ("tensorflow", "keras", "numpy", "absl-py", "tensorflow-datasets", "tensorboard", "pytest",
          "pytest-timeout")
# Test files an instructor keeps: they need the reference code or grade the grader itself.
INSTRUCTOR_TESTS = ("test_assign.py", "test_grading_", "test_student_kit.py")
SKIP = ("__pycache__", ".pyc", ".egg-info", ".pytest_cache")
STATUSES = ("required", "optional", "given")
# Framework lines a student cannot act on (they have no reference package): rewritten in the
# student tree only, where present.
STUDENT_REWRITES = {"mtl_tf/cli.py": ((" (fill in the TODO in homework/, or use --impl=solutions)",
                                       " (fill in the TODO in homework/)"),)}
HAND_IMPORT = re.compile(r"^\s*(from\s+solutions\b|import\s+solutions\b)", re.M)


def requirements() -> str:
    """requirements.txt pinning the versions installed here (what the tests passed with)."""
    lines = []
    for name in PINNED:
        try:
            lines.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            lines.append(name)
    return "\n".join(lines) + "\n"


def _skip(name: str) -> bool:
    return any(s in name for s in SKIP)


def _framework_files(root: str) -> Dict[str, str]:
    """{relative path: absolute path} of mtl_tf/, flags/, setup.py and pytest.ini."""
    files = {}
    for top in ("mtl_tf", "flags"):
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, top)):
            dirnames[:] = [d for d in dirnames if not _skip(d)]
            for name in filenames:
                if not _skip(name):
                    path = os.path.join(dirpath, name)
                    files[os.path.relpath(path, root)] = path
    for name in ("setup.py", "pytest.ini"):
        if os.path.exists(os.path.join(root, name)):
            files[name] = os.path.join(root, name)
    return files


def _test_files(root: str, instructor: bool) -> Dict[str, str]:
    """Test files for the autograder (what grading runs, hidden included) or the student tree (the
    public graded modules and their helpers: framework tests need the instructor's checkout, e.g.
    benchmarks/ or the repository README, and are not handed out)."""
    tests = os.path.join(root, "tests")
    return {f"tests/{rel}": os.path.join(tests, rel) for rel in workspace.grader_test_files(tests, instructor)
            if not os.path.basename(rel).startswith(INSTRUCTOR_TESTS)}


# ---------------------------------------------------------------- assignments

def default_assignment(root: str):
    path = os.path.join(root, "assignments", "everything.toml")
    return path if os.path.exists(path) else None


def load_assignment(path, root: str) -> dict:
    """The assignment file as a dict, checked against solutions/: ``status`` maps every graded
    function ("module.function") to required, optional or given. ``path`` None: everything required."""
    functions = assign.graded_functions(os.path.join(root, "solutions"))
    if path is None:
        data = {"title": "Multi-task learning assignment", "default": "required", "parts": []}
    else:
        import tomllib
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise assign.AssignError(f"{path}: {e}")
    where = path or "<default assignment>"
    default = data.get("default", "given")
    if default not in STATUSES:
        raise assign.AssignError(f"{where}: default = {default!r}; use one of {STATUSES}")
    status, owner = {}, {}
    modules = sorted({f.split(".")[0] for f in functions})
    for i, part in enumerate(data.get("parts", [])):
        key = part.get("key")
        if key not in modules:
            raise assign.AssignError(f"{where}: part {i + 1} has key = {key!r}; a part is one graded module of "
                                     f"solutions/: {modules}")
        for s in STATUSES:
            for name in part.get(s, []):
                full = name if "." in name else f"{key}.{name}"
                if full not in functions:
                    raise assign.AssignError(f"{where}: part {key!r}: {name!r} is not a graded function (no "
                                             f"'# BEGIN SOLUTION' region in solutions/{full.split('.')[0]}.py)")
                if full in status:
                    raise assign.AssignError(f"{where}: {full} is listed twice")
                status[full] = s
                owner[full] = key
    for full in functions:
        status.setdefault(full, default)
    data = dict(data, status=status, path=path, functions=sorted(functions))
    return data


def graded_tests(root: str, include_hidden: bool = True) -> Dict[str, float]:
    """{test key ("tests/test_x.py::test_y"): points} of every graded test, read from the sources
    (``@pytest.mark.points(n)`` or ``@graded(points=n, ...)``)."""
    tests = os.path.join(root, "tests")
    found = {}
    for rel in workspace.grader_test_files(tests, include_hidden):
        if not os.path.basename(rel).startswith("test_") or os.path.basename(rel).startswith(INSTRUCTOR_TESTS):
            continue
        with open(os.path.join(tests, rel)) as f:
            tree = ast.parse(f.read())
        for node in tree.body:
            if not isinstance(node, ast.FunctionDef) or not node.name.startswith("test_"):
                continue
            for dec in node.decorator_list:
                if not isinstance(dec, ast.Call):
                    continue
                name = ast.unparse(dec.func)
                value = None
                if name.endswith("mark.points") and dec.args:
                    value = dec.args[0]
                elif name in ("graded", "checked.graded"):
                    value = next((k.value for k in dec.keywords if k.arg == "points"), dec.args[0] if dec.args else None)
                if value is not None:
                    found[f"tests/{rel.replace(os.sep, '/')}::{node.name}"] = float(ast.literal_eval(value))
    return found


def load_map(root: str) -> Dict[str, List[str]]:
    path = os.path.join(root, "assignments", "graded_tests.json")
    if not os.path.exists(path):
        return {}
    import json
    with open(path) as f:
        return json.load(f)["tests"]


def plan(assignment: dict, root: str) -> dict:
    """Which graded test cases the assignment keeps, and the point table.

    A case is kept if it calls (per assignments/graded_tests.json) a function the student writes;
    its ``needs`` are those functions. Returns ``{"cases": [{nodeid, key, points, hidden, needs,
    extra}], "drop": [node ids], "rows": [...]}``; a case's points are its test's points shared
    among the test's kept cases, as the grader shares them."""
    status = assignment["status"]
    written = {f for f, s in status.items() if s != "given"}
    optional = {f for f, s in status.items() if s == "optional"}
    tests = graded_tests(root)
    calls = load_map(root)
    if not calls and written != set(status):
        raise assign.AssignError("assignments/graded_tests.json is missing: run `mtl-assign map` (it records which "
                                 "graded functions each graded test calls)")
    by_key: Dict[str, List[str]] = {}
    for nodeid in calls:
        by_key.setdefault(report.test_key(nodeid), []).append(nodeid)
    missing = sorted(k for k in tests if k not in by_key)
    if missing and written != set(status):
        raise assign.AssignError("assignments/graded_tests.json does not know these graded tests (run `mtl-assign "
                                 "map`): " + ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else ""))
    cases, drop = [], []
    for key, points in tests.items():
        kept = []
        for nodeid in by_key.get(key, [key]):
            deps = set(calls.get(nodeid, status))  # unknown (everything required): needs all it may call
            needs = deps & written
            if deps and not needs:
                drop.append(nodeid)
            else:
                kept.append((nodeid, sorted(needs)))
        for nodeid, needs in kept:
            cases.append({"nodeid": nodeid, "key": key, "points": points / len(kept), "hidden": "/hidden/" in key,
                          "needs": needs, "extra": bool(set(needs) & optional)})
    rows: Dict[tuple, dict] = {}
    for c in cases:
        row = rows.setdefault(tuple(c["needs"]), {"needs": c["needs"], "public": 0.0, "hidden": 0.0,
                                                  "extra": c["extra"], "tests": set()})
        row["hidden" if c["hidden"] else "public"] += c["points"]
        row["tests"].add(c["key"])
    return {"cases": cases, "drop": sorted(drop), "rows": sorted(rows.values(), key=lambda r: r["needs"])}


def _points(x: float) -> str:
    return f"{round(x, 2):g}"


def totals(p: dict) -> dict:
    t = {"public": 0.0, "hidden": 0.0, "extra_public": 0.0, "extra_hidden": 0.0}
    for r in p["rows"]:
        prefix = "extra_" if r["extra"] else ""
        t[prefix + "public"] += r["public"]
        t[prefix + "hidden"] += r["hidden"]
    return t


def point_table(assignment: dict, p: dict, instructor: bool = False) -> str:
    """The Markdown point table: one row per function (or group of functions a test needs together)."""
    lines = ["| part | function(s) | status | public tests | hidden tests | points |",
             "|---|---|---|---|---|---|"]
    for r in sorted(p["rows"], key=lambda r: (r["extra"], _part_order(assignment, r["needs"]), r["needs"])):
        names = " + ".join(f"`{n.split('.', 1)[1]}`" for n in r["needs"]) or "(framework)"
        part = r["needs"][0].split(".")[0] if r["needs"] else ""
        state = "extra credit" if r["extra"] else "required"
        total = r["public"] + r["hidden"]
        lines.append(f"| {part} | {names}{' (together)' if len(r['needs']) > 1 else ''} | {state} | "
                     f"{_points(r['public'])} | {_points(r['hidden'])} | {_points(total)} |")
        if instructor:
            lines.append(f"|  | tests: {', '.join(sorted(t.split('::')[1] for t in r['tests']))} |  |  |  |  |")
    t = totals(p)
    lines.append(f"| **total** |  | required | {_points(t['public'])} | {_points(t['hidden'])} | "
                 f"**{_points(t['public'] + t['hidden'])}** |")
    if t["extra_public"] + t["extra_hidden"]:
        lines.append(f"| **extra credit** |  | optional | {_points(t['extra_public'])} | {_points(t['extra_hidden'])} | "
                     f"**{_points(t['extra_public'] + t['extra_hidden'])}** |")
    return "\n".join(lines)


def _part_order(assignment: dict, needs: List[str]) -> int:
    keys = [part["key"] for part in assignment.get("parts", [])]
    first = needs[0].split(".")[0] if needs else ""
    return keys.index(first) if first in keys else len(keys)


def deselect_block(drop: List[str], assignment: dict) -> str:
    """Lines appended to the shipped tests/conftest.py: the graded cases of given functions are not
    collected (whole tests and single parameter cases alike)."""
    if not drop:
        return ""
    return ("\n\n# ---- added by mtl-assign build for " + os.path.basename(assignment.get("path") or "the assignment")
            + ": graded tests of functions the assignment\n# ships solved are not collected (they would give their "
            "points for nothing).\n"
            f"ASSIGNMENT_NOT_GRADED = {sorted(drop)!r}\n\n\n"
            "@pytest.hookimpl(tryfirst=True)\n"
            "def pytest_collection_modifyitems(session, config, items):\n"
            "    skip = set(ASSIGNMENT_NOT_GRADED)\n"
            "    removed = [item for item in items if item.nodeid in skip]\n"
            "    if removed:\n"
            "        items[:] = [item for item in items if item.nodeid not in skip]\n"
            "        config.hook.pytest_deselected(items=removed)\n")


def _drop_functions(source: str, keep_function) -> str:
    """``source`` without its top-level test functions for which ``keep_function(node, text)`` is False."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    cut = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            start = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
            if not keep_function(node, "".join(lines[start:node.end_lineno])):
                cut.append((start, node.end_lineno))
    for start, end in reversed(cut):
        del lines[start:end]
    return "".join(lines)


def _student_test(source: str) -> str:
    """A public test module as the student tree ships it: no test importing the reference package."""
    if not HAND_IMPORT.search(source):
        return source
    return _drop_functions(source, lambda node, text: not HAND_IMPORT.search(text))


# ---------------------------------------------------------------- the handout

def _fill(name: str, values: Dict[str, str]) -> str:
    with open(os.path.join(TEMPLATES, name)) as f:
        text = f.read()
    for k, v in values.items():
        text = text.replace(f"__{k}__", v)
    return text


def _claims():
    try:
        from mtl_tf.report import claims
        return {c.number: c for c in claims.CLAIMS}
    except Exception:   # the report's registry could not load: experiments are listed without it
        return {}


def experiment_command(e: dict) -> str:
    return f"mtl-report --claims={e['claim']} --report_dir=experiments/{e['key']}"


def _hours(x) -> str:
    return f"{x:g} h"


def handout(assignment: dict, p: dict, homework: List[str]) -> Dict[str, str]:
    """{file name: Markdown} of the student tree: README.md, HANDOUT.md, ANSWERS.md."""
    status = assignment["status"]
    parts = assignment.get("parts", [])
    experiments = assignment.get("experiments", [])
    questions = assignment.get("questions", [])
    claims = _claims()
    t = totals(p)
    maximum = t["public"] + t["hidden"]
    coding = sum(float(part.get("hours", 0)) for part in parts if not part.get("extra_credit"))
    bonus = sum(float(part.get("hours", 0)) for part in parts if part.get("extra_credit"))
    running = sum(float(e.get("hours", 0)) for e in experiments)
    writing = float(assignment.get("writing_hours", 0.25 * len(questions)))
    out = []
    title = assignment.get("title", "Multi-task learning assignment")
    out.append(f"# {title}\n")
    pieces = [f"{coding:g} h of code"] + ([f"{running:g} h of experiments"] if experiments else []) + (
        [f"{writing:g} h of written answers"] if questions else [])
    points = [f"{_points(maximum)} for the code (autograded; {_points(t['public'])} of them from the tests you have)"]
    if t["extra_public"] + t["extra_hidden"]:
        points.append(f"{_points(t['extra_public'] + t['extra_hidden'])} extra credit")
    if questions:
        points.append(f"{sum(q.get('points', 0) for q in questions):g} for the written part")
    out.append(f"Time: about {coding + running + writing:g} hours in all ({', '.join(pieces)}; the estimates per part "
               f"are below{f'; the extra credit is {bonus:g} h more' if bonus else ''}). Points: {' + '.join(points)}.\n")
    out.append("Install, test and submit: see `README.md`. The lecture is *"
               + assignment.get("lecture", "Multi-Task Learning & Transfer Learning Basics") + "*; slide numbers below refer to it.\n")
    if assignment.get("goals"):
        out.append("## Goals\n\n| after this homework you can | lecture |\n|---|---|")
        out.extend(f"| {g[0]} | {g[1] if len(g) > 1 else ''} |" for g in assignment["goals"])
        out.append("")
    if parts:
        out.append("## Suggested order and time\n\n| # | part | file | slides | estimate |\n|---|---|---|---|---|")
        for i, part in enumerate(parts, 1):
            out.append(f"| {i} | {part.get('title', part['key'])} | `homework/{part['key']}.py` | "
                       f"{part.get('slides', '')} | {_hours(float(part.get('hours', 0)))}"
                       f"{' (extra credit)' if part.get('extra_credit') else ''} |")
        if experiments:
            out.append(f"| {len(parts) + 1} | required experiments | `experiments/` | | {_hours(running)} |")
        if questions:
            out.append(f"| {len(parts) + 2} | written questions | `ANSWERS.md` | | {_hours(writing)} |")
        out.append("")
    out.append("## Points\n\nEach row is a function (or functions a test needs together: those tests pass only "
               "when all of them work). Public tests are the ones in `tests/`; the autograder also runs hidden "
               "tests of the same functions.\n")
    out.append(point_table(assignment, p))
    out.append("")
    given = sorted(f for f, s in status.items() if s == "given")
    if given:
        out.append("Given (already solved in `homework/`, no points; read them, later parts use them): "
                   + ", ".join(f"`{g}`" for g in given) + ".\n")
    for i, part in enumerate(parts, 1):
        out.append(f"## Part {i}: {part.get('title', part['key'])} (`homework/{part['key']}.py`, "
                   f"{_hours(float(part.get('hours', 0)))}, slides {part.get('slides', '')})\n")
        out.append(part.get("statement", "").strip() + "\n")
        mine = {f for f in assignment["functions"] if f.split(".")[0] == part["key"] and status[f] != "given"}
        rows = [r for r in p["rows"] if set(r["needs"]) & mine]
        if rows:
            out.append("| function(s) | status | points (public + hidden) |\n|---|---|---|")
            for r in sorted(rows, key=lambda r: (len(r["needs"]), r["needs"])):
                names = " + ".join(f"`{n.split('.', 1)[1]}`" for n in r["needs"])
                out.append(f"| {names}{' (together)' if len(r['needs']) > 1 else ''} | "
                           f"{'extra credit' if r['extra'] else 'required'} | {_points(r['public'] + r['hidden'])} |")
            out.append(f"\nCheck it: `pytest -m points tests/test_{part['key']}.py`\n")
    if experiments:
        out.append("## Required experiments\n\nEach experiment is one command: it trains every setting over the "
                   "seeds the lecture's claim needs with your code (finish the required parts first: a TODO stops a "
                   "run with one line naming it), tables the results, gives a verdict by the "
                   "rule the report states, and draws the plot where there is one, into "
                   "`experiments/<name>/claims.md`. Runs that finished are reused, so an interrupted command "
                   "resumes when you run it again; `--quick` checks the pipeline in a minute (not for your "
                   "answers). Put the table and the plot in `ANSWERS.md`.\n")
        for i, e in enumerate(experiments, 1):
            c = claims.get(e["claim"])
            out.append(f"### Experiment {i}: {e['title']} ({_hours(float(e.get('hours', 0)))})\n")
            if c is not None:
                out.append(f"Claim (slide {c.slide}): {c.statement}\n")
                out.append(f"Flag file: `flags/{c.flagfile}`; {len(c.settings)} settings x {len(c.seeds)} seeds.\n")
            out.append(f"```bash\n{experiment_command(e)}\n```\n")
            if e.get("plot"):
                out.append(f"Plot: `experiments/{e['key']}/{e['plot']}`.\n")
            out.append(f"In `ANSWERS.md`: {e.get('ask', 'the table, the plot and what they show')}\n")
    if questions:
        out.append("## Written questions\n\nAnswer in `ANSWERS.md` (a few sentences each; math in Markdown is fine).\n")
        for i, q in enumerate(questions, 1):
            out.append(f"{i}. ({q.get('points', 0):g} points) {q['text']}")
        out.append("")
    out.append("## Submit\n\nUpload the homework files and `ANSWERS.md` (with its plots) to Gradescope; see `README.md`.\n")

    answers = [f"# {title}: answers\n", "Name:\n", "Replace each answer placeholder; keep the headings. Plots: "
               "link the PNG files `mtl-report` wrote, e.g. `![](experiments/negative_transfer/claim03_negative_transfer.png)`.\n"]
    for i, e in enumerate(experiments, 1):
        answers.append(f"## Experiment {i}: {e['title']}\n\nCommand: `{experiment_command(e)}`\n")
        answers.append("Table (paste from `experiments/" + e["key"] + "/claims.md`):\n\n*(your table)*\n")
        if e.get("plot"):
            answers.append(f"![{e['title']}](experiments/{e['key']}/{e['plot']})\n")
        answers.append(f"{e.get('ask', 'What does it show?')}\n\n*(your answer)*\n")
    for i, q in enumerate(questions, 1):
        answers.append(f"## Question {i} ({q.get('points', 0):g} points)\n\n{q['text']}\n\n*(your answer)*\n")
    readme = _fill("README_student.md", {
        "TITLE": title,
        "HOMEWORK_FILES": "\n".join(f"- `homework/{n}`" for n in homework),
        "MAX": _points(maximum), "PUBLIC": _points(t["public"]),
    })
    return {"README.md": readme, "HANDOUT.md": "\n".join(out), "ANSWERS.md": "\n".join(answers)}


def answer_key(assignment: dict, p: dict) -> str:
    questions = assignment.get("questions", [])
    out = [f"# {assignment.get('title', 'Assignment')}: answer key and rubric (instructors only)\n",
           "Do not hand this out. The code is autograded (`autograder.zip`); the written part is graded by hand "
           "with the rubric below.\n",
           "On Gradescope set the assignment's total to the required points; the autograder's `max_score` "
           "also counts the extra-credit tests.\n", "## Point table with test names\n", point_table(assignment, p, True), ""]
    for i, q in enumerate(questions, 1):
        out.append(f"## Question {i} ({q.get('points', 0):g} points)\n\n{q['text']}\n\n**Answer.** "
                   f"{q.get('answer', '(none written)')}\n\n**Rubric.** {q.get('rubric', '(none written)')}\n")
    for i, e in enumerate(assignment.get("experiments", []), 1):
        if e.get("expect"):
            out.append(f"## Experiment {i}: {e['title']}\n\n{e['expect']}\n")
    return "\n".join(out)


# ---------------------------------------------------------------- the build

def build(out: str, root: str, grade_options: str = "", assignment_path=None) -> Dict[str, str]:
    """Write ``out/student/``, ``out/autograder.zip`` and ``out/instructor/``; return their paths."""
    assignment = load_assignment(assignment_path, root)
    given = {f for f, s in assignment["status"].items() if s == "given"}
    p = plan(assignment, root)
    generated = assign.generate(os.path.join(root, "solutions"), given=given)
    homework = sorted(n for n in generated if n != "__init__.py")
    hidden_visibility = assignment.get("hidden_visibility")
    if hidden_visibility and "--hidden-visibility" not in grade_options:
        if hidden_visibility not in report.VISIBILITIES:
            raise assign.AssignError(f"hidden_visibility = {hidden_visibility!r}; use one of {report.VISIBILITIES}")
        grade_options = (grade_options + f" --hidden-visibility={hidden_visibility}").strip()
    public_drop = [n for n in p["drop"] if "/hidden/" not in n]

    student = os.path.join(out, "student")
    if os.path.exists(student):
        shutil.rmtree(student)
    copies = dict(_framework_files(root), **_test_files(root, instructor=False))
    for rel, src in copies.items():
        dst = os.path.join(student, rel)
        os.makedirs(os.path.dirname(dst) or student, exist_ok=True)
        if rel.startswith("tests/") or rel in STUDENT_REWRITES:
            with open(src) as f:
                text = f.read()
            if rel.startswith("tests/") and rel.endswith(".py"):
                text = _student_test(text)
            if rel == "tests/conftest.py":
                text += deselect_block(public_drop, assignment)
            for old, new in STUDENT_REWRITES.get(rel, ()):
                text = text.replace(old, new)
            with open(dst, "w") as f:
                f.write(text)
        else:
            shutil.copyfile(src, dst)
    assign.write(generated, os.path.join(student, "homework"))
    for name, text in handout(assignment, p, homework).items():
        with open(os.path.join(student, name), "w") as f:
            f.write(text)

    instructor = os.path.join(out, "instructor")
    os.makedirs(instructor, exist_ok=True)
    with open(os.path.join(instructor, "ANSWER_KEY.md"), "w") as f:
        f.write(answer_key(assignment, p))
    if assignment_path:
        shutil.copyfile(assignment_path, os.path.join(instructor, os.path.basename(assignment_path)))
    _pdf(os.path.join(student, "HANDOUT.md"))

    zip_path = os.path.join(out, "autograder.zip")
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as z:
        for rel, src in sorted(dict(_framework_files(root), **_test_files(root, instructor=True)).items()):
            if rel == "tests/conftest.py":
                with open(src) as f:
                    z.writestr(rel, f.read() + deselect_block(p["drop"], assignment))
            else:
                z.write(src, rel)
        for name, text in generated.items():
            z.writestr(f"homework/{name}", text)
        z.writestr("requirements.txt", requirements())
        for name in ("setup.sh", "run_autograder"):
            with open(os.path.join(TEMPLATES, name)) as f:
                text = f.read().replace("__GRADE_OPTIONS__", grade_options)
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFREG | 0o755) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, text)
    return {"student": student, "autograder": zip_path, "instructor": instructor}


def _pdf(markdown: str) -> None:
    """HANDOUT.pdf next to HANDOUT.md when pandoc (and a PDF engine) is installed; silent otherwise."""
    pandoc = shutil.which("pandoc")
    if not pandoc:
        return
    import subprocess
    try:
        subprocess.run([pandoc, os.path.basename(markdown), "-o", os.path.basename(markdown)[:-3] + ".pdf"],
                       cwd=os.path.dirname(markdown), capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        pass


def main(argv) -> int:
    import argparse
    parser = argparse.ArgumentParser(prog="mtl-assign build", description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="output folder")
    parser.add_argument("--root", default=None, help="instructor checkout (default: this one)")
    parser.add_argument("--assignment", default=None,
                        help="assignment file (default: <root>/assignments/everything.toml, every graded function)")
    parser.add_argument("--hidden-visibility", default=None, choices=report.VISIBILITIES,
                        help="Gradescope visibility of hidden tests (default: the assignment's, else after_published)")
    args = parser.parse_args(argv)
    root = args.root or assign._default_root()
    options = f"--hidden-visibility={args.hidden_visibility}" if args.hidden_visibility else ""
    path = args.assignment or default_assignment(root)
    if path and not os.path.exists(path):
        print(f"mtl-assign build: error: no assignment file {path}")
        return 2
    try:
        paths = build(args.out, root, options, path)
    except assign.AssignError as e:
        print(f"mtl-assign build: error: {e}")
        return 2
    print(f"mtl-assign build: student handout in {paths['student']} (HANDOUT.md), Gradescope bundle "
          f"{paths['autograder']}, answer key in {paths['instructor']} (not for students)")
    return 0

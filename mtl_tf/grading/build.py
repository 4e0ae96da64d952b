"""``mtl-assign build OUT/``: the student handout and the Gradescope autograder bundle.

  OUT/student/         framework, generated homework/, public tests, flags, setup.py, README.md
                       (no solutions/, no hidden tests, no mutants, no instructor-only tests)
  OUT/autograder.zip   setup.sh and run_autograder at the root, requirements.txt (pinned from this
                       environment), the framework, the generated homework/ (the template the
                       grader copies submitted files over), graded tests including tests/hidden/
"""

import importlib.metadata
import os
import shutil
import stat
import zipfile
from typing import Dict, List

from mtl_tf.grading import generation as assign  # generate, write, AssignError (not mtl-assign's main)
from mtl_tf.grading import report, workspace

TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")
PINNED = ("tensorflow", "keras", "numpy", "absl-py", "tensorflow-datasets", "tensorboard", "pytest",
          "pytest-timeout")
# Test files an instructor keeps: they need solutions/ or grade the grader itself.
INSTRUCTOR_TESTS = ("test_assign.py", "test_grading_")
SKIP = ("__pycache__", ".pyc", ".egg-info", ".pytest_cache")


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
    """Test files for the autograder (what grading runs, hidden included) or the student tree
    (every public test but the instructor-only ones)."""
    tests = os.path.join(root, "tests")
    if instructor:
        return {f"tests/{rel}": os.path.join(tests, rel) for rel in workspace.grader_test_files(tests, True)}
    return {f"tests/{name}": os.path.join(tests, name) for name in sorted(os.listdir(tests))
            if name.endswith(".py") and os.path.isfile(os.path.join(tests, name))
            and not name.startswith(INSTRUCTOR_TESTS)}


def student_readme(homework: List[str]) -> str:
    with open(os.path.join(TEMPLATES, "README_student.md")) as f:
        text = f.read()
    return text.replace("__HOMEWORK_FILES__", "\n".join(f"- `homework/{n}`" for n in homework))


def build(out: str, root: str, grade_options: str = "") -> Dict[str, str]:
    """Write ``out/student/`` and ``out/autograder.zip``; return their paths."""
    generated = assign.generate(os.path.join(root, "solutions"))
    homework = sorted(n for n in generated if n != "__init__.py")
    student = os.path.join(out, "student")
    if os.path.exists(student):
        shutil.rmtree(student)
    copies = dict(_framework_files(root), **_test_files(root, instructor=False))
    for rel, src in copies.items():
        os.makedirs(os.path.dirname(os.path.join(student, rel)) or student, exist_ok=True)
        shutil.copyfile(src, os.path.join(student, rel))
    assign.write(generated, os.path.join(student, "homework"))
    with open(os.path.join(student, "README.md"), "w") as f:
        f.write(student_readme(homework))

    zip_path = os.path.join(out, "autograder.zip")
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as z:
        for rel, src in sorted(dict(_framework_files(root), **_test_files(root, instructor=True)).items()):
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
    return {"student": student, "autograder": zip_path}


def main(argv) -> int:
    import argparse
    parser = argparse.ArgumentParser(prog="mtl-assign build", description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="output folder")
    parser.add_argument("--root", default=None, help="instructor checkout (default: this one)")
    parser.add_argument("--hidden-visibility", default=None, choices=report.VISIBILITIES,
                        help="Gradescope visibility of hidden tests (default after_published)")
    args = parser.parse_args(argv)
    root = args.root or assign._default_root()
    options = f"--hidden-visibility={args.hidden_visibility}" if args.hidden_visibility else ""
    try:
        paths = build(args.out, root, options)
    except assign.AssignError as e:
        print(f"mtl-assign build: error: {e}")
        return 2
    print(f"mtl-assign build: student handout in {paths['student']}, Gradescope bundle {paths['autograder']}")
    return 0

"""The grading workspace: what a child process sees, rebuilt from trusted sources before each run.

``homework/`` holds only the expected file names (those of the starter package), read from the
submission as regular files (never through a symlink, at most MAX_FILE_BYTES); ``tests/``, the
package ``__init__.py``, ``pytest.ini`` and ``mtl_tf/`` (a copy of the framework package this
grader runs, so the child imports exactly that code from a place the unprivileged user can read,
however ``mtl_tf`` was installed) are the grader's own.
"""

import os
import shutil
import stat
from typing import Dict, List, Optional

from mtl_tf.grading import checked
from mtl_tf.grading import generation as assign  # generate (not mtl-assign's main)

MAX_FILE_BYTES = 1_000_000    # a homework file larger than this is not copied
INSTRUCTOR_TESTS = ("test_assign.py", "test_grading_")
PYTEST_INI = """[pytest]
addopts = -p mtl_tf.grading.plugin -p mtl_tf.grading.child -p no:cacheprovider
testpaths = tests
filterwarnings =
    ignore::DeprecationWarning
"""


def framework_package() -> str:
    """The folder of the ``mtl_tf`` package this process runs (copied into every workspace)."""
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def source_root() -> str:
    """The folder holding ``mtl_tf/``, ``tests/`` and the ``homework/`` template."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def starter_files(root: str) -> Dict[str, str]:
    """{file name: starter text} of the homework package, ``__init__.py`` included.

    Generated from ``root/solutions`` when it exists (an instructor checkout, always current),
    else read from ``root/homework`` (the autograder bundle, generated when it was built).
    """
    solutions = os.path.join(root, "solutions")
    if os.path.isdir(solutions):
        return assign.generate(solutions)
    template = os.path.join(root, "homework")
    files = {}
    for name in sorted(os.listdir(template)):
        if name.endswith(".py"):
            with open(os.path.join(template, name)) as f:
                files[name] = f.read()
    return files


def expected_files(root: str) -> List[str]:
    """The homework file names a submission may provide."""
    return sorted(n for n in starter_files(root) if n != "__init__.py")


def _read_submitted(submission: str, name: str):
    """Bytes of the submitted ``name`` (in ``homework/`` or at the top level), or None.

    Only regular files: the path is ``lstat``-ed first, so a symlink (it could point at hidden
    tests), a FIFO (opening it would block the grader), a device or a socket is refused before
    anything opens it; the open itself does not follow links or block, and must find the same
    regular file; at most MAX_FILE_BYTES.
    """
    for folder in (os.path.join(submission, "homework"), submission):
        path = os.path.join(folder, name)
        try:
            if os.path.islink(folder) or not stat.S_ISDIR(os.lstat(folder).st_mode):
                continue
            before = os.lstat(path)
        except OSError:
            continue
        if not stat.S_ISREG(before.st_mode) or before.st_size > MAX_FILE_BYTES:
            continue
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        with os.fdopen(fd, "rb") as f:
            info = os.fstat(f.fileno())
            if (stat.S_ISREG(info.st_mode) and (info.st_dev, info.st_ino) == (before.st_dev, before.st_ino)
                    and info.st_size <= MAX_FILE_BYTES):
                data = f.read(MAX_FILE_BYTES + 1)
                if len(data) <= MAX_FILE_BYTES:
                    return data
    return None


def grader_test_files(tests_dir: str, include_hidden: bool) -> List[str]:
    """Relative paths of the test-folder files the child needs: helpers, conftest, graded modules."""
    files = []
    folders = [""] + (["hidden"] if include_hidden and os.path.isdir(os.path.join(tests_dir, "hidden")) else [])
    for folder in folders:
        for name in sorted(os.listdir(os.path.join(tests_dir, folder))):
            rel = os.path.join(folder, name)
            if not name.endswith(".py") or not os.path.isfile(os.path.join(tests_dir, rel)):
                continue
            if name.startswith(INSTRUCTOR_TESTS):
                continue  # the grader's own tests and the kit's: never graded, never shipped to the child
            if name.startswith("test_"):
                with open(os.path.join(tests_dir, rel)) as f:
                    text = f.read()
                    if "mark.points" not in text and not checked.CONVERTED.search(text):  # not a graded module
                        continue
            files.append(rel)
    return files


def homework_files(submission: Optional[str], root: str):
    """({file name: bytes} of the homework package to grade, notes for the student).

    Only the expected file names are taken from the submission; a missing one is the starter.
    """
    files, notes = {}, []
    for name, text in starter_files(root).items():
        data = _read_submitted(submission, name) if submission and name != "__init__.py" else None
        if data is None:
            data = text.encode()
            if submission and name != "__init__.py":
                notes.append(f"homework/{name} was not found in the submission (or was not a regular file under "
                             f"{MAX_FILE_BYTES} bytes): its tests ran on the untouched starter file.")
        files[name] = data
    return files, notes


def grader_snapshot(root: str, include_hidden: bool = True) -> Dict[str, Dict[str, bytes]]:
    """The grader's own files, read once at the start of a grading run: ``{"tests": {rel: bytes},
    "mtl_tf": {rel: bytes}}``. Every workspace of the run is written from this snapshot, so nothing
    written to the grader's folders during the run (by a child, by anyone) reaches a later child."""
    snapshot: Dict[str, Dict[str, bytes]] = {"tests": {}, "mtl_tf": {}}
    tests_src = os.path.join(root, "tests")
    for rel in grader_test_files(tests_src, include_hidden):
        with open(os.path.join(tests_src, rel), "rb") as f:
            snapshot["tests"][rel] = f.read()
    package = framework_package()
    for dirpath, dirnames, filenames in os.walk(package):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__" and not d.endswith(".egg-info"))
        for name in sorted(filenames):
            if name.endswith((".pyc", ".pyo")):
                continue
            path = os.path.join(dirpath, name)
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, "rb") as f:
                    snapshot["mtl_tf"][os.path.relpath(path, package)] = f.read()
    return snapshot


def populate(workspace: str, homework: Dict[str, bytes], grader: Dict[str, Dict[str, bytes]],
             hidden: bool = False) -> None:
    """(Re)write the grader's files in ``workspace`` from the run's snapshot: homework/, tests/,
    mtl_tf/, pytest.ini. The public part gets the public test modules and the helpers; the hidden
    part gets the helpers (conftest, shared modules) and ``tests/hidden/`` only.

    Called before every child process, so a child that edited them cannot affect the next one.
    """
    for name in ("homework", "tests", "mtl_tf", "pytest.ini"):
        path = os.path.join(workspace, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.lexists(path):
            os.unlink(path)
    os.makedirs(os.path.join(workspace, "homework"))
    for name, data in homework.items():
        with open(os.path.join(workspace, "homework", name), "wb") as f:
            f.write(data)
    for rel, data in grader["tests"].items():
        in_hidden = rel.startswith("hidden" + os.sep)
        helper = not os.path.basename(rel).startswith("test_")
        if (in_hidden != hidden) and not (helper and not in_hidden):
            continue
        path = os.path.join(workspace, "tests", rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if rel.endswith(".py") and checked.CONVERTED.search(data.decode(errors="replace")):
            # the child gets the compute halves, not the checks
            data = checked.strip_checks(data.decode()).encode()
        with open(path, "wb") as f:
            f.write(data)
    for rel, data in grader["mtl_tf"].items():
        path = os.path.join(workspace, "mtl_tf", rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    with open(os.path.join(workspace, "pytest.ini"), "w") as f:
        f.write(PYTEST_INI)


def lock_down(workspace: str, home: str, user) -> None:
    """As root: grader files readable (hidden tests: root only), nothing writable but ``home``."""
    for dirpath, dirnames, filenames in os.walk(workspace):
        if os.path.abspath(dirpath).startswith(os.path.abspath(home)):
            continue
        hidden = os.path.sep + "hidden" in dirpath[len(workspace):]
        os.chmod(dirpath, 0o700 if hidden else 0o755)
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o600 if hidden else 0o644)
    for dirpath, dirnames, filenames in os.walk(home):
        os.chown(dirpath, user.pw_uid, user.pw_gid)

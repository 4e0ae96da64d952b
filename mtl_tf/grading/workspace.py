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

from mtl_tf.grading import assign

MAX_FILE_BYTES = 1_000_000    # a homework file larger than this is not copied
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

    Only regular files, never through a symlink (a link could point at hidden tests), at most
    MAX_FILE_BYTES.
    """
    for path in (os.path.join(submission, "homework", name), os.path.join(submission, name)):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue
        with os.fdopen(fd, "rb") as f:
            info = os.fstat(f.fileno())
            if stat.S_ISREG(info.st_mode) and info.st_size <= MAX_FILE_BYTES and not os.path.islink(
                    os.path.dirname(path)):
                return f.read()
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
            if name.startswith("test_"):
                with open(os.path.join(tests_dir, rel)) as f:
                    if "mark.points" not in f.read():
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


def populate(workspace: str, homework: Dict[str, bytes], root: str, include_hidden: bool = True) -> None:
    """(Re)write the grader's files in ``workspace``: homework/, tests/, mtl_tf/, pytest.ini.

    Called before every child process, so a child that edited them cannot affect the next one.
    """
    for name in ("homework", "tests", "mtl_tf"):
        shutil.rmtree(os.path.join(workspace, name), ignore_errors=True)
    os.makedirs(os.path.join(workspace, "homework"))
    for name, data in homework.items():
        with open(os.path.join(workspace, "homework", name), "wb") as f:
            f.write(data)
    tests_src = os.path.join(root, "tests")
    for rel in grader_test_files(tests_src, include_hidden):
        os.makedirs(os.path.dirname(os.path.join(workspace, "tests", rel)), exist_ok=True)
        shutil.copyfile(os.path.join(tests_src, rel), os.path.join(workspace, "tests", rel))
    shutil.copytree(framework_package(), os.path.join(workspace, "mtl_tf"),
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
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

"""README's Python quick start runs as written (both code blocks of its section, in order)."""

import os
import re

from conftest import REPO


def _quickstart_blocks():
    text = open(os.path.join(REPO, "README.md")).read()
    section = text.split("## Python quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_readme_python_quick_start_runs(capsys):
    blocks = _quickstart_blocks()
    assert len(blocks) == 2, f"expected the Trainer and the Keras fit snippets, found {len(blocks)} block(s)"
    namespace = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)   # noqa: S102 -- our own README
    results, mt = namespace["results"], namespace["mt"]
    assert results["steps"] == 300 and set(results["tasks"]) == {t.name for t in namespace["data"].tasks}
    assert mt.optimizer.iterations.numpy() == 200
    assert "task1" in capsys.readouterr().out

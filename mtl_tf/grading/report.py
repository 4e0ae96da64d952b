"""Gradescope ``results.json`` from per-test outcomes, and the per-part score table.

One *case* is one pytest item (one parametrization of a graded test). Cases of the same test
function form one Gradescope test whose score is ``points * passed cases / cases`` (partial
credit where a test checks several cases); an unparametrized test is all or nothing.
"""

import re
from typing import Dict, List

MAX_OUTPUT_CHARS = 4000
MAX_TEST_OUTPUT = 2 * MAX_OUTPUT_CHARS     # one Gradescope test's output
MAX_TOTAL_OUTPUT = 200_000                # all tests' outputs together
MAX_TOP_OUTPUT = 20_000                   # the top-level output (table and notes)
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
# C0 controls but tab, newline, carriage return; DEL. NUL in particular: strict JSON readers reject it.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean(text) -> str:
    """``text`` as a string every strict JSON reader accepts: no NUL or other control characters,
    no unpaired surrogates (each becomes '?')."""
    text = text if isinstance(text, str) else str(text)
    text = text.encode("utf-8", "replace").decode("utf-8")
    return _CONTROL.sub("", text)


def truncate(text: str, limit: int = MAX_OUTPUT_CHARS) -> str:
    """``text`` cut to ``limit`` characters (the head: the message comes first), marked if cut,
    and cleaned (see ``clean``)."""
    text = text if isinstance(text, str) else str(text)
    if len(text) <= limit:
        return clean(text)
    return clean(text[:limit]) + f"\n... (output truncated: {len(text) - limit} more characters)"


def test_key(nodeid: str) -> str:
    """The test function a case belongs to: the node id without its ``[parameters]``."""
    return re.sub(r"\[.*\]$", "", nodeid)


def part_of(nodeid: str) -> str:
    """The part (shown in tables and tags) a test belongs to: its module name without ``test_``
    (and without ``_hidden``: tests/hidden/test_objectives_hidden.py belongs to 'objectives')."""
    module = nodeid.split("::")[0].rsplit("/", 1)[-1]
    return re.sub(r"^test_|(_hidden)?\.py$", "", module)


def gradescope(cases: List[dict], execution_time: float, stdout_visibility: str = "visible") -> dict:
    """Gradescope results from collected cases, in collection order.

    Args:
      cases: dicts with ``nodeid``, ``name`` (display name), ``points`` (of the whole test),
        ``passed`` (bool), ``output`` (str), ``visibility``, ``hidden`` (bool).
      execution_time: seconds.
    Returns:
      the results.json dict (per test: name, number, score, max_score, status, output,
      visibility, tags; top level: score, max_score, execution_time, output, stdout_visibility).
    """
    groups: Dict[str, List[dict]] = {}
    for case in sorted(cases, key=lambda c: bool(c.get("hidden"))):  # public tests first, stable
        groups.setdefault(test_key(case["nodeid"]), []).append(case)
    parts: List[str] = []
    counters: Dict[str, int] = {}
    tests = []
    budget = MAX_TOTAL_OUTPUT
    for key, members in groups.items():
        part = part_of(key)
        if part not in parts:
            parts.append(part)
        counters[part] = counters.get(part, 0) + 1
        points = float(members[0]["points"])
        passed = sum(bool(m["passed"]) for m in members)
        score = round(points * passed / len(members), 4)
        if len(members) == 1:
            output = members[0]["output"] or ("Passed." if passed else "Did not run.")
        else:
            lines = [f"{passed}/{len(members)} cases passed ({score:g}/{points:g} points)."]
            for m in members:
                case_id = m["nodeid"][len(key):] or m["nodeid"]
                lines.append(f"{case_id}: {'passed' if m['passed'] else 'FAILED'}")
                if not m["passed"] and m["output"]:
                    lines.append("  " + m["output"].strip().replace("\n", "\n  "))
            output = "\n".join(lines)
        output = truncate(output, max(200, min(MAX_TEST_OUTPUT, budget)))
        budget -= len(output)
        tests.append({
            "name": truncate(members[0]["name"], 300), "number": f"{parts.index(part) + 1}.{counters[part]}",
            "score": score, "max_score": points,
            "status": "passed" if passed == len(members) else "failed",
            "output": output,
            "visibility": members[0].get("visibility", "visible"),
            "tags": [part] + (["hidden"] if members[0].get("hidden") else []),
        })
    total = round(sum(t["score"] for t in tests), 4)
    possible = round(sum(t["max_score"] for t in tests), 4)
    result = {"score": total, "max_score": possible, "execution_time": round(execution_time, 2),
              "stdout_visibility": stdout_visibility, "tests": tests}
    result["output"] = score_table(result)
    return result


def score_table(results: dict) -> str:
    """A per-part table: part, tests passed, score / max, then the total line."""
    rows: Dict[str, List[float]] = {}
    for t in results["tests"]:
        part = t["tags"][0] if t.get("tags") else part_of(t["name"])
        row = rows.setdefault(part, [0, 0, 0.0, 0.0])
        row[0] += t["status"] == "passed"
        row[1] += 1
        row[2] += t["score"]
        row[3] += t["max_score"]
    width = max([len("part")] + [len(p) for p in rows])
    lines = [f"{'part':<{width}}  tests passed  score", f"{'-' * width}  ------------  -----"]
    for part, (ok, n, score, possible) in rows.items():
        lines.append(f"{part:<{width}}  {f'{ok}/{n}':>12}  {score:g}/{possible:g}")
    lines.append(f"{'total':<{width}}  {sum(r[0] for r in rows.values()):>5}/{sum(r[1] for r in rows.values()):<6}"
                 f"  {results['score']:g}/{results['max_score']:g}")
    return "\n".join(lines)

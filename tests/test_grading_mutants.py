"""Every mutant (tests/mutants/: a plausible wrong implementation) loses the points of its target tests."""

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO
from mtl_tf.grading import mutants

MUTANTS = os.path.join(REPO, "tests", "mutants")


def test_every_graded_function_has_two_mutants_with_existing_targets():
    """Every function with a solution region, in every graded module of solutions/, has >= 2 mutants."""
    corpus = mutants.load(MUTANTS)
    table = mutants.coverage(REPO, corpus)
    assert {"conditioning", "architectures", "objectives", "gradients", "optimization"} <= set(table), table
    thin = [f"{module}.{fn} ({len(names)})" for module, fns in table.items() for fn, names in fns.items()
            if len(names) < mutants.MIN_PER_FUNCTION]
    assert not thin, (f"graded functions with fewer than {mutants.MIN_PER_FUNCTION} mutants in tests/mutants/: "
                      f"{thin}\n{mutants.coverage_table(table)}")
    for m in corpus:
        for target in m.targets:
            path, _, name = target.partition("::")
            with open(os.path.join(REPO, path)) as f:
                assert f"def {name.split('[')[0]}(" in f.read(), f"{m.name}: target {target} does not exist"


def test_graded_functions_are_found_from_the_solution_regions(tmp_path):
    """The coverage check finds graded functions by their regions, not from a list: a new one counts."""
    (tmp_path / "solutions").mkdir()
    (tmp_path / "solutions" / "objectives.py").write_text(
        "def given(x):\n    return x\n\n\ndef graded(x):\n    # BEGIN SOLUTION\n    return x\n    # END SOLUTION\n")
    (tmp_path / "mutants" / "objectives").mkdir(parents=True)
    (tmp_path / "mutants" / "objectives" / "wrong.py").write_text(
        '"""graded returns 0."""\n\nTARGETS = ["tests/test_objectives.py::test_x"]\n\n\ndef graded(x):\n    return 0\n')
    table = mutants.coverage(str(tmp_path), mutants.load(str(tmp_path / "mutants")))
    assert table == {"objectives": {"graded": ["objectives/wrong"]}}, table
    assert "graded           1  < 2" in mutants.coverage_table(table), mutants.coverage_table(table)


# Controls: "mutants" equal to the reference, run in the same sessions after real mutants; they must survive
# (a failure or a fixture of one mutant's run must not leak into the next and kill them by accident).
CONTROLS = {
    "objectives": ("sum_objective", "tests/test_objectives.py::test_sum_objective_adds_present_tasks_only"),
    "architectures": ("independent",
                      "tests/test_conditioning.py::test_gating_and_independent_have_zero_cross_task_gradients"
                      "[independent]"),
}
CONTROL_NAME = "zz_control_reference"   # sorted after the real mutants of its module


def corpus_with_controls(folder):
    """A corpus folder: links to every real mutant, plus one reference-equivalent control per CONTROLS module."""
    for m in mutants.load(MUTANTS):
        os.makedirs(folder / m.module, exist_ok=True)
        os.symlink(m.path, folder / m.module / os.path.basename(m.path))
    for module, (function, target) in CONTROLS.items():
        (folder / module / f"{CONTROL_NAME}.py").write_text(
            f'"""control: the reference {function}, unchanged."""\n\nTARGETS = [{target!r}]\n')
    return folder


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    """{mutant: {target: passed}}, from two processes (half the corpus each, one pytest session each) run side
    by side."""
    folder = tmp_path_factory.mktemp("mutants")
    corpus = corpus_with_controls(folder / "corpus")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    procs = [subprocess.Popen([sys.executable, "-m", "mtl_tf.grading.mutants", f"--mutants={corpus}",
                               f"--json={folder}/{i}.json", f"--shard={i}/2"], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for i in range(2)]
    logs = [p.communicate(timeout=900)[0] for p in procs]
    results = {}
    for i, log in enumerate(logs):
        path = folder / f"{i}.json"
        assert path.exists(), log[-3000:]
        results.update(json.loads(path.read_text()))
    return results


@pytest.mark.parametrize("mutant", [m.name for m in mutants.load(MUTANTS)])
def test_mutant_loses_points_on_its_targets(outcomes, mutant):
    survived = [t for t, passed in outcomes[mutant].items() if passed]
    assert not survived, (f"mutant {mutant} still passes {survived}: the graded tests miss this mistake "
                          "(strengthen the test or add a hidden one)")


@pytest.mark.parametrize("module", sorted(CONTROLS))
def test_the_reference_survives_after_the_mutants_of_the_same_session(outcomes, module):
    name = f"{module}/{CONTROL_NAME}"
    assert all(outcomes[name].values()), (f"the control {name} (the reference code) failed {outcomes[name]}: the "
                                          "mutant runner reports failures that are not the mutant's")

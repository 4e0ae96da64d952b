"""Every mutant (tests/mutants/: a plausible wrong implementation) loses the points of its target tests."""

import json
import os
import subprocess
import sys
from collections import Counter

import pytest

from conftest import REPO
from mtl_tf.grading import mutants

MUTANTS = os.path.join(REPO, "tests", "mutants")
# Graded functions with a mutant corpus (at least two mutants each). Not yet covered: the builders
# independent, cross_stitch, mmoe (architectures); gated (conditioning) has one.
COVERED = {
    "objectives": ["sum_objective", "weighted_objective", "minmax_objective", "uncertainty_objective",
                   "dwa_weights", "gradnorm_loss", "renormalize_weights", "dominates", "pareto_front"],
    "optimization": ["sample_tasks", "masked_task_losses", "train_step", "flatten_gradients",
                     "unflatten_gradients"],
    "architectures": ["shared_bottom", "soft_sharing_penalty", "cross_stitch_mix", "sluice_mix", "mixture_of_experts",
                      "attention_mask", "task_covariance", "deep_relation_regularizer"],
    "conditioning": ["concat_conditioning", "additive_conditioning", "multiplicative_conditioning", "gated_outputs"],
    "gradients": ["sum_gradients", "pcgrad", "min_norm_two", "mgda_weights", "mgda", "cagrad", "imtl_g"],
}


def _defined(mutant):
    import ast
    with open(mutant.path) as f:
        return [n.name for n in ast.parse(f.read()).body if isinstance(n, ast.FunctionDef)]


def test_every_covered_function_has_two_mutants_with_existing_targets():
    corpus = mutants.load(MUTANTS)
    counts = Counter((m.module, name) for m in corpus for name in _defined(m))
    thin = [f"{module}.{fn} ({counts[(module, fn)]})" for module, fns in COVERED.items() for fn in fns
            if counts[(module, fn)] < 2]
    assert not thin, f"graded functions with fewer than two mutants: {thin}"
    for m in corpus:
        for target in m.targets:
            path, _, name = target.partition("::")
            with open(os.path.join(REPO, path)) as f:
                assert f"def {name}(" in f.read(), f"{m.name}: target {target} does not exist"


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    """{mutant: {target: passed}}, from two processes (half the corpus each) run side by side."""
    folder = tmp_path_factory.mktemp("mutants")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    procs = [subprocess.Popen([sys.executable, "-m", "mtl_tf.grading.mutants", f"--json={folder}/{i}.json",
                               f"--shard={i}/2"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for i in range(2)]
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

"""The apps layer (issue 17): flags are defined only in mtl_tf/apps/, every library module imports on
its own without flags, there is no import circle, and every app builds its objects through one
function (``mtl_tf.apps.config.from_flags``), so mtl-transfer honours --grad_method too."""

import ast
import json
import os
import re
import subprocess
import sys

import pytest
from absl import flags
from absl.testing import flagsaver

from conftest import REPO, USER_ENV

FLAGS = flags.FLAGS
PACKAGE = os.path.join(REPO, "mtl_tf")


def _modules() -> dict:
    """{dotted name: path} of every module of the mtl_tf package."""
    out = {}
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                dotted = os.path.relpath(path, REPO)[:-3].replace(os.sep, ".")
                out[dotted[: -len(".__init__")] if dotted.endswith(".__init__") else dotted] = path
    return out


MODULES = _modules()
# modules that define flags or import an app (the apps, and the old import paths of the apps)
APP_MODULES = {m for m in MODULES if m == "mtl_tf.apps" or m.startswith("mtl_tf.apps.")} | {
    "mtl_tf.train", "mtl_tf.transfer_experiment", "mtl_tf.report.__main__"}


def _imports(module: str, path: str) -> set:
    """The mtl_tf modules ``module`` imports anywhere in its source (also inside functions)."""
    tree = ast.parse(open(path).read())
    package = module if path.endswith("__init__.py") else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            for a in node.names:
                found.add(f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base)
    return {m for m in found if m in MODULES and m != module}


def _cycles(graph: dict) -> list:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_circle_among_mtl_tf_modules():
    graph = {m: _imports(m, p) for m, p in MODULES.items()}
    assert _cycles(graph) == []


def test_the_cycle_check_finds_a_circle():
    """The check can fail: a planted circle a -> b -> c -> a is found, a tail d -> a is not part of it."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_library_modules_do_not_import_the_apps():
    offenders = {m: sorted(i for i in _imports(m, p) if i in APP_MODULES)
                 for m, p in MODULES.items() if m not in APP_MODULES}
    assert {m: i for m, i in offenders.items() if i} == {}


def test_flags_are_defined_only_in_the_apps():
    pattern = re.compile(r"flags\.(DEFINE\w*|register_validator|register_multi_flags_validator)\(")
    outside = [os.path.relpath(p, REPO) for m, p in MODULES.items()
               if m not in APP_MODULES and pattern.search(open(p).read())]
    assert outside == []
    inside = {m for m, p in MODULES.items() if pattern.search(open(p).read())}
    assert inside and all(m.startswith("mtl_tf.apps.") for m in inside), inside


_ALONE = r"""
import importlib, json, os, sys
# third-party start-up once (TensorFlow ~5 s); each mtl_tf module is then imported first and alone
# in a forked child whose sys.modules holds no mtl_tf module
import numpy, tensorflow, keras  # noqa: F401
from absl import flags


def start(name):
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            assert not any(m.startswith("mtl_tf") for m in sys.modules), "mtl_tf imported before the module"
            importlib.import_module(name)
            result = {"error": "importing parsed the flags" if flags.FLAGS.is_parsed() else None,
                      "defined": sorted(m for m, f in flags.FLAGS.flags_by_module_dict().items() if "mtl_tf" in m and f)}
        except BaseException as e:  # noqa: BLE001
            result = {"error": f"{type(e).__name__}: {e}".splitlines()[0], "defined": []}
        os.write(write, json.dumps(result).encode())   # a few hundred bytes: fits the pipe's buffer
        os._exit(0)
    os.close(write)
    return name, pid, read


def finish(name, pid, read):
    _, status = os.waitpid(pid, 0)
    data = os.read(read, 1 << 16)
    os.close(read)
    results[name] = json.loads(data) if data else {"error": f"the child died (status {status})", "defined": []}


results, running = {}, []
for name in sys.argv[1:]:
    running.append(start(name))
    if len(running) == 2:   # two at a time (2 cores)
        finish(*running.pop(0))
for child in running:
    finish(*child)
print("RESULTS", json.dumps(results))
"""


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_every_module_imports_alone_in_a_fresh_process_without_flags():
    """Each mtl_tf module, imported first and alone (a forked child of one interpreter that has
    imported only the third-party libraries), imports (no circle bites), parses no flag, and --
    outside the apps -- defines none."""
    env = dict(USER_ENV, TF_CPP_MIN_LOG_LEVEL="3")
    names = sorted(MODULES)
    run = subprocess.run([sys.executable, "-c", _ALONE, *names], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=540)
    assert run.returncode == 0, run.stderr[-2000:]
    results = json.loads(re.search(r"^RESULTS (.*)$", run.stdout, re.M).group(1))
    assert sorted(results) == names
    assert {m: r["error"] for m, r in results.items() if r["error"]} == {}
    defining = {m: r["defined"] for m, r in results.items()}
    assert {m: d for m, d in defining.items() if d and m not in APP_MODULES} == {}
    assert defining["mtl_tf.apps.train"], "importing the mtl-train app must define its flags"


# ---- one function from flags to objects -----------------------------------------------------------------

def test_from_flags_carries_every_option_to_the_library():
    from mtl_tf.apps.config import from_flags
    with flagsaver.flagsaver(grad_method="cagrad", cagrad_c=0.25, objective="minmax", minmax_temperature=0.5,
                             hidden_units=["7"], correlation=0.3, nan_policy="skip_step", jit_compile=True,
                             strategy="mirrored", eval_every=7, position_tower=True, select_by="task1/rmse",
                             early_stopping_patience=3, log_gradient_conflict=True):
        settings = from_flags(FLAGS)
    assert settings.grad_method_options == {"c": 0.25}
    assert settings.objective_options["minmax_temperature"] == 0.5
    assert settings.model_options["hidden_units"] == ["7"] and settings.model_options["position_tower"] is True
    assert settings.data_options["correlation"] == 0.3
    config = settings.train_config(run_dir=None, progress=False)
    assert (config.nan_policy, config.jit_compile, config.eval_every) == ("skip_step", True, 7)
    assert (config.select_by, config.early_stopping_patience, config.log_gradient_conflict) == ("task1/rmse", 3, True)
    assert settings.strategy == "mirrored"


def test_one_default_for_eval_every():
    from mtl_tf.training import TrainConfig
    assert FLAGS["eval_every"].default == TrainConfig().eval_every == 1000


def test_method_options_have_their_flags():
    """Every option of every registered gradient method is settable from the command line."""
    from mtl_tf.apps.objective_flags import method_flag
    from mtl_tf.methods import METHODS
    missing = [method_flag(n, o) for n, e in METHODS.items() if e for o in e.options if method_flag(n, o) not in FLAGS]
    assert missing == []
    # a sequence option is a list flag: its default is the registry's sequence as a list
    wrong = {method_flag(n, o): (FLAGS[method_flag(n, o)].default, d) for n, e in METHODS.items() if e
             for o, d in e.options.items()
             if FLAGS[method_flag(n, o)].default != (list(d) if isinstance(d, tuple) else d)}
    assert wrong == {}


def test_library_calls_take_keyword_options():
    """Without any flag: builders, objectives and data sources take typed keyword arguments."""
    from mtl_tf.data import load_dataset
    from mtl_tf.models import build_model
    from mtl_tf.objectives import make_objective
    from mtl_tf.tasks import Task
    tasks = [Task("a", "regression"), Task("b", "binary")]
    model = build_model("mmoe", (5,), tasks, num_experts=3, expert_units=[4], tower_units=[2])
    assert model.get_layer(next(l.name for l in model.layers if hasattr(l, "num_experts"))).num_experts == 3
    assert make_objective("minmax", tasks, minmax_temperature=0.5).temperature == 0.5
    assert load_dataset("families", num_examples=300, family_tasks=3).task_names == ["task0", "task1", "task2"]
    with pytest.raises(TypeError, match="num_expert"):
        build_model("mmoe", (5,), tasks, num_expert=3)
    with pytest.raises(TypeError, match="temprature"):
        make_objective("minmax", tasks, minmax_temprature=0.5)


def test_a_refusal_names_the_registry_name_not_the_class_name():
    from mtl_tf.methods import make_method
    from mtl_tf.models import build_model
    from mtl_tf.objectives import make_objective
    from mtl_tf.tasks import Task
    from mtl_tf.training.distribute import check_distributable

    class TwoReplicas:
        num_replicas_in_sync = 2

    tasks = [Task("a", "regression"), Task("b", "regression")]
    model = build_model("shared_bottom", (4,), tasks)
    objective = make_objective("sum", tasks)
    method = make_method("mgda_ub", tasks, model=model, objective=objective)
    with pytest.raises(ValueError, match=r"--grad_method=mgda_ub combines"):
        check_distributable(TwoReplicas(), objective, method)


def test_mtl_transfer_uses_the_grad_method_flag(tmp_path, monkeypatch):
    """mtl-transfer --grad_method=pcgrad: every Trainer it runs gets a PCGrad (it used to drop the flag)."""
    from mtl_tf.apps import transfer as app
    from mtl_tf.methods import PCGrad
    from mtl_tf.training import Trainer
    seen = []

    class Recording(Trainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            seen.append((type(self.grad_method).__name__, self.config.nan_policy))

    monkeypatch.setattr("mtl_tf.training.Trainer", Recording)
    with flagsaver.flagsaver(dataset="families", family_tasks=3, num_examples=600, target_task="task0",
                             transfer_sizes=["8"], pretrain_steps=4, steps=4, log_every=2, grad_method="pcgrad",
                             nan_policy="skip_step", run_dir=str(tmp_path), quiet=True):
        app.sweep()
    assert len(seen) == 4, seen   # pre-training, scratch, fine-tuning, multi-task
    assert all(m == PCGrad.__name__ and p == "skip_step" for m, p in seen), seen
    written = json.loads((tmp_path / "transfer.json").read_text())
    assert written["config"]["grad_method"] == "pcgrad"

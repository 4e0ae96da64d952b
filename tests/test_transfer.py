"""Transfer learning: the graded pieces (reuse a trunk, freeze it, two learning rates, the gradual
schedule) and the framework around them (target-set data, --init_from, fine-tuning, mtl-transfer)."""

import json
import os
import types

import keras
import numpy as np
import pytest
import tensorflow as tf

from mtl_tf import impl
from mtl_tf import transfer as framework
from mtl_tf.data.families import make_families
from mtl_tf.models import check_model_contract, split_variables, variable_owner
from mtl_tf.objectives import SumObjective
from mtl_tf.tasks import Task
from mtl_tf.training import TrainConfig, Trainer
from conftest import describe

SOURCE = [Task("a", "binary"), Task("b", "regression")]


def tr():
    return impl.module("transfer")


def source_model(hidden=(8, 6), tower=(4,), seed=0, input_dim=5):
    keras.utils.set_random_seed(seed)
    return impl.module("architectures").shared_bottom((input_dim,), SOURCE, hidden_units=hidden, tower_units=tower)


def trunk_of(model, tasks):
    shared, _ = split_variables(model, tasks)
    return shared


def fv(**overrides):
    """The transfer flag values a test needs (a plain namespace, like absl's FlagValues)."""
    values = dict(model="shared_bottom", hidden_units=["8", "6"], tower_units=["4"], finetune="full",
                  finetune_head_steps=2, trunk_lr_scale=0.1, target_task="task0", target_examples=0,
                  exclude_target=False, init_from=None, seed=0)
    values.update(overrides)
    return types.SimpleNamespace(**values)


# ---- graded: reuse_trunk ---------------------------------------------------------------------

@pytest.mark.points(2)
@pytest.mark.parametrize("target", [Task("t", "binary"), Task("t", "multiclass", num_classes=5),
                                    Task("t", "regression")], ids=["binary", "multiclass", "regression"])
def test_new_head_has_the_target_output_size(target):
    """reuse_trunk's model has one output, for the target task, of width target.output_size."""
    model = tr().reuse_trunk(source_model(), SOURCE, target, tower_units=(4,))
    out = model({"x": np.zeros((3, 5), np.float32), "task": np.zeros(3, np.int32)})
    assert isinstance(out, dict) and sorted(out) == ["t"], (
        f"expected outputs keyed only by the target task ['t'] (the source heads are dropped), got "
        f"{sorted(out) if isinstance(out, dict) else type(out).__name__}")
    assert tuple(out["t"].shape) == (3, target.output_size), (
        f"a {target.kind} target needs a head of width {target.output_size}; for a batch of 3 expected shape "
        f"(3, {target.output_size}), got {tuple(out['t'].shape)}")
    check_model_contract(model, [target], (5,))


@pytest.mark.points(3)
def test_reuse_trunk_keeps_the_pretrained_weights():
    """The trunk is the source model's own layers (pre-trained values) and the head reads its output."""
    source = source_model()
    for v in source.variables:  # "pre-training": weights no fresh initialiser would give
        v.assign(np.random.default_rng(1).normal(size=v.shape).astype(np.float32))
    expected = {v.path: v.numpy().copy() for v in trunk_of(source, SOURCE)}
    target = Task("t", "binary")
    model = tr().reuse_trunk(source, SOURCE, target, tower_units=())
    trunk, heads = split_variables(model, [target])
    got = {v.path: v.numpy() for v in trunk}
    assert sorted(got) == sorted(expected), (
        f"the new model's shared (trunk) variables should be the source's {sorted(expected)}, got {sorted(got)}")
    for path, value in expected.items():
        np.testing.assert_array_equal(got[path], value, err_msg=(
            f"trunk variable {path} does not hold the pre-trained value: reuse the source model's layers, "
            "do not build new ones"))
    x = np.random.default_rng(2).normal(size=(4, 5)).astype(np.float32)
    features = keras.Model(source.input, source.get_layer("shared.1").output)({"x": x, "task": np.zeros(4, np.int32)})
    kernel, bias = heads["t"]
    want = np.asarray(features) @ kernel.numpy() + bias.numpy()
    out = model({"x": x, "task": np.zeros(4, np.int32)})["t"]
    np.testing.assert_allclose(np.asarray(out), want, rtol=1e-5, atol=1e-5, err_msg=(
        "with tower_units=() the head must be one Dense layer on the trunk's output features "
        f"(the tensor the source heads read); expected {describe(want)}, got {describe(out)}"))


@pytest.mark.points(2)
def test_new_head_belongs_to_the_target_task():
    """The head's layers are named as the target's (variable rule) and no source head remains."""
    target = Task("t", "multiclass", num_classes=3)
    model = tr().reuse_trunk(source_model(), SOURCE, target, tower_units=(7, 5))
    _, heads = split_variables(model, [target])
    shapes = sorted(tuple(v.shape) for v in heads["t"])
    assert shapes == sorted([(6, 7), (7,), (7, 5), (5,), (5, 3), (3,)]), (
        "the target head (tower 7, 5 then an output of width 3 on the trunk's 6 features) should own "
        f"kernels/biases of shapes [(6, 7), (7,), (7, 5), (5,), (5, 3), (3,)]; the target owns {shapes}. "
        "Name its layers with task_layer_name(target.name, ...)")
    leftovers = [v.path for v in model.variables if variable_owner(v, ["a", "b"]) is not None]
    assert not leftovers, f"the source tasks' heads must not be part of the new model, found {leftovers}"


# ---- graded: set_trunk_trainable -------------------------------------------------------------

@pytest.mark.points(2)
def test_set_trunk_trainable_freezes_only_the_trunk():
    """Frozen: only the head's variables are trainable; unfrozen: all of them again."""
    target = Task("t", "binary")
    model = tr().reuse_trunk(source_model(), SOURCE, target, tower_units=(4,))
    every = sorted(v.path for v in model.trainable_variables)
    head = sorted(v.path for v in model.trainable_variables if variable_owner(v, ["t"]) == "t")
    changed = tr().set_trunk_trainable(model, [target], False)
    got = sorted(v.path for v in model.trainable_variables)
    assert got == head, f"with the trunk frozen the trainable variables should be the head's {head}, got {got}"
    assert list(changed) == ["shared.0", "shared.1"], (
        f"expected the names of the trunk layers that were set, ['shared.0', 'shared.1'], got {changed}")
    tr().set_trunk_trainable(model, [target], True)
    got = sorted(v.path for v in model.trainable_variables)
    assert got == every, f"after unfreezing every variable should be trainable again: {every}, got {got}"


def _target_data(n=120, seed=0):
    """A one-task binary dataset (task0 of the families) with 5 features."""
    data = make_families(num_examples=600, num_tasks=2, input_dim=5, seed=seed)
    return framework.select_tasks(data, ["task0"])


@pytest.mark.points(3)
def test_frozen_trunk_is_bit_identical_after_training():
    """Fine-tuning the head only (--finetune=head) leaves every trunk variable bit-identical."""
    data = _target_data()
    target = data.tasks[0]
    model = tr().reuse_trunk(source_model(), SOURCE, target, tower_units=(4,))
    trunk = {v.path: v.numpy().copy() for v in trunk_of(model, [target])}
    head = {v.path: v.numpy().copy() for v in model.variables if variable_owner(v, [target.name])}
    config = TrainConfig(steps=5, batch_size=16, eval_every=0, progress=False)
    results = framework.finetune(model, data, SumObjective(data.tasks), config, fv(finetune="head"))
    for v in model.variables:
        if v.path in trunk:
            np.testing.assert_array_equal(v.numpy(), trunk[v.path], err_msg=(
                f"trunk variable {v.path} changed while the trunk was frozen"))
    now = {v.path: v.numpy() for v in model.variables}
    moved = [p for p, value in head.items() if not np.array_equal(now[p], value)]
    assert moved, "training the head changed none of its variables"
    assert [p["traces"] for p in results["phases"]] == [1], f"expected one trace, got {results['phases']}"


# ---- graded: split_gradients and the two learning rates -------------------------------------

@pytest.mark.points(2)
def test_split_gradients_routes_trunk_and_head_and_drops_none():
    """(trunk pairs, head pairs) by the variable rule, input order kept, None gradients left out."""
    target = Task("t", "binary")
    model = tr().reuse_trunk(source_model(), SOURCE, target, tower_units=(4,))
    variables = list(model.trainable_variables)
    grads = [tf.ones_like(v) * i for i, v in enumerate(variables)]
    grads[0] = None  # a variable the loss did not reach
    trunk, head = tr().split_gradients(list(zip(grads, variables)), [target])
    want_trunk = [v.path for v in variables[1:] if variable_owner(v, ["t"]) is None]
    want_head = [v.path for v in variables if variable_owner(v, ["t"]) == "t"]
    assert [v.path for _, v in trunk] == want_trunk, (
        f"trunk pairs should be {want_trunk} (shared variables, input order, the None gradient dropped), "
        f"got {[v.path for _, v in trunk]}")
    assert [v.path for _, v in head] == want_head, f"head pairs should be {want_head}, got {[v.path for _, v in head]}"
    for g, v in trunk + head:
        i = next(i for i, w in enumerate(variables) if w is v)
        np.testing.assert_array_equal(np.asarray(g), np.asarray(grads[i]),
                                      err_msg=f"the gradient paired with {v.path} is not its own")


@pytest.mark.points(2)
def test_trunk_learns_at_the_scaled_rate():
    """One step of TwoRateAdam: Adam's first update is about lr per entry, so the trunk moves
    trunk_lr_scale times as far as the head."""
    target = Task("t", "regression")
    model = tr().reuse_trunk(source_model(), SOURCE, target, tower_units=())
    opt = framework.TwoRateAdam([target], learning_rate=0.01, trunk_lr_scale=0.1)
    opt.build(model.trainable_variables)
    before = [v.numpy().copy() for v in model.trainable_variables]
    x = np.random.default_rng(0).normal(size=(16, 5)).astype(np.float32)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model({"x": x, "task": np.zeros(16, np.int32)})["t"] - 1.0))
    grads = tape.gradient(loss, model.trainable_variables)
    opt.apply_gradients(zip(grads, model.trainable_variables))
    steps = {"trunk": [], "head": []}
    for v, b in zip(model.trainable_variables, before):
        delta = np.abs(v.numpy() - b)
        steps["head" if variable_owner(v, ["t"]) else "trunk"].append(delta[delta > 0])
    trunk, head = (float(np.median(np.concatenate(steps[k]))) for k in ("trunk", "head"))
    assert head == pytest.approx(0.01, rel=0.05) and trunk == pytest.approx(0.001, rel=0.05), (
        f"expected a first Adam step of about 0.01 on the head and 0.1 * 0.01 = 0.001 on the trunk, got "
        f"median |step| head {head:.3g}, trunk {trunk:.3g}")


# ---- graded: finetune_phases -----------------------------------------------------------------

@pytest.mark.points(2)
def test_finetune_phases():
    """head / full / gradual schedules; the phases' steps add up to the total."""
    cases = [(("head", 100, 30), [("head", 100, False)]),
             (("full", 100, 30), [("full", 100, True)]),
             (("gradual", 100, 30), [("head", 30, False), ("full", 70, True)]),
             (("gradual", 20, 30), [("head", 20, False)]),
             (("gradual", 20, 0), [("full", 20, True)])]
    for args, want in cases:
        got = [tuple(p) for p in tr().finetune_phases(*args)]
        assert got == want, f"finetune_phases{args}: expected {want}, got {got}"
    with pytest.raises(ValueError):
        tr().finetune_phases("everything", 10, 2)


# ---- framework: target data ------------------------------------------------------------------

def test_limit_labels_keeps_n_training_labels_and_the_test_split():
    data = make_families(num_examples=800, num_tasks=3, input_dim=4, seed=0)
    small = framework.limit_labels(data, "task1", 17, seed=3)
    assert int(small.train.masks["task1"].sum()) == 17
    kept = small.train.masks["task1"] > 0
    assert np.all(data.train.masks["task1"][kept] > 0), "kept labels must be real labels"
    np.testing.assert_array_equal(small.train.masks["task0"], data.train.masks["task0"])
    np.testing.assert_array_equal(small.test.masks["task1"], data.test.masks["task1"])
    again = framework.limit_labels(data, "task1", 17, seed=3)
    np.testing.assert_array_equal(again.train.masks["task1"], small.train.masks["task1"])
    with pytest.raises(framework.TransferError, match="it has only"):
        framework.limit_labels(data, "task1", 10 ** 6, seed=0)


def test_prepare_modes():
    data = make_families(num_examples=800, num_tasks=3, input_dim=4, seed=0)
    pre, source = framework.prepare(data, fv(target_task="task0", exclude_target=True))
    assert pre.task_names == ["task1", "task2"] and [t.name for t in source] == ["task1", "task2"]
    assert np.all(pre.train.masks["task1"] + pre.train.masks["task2"] > 0), "unlabelled examples are dropped"
    tgt, _ = framework.prepare(data, fv(target_task="task0", target_examples=9, init_from="somewhere"))
    assert tgt.task_names == ["task0"] and int(tgt.train.masks["task0"].sum()) == 9
    mtl, _ = framework.prepare(data, fv(target_task="task0", target_examples=9))
    assert mtl.task_names == data.task_names and int(mtl.train.masks["task0"].sum()) == 9
    with pytest.raises(framework.TransferError, match="not a task"):
        framework.prepare(data, fv(target_task="nope"))


# ---- framework: --init_from -------------------------------------------------------------------

@pytest.fixture(scope="module")
def pretrained_run(tmp_path_factory):
    """An mtl-train-style run dir: a shared-bottom model on task1 of the families, 3 steps."""
    run_dir = str(tmp_path_factory.mktemp("pretrain"))
    data = framework.select_tasks(make_families(num_examples=600, num_tasks=2, input_dim=5, seed=0), ["task1"])
    keras.utils.set_random_seed(0)
    model = impl.module("architectures").shared_bottom((5,), data.tasks, hidden_units=(8, 6), tower_units=(4,))
    Trainer(model, data, SumObjective(data.tasks),
            TrainConfig(steps=3, batch_size=8, eval_every=0, progress=False, run_dir=run_dir)).fit()
    return run_dir, {v.path: v.numpy().copy() for v in model.variables}, data.tasks


def test_restore_model_loads_the_pretrained_values(pretrained_run):
    run_dir, values, tasks = pretrained_run
    keras.utils.set_random_seed(5)
    model = impl.module("architectures").shared_bottom((5,), tasks, hidden_units=(8, 6), tower_units=(4,))
    framework.restore_model(model, run_dir)
    for v in model.variables:
        np.testing.assert_array_equal(v.numpy(), values[v.path], err_msg=v.path)


@pytest.mark.parametrize("hidden, words", [((8, 9), ["shared.1/kernel", "(8, 6)", "(8, 9)"]),
                                           ((8, 6, 6), ["shared.2/kernel"])], ids=["width", "depth"])
def test_checkpoint_from_a_different_architecture_fails_in_one_line(pretrained_run, hidden, words):
    run_dir, _, tasks = pretrained_run
    model = impl.module("architectures").shared_bottom((5,), tasks, hidden_units=hidden, tower_units=(4,))
    with pytest.raises(framework.TransferError) as info:
        framework.restore_model(model, run_dir)
    message = str(info.value)
    assert "\n" not in message, message
    assert run_dir in message and "flags.txt" in message, message
    print(message)
    for w in words:
        assert w in message, f"{w!r} not in {message!r}"


def test_a_different_builder_with_matching_shapes_is_refused_by_its_flags(pretrained_run):
    """A checkpoint restores by position: an independent model's variables can have the shared-bottom
    shapes, so the pre-training run's flags.txt is checked too, naming the flag."""
    run_dir, _, tasks = pretrained_run
    with open(os.path.join(run_dir, "flags.txt"), "w") as f:
        f.write("--hidden_units=8,6\n--model=shared_bottom\n--seed=0\n--tower_units=4\n")
    model = impl.module("architectures").shared_bottom((5,), tasks, hidden_units=(8, 6), tower_units=(4,))
    framework.restore_model(model, run_dir, fv())  # the same flags load
    with pytest.raises(framework.TransferError) as info:
        framework.restore_model(model, run_dir, fv(model="independent"))
    message = str(info.value)
    assert "--model=independent" in message and "--model=shared_bottom" in message and "\n" not in message, message


def test_missing_checkpoint_is_one_line(tmp_path):
    model = source_model()
    with pytest.raises(framework.TransferError, match="no checkpoint"):
        framework.restore_model(model, str(tmp_path))


def test_init_from_then_gradual_finetune_traces_once_per_phase(pretrained_run, tmp_path):
    """pretrained_model + gradual fine-tuning: head phase leaves the trunk as loaded, the full phase
    moves it; one trace per phase; the saved run dir has the final phase's checkpoint."""
    run_dir, values, source_tasks = pretrained_run
    data = _target_data()
    flag_values = fv(init_from=run_dir, target_task="task0", finetune="gradual", finetune_head_steps=3)
    model = framework.pretrained_model(flag_values, data, source_tasks)
    for v in trunk_of(model, data.tasks):
        np.testing.assert_array_equal(v.numpy(), values[v.path], err_msg=f"{v.path} not loaded")
    snapshots = []

    class Recording(Trainer):
        def fit(self):
            out = super().fit()
            snapshots.append({v.path: v.numpy().copy() for v in trunk_of(self.model, data.tasks)})
            return out

    config = TrainConfig(steps=6, batch_size=16, eval_every=0, progress=False, run_dir=str(tmp_path / "ft"))
    results = framework.finetune(model, data, SumObjective(data.tasks), config, flag_values, trainer_cls=Recording)
    assert [(p["name"], p["steps"], p["traces"]) for p in results["phases"]] == [("head", 3, 1), ("full", 3, 1)]
    for path, value in snapshots[0].items():
        np.testing.assert_array_equal(value, values[path], err_msg=f"{path} moved during the head-only phase")
    assert any(not np.array_equal(snapshots[1][p], values[p]) for p in values if p in snapshots[1]), \
        "the full phase did not move the trunk"
    assert tf.train.latest_checkpoint(str(tmp_path / "ft" / "checkpoints")) is not None
    assert results["steps"] == 6 and "task0" in results["tasks"]
    assert len(model.trainable_variables) == len(model.variables), "the model is left unfrozen"


# ---- mtl-transfer -----------------------------------------------------------------------------

def test_transfer_experiment_writes_the_table(tmp_path):
    """The sweep pipeline end to end with tiny steps (checks it runs and writes the table, not the verdict)."""
    from absl.testing import flagsaver
    from mtl_tf import transfer_experiment as experiment
    run_dir = str(tmp_path / "sweep")
    with flagsaver.flagsaver(dataset="families", family_tasks=3, num_examples=600, target_task="task0",
                             transfer_sizes=["24"], pretrain_steps=3, steps=2, batch_size=8, hidden_units=["8"],
                             tower_units=["4"], run_dir=run_dir, finetune="full", transfer_metric="auc"):
        summary = experiment.sweep()
    with open(os.path.join(run_dir, "transfer.json")) as f:
        written = json.load(f)
    assert written["sizes"] == [24] and set(written["results"]) == {"24"}
    assert set(written["results"]["24"]) == set(experiment.METHODS)
    aucs = {m: r["auc"] for m, r in written["results"]["24"].items()}
    assert written["winners"]["24"] == max(aucs, key=aucs.get), f"winner {written['winners']} for {aucs}"
    assert written["per_seed"]["24"]["scratch"]["auc"] == [aucs["scratch"]]
    table = open(os.path.join(run_dir, "transfer.md")).read()
    assert "| 24 |" in table and f"{aucs[written['winners']['24']]:.4f}*" in table, table
    assert summary["metric"] == "auc" and summary["target"] == "task0"
    assert os.path.exists(os.path.join(run_dir, "pretrain-seed0", "checkpoints", "checkpoint"))

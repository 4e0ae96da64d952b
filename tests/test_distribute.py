"""tf.distribute: one step under MirroredStrategy on two logical CPU devices equals one step on
one device with the same GLOBAL batch, for sum, uncertainty, PCGrad and MGDA.

The logical devices must be configured before TensorFlow initializes its devices, so the
comparison runs in a child process (this file run as a script) that writes the weight changes;
the test compares them. Plain SGD makes the change proportional to the gradient (Adam's first
step is ~lr * sign(g) and would hide a wrongly scaled gradient).

Tolerance: |change_mirrored - change_one_device| <= 1e-5 * max|change_one_device| + 1e-8 per
variable (float32 sums in a different order).
"""

import os
import subprocess
import sys

import numpy as np
import pytest

CASES = [("sum", "none"), ("uncertainty", "none"), ("sum", "pcgrad"), ("sum", "mgda"), ("uncertainty", "mgda")]
RTOL, ATOL = 1e-5, 1e-8


def _child(out_path):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from absl import flags
    flags.FLAGS.mark_as_parsed()
    from mtl_tf.data import standardize
    from mtl_tf.data.correlated import make_correlated_regression
    from mtl_tf.methods import make_method
    from mtl_tf.models import build_model
    from mtl_tf.objectives import make_objective
    from mtl_tf.training import TrainConfig, Trainer

    data = standardize(make_correlated_regression(num_examples=300, correlation=0.8, input_dim=8, seed=0))
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    results = {}
    for objective_name, method in CASES:
        for label, strategy in (("one", tf.distribute.get_strategy()), ("mirrored", mirrored)):
            with strategy.scope():
                keras.utils.set_random_seed(0)
                model = build_model("shared_bottom", data.input_shape, data.tasks)
                objective = make_objective(objective_name, data.tasks)
                grad_method = make_method(method, data.tasks, model=model, objective=objective)
                optimizer = keras.optimizers.SGD(learning_rate=0.5)
            before = [np.array(v.numpy()) for v in model.trainable_variables + list(objective.trainable_variables)]
            # task-sampled: the global batch is task1's 12 rows then task2's 12, so replica 0 sees
            # only task1 and replica 1 only task2: per-task counts differ across replicas
            config = TrainConfig(steps=1, batch_size=12, eval_every=0, progress=False, seed=3)
            trainer = Trainer(model, data, objective, config, grad_method=grad_method, optimizer=optimizer,
                              strategy=strategy)
            trainer.fit()
            after = [np.array(v.numpy()) for v in model.trainable_variables + list(objective.trainable_variables)]
            for i, (a, b) in enumerate(zip(after, before)):
                results[f"{objective_name}|{method}|{label}|{i}"] = a - b
            results[f"{objective_name}|{method}|{label}|replicas"] = np.array(strategy.num_replicas_in_sync)
    np.savez(out_path, **results)


@pytest.fixture(scope="module")
def changes(tmp_path_factory):
    out = tmp_path_factory.mktemp("distribute") / "changes.npz"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, __file__, str(out)], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return dict(np.load(out))


@pytest.mark.parametrize("objective,method", CASES)
def test_one_mirrored_step_equals_one_device_step(changes, objective, method):
    assert int(changes[f"{objective}|{method}|mirrored|replicas"]) == 2
    i = 0
    while f"{objective}|{method}|one|{i}" in changes:
        one, mirrored = changes[f"{objective}|{method}|one|{i}"], changes[f"{objective}|{method}|mirrored|{i}"]
        scale = np.max(np.abs(one))
        err = np.max(np.abs(mirrored - one))
        assert err <= RTOL * scale + ATOL, (
            f"{objective} x {method}: variable {i} changed differently under MirroredStrategy (2 replicas) than on "
            f"one device: max difference {err:.3g}, largest change {scale:.3g}")
        i += 1
    assert i >= 4, f"expected the model's and objective's variables, found {i}"
    total = sum(np.abs(changes[f"{objective}|{method}|one|{j}"]).sum() for j in range(i))
    assert total > 0, "the step changed nothing; the comparison would be empty"


def test_unknown_strategy_is_a_one_line_error():
    from mtl_tf.training.distribute import make_strategy
    with pytest.raises(ValueError, match="Unknown strategy 'nope'"):
        make_strategy("nope")


if __name__ == "__main__":
    _child(sys.argv[1])

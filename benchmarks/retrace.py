"""Retracing: traces of the compiled step over a whole ``Trainer.fit`` run, per flag-file combination.

The combinations are every ``flags/model_*.flags`` x ``flags/objective_*.flags`` pair plus every
``flags/grad_*.flags`` (on its own flags, i.e. the default model unless the file names one). Each
run parses the flag files as ``mtl-train --flagfile=... --flagfile=...`` would, then overrides
only the run length and data size (``SHORT``), builds model / objective / gradient method the way
``mtl_tf.train.run_training`` does and runs ``Trainer.fit``. Bar (issue 9): exactly 1 trace.
``tests/test_retrace.py`` runs each flag file once; this script runs the full matrix.

  python benchmarks/retrace.py [--full=true] [--steps=6]
"""

import glob
import os
import sys
import time

if __name__ == "__main__":
    import _bench  # noqa: F401  (repo on sys.path, TF log level)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAGS_DIR = os.path.join(ROOT, "flags")
# a short run that still crosses every periodic boundary: DWA epochs, logging, evaluation
SHORT = ["--num_examples=600", "--batch_size=8", "--dwa_epoch_steps=2", "--log_every=2", "--eval_every=3",
         "--quiet"]


def flag_files(prefix: str):
    """Paths of ``flags/<prefix>_*.flags``, sorted."""
    return sorted(glob.glob(os.path.join(FLAGS_DIR, f"{prefix}_*.flags")))


def combinations(full: bool):
    """Lists of flag files to combine. full: every model x objective pair, + every grad file.
    Else every flag file once: model file i with objective file i mod (number of objective
    files), + every grad file."""
    models, objectives, grads = flag_files("model"), flag_files("objective"), flag_files("grad")
    if full:
        return [[m, o] for m in models for o in objectives] + [[g] for g in grads]
    return [[m, objectives[i % len(objectives)]] for i, m in enumerate(models)] + [[g] for g in grads]


def build_from_flags(files, steps: int = 6, extra=()):
    """(flag values, data, model, gradient method or None, objective) for the run the flag ``files``
    describe (with ``SHORT``), built the way ``mtl-train`` builds them. Call inside ``flagsaver``."""
    import keras
    from absl import flags

    import mtl_tf.train  # noqa: F401  (defines every mtl-train flag)
    from mtl_tf.data import load_dataset
    from mtl_tf.gradients import make_grad_method
    from mtl_tf.models import build_model
    from mtl_tf.objectives import make_objective

    fv = flags.FLAGS
    fv(["mtl-train"] + [f"--flagfile={f}" for f in files] + SHORT + [f"--steps={steps}", *extra])
    keras.utils.set_random_seed(fv.seed)
    data = load_dataset(fv.dataset, fv, fv.seed)
    model = build_model(fv.model, data.input_shape, data.tasks, fv)
    objective = make_objective(fv.objective, data.tasks, fv)
    method = make_grad_method(fv.grad_method, model, data.tasks, objective, fv, seed=fv.seed)
    return fv, data, model, method, objective


def count_traces(files, steps: int = 6, extra=()) -> int:
    """Trace count of the step over ``Trainer.fit`` for the run the flag ``files`` describe."""
    from absl.testing import flagsaver

    from mtl_tf.training import TrainConfig, Trainer

    with flagsaver.flagsaver():
        fv, data, model, method, objective = build_from_flags(files, steps, extra)
        config = TrainConfig(steps=fv.steps, batch_size=fv.batch_size, tasks_per_step=fv.tasks_per_step,
                             eval_every=fv.eval_every, log_every=fv.log_every, progress=False,
                             jit_compile=fv.jit_compile, steps_per_call=fv.steps_per_call)
        trainer = Trainer(model, data, objective, config, grad_method=method)
        trainer.fit()
        return trainer.trace_count


def name(files) -> str:
    return " + ".join(os.path.basename(f)[:-len(".flags")] for f in files)


def main() -> None:
    import json
    from absl import flags
    flags.DEFINE_bool("full", True, "Every model x objective pair (else each flag file once).")
    flags.DEFINE_integer("run_steps", 6, "Steps per run.")
    flags.DEFINE_bool("xla", False, "Run every combination with --jit_compile (does XLA compile it, traced once?).")
    flags.FLAGS(sys.argv)
    fv = flags.FLAGS
    results, start = {}, time.perf_counter()
    print(f"{'combination':<52}{'traces':>7}{'seconds':>9}")
    for files in combinations(fv.full):
        t = time.perf_counter()
        try:
            traces = count_traces(files, fv.run_steps, ["--jit_compile"] if fv.xla else [])
        except Exception as e:  # noqa: BLE001  (report it, go on with the other combinations)
            traces = f"error: {type(e).__name__}: {str(e).strip().splitlines()[-1][:120]}"
        results[name(files)] = traces
        print(f"{name(files):<52}{traces!s:>7}{time.perf_counter() - t:>9.1f}", flush=True)
    bad = {k: v for k, v in results.items() if v != 1}
    print(json.dumps({"benchmark": "retrace", "combinations": len(results), "steps_per_run": fv.run_steps,
                      "xla": fv.xla, "all_exactly_1": not bad, "not_1": bad, "seconds": round(time.perf_counter() - start, 1),
                      **_bench.machine()}))


if __name__ == "__main__":
    main()

"""From parsed flags to the library's keyword arguments and objects: ``from_flags(FLAGS)``.

mtl-train, mtl-transfer and mtl-report's helpers all build their data, model, objective,
gradient method, strategy and ``TrainConfig`` through the ``Settings`` this returns, so a flag
one app honours the others honour too (``mtl-transfer --grad_method=pcgrad`` trains with PCGrad,
``--strategy``, ``--nan_policy`` and ``--jit_compile`` reach its Trainers).

Which flags go where is read from the library's option declarations (``mtl_tf.data.OPTIONS``,
``mtl_tf.models.OPTIONS``, ``mtl_tf.ranking.TOWER_OPTIONS`` / ``SCORE_OPTIONS``, each objective's
``options``, ``mtl_tf.transfer.OPTIONS``, the ``TrainConfig`` fields), never from a list of names
here.
"""

import dataclasses
import types
from typing import Dict, Optional

from mtl_tf import data as data_lib
from mtl_tf import models, objectives, ranking, transfer
from mtl_tf.apps.objective_flags import method_flag
from mtl_tf.methods import METHODS, make_method
from mtl_tf.training import TrainConfig

# TrainConfig fields the flags set (``run_dir`` and ``progress`` are the app's to decide)
TRAIN_FIELDS = tuple(f.name for f in dataclasses.fields(TrainConfig) if f.name not in ("run_dir", "progress"))


def _values(fv, names) -> Dict[str, object]:
    """{name: parsed value} for the ``names`` that ``fv`` defines and sets (a flag left at None keeps the
    library's default: the flags added after the first runs default to None, so they add no line to an
    older run's flags.txt)."""
    return {name: getattr(fv, name) for name in names if hasattr(fv, name) and getattr(fv, name) is not None}


def _value(fv, name, default):
    return getattr(fv, name) if hasattr(fv, name) else default


@dataclasses.dataclass
class Settings:
    """Everything a run's flags decide, as the library's keyword arguments."""
    dataset: str
    data_options: dict
    standardize_labels: bool
    model: str
    model_options: dict            # mtl_tf.models.OPTIONS and the position tower's
    objective: str
    objective_options: dict
    grad_method: str
    grad_method_options: dict
    strategy: str
    tpu: str
    train: dict                    # TrainConfig keyword arguments
    transfer_options: dict
    ranking_options: dict
    seed: int = 0
    impl: str = "auto"
    deterministic: bool = False

    @property
    def values(self) -> types.SimpleNamespace:
        """Every option in one namespace (for the library calls that read a run's options together:
        ``mtl_tf.transfer.prepare`` / ``pretrained_model`` / ``finetune``)."""
        return types.SimpleNamespace(model=self.model, **self.model_options, **self.transfer_options,
                                     **self.ranking_options, **{"seed": self.seed})

    def load_data(self, seed: Optional[int] = None):
        """The run's ``MultiTaskData`` (validated, labels standardized), for ``seed`` (default the run's)."""
        return data_lib.load_dataset(self.dataset, seed=self.seed if seed is None else seed,
                                     standardize_labels=self.standardize_labels, **self.data_options)

    def build_model(self, input_shape, tasks, seed: Optional[int] = None):
        """The run's model for ``tasks`` (with the position tower when ``--position_tower``)."""
        options = dict(self.model_options, seed=self.seed if seed is None else seed)
        return ranking.build_model(self.model, input_shape, tasks, **options)

    def make_objective(self, tasks):
        return objectives.make_objective(self.objective, tasks, **self.objective_options)

    def make_grad_method(self, model, tasks, objective, seed: Optional[int] = None):
        """The run's gradient method (None for ``--grad_method=none``)."""
        return make_method(self.grad_method, tasks, model=model, objective=objective,
                           seed=self.seed if seed is None else seed, **self.grad_method_options)

    def make_strategy(self):
        from mtl_tf.training import distribute
        return distribute.make_strategy(self.strategy, self.tpu)

    def train_config(self, **overrides) -> TrainConfig:
        """``TrainConfig`` from the flags, with ``overrides`` (e.g. ``run_dir=``, ``progress=``, ``steps=``)."""
        return TrainConfig(**{**self.train, **overrides})


def _method_options(fv, name: str) -> dict:
    """``make_method``'s options for method ``name`` from its flags (``method_flag``)."""
    entry = METHODS.get(name)
    return {} if entry is None else {o: getattr(fv, method_flag(name, o)) for o in entry.options
                                     if hasattr(fv, method_flag(name, o))}


def from_flags(fv) -> Settings:
    """The ``Settings`` of parsed flags ``fv`` (an absl ``FlagValues``, or a namespace of flag values:
    ``flag_values_from_file``); flags ``fv`` does not define keep the library's defaults."""
    tower = {k: v for k, v in _values(fv, ranking.TOWER_OPTIONS).items() if k != "seed"}
    method = _value(fv, "grad_method", "none")
    return Settings(
        dataset=fv.dataset, data_options=_values(fv, data_lib.OPTIONS), standardize_labels=fv.standardize_labels,
        model=fv.model, model_options={**_values(fv, models.OPTIONS), **tower},
        objective=fv.objective, objective_options=_values(fv, objectives.option_defaults()),
        grad_method=method, grad_method_options=_method_options(fv, method),
        strategy=_value(fv, "strategy", "default"), tpu=_value(fv, "tpu", ""),
        train=_values(fv, TRAIN_FIELDS),
        transfer_options={k: v for k, v in _values(fv, transfer.OPTIONS).items() if k != "seed"},
        ranking_options=_values(fv, ranking.SCORE_OPTIONS),
        seed=fv.seed, impl=_value(fv, "impl", "auto"), deterministic=_value(fv, "deterministic", False))


def flag_values_from_file(flags_txt: str):
    """The flag values a run's ``flags.txt`` gives, parsed by the flags mtl-train defines, as a plain
    namespace (the global ``FLAGS`` stays untouched)."""
    from absl import flags
    from mtl_tf.apps import data_flags, model_flags, objective_flags, output_flags, training_flags  # noqa: F401
    defined = flags.FLAGS
    values = {name: defined[name].default for name in defined}
    with open(flags_txt) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("--"):
                continue
            name, has_value, value = line[2:].partition("=")
            if has_value and name in values:
                values[name] = defined[name].parser.parse(value)
            elif not has_value and name.startswith("no") and name[2:] in values:
                values[name[2:]] = False
            elif not has_value and name in values:
                values[name] = True
    return types.SimpleNamespace(**values)

"""``--help`` / ``--helpfull`` for the absl apps: the tool's own flags first, grouped, then (full) the rest.

absl's own help exits 1, lists the key flags of ``sys.argv[0]`` (a console script defines none) and,
in ``--helpfull``, puts absl's flags and ``absl.testing.absltest``'s (imported by TensorFlow) before
or among the tool's. Here: the tool's module docstring, the flags of the tool's own module (e.g.
``mtl-report``'s), every other ``mtl_tf`` flag in the groups of ``GROUPS``, then, with ``--helpfull``
only, absl's and the libraries' flags (never ``absl.testing``'s, which no tool reads). Exit 0.
"""

import os
import sys
from typing import Dict, List, Optional

from absl import flags

FLAGS = flags.FLAGS
HELP_FLAGS = ("-h", "-?", "--help", "--helpshort", "--helpfull")
GROUPS = ("data", "model", "objective", "training", "output")
# module-name prefix -> group (``mtl_tf.apps.<group>_flags`` too, where the flags are defined per group)
_BY_MODULE = (("mtl_tf.data", "data"), ("mtl_tf.apps.data", "data"), ("mtl_tf.models", "model"),
              ("mtl_tf.layers", "model"), ("mtl_tf.ranking", "model"), ("mtl_tf.apps.model", "model"),
              ("mtl_tf.objectives", "objective"), ("mtl_tf.gradients", "objective"),
              ("mtl_tf.apps.objective", "objective"), ("mtl_tf.training", "training"), ("mtl_tf.transfer", "training"),
              ("mtl_tf.apps.output", "output"), ("mtl_tf.cli", "output"))
_BY_NAME = {"dataset": "data", "data_mode": "data", "seed": "data", "standardize_labels": "data",
            "model": "model", "objective": "objective",
            "run_dir": "output", "quiet": "output", "overwrite": "output", "log_every": "output",
            "checkpoint_every": "output"}
_HIDDEN_MODULES = ("absl.testing",)


def requested(argv) -> Optional[str]:
    """``"full"`` or ``"short"`` if ``argv`` asks for help (before a ``--``), else None."""
    for arg in argv[1:]:
        if arg == "--":
            return None
        if arg == "--helpfull":
            return "full"
        if arg in HELP_FLAGS:
            return "short"
    return None


def group(module: str, name: str) -> str:
    """The help group of flag ``name`` defined in ``module`` (an ``mtl_tf`` module)."""
    if name in _BY_NAME:
        return _BY_NAME[name]
    for prefix, g in _BY_MODULE:
        if module.startswith(prefix):
            return g
    return "training"


def dotted(module: str) -> str:
    """A flag-defining module's dotted name: ``python -m mtl_tf.train`` registers train's flags under
    the script's path (``.../mtl_tf/train.py``), which is ``mtl_tf.train`` here."""
    if module.endswith(".py") and "mtl_tf" in module:
        parts = os.path.normpath(module[:-3]).split(os.sep)
        return ".".join(parts[len(parts) - 1 - parts[::-1].index("mtl_tf"):])
    return module


def _render(flag_list) -> str:
    lines: List[str] = []
    FLAGS._render_flag_list(flag_list, lines, prefix="  ")  # absl's own layout (enum values, defaults)
    return "\n".join(lines)


def text(prog: str, doc: Optional[str], own_module: Optional[str], full: bool) -> str:
    """The help of ``prog``: ``doc``, ``own_module``'s flags, the mtl_tf groups, and (``full``) the rest."""
    by_module: Dict[str, list] = {}
    for module, flag_list in FLAGS.flags_by_module_dict().items():
        by_module.setdefault(dotted(module), []).extend(flag_list)
    sections: List[str] = [(doc or f"{prog} [flags]").strip()]
    if own_module and by_module.get(own_module) and own_module != "mtl_tf.train":
        sections.append(f"{prog} flags:\n" + _render(by_module[own_module]))
    grouped: Dict[str, list] = {g: [] for g in GROUPS}
    for module, flag_list in by_module.items():
        if module.startswith("mtl_tf") and module != own_module or module == own_module == "mtl_tf.train":
            for f in flag_list:
                grouped[group(module, f.name)].append(f)
    for g in GROUPS:
        if grouped[g]:
            sections.append(f"{g} flags:\n" + _render(grouped[g]))
    special = flags._helpers.SPECIAL_FLAGS  # --flagfile, --undefok
    sections.append("flag files (paths relative to the current folder):\n" +
                    _render([special[name] for name in special if name == "flagfile"]))
    if full:
        for module in sorted(by_module):
            if not module.startswith(("mtl_tf",) + _HIDDEN_MODULES) and module != own_module:
                sections.append(f"{module} flags:\n" + _render(by_module[module]))
        sections.append("absl.flags flags:\n" + _render([special[name] for name in special]))
    else:
        sections.append(f"{prog} --helpfull also lists absl's and TensorFlow's flags.")
    return "\n\n".join(sections) + "\n"


def show(prog: str, doc: Optional[str], own_module: Optional[str], full: bool) -> None:
    """Print the help on stdout and exit 0."""
    sys.stdout.write(text(prog, doc, own_module, full))
    sys.stdout.flush()
    sys.exit(0)

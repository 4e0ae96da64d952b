"""PNG plots of the report (matplotlib, the optional ``plots`` extra: ``pip install -e '.[plots]'``).

A claim's ``Analysis.plot`` is a plain dict, drawn here:

* ``{"kind": "lines", "file", "title", "xlabel", "ylabel", "series": {name: [(x, mean, std), ...]},
  "hlines": {name: y}, "xscale": "linear" | "log"}``: mean ± std over seeds along a sweep;
* ``{"kind": "front", "file", "title", "xlabel", "ylabel", "points": [{"label", "x", "y", "pareto",
  "group"}]}``: one point per run configuration, Pareto-optimal ones joined and filled.
"""

import os
from typing import Optional


def available() -> Optional[str]:
    """None when matplotlib can be imported, else why not (shown in the report)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as e:
        return f"matplotlib is not installed ({e}); pip install -e '.[plots]' and run mtl-report again"
    return None


def draw(plot: dict, out_dir: str) -> str:
    """Write ``plot`` as ``out_dir/plot["file"]``; returns the path."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    if plot["kind"] == "lines":
        for name, points in plot["series"].items():
            if not points:
                continue
            xs, ys, es = zip(*sorted(points))
            ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=name)
        for i, (name, y) in enumerate(plot.get("hlines", {}).items()):
            ax.axhline(y, linestyle="--", color=f"C{i + 3}", label=name)
        if plot.get("xscale") == "log":
            ax.set_xscale("log")
            xs = sorted({x for points in plot["series"].values() for x, _, _ in points})
            ax.set_xticks(xs, [f"{x:g}" for x in xs])  # the swept values, not 2x10^0
            ax.minorticks_off()
    elif plot["kind"] == "front":
        groups = sorted({p["group"] for p in plot["points"]})
        for i, group in enumerate(groups):
            pts = [p for p in plot["points"] if p["group"] == group]
            ax.scatter([p["x"] for p in pts], [p["y"] for p in pts], marker="os^"[i % 3], color=f"C{i}",
                       facecolors=[f"C{i}" if p["pareto"] else "none" for p in pts], label=group)
            for p in pts:
                ax.annotate(p["label"], (p["x"], p["y"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
        front = sorted((p["x"], p["y"]) for p in plot["points"] if p["pareto"])
        if front:
            ax.plot(*zip(*front), color="gray", linewidth=1, label="Pareto front (filled markers)")
    else:
        raise ValueError(f"unknown plot kind {plot['kind']!r}; expected 'lines' or 'front'")
    ax.set_title(plot["title"], fontsize=10)
    ax.set_xlabel(plot["xlabel"])
    ax.set_ylabel(plot["ylabel"])
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, plot["file"])
    fig.savefig(path)
    plt.close(fig)
    return path

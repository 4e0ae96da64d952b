"""Scalars read from a finished run's ``metrics.json`` dict (test split, original label units).

Every function takes the results dict ``mtl-train`` writes and returns one float, lower is
better (the headline metric of each task's kind: rmse or logloss).
"""

from typing import Callable

from mtl_tf.training.compare import _headline

Metric = Callable[[dict], float]


def task_headline(results: dict, task: str, split: str = "tasks") -> float:
    """The headline metric of one task on ``split`` ("tasks" = test, "validation", "train")."""
    per_task = results[split]
    if task not in per_task:
        raise KeyError(f"task {task!r} not in the run's {split} metrics (tasks: {sorted(per_task)})")
    return _headline(per_task[task])


def headlines(results: dict, split: str = "tasks") -> dict:
    """{task: headline metric} on ``split``."""
    return {t: _headline(m) for t, m in sorted(results[split].items())}


def mean_headline(results: dict) -> float:
    """Mean over tasks of the test headline metric (use only where the tasks share units)."""
    values = list(headlines(results).values())
    return sum(values) / len(values)


def worst_headline(results: dict) -> float:
    """The worst (largest) test headline metric over tasks."""
    return max(headlines(results).values())


def generalization_gap(results: dict) -> float:
    """Mean over tasks of (test - train) headline metric: how much the run overfits.

    Needs ``results["train"]`` (the report's ``fitgap`` step adds it)."""
    test, train = headlines(results), headlines(results, "train")
    return sum(test[t] - train[t] for t in test) / len(test)


def task(name: str) -> Metric:
    """A metric function: the test headline metric of task ``name``."""
    def fn(results):
        return task_headline(results, name)
    fn.__name__ = f"{name}"
    return fn


def metric(task_name: str, metric_name: str) -> Metric:
    """A metric function: test ``metric_name`` of task ``task_name`` (e.g. rating rmse)."""
    def fn(results):
        return float(results["tasks"][task_name][metric_name])
    fn.__name__ = f"{task_name} {metric_name}"
    return fn


def ranking(which: str = "click", truth: str = "relevance", measure: str = "ndcg") -> Metric:
    """A metric function: a ranking measure of a recommendation run (``results["ranking"]``, test slates).

    which: a task name (ranking by that task's served prediction alone), "score" (the served score)
    or "logged" (the logged order); truth: "relevance" or "satisfaction"; measure: "ndcg" (NDCG@k)
    or "auc" (slate AUC). Higher is better for both measures."""
    def fn(results):
        r = results.get("ranking")
        if r is None:
            raise KeyError("the run has no ranking metrics (metrics.json has no 'ranking'; not a ranking dataset?)")
        by_truth = r["score"] if which == "score" else r["logged"] if which == "logged" else r["tasks"][which]
        return float(by_truth[truth][measure])
    fn.__name__ = f"{which} {measure}/{truth}"
    return fn

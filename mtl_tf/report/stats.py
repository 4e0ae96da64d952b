"""Numbers over seeds and the verdict rules of the experiments report (pure Python, no TensorFlow).

Every verdict is one of ``SUPPORTED``, ``NOT_SUPPORTED``, ``INCONCLUSIVE`` and comes with the
numbers and the rule that produced it. The rules (stated again in ``reports/claims.md``):

* a difference between two settings is *resolved* when ``|mean_a - mean_b| > 2 * se``, with
  ``se = sqrt(s_a^2 / n_a + s_b^2 / n_b)`` (sample standard deviations over seeds); with fewer
  than two seeds on either side nothing is resolved (no spread to compare with);
* "A beats B" (lower is better): supported when resolved in A's favour, not supported when
  resolved in B's favour, inconclusive when not resolved;
* "A and B are the same" (needs two seeds or more on each side): supported when
  ``|mean_a - mean_b| + 2 * se <= rel_tol * |pooled mean|`` (the whole interval inside the
  margin); not supported when the difference is both resolved and larger than that margin; else
  inconclusive;
* settings run on the same data (same seed, same data flags) are compared *paired*: se is the
  standard error of the per-seed differences, ``std(a_i - b_i) / sqrt(n)``.
"""

import math
from dataclasses import dataclass, field
from typing import List, Sequence

SUPPORTED = "supported"
NOT_SUPPORTED = "not supported"
INCONCLUSIVE = "inconclusive"
_ORDER = {NOT_SUPPORTED: 0, INCONCLUSIVE: 1, SUPPORTED: 2}
Z = 2.0  # resolved = more than Z standard errors apart


@dataclass
class Verdict:
    """A verdict and the one-line reason (with the numbers) that produced it."""
    verdict: str
    reason: str
    parts: List["Verdict"] = field(default_factory=list)

    def __post_init__(self):
        if self.verdict not in _ORDER:
            raise ValueError(f"verdict must be one of {sorted(_ORDER)}, got {self.verdict!r}")


def mean(values: Sequence[float]) -> float:
    values = [float(v) for v in values]
    if not values:
        raise ValueError("mean of no values: a setting has no finished runs")
    return sum(values) / len(values)


def std(values: Sequence[float]) -> float:
    """Sample standard deviation (ddof=1); nan for fewer than two values."""
    values = [float(v) for v in values]
    if len(values) < 2:
        return math.nan
    m = mean(values)
    return math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))


def fmt(values: Sequence[float], digits: int = 4) -> str:
    """'mean ± std' over seeds ('mean' alone for one seed)."""
    s = std(values)
    m = f"{mean(values):.{digits}g}"
    return m if math.isnan(s) else f"{m} ± {s:.2g}"


def std_error(a: Sequence[float], b: Sequence[float], paired: bool = False) -> float:
    """Standard error of mean(a) - mean(b); nan when either side has fewer than two values.

    paired: a[i] and b[i] come from the same seed (same data): the se of the mean of a[i] - b[i]."""
    if len(a) < 2 or len(b) < 2:
        return math.nan
    if paired:
        if len(a) != len(b):
            raise ValueError(f"paired values need equal lengths, got {len(a)} and {len(b)}")
        return std([x - y for x, y in zip(a, b)]) / math.sqrt(len(a))
    return math.sqrt(std(a) ** 2 / len(a) + std(b) ** 2 / len(b))


def resolved(a: Sequence[float], b: Sequence[float], paired: bool = False) -> bool:
    """Whether the means of a and b are more than Z standard errors apart (False without spread)."""
    se = std_error(a, b, paired)
    if math.isnan(se):
        return False
    diff = abs(mean(a) - mean(b))
    return diff > Z * se if se > 0 else diff > 0


def _se_text(se: float, paired: bool) -> str:
    return f"2·se {Z * se:.2g}{', paired by seed' if paired else ''}"


def beats(a: Sequence[float], b: Sequence[float], name_a: str = "A", name_b: str = "B",
          paired: bool = False, lower_is_better: bool = True) -> Verdict:
    """Verdict on "a beats b": lower is better by default (the headline metrics), else higher (NDCG, AUC).

    The difference shown is positive when a is better."""
    ma, mb, se = mean(a), mean(b), std_error(a, b, paired)
    gain = mb - ma if lower_is_better else ma - mb
    numbers = f"{name_a} {fmt(a)} vs {name_b} {fmt(b)} (difference {gain:+.3g}, {_se_text(se, paired)})"
    if math.isnan(se):
        return Verdict(INCONCLUSIVE, f"{numbers}: fewer than 2 seeds, no spread to judge by")
    if resolved(a, b, paired):
        if gain > 0:
            return Verdict(SUPPORTED, f"{numbers}: {name_a} better, resolved")
        return Verdict(NOT_SUPPORTED, f"{numbers}: {name_b} better, resolved")
    return Verdict(INCONCLUSIVE, f"{numbers}: within the noise over seeds")


def same(a: Sequence[float], b: Sequence[float], rel_tol: float = 0.05, name_a: str = "A",
         name_b: str = "B", paired: bool = False) -> Verdict:
    """Verdict on "a and b are the same" up to ``rel_tol`` of their pooled mean.

    Supported only when the whole interval difference ± Z·se lies inside the margin."""
    ma, mb = mean(a), mean(b)
    margin = rel_tol * abs(mean(list(a) + list(b)))
    se = std_error(a, b, paired)
    numbers = (f"{name_a} {fmt(a)} vs {name_b} {fmt(b)} (|difference| {abs(ma - mb):.3g}, "
               f"margin {margin:.2g} = {rel_tol:.0%} of the mean, {_se_text(se, paired)})")
    if math.isnan(se):
        return Verdict(INCONCLUSIVE, f"{numbers}: fewer than 2 seeds, no spread to judge by")
    if abs(ma - mb) + Z * se <= margin:
        return Verdict(SUPPORTED, f"{numbers}: difference ± 2·se inside the margin")
    if resolved(a, b, paired) and abs(ma - mb) > margin:
        return Verdict(NOT_SUPPORTED, f"{numbers}: resolved difference larger than the margin")
    return Verdict(INCONCLUSIVE, f"{numbers}: the noise over seeds is too large to tell")


def combine(parts: Sequence[Verdict], joiner: str = "; ") -> Verdict:
    """All parts must hold: the weakest part's verdict, every part's reason."""
    if not parts:
        raise ValueError("combine() needs at least one part")
    worst = min(parts, key=lambda v: _ORDER[v.verdict])
    return Verdict(worst.verdict, joiner.join(f"[{p.verdict}] {p.reason}" for p in parts), list(parts))


def rank_correlation(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation (average ranks for ties); nan for fewer than 3 points or no variation."""
    if len(x) != len(y):
        raise ValueError(f"rank_correlation needs equal lengths, got {len(x)} and {len(y)}")
    if len(x) < 3:
        return math.nan
    rx, ry = _ranks(x), _ranks(y)
    mx, my = mean(rx), mean(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    sxx = sum((a - mx) ** 2 for a in rx)
    syy = sum((b - my) ** 2 for b in ry)
    if sxx == 0 or syy == 0:
        return math.nan
    return sxy / math.sqrt(sxx * syy)


def _ranks(values):
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2.0
        i = j + 1
    return ranks

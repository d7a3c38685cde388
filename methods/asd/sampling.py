"""ASD stage (a): how many images to pseudo-label (n_l), and which, round after round.

The coverage formula (ASD, via the themoonlight.io review; research/asd-simgcd.md §1.1): with k
balanced classes of n/k images, a uniform draw of n_l images covers every class with probability

    P_all(n_l, k, n) = 1 - sum_{i=1..k} (-1)^(i-1) C(k, i) C(n - i n/k, n_l) / C(n, n_l).

n_l defaults to the smallest value with P_all >= ``coverage`` (0.99). Rounds draw disjoint sets
("resampled without repeats", the same review): one seeded permutation of the images, cut into
consecutive blocks of n_l.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import gammaln


def _log_comb(a: float, b: int) -> float:
    return float(gammaln(a + 1) - gammaln(b + 1) - gammaln(a - b + 1)) if a >= b else -math.inf


def coverage_probability(n_l: int, k: int, n: int) -> float:
    """P_all(n_l, k, n) by inclusion-exclusion (class sizes n/k, real-valued for gammaln)."""
    base = _log_comb(n, n_l)
    terms = [(-1) ** (i - 1) * math.exp(_log_comb(k, i) + _log_comb(n - i * n / k, n_l) - base) for i in range(1, k + 1)]
    return 1.0 - math.fsum(terms)


def coverage_n_l(k: int, n: int, coverage: float = 0.99) -> int:
    """Smallest n_l with P_all >= ``coverage`` (at most n).

    The search starts from the Bonferroni bound 1 - k C(n - n/k, n_l) / C(n, n_l) >= coverage
    (an n_l that surely suffices) and steps down while the exact sum still reaches the target,
    so the alternating sum is only evaluated where it is near 1 and numerically safe.
    """
    lo, hi = k, n
    while lo < hi:  # the Bonferroni bound is monotone in n_l
        mid = (lo + hi) // 2
        if 1 - k * math.exp(_log_comb(n - n / k, mid) - _log_comb(n, mid)) >= coverage:
            hi = mid
        else:
            lo = mid + 1
    n_l = lo
    while n_l > k and coverage_probability(n_l - 1, k, n) >= coverage:
        n_l -= 1
    return n_l


def round_samples(n: int, n_l: int, rounds: int, seed: int) -> list[np.ndarray]:
    """Disjoint uniform draws of n_l rows, one per round (fewer rounds if the images run out)."""
    order = np.random.default_rng(seed).permutation(n)
    return [np.sort(order[r * n_l : (r + 1) * n_l]) for r in range(rounds) if (r + 1) * n_l <= n]

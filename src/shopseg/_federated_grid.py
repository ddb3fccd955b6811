"""The federated fit's public histogram grid and a site's noise (:mod:`shopseg.federated`): values binned on
t = sign(x) log1p(|x|), quantiles read from (noisy) bin counts, and the Laplace / Gaussian mechanisms."""

from __future__ import annotations

import math

import numpy as np

from .errors import ConfigError

# Histogram grid on t = sign(x) * log1p(|x|): public, the same for every site.
BIN_WIDTH = 0.01
T_MAX = 16.0  # |x| up to expm1(16) ~ 8.9 million; beyond lands in the end bins

def n_bins(width: float = BIN_WIDTH) -> int:
    return round(2 * T_MAX / width)


def _to_grid(x: np.ndarray, width: float = BIN_WIDTH) -> np.ndarray:
    t = np.sign(x) * np.log1p(np.abs(x))
    return np.clip(np.floor((t + T_MAX) / width), 0, n_bins(width) - 1).astype(np.int64)


def _from_grid(b, width: float = BIN_WIDTH) -> float:
    """The raw value at the middle of bin ``b``."""
    t = -T_MAX + (b + 0.5) * width
    return float(np.sign(t) * np.expm1(abs(t)))


def hist_quantile(counts: np.ndarray, q: float, width: float = BIN_WIDTH, first_bin: int = 0) -> float:
    """The ``q`` quantile of the values summarised by grid ``counts`` (the middle of the bin holding it).

    Noisy counts are summed as they come (the noise has mean 0, so the running
    total stays unbiased; clipping each bin at 0 would pile the positive noise of
    thousands of empty bins onto the tails) and the running total is made monotone.
    ``counts`` may be a slice of the grid starting at bin ``first_bin``.

    >>> c = np.bincount(_to_grid(np.array([1.0, 2.0, 3.0, 4.0, 100.0])), minlength=n_bins())
    >>> round(hist_quantile(c, 0.5), 2)  # the median, 3, to within half a bin (0.5 %)
    2.99
    """
    c = np.asarray(counts, dtype=float)
    if q > 0.5:  # count from the top: only the bins above the quantile add their noise
        b = len(c) - 1 - _rank_bin(c[::-1], 1 - q)
    else:
        b = _rank_bin(c, q)
    return _from_grid(b + first_bin, width)


def _rank_bin(c: np.ndarray, q: float) -> int:
    cum = np.maximum.accumulate(np.cumsum(c))
    n = cum[-1] if len(cum) else 0.0
    if n <= 0:
        return len(c) // 2
    # np.quantile's "linear" method puts the q quantile at 0-based rank q * (n - 1)
    return int(min(np.searchsorted(cum, math.floor(q * (n - 1) + 1e-9) + 1 - 1e-9), len(c) - 1))


class Privacy:
    """A site's noise: ``mechanism`` "laplace" or "gaussian", total ``epsilon`` over the whole fit.

    ``delta`` is for the Gaussian mechanism; ``clip`` bounds each scaled feature
    (standard deviations) in the seeds and step rounds, so a sum's sensitivity is finite.
    """

    def __init__(self, epsilon: float, mechanism: str = "laplace", delta: float = 1e-6, clip: float = 4.0):
        if mechanism not in ("laplace", "gaussian"):
            raise ConfigError(f"The 'mechanism' parameter must be 'laplace' or 'gaussian'. Got {mechanism!r} instead.")
        if not (isinstance(epsilon, (int, float)) and epsilon > 0 and math.isfinite(epsilon)):
            raise ConfigError(f"The 'epsilon' parameter must be a number > 0. Got {epsilon!r} instead.")
        if not 0 < delta < 1:
            raise ConfigError(f"The 'delta' parameter must be in (0, 1). Got {delta!r} instead.")
        if not clip > 0:
            raise ConfigError(f"The 'clip' parameter must be > 0. Got {clip!r} instead.")
        self.epsilon, self.mechanism, self.delta, self.clip = float(epsilon), mechanism, float(delta), float(clip)

    def scale(self, eps: float, l1: float, l2: float) -> float:
        """Laplace scale b = L1 / eps, or Gaussian sigma = L2 sqrt(2 ln(1.25 / delta)) / eps."""
        if self.mechanism == "laplace":
            return l1 / eps
        return l2 * math.sqrt(2 * math.log(1.25 / self.delta)) / eps

    def noise(self, rng: np.random.Generator, shape, eps: float, l1: float, l2: float) -> np.ndarray:
        s = self.scale(eps, l1, l2)
        return rng.laplace(0.0, s, shape) if self.mechanism == "laplace" else rng.normal(0.0, s, shape)

"""Helpers shared by the benchmark scripts (run as scripts: ``python benchmarks/NAME.py``)."""

from __future__ import annotations

import math


def peak_gb() -> float:
    """Peak resident memory of this process (VmHWM), in GB (ru_maxrss where /proc is absent)."""
    from tokenomy.market.shard_task import peak_rss_gb

    peak = peak_rss_gb()
    if peak > 0:
        return peak
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def loglog_slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares exponent b of y ≈ a·x^b (None with fewer than two points)."""
    if len(points) < 2:
        return None
    xs = [math.log(x) for x, _ in points]
    ys = [math.log(y) for _, y in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )

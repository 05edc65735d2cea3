"""Score timelines of video files and streams: anomaly score against frame time, and its peaks.

A peak is a local maximum of the score (a plateau counts once, at its middle) that stands out from
its surroundings by at least ``min_prominence`` (topographic prominence, the rule of
``scipy.signal.find_peaks``) and lies at least ``min_separation_s`` seconds of video from any higher
peak (the higher one wins, as with ``find_peaks``' ``distance``, but in seconds: scored frames need not
be evenly spaced). Unlike ``find_peaks``, the first and last frames can be peaks: a defect visible as
the video starts is still a defect. Plain numpy: a few dozen lines, no scipy dependency at run time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_MIN_SEPARATION_S = 1.0
DEFAULT_MIN_PROMINENCE = 0.05
#: Default peak prominence of a recipe's timeline: a tenth of its threshold (scores of different
#: detectors live on different scales; the threshold is the scale the recipe calibrated).
PEAK_PROMINENCE_OF_THRESHOLD = 0.1


@dataclass(frozen=True)
class TimelinePoint:
    """One scored frame: its time in the video (seconds), its score, and its stored inspection."""

    time_s: float
    score: float
    inspection_id: str | None = None
    frame_index: int | None = None


@dataclass(frozen=True)
class Peak:
    """A peak of the score timeline."""

    time_s: float
    score: float
    prominence: float
    position: int  # index into the timeline's points (sorted by time)
    inspection_id: str | None = None
    frame_index: int | None = None


def _local_maxima(scores: np.ndarray) -> list[tuple[int, int]]:
    """Runs ``(first, last)`` of equal values higher than both neighbours (the series' ends count as lower)."""
    runs, n, a = [], len(scores), 0
    while a < n:
        b = a
        while b + 1 < n and scores[b + 1] == scores[a]:
            b += 1
        if (
            (a == 0 or scores[a - 1] < scores[a])
            and (b == n - 1 or scores[b + 1] < scores[a])
            and not (a == 0 and b == n - 1)
        ):
            runs.append((a, b))
        a = b + 1
    return runs


def _prominence(scores: np.ndarray, first: int, last: int) -> float:
    """How far the run ``first..last`` stands above the higher of its two bases (``find_peaks``' rule).

    Each base is the lowest score between the peak and the nearest higher score on that side (or the
    series' end); a side with no frames (a peak at the very start or end) has no base and is ignored.
    """
    value = scores[first]
    bases = []
    j = first - 1
    if j >= 0:
        low = value
        while j >= 0 and scores[j] <= value:
            low = min(low, scores[j])
            j -= 1
        bases.append(low)
    j = last + 1
    if j < len(scores):
        low = value
        while j < len(scores) and scores[j] <= value:
            low = min(low, scores[j])
            j += 1
        bases.append(low)
    return float(value - max(bases)) if bases else 0.0


def find_peaks(
    points: Sequence[TimelinePoint],
    *,
    min_separation_s: float = DEFAULT_MIN_SEPARATION_S,
    min_prominence: float = DEFAULT_MIN_PROMINENCE,
) -> list[Peak]:
    """The peaks of a score timeline, in time order (see the module docstring).

    Raises:
        ValueError: A negative separation or prominence.
    """
    if min_separation_s < 0 or min_prominence < 0:
        raise ValueError("min_separation_s and min_prominence must not be negative")
    ordered = sorted((p for p in points if np.isfinite(p.score) and np.isfinite(p.time_s)), key=lambda p: p.time_s)
    scores = np.array([p.score for p in ordered], dtype=np.float64)
    candidates = []
    for first, last in _local_maxima(scores):
        prominence = _prominence(scores, first, last)
        if prominence >= min_prominence:
            candidates.append(((first + last) // 2, prominence))
    kept: list[tuple[int, float]] = []
    for position, prominence in sorted(candidates, key=lambda c: (-scores[c[0]], ordered[c[0]].time_s)):
        t = ordered[position].time_s
        if all(abs(t - ordered[k].time_s) >= min_separation_s for k, _ in kept):
            kept.append((position, prominence))
    return [
        Peak(
            time_s=ordered[k].time_s,
            score=float(scores[k]),
            prominence=prom,
            position=k,
            inspection_id=ordered[k].inspection_id,
            frame_index=ordered[k].frame_index,
        )
        for k, prom in sorted(kept)
    ]


def format_time(seconds: float) -> str:
    """``m:ss.s`` (or ``h:mm:ss.s``) for a time in a video."""
    seconds = max(0.0, float(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{int(hours)}:{int(minutes):02d}:{secs:04.1f}" if hours else f"{int(minutes)}:{secs:04.1f}"


def recipe_peaks(
    points: Sequence[TimelinePoint],
    threshold: float | None,
    *,
    min_separation_s: float = DEFAULT_MIN_SEPARATION_S,
    min_prominence: float | None = None,
) -> list[Peak]:
    """The peaks the station reports (run summary, window, report): prominence a tenth of the
    recipe's threshold unless given (:data:`DEFAULT_MIN_PROMINENCE` without a threshold)."""
    if len(points) < 2:
        return []
    if min_prominence is None:
        min_prominence = PEAK_PROMINENCE_OF_THRESHOLD * abs(threshold) if threshold else DEFAULT_MIN_PROMINENCE
    return find_peaks(points, min_separation_s=min_separation_s, min_prominence=min_prominence)

"""Which frames of a clip its T flow steps reach: the sequence every model reads.

T = features.steps flows, each from the ONSET frame to a sampled frame. T = 1 is the
classic onset -> apex flow. For T > 1, r = T // 2 + 1 steps rise (fractions 1/r .. r/r of
onset -> apex, the last being the apex itself) and T - r fall (fractions 1/(f+1) .. f/(f+1) of
apex -> offset; the offset itself, back near neutral, is left out). T = 3: mid-rise, apex,
mid-fall. A clip with fewer than T + 1 frames is sampled with repetition (a frame may serve
two steps) rather than rejected: an image pair (``mer predict``) is a two-frame clip, and the
sequence keeps its meaning (rise, apex, fall) at any length.
"""

from __future__ import annotations

import numpy as np


def apex_step(steps: int) -> int:
    """Index, among T = ``steps`` sampled flows, of the onset -> apex flow (the last rising one)."""
    return steps // 2


def sample_steps(count: int, apex_index: int, steps: int) -> tuple[int, ...]:
    """Frame indices (into ``count`` frames, onset = 0) of the T sampled flow targets.

    Non-decreasing, every index in 1..count-1, the apex always one of them (at ``apex_step``).
    """
    rise = apex_step(steps) + 1
    fall = steps - rise
    last = count - 1
    indices = [apex_index * i / rise for i in range(1, rise + 1)]
    indices += [apex_index + (last - apex_index) * j / (fall + 1) for j in range(1, fall + 1)]
    # Round half up explicitly (Python's round() rounds half to even).
    return tuple(min(last, max(1, int(np.floor(x + 0.5)))) for x in indices)

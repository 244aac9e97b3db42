"""The MEGC spotting metric: spotted intervals against ground truth, IoU >= 0.5, pooled F1.

Protocol (MEGC2019 spotting task, Li et al., "Spotting micro-expressions on long videos
sequences", FG 2019, arXiv:1812.10306; kept by MEGC2020-2023 and the STRS metric of Liong et
al., Signal Processing: Image Communication 110, 2023):

- An interval covers ``onset..offset`` inclusive; IoU is counted in frames:
  ``|spotted ∩ truth| / |spotted ∪ truth|``.
- A spotted interval is a true positive (TP) when its IoU with a ground-truth interval of the
  same kind (micro or macro) is at least the threshold (0.5). Each ground-truth interval is
  matched at most once and each spotted interval at most once, so a second detection of the
  same expression is a false positive, as in the challenge. The pairs are a maximum matching
  (as many TPs as any one-to-one pairing allows: a greedy pairing can leave a spotted interval
  and a ground truth unpaired at IoU ties of 0.5), and among maximum matchings the one of
  largest total IoU (``match``).
- One-frame intervals (onset = offset) count as one frame: IoU 1 with the same frame, 1/2
  inside a two-frame interval. (The MEGC2020 baseline's code scores any interval with
  offset <= onset as IoU 0; no corpus annotates one.)
- Counts are pooled over every video of a corpus (summed, not averaged per video):
  precision = TP / spotted, recall = TP / ground truth, F1 = 2PR / (P + R).
- ``overall`` pools the two kinds: TP = TP_micro + TP_macro over all spotted and all
  ground-truth intervals (the challenge's "overall" row).
- A ratio with a zero denominator is 0 (no spotted interval: precision 0; no ground truth:
  recall 0; P + R = 0: F1 0), as in the challenge's and STRS's evaluation code.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mer.data.long_video import KINDS, Interval

# The MEGC threshold; the metric's caller may pass another (e.g. for an IoU sweep).
MEGC_IOU = 0.5
ROWS = (*KINDS, "overall")


def iou(a: Interval, b: Interval) -> float:
    """Intersection over union of two inclusive frame intervals, in frames (0..1)."""
    inter = min(a.offset, b.offset) - max(a.onset, b.onset) + 1
    if inter <= 0:
        return 0.0
    return inter / (a.length + b.length - inter)


def match(spotted: Sequence[Interval], truth: Sequence[Interval], threshold: float = MEGC_IOU
          ) -> list[tuple[int, int]]:
    """One-to-one (spotted index, truth index) pairs with IoU >= ``threshold``, kinds equal,
    sorted: a maximum matching of largest total IoU.

    Solved as an assignment (scipy's linear_sum_assignment) whose pair weight N + IoU, with N
    above any matching's size, puts the number of pairs first and their IoU second; the result
    depends on nothing but the two lists.
    """
    import numpy as np
    from scipy.optimize import linear_sum_assignment

    if not 0 < threshold <= 1:
        raise ValueError(f"IoU threshold must lie in (0, 1], got {threshold}")
    overlap = np.array([[iou(s, t) if s.kind == t.kind else 0.0 for t in truth]
                        for s in spotted]).reshape(len(spotted), len(truth))
    allowed = overlap >= threshold
    if not allowed.any():
        return []
    weight = np.where(allowed, min(overlap.shape) + 1 + overlap, 0.0)
    rows, cols = linear_sum_assignment(weight, maximize=True)
    return sorted((int(i), int(j)) for i, j in zip(rows, cols, strict=True) if allowed[i, j])


@dataclass(frozen=True)
class SpotCounts:
    """Pooled counts of one row (micro, macro or overall) and the ratios MEGC reports."""

    tp: int
    spotted: int
    truth: int

    def __add__(self, other: SpotCounts) -> SpotCounts:
        return SpotCounts(self.tp + other.tp, self.spotted + other.spotted,
                          self.truth + other.truth)

    @property
    def fp(self) -> int:
        return self.spotted - self.tp

    @property
    def fn(self) -> int:
        return self.truth - self.tp

    @property
    def precision(self) -> float:
        return self.tp / self.spotted if self.spotted else 0.0

    @property
    def recall(self) -> float:
        return self.tp / self.truth if self.truth else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "spotted": self.spotted,
                "truth": self.truth, "precision": self.precision, "recall": self.recall,
                "f1": self.f1}


ZERO = SpotCounts(0, 0, 0)


def video_counts(spotted: Sequence[Interval], truth: Sequence[Interval],
                 threshold: float = MEGC_IOU) -> dict[str, SpotCounts]:
    """Counts of one video per row: 'micro', 'macro', 'overall'."""
    pairs = match(spotted, truth, threshold)
    rows: dict[str, SpotCounts] = {}
    for kind in KINDS:
        tp = sum(1 for i, _ in pairs if spotted[i].kind == kind)
        rows[kind] = SpotCounts(tp, sum(s.kind == kind for s in spotted),
                                sum(t.kind == kind for t in truth))
    rows["overall"] = rows["micro"] + rows["macro"]
    return rows


def pooled_counts(videos: Iterable[tuple[Sequence[Interval], Sequence[Interval]]],
                  threshold: float = MEGC_IOU) -> dict[str, SpotCounts]:
    """MEGC's corpus-level counts: each video's (spotted, truth) matched, then summed."""
    totals = {row: ZERO for row in ROWS}
    for spotted, truth in videos:
        for row, counts in video_counts(spotted, truth, threshold).items():
            totals[row] = totals[row] + counts
    return totals


def table(counts: dict[str, SpotCounts]) -> dict[str, dict[str, float | int]]:
    """The report's form: row -> tp, fp, fn, spotted, truth, precision, recall, f1."""
    return {row: counts[row].as_dict() for row in ROWS}


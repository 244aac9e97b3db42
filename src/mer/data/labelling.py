"""The label scheme step of the data stage: each clip's class under labels.scheme, per corpus.

Keeps the clips whose emotion the scheme maps to a class in their corpus (mer.labels), counts
the dropped ones by emotion, and leaves out the clips a published protocol leaves out, each
with its reason, so reports/data.json says exactly what was kept and why.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from mer.core.frames import NO_FRAME
from mer.data.clips import APEX_NO_COLUMN, APEX_REPAIRED, Clip
from mer.labels import CASME2, MEGC_3, LabelScheme, corpus_of


@dataclass(frozen=True)
class Excluded:
    """A clip the scheme's protocol leaves out although its emotion has a class."""

    clip_id: str
    source: str
    reason: str


@dataclass(frozen=True)
class Labelled:
    clips: tuple[Clip, ...]  # kept by the scheme
    labels: tuple[str, ...]  # class of each kept clip
    # each clip's dataset (a flow-image CSV's dataset column) -> emotion the scheme drops ->
    # rows dropped
    dropped_by_dataset: dict[str, dict[str, int]]
    excluded: tuple[Excluded, ...] = ()

    @property
    def dropped(self) -> dict[str, int]:
        """Emotion the scheme drops -> rows dropped, over every dataset, by emotion."""
        total: Counter[str] = Counter()
        for counts in self.dropped_by_dataset.values():
            total.update(counts)
        return dict(sorted(total.items()))


def protocol_exclusion(clip: Clip, scheme: LabelScheme, dataset: str) -> str | None:
    """Why the scheme's published protocol leaves ``clip`` out, or None when it keeps it.

    MEGC2019's composite list of CASME II clips (145) leaves out the two disgust clips of the
    2014 coding sheet that have no usable apex: the one whose ApexFrame is '/' and the one
    whose apex equals its onset. The rule is written by kind (a disgust clip whose sheet apex
    is missing or at the onset) so it finds them by their annotation wherever they are.
    """
    if scheme.name != MEGC_3 or corpus_of(dataset) != CASME2 or clip.emotion != "disgust":
        return None
    # Only a coded sheet says so: not a sheet without an apex column, not a flow image (a
    # composite's flow-image list is already the composite's).
    if clip.folder is None or APEX_NO_COLUMN in clip.flags:
        return None
    if clip.apex == NO_FRAME and APEX_REPAIRED not in clip.flags:
        return ("MEGC2019 composite: its CASME II list leaves out the disgust clips whose "
                "sheet gives no apex")
    if clip.apex == clip.onset:
        return ("MEGC2019 composite: its CASME II list leaves out the disgust clips whose "
                "sheet apex equals the onset")
    return None


def apply_scheme(clips: Sequence[Clip], scheme: LabelScheme, dataset: str) -> Labelled:
    """The clips of one corpus (``dataset``: its format or the clip's own dataset name) with
    their class; dropped emotions counted, protocol exclusions listed."""
    kept, labels, excluded = [], [], []
    dropped: dict[str, Counter[str]] = {}
    for clip in clips:
        # A flow-image CSV names each row's corpus; otherwise the adapter's format decides.
        corpus = clip.dataset if corpus_of(clip.dataset) else dataset
        label = scheme.label_of(clip.emotion, corpus)
        if label is None:
            dropped.setdefault(clip.dataset, Counter())[clip.emotion] += 1
            continue
        reason = protocol_exclusion(clip, scheme, corpus)
        if reason is not None:
            excluded.append(Excluded(clip.clip_id, clip.source, reason))
            continue
        kept.append(clip)
        labels.append(label)
    return Labelled(tuple(kept), tuple(labels),
                    {name: dict(sorted(counts.items())) for name, counts in dropped.items()},
                    tuple(excluded))

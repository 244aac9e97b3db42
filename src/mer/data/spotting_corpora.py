"""The long-video corpora spotting reads, by name: one call from a source name to LongVideos.

``casme_sq``: CAS(ME)^2 (mer.data.casme_sq, also the format of the synthetic long videos);
``samm_lv``: SAMM Long Videos (mer.data.samm_lv). Each adapter's docstring is its format.
``read_spotting_corpus`` reads the one spotting params name; ``spotting_workbook`` names the
workbook it reads (`mer spot-eval` records its sha256 with the fitted p).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from mer.data import casme_sq, samm_lv
from mer.data.long_video import LongVideo
from mer.data.sheets import warn_if_untracked
from mer.errors import DatasetError, ParamsError

if TYPE_CHECKING:
    from mer.config import SpottingParams

log = logging.getLogger(__name__)

# source name -> reader(root, annotations or None for the corpus's usual workbook in root)
READERS: dict[str, Callable[[Path, Path | None], list[LongVideo]]] = {
    "casme_sq": casme_sq.read_casme_sq,
    "samm_lv": samm_lv.read_samm_lv,
}
# source name -> the corpus's usual workbook in root (what a reader reads without annotations)
WORKBOOKS: dict[str, Callable[[Path], Path]] = {
    "casme_sq": casme_sq.find_workbook,
    "samm_lv": samm_lv.find_workbook,
}


def read_long_videos(source: str, root: Path, annotations: Path | None = None
                     ) -> list[LongVideo]:
    """Every long video of corpus ``source`` at ``root``, sorted by (subject, video).

    ``annotations`` is the corpus's workbook; None looks for its usual file name in ``root``.
    Raises ParamsError for an unknown source, DatasetError (naming file, sheet and row) for
    anything unusable in the corpus; a warning names the videos no row codes.
    """
    if source not in READERS:
        raise ParamsError(f"unknown long-video corpus {source!r}; use one of "
                          f"{', '.join(READERS)}")
    videos = sorted(READERS[source](Path(root), annotations),
                    key=lambda v: (v.subject, v.video))
    seen: set[tuple[str, str]] = set()
    for video in videos:
        if (video.subject, video.video) in seen:
            raise DatasetError(f"{root}: {source} video {video.subject}/{video.video} is found "
                               "twice; keep one copy of its frames")
        seen.add((video.subject, video.video))
    uncoded = [f"{video.subject}/{video.video}" for video in videos if not video.intervals]
    if uncoded:
        shown = ", ".join(uncoded[:5]) + (f" and {len(uncoded) - 5} more"
                                          if len(uncoded) > 5 else "")
        log.warning("%s: %d of the %d %s videos have no coded interval (%s): they are scored "
                    "as holding no expression, so every interval spotted in them is a false "
                    "positive. If the workbook lacks their rows (a partial copy), add them, "
                    "or move those videos' frames out of %s", root, len(uncoded), len(videos),
                    source, shown, root)
    return videos


def read_spotting_corpus(spotting: SpottingParams) -> list[LongVideo]:
    """The long videos of spotting.source at spotting.root, as ``read_long_videos`` reads them.

    The synthetic set is written in CAS(ME)^2's format but at spotting.synthetic.fps, so its
    videos take that frame rate, not CAS(ME)^2's 30 fps: the spotter's windows are in seconds.
    """
    videos = read_long_videos(_format(spotting), spotting.root, spotting.annotations)
    warn_if_untracked(spotting_workbook(spotting), spotting.root, "spotting", "spot-eval")
    subjects = sorted({video.subject for video in videos})
    if len(subjects) < 2:  # before the signals (h71: minutes of work, then a bare refusal)
        raise DatasetError(f"{spotting.root}: {len(subjects)} subject(s) with videos to score "
                           f"({', '.join(subjects) or 'none'}); spot-eval's leave-one-subject-"
                           "out needs 2 or more: point spotting.root at the whole corpus (rows "
                           "left out of the ground truth, and videos holding only such rows, "
                           "are named in the warnings above)")
    if spotting.source != "synthetic":
        return videos
    return [replace(video, fps=spotting.synthetic.fps) for video in videos]


def spotting_workbook(spotting: SpottingParams) -> Path:
    """The workbook ``read_spotting_corpus`` reads: spotting.annotations, else the corpus's
    usual workbook in spotting.root. DatasetError naming spotting.annotations when root holds
    none or several."""
    if spotting.annotations is not None:
        return Path(spotting.annotations)
    return WORKBOOKS[_format(spotting)](Path(spotting.root))


def _format(spotting: SpottingParams) -> str:
    """The reader of spotting.source: the synthetic long videos are written as CAS(ME)^2."""
    return "casme_sq" if spotting.source == "synthetic" else spotting.source

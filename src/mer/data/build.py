"""The data stage's logic: any corpus -> the checked, labelled clip manifest and its report.

read the corpus (its adapter) -> no clip twice -> label scheme (dropped rows counted) ->
frames checked and repairs made (mer.data.frames) -> manifest table + data report.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from mer.config import DataParams
from mer.data.casme2 import read_casme2
from mer.data.clips import APEX_MISSING, Clip, Corpus, apply_scheme, check_unique
from mer.data.flow_images import check_flow_image, read_flow_images
from mer.data.frames import resolve_frames
from mer.data.manifest import COLUMNS, validate_manifest
from mer.data.samm import read_samm
from mer.data.smic import read_smic
from mer.errors import DatasetError, MerError
from mer.labels import LabelScheme, get_scheme

log = logging.getLogger(__name__)

SYNTHETIC = "synthetic"
SYNTHETIC_SHEET = "CASME2-coding-synthetic.xlsx"  # what `mer synthesize` writes into data.root
# Problems listed in one error: enough to see a pattern, short enough to read.
MAX_LISTED_PROBLEMS = 10

READERS: dict[str, Callable[[Path, Path | None], Corpus]] = {
    "casme2": read_casme2,
    "samm": read_samm,
    "smic": read_smic,
    "flow-images": read_flow_images,
}


def read_corpus(data: DataParams) -> Corpus:
    """The clips of data.source as its adapter reads them (frames not yet checked)."""
    if data.source == SYNTHETIC:
        # The embedded set is in CASME II's exact format: the real adapter reads it.
        sheet = data.annotations or data.root / SYNTHETIC_SHEET
        if not data.root.is_dir() or not sheet.is_file():
            raise DatasetError(f"{sheet} not found: the synthetic dataset has not been "
                               "generated; run `mer synthesize` (or `dvc repro`) first")
        return read_casme2(data.root, sheet, dataset=SYNTHETIC)
    return READERS[data.source](data.root, data.annotations)


def check_clip(clip: Clip) -> Clip:
    """A clip whose frames (or flow image) are on disk and readable, repairs flagged."""
    return resolve_frames(clip) if clip.folder is not None else check_flow_image(clip)


def check_clips(clips: Sequence[Clip], progress: bool = False) -> list[Clip]:
    """Every clip checked; all the problems found are raised together."""
    from tqdm import tqdm

    checked, problems = [], []
    for clip in tqdm(clips, desc="checking frames", unit="clip", disable=not progress):
        try:
            checked.append(check_clip(clip))
        except MerError as exc:  # a frame or image problem: keep looking, report them all
            problems.append(str(exc))
    if len(problems) == 1:
        raise DatasetError(problems[0])
    if problems:
        listed = "\n  ".join(problems[:MAX_LISTED_PROBLEMS])
        more = len(problems) - MAX_LISTED_PROBLEMS
        tail = f"\n  ... and {more} more" if more > 0 else ""
        raise DatasetError(f"{len(problems)} of {len(clips)} clips have problems:\n  "
                           f"{listed}{tail}")
    return checked


def manifest_table(clips: Sequence[Clip], labels: Sequence[str],
                   scheme: LabelScheme) -> pd.DataFrame:
    """The manifest (mer.data.manifest's columns), one row per clip, sorted by clip_id."""
    rows = [{
        "dataset": c.dataset, "subject": c.subject, "clip": c.clip, "clip_id": c.clip_id,
        "frame_paths": list(c.frame_paths), "onset": c.onset, "apex": c.apex,
        "offset": c.offset, "fps": c.fps, "aus": c.aus, "emotion": c.emotion, "label": label,
        "label_index": scheme.index_of(label), "flow_image": c.flow_image,
        "flags": list(c.flags), "source": c.source,
    } for c, label in zip(clips, labels, strict=True)]
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    table = table.astype({"onset": "int64", "apex": "int64", "offset": "int64",
                          "label_index": "int64", "fps": "float64"})
    return validate_manifest(table)


def data_report(corpus: Corpus, scheme: LabelScheme, clips: Sequence[Clip],
                labels: Sequence[str], dropped: dict[str, int]) -> dict[str, Any]:
    """reports/data.json: what the manifest holds, what was dropped and what was repaired."""
    ordered = sorted(zip(clips, labels, strict=True), key=lambda pair: pair[0].clip_id)
    per_class = Counter(labels)
    per_subject = Counter(c.subject for c in clips)
    flags = Counter(flag for c in clips for flag in c.flags)
    repairs = [{"clip_id": c.clip_id, "source": c.source, "flag": flag, "what": note}
               for c, _ in ordered for flag, note in c.notes]
    estimate = [c.clip_id for c, _ in ordered if APEX_MISSING in c.flags]
    return {
        "dataset": corpus.dataset,
        "annotations": corpus.annotations,
        "frames": corpus.frames_root,
        "scheme": scheme.name,
        "clips": len(clips),
        "subjects": len(per_subject),
        "clips_per_class": {name: per_class.get(name, 0) for name in scheme.classes},
        "clips_per_subject": dict(sorted(per_subject.items())),
        "dropped": {
            "rows": sum(dropped.values()),
            "reason": f"emotion is not a class of labels.scheme '{scheme.name}'",
            "by_emotion": dropped,
        },
        "repairs": {"count": len(repairs), "clips": repairs},
        "apex_to_estimate": {"count": len(estimate), "clip_ids": estimate},
        "flags": dict(sorted(flags.items())),
    }


def build_manifest(data: DataParams, scheme_name: str,
                   progress: bool = False) -> tuple[pd.DataFrame, dict[str, Any]]:
    """(manifest, data report) of data.source under a label scheme; DatasetError on bad input."""
    scheme = get_scheme(scheme_name)
    corpus = read_corpus(data)
    check_unique(corpus.clips)
    labelled = apply_scheme(corpus.clips, scheme, corpus.dataset)
    clips = check_clips(labelled.clips, progress)
    manifest = manifest_table(clips, labelled.labels, scheme)
    report = data_report(corpus, scheme, clips, labelled.labels, labelled.dropped)
    log.info("%s: %d clips of %d subjects under %s; %d rows dropped, %d repairs, %d apexes to "
             "estimate", corpus.dataset, report["clips"], report["subjects"], scheme.name,
             report["dropped"]["rows"], report["repairs"]["count"],
             report["apex_to_estimate"]["count"])
    return manifest, report

"""The embedded synthetic long videos, written in CAS(ME)^2's exact format.

The format is the one mer.data.casme_sq reads (its module docstring is the spec)::

    <root>/CAS(ME)^2code_final.xlsx     CASFEcode_final, naming rule1, naming rule2; no headers
    <root>/rawpic/s<NN>/<NN>_<code><description>/img1.jpg, img2.jpg, ...   30 fps
    <root>/ground_truth.csv             every interval with its AUs and true apex

Subjects are numbered from 15 as CAS(ME)^2's (s15, s16, ...); each has one long video (plan
and pixels: mer.synthetic.long_videos). Written into a new folder; the same params and seed
give byte-identical files whatever the worker count.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from pathlib import Path

from mer.config import LongVideoParams
from mer.core.workers import parallel_map
from mer.data.casme_sq import (
    CODING_SHEET,
    FRAMES_FOLDER,
    NAMING_SUBJECTS_SHEET,
    NAMING_VIDEOS_SHEET,
    WORKBOOK_NAME,
)
from mer.synthetic.long_videos import (
    LongVideoPlan,
    build_face,
    plan_long_videos,
    render_long_video,
)
from mer.synthetic.write_casme2 import (
    _normalised_zip,
    encode_jpeg,
    sheet_action_units,
    write_csv,
)

log = logging.getLogger(__name__)

GROUND_TRUTH = "ground_truth.csv"
FIRST_SUBJECT = 15  # CAS(ME)^2's subject folders start at s15
# (code, name, description) of CAS(ME)^2's videos, dealt to the subjects in turn.
VIDEOS = (("0101", "disgust1", "disgustingteeth"), ("0401", "anger1", "angryfight"),
          ("0502", "happy2", "cup"), ("0503", "happy3", "youth"),
          ("0102", "disgust2", "defecate"), ("0402", "anger2", "riskfight"))
# The workbook's emotion column (CAS(ME)^2 codes four classes).
SHEET_EMOTIONS = {"disgust": "negative", "repression": "negative", "happiness": "positive",
                  "surprise": "surprise", "others": "others"}
SHEET_TYPES = {"micro": "micro-expression", "macro": "macro-expression"}


@dataclass(frozen=True)
class Names:
    number: int  # subject number (folder s<number>)
    index: int  # subject index of the coding sheet, 1-based
    code: str
    name: str
    folder: str  # rawpic/s15/15_0101disgustingteeth


def names_of(plans: tuple[LongVideoPlan, ...]) -> list[Names]:
    out = []
    for i, plan in enumerate(plans):
        number = FIRST_SUBJECT + plan.subject - 1
        code, name, description = VIDEOS[i % len(VIDEOS)]
        out.append(Names(number, plan.subject, code, name,
                         f"{FRAMES_FOLDER}/s{number}/{number}_{code}{description}"))
    return out


def workbook_bytes(plans: tuple[LongVideoPlan, ...]) -> bytes:
    """The coding workbook: the three sheets, no header rows, frame numbers from 1."""
    from openpyxl import Workbook

    book = Workbook()
    coding = book.active
    coding.title = CODING_SHEET
    names = names_of(plans)
    for plan, n in zip(plans, names, strict=True):
        for j, e in enumerate(plan.expressions, start=1):
            coding.append([n.index, f"{n.name}_{j}", e.onset + 1, e.apex + 1, e.offset + 1,
                           sheet_action_units(e.aus), SHEET_EMOTIONS[e.emotion],
                           SHEET_TYPES[e.kind], SHEET_EMOTIONS[e.emotion]])
    rule1 = book.create_sheet(NAMING_SUBJECTS_SHEET)
    for n in names:
        rule1.append([n.number, f"s{n.number}", n.index])
    rule2 = book.create_sheet(NAMING_VIDEOS_SHEET)
    for code, name, _ in sorted({(n.code, n.name, "") for n in names}):
        rule2.append([code, name])
    book.properties.creator = "mer spot-synthesize"
    buffer = io.BytesIO()
    book.save(buffer)
    return _normalised_zip(buffer.getvalue())


def ground_truth_rows(plans: tuple[LongVideoPlan, ...]) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for plan, n in zip(plans, names_of(plans), strict=True):
        for e in plan.expressions:
            rows.append({"subject": f"s{n.number}", "video": f"{n.number}_{n.code}",
                         "onset": e.onset + 1, "apex": e.apex + 1, "offset": e.offset + 1,
                         "type": e.kind, "emotion": e.emotion,
                         "aus": "+".join(a.code for a in e.aus),
                         "intensities": "+".join(f"{a.intensity:.3f}" for a in e.aus)})
    return rows


def _write_video(task: tuple[LongVideoPlan, LongVideoParams, int, Path]) -> int:
    plan, params, seed, folder = task
    folder.mkdir(parents=True, exist_ok=False)
    face = build_face(plan, params, seed)
    count = 0
    for number, frame in enumerate(render_long_video(plan, face, params, seed), start=1):
        (folder / f"img{number}.jpg").write_bytes(encode_jpeg(frame, params.jpeg_quality))
        count += 1
    return count


def write_long_videos(root: str | Path, params: LongVideoParams, seed: int,
                      workers: int = 1) -> int:
    """Write the synthetic long videos into the new folder ``root``; frames written."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=False)
    plans = plan_long_videos(params, seed)
    (root / WORKBOOK_NAME).write_bytes(workbook_bytes(plans))
    write_csv(ground_truth_rows(plans), root / GROUND_TRUTH)
    tasks = [(plan, params, seed, root / n.folder) for plan, n in zip(plans, names_of(plans),
                                                                       strict=True)]
    frames = sum(parallel_map(_write_video, tasks, workers, "synthesize long videos",
                              "spotting.workers"))
    # No folder named: ``root`` is often a temporary one its caller renames (a break-it session)
    log.info("synthetic long videos: %d subjects, %d frames", len(plans), frames)
    return frames

"""The embedded synthetic dataset in SAMM's exact on-disk format (data.synthetic.corpora: samm).

Written into data.root beside the CASME II-format files, so the real SAMM adapter
(mer.data.samm.read_samm) reads it and the MEGC2019 composite runs on embedded data:

    <root>/SAMM_Micro_FACS_Codes_v2.xlsx     the coding sheet, with SAMM's layout and quirks
    <root>/SAMM/006/006_1_2/006_05562.jpg     greyscale frames onset..offset, 5-digit numbers
    <root>/SAMM_ground_truth.csv             true AUs with intensities and sides, true apex

SAMM's features reproduced (Davison et al., 2018, and the released sheet): 32 subjects with
3-digit ids 006..037, 159 clips at 200 fps, its class counts (anger 57 ... sadness 6), clip
folders ``<subject>_<inducement>_<n>``, frames numbered from the recording's start. The sheet
has ~13 rows of notes and citations above the header row, subjects written 6 or '006', Duration
cells that are formulas (=offset-onset+1) saved with their cached values as Excel saves them,
AU codes in SAMM's spellings ('A2' asymmetric, 'R14A' with an intensity letter, '4+7', 'L2 or
R2' when the coder was unsure of the side) and Apex Frame -1 on a row or two. Frames come from
the one renderer (mer.synthetic.write_casme2), converted to greyscale as SAMM's camera records; the
crops are face-sized like the CASME II format's (SAMM's real frames are 2040x1088).

Deterministic, with RNG streams of its own: adding SAMM never changes the CASME II files.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mer.config import SyntheticParams
from mer.errors import ParamsError
from mer.synthetic.face import AuEvent, SubjectFace
from mer.synthetic.write_casme2 import (
    APEX_SPREAD,
    FRAMES_SPREAD,
    JPEG_GREY,
    AuModel,
    CorpusWriter,
    FramesJob,
    SubjectPlan,
    Timing,
    _normalised_zip,
    au_intensities,
    first_side,
    pick_ids,
    plan_subjects,
    sample_aus,
    sample_timing,
    scaled_class_counts,
    scaled_size,
    shuffled_emotions,
    subject_counts,
    write_csv,
)

SHEET = "SAMM_Micro_FACS_Codes_v2.xlsx"
FRAMES_DIR = "SAMM"
GROUND_TRUTH = "SAMM_ground_truth.csv"
FPS = 200  # SAMM's frame rate (Davison et al., 2018)

# SAMM's size and classes (Davison et al., 2018; the released micro-expression sheet).
SAMM_SUBJECTS = 32
SAMM_CLIPS = 159
SAMM_SUBJECT_IDS = tuple(range(6, 38))  # folders 006..037
MAX_SUBJECT_ID = 999  # SAMM's subject folders have 3 digits (the adapter expects \d{3})
SAMM_CLASS_COUNTS = {"Anger": 57, "Contempt": 12, "Disgust": 9, "Fear": 8, "Happiness": 26,
                     "Other": 26, "Sadness": 6, "Surprise": 15}
# One of each MEGC2019 class (negative, positive, surprise) even in a tiny set.
MEGC_REQUIRED = ("Anger", "Happiness", "Surprise")

# SAMM's micro-movements last at most 500 ms (101 frames at 200 fps); the sheet's durations
# run from about 30 frames, typically ~70. Frames are numbered from the start of each
# subject's recording, 5 digits (006_05562.jpg).
SAMM_TIMING = Timing(clip_frames=(30, 101), median_frames=70, frames_spread=FRAMES_SPREAD,
                     apex_delay=35, apex_spread=APEX_SPREAD, onset_frames=(100, 12000))
FRAME_DIGITS = 5
INDUCEMENTS = 7  # clip folders <subject>_<inducement>_<n>: the stimulus video that induced it
TEXT_SUBJECT = 0.3  # share of rows whose Subject is the text '006' rather than the number 6
ROWS_PER_MISSING_APEX = 80  # Apex Frame -1 on about one row in 80 ...
MISSING_APEX_ROWS = (1, 2)  # ... and on one or two rows whatever the size
SHEET_NO_APEX = -1  # what SAMM writes where no apex was coded

# AU cells as SAMM's coders write them.
ASYMMETRIC = 0.3  # a one-sided AU written 'A14' (asymmetric) rather than 'R14'
SIDE_UNSURE = 0.15  # ... or 'L14 or R14'
INTENSITY_LETTER = 0.3  # an AU with its FACS intensity letter: 'R14A', '12B'
INTENSITY_LETTERS = "ABCDE"  # trace .. maximum
MAX_INTENSITY = 1.3  # the largest AU intensity the plan draws (AU_INTENSITY x expressiveness)

# The sheet's ~13 rows above the header (SAMM's header sits at row 14): notes and citations.
HEADER_ROW = 14
NOTES = (
    "SAMM - Spontaneous Actions and Micro-Movements: micro-movement FACS codes",
    None,
    "SYNTHETIC: written by `mer synthesize` in the layout of SAMM_Micro_FACS_Codes_v2.xlsx. "
    "No frame of it shows a real person's expression.",
    None,
    "If you use the real SAMM dataset, please cite:",
    "A. K. Davison, C. Lansley, N. Costen, K. Tan and M. H. Yap, 'SAMM: A Spontaneous "
    "Micro-Facial Movement Dataset', IEEE Transactions on Affective Computing 9(1), 2018.",
    "A. K. Davison, W. Merghani and M. H. Yap, 'Objective Classes for Micro-Facial Expression "
    "Recognition', Journal of Imaging 4(10), 2018.",
    None,
    "Notes:",
    "Frame numbers count from the start of each subject's recording (200 fps).",
    "Apex Frame -1: no apex was coded for the movement.",
    "Action Units: L/R left/right, A asymmetric; a trailing letter A-E is the FACS intensity.",
    None,
)
HEADER = ("Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame", "Offset Frame",
          "Duration", "Micro", "Action Units", "Estimated Emotion", "Objective Classes", "Notes")
# Column letters of the onset, offset and Duration cells (the formula is =F15-D15+1).
ONSET_COLUMN, OFFSET_COLUMN, DURATION_COLUMN = "D", "F", "G"
MICRO = "Micro - 1/2"  # the Micro column: a micro-movement (at most 1/2 s)
# Davison et al.'s objective classes (I-VII) by estimated emotion, as SAMM codes them 1-7.
OBJECTIVE_CLASS = {"Happiness": 1, "Surprise": 2, "Anger": 3, "Disgust": 4, "Sadness": 5,
                   "Fear": 6, "Contempt": 7, "Other": 7}
MISSING_APEX_NOTE = "No clear apex"

# Independent random streams (CASME II's are 0, 1, 2 in mer.synthetic.write_casme2).
PLAN_STREAM, SUBJECT_STREAM, CLIP_STREAM = 10, 11, 12

# Class-conditional AU model, as AU_MODEL in mer.synthetic.write_casme2: (mutually exclusive primary
# AU combinations with probabilities, extra AUs added independently). Patterns follow FACS's
# emotion prototypes and SAMM's objective classes (anger AU4+7, happiness AU6+12, surprise
# AU1+2, disgust AU9/AU10, sadness AU1+4/AU15, fear AU1+2+4); anger and other share plain
# AU4 and AU7, contempt and other share AU14, so the classes overlap as SAMM's do.
AU_MODEL: AuModel = {
    "Anger": ((((4, 7), 0.45), ((4,), 0.25), ((7,), 0.15), ((4, 17), 0.1), ((14,), 0.05)),
              {7: 0.2, 17: 0.1, 25: 0.05}),
    "Contempt": ((((14,), 0.7), ((12,), 0.2), ((4, 14), 0.1)), {17: 0.1, 7: 0.1}),
    "Disgust": ((((9,), 0.35), ((10,), 0.3), ((4,), 0.2), ((4, 9), 0.15)),
                {7: 0.3, 10: 0.15, 25: 0.1}),
    "Fear": ((((1, 2, 4), 0.35), ((1, 4), 0.35), ((4, 7), 0.3)), {25: 0.25, 26: 0.1}),
    "Happiness": ((((6, 12), 0.55), ((12,), 0.4), ((6,), 0.05)), {25: 0.15, 7: 0.1}),
    "Other": ((((4,), 0.25), ((7,), 0.2), ((14,), 0.15), ((12,), 0.1), ((2,), 0.1), ((17,), 0.1),
               ((1,), 0.1)), {4: 0.1, 7: 0.1}),
    "Sadness": ((((1, 4, 15), 0.3), ((15,), 0.3), ((17,), 0.2), ((1, 4), 0.2)),
                {15: 0.3, 17: 0.3}),
    "Surprise": ((((1, 2), 0.65), ((2,), 0.15), ((1,), 0.1), ((26,), 0.1)), {25: 0.2, 26: 0.15}),
}
# Contempt is one-sided by definition: these AUs of it always act on one side.
UNILATERAL = {"Contempt": (12, 14)}


@dataclass(frozen=True)
class SammClip:
    index: int  # row in the sheet's data (0-based); seeds the clip's nuisances
    subject: int  # SAMM id: folder 006
    name: str  # 006_1_2
    inducement: int
    emotion: str  # SAMM's spelling: 'Anger'
    aus: tuple[AuEvent, ...]  # sorted by AU number
    au_cell: int | str  # the Action Units cell as SAMM's coders write it
    onset: int
    apex: int  # the true apex, also when the sheet says -1
    offset: int
    apex_in_sheet: bool  # False: Apex Frame is -1
    subject_as_text: bool  # True: Subject is the text '006'

    @property
    def frames(self) -> int:
        return self.offset - self.onset + 1

    @property
    def folder(self) -> str:
        return f"{FRAMES_DIR}/{self.subject:03d}/{self.name}"

    @property
    def au_string(self) -> str:
        """The true AUs, normalised: '4+R14'."""
        return "+".join(event.code for event in self.aus)


@dataclass(frozen=True)
class SammPlan:
    subjects: tuple[SubjectPlan, ...]
    clips: tuple[SammClip, ...]  # in sheet order: by subject, then clip name


# ---------------------------------------------------------------- the plan


def samm_size(params: SyntheticParams) -> tuple[int, int]:
    """(subjects, clips): SAMM's 32 and 159 scaled as data.synthetic scales CASME II's."""
    return scaled_size(params, SAMM_SUBJECTS, SAMM_CLIPS, len(MEGC_REQUIRED))


def class_counts(clips: int) -> dict[str, int]:
    """SAMM's class counts scaled to ``clips``, each MEGC2019 class present."""
    return scaled_class_counts(SAMM_CLASS_COUNTS, clips, MEGC_REQUIRED)


def _one_sided(emotion: str, aus: tuple[AuEvent, ...],
               rng: np.random.Generator) -> tuple[AuEvent, ...]:
    """Contempt's AU12/AU14 moved to one side (the same side for both)."""
    unilateral = UNILATERAL.get(emotion, ())
    if not any(e.au in unilateral and not e.side for e in aus):
        return aus
    side = next((e.side for e in aus if e.side), None) or str(rng.choice(["L", "R"]))
    return tuple(AuEvent(e.au, e.intensity, side) if e.au in unilateral and not e.side else e
                 for e in aus)


def intensity_letter(intensity: float) -> str:
    """The FACS intensity letter (A trace .. E maximum) of an AU intensity."""
    step = MAX_INTENSITY / len(INTENSITY_LETTERS)
    return INTENSITY_LETTERS[min(len(INTENSITY_LETTERS) - 1, int(intensity / step))]


def au_cell(aus: tuple[AuEvent, ...], rng: np.random.Generator) -> int | str:
    """The Action Units cell as SAMM writes it: 12, '4+7', 'A14', 'R14A', 'L2 or R2'.

    A single plain AU is a number cell, as a typed '12' is in Excel.
    """
    codes = []
    for event in aus:
        if event.side and rng.uniform() < SIDE_UNSURE:
            codes.append(f"L{event.au} or R{event.au}")
            continue
        prefix = event.side
        if event.side and rng.uniform() < ASYMMETRIC:
            prefix = "A"
        letter = intensity_letter(event.intensity) if rng.uniform() < INTENSITY_LETTER else ""
        codes.append(f"{prefix}{event.au}{letter}")
    if len(codes) == 1 and codes[0].isdigit():
        return int(codes[0])
    return "+".join(codes)


def clip_names(subject: int, count: int, rng: np.random.Generator) -> list[tuple[str, int]]:
    """``count`` (name, inducement) of SAMM-style clip folders, sorted: ('006_1_2', 1)."""
    inducements = sorted(int(i) for i in rng.integers(1, INDUCEMENTS + 1, size=count))
    seen: dict[int, int] = {}
    names = []
    for inducement in inducements:
        seen[inducement] = seen.get(inducement, 0) + 1
        names.append((f"{subject:03d}_{inducement}_{seen[inducement]}", inducement))
    return names


def plan_samm(params: SyntheticParams, seed: int) -> SammPlan:
    """Subjects, clips, classes, AUs and timing of the SAMM-format set (no pixels yet)."""
    rng = np.random.default_rng([seed, PLAN_STREAM])
    n_subjects, n_clips = samm_size(params)
    ids = pick_ids(SAMM_SUBJECT_IDS, n_subjects, rng)
    if ids[-1] > MAX_SUBJECT_ID:
        raise ParamsError(f"data.synthetic.subjects {params.subjects} gives the SAMM format "
                          f"{n_subjects} subjects, more than its 3-digit folders can number; "
                          "use fewer subjects or leave samm out of data.synthetic.corpora")
    subjects = plan_subjects(ids, rng)
    per_subject = subject_counts(n_subjects, n_clips, rng)
    emotions = shuffled_emotions(class_counts(n_clips), rng)
    missing = int(np.clip(round(n_clips / ROWS_PER_MISSING_APEX), *MISSING_APEX_ROWS))
    missing_rows = set(rng.choice(n_clips, size=missing, replace=False).tolist())
    text_rows = rng.uniform(size=n_clips) < TEXT_SUBJECT
    text_rows[0] = False  # at least one of each spelling
    text_rows[int(rng.integers(1, n_clips))] = True

    clips = []
    for subject, count in zip(subjects, per_subject, strict=True):
        for name, inducement in clip_names(subject.number, count, rng):
            index = len(clips)
            emotion = emotions[index]
            onset, apex, offset = sample_timing(subject.tempo, rng, SAMM_TIMING)
            aus = _one_sided(emotion, sample_aus(emotion, subject.gain, rng, AU_MODEL), rng)
            clips.append(SammClip(index, subject.number, name, inducement, emotion, aus,
                                  au_cell(aus, rng), onset, apex, offset,
                                  index not in missing_rows, bool(text_rows[index])))
    return SammPlan(subjects, tuple(clips))


# ---------------------------------------------------------------- the sheet and the truth


def sheet_rows(plan: SammPlan) -> list[tuple[int, list[object]]]:
    """(spreadsheet row number, cells) of the header and every clip, as SAMM types them.

    Duration is the formula '=F15-D15+1'; write_sheet stores its cached value beside it.
    """
    rows: list[tuple[int, list[object]]] = [(HEADER_ROW, list(HEADER))]
    for number, clip in enumerate(plan.clips, start=HEADER_ROW + 1):
        subject: int | str = f"{clip.subject:03d}" if clip.subject_as_text else clip.subject
        rows.append((number, [
            subject, clip.name, clip.inducement, clip.onset,
            clip.apex if clip.apex_in_sheet else SHEET_NO_APEX, clip.offset,
            f"={OFFSET_COLUMN}{number}-{ONSET_COLUMN}{number}+1", MICRO, clip.au_cell,
            clip.emotion, OBJECTIVE_CLASS[clip.emotion],
            None if clip.apex_in_sheet else MISSING_APEX_NOTE]))
    return rows


def _cache_durations(durations: dict[int, int]) -> Callable[[bytes], bytes]:
    """A sheet-XML rewrite giving each Duration formula cell its cached value.

    openpyxl saves a formula with an empty value (``<c r="G15"><f>F15-D15+1</f><v /></c>``),
    which a reader with data_only=True sees as None; Excel saves the value it computed
    (``<v>37</v>``), and so do we.
    """
    pattern = re.compile(rb'<c r="' + DURATION_COLUMN.encode() +
                         rb'(\d+)"(?P<attrs>[^>]*)><f>(?P<formula>[^<]*)</f><v\s*/></c>')

    def rewrite(xml: bytes) -> bytes:
        def cached(match: re.Match[bytes]) -> bytes:
            row = int(match.group(1))
            return (b'<c r="' + DURATION_COLUMN.encode() + match.group(1) + b'"' +
                    match.group("attrs") + b"><f>" + match.group("formula") + b"</f><v>" +
                    str(durations[row]).encode() + b"</v></c>")

        out, count = pattern.subn(cached, xml)
        if count != len(durations):
            raise RuntimeError(f"expected {len(durations)} Duration formulas in the SAMM sheet's "
                               f"XML, found {count}: has openpyxl changed how it saves formulas?")
        return out

    return rewrite


def write_sheet(plan: SammPlan, path: Path) -> Path:
    """SAMM's coding sheet: notes rows, header at row 14, one row per clip."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "Sheet1"
    for row, note in enumerate(NOTES, start=1):
        if note is not None:
            sheet.cell(row=row, column=1, value=note)
    for row, cells in sheet_rows(plan):
        for column, value in enumerate(cells, start=1):
            if value is not None:
                sheet.cell(row=row, column=column, value=value)
    book.properties.creator = "mer synthesize"
    buffer = io.BytesIO()
    book.save(buffer)
    durations = {HEADER_ROW + 1 + i: clip.frames for i, clip in enumerate(plan.clips)}
    path.write_bytes(_normalised_zip(buffer.getvalue(), {"xl/worksheets/sheet1.xml":
                                              _cache_durations(durations)}))
    return path


def ground_truth_rows(plan: SammPlan) -> list[dict[str, object]]:
    """One row per clip: the truth the sheet hides or rounds (intensities, sides, true apex)."""
    rows = []
    for clip in plan.clips:
        row: dict[str, object] = {
            "subject": f"{clip.subject:03d}", "clip": clip.name, "emotion": clip.emotion,
            "onset": clip.onset, "apex": clip.apex, "offset": clip.offset,
            "apex_in_sheet": int(clip.apex_in_sheet), "aus": clip.au_string,
            "sheet_aus": str(clip.au_cell), "side": first_side(clip.aus),
        }
        row.update(au_intensities(clip.aus))
        rows.append(row)
    return rows


def _annotate(plan: SammPlan, root: Path) -> None:
    write_sheet(plan, root / SHEET)
    write_csv(ground_truth_rows(plan), root / GROUND_TRUTH)


# ---------------------------------------------------------------- pixels


def job(clip: SammClip, subject: SubjectFace, params: SyntheticParams, seed: int,
        root: Path) -> FramesJob:
    """The clip's job: root/SAMM/006/006_1_2/006_<NNNNN>.jpg, greyscale JPEG at 200 fps."""
    return FramesJob.of(clip, CLIP_STREAM, subject, params, seed, root,
                        f"{clip.subject:03d}_{{:0{FRAME_DIGITS}d}}.jpg", JPEG_GREY, FPS)


def _jobs(plan: SammPlan, faces: dict[int, SubjectFace], params: SyntheticParams, seed: int,
          root: Path) -> list[FramesJob]:
    return [job(clip, faces[clip.subject], params, seed, root) for clip in plan.clips]


SAMM_WRITER = CorpusWriter("samm", SUBJECT_STREAM, plan_samm, _annotate, _jobs)

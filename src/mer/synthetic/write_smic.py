"""The embedded synthetic dataset in SMIC-HS's exact on-disk format (data.synthetic.corpora: smic).

Written into data.root beside the CASME II-format files, so the real SMIC adapter
(mer.data.smic.read_smic) reads it and the MEGC2019 composite runs on embedded data:

    <root>/HS/s1/micro/negative/s1_ne_01/image0100344.bmp   colour frames onset..offset
    <root>/HS/s1/micro/{positive,surprise}/s1_po_01, s1_sur_01/...
    <root>/HS/s1/non_micro/s1_no_01/...                     a clip without a micro-expression
    <root>/HS_ground_truth.csv                              true AUs, true onset/apex/offset

SMIC-HS's features reproduced (Li et al., 2013): 16 subjects numbered s1..s20 with gaps, 164
clips filmed at 100 fps (so half as many frames per second of expression as CASME II's), three
classes from the emotion folders (negative 70, positive 51, surprise 43), no coding sheet and
no apex annotation (the adapter takes each folder's first and last frame as onset and offset),
uncompressed colour BMP frames numbered 7 digits from the recording's start. A couple of
``non_micro`` clips (nuisances only, no AU) exercise the adapter's skipping them; they are not
in the ground truth. The ground-truth CSV has the columns subject, clip, onset, apex, offset
that data.annotations accepts for SMIC, so it can also serve as an (oracle) annotation file.

Deterministic, with RNG streams of its own: adding SMIC never changes the CASME II files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mer.config import SyntheticParams
from mer.synthetic.face import AuEvent, SubjectFace
from mer.synthetic.write_casme2 import (
    APEX_SPREAD,
    BMP,
    FRAMES_SPREAD,
    AuModel,
    CorpusWriter,
    FramesJob,
    SubjectPlan,
    Timing,
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

FRAMES_DIR = "HS"
MICRO = "micro"  # SMIC's folder of micro-expression clips ...
NON_MICRO = "non_micro"  # ... and of clips without one, which the adapter ignores
GROUND_TRUTH = "HS_ground_truth.csv"
FPS = 100  # SMIC-HS's frame rate (Li et al., 2013)

# SMIC-HS's size and classes (Li et al., 2013): subjects s1-s6, s8, s9, s11-s15, s18-s20.
SMIC_SUBJECTS = 16
SMIC_CLIPS = 164
SMIC_SUBJECT_IDS = (1, 2, 3, 4, 5, 6, 8, 9, 11, 12, 13, 14, 15, 18, 19, 20)
SMIC_CLASS_COUNTS = {"negative": 70, "positive": 51, "surprise": 43}
ABBREVIATIONS = {"negative": "ne", "positive": "po", "surprise": "sur"}  # s1_ne_01, s1_sur_01
NON_MICRO_ABBREVIATION = "no"  # s1_no_01
NON_MICRO_CLIPS = 2  # written for the first two subjects, one each

# SMIC-HS's clips are at most 0.5 s: 11-58 frames at 100 fps, about 34 typically; the apex
# sits about 150 ms in, as in CASME II (30 frames at 200 fps). Frames are numbered from the
# start of the recording, 7 digits (image0100344.bmp).
SMIC_TIMING = Timing(clip_frames=(11, 58), median_frames=34, frames_spread=FRAMES_SPREAD,
                     apex_delay=15, apex_spread=APEX_SPREAD, onset_frames=(10_000, 900_000))
FRAME_DIGITS = 7

# Independent random streams (CASME II's are 0-2, SAMM's 10-12).
PLAN_STREAM, SUBJECT_STREAM, CLIP_STREAM = 20, 21, 22

# Class-conditional AU model, as AU_MODEL in mer.synthetic.write_casme2. SMIC's labels are the
# participants' own reports, not FACS codes, so its classes are broad and overlap more:
# negative mixes brow lowering, lid tightening, nose wrinkling, lip raising and depressing and
# chin raising (AU4/7/9/10/15/17); positive is mostly AU12 with or without AU6; surprise
# mostly AU1+2. Some positive and surprise clips show a brow or mouth movement of another
# class, as self-reported labels do.
AU_MODEL: AuModel = {
    "negative": ((((4,), 0.3), ((7,), 0.15), ((17,), 0.15), ((4, 7), 0.1), ((9,), 0.1),
                  ((10,), 0.1), ((15,), 0.1)), {7: 0.15, 15: 0.1, 17: 0.1, 10: 0.05}),
    "positive": ((((12,), 0.45), ((6, 12), 0.35), ((6,), 0.05), ((25,), 0.05), ((4,), 0.1)),
                 {25: 0.1, 7: 0.05}),
    "surprise": ((((1, 2), 0.55), ((2,), 0.1), ((1,), 0.1), ((25, 26), 0.1), ((4,), 0.05),
                  ((12,), 0.1)), {25: 0.15, 26: 0.1}),
}


@dataclass(frozen=True)
class SmicClip:
    index: int  # order of the adapter's reading (seeds the clip's nuisances)
    subject: int  # s<subject>
    name: str  # s1_ne_01
    emotion: str  # the emotion folder; '' for a non_micro clip
    aus: tuple[AuEvent, ...]  # sorted by AU number; () for a non_micro clip
    onset: int  # the folder's first frame number
    apex: int  # the true apex (SMIC does not annotate it)
    offset: int  # the folder's last frame number

    @property
    def frames(self) -> int:
        return self.offset - self.onset + 1

    @property
    def micro(self) -> bool:
        return bool(self.emotion)

    @property
    def folder(self) -> str:
        kind = f"{MICRO}/{self.emotion}" if self.micro else NON_MICRO
        return f"{FRAMES_DIR}/s{self.subject}/{kind}/{self.name}"

    @property
    def au_string(self) -> str:
        return "+".join(event.code for event in self.aus)


@dataclass(frozen=True)
class SmicPlan:
    subjects: tuple[SubjectPlan, ...]
    clips: tuple[SmicClip, ...]  # micro clips in the adapter's order
    non_micro: tuple[SmicClip, ...]


def smic_size(params: SyntheticParams) -> tuple[int, int]:
    """(subjects, clips): SMIC-HS's 16 and 164 scaled as data.synthetic scales CASME II's."""
    return scaled_size(params, SMIC_SUBJECTS, SMIC_CLIPS, len(SMIC_CLASS_COUNTS))


def class_counts(clips: int) -> dict[str, int]:
    """SMIC-HS's class counts scaled to ``clips``, each class present."""
    return scaled_class_counts(SMIC_CLASS_COUNTS, clips, tuple(SMIC_CLASS_COUNTS))


def plan_smic(params: SyntheticParams, seed: int) -> SmicPlan:
    """Subjects, clips, classes, AUs and timing of the SMIC-HS-format set (no pixels yet)."""
    rng = np.random.default_rng([seed, PLAN_STREAM])
    n_subjects, n_clips = smic_size(params)
    subjects = plan_subjects(pick_ids(SMIC_SUBJECT_IDS, n_subjects, rng), rng)
    per_subject = subject_counts(n_subjects, n_clips, rng)
    emotions = shuffled_emotions(class_counts(n_clips), rng)
    drawn = []  # (subject, emotion, AUs, timing) in draw order
    start = 0
    for subject, count in zip(subjects, per_subject, strict=True):
        for emotion in sorted(emotions[start:start + count]):  # folder order: negative first
            aus = sample_aus(emotion, subject.gain, rng, AU_MODEL)
            drawn.append((subject, emotion, aus, sample_timing(subject.tempo, rng, SMIC_TIMING)))
        start += count
    clips = []
    numbered: dict[tuple[int, str], int] = {}
    for subject, emotion, aus, (onset, apex, offset) in drawn:
        key = (subject.number, emotion)
        numbered[key] = numbered.get(key, 0) + 1
        name = f"s{subject.number}_{ABBREVIATIONS[emotion]}_{numbered[key]:02d}"
        clips.append(SmicClip(len(clips), subject.number, name, emotion, aus, onset, apex,
                              offset))
    non_micro = []
    for subject in subjects[:NON_MICRO_CLIPS]:
        onset, apex, offset = sample_timing(subject.tempo, rng, SMIC_TIMING)
        non_micro.append(SmicClip(len(clips) + len(non_micro), subject.number,
                                  f"s{subject.number}_{NON_MICRO_ABBREVIATION}_01", "", (),
                                  onset, apex, offset))
    return SmicPlan(subjects, tuple(clips), tuple(non_micro))


def ground_truth_rows(plan: SmicPlan) -> list[dict[str, object]]:
    """One row per micro clip: its true AUs (SMIC codes none) and true apex (SMIC has none)."""
    rows = []
    for clip in plan.clips:
        row: dict[str, object] = {
            "subject": f"s{clip.subject}", "clip": clip.name, "emotion": clip.emotion,
            "onset": clip.onset, "apex": clip.apex, "offset": clip.offset,
            "aus": clip.au_string, "side": first_side(clip.aus),
        }
        row.update(au_intensities(clip.aus))
        rows.append(row)
    return rows


def _annotate(plan: SmicPlan, root: Path) -> None:
    write_csv(ground_truth_rows(plan), root / GROUND_TRUTH)


def job(clip: SmicClip, subject: SubjectFace, params: SyntheticParams, seed: int,
        root: Path) -> FramesJob:
    """The clip's job: root/HS/s1/micro/<emotion>/<clip>/image<NNNNNNN>.bmp, colour, 100 fps."""
    return FramesJob.of(clip, CLIP_STREAM, subject, params, seed, root,
                        f"image{{:0{FRAME_DIGITS}d}}.bmp", BMP, FPS)


def _jobs(plan: SmicPlan, faces: dict[int, SubjectFace], params: SyntheticParams, seed: int,
          root: Path) -> list[FramesJob]:
    return [job(clip, faces[clip.subject], params, seed, root)
            for clip in (*plan.clips, *plan.non_micro)]


SMIC_WRITER = CorpusWriter("smic", SUBJECT_STREAM, plan_smic, _annotate, _jobs)

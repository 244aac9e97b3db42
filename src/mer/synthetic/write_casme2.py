"""The embedded synthetic dataset, written in CASME II's (and SAMM's, SMIC-HS's) exact formats.

A newcomer without a licensed corpus runs the whole pipeline on it, through the real CASME II
adapter:

    <root>/CASME2-coding-synthetic.xlsx         the coding sheet (CASME II's columns and quirks)
    <root>/Cropped/subNN/EPxx_yy[f]/reg_img<N>.jpg   frames onset..offset, numbered as the sheet
    <root>/ground_truth.csv                     true AUs with intensities and sides, true apex

data.synthetic.corpora adds the same kind of data in SAMM's and SMIC-HS's formats to the same
root (mer.synthetic.write_samm, mer.synthetic.write_smic), so the real SAMM and SMIC adapters
and the MEGC2019 composite run on embedded data too. This module is the one generator: the
plan helpers (class counts, uneven subjects, timing, AUs), the subjects' faces and the
rendering of a clip's frames (FramesJob) serve every format; each format only plans its
names, statistics and quirks and writes its own annotations.

What makes it hard in the ways real data is (design brief section 5): CASME II's class
imbalance and uneven clips per subject; class-conditional AU distributions with CASME II's
overlap (others and disgust are both mostly AU4); subtle (0.5-2 px), localised AU motion
with an onset -> apex -> offset profile; per-subject faces and expression styles; head drift
and jitter, blinks, flicker, sensor noise and JPEG. Faces and motion: mer.synthetic.face.

Deterministic: the plan comes from one RNG seeded by data.seed; each clip's nuisances from its
own RNG seeded by (data.seed, clip index), so files are byte-identical for any worker count.
Every format has its own streams (CorpusWriter), so writing SAMM or SMIC never changes a byte
of the CASME II files.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mer.config import SyntheticParams
from mer.core.workers import init_worker, process_count, stop_workers
from mer.interrupts import workers_start_without_ctrl_c
from mer.synthetic.face import (
    AUS,
    BASE_FACES,
    LATERAL_AUS,
    AuEvent,
    BaseFace,
    SubjectFace,
    expressiveness,
    load_base_face,
    make_subject,
    render_clip,
    sample_nuisance,
)
from mer.synthetic.record import write_synthesis_records

log = logging.getLogger(__name__)

SHEET = "CASME2-coding-synthetic.xlsx"
FRAMES_DIR = "Cropped"
GROUND_TRUTH = "ground_truth.csv"
NOT_USED = "NOT_USED.txt"
SHEET_HEADER = ("Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None,
                "Action Units", "Estimated Emotion")  # None: CASME II's empty header cells
FPS = 200  # CASME II's frame rate

# CASME II's size (design brief section 4): other formats scale from their real sizes by the
# same factors, data.synthetic.subjects / CASME2_SUBJECTS and data.synthetic.clips / CASME2_CLIPS.
CASME2_SUBJECTS = 26
CASME2_CLIPS = 255
MIN_SUBJECTS = 2  # leave-one-subject-out needs at least two subjects per corpus
# CASME II's coding sheet (design brief section 4): clips per emotion out of 255.
CASME2_CLASS_COUNTS = {"others": 99, "disgust": 63, "happiness": 32, "repression": 27,
                       "surprise": 25, "sadness": 7, "fear": 2}
# CASME II's clips: 23-140 frames at 200 fps, median about 60, apex about 30 frames in.
CLIP_FRAMES = (23, 140)
MEDIAN_FRAMES = 60
FRAMES_SPREAD = 0.4  # s.d. of log(frames): about 30-115 frames for 90 % of the clips
APEX_DELAY = 30  # frames from onset to apex, before the subject's tempo and per-clip spread
APEX_SPREAD = 0.3  # s.d. of log(apex delay)
APEX_MARGIN = 3  # frames the apex keeps from the onset and the offset
ONSET_FRAMES = (1, 300)  # CASME II numbers frames from the recording's start: onsets vary
# Uneven clips per subject (CASME II: 2 to 36): each subject has 2 plus a share of the rest
# drawn from a log-normal with this s.d.
SUBJECT_SPREAD = 0.9
MIN_CLIPS_PER_SUBJECT = 2
EPISODES = 19  # CASME II's clip names: EP<episode>_<take>, 'f' suffix on some
TAKES = 9
F_SUFFIX = 0.3  # share of clip names ending in 'f'
TEXT_SUBJECT = 0.15  # share of rows whose Subject is text '01' rather than the number 1
ROWS_PER_MISSING_APEX = 85  # the real sheet has a few ApexFrame '/' rows: ~3 of 255
MISSING_APEX_ROWS = (2, 4)
ONE_SIDED = 0.2  # about one clip in five has a one-sided (L/R) AU
AU_INTENSITY = (0.35, 1.0)  # before the subject's expressiveness
# xlsx files carry their save time; a fixed one keeps the sheet byte-identical across runs.
FIXED_TIME = (2000, 1, 1, 0, 0, 0)
FIXED_TIMESTAMP = "2000-01-01T00:00:00Z"

# Class-conditional AU model: (mutually exclusive primary AU combinations with probabilities,
# extra AUs each added independently). Fitted by hand to CASME II's sheet (design brief 5):
# others AU4 67/99 or AU14; disgust AU4 59/63, AU7 30, AU10 17, AU9 13; happiness AU12 27/32,
# AU6 8; repression AU17 19/27, AU15 11, AU14; surprise AU2 20/25, AU1 18. Fear and sadness
# (2 and 7 clips) get plausible brow/lip-corner patterns.
AU_MODEL: dict[str, tuple[tuple[tuple[tuple[int, ...], float], ...], dict[int, float]]] = {
    "others": ((((4,), 0.67), ((14,), 0.17), ((17,), 0.05), ((1, 2), 0.05), ((12,), 0.03),
                ((15,), 0.03)), {7: 0.12, 25: 0.04}),
    "disgust": ((((4,), 0.94), ((9,), 0.03), ((10,), 0.03)), {7: 0.48, 10: 0.25, 9: 0.19}),
    "happiness": ((((12,), 0.84), ((6,), 0.08), ((25,), 0.08)), {6: 0.2, 25: 0.08}),
    "repression": ((((17,), 0.7), ((15,), 0.15), ((14,), 0.15)), {15: 0.3, 14: 0.15}),
    "surprise": ((((1, 2), 0.64), ((2,), 0.16), ((1,), 0.08), ((25,), 0.06), ((26,), 0.06)),
                 {25: 0.1}),
    "fear": ((((1, 4), 0.5), ((4,), 0.3), ((1, 2, 4), 0.2)), {7: 0.2, 25: 0.2}),
    "sadness": ((((1, 4), 0.35), ((15,), 0.35), ((4,), 0.15), ((17,), 0.15)),
                {15: 0.25, 17: 0.2}),
}

Mapper = Callable[..., Iterable]  # map, or a process pool's map

# Independent random streams under one seed: changing one part never reshuffles another.
PLAN_STREAM, SUBJECT_STREAM, CLIP_STREAM = 0, 1, 2  # CASME II's; other formats have their own

AuModel = Mapping[str, tuple[tuple[tuple[tuple[int, ...], float], ...], Mapping[int, float]]]


@dataclass(frozen=True)
class Timing:
    """A corpus's clip timing, in frames at its own frame rate."""

    clip_frames: tuple[int, int]  # shortest and longest clip
    median_frames: int
    frames_spread: float  # s.d. of log(frames)
    apex_delay: int  # frames from onset to apex, before the subject's tempo and spread
    apex_spread: float  # s.d. of log(apex delay)
    onset_frames: tuple[int, int]  # range of onset frame numbers (from the recording's start)


CASME2_TIMING = Timing(CLIP_FRAMES, MEDIAN_FRAMES, FRAMES_SPREAD, APEX_DELAY, APEX_SPREAD,
                       ONSET_FRAMES)


@dataclass(frozen=True)
class SubjectPlan:
    number: int  # 1-based, folder subNN
    base: str  # portrait file in mer/assets/faces
    mirrored: bool
    gain: float  # expressiveness: multiplies every AU intensity of this subject
    tempo: float  # multiplies the onset-to-apex time of this subject


@dataclass(frozen=True)
class ClipPlan:
    index: int  # row in the coding sheet (0-based); seeds the clip's nuisances
    subject: int
    name: str  # EP02_01f
    emotion: str  # CASME II's spelling
    aus: tuple[AuEvent, ...]  # sorted by AU number
    onset: int  # frame numbers, as in the sheet and the file names
    apex: int  # the true apex, also when the sheet says '/'
    offset: int
    apex_in_sheet: bool  # False: ApexFrame is '/' (CASME II quirk)
    subject_as_text: bool  # True: Subject is the text '01' (CASME II mixes 1 and '01')

    @property
    def frames(self) -> int:
        return self.offset - self.onset + 1

    @property
    def folder(self) -> str:
        return f"{FRAMES_DIR}/sub{self.subject:02d}/{self.name}"

    @property
    def au_string(self) -> str:
        """The normalised AU string: '4+7+L10'."""
        return "+".join(event.code for event in self.aus)


@dataclass(frozen=True)
class DatasetPlan:
    subjects: tuple[SubjectPlan, ...]
    clips: tuple[ClipPlan, ...]  # in coding-sheet order: by subject, then clip name


@dataclass(frozen=True)
class DatasetSummary:
    clips: int
    frames: int
    bytes: int  # on disk, all files


# ---------------------------------------------------------------- the plan


def scaled_counts(weights: dict[str, float] | list[float], total: int) -> list[int]:
    """Integers proportional to ``weights`` summing to ``total`` (largest remainder)."""
    values = np.asarray(list(weights.values()) if isinstance(weights, dict) else weights, float)
    exact = values / values.sum() * total
    counts = np.floor(exact).astype(int)
    # Ties broken by position, so the result never depends on sort stability.
    order = sorted(range(len(values)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in order[:total - int(counts.sum())]:
        counts[i] += 1
    return counts.tolist()


def class_counts(clips: int) -> dict[str, int]:
    """CASME II's class counts scaled to ``clips``."""
    return dict(zip(CASME2_CLASS_COUNTS, scaled_counts(CASME2_CLASS_COUNTS, clips), strict=True))


def scaled_class_counts(real: Mapping[str, int], clips: int,
                        required: Sequence[str] = ()) -> dict[str, int]:
    """``real`` class counts scaled to ``clips``, each ``required`` class at least once.

    A required class that rounds to 0 takes a clip from the largest class that can spare one
    (a required class keeps its last clip; ties: the first).
    """
    counts = dict(zip(real, scaled_counts(dict(real), clips), strict=True))
    if len(required) > clips:
        raise ValueError(f"{clips} clips cannot hold the {len(required)} required classes")
    for emotion in required:
        if counts[emotion] == 0:
            spare = [e for e in counts if counts[e] > (1 if e in required else 0)]
            donor = max(spare, key=lambda e: counts[e])
            counts[donor] -= 1
            counts[emotion] += 1
    return counts


def scaled_size(params: SyntheticParams, subjects: int, clips: int,
                classes: int) -> tuple[int, int]:
    """(subjects, clips) of a corpus that really has ``subjects`` and ``clips``, scaled by the
    factors data.synthetic sets for CASME II, with room for 2 clips per subject and ``classes``.
    """
    scaled_subjects = max(MIN_SUBJECTS, round(subjects * params.subjects / CASME2_SUBJECTS))
    scaled_clips = max(round(clips * params.clips / CASME2_CLIPS),
                       MIN_CLIPS_PER_SUBJECT * scaled_subjects, classes)
    return scaled_subjects, scaled_clips


def pick_ids(real: Sequence[int], count: int, rng: np.random.Generator) -> list[int]:
    """``count`` sorted subject ids: a sample of the corpus's real ones (gaps and all), then
    new ids after the last real one when more are asked for."""
    if count <= len(real):
        return sorted(int(i) for i in rng.choice(real, size=count, replace=False))
    return [*real, *range(max(real) + 1, max(real) + 1 + count - len(real))]


def plan_subjects(numbers: Sequence[int], rng: np.random.Generator) -> tuple[SubjectPlan, ...]:
    """One subject per id: portraits dealt evenly (plain and mirrored), own expression style."""
    variants = [(face, mirrored) for face in BASE_FACES for mirrored in (False, True)]
    order = rng.permutation(len(variants))
    subjects = []
    for i, number in enumerate(numbers):
        face, mirrored = variants[order[i % len(variants)]]
        gain, tempo = expressiveness(rng)
        subjects.append(SubjectPlan(number, face, mirrored, round(gain, 3), round(tempo, 3)))
    return tuple(subjects)


def shuffled_emotions(counts: Mapping[str, int], rng: np.random.Generator) -> list[str]:
    """Every clip's emotion, ``counts[e]`` times each, in random order."""
    emotions = [e for e, n in counts.items() for _ in range(n)]
    return [emotions[i] for i in rng.permutation(len(emotions))]


def subject_counts(subjects: int, clips: int, rng: np.random.Generator) -> list[int]:
    """Uneven clips per subject: each at least MIN_CLIPS_PER_SUBJECT, summing to ``clips``."""
    shares = rng.lognormal(0.0, SUBJECT_SPREAD, subjects)
    rest = scaled_counts(shares.tolist(), clips - MIN_CLIPS_PER_SUBJECT * subjects)
    return [MIN_CLIPS_PER_SUBJECT + r for r in rest]


def sample_aus(emotion: str, gain: float, rng: np.random.Generator,
               model: AuModel = AU_MODEL) -> tuple[AuEvent, ...]:
    """The clip's AUs from a class-conditional model, with intensities and maybe one side."""
    primary, extras = model[emotion]
    weights = np.array([p for _, p in primary])
    chosen = set(primary[int(rng.choice(len(primary), p=weights / weights.sum()))][0])
    for au, probability in extras.items():
        if rng.uniform() < probability:
            chosen.add(au)
    events = [AuEvent(au, round(float(rng.uniform(*AU_INTENSITY)) * gain, 3))
              for au in sorted(chosen)]
    lateral = [i for i, event in enumerate(events) if event.au in LATERAL_AUS]
    if lateral and rng.uniform() < ONE_SIDED:
        i = lateral[int(rng.integers(len(lateral)))]
        events[i] = AuEvent(events[i].au, events[i].intensity, str(rng.choice(["L", "R"])))
    return tuple(events)


def sample_timing(tempo: float, rng: np.random.Generator,
                  timing: Timing = CASME2_TIMING) -> tuple[int, int, int]:
    """(onset, apex, offset) frame numbers of one clip."""
    frames = int(np.clip(round(timing.median_frames * rng.lognormal(0.0, timing.frames_spread)),
                         *timing.clip_frames))
    delay = round(timing.apex_delay * tempo * rng.lognormal(0.0, timing.apex_spread))
    delay = int(np.clip(delay, APEX_MARGIN, frames - 1 - APEX_MARGIN))
    onset = int(rng.integers(timing.onset_frames[0], timing.onset_frames[1] + 1))
    return onset, onset + delay, onset + frames - 1


def clip_names(count: int, rng: np.random.Generator) -> list[str]:
    """``count`` distinct CASME II-style clip names, sorted: EP02_01f, EP13_04."""
    episodes = max(EPISODES, count)
    picks = rng.choice(episodes * TAKES, size=count, replace=False)
    names = [f"EP{p // TAKES + 1:02d}_{p % TAKES + 1:02d}{'f' if rng.uniform() < F_SUFFIX else ''}"
             for p in picks]
    return sorted(names)


def plan_dataset(params: SyntheticParams, seed: int) -> DatasetPlan:
    """Subjects, clips, classes, AUs and timing of the whole dataset (no pixels yet)."""
    rng = np.random.default_rng([seed, PLAN_STREAM])
    subjects = plan_subjects(range(1, params.subjects + 1), rng)
    per_subject = subject_counts(params.subjects, params.clips, rng)
    emotions = shuffled_emotions(class_counts(params.clips), rng)
    missing = int(np.clip(round(params.clips / ROWS_PER_MISSING_APEX), *MISSING_APEX_ROWS))
    missing_rows = set(rng.choice(params.clips, size=missing, replace=False).tolist())
    text_rows = rng.uniform(size=params.clips) < TEXT_SUBJECT
    text_rows[0] = False  # at least one of each spelling
    text_rows[int(rng.integers(1, params.clips))] = True

    clips = []
    for subject, count in zip(subjects, per_subject, strict=True):
        for name in clip_names(count, rng):
            index = len(clips)
            emotion = emotions[index]
            onset, apex, offset = sample_timing(subject.tempo, rng)
            clips.append(ClipPlan(index, subject.number, name, emotion,
                                  sample_aus(emotion, subject.gain, rng), onset, apex, offset,
                                  index not in missing_rows, bool(text_rows[index])))
    return DatasetPlan(subjects, tuple(clips))


# ---------------------------------------------------------------- the sheet and the truth


def sheet_action_units(aus: Iterable[AuEvent]) -> int | str:
    """The Action Units cell as CASME II writes it: a number for one AU, else text '4+L10'."""
    codes = [event.code for event in aus]
    return int(codes[0]) if len(codes) == 1 and codes[0].isdigit() else "+".join(codes)


def sheet_rows(plan: DatasetPlan) -> list[list[object]]:
    """The coding sheet's rows (header first), cell values typed as in CASME II's file."""
    rows: list[list[object]] = [list(SHEET_HEADER)]
    for clip in plan.clips:
        subject: int | str = f"{clip.subject:02d}" if clip.subject_as_text else clip.subject
        apex: int | str = clip.apex if clip.apex_in_sheet else "/"
        rows.append([subject, clip.name, None, clip.onset, apex, clip.offset, None,
                     sheet_action_units(clip.aus), clip.emotion])
    return rows


def _normalised_zip(data: bytes,
                    rewrite: Mapping[str, Callable[[bytes], bytes]] | None = None) -> bytes:
    """The same zip with fixed timestamps and save time, so equal content gives equal bytes.

    ``rewrite``: member name -> function applied to that member's content (e.g. to add the
    cached values of formula cells, which openpyxl leaves empty).
    """
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if rewrite and info.filename in rewrite:
                content = rewrite[info.filename](content)
            if info.filename == "docProps/core.xml":
                content = re.sub(rb"(<dcterms:(created|modified)[^>]*>)[^<]*",
                                 rb"\g<1>" + FIXED_TIMESTAMP.encode(), content)
            entry = zipfile.ZipInfo(info.filename, date_time=FIXED_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(entry, content)
    return out.getvalue()


def write_sheet(plan: DatasetPlan, path: Path) -> Path:
    """CASME II's coding sheet: 'Sheet1' with the clips, plus an empty 'Sheet2' as the real file."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "Sheet1"
    for row in sheet_rows(plan):
        sheet.append(row)
    book.create_sheet("Sheet2")
    book.properties.creator = "mer synthesize"
    buffer = io.BytesIO()
    book.save(buffer)
    path.write_bytes(_normalised_zip(buffer.getvalue()))
    return path


def ground_truth_rows(plan: DatasetPlan) -> list[dict[str, object]]:
    """One row per clip: the truth the sheet hides or rounds (intensities, sides, true apex)."""
    rows = []
    for clip in plan.clips:
        row: dict[str, object] = {
            "subject": f"sub{clip.subject:02d}", "clip": clip.name, "emotion": clip.emotion,
            "onset": clip.onset, "apex": clip.apex, "offset": clip.offset,
            "apex_in_sheet": int(clip.apex_in_sheet), "aus": clip.au_string,
            "side": first_side(clip.aus),
        }
        row.update(au_intensities(clip.aus))
        rows.append(row)
    return rows


def first_side(aus: Iterable[AuEvent]) -> str:
    """The side ('L'/'R') of the clip's one-sided AU, '' when every AU acts on both sides."""
    return next((e.side for e in aus if e.side), "")


def au_intensities(aus: Iterable[AuEvent]) -> dict[str, str]:
    """The ground truth's AU<n> columns: every AU the renderer knows, 0.000 when absent."""
    intensity = {event.au: event.intensity for event in aus}
    return {f"AU{au}": f"{intensity.get(au, 0.0):.3f}" for au in AUS}


def write_csv(rows: Sequence[Mapping[str, object]], path: Path) -> Path:
    """Rows of equal keys as a UTF-8 CSV with a header (LF line ends, the same on any OS)."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_ground_truth(plan: DatasetPlan, path: Path) -> Path:
    return write_csv(ground_truth_rows(plan), path)


# ---------------------------------------------------------------- pixels

JPEG, JPEG_GREY, BMP = "jpeg", "jpeg-grey", "bmp"  # how FramesJob stores frames


@dataclass(frozen=True)
class FramesJob:
    """One clip to render and write, with everything a worker process needs.

    The same renderer serves every format; formats differ only in the RNG key, the frame
    rate, where the files go, how they are named and how they are encoded.
    """

    rng_key: tuple[int, ...]  # (seed, the format's clip stream, clip index): the clip's RNG
    subject: SubjectFace
    aus: tuple[AuEvent, ...]
    frames: int  # onset..offset inclusive
    apex: int  # frames from the onset to the apex
    first: int  # the onset's frame number, numbering the files
    folder: Path  # absolute
    name_format: str  # file name of frame number n: name_format.format(n), e.g. 'reg_img{}.jpg'
    encoding: str  # JPEG (colour), JPEG_GREY (8-bit greyscale) or BMP (colour, lossless)
    params: SyntheticParams
    fps: float = FPS  # the corpus's frame rate: nuisances are timed in seconds

    @property
    def work(self) -> int:
        """Frames to render: longest jobs go first, so no worker is left with a long tail."""
        return self.frames

    @classmethod
    def of(cls, clip: Any, stream: int, subject: SubjectFace, params: SyntheticParams,
           seed: int, root: Path, name_format: str, encoding: str, fps: float = FPS
           ) -> FramesJob:
        """The job of a planned clip of any format (it has index, aus, frames, onset, apex
        and folder relative to ``root``); ``stream`` is the format's clip RNG stream."""
        return cls((seed, stream, clip.index), subject, clip.aus, clip.frames,
                   clip.apex - clip.onset, clip.onset, root / clip.folder, name_format,
                   encoding, params, fps)


def render_job(job: FramesJob) -> Iterator[np.ndarray]:
    """The job's (H, W, 3) uint8 BGR frames onset..offset, before encoding."""
    rng = np.random.default_rng(list(job.rng_key))
    nuisance = sample_nuisance(job.frames, job.params.noise, rng, job.fps)
    return render_clip(job.subject, job.aus, job.frames, job.apex, nuisance,
                       job.params.intensity, rng)


def encode_jpeg(frame: np.ndarray, quality: int) -> bytes:
    import cv2

    ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("OpenCV could not encode a JPEG")
    return data.tobytes()


def encode_frame(frame: np.ndarray, encoding: str, quality: int) -> bytes:
    """One (H, W, 3) uint8 BGR frame as file bytes in ``encoding``."""
    import cv2

    if encoding == JPEG:
        return encode_jpeg(frame, quality)
    if encoding == JPEG_GREY:
        return encode_jpeg(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), quality)
    if encoding == BMP:
        ok, data = cv2.imencode(".bmp", frame)
        if not ok:
            raise RuntimeError("OpenCV could not encode a BMP")
        return data.tobytes()
    raise ValueError(f"unknown frame encoding {encoding!r}; expected {JPEG}, {JPEG_GREY} or {BMP}")


def write_frames(job: FramesJob) -> tuple[int, int]:
    """Render one clip into job.folder; (frames, bytes) written."""
    job.folder.mkdir(parents=True, exist_ok=True)
    written = 0
    for number, frame in enumerate(render_job(job), start=job.first):
        data = encode_frame(frame, job.encoding, job.params.jpeg_quality)
        (job.folder / job.name_format.format(number)).write_bytes(data)
        written += len(data)
    return job.frames, written


def casme2_job(clip: ClipPlan, subject: SubjectFace, params: SyntheticParams, seed: int,
               root: Path) -> FramesJob:
    """The CASME II clip's job: root/Cropped/subNN/<clip>/reg_img<N>.jpg, colour JPEG."""
    return FramesJob.of(clip, CLIP_STREAM, subject, params, seed, root, "reg_img{}.jpg", JPEG)


def clip_frames(clip: ClipPlan, subject: SubjectFace, params: SyntheticParams,
                seed: int) -> Iterator[np.ndarray]:
    """The CASME II clip's (H, W, 3) uint8 BGR frames onset..offset, before JPEG."""
    return render_job(casme2_job(clip, subject, params, seed, Path()))


def write_clip(task: tuple[ClipPlan, SubjectFace, SyntheticParams, int, Path]) -> tuple[int, int]:
    """Render one clip into root/Cropped/subNN/<clip>/reg_img<N>.jpg; (frames, bytes) written."""
    return write_frames(casme2_job(*task))


BaseFaces = dict[tuple[str, bool], BaseFace]  # (portrait, mirrored) -> the fitted portrait


def build_faces(subjects: Sequence[SubjectPlan], params: SyntheticParams, seed: int,
                stream: int, mapper: Mapper = map,
                bases: BaseFaces | None = None) -> dict[int, SubjectFace]:
    """Every subject's face, drawn from RNG (seed, stream, subject number).

    dlib finds landmarks once per portrait variant used; ``bases`` caches them across calls
    (one per format). ``mapper``: ``map`` or a process pool's map; the faces do not depend on it.
    """
    bases = {} if bases is None else bases
    for s in subjects:
        if (s.base, s.mirrored) not in bases:
            bases[s.base, s.mirrored] = load_base_face(s.base, s.mirrored, params.frame_width,
                                                       params.frame_height)
    tasks = [(bases[s.base, s.mirrored], s.number, seed, stream) for s in subjects]
    return {s.number: face
            for s, face in zip(subjects, mapper(_subject_task, tasks), strict=True)}


def build_subjects(plan: DatasetPlan, params: SyntheticParams, seed: int,
                   mapper: Mapper = map) -> dict[int, SubjectFace]:
    """Every CASME II subject's face; dlib finds landmarks once per portrait variant used."""
    return build_faces(plan.subjects, params, seed, SUBJECT_STREAM, mapper)


def _subject_task(task: tuple[BaseFace, int, int, int]) -> SubjectFace:
    base, number, seed, stream = task
    return make_subject(base, number, np.random.default_rng([seed, stream, number]))


@contextmanager
def _mapper(workers: int, key: str) -> Iterator[Mapper]:
    """``map`` for one worker, else a process pool's ordered map (of process_count workers;
    ``key`` the param that asks for them)."""
    workers = process_count(workers, workers, key)
    if workers == 1:
        yield map
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # spawn, not fork: a forked child would inherit OpenCV's and dlib's thread state.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=init_worker) as pool:
        def ordered_map(function: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
            with workers_start_without_ctrl_c():  # map submits every item: starts the workers
                return pool.map(function, items)

        try:
            yield ordered_map
        except BaseException:  # an error or a stop: the rest is not rendered
            stop_workers(pool)
            raise


# ---------------------------------------------------------------- the formats


@dataclass(frozen=True)
class CorpusWriter:
    """One on-disk format the generator writes: its plan, annotations and frame jobs.

    ``plan(params, seed)`` returns an object with ``subjects`` (SubjectPlans) and ``clips``;
    ``annotate(plan, root)`` writes its sheet and ground truth; ``jobs(plan, faces, params,
    seed, root)`` lists its FramesJobs. ``subject_stream`` seeds its subjects' faces; every
    format has its own streams, so adding one never changes another's files.
    """

    name: str  # as in data.synthetic.corpora
    subject_stream: int
    plan: Callable[[SyntheticParams, int], Any]
    annotate: Callable[[Any, Path], None]
    jobs: Callable[[Any, dict[int, SubjectFace], SyntheticParams, int, Path], list[FramesJob]]


def _annotate_casme2(plan: DatasetPlan, root: Path) -> None:
    write_sheet(plan, root / SHEET)
    write_ground_truth(plan, root / GROUND_TRUTH)


def _casme2_jobs(plan: DatasetPlan, faces: dict[int, SubjectFace], params: SyntheticParams,
                 seed: int, root: Path) -> list[FramesJob]:
    return [casme2_job(clip, faces[clip.subject], params, seed, root) for clip in plan.clips]


CASME2_WRITER = CorpusWriter("casme2", SUBJECT_STREAM, plan_dataset, _annotate_casme2,
                             _casme2_jobs)


def corpus_writers(names: Iterable[str]) -> list[CorpusWriter]:
    """The writers of the formats ``names`` (data.synthetic.corpora), each once, in order."""
    # Imported here: those modules build on this one.
    from mer.synthetic.write_samm import SAMM_WRITER
    from mer.synthetic.write_smic import SMIC_WRITER

    known = {w.name: w for w in (CASME2_WRITER, SAMM_WRITER, SMIC_WRITER)}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown synthetic format {unknown[0]!r}; expected one of "
                         f"{', '.join(known)}")
    return [known[n] for n in dict.fromkeys(names)]


def generate_dataset(root: str | Path, params: SyntheticParams, seed: int,
                     progress: bool = False,
                     workers_key: str = "data.synthetic.workers") -> DatasetSummary:
    """Write every format in params.corpora into the new folder ``root``; return what was written.

    Clips of all formats share one pool of ``params.workers`` processes; ``workers_key`` is
    the param that set it, which a warning about too many names.
    """
    from tqdm import tqdm

    root = Path(root)
    root.mkdir(parents=True, exist_ok=False)
    writers = corpus_writers(params.corpora)
    plans = {w.name: w.plan(params, seed) for w in writers}
    for writer in writers:
        writer.annotate(plans[writer.name], root)
    frames = 0
    with _mapper(params.workers, workers_key) as mapper:
        bases: BaseFaces = {}
        jobs: list[FramesJob] = []
        for writer in writers:
            faces = build_faces(plans[writer.name].subjects, params, seed, writer.subject_stream,
                                mapper, bases)
            jobs += writer.jobs(plans[writer.name], faces, params, seed, root)
        # Longest clips first (stable: ties keep plan order), so the pool ends on short ones.
        jobs.sort(key=lambda job: -job.work)
        for count, _ in tqdm(mapper(write_frames, jobs), total=len(jobs), unit="clip",
                             desc="synthesize", disable=not progress):
            frames += count
    write_synthesis_records(root, [seed])  # whichever adapter reads it, its seed is known
    size = sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
    for writer in writers:
        plan = plans[writer.name]
        log.info("synthetic %s: %d subjects, %d clips", writer.name, len(plan.subjects),
                 len(plan.clips))
    # No folder named: ``root`` is often a temporary one its caller renames (a break-it session)
    log.info("synthetic dataset (%s): %d clips, %d frames, %.1f MB",
             ", ".join(plans), len(jobs), frames, size / 1e6)
    return DatasetSummary(len(jobs), frames, size)


def write_not_used(root: str | Path, source: str = "", reason: str | None = None) -> Path:
    """The stage's output folder when another corpus is used: only a note saying why.

    ``reason``: the note's text; by default, that data.source names another corpus.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=False)
    note = root / NOT_USED
    note.write_text(reason or f"data.source is '{source}', so no synthetic dataset was "
                    "generated here.\nSet data.source: synthetic in params.yaml to generate it.\n",
                    encoding="utf-8")
    return note

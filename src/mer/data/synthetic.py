"""The embedded synthetic dataset, written in CASME II's exact on-disk format.

A newcomer without a licensed corpus runs the whole pipeline on it, through the real CASME II
adapter:

    <root>/CASME2-coding-synthetic.xlsx         the coding sheet (CASME II's columns and quirks)
    <root>/Cropped/subNN/EPxx_yy[f]/reg_img<N>.jpg   frames onset..offset, numbered as the sheet
    <root>/ground_truth.csv                     true AUs with intensities and sides, true apex

What makes it hard in the ways real data is (design brief section 5): CASME II's class
imbalance and uneven clips per subject; class-conditional AU distributions with CASME II's
overlap (others and disgust are both mostly AU4); subtle (0.5-2 px), localised AU motion
with an onset -> apex -> offset profile; per-subject faces and expression styles; head drift
and jitter, blinks, flicker, sensor noise and JPEG. Faces and motion: mer.data.synthetic_face.

Deterministic: the plan comes from one RNG seeded by data.seed; each clip's nuisances from its
own RNG seeded by (data.seed, clip index), so files are byte-identical for any worker count.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mer.config import SyntheticParams
from mer.data.synthetic_face import (
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

log = logging.getLogger(__name__)

SHEET = "CASME2-coding-synthetic.xlsx"
FRAMES_DIR = "Cropped"
GROUND_TRUTH = "ground_truth.csv"
NOT_USED = "NOT_USED.txt"
SHEET_HEADER = ("Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None,
                "Action Units", "Estimated Emotion")  # None: CASME II's empty header cells
FPS = 200  # CASME II's frame rate

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
PLAN_STREAM, SUBJECT_STREAM, CLIP_STREAM = 0, 1, 2


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


def subject_counts(subjects: int, clips: int, rng: np.random.Generator) -> list[int]:
    """Uneven clips per subject: each at least MIN_CLIPS_PER_SUBJECT, summing to ``clips``."""
    shares = rng.lognormal(0.0, SUBJECT_SPREAD, subjects)
    rest = scaled_counts(shares.tolist(), clips - MIN_CLIPS_PER_SUBJECT * subjects)
    return [MIN_CLIPS_PER_SUBJECT + r for r in rest]


def sample_aus(emotion: str, gain: float, rng: np.random.Generator) -> tuple[AuEvent, ...]:
    """The clip's AUs from the class-conditional model, with intensities and maybe one side."""
    primary, extras = AU_MODEL[emotion]
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


def sample_timing(tempo: float, rng: np.random.Generator) -> tuple[int, int, int]:
    """(onset, apex, offset) frame numbers of one clip."""
    frames = int(np.clip(round(MEDIAN_FRAMES * rng.lognormal(0.0, FRAMES_SPREAD)), *CLIP_FRAMES))
    delay = round(APEX_DELAY * tempo * rng.lognormal(0.0, APEX_SPREAD))
    delay = int(np.clip(delay, APEX_MARGIN, frames - 1 - APEX_MARGIN))
    onset = int(rng.integers(ONSET_FRAMES[0], ONSET_FRAMES[1] + 1))
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
    variants = [(face, mirrored) for face in BASE_FACES for mirrored in (False, True)]
    order = rng.permutation(len(variants))
    subjects = []
    for i in range(params.subjects):
        face, mirrored = variants[order[i % len(variants)]]
        gain, tempo = expressiveness(rng)
        subjects.append(SubjectPlan(i + 1, face, mirrored, round(gain, 3), round(tempo, 3)))

    per_subject = subject_counts(params.subjects, params.clips, rng)
    emotions = [e for e, n in class_counts(params.clips).items() for _ in range(n)]
    emotions = [emotions[i] for i in rng.permutation(len(emotions))]
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
    return DatasetPlan(tuple(subjects), tuple(clips))


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


def _normalised_zip(data: bytes) -> bytes:
    """The same zip with fixed timestamps and save time, so equal content gives equal bytes."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
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
            "side": next((e.side for e in clip.aus if e.side), ""),
        }
        intensity = {event.au: event.intensity for event in clip.aus}
        row.update({f"AU{au}": f"{intensity.get(au, 0.0):.3f}" for au in AUS})
        rows.append(row)
    return rows


def write_ground_truth(plan: DatasetPlan, path: Path) -> Path:
    rows = ground_truth_rows(plan)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


# ---------------------------------------------------------------- pixels


def build_subjects(plan: DatasetPlan, params: SyntheticParams, seed: int,
                   mapper: Mapper = map) -> dict[int, SubjectFace]:
    """Every subject's face; dlib finds landmarks once per portrait variant used.

    ``mapper``: ``map`` or a process pool's map; the faces do not depend on it.
    """
    bases = {(s.base, s.mirrored): load_base_face(s.base, s.mirrored, params.frame_width,
                                                  params.frame_height)
             for s in plan.subjects}
    tasks = [(bases[s.base, s.mirrored], s.number, seed) for s in plan.subjects]
    return {s.number: face
            for s, face in zip(plan.subjects, mapper(_subject_task, tasks), strict=True)}


def _subject_task(task: tuple[BaseFace, int, int]) -> SubjectFace:
    base, number, seed = task
    return make_subject(base, number, np.random.default_rng([seed, SUBJECT_STREAM, number]))


def clip_frames(clip: ClipPlan, subject: SubjectFace, params: SyntheticParams,
                seed: int) -> Iterator[np.ndarray]:
    """The clip's (H, W, 3) uint8 BGR frames onset..offset, before JPEG."""
    rng = np.random.default_rng([seed, CLIP_STREAM, clip.index])
    nuisance = sample_nuisance(clip.frames, params.noise, rng)
    return render_clip(subject, clip.aus, clip.frames, clip.apex - clip.onset, nuisance,
                       params.intensity, rng)


def encode_jpeg(frame: np.ndarray, quality: int) -> bytes:
    import cv2

    ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("OpenCV could not encode a JPEG")
    return data.tobytes()


def write_clip(task: tuple[ClipPlan, SubjectFace, SyntheticParams, int, Path]) -> tuple[int, int]:
    """Render one clip into root/Cropped/subNN/<clip>/reg_img<N>.jpg; (frames, bytes) written."""
    clip, subject, params, seed, root = task
    folder = root / clip.folder
    folder.mkdir(parents=True, exist_ok=True)
    written = 0
    for number, frame in enumerate(clip_frames(clip, subject, params, seed), start=clip.onset):
        data = encode_jpeg(frame, params.jpeg_quality)
        (folder / f"reg_img{number}.jpg").write_bytes(data)
        written += len(data)
    return clip.frames, written


def _single_threaded_opencv() -> None:
    """Worker initialiser: the pool is the parallelism; OpenCV's own threads would oversubscribe."""
    import cv2

    cv2.setNumThreads(1)


@contextmanager
def _mapper(workers: int) -> Iterator[Mapper]:
    """``map`` for one worker, else a process pool's ordered map."""
    if workers == 1:
        yield map
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # spawn, not fork: a forked child would inherit OpenCV's and dlib's thread state.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context,
                             initializer=_single_threaded_opencv) as pool:
        yield pool.map


def generate_dataset(root: str | Path, params: SyntheticParams, seed: int,
                     progress: bool = False) -> DatasetSummary:
    """Write the whole dataset into the new folder ``root``; return what was written."""
    from tqdm import tqdm

    root = Path(root)
    root.mkdir(parents=True, exist_ok=False)
    plan = plan_dataset(params, seed)
    write_sheet(plan, root / SHEET)
    write_ground_truth(plan, root / GROUND_TRUTH)
    frames = 0
    with _mapper(params.workers) as mapper:
        subjects = build_subjects(plan, params, seed, mapper)
        # Longest clips first: with a few workers the last one to finish then has a short clip.
        tasks = [(clip, subjects[clip.subject], params, seed, root)
                 for clip in sorted(plan.clips, key=lambda c: (-c.frames, c.index))]
        for count, _ in tqdm(mapper(write_clip, tasks), total=len(tasks), unit="clip",
                             desc="synthesize", disable=not progress):
            frames += count
    size = sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
    log.info("synthetic dataset: %d subjects, %d clips, %d frames, %.1f MB in %s",
             len(plan.subjects), len(plan.clips), frames, size / 1e6, root)
    return DatasetSummary(len(plan.clips), frames, size)


def write_not_used(root: str | Path, source: str) -> Path:
    """The stage's output folder when another corpus is used: only a note saying why."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=False)
    note = root / NOT_USED
    note.write_text(f"data.source is '{source}', so no synthetic dataset was generated here.\n"
                    "Set data.source: synthetic in params.yaml to generate it.\n",
                    encoding="utf-8")
    return note

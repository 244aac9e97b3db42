"""Synthetic long videos for spotting: expressions at known intervals among the distractors.

One long video per subject, ``spotting.synthetic.seconds`` long at ``fps``, from the same faces
and AU motion model as the clip dataset (mer.synthetic.face): each video holds
``micro`` micro-expressions (0.2-0.5 s, onset to offset) and ``macro`` macro-expressions
(0.8-1.6 s, stronger), never overlapping one another, among what makes spotting hard in real
interviews (MEGC's CAS(ME)^2 and SAMM-LV):

- blinks every few seconds (the eye closes in 0.1-0.3 s, as fast as a micro-expression),
- head motion: slow drift, jitter and a few quick head shifts of several px,
- talking: stretches of jaw and lip motion at syllable rate (AU25 + AU26, 3-5 Hz),
- illumination flicker and sensor noise, and JPEG.

Everything scales with ``noise``. The plan (subjects, intervals, AUs, distractors) comes from
RNG (seed, PLAN_STREAM); each video's pixels from RNG (seed, VIDEO_STREAM, subject number): the
files are byte-identical for a seed whatever the worker count. ``plan_long_videos`` draws the
plan (no pixels); ``render_long_video`` yields a video's frames.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from mer.config import GAP_SECONDS, MACRO_SECONDS, MICRO_SECONDS, LongVideoParams
from mer.synthetic.face import (
    AuEvent,
    Nuisance,
    SubjectFace,
    expression_field,
    expression_profile,
    load_base_face,
    make_subject,
    render_sequence,
)
from mer.synthetic.write_casme2 import plan_subjects, sample_aus

# Independent random streams under spotting.seed (distinct from the clip dataset's 0-2 and
# the other formats', so the two datasets never share draws).
PLAN_STREAM, SUBJECT_STREAM, VIDEO_STREAM = 40, 41, 42

APEX_SHARE = (0.35, 0.6)  # where the apex lies between onset and offset
MACRO_GAIN = 2.5  # a macro-expression moves the skin this much more than a micro one
EMOTIONS = ("disgust", "happiness", "repression", "surprise", "others")  # AU patterns drawn from

# Distractors at noise = 1.
BLINK_EVERY = (2.0, 6.0)  # s between blinks
BLINK_SECONDS = (0.1, 0.3)
BLINK_DEPTH = (0.7, 1.0)  # fraction of the eye the lid covers
TALK_EVERY = (4.0, 10.0)  # s between the starts of talking stretches
TALK_SECONDS = (1.0, 3.0)
TALK_HZ = (3.0, 5.0)  # syllable rate
TALK_INTENSITY = (0.4, 1.0)  # AU25 + AU26 intensity at a syllable's peak
SHIFT_EVERY = (3.0, 8.0)  # s between quick head shifts
SHIFT_SECONDS = (0.15, 0.4)
SHIFT_PX = (1.5, 4.0)  # size of a quick head shift, px at 160 px frame width
DRIFT_PX = 2.0  # slow head wander s.d., px
DRIFT_SECONDS = 4.0  # its time scale
JITTER_PX = 0.1  # per-frame head jitter s.d.
ROLL_DEG = 0.5  # slow head roll s.d.
FLICKER = (0.005, 0.02)  # illumination gain amplitude
FLICKER_HZ = (0.5, 3.0)
SENSOR_NOISE = 1.5  # s.d., grey levels
WIDTH_UNIT = 160  # the frame width the px figures above are written for


@dataclass(frozen=True)
class PlannedExpression:
    onset: int  # 0-based frame positions, inclusive
    apex: int
    offset: int
    kind: str  # micro or macro
    emotion: str
    aus: tuple[AuEvent, ...]


@dataclass(frozen=True)
class LongVideoPlan:
    subject: int  # 1-based subject number
    base: str  # portrait
    mirrored: bool
    frames: int
    fps: float
    expressions: tuple[PlannedExpression, ...]  # in time order


def _seconds(frames_per_second: float, span: tuple[float, float],
             rng: np.random.Generator) -> int:
    return max(2, round(rng.uniform(*span) * frames_per_second))


def plan_expressions(frames: int, fps: float, micro: int, macro: int, gain: float,
                     rng: np.random.Generator) -> tuple[PlannedExpression, ...]:
    """Non-overlapping expressions in random order, spread over the video with random gaps."""
    kinds = ["micro"] * micro + ["macro"] * macro
    kinds = [kinds[i] for i in rng.permutation(len(kinds))]
    lengths = [_seconds(fps, MICRO_SECONDS if k == "micro" else MACRO_SECONDS, rng)
               for k in kinds]
    gap = round(GAP_SECONDS * fps)
    free = frames - sum(lengths) - gap * (len(kinds) + 1)
    if free < 0:
        raise ValueError(f"{len(kinds)} expressions do not fit in {frames / fps:.0f} s; "
                         "lengthen spotting.synthetic.seconds or lower micro/macro")
    # Split the free time into len + 1 random shares (a Dirichlet draw), one before each.
    shares = rng.dirichlet(np.ones(len(kinds) + 1)) * free
    expressions = []
    start = 0.0
    for kind, length, share in zip(kinds, lengths, shares, strict=False):
        start += gap + share
        onset = int(start)
        offset = onset + length - 1
        apex = onset + int(np.clip(round(rng.uniform(*APEX_SHARE) * (length - 1)), 1,
                                   length - 2))
        emotion = str(rng.choice(EMOTIONS))
        aus = sample_aus(emotion, gain * (MACRO_GAIN if kind == "macro" else 1.0), rng)
        expressions.append(PlannedExpression(onset, apex, offset, kind, emotion, aus))
        start += length
    return tuple(expressions)


def plan_long_videos(params: LongVideoParams, seed: int) -> tuple[LongVideoPlan, ...]:
    """Every subject's long video: length, expressions and their AUs (no pixels yet)."""
    rng = np.random.default_rng([seed, PLAN_STREAM])
    frames = round(params.seconds * params.fps)
    plans = []
    for subject in plan_subjects(range(1, params.subjects + 1), rng):
        expressions = plan_expressions(frames, params.fps, params.micro, params.macro,
                                       subject.gain, rng)
        plans.append(LongVideoPlan(subject.number, subject.base, subject.mirrored, frames,
                                   params.fps, expressions))
    return tuple(plans)


def _events(frames: int, fps: float, every: tuple[float, float], noise: float,
            rng: np.random.Generator) -> list[int]:
    """Start frames of events that recur every ``every`` s (scaled by 1 / noise)."""
    if noise <= 0:
        return []
    starts, t = [], rng.uniform(0, every[1]) / noise
    while t * fps < frames:
        starts.append(int(t * fps))
        t += rng.uniform(*every) / noise
    return starts


def _bump(frames: int, start: int, length: int) -> np.ndarray:
    """(frames,) sin^2 bump, 0 outside start..start+length, 1 at its middle."""
    phase = (np.arange(frames) - start) / max(length, 1)
    return np.where((phase >= 0) & (phase <= 1), np.sin(np.pi * phase) ** 2, 0.0)


def _smooth_walk(frames: int, dims: int, scale_frames: float,
                 rng: np.random.Generator) -> np.ndarray:
    """(frames, dims) smooth random wander about 0 with unit s.d. over a time scale in frames.

    Each dimension's mean over the video is removed before scaling: a video not much longer
    than the time scale is nearly one value, whose scaled offset would otherwise put the head
    several s.d. away from the middle for the whole video.
    """
    import cv2

    white = rng.standard_normal((frames, dims)).astype(np.float32)
    smooth = cv2.GaussianBlur(white, (1, 0), sigmaX=0.1, sigmaY=scale_frames,
                              borderType=cv2.BORDER_REFLECT).astype(np.float64)
    smooth -= smooth.mean(axis=0)
    return smooth / max(float(smooth.std()), 1e-6)


def sample_distractors(frames: int, fps: float, width: int, noise: float,
                       rng: np.random.Generator) -> tuple[Nuisance, list[tuple[float, np.ndarray]]]:
    """The video's nuisance (head, light, blinks, sensor) and talking stretches.

    Talking: (intensity, (frames,) profile) pairs, each driving AU25 + AU26.
    """
    px = width / WIDTH_UNIT
    shifts = noise * px * DRIFT_PX * _smooth_walk(frames, 2, DRIFT_SECONDS * fps, rng)
    shifts += noise * JITTER_PX * rng.standard_normal((frames, 2))
    for start in _events(frames, fps, SHIFT_EVERY, noise, rng):
        length = _seconds(fps, SHIFT_SECONDS, rng)
        heading = rng.uniform(0, 2 * math.pi)
        step = noise * px * rng.uniform(*SHIFT_PX) * np.array([math.cos(heading),
                                                               math.sin(heading)])
        # A raised-cosine step: the head moves and stays there.
        phase = np.clip((np.arange(frames) - start) / length, 0, 1)
        shifts += (0.5 - 0.5 * np.cos(np.pi * phase))[:, None] * step
    angles = noise * ROLL_DEG * _smooth_walk(frames, 1, DRIFT_SECONDS * fps, rng)[:, 0]
    t = np.arange(frames) / fps
    gains = 1 + noise * rng.uniform(*FLICKER) * np.sin(
        2 * math.pi * rng.uniform(*FLICKER_HZ) * t + rng.uniform(0, 2 * math.pi))
    blink = np.zeros(frames)
    for start in _events(frames, fps, BLINK_EVERY, noise, rng):
        blink = np.maximum(blink, rng.uniform(*BLINK_DEPTH)
                           * _bump(frames, start, _seconds(fps, BLINK_SECONDS, rng)))
    talking = []
    for start in _events(frames, fps, TALK_EVERY, noise, rng):
        length = _seconds(fps, TALK_SECONDS, rng)
        inside = (np.arange(frames) >= start) & (np.arange(frames) < start + length)
        syllables = np.sin(math.pi * rng.uniform(*TALK_HZ) * (t - start / fps)) ** 2
        talking.append((float(rng.uniform(*TALK_INTENSITY)), np.where(inside, syllables, 0.0)))
    return Nuisance(shifts, angles, gains, blink, noise * SENSOR_NOISE), talking


def build_face(plan: LongVideoPlan, params: LongVideoParams, seed: int) -> SubjectFace:
    """The subject's face, drawn from RNG (seed, SUBJECT_STREAM, subject number)."""
    base = load_base_face(plan.base, plan.mirrored, params.frame_width, params.frame_height)
    return make_subject(base, plan.subject, np.random.default_rng([seed, SUBJECT_STREAM,
                                                                   plan.subject]))


def render_long_video(plan: LongVideoPlan, subject: SubjectFace, params: LongVideoParams,
                      seed: int) -> Iterator[np.ndarray]:
    """The video's (H, W, 3) uint8 BGR frames in order, before JPEG."""
    rng = np.random.default_rng([seed, VIDEO_STREAM, plan.subject])
    shape = subject.neutral.shape[:2]
    nuisance, talking = sample_distractors(plan.frames, plan.fps, shape[1], params.noise, rng)
    layers = []
    for e in plan.expressions:
        profile = np.zeros(plan.frames)
        profile[e.onset:e.offset + 1] = expression_profile(e.offset - e.onset + 1,
                                                           e.apex - e.onset)
        layers.append((expression_field(subject.landmarks, e.aus, shape, params.intensity),
                       profile))
    for intensity, profile in talking:
        aus = (AuEvent(25, intensity), AuEvent(26, intensity))
        layers.append((expression_field(subject.landmarks, aus, shape, params.intensity),
                       profile))
    return render_sequence(subject, layers, nuisance, rng)


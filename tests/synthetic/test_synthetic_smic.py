"""The SMIC-HS-format synthetic set is SMIC-HS's on-disk format, read by the real SMIC adapter."""

import csv
import re
from collections import Counter

import cv2
import numpy as np
import pytest

from mer.config import SyntheticParams
from mer.core.frames import NO_FRAME
from mer.data.clips import APEX_MISSING, BOUNDS_FROM_FOLDER
from mer.data.repairs import resolve_frames
from mer.data.smic import read_smic
from mer.synthetic.face import sample_nuisance
from mer.synthetic.write_casme2 import plan_dataset
from mer.synthetic.write_smic import (
    GROUND_TRUTH,
    NON_MICRO,
    SMIC_CLASS_COUNTS,
    SMIC_SUBJECT_IDS,
    class_counts,
    plan_smic,
)


@pytest.fixture(scope="module")
def default_plan():
    return plan_smic(SyntheticParams(), seed=0)


def test_the_real_adapter_reads_the_planned_clips(tiny_all_dataset, tiny_all_params):
    plan = plan_smic(tiny_all_params, seed=0)
    corpus = read_smic(tiny_all_dataset)
    assert len(corpus.clips) == len(plan.clips) == 6
    for clip, planned in zip(corpus.clips, plan.clips, strict=True):
        assert (clip.subject, clip.clip, clip.emotion) == (f"s{planned.subject}", planned.name,
                                                           planned.emotion)
        assert (clip.onset, clip.offset, clip.fps) == (planned.onset, planned.offset, 100.0)
        assert clip.apex == NO_FRAME and clip.aus == ""  # SMIC annotates neither
        assert {APEX_MISSING, BOUNDS_FROM_FOLDER} <= set(clip.flags)
        assert len(resolve_frames(clip).frame_paths) == planned.frames
    assert {c.emotion for c in corpus.clips} == {"negative", "positive", "surprise"}


def test_non_micro_clips_are_written_and_ignored(tiny_all_dataset, tiny_all_params):
    plan = plan_smic(tiny_all_params, seed=0)
    assert len(plan.non_micro) == 2
    for clip in plan.non_micro:
        folder = tiny_all_dataset / clip.folder
        assert folder.parent.name == NON_MICRO and len(list(folder.glob("*.bmp"))) == clip.frames
    read = {c.clip for c in read_smic(tiny_all_dataset).clips}
    assert not read & {c.name for c in plan.non_micro}


def test_frames_are_colour_bmps_named_as_smics(tiny_all_dataset, tiny_all_params):
    for clip in plan_smic(tiny_all_params, seed=0).clips:
        assert re.fullmatch(r"HS/s\d+/micro/(negative|positive|surprise)/s\d+_(ne|po|sur)_\d{2}",
                            clip.folder)
        names = sorted(p.name for p in (tiny_all_dataset / clip.folder).iterdir())
        assert names == [f"image{n:07d}.bmp" for n in range(clip.onset, clip.offset + 1)]
    image = cv2.imread(str(tiny_all_dataset / clip.folder / names[0]), cv2.IMREAD_UNCHANGED)
    assert image.shape == (194, 160, 3)
    assert np.abs(image[..., 0].astype(int) - image[..., 2]).mean() > 1  # colour, not grey


def test_ground_truth_serves_as_an_annotation_csv(tiny_all_dataset, tiny_all_params):
    plan = plan_smic(tiny_all_params, seed=0)
    truth = list(csv.DictReader((tiny_all_dataset / GROUND_TRUTH).open(encoding="utf-8")))
    assert [r["clip"] for r in truth] == [c.name for c in plan.clips]
    for row, clip in zip(truth, plan.clips, strict=True):
        assert row["aus"] == clip.au_string
        present = {int(k[2:]) for k, v in row.items() if k.startswith("AU") and float(v) > 0}
        assert present == {e.au for e in clip.aus}
    corpus = read_smic(tiny_all_dataset, tiny_all_dataset / GROUND_TRUTH)
    assert [c.apex for c in corpus.clips] == [c.apex for c in plan.clips]


def test_default_plan_has_smics_size_classes_and_ids(default_plan):
    assert len(default_plan.subjects) == 16 and len(default_plan.clips) == 164
    assert Counter(c.emotion for c in default_plan.clips) == Counter(SMIC_CLASS_COUNTS)
    assert tuple(s.number for s in default_plan.subjects) == SMIC_SUBJECT_IDS
    assert min(Counter(c.subject for c in default_plan.clips).values()) >= 2
    assert len({c.name for c in default_plan.clips}) == 164
    assert all(c.onset < c.apex < c.offset for c in default_plan.clips)


def test_clips_are_half_as_many_frames_as_at_200_fps(default_plan):
    smic = np.median([c.frames for c in default_plan.clips])
    casme2 = np.median([c.frames for c in plan_dataset(SyntheticParams(), seed=0).clips])
    assert 0.4 < smic / casme2 < 0.7
    assert max(c.frames for c in default_plan.clips) <= 58  # at most ~0.5 s at 100 fps


def test_blinks_last_as_long_in_time_at_100_fps():
    def blink_frames(fps):
        lengths = [np.count_nonzero(sample_nuisance(400, 1.0, np.random.default_rng(s), fps).blink)
                   for s in range(60)]
        return np.mean([n for n in lengths if n])

    assert blink_frames(100) == pytest.approx(blink_frames(200) / 2, rel=0.15)


def test_negative_mixes_aus_and_classes_overlap(default_plan):
    negative = Counter(e.au for c in default_plan.clips if c.emotion == "negative"
                       for e in c.aus)
    assert {4, 7, 9, 10, 15, 17} <= set(negative)
    by_class = {e: {c.au_string for c in default_plan.clips if c.emotion == e}
                for e in SMIC_CLASS_COUNTS}
    assert by_class["negative"] & by_class["positive"]  # e.g. a plain AU4


def test_class_counts_scale_and_keep_every_class():
    assert class_counts(164) == SMIC_CLASS_COUNTS
    assert all(n > 0 for n in class_counts(3).values())
    plan = plan_smic(SyntheticParams(subjects=2, clips=4), seed=0)
    assert len(plan.subjects) == 2 and len(plan.clips) == 4
    assert {c.emotion for c in plan.clips} == set(SMIC_CLASS_COUNTS)

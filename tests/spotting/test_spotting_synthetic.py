"""The embedded long videos: CAS(ME)^2's format, read back by the real reader, as planned."""

import re

import pytest

from mer.config import MICRO_SECONDS, FeatureParams, LongVideoParams
from mer.data.casme_sq import read_casme_sq
from mer.synthetic.long_videos import plan_long_videos
from mer.synthetic.write_casme_sq import workbook_bytes


def test_plan_places_non_overlapping_expressions_of_the_right_lengths():
    params = LongVideoParams(subjects=3, seconds=20.0, micro=4, macro=2)
    plans = plan_long_videos(params, seed=3)
    assert len(plans) == 3
    for plan in plans:
        kinds = [e.kind for e in plan.expressions]
        assert kinds.count("micro") == 4 and kinds.count("macro") == 2
        for e in plan.expressions:
            assert e.onset < e.apex < e.offset < plan.frames
            seconds = (e.offset - e.onset + 1) / plan.fps
            if e.kind == "micro":
                assert seconds <= MICRO_SECONDS[1] + 1 / plan.fps
            else:
                assert seconds > MICRO_SECONDS[1]
        for a, b in zip(plan.expressions, plan.expressions[1:], strict=False):
            assert a.offset < b.onset


def test_plan_and_workbook_are_deterministic():
    params = LongVideoParams(subjects=2, seconds=10.0, micro=2, macro=1)
    assert plan_long_videos(params, 1) == plan_long_videos(params, 1)
    assert plan_long_videos(params, 1) != plan_long_videos(params, 2)
    assert workbook_bytes(plan_long_videos(params, 1)) == workbook_bytes(
        plan_long_videos(params, 1))


def test_corpus_reads_back_through_the_casme_sq_reader(tiny_long_corpus, tiny_spotting):
    videos = read_casme_sq(tiny_long_corpus)
    plans = plan_long_videos(tiny_spotting.synthetic, seed=0)
    assert [v.subject for v in videos] == ["s15", "s16"]
    for video, plan in zip(videos, plans, strict=True):
        assert len(video.frames) == plan.frames == 240
        assert video.fps == 30.0
        assert [(i.onset, i.apex, i.offset, i.kind) for i in video.intervals] == [
            (e.onset, e.apex, e.offset, e.kind) for e in plan.expressions]


def test_the_synthetic_corpus_is_read_at_the_frame_rate_it_was_written(tiny_long_corpus,
                                                                       tiny_spotting):
    """The issue: spotting.synthetic.fps 60 wrote 60 fps videos that spot-eval read as
    CAS(ME)^2's 30 fps, halving every window and scoring F1 0.08 instead of 0.48."""
    from mer.data.spotting_corpora import read_spotting_corpus

    at_60 = tiny_spotting.model_copy(update={
        "root": tiny_long_corpus,
        "synthetic": tiny_spotting.synthetic.model_copy(update={"fps": 60.0})})
    assert {v.fps for v in read_spotting_corpus(at_60)} == {60.0}
    at_30 = at_60.model_copy(update={"synthetic": tiny_spotting.synthetic})
    assert {v.fps for v in read_spotting_corpus(at_30)} == {30.0}


def test_short_long_videos_keep_the_head_in_view(tmp_path):
    """The issue: 6 s videos drifted the head several s.d. off the middle for the whole video
    (the wander kept the mean of a nearly constant draw), and spot-eval found no face."""
    import cv2
    import numpy as np

    from mer.faces.landmarks import detect_faces
    from mer.spotting.signals import DETECT_UPSAMPLE
    from mer.synthetic.long_videos import _smooth_walk
    from mer.synthetic.write_casme_sq import write_long_videos

    walk = _smooth_walk(180, 2, 120, np.random.default_rng(0))
    assert np.allclose(walk.mean(axis=0), 0) and np.isclose(walk.std(), 1)
    params = LongVideoParams(subjects=2, seconds=6.0, micro=1, macro=1)
    write_long_videos(tmp_path / "long", params, seed=0, workers=1)
    for video in read_casme_sq(tmp_path / "long"):
        first = cv2.imread(str(video.frames[0]), cv2.IMREAD_GRAYSCALE)
        assert detect_faces(first, DETECT_UPSAMPLE), video.video


def test_a_frame_of_another_size_in_a_long_video_is_an_error_naming_it(tiny_long_corpus,
                                                                        tiny_spotting, tmp_path):
    """The re-check: one frame of another size in a long video was read without a word (the
    tracked face crop then lands elsewhere on it; the baseline's F1 changed), while a clip's
    is an error. It is an error naming the frame, its size, and the video."""
    import shutil

    import cv2

    from mer.core.frames import FrameError
    from mer.spotting.folds import corpus_signals

    root = tmp_path / "long"
    shutil.copytree(tiny_long_corpus, root)
    video = read_casme_sq(root)[0]
    odd = video.frames[30]
    cv2.imwrite(str(odd), cv2.resize(cv2.imread(str(odd)), (100, 120)))
    with pytest.raises(FrameError, match=(
            rf"{video.dataset} video {video.video}: frames differ in size: frame "
            rf"{re.escape(str(odd))} is 100x120 px, while frame "
            rf"{re.escape(str(video.frames[0]))} is \d+x\d+ px")):
        corpus_signals([video], tiny_spotting, FeatureParams())


def test_spot_synthesize_names_the_folder_it_wrote(tmp_path, monkeypatch, caplog):
    """A break-it session: `mer spot-synthesize` logged the temporary folder it wrote the
    videos in, gone once the stage ended."""
    import logging

    import yaml

    from mer.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(
        {"spotting": {"workers": 1, "synthetic": {"subjects": 2, "seconds": 8.0, "micro": 2,
                                                  "macro": 1}}}), encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="mer"):
        assert main(["spot-synthesize"]) == 0
    said = [r.getMessage() for r in caplog.records]
    assert "wrote the synthetic long videos to data/synthetic_long" in said
    assert not [m for m in said if "/.synthetic_long." in m]
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["synthetic_long"]

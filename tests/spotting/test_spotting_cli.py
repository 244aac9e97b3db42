"""`mer spot --video`: every interval printed and written, offline and while reading."""

import csv
import json
import math
import re

import cv2
import pytest

from mer.cli import main
from mer.config import FeatureParams, SpottingParams
from mer.data.casme_sq import read_casme_sq
from mer.spotting.folds import corpus_signals
from mer.spotting.spotter import follow_signals, spot


def write_avi(path, frames, fps=30.0):
    """The frame files ``frames`` as a lossless AVI at ``path``, declaring ``fps``."""
    first = cv2.imread(str(frames[0]))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), fps,
                             (first.shape[1], first.shape[0]))
    for frame in frames:
        writer.write(cv2.imread(str(frame)))
    writer.release()
    return path


@pytest.fixture(scope="module")
def tiny_video(tiny_long_corpus, tmp_path_factory):
    """Subject s15's tiny long video as a lossless 30 fps AVI, and its frames' video."""
    video = read_casme_sq(tiny_long_corpus)[0]
    return write_avi(tmp_path_factory.mktemp("video") / "s15.avi", video.frames), video


def test_spot_prints_and_writes_the_spotters_intervals(tiny_video, tmp_path, monkeypatch,
                                                       capsys, tiny_spotting):
    path, video = tiny_video
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("{}\n", encoding="utf-8")
    assert main(["spot", "--video", str(path), "--spot-only", "--p", "0.3", "0.3",
                 "--out", "i.csv"]) == 0
    out = capsys.readouterr()
    printed = out.out.splitlines()
    rows = list(csv.DictReader((tmp_path / "i.csv").open()))
    assert f"\n{len(rows)} interval{'' if len(rows) == 1 else 's'} (" in f"\n{out.err}"
    # the same intervals as the spotter on the frames' signals (lossless video)
    (signals,) = corpus_signals([video], tiny_spotting, FeatureParams())
    expected = spot(signals, {"micro": 0.3, "macro": 0.3}, SpottingParams().noise_floor)
    assert [(int(r["onset"]), int(r["apex"]), int(r["offset"]), r["kind"]) for r in rows] == [
        (s.interval.onset, s.interval.apex, s.interval.offset, s.interval.kind)
        for s in expected]
    assert len(printed) == len(rows) > 0
    assert float(rows[0]["apex_s"]) == pytest.approx(int(rows[0]["apex"]) / 30, abs=1e-3)


def test_a_folder_of_frames_is_spotted_as_its_video(tiny_video, tmp_path, monkeypatch,
                                                     capsys):
    """The re-check: a folder of numbered frames (how the corpora and high-speed cameras
    store video) could not be spotted, and the error pointed at `mer predict --clip`, which
    does not spot. It is read as the video of its frames, given --fps."""
    path, video = tiny_video
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("{}\n", encoding="utf-8")
    folder = video.frames[0].parent
    assert main(["spot", "--video", str(folder), "--spot-only", "--p", "0.3", "0.3"]) == 2
    assert (f"{folder}: a folder of frames gives no frame rate; pass --fps with the video's "
            "frame rate (spotting reads 4 to 10000 frames/s)"
            in capsys.readouterr().err)
    for given, out in ((path, "file.csv"), (folder, "folder.csv")):
        assert main(["spot", "--video", str(given), "--spot-only", "--p", "0.3", "0.3",
                     "--fps", "30", "--out", out]) == 0
    from_file = list(csv.DictReader((tmp_path / "file.csv").open()))
    from_folder = list(csv.DictReader((tmp_path / "folder.csv").open()))
    assert len(from_folder) == len(from_file) > 0
    # The re-check: a folder's rows gave positions from 0, not the frames' own numbers (the
    # coding sheet's): img1.jpg is frame 1, position 0; the seconds are the same.
    for a, b in zip(from_file, from_folder, strict=True):
        assert [int(b[c]) for c in ("onset", "apex", "offset")] == [
            int(a[c]) + 1 for c in ("onset", "apex", "offset")]
        assert [b[c] for c in ("onset_s", "apex_s", "offset_s", "kind", "confidence")] == [
            a[c] for c in ("onset_s", "apex_s", "offset_s", "kind", "confidence")]


def test_a_folder_with_a_gap_gives_the_frames_own_numbers_after_it(tiny_video, tmp_path,
                                                                   monkeypatch, caplog,
                                                                   tiny_spotting):
    """The re-check: after a gap in the numbering the rows were off by the gap's size (in
    frames and seconds), and the gap was warned about twice."""
    import shutil

    _, video = tiny_video
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("{}\n", encoding="utf-8")
    folder = tmp_path / "frames"
    folder.mkdir()
    for number, frame in enumerate(video.frames, start=1):  # img1..img10, then img21..
        shutil.copy(frame, folder / f"img{number if number <= 10 else number + 10}.jpg")
    with caplog.at_level("WARNING"):
        assert main(["spot", "--video", str(folder), "--spot-only", "--p", "0.3", "0.3",
                     "--fps", "30", "--out", "gap.csv"]) == 0
    assert caplog.text.count("frame(s) 11, 12, 13, 14, 15, ... (10 in all) are missing") == 1
    rows = list(csv.DictReader((tmp_path / "gap.csv").open()))
    (signals,) = corpus_signals([video], tiny_spotting, FeatureParams())
    expected = spot(signals, {"micro": 0.3, "macro": 0.3}, SpottingParams().noise_floor)
    assert [int(r["onset"]) for r in rows] == [
        s.interval.onset + (1 if s.interval.onset < 10 else 11) for s in expected]
    assert [float(r["onset_s"]) for r in rows] == [
        round((int(r["onset"]) - 1) / 30, 3) for r in rows]


@pytest.fixture(scope="module")
def still_face_video(tmp_path_factory):
    """5 s at 30 fps of a real face that does not move, with a camera's sensor noise."""
    from benchmarks.bench_spotting import still_face_video

    return still_face_video(tmp_path_factory.mktemp("still") / "still.avi", 150)


@pytest.mark.parametrize("follow", [False, True])
def test_a_still_face_spots_nothing(still_face_video, tmp_path, monkeypatch, capsys, follow):
    """A break-it session: `mer spot` on a video of a face that did not move spotted its
    sensor noise, 6 intervals in 5 s (32 in 30 s), each a "micro-expression" the model then
    labelled. The noise floor (spotting.noise_floor) spots none; at 0, the MEGC threshold
    alone, the same video still spots its noise."""
    monkeypatch.chdir(tmp_path)
    command = ["spot", "--video", str(still_face_video), "--spot-only", "--p", "0.3", "0.35",
               *(["--follow"] if follow else [])]
    (tmp_path / "params.yaml").write_text("{}\n", encoding="utf-8")
    assert main(command) == 0
    out = capsys.readouterr()
    assert out.out == ""
    assert "0 intervals (0 micro) in 150 frames" in out.err
    assert "no motion peak stands the spotter's noise floor (6 robust standard" in out.err
    (tmp_path / "params.yaml").write_text("spotting: {noise_floor: 0}\n", encoding="utf-8")
    assert main(command) == 0
    assert len(capsys.readouterr().out.splitlines()) >= 3


def test_the_benchmarks_still_face_row_counts_both_thresholds(tmp_path):
    """A break-it session: bench_spotting's still-face row read the video with iter(read,
    None), which compares each frame with None, and died on the first one."""
    from benchmarks.bench_spotting import still_face_spots

    from mer.config import Params

    counts = still_face_spots(Params(), {"micro": 0.3, "macro": 0.35}, tmp_path / "still.avi",
                              seconds=5.0)
    assert counts[6.0] == 0 and counts[0.0] > 0


def test_follow_reports_intervals_with_the_fitted_p(tiny_video, tmp_path, monkeypatch, capsys,
                                                   caplog):
    path, _ = tiny_video
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("{}\n", encoding="utf-8")
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "spotting.json").write_text(
        json.dumps({"synthetic": {"p": {"micro": 0.3, "macro": 0.3}}}), encoding="utf-8")
    with caplog.at_level("WARNING", logger="mer.spotting"):
        assert main(["spot", "--video", str(path), "--spot-only", "--follow", "--out",
                     "i.json"]) == 0
    # The re-check: a report without the record of its params was used without a word.
    assert ("reports/spotting.json records no params its p were fitted under (an older mer "
            "wrote it), so they are used unchecked") in caplog.text
    out = capsys.readouterr()
    rows = json.loads((tmp_path / "i.json").read_text())
    assert len(out.out.splitlines()) == len(rows) > 0
    assert all(r["onset"] <= r["apex"] <= r["offset"] for r in rows)
    assert "x real time" in out.err


def test_spot_without_fitted_thresholds_says_what_to_run(tiny_video, tmp_path, monkeypatch,
                                                         capsys):
    path, _ = tiny_video
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("{}\n", encoding="utf-8")
    assert main(["spot", "--video", str(path), "--spot-only"]) != 0
    assert "mer spot-eval" in capsys.readouterr().err
    assert main(["spot", "--video", str(path), "--p", "0.3", "0.3", "--out", "x.txt"]) != 0
    assert ".csv or .json" in capsys.readouterr().err


def test_spot_without_a_registered_model_says_what_to_do(tiny_video, tmp_path, monkeypatch,
                                                        capsys):
    """Recognition is the default: no model is an error naming the ways out, never a silent
    spotting-only answer; nothing is written."""
    path, _ = tiny_video
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (tmp_path / "params.yaml").write_text("{}\n", encoding="utf-8")
    assert main(["spot", "--video", str(path), "--p", "0.3", "0.3", "--out", "i.csv"]) == 2
    message = capsys.readouterr().err
    assert "mer register" in message and "--spot-only" in message
    assert "Traceback" not in message and not (tmp_path / "i.csv").exists()
    assert not (tmp_path / "mlflow.db").exists()  # reading a model never creates a store


def test_a_video_may_start_without_a_face(tiny_video, tiny_spotting, caplog):
    """The issue: spotting found the face on the first frame only, and a video that opened on
    a fade-in or an empty chair was refused. Now the face is found on the first frame that
    shows one; the frames before it have no signal, and the rest are measured as before."""
    import numpy as np

    from mer.errors import MerError
    from mer.spotting.signals import read_frames, video_signals

    _, video = tiny_video
    frames = list(read_frames(video.frames))
    lead = [np.zeros_like(frames[0])] * 7  # a black lead-in
    params, features = tiny_spotting, FeatureParams()
    plain = video_signals(frames, video.fps, params, features, "plain")
    with caplog.at_level("WARNING", logger="mer.spotting"):
        late = video_signals(lead + frames, video.fps, params, features, "late.avi")
    assert "late.avi: no face in frames 0-6" in caplog.text
    assert late.frames == plain.frames + 7
    for scale in plain.score:
        assert not late.score[scale][:7].any() and not late.magnitude[scale][:7].any()
        np.testing.assert_array_equal(late.score[scale][7:], plain.score[scale])
        np.testing.assert_array_equal(late.magnitude[scale][7:], plain.magnitude[scale])
    with pytest.raises(MerError, match=r"empty\.avi: no face found in any of its 7 frames"):
        video_signals(lead, video.fps, params, features, "empty.avi")
    # A break-it session: frames without a face counted as 0 in the threshold's mean, so the
    # longer the empty chair before the face, the more intervals in the same face frames (30 s
    # turned 11 into 17). The same spots now, offline and followed, however long it lasts.
    n = len(frames)
    chair = video_signals([np.zeros_like(frames[0])] * n + frames, video.fps, params,
                          features, "chair.avi")
    assert not chair.face[:n].any() and chair.face[n:].all()
    p = {"micro": 0.3, "macro": 0.3}
    for spots in (spot, follow_signals):
        alone = [(s.interval.apex, s.interval.kind, round(s.confidence, 9))
                 for s in spots(plain, p)]
        after = [(s.interval.apex - n, s.interval.kind, round(s.confidence, 9))
                 for s in spots(chair, p)]
        assert after == alone and alone, spots


def test_a_face_that_leaves_or_moves_is_followed_not_measured_where_it_was(tiny_video,
                                                                          tiny_spotting,
                                                                          caplog):
    """The issue: the face was found once and its crop followed by phase correlation, which
    cannot tell a face from what replaces it: after the person left (or moved), the spotter
    measured the empty place for the rest of the video, 0 intervals and no warning. Each second
    the face is checked; a face gone has no signal until found again, a face moved is tracked
    again where it is now, and each part is measured as on its own."""
    import numpy as np

    from mer.spotting.signals import read_frames, video_signals

    _, video = tiny_video
    frames = list(read_frames(video.frames))
    assert len(frames) > 150
    height, width = frames[0].shape[:2]
    # the person steps back: the face, smaller and elsewhere, is not in the crop any more
    back = cv2.getRotationMatrix2D((0.3 * width, 0.4 * height), 0.0, 0.55)
    moved = [cv2.warpAffine(f, back, (width, height), borderMode=cv2.BORDER_REPLICATE)
             for f in frames[90:]]
    gap = [np.zeros_like(frames[0])] * 20
    params, features = tiny_spotting, FeatureParams()

    def assert_parts(whole, *parts):
        """``whole``'s signals are those of ``parts`` (signals, or a count of 0s) in a row."""
        for field in ("score", "magnitude"):
            for scale, signal in getattr(whole, field).items():
                np.testing.assert_array_equal(signal, np.concatenate([
                    np.zeros(p) if isinstance(p, int) else getattr(p, field)[scale]
                    for p in parts]))

    before = video_signals(frames[:90], video.fps, params, features, "before")
    after = video_signals(moved, video.fps, params, features, "after")
    with caplog.at_level("WARNING", logger="mer.spotting"):
        left = video_signals(frames[:90] + gap + moved, video.fps, params, features, "left.avi")
    assert "left.avi: the face left the view by frame 90 (3.0 s)" in caplog.text
    assert "left.avi: no face in frames 90-109 (0.7 s); spotting starts again at frame 110" \
        in caplog.text
    assert_parts(left, before, 20, after)
    gone = video_signals(frames[:90] + gap, video.fps, params, features, "gone.avi")
    assert_parts(gone, before, 20)  # a face that left for good: no signal, not an error
    caplog.clear()
    with caplog.at_level("WARNING", logger="mer.spotting"):
        stepped = video_signals(frames[:90] + moved, video.fps, params, features, "step.avi")
    assert "step.avi: the face moved away from where it was tracked by frame 90 (3.0 s)" \
        in caplog.text
    assert_parts(stepped, before, after)


@pytest.mark.parametrize("fps", ["nan", "inf", "0", "-30", "1e-9", "0.5", "3.9", "1e19",
                                 "20000"])
def test_a_frame_rate_that_is_not_one_is_refused(tiny_video, tmp_path, monkeypatch, capsys,
                                                fps):
    """The issue: --fps nan and inf gave tracebacks, 0 was ignored for the file's rate, -30
    was said to be missing, and 1e-9 made a 90 000 000 000 s video. A break-it session: 1e19
    with --follow overflowed the frame buffer, a traceback. Another (h49): --fps was held to
    1..10000 frames/s and a request to a served model to another bound, and 0.5 passed the
    first; one rule (signals.frame_rate_fault) holds for both, and names the bound it breaks."""
    path, _ = tiny_video
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("{}\n", encoding="utf-8")
    assert main(["spot", "--video", str(path), "--spot-only", "--p", "0.3", "0.3",
                 "--fps", fps]) == 2
    rate = float(fps)
    why = ("a micro interval (the apex +- 1 frame at the least) would span" if 0 < rate < 4
           else "faster than spotting's windows" if 10_000 < rate < math.inf
           else "no video's rate")
    assert re.search(rf"--fps {re.escape(f'{rate:g}')}: {re.escape(why)}.*; spotting reads 4 "
                     r"to 10000 frames/s; give the video's frame rate in frames/s \(CASME "
                     r"II: 200", capsys.readouterr().err)


def test_a_video_too_short_to_spot_in_is_an_error_not_zero_intervals(tiny_video, tmp_path,
                                                                      monkeypatch, capsys):
    """The issue: a 1- or 3-frame video gave '0 intervals ... in 1 frames' and exit 0, which
    reads as a video without expressions."""
    _, video = tiny_video
    short = write_avi(tmp_path / "short.avi", video.frames[:3])
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("{}\n", encoding="utf-8")
    for follow in ([], ["--follow"]):
        assert main(["spot", "--video", str(short), "--spot-only", "--p", "0.3", "0.3",
                     *follow]) == 2
        err = capsys.readouterr().err
        assert "short.avi: 3 frames with a face in a row (0.10 s at 30 frames/s) are fewer " \
               "than one micro-expression window needs" in err
        assert "pass it with --fps (mer spot) or write it into the file's header (a request " \
               "to a served model)" in err  # a request cannot pass --fps (a break-it session)


def test_an_image_or_a_folder_of_one_frame_is_not_a_video(tiny_video, tmp_path, monkeypatch,
                                                          capsys):
    """A break-it session: a PNG was read as a 1-frame video at OpenCV's invented 25
    frames/s, and refused as "1 frames with a face in a row" too few for the window; a folder
    with one numbered frame likewise, its other files unmentioned."""
    import shutil

    _, video = tiny_video
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("{}\n", encoding="utf-8")
    image = tmp_path / "face.png"
    cv2.imwrite(str(image), cv2.imread(str(video.frames[0])))
    assert main(["spot", "--video", str(image), "--spot-only", "--p", "0.3", "0.3"]) == 2
    assert f"{image}: named as an image (.png), not a video: give a video file, or the " \
           "folder of a video's numbered frames (with --fps)" in capsys.readouterr().err
    one = tmp_path / "one"
    one.mkdir()
    shutil.copy(video.frames[0], one / "img480.jpg")
    assert main(["spot", "--video", str(one), "--spot-only", "--p", "0.3", "0.3", "--fps",
                 "30"]) == 2
    assert f"{one}: the folder holds one numbered frame (img480.jpg), not a video" in \
        capsys.readouterr().err


def test_a_rate_too_low_to_tell_micro_from_macro_is_refused(tiny_video, tmp_path, monkeypatch,
                                                            capsys):
    """A break-it session: a 30 frames/s video whose header said 2 frames/s gave one macro
    interval and exit 0: both windows were 1 frame, so no interval could be micro."""
    path, _ = tiny_video
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("{}\n", encoding="utf-8")
    # At 2 frames/s both windows are 1 frame; at 3 they are 1 and 2 frames, but a micro
    # interval (the apex +- 1 frame) spans 0.67 s, longer than a micro-expression (the
    # re-check): each refused, as with --follow, before the video is read
    # (test_spotting_spotter: the windows' own refusal, where params make them one)
    # (h56: a rate just below a bound is shown in full, not rounded onto it)
    # (h58: "would span 0.5 s, longer than ... at most 0.5 s" where 3 digits round onto it)
    for fps, spans in (("2", "1"), ("3", "0.667"), ("3.99", "0.501"),
                       ("3.9999999", "just over 0.5")):
        for follow in ([], ["--follow"]):
            assert main(["spot", "--video", str(path), "--spot-only", "--p", "0.3", "0.3",
                         "--fps", fps, *follow]) == 2
            assert (f"--fps {fps}: a micro interval (the apex +- 1 frame at the least) would "
                    f"span {spans} s, longer than a micro-expression lasts (at most 0.5 s); "
                    "spotting reads 4 to 10000 frames/s; give the video's frame rate in "
                    "frames/s") in capsys.readouterr().err
    assert main(["spot", "--video", str(path), "--spot-only", "--p", "0.3", "0.3",
                 "--fps", "4"]) == 0  # 1 and 2 frames: a micro interval spans 0.5 s


def test_out_naming_a_folder_is_refused_before_the_work(tiny_video, tmp_path, monkeypatch,
                                                        capsys):
    """The issue: `--out spotdir.csv`, a folder of the user's, was deleted with what it held
    and replaced by the intervals file."""
    path, _ = tiny_video
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("{}\n", encoding="utf-8")
    (tmp_path / "spotdir.csv").mkdir()
    (tmp_path / "spotdir.csv" / "keep.txt").write_text("keep")
    assert main(["spot", "--video", str(path), "--spot-only", "--p", "0.3", "0.3",
                 "--out", "spotdir.csv"]) == 2
    captured = capsys.readouterr()
    assert "cannot write --out spotdir.csv: it is a folder" in captured.err
    assert captured.out == ""  # refused before the work
    assert (tmp_path / "spotdir.csv" / "keep.txt").read_text() == "keep"


def test_a_frame_rate_the_file_declares_is_held_to_the_same_rule(tiny_video, tmp_path,
                                                                 monkeypatch, capsys):
    """The issue: --fps 0.5 was refused, but a file declaring 0.5 frames/s was spotted as
    '180.0 s of video' without a word."""
    _, video = tiny_video
    slow = write_avi(tmp_path / "slow.avi", video.frames[:12], fps=0.5)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("{}\n", encoding="utf-8")
    assert main(["spot", "--video", str(slow), "--spot-only", "--p", "0.3", "0.3"]) == 2
    assert ("slow.avi: the file declares 0.5 frames/s: a micro interval (the apex +- 1 frame "
            "at the least) would span 4 s, longer than a micro-expression lasts (at most 0.5 "
            "s); spotting reads 4 to 10000 frames/s; pass --fps with the video's real frame "
            "rate") in capsys.readouterr().err


def test_stale_fitted_thresholds_say_how_to_reach_the_registered_spotter(
        tiny_video, tmp_path, monkeypatch, capsys):
    """The re-check: refused p said to drop --spot-only to use the registered spotter, but the
    report is read first, so that hit the same refusal: the report must be moved away too."""
    path, _ = tiny_video
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("{}\n", encoding="utf-8")
    from mer.config import load_params
    from mer.spotting.spotter import fitted_with

    (tmp_path / "reports").mkdir()
    fitted = {**fitted_with(load_params("params.yaml")), "spotting.micro_window": 0.3}
    (tmp_path / "reports" / "spotting.json").write_text(json.dumps({"synthetic": {
        "p": {"micro": 0.3, "macro": 0.3}, "fitted_with": fitted}}), encoding="utf-8")
    assert main(["spot", "--video", str(path), "--spot-only"]) == 2
    err = capsys.readouterr().err
    assert "(spotting.micro_window 0.3 there, 0.2 now)" in err
    assert ("or pass --p MICRO MACRO, or move reports/spotting.json away and pass --model "
            "to use the spotter registered with a model") in err


@pytest.mark.parametrize("follow", [False, True])
def test_a_folder_s_frames_are_named_by_their_own_numbers_in_warnings(
        tiny_video, tmp_path, monkeypatch, caplog, follow):
    """The last note: for a folder of frames (img1.jpg ...), the rows gave the frames' own
    numbers but the warnings named positions from 0 ("no face in frames 0-4 ...; spotting
    starts at frame 5" for img1..img5 without a face), so a user looked one frame early.
    They name the frames as the rows do."""
    import shutil

    import numpy as np

    _, video = tiny_video
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("{}\n", encoding="utf-8")
    folder = tmp_path / "frames"
    folder.mkdir()
    blank = np.zeros_like(cv2.imread(str(video.frames[0])))
    for number in (*range(1, 6), *range(16, 21)):  # an empty chair first, a gap in it
        cv2.imwrite(str(folder / f"img{number}.jpg"), blank)
    for number, frame in enumerate(video.frames, start=21):
        shutil.copy(frame, folder / f"img{number}.jpg")
    with caplog.at_level("WARNING"):
        assert main(["spot", "--video", str(folder), "--spot-only", "--p", "0.3", "0.3",
                     "--fps", "30", *(["--follow"] if follow else [])]) == 0
    # The re-check: with a gap, the span was in numbers and its seconds in frames read (0.3).
    assert (f"{folder}: no face in frames 1-20 (0.7 s); spotting starts at frame 21, where "
            "one was found") in caplog.text

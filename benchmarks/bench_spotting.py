"""Spotting F1 (spotter vs the fixed-threshold baseline) and the spotter's frames per second.

The default embedded long videos (6 subjects x 30 s at 30 fps) are written by the real stage;
F1 is the MEGC metric under LOSO, as `mer spot-eval` reports it. Throughput is measured on one
core (OpenCV single-threaded, one process): the signal pass over the corpus's frames, and the
`--follow` path (decode, track, flow, spot) on a 640x480 30 fps video made from one subject's
frames, as a multiple of real time.
"""

from __future__ import annotations

import tempfile
import time
from contextlib import chdir
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
FOLLOW_SIZE = (640, 480)  # the real-time target: a 30 fps 640x480 stream


def _follow_video(frames: tuple[Path, ...], path: Path, fps: float) -> Path:
    """One long video's frames centred on a 640x480 canvas, lossless, at ``fps``."""
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), fps, FOLLOW_SIZE)
    for file in frames:
        image = cv2.imread(str(file))
        scale = min(FOLLOW_SIZE[0] / image.shape[1], FOLLOW_SIZE[1] / image.shape[0]) * 0.8
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        top = (FOLLOW_SIZE[1] - image.shape[0]) // 2
        left = (FOLLOW_SIZE[0] - image.shape[1]) // 2
        writer.write(cv2.copyMakeBorder(image, top, FOLLOW_SIZE[1] - image.shape[0] - top, left,
                                        FOLLOW_SIZE[0] - image.shape[1] - left,
                                        cv2.BORDER_REPLICATE))
    writer.release()
    return path


def run() -> list[dict]:
    import cv2

    from mer.cli import main as mer
    from mer.config import load_params
    from mer.data.spotting_corpora import read_long_videos
    from mer.spotting.folds import corpus_signals, evaluate_corpus
    from mer.spotting.signals import MotionMeter
    from mer.spotting.spotter import FollowSpotter
    from mer.stages.spot import frames_of

    rows = []
    params_yaml = yaml.safe_load((REPO / "params.yaml").read_text())
    params_yaml["spotting"]["workers"] = 1
    with tempfile.TemporaryDirectory() as folder, chdir(folder):
        Path("params.yaml").write_text(yaml.safe_dump(params_yaml))
        started = time.perf_counter()
        assert mer(["spot-synthesize"]) == 0
        rows.append({"benchmark": "spot-synthesize (default long videos)",
                     "value": time.perf_counter() - started, "unit": "s",
                     "note": "one process"})
        params = load_params()
        videos = read_long_videos("casme_sq", params.spotting.root)
        cv2.setNumThreads(1)
        started = time.perf_counter()
        signals = corpus_signals(videos, params.spotting, params.features)
        seconds = time.perf_counter() - started
        frames = sum(s.frames for s in signals)
        report = evaluate_corpus(videos, signals, params.spotting)
        for who in ("spotter", "baseline"):
            for kind in ("micro", "macro", "overall"):
                figures = report[who][kind]
                rows.append({"benchmark": f"{who} {kind} F1", "value": figures["f1"],
                             "unit": "F1", "note": f"LOSO, IoU >= 0.5: TP {figures['tp']} of "
                             f"{figures['spotted']} spotted, {figures['truth']} true"})
        rows.append({"benchmark": "signal pass over the corpus", "value": frames / seconds,
                     "unit": "frames/s", "note": f"{frames} frames, one core, from JPEG files"})
        video = _follow_video(videos[0].frames, Path("follow.avi"), videos[0].fps)
        fps, stream = frames_of(video)
        meter = MotionMeter(params.spotting, params.features, fps, str(video))
        follower = FollowSpotter(meter.windows, report["p"])
        started, count = time.perf_counter(), 0
        for frame in stream:
            count += 1
            for t, score, _ in meter.push(frame):
                follower.push(t, score)
        seconds = time.perf_counter() - started
        rows.append({"benchmark": "mer spot --follow, 640x480 30 fps",
                     "value": count / seconds, "unit": "frames/s",
                     "note": f"{count / fps / seconds:.1f}x real time on one core"})
    return rows

"""Spot every micro- and macro-expression in a video: onset, apex, offset, kind, confidence.

    mer spot --video interview.mp4 [--out intervals.csv|intervals.json] [--follow]

The spotter (mer.spotting) with the thresholds `mer spot-eval` fitted on every subject of the
spotting corpus (reports/spotting.json, key ``p``), or ``--p MICRO MACRO``. Without
``--follow`` the whole video is read first and each scale is thresholded on the whole video,
as in the evaluation; with ``--follow`` each interval is printed as soon as it is sure (about
k frames after its offset), thresholded on the frames read so far.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from mer import paths
from mer.config import load_params
from mer.errors import MerError

COLUMNS = ("onset", "apex", "offset", "onset_s", "apex_s", "offset_s", "kind", "confidence")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--video", required=True, metavar="FILE", help="a video file")
    parser.add_argument("--out", metavar="FILE", help="also write the intervals: .csv or .json")
    parser.add_argument("--follow", action="store_true",
                        help="print each interval while the video is still being read")
    parser.add_argument("--p", nargs=2, type=float, metavar=("MICRO", "MACRO"),
                        help="threshold factors p (default: fitted by mer spot-eval)")
    parser.add_argument("--fps", type=float, help="frame rate, when the file does not say")


def fitted_p(source: str, given: list[float] | None) -> dict[str, float]:
    if given is not None:
        if not all(0 <= p <= 1 for p in given):
            raise MerError(f"--p {given[0]} {given[1]}: each p must lie in 0..1")
        return {"micro": given[0], "macro": given[1]}
    if not paths.SPOTTING.exists():
        raise MerError(f"{paths.SPOTTING} not found: run `dvc repro spot-eval` (or `mer "
                       "spot-eval`) to fit the spotter's thresholds, or pass --p MICRO MACRO")
    report = json.loads(paths.SPOTTING.read_text(encoding="utf-8"))
    if source not in report or "p" not in report[source]:
        raise MerError(f"{paths.SPOTTING} has no fitted p for spotting.source {source}: "
                       "rerun `mer spot-eval`, or pass --p MICRO MACRO")
    return {scale: float(report[source]["p"][scale]) for scale in ("micro", "macro")}


def row(spot, fps: float) -> dict[str, object]:
    i = spot.interval
    return {"onset": i.onset, "apex": i.apex, "offset": i.offset,
            "onset_s": round(i.onset / fps, 3), "apex_s": round(i.apex / fps, 3),
            "offset_s": round(i.offset / fps, 3), "kind": i.kind,
            "confidence": round(spot.confidence, 3)}


def print_row(values: dict[str, object]) -> None:
    print(" ".join(f"{key}={values[key]}" for key in COLUMNS), flush=True)


def write_rows(path: Path, rows: list[dict[str, object]]) -> None:
    from mer.atomic import write_text

    if path.suffix.lower() == ".json":
        write_text(path, json.dumps(rows, indent=2) + "\n")
    elif path.suffix.lower() == ".csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        write_text(path, buffer.getvalue())
    else:
        raise MerError(f"--out {path}: use a .csv or .json file name")


def run(args: argparse.Namespace) -> None:
    from mer.inference.sources import video_frames
    from mer.spotting.signals import MotionMeter, video_signals
    from mer.spotting.spotter import FollowSpotter, spot

    params = load_params(args.params)
    video = Path(args.video)
    if args.out and Path(args.out).suffix.lower() not in (".csv", ".json"):
        raise MerError(f"--out {args.out}: use a .csv or .json file name")
    p = fitted_p(params.spotting.source, args.p)
    fps, frames = video_frames(video)
    fps = args.fps or fps
    if fps <= 0:
        raise MerError(f"{video}: the file gives no frame rate; pass --fps")
    started = time.perf_counter()
    if args.follow:
        meter = MotionMeter(params.spotting, params.features, fps, str(video))
        follower = FollowSpotter(meter.windows, p)
        spots, count = [], 0

        def known_values() -> Iterator[tuple[int, dict[str, float], dict[str, float]]]:
            nonlocal count
            for frame in frames:
                count += 1
                yield from meter.push(frame)
            yield from meter.finish()

        for t, score, _ in known_values():
            for found in follower.push(t, score):
                spots.append(found)
                print_row(row(found, fps))
        if count == 0:
            raise MerError(f"{video}: no frame could be decoded")
    else:
        signals = video_signals(frames, fps, params.spotting, params.features, str(video))
        count = signals.frames
        spots = spot(signals, p)
        for found in spots:
            print_row(row(found, fps))
    seconds = time.perf_counter() - started
    if args.out:
        write_rows(Path(args.out), [row(s, fps) for s in spots])
    print(f"{len(spots)} intervals in {count} frames ({count / fps:.1f} s of video) read at "
          f"{count / seconds:.0f} frames/s, {count / fps / seconds:.1f}x real time",
          file=sys.stderr)

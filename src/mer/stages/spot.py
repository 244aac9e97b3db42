"""Spot every micro- and macro-expression in a video, then recognise each micro-expression.

    mer spot --video interview.mp4 [--out intervals.csv|intervals.json] [--follow]
             [--model URI] [--spot-only] [--p MICRO MACRO] [--fps FPS]

Each interval: onset, apex, offset (frames and seconds), kind, confidence; each micro interval
also the registered model's label and prob_<class>, recognised on its frames onset..offset
with the spotted apex (mer.inference.spot_recognise). The model is the one `mer predict`
loads (--model, default models:/<tracking.model_name>@champion); --spot-only skips the
recognition (with --model, the model is read for its spotter only, the last of the choices
below).

The spotter's thresholds p, first found of: --p MICRO MACRO; this project's
reports/spotting.json (`mer spot-eval`: fitted on every subject of spotting.source, under
this params.yaml); the spotter registered with the model (`mer register` stores it), so a
project with a registry but no spotting report still spots as its served model does. Away
from a project (no params file), --p replaces the registered spotter's p and keeps its signal
settings and noise floor. Which was used is printed on stderr. A peak must also stand
spotting.noise_floor robust standard deviations above the video's median motion, so a still
face spots nothing (mer.spotting.spotter).

Without --follow the whole video is read first and each scale is thresholded on the whole
video, as in the evaluation; with --follow each interval is printed once it is decided, 4
k_macro frames after its apex frame was read (mer.inference.spot_recognise.follow_video),
thresholded on the frames read so far (their mean, maximum, median and spread: early in a
video it can keep a peak the whole video's threshold drops, or the other way round).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from mer import paths
from mer.atomic import check_table_target, write_rows
from mer.config import (
    SPOTTING_RATES,
    Params,
    frame_rate_fault,
    params_of,
    rate_shown,
)
from mer.errors import MerError, ParamsError
from mer.stages.predict import add_model_argument, chosen_model

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--video", required=True, metavar="FILE", help="a video file, or a "
                        "folder of its numbered frames (img1.jpg, ...; with --fps)")
    parser.add_argument("--out", metavar="FILE", help="also write the intervals: .csv or "
                        ".json, once the video has been read (with --follow too)")
    parser.add_argument("--follow", action="store_true",
                        help="print each interval while the video is still being read")
    parser.add_argument("--p", nargs=2, type=float, metavar=("MICRO", "MACRO"),
                        help="threshold factors p (default: fitted by mer spot-eval)")
    parser.add_argument("--fps", type=float, help="frame rate in frames/s, in place of the "
                        "one the file gives (needed when it gives none)")
    add_model_argument(parser)
    parser.add_argument("--spot-only", action="store_true",
                        help="spot intervals without recognising them (no model needed; with "
                        "--model, the spotter registered with it where neither --p nor a "
                        "spotting report is)")


def choose_spotter(params: Params | None, given: Sequence[float] | None, bundle: Any | None,
                   model: str | None) -> tuple[Any, str]:
    """The spotter to run and where its p came from (module docstring: the order); ``params``
    None (no params file) only with the model's own spotter to use."""
    from mer.spotting.spotter import given_spotter, read_fitted_spotter, with_given_p

    if params is None:
        if bundle is None or bundle.spotter is None:
            raise MerError(f"{model} carries no spotter (registered before mer spotted), and "
                           "there is no params file here to spot with: run mer spot in the "
                           "project folder, with its reports/spotting.json or --p MICRO MACRO")
        if given is not None:  # a shipped model folder, thresholds by hand
            return (with_given_p(bundle.spotter, given),
                    f"--p, with the signal settings and noise floor of the spotter registered in "
                    f"{model}")
    elif given is not None:
        return given_spotter(given, params), "--p"
    elif paths.SPOTTING.exists() or bundle is None or bundle.spotter is None:
        try:
            return read_fitted_spotter(paths.SPOTTING, params), str(paths.SPOTTING)
        except MerError as exc:
            # The registered spotter is used only where there is no report to read.
            away = f"move {paths.SPOTTING} away and " if paths.SPOTTING.exists() else ""
            hint = (f", or {away}pass --model to use the spotter registered with a model"
                    if bundle is None else
                    f", or {away.removesuffix(' and ')} to use the spotter registered with "
                    "the model" if away else "")
            raise MerError(f"{exc}, or pass --p MICRO MACRO{hint}") from None
    if params is not None and bundle.spotter.noise_floor != params.spotting.noise_floor:
        # A break-it session: a project's spotting.noise_floor was passed over without a word.
        log.warning("the spotter registered in %s spots with its own noise floor, %g, not %s's "
                    "spotting.noise_floor %g: its p were fitted with it (`mer spot-eval` fits p "
                    "under this project's, or pass --p)", model, bundle.spotter.noise_floor,
                    params.source, params.spotting.noise_floor)
    return bundle.spotter, f"the spotter registered in {model}"


def load_recogniser(model: str, recognise: bool = True) -> tuple[Any, str]:
    """The registered model's bundle and the version it pinned to (models:/name/8 for
    models:/name@champion; mer.tracking.registry.load_pinned_bundle), or a MerError saying
    how to get one or go without; ``recognise`` False: read for its spotter only
    (--spot-only --model)."""
    from mer.tracking.registry import load_pinned_bundle

    try:
        return load_pinned_bundle(model)
    except MerError as exc:
        advice = ("mer spot classifies each micro interval with it: pass --spot-only to "
                  "spot without recognising" if recognise else
                  "--spot-only --model reads the model for its registered spotter only: give "
                  "one that loads, or, in a project folder, drop --model to spot with its "
                  "reports/spotting.json or --p")
        raise MerError(f"{str(exc).rstrip('.')}. {advice}") from None


def text(value: object) -> str:
    return "" if value is None else str(value)


def print_row(values: dict[str, object]) -> None:
    print(" ".join(f"{key}={text(value)}" for key, value in values.items()
                   if value is not None), flush=True)


def run(args: argparse.Namespace) -> None:
    from mer.inference.sources import frame_numbers, video_frames
    from mer.inference.spot_recognise import ERROR, columns, follow_video, spot_video

    # A model folder or registered model carries its fitted spotter: without a report or
    # --p to read under this project's params, none are needed, as for `mer predict --model`
    # (a break-it session: a shipped model folder spotted only beside a params.yaml).
    # (A break-it session: --p and --spot-only needed one too, and said only that it was
    # missing.) Without --model, the params name the champion and hold the fitted spotter.
    needs_params = (args.model is None or paths.SPOTTING.exists()
                    or Path(args.params).exists())
    if args.model is None and not Path(args.params).exists():
        raise ParamsError(f"{args.params} not found: without --model, mer spot reads the "
                          "project's params (its champion model, its fitted spotter); run it "
                          "in the project folder, or pass --model with a model URI or a model "
                          "folder, which carries its spotter (with --spot-only too)")
    params = params_of(args) if needs_params else None
    video = Path(args.video)
    fault = None if args.fps is None else frame_rate_fault(args.fps)
    if fault is not None:
        raise MerError(f"--fps {rate_shown(args.fps)}: {fault}; give the video's frame rate "
                       "in frames/s (CASME II: 200, SAMM: 200, a webcam: 30)")
    if args.out is not None:
        check_table_target(args.out, shown="--out")  # before the work, not after it
    model = args.model if args.spot_only else chosen_model(args.model, args)
    # a missing or unreadable video fails before the model
    fps, frames = video_frames(video, rate_option="--fps")
    numbers = frame_numbers(video)  # a folder's own frame numbers, for the rows
    fps = args.fps if args.fps is not None else fps
    if fps <= 0:
        raise MerError(f"{video}: {'a folder of frames' if video.is_dir() else 'the file'} "
                       "gives no frame rate; pass --fps with the video's frame rate "
                       f"({SPOTTING_RATES})")
    fault = frame_rate_fault(fps)  # as --fps
    if fault is not None:
        raise MerError(f"{video}: the file declares {rate_shown(fps)} frames/s: {fault}; pass "
                       "--fps with the video's real frame rate")
    loaded, version = ((None, None) if model is None
                       else load_recogniser(model, recognise=not args.spot_only))
    spotter, origin = choose_spotter(params, args.p, loaded, model)
    bundle = None if args.spot_only else loaded  # the recogniser
    pinned = "" if version in (None, model) else f" ({version})"
    print(f"spotter: {spotter.describe()} from {origin}"
          + ("" if bundle is None else f"; recogniser: {model}{pinned}"), file=sys.stderr)
    classes = bundle.classes if bundle is not None else ()
    started = time.perf_counter()
    if args.follow:
        count = 0

        def counted() -> Iterator:
            nonlocal count
            for frame in frames:
                count += 1
                yield frame

        found = []
        for interval in follow_video(counted(), fps, spotter, bundle, str(video), numbers):
            found.append(interval)
            print_row(interval.row(classes, numbers))
        if count == 0:
            raise MerError(f"{video}: no frame could be decoded")
    else:
        frames.close()
        found, count = spot_video(lambda: video_frames(video)[1], fps, spotter, bundle,
                                  str(video), numbers)
        for interval in found:
            print_row(interval.row(classes, numbers))
    seconds = time.perf_counter() - started
    if args.out:
        write_rows(args.out, [f.row(classes, numbers) for f in found], columns(classes))
    micro = sum(f.spot.interval.kind == "micro" for f in found)
    failed = sum(bool(f.error) for f in found)
    recognised = ("" if bundle is None else ", all recognised" if not failed else
                  f", {micro - failed} recognised, {failed} not: see {ERROR}")
    print(f"{len(found)} interval{'' if len(found) == 1 else 's'} ({micro} micro{recognised}) in "
          f"{count} frames ({count / fps:.1f} s of video) read at {count / seconds:.0f} "
          f"frames/s, {count / fps / seconds:.1f}x real time", file=sys.stderr)
    if not found and spotter.noise_floor > 0:
        # A break-it session: a clip of 1 s, strong flicker, nothing said why nothing was found.
        print(f"no motion peak stands the spotter's noise floor ({spotter.noise_floor:g} robust "
              "standard deviations above the video's median motion): a still face, or a clip "
              "so short or noisy that an expression cannot be told from its noise (spotting."
              "noise_floor: 0 spots its largest peaks whatever they are; a clip of one "
              "expression is for `mer predict`)", file=sys.stderr)

"""Classify one micro-expression and print JSON: label, class probabilities, moving AU regions.

Give exactly one input: --clip FOLDER (frames named by number, with optional --onset/--apex/
--offset frame numbers), --pair ONSET APEX (two images), or --video FILE (with optional
--start/--end window and --apex, 0-based frame indices; the apex is estimated when absent).
The model is models:/<tracking.model_name>@champion unless --model names another model logged
by `mer register`: models:/name/3, models:/name@challenger, runs:/<run_id>/model or its local
MLflow model folder. A bare file (a pickle) is refused, never read: unpickling runs code.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from mer.tracking.registry import CHAMPION

if TYPE_CHECKING:
    from mer.config import Params


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--clip", metavar="FOLDER", help="folder of numbered frames")
    source.add_argument("--pair", nargs=2, metavar=("ONSET", "APEX"), help="two images")
    source.add_argument("--video", metavar="FILE", help="a video file")
    parser.add_argument("--onset", type=int, help="--clip: onset frame number")
    parser.add_argument("--apex", type=int, help="apex frame number (--clip) or index (--video)")
    parser.add_argument("--offset", type=int, help="--clip: offset frame number")
    parser.add_argument("--start", type=int, help="--video: first frame of the window (0-based)")
    parser.add_argument("--end", type=int, help="--video: last frame of the window (inclusive)")
    add_model_argument(parser)


def add_model_argument(parser: argparse.ArgumentParser) -> None:
    """--model: which registered model to load (`mer predict`, `mer spot`)."""
    parser.add_argument("--model", help="a model logged by `mer register`: models:/NAME@ALIAS, "
                        "models:/NAME/VERSION, runs:/RUN_ID/model or its MLflow model folder "
                        f"(default: models:/<tracking.model_name>@{CHAMPION})")


def chosen_model(model: str | None, params: Params) -> str:
    """The model to load: --model, else the champion of tracking.model_name."""
    return model or f"models:/{params.tracking.model_name}@{CHAMPION}"


def _check_options(args: argparse.Namespace) -> None:
    """Refuse options that do not apply to the chosen input instead of ignoring them."""
    from mer.errors import MerError

    misplaced = {"--onset": (args.onset, "--clip"), "--offset": (args.offset, "--clip"),
                 "--start": (args.start, "--video"), "--end": (args.end, "--video")}
    for option, (value, owner) in misplaced.items():
        if value is not None and not getattr(args, owner.removeprefix("--")):
            raise MerError(f"{option} applies to {owner} only")
    if args.apex is not None and args.pair:
        raise MerError("--apex does not apply to --pair: the second image is the apex")


def run(args: argparse.Namespace) -> None:
    from mer.config import load_params
    from mer.inference import sources
    from mer.inference.predictor import predict_window
    from mer.tracking.registry import load_model_bundle

    _check_options(args)
    if args.clip:
        window = sources.from_clip_folder(args.clip, args.onset, args.apex, args.offset)
    elif args.pair:
        window = sources.from_image_pair(*args.pair)
    else:
        window = sources.from_video(args.video, args.start, args.end, args.apex)
    model = chosen_model(args.model, load_params(args.params))
    bundle = load_model_bundle(model)
    prediction = predict_window(bundle, window)
    json.dump({**prediction.as_dict(), "model": model}, sys.stdout, indent=2)
    sys.stdout.write("\n")

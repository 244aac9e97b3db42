"""``mer <command>``: each pipeline stage, runnable alone, reading ./params.yaml.

DVC's stages call exactly these commands.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence

from mer.errors import MerError

# albumentations phones home on import unless told not to; nothing here may touch the network.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

# command -> (module with add_arguments(parser) and run(args), one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "synthesize": ("mer.stages.synthesize", "generate the embedded CASME II-format dataset"),
    "data": ("mer.stages.data", "build the clip manifest from data.source"),
    "faces": ("mer.stages.faces", "detect, landmark and align every clip's face"),
    "features": ("mer.stages.features", "optical-flow sequences, strain, AU-region features"),
    "train": ("mer.stages.train", "leave-one-subject-out training: out-of-fold predictions"),
    "evaluate": ("mer.stages.evaluate", "pooled metrics and plots from the predictions"),
    "register": ("mer.stages.register", "train on every subject and register in MLflow"),
    "promote": ("mer.stages.promote", "point a registry alias (champion) at a model version"),
    "predict": ("mer.inference.cli", "classify a clip folder, an image pair or a video"),
    "ui": ("mer.tracking.ui", "open the MLflow UI on 127.0.0.1"),
}


Runner = Callable[[argparse.Namespace], object]


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Runner]]:
    parser = argparse.ArgumentParser(
        prog="mer", description="Micro-expression recognition pipeline. Each command reads "
        "./params.yaml; `mer <command> --help` for its options.")
    parser.add_argument("--params", default="params.yaml",
                        help="params file (default: %(default)s)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    sub = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    runners: dict[str, Runner] = {}
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        command = sub.add_parser(name, help=help_text, description=module.__doc__)
        if hasattr(module, "add_arguments"):
            module.add_arguments(command)
        runners[name] = module.run
    return parser, runners


def main(argv: Sequence[str] | None = None) -> int:
    parser, runners = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        runners[args.command](args)
    except MerError as exc:
        print(f"mer {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"mer {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Point a registry alias (default: champion) at a registered model version.

Applications load models:/<tracking.model_name>@champion; promotion is always this explicit
command, never a side effect of training or registering.
"""

from __future__ import annotations

import argparse
import logging

from mer.config import load_params
from mer.tracking.registry import CHAMPION

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--version", help="model version to promote (default: the newest)")
    parser.add_argument("--alias", default=CHAMPION, help="alias to move (default: "
                        "%(default)s; e.g. challenger)")
    parser.add_argument("--name", help="registered model name (default: tracking.model_name)")


def run(args: argparse.Namespace) -> None:
    from mer.tracking.registry import promote

    name = args.name or load_params(args.params).tracking.model_name
    version = promote(name, args.alias, args.version)
    print(f"models:/{name}@{args.alias} -> version {version}")

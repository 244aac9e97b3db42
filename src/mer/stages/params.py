"""Print the default params file, write it, or check a params file against it.

src/mer/config.py holds every default and its comment; `mer params --write --force`
regenerates the repository's params.yaml from it, so the two cannot drift.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mer.atomic import write_text
from mer.config import (
    changed_values,
    check_data_paths,
    check_spotting_paths,
    default_params_yaml,
    load_params,
    yaml_value,
)
from mer.errors import MerError
from mer.stages.synthesize import check_embedded_sources


def add_arguments(parser: argparse.ArgumentParser) -> None:
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true",
                        help="write the defaults to the params file (the global --params)")
    action.add_argument("--check", action="store_true",
                        help="validate the params file and list the values that differ from "
                        "the defaults")
    parser.add_argument("--force", action="store_true",
                        help="with --write: replace an existing params file")


def check(path: Path) -> list[str]:
    """Validate the params file at ``path``, and the corpus paths it names, as the data stage
    and spot-eval will (config.check_data_paths, check_spotting_paths), or, for the embedded
    composite, that `mer synthesize` writes each of its sources
    (synthesize.check_embedded_sources); one line per value that is not the default."""
    params = load_params(path)
    check_data_paths(params.data)
    check_spotting_paths(params.spotting)
    if params.data.synthesized:
        check_embedded_sources(params.data)
    changed = changed_values(params)
    return ([f"{key}: {yaml_value(value)} (default: {yaml_value(default)})"
             for key, value, default in changed] or [f"{path}: all defaults"])


def write(path: Path, force: bool) -> None:
    """Write the default params file at ``path``, replacing one only if ``force``."""
    if path.exists() and not force:
        raise MerError(f"{path} exists; `mer params --check` lists how it differs from the "
                       "defaults, `mer params --write --force` replaces it")
    write_text(path, default_params_yaml())


def run(args: argparse.Namespace) -> None:
    path = Path(args.params)
    if args.force and not args.write:
        raise MerError("--force goes with --write")
    if args.write:
        write(path, args.force)
        print(f"wrote {path}")
    elif args.check:
        print("\n".join(check(path)))
    else:
        print(default_params_yaml(), end="")

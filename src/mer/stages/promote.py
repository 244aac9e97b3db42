"""Point a registry alias (default: champion) at a registered model version.

Applications load models:/<tracking.model_name>@champion; promotion is always this explicit
command, never a side effect of training or registering. Without --version it promotes the
version this project's pipeline registered (reports/registered.json), else the newest.
"""

from __future__ import annotations

import argparse
import json
import logging

from mer import paths
from mer.config import params_of
from mer.tracking.registry import CHAMPION

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--version", help="model version to promote (default: the one this "
                        "project's pipeline registered, reports/registered.json, else the "
                        "newest)")
    parser.add_argument("--alias", default=CHAMPION, help="alias to move (default: "
                        "%(default)s; e.g. challenger)")
    parser.add_argument("--name", help="registered model name (default: tracking.model_name)")


def run(args: argparse.Namespace) -> None:
    from mer.tracking.registry import promote

    name = args.name or params_of(args).tracking.model_name
    version = args.version if args.version is not None else workspace_version(name)
    if args.version is None and version is not None:
        log.info("promoting version %s, the one %s names (this project's pipeline "
                 "registered it); --version chooses another", version, paths.REGISTERED)
    version = promote(name, args.alias, version)
    print(f"models:/{name}@{args.alias} -> version {version}")


def workspace_version(name: str) -> str | None:
    """The version of model ``name`` that reports/registered.json names (the one this
    project's `dvc repro` registered, also after `dvc exp apply` or going back to the
    baseline), or None without one: the registry's newest may be any experiment's (a
    break-it session: after an experiment and back on the baseline, `mer promote` promoted
    the experiment's model)."""
    try:
        record = json.loads(paths.REGISTERED.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not (isinstance(record, dict) and record.get("registered") and record.get("name") == name
            and record.get("version") is not None):
        return None
    return str(record["version"])

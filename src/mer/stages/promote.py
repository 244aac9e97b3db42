"""Point a registry alias (default: champion) at a registered model version.

Applications load models:/<tracking.model_name>@champion; promotion is always this explicit
command, never a side effect of training or registering. Without --version it promotes the
version this project's pipeline registered (reports/registered.json); without that record it
refuses, naming the versions there are: the registry's newest may be an experiment's or
another clone's (a break-it session, h59: the record deleted by a failed `dvc checkout`, the
experiment's model was promoted without a word).
"""

from __future__ import annotations

import argparse
import json
import logging

from mer import paths
from mer.config import tracking_of
from mer.tracking.registry import CHAMPION

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--version", help="model version to promote (default: the one this "
                        "project's pipeline registered, as reports/registered.json records)")
    parser.add_argument("--alias", default=CHAMPION, help="alias to move (default: "
                        "%(default)s; e.g. challenger)")
    parser.add_argument("--name", help="registered model name (default: tracking.model_name)")


def run(args: argparse.Namespace) -> None:
    from mer.tracking.registry import promote

    name = args.name or tracking_of(args).model_name
    if args.version is not None:
        version = promote(name, args.alias, args.version)
    else:
        recorded, why_not = workspace_version(name)
        if recorded is not None:
            log.info("promoting version %s, the one %s names (this project's pipeline "
                     "registered it); --version chooses another", recorded, paths.REGISTERED)
        version = promote(name, args.alias, recorded, why_not)
    print(f"models:/{name}@{args.alias} -> version {version}")


def workspace_version(name: str) -> tuple[str | None, str]:
    """(the version of model ``name`` that reports/registered.json names, "") — the one this
    project's `dvc repro` registered, also after `dvc exp apply` or going back to the
    baseline — or (None, why there is none): the record is missing, unreadable, says nothing
    was registered, or names another model (break-it sessions: after an experiment and back
    on the baseline, `mer promote` promoted the experiment's model)."""
    where = paths.REGISTERED
    try:
        record = json.loads(where.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, (f"{where} does not exist (`dvc repro` writes it when it registers this "
                      "project's model; a `dvc checkout` whose cache lacks it deletes it)")
    except (OSError, ValueError) as exc:
        return None, f"{where} cannot be read ({exc})"
    if not isinstance(record, dict):
        return None, f"{where} holds no registration record"
    if not record.get("registered"):
        reason = record.get("reason")
        return None, (f"{where} says this project's pipeline registered no model"
                      + (f" ({reason})" if reason else ""))
    if record.get("version") is None:
        return None, f"{where} names no version"  # (h60: it read 'version None')
    if record.get("name") != name:
        return None, (f"{where} names version {record.get('version')} of model "
                      f"'{record.get('name')}', not of '{name}'")
    return str(record["version"]), ""

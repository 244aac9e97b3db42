"""The record `mer synthesize` leaves in the dataset it generates, and `mer export-flow-images`
beside the images of such a dataset: the data seeds its subjects were drawn from. A
pretraining corpus drawn from one of them (mer.models.pretrain) is refused whichever adapter
reads the folder: casme2, samm, smic or flow-images.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from mer.errors import DatasetError

SYNTHESIS_RECORD = "synthesis.json"


def write_synthesis_record(folder: Path, seeds: Iterable[int]) -> Path:
    """SYNTHESIS_RECORD in ``folder``: the data seeds of the synthetic subjects it holds."""
    path = Path(folder) / SYNTHESIS_RECORD
    path.write_text(json.dumps({"generator": "mer synthesize", "seeds": sorted(set(seeds))},
                               indent=2) + "\n", encoding="utf-8")
    return path


def write_synthesis_records(root: Path, seeds: Iterable[int]) -> None:
    """SYNTHESIS_RECORD in ``root`` and in each folder directly in it (CASME II's Cropped,
    SAMM's SAMM, SMIC-HS's HS): a corpus copied in its own layout, a format's folder and its
    sheet without the generated root, still carries it (a break-it session)."""
    seeds = sorted(set(seeds))
    for folder in [root, *sorted(p for p in root.iterdir() if p.is_dir())]:
        write_synthesis_record(folder, seeds)


def synthesis_seeds(folders: Iterable[str | Path]) -> dict[int, Path]:
    """Data seed -> the SYNTHESIS_RECORD naming it, of each folder in ``folders``, its parent
    or a folder directly in it (write_synthesis_records: a corpus root holding a format's
    folder, or that folder itself). DatasetError for a record that is not one
    write_synthesis_record wrote: the check it serves would otherwise pass unseen."""
    found: dict[int, Path] = {}
    for folder in map(Path, folders):
        inside = sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
        for place in (folder, folder.parent, *inside):
            record = place / SYNTHESIS_RECORD
            if not record.is_file():
                continue
            try:
                seeds = json.loads(record.read_text(encoding="utf-8"))["seeds"]
            except (OSError, ValueError, KeyError, TypeError) as exc:
                seeds = exc
            if not isinstance(seeds, list) or not all(type(s) is int for s in seeds):
                raise DatasetError(f"{record}: not the record `mer synthesize` writes (the "
                                   "data seeds of a generated dataset); restore it, or "
                                   "generate the dataset again")
            for seed in seeds:
                found.setdefault(seed, record)
    return found

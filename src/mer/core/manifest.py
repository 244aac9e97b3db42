"""The clip manifest: one row per clip, the only thing later stages read about a dataset.

Columns (one schema for every corpus):

| column       | type      | meaning                                                      |
| ------------ | --------- | ------------------------------------------------------------ |
| dataset      | str       | casme2, samm, smic, synthetic (the embedded set), flow-images |
|              |           | or the corpus a flow-image list's row names (sammlv, ...)    |
| subject      | str       | subject id as the corpus writes its folders (sub01, 006, s1) |
| clip         | str       | clip name: its folder's name (EP02_01f); when the sheet      |
|              |           | annotates several micro-expressions in one folder (disjoint  |
|              |           | onset..offset), each is <folder>@<onset> (EP02_01f@46)       |
| clip_id      | str       | dataset/subject/clip, unique                                 |
| frame_paths  | list[str] | frames onset..offset inclusive, in order; [] for flow-images |
| onset        | int       | onset frame number as in the sheet                           |
| apex         | int       | apex frame number; -1 when the sheet has none, or one at the |
|              |           | onset or outside the clip (estimated later from flow; flag   |
|              |           | apex_missing, with apex_at_onset or apex_repaired)           |
| offset       | int       | offset frame number                                          |
| fps          | float     | frames per second                                            |
| aus          | str       | action units, normalised: '4+7+L10'; '' when none            |
| emotion      | str       | the sheet's emotion, normalised (happiness, others, ...)     |
| label        | str       | class under the label scheme                                 |
| label_index  | int       | index of label in the scheme's class tuple                   |
| flow_image   | str       | precomputed flow image path (flow-images only), else ''      |
| flags        | list[str] | repairs and facts: apex_missing, apex_repaired,              |
|              |           | offset_repaired, ...                                         |
| source       | str       | 'file:row' of the annotation this row came from              |
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from mer import paths
from mer.atomic import atomic_path, unreadable
from mer.errors import DatasetError

if TYPE_CHECKING:
    from mer.config import Params

COLUMNS = (
    "dataset", "subject", "clip", "clip_id", "frame_paths", "onset", "apex", "offset", "fps",
    "aus", "emotion", "label", "label_index", "flow_image", "flags", "source",
)


# What a clip's faces and features are computed from: its frames (or flow image) and apex.
# Labels and AU codes are not: train joins them from the manifest when it runs.
FRAME_COLUMNS = ("frame_paths", "onset", "apex", "offset", "flow_image")


def frame_digests(manifest: pd.DataFrame) -> dict[str, str]:
    """clip_id -> sha256 (16 hex) of the clip's FRAME_COLUMNS: equal digests, same frames."""
    import hashlib

    digests = {}
    for row in manifest.to_dict("records"):
        values = [[str(p) for p in row["frame_paths"]], *(
            None if pd.isna(row[c]) else str(row[c]) for c in FRAME_COLUMNS[1:])]
        digests[str(row["clip_id"])] = hashlib.sha256(
            json.dumps(values).encode()).hexdigest()[:16]
    return digests


def validate_manifest(manifest: pd.DataFrame) -> pd.DataFrame:
    """Check the schema and invariants; return the manifest sorted by clip_id."""
    missing = [c for c in COLUMNS if c not in manifest.columns]
    if missing:
        raise DatasetError(f"manifest lacks columns {missing}")
    if manifest.empty:
        raise DatasetError("the manifest is empty: no clip survived the label scheme")
    duplicated = manifest["clip_id"][manifest["clip_id"].duplicated()]
    if not duplicated.empty:
        raise DatasetError(f"duplicate clips in the manifest: {sorted(set(duplicated))[:5]}")
    return manifest.loc[:, list(COLUMNS)].sort_values("clip_id").reset_index(drop=True)


# Parquet schema metadata: the params the manifest was made with (Params.recorded's data
# and labels, as JSON), so a stage run by hand after a params change is not fed stale clips.
MADE_WITH_KEY = b"mer.made_with"
MANIFEST_SECTIONS = ("data", "labels")
# And the files `mer data` read, by sha256: annotation files (mer.data.build.sheet_digests)
# and flow images (flow_image_digests).
SHEETS_KEY = b"mer.sheets"
# And, for flow images whose channel order it found, what the evaluation held out then
# (mer.core.records.held_out_of).
HELD_OUT_KEY = b"mer.held_out"


def write_manifest(manifest: pd.DataFrame, path: str | Path,
                   made_with: Mapping[str, Any] | None = None,
                   sheets: Mapping[str, str] | None = None,
                   held_out: Mapping[str, Any] | None = None) -> Path:
    """Validate and atomically write the manifest as Parquet, recording ``made_with`` (the
    params it was made with, JSON values), ``sheets`` (annotation file -> sha256) and
    ``held_out`` (what the evaluation held out when a flow-image corpus's channel order was
    found) when given; ``sheets`` (file -> sha256) names every file read, flow images too."""
    import pyarrow
    import pyarrow.parquet

    manifest = validate_manifest(manifest)
    table = pyarrow.Table.from_pandas(manifest, preserve_index=False)
    records = {MADE_WITH_KEY: made_with, SHEETS_KEY: sheets, HELD_OUT_KEY: held_out}
    table = table.replace_schema_metadata({
        **(table.schema.metadata or {}),
        **{key: json.dumps(value, sort_keys=True).encode()
           for key, value in records.items() if value is not None}})
    with atomic_path(path) as tmp:
        pyarrow.parquet.write_table(table, tmp)
    return Path(path)


def read_manifest(path: str | Path, params: Params | None = None, through: str = "data"
                  ) -> pd.DataFrame:
    """data/manifest.parquet as written by ``mer data``; a missing, empty, damaged or foreign
    file is a DatasetError naming it and how to get it back.

    ``params``: a DatasetError if the manifest was made with other data or labels params
    (mer.core.records.check_made_with), or from an annotation file edited or a flow image
    replaced since (check_sheets), or found its flow images' channel order for another
    held-out unit than the evaluation params hold out (check_held_out); ``through``: the last
    stage whose output the caller reads, which the error says to rerun up to."""
    import pyarrow
    import pyarrow.parquet

    from mer.core.records import check_held_out, check_made_with, check_sheets

    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{paths.missing(path)}: run `mer data` (or `dvc repro data`) "
                           "first")
    try:  # one read: the table's schema carries the record
        table = pyarrow.parquet.read_table(path)
        manifest = table.to_pandas()
    except (OSError, ValueError, pyarrow.ArrowException) as exc:
        raise unreadable(path, exc, "mer data") from None
    if params is not None:
        metadata = table.schema.metadata or {}
        recorded = metadata.get(MADE_WITH_KEY)
        check_made_with(None if recorded is None else json.loads(recorded), path, params,
                        MANIFEST_SECTIONS, through)
        sheets = metadata.get(SHEETS_KEY)
        check_sheets({} if sheets is None else json.loads(sheets), path, params, through)
        held_out = metadata.get(HELD_OUT_KEY)
        if held_out is not None:
            check_held_out(json.loads(held_out), path, params, through)
    missing = [c for c in COLUMNS if c not in manifest.columns]
    if missing:
        raise DatasetError(f"{path} lacks columns {missing}: it is from an older version or "
                           "another program; rerun `mer data`")
    manifest["frame_paths"] = manifest["frame_paths"].map(list)
    manifest["flags"] = manifest["flags"].map(list)
    return manifest

"""Byte-reproducible .npz files, and reading the two that stages hand on: data/faces.npz and
data/features.npz.

``np.savez`` stamps each member with the current time, so the same arrays give different bytes
and DVC would see a changed output on every run; ``write_npz`` fixes the timestamps.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from mer import paths
from mer.atomic import atomic_path, unreadable
from mer.errors import DatasetError

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip member can carry
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip with members, an empty zip
FACES_KEYS = ("clip_id", "transform", "landmarks", "size")
FEATURES_KEYS = ("clip_id", "flow", "apex_image", "au_features", "au_feature_names", "apex_frame",
                 "apex_estimated")
# The params sections a stage output was made with (JSON, Params.recorded): faces.npz
# holds data, labels and faces, features.npz features too, so a stage run by hand after a
# params change is not fed stale inputs (the manifest records data and labels).
MADE_WITH = "made_with"
# The manifest clips an output was made from (JSON clip_id -> mer.core.manifest.frame_digests),
# every clip the stage was given, with a face or not: a clip added to the manifest or given
# other frames since is caught, not taken for a clip without a face.
MADE_FROM = "made_from"
FACES_SECTIONS = ("data", "labels", "faces")
FEATURES_SECTIONS = ("data", "labels", "faces", "features")


def write_npz(path: str | Path, arrays: dict[str, np.ndarray]) -> Path:
    """Atomically write ``arrays`` as a compressed .npz that np.load reads, same bytes each time."""
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16  # fixed permissions, not the umask's
            with archive.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asarray(arrays[name]), allow_pickle=False)
    return Path(path)


def read_npz(path: str | Path, keys: tuple[str, ...], producer: str) -> dict[str, np.ndarray]:
    """All arrays of an .npz written by ``producer`` (a mer command), checked for ``keys``.

    A missing, empty, truncated or foreign file (not a zip of plain arrays) is a DatasetError
    naming the file and how to get it back, never a numpy or zipfile traceback.
    """
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{paths.missing(path)}: run `{producer}` (or `dvc repro`) first")
    try:
        with path.open("rb") as handle:
            magic = handle.read(4)
        if magic not in ZIP_MAGIC:  # np.load would try it as .npy or as a pickle
            raise unreadable(path, None, producer)
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}  # reads (and checks) each member
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise unreadable(path, exc, producer) from None
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise DatasetError(f"{path} lacks {missing}: it is from an older version; rerun "
                           f"`{producer}`")
    return arrays


def read_faces(path: str | Path) -> dict[str, np.ndarray]:
    """data/faces.npz: clip_id (N,), transform (N, 2, 3), landmarks (N, 68, 2), size ()."""
    return read_npz(path, FACES_KEYS, "mer faces")


def read_features(path: str | Path) -> dict[str, np.ndarray]:
    """data/features.npz: clip_id (N,), flow (N, T, 3, I, I), apex_image (N, 1, I, I),
    au_features (N, F), au_feature_names (F,), apex_frame (N,), apex_estimated (N,); rows
    sorted by clip_id."""
    return read_npz(path, FEATURES_KEYS, "mer features")


def made_with(sections: Mapping[str, Any]) -> np.ndarray:
    """The MADE_WITH member: params sections by name (``model_dump(mode="json")``) as JSON."""
    return np.array(json.dumps(sections, sort_keys=True))


def made_from(manifest: Any) -> np.ndarray:
    """The MADE_FROM member for an output made from the manifest rows ``manifest``."""
    from mer.core.manifest import frame_digests

    return np.array(json.dumps(frame_digests(manifest), sort_keys=True))


def recorded_made_from(arrays: Mapping[str, np.ndarray]) -> dict[str, str] | None:
    """The manifest clips an .npz's ``arrays`` record they were made from (clip_id -> frame
    digest); None when they record none (written by a mer before they did)."""
    return json.loads(str(arrays[MADE_FROM])) if MADE_FROM in arrays else None


def recorded_made_with(arrays: Mapping[str, np.ndarray]) -> dict[str, Any] | None:
    """The params an .npz's ``arrays`` record they were made with; None when they record
    none (written by a mer before they did)."""
    return json.loads(str(arrays[MADE_WITH])) if MADE_WITH in arrays else None


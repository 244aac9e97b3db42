"""ClipSet: the features of a set of clips joined with their labels, as every model sees them.

Read from data/features.npz (written by the features stage) and the manifest. Arrays are
read-only so no model can change its caller's data; ``take`` returns new sets.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mer.errors import DatasetError
from mer.labels import get_scheme

if TYPE_CHECKING:
    from mer.config import Params

log = logging.getLogger(__name__)

HIDDEN = -1  # label index of a clip whose label the model must not see (the held-out subject)


def _frozen(array: np.ndarray) -> np.ndarray:
    array = np.array(array, copy=True)  # never alias the caller's buffer
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class ClipSet:
    """N clips; row i of every array is the same clip."""

    clip_id: np.ndarray  # (N,) str, dataset/subject/clip
    clip: np.ndarray  # (N,) str
    subject: np.ndarray  # (N,) str
    flow: np.ndarray  # (N, T, 3, I, I) float32: u, v (px), optical strain
    apex_image: np.ndarray  # (N, 1, I, I) float32: grey apex frame 0..1 (zeros for flow images)
    au_features: np.ndarray  # (N, F) float32 AU-region features (motion in each AU's region)
    au_codes: np.ndarray  # (N,) str the annotated AU codes, manifest column aus ('' when unknown)
    y: np.ndarray  # (N,) int64 label index into classes; HIDDEN when withheld
    classes: tuple[str, ...]
    au_feature_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, np.ndarray):
                object.__setattr__(self, field.name, _frozen(value))
        n = len(self.clip_id)
        for name in ("clip", "subject", "flow", "apex_image", "au_features", "au_codes", "y"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"ClipSet.{name} has {len(getattr(self, name))} rows, not {n}")

    def __len__(self) -> int:
        return len(self.clip_id)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def take(self, index: np.ndarray) -> ClipSet:
        """The clips at ``index`` (integer positions), as a new set."""
        index = np.asarray(index, dtype=np.int64)
        return ClipSet(
            clip_id=self.clip_id[index], clip=self.clip[index], subject=self.subject[index],
            flow=self.flow[index], apex_image=self.apex_image[index],
            au_features=self.au_features[index], au_codes=self.au_codes[index], y=self.y[index],
            classes=self.classes, au_feature_names=self.au_feature_names)

    def require_labels(self, fitter: str) -> None:
        """A ValueError when any label is HIDDEN: ``fitter`` may fit only on labelled clips."""
        if (self.y == HIDDEN).any():
            raise ValueError(f"{fitter} was given clips without labels to fit on")

    def without_labels(self, au_codes: bool = False) -> ClipSet:
        """The same clips as a model may predict on: every label HIDDEN, and the annotations
        that may carry one hidden too (an audit session: a learner reading them passed every
        protocol test). The clip names are replaced by the clips' places, 'clip<i>' (a SMIC
        clip's name, s1_ne_01, is its label; clip_id keeps its dataset/subject part), and
        the annotated AU codes, from which CASME II's emotions were read, are '' unless
        ``au_codes`` (the AU-oracle, whose input they are: Learner.reads_au_codes)."""
        clip = np.array([f"clip{i}" for i in range(len(self))], dtype=str)
        clip_id = np.array([f"{c.rsplit('/', 1)[0]}/{name}" if "/" in c else name
                            for c, name in zip(self.clip_id.tolist(), clip.tolist(),
                                               strict=True)], dtype=str)
        return ClipSet(
            clip_id=clip_id, clip=clip, subject=self.subject, flow=self.flow,
            apex_image=self.apex_image, au_features=self.au_features,
            au_codes=self.au_codes if au_codes else np.full(len(self), "", dtype=str),
            y=np.full(len(self), HIDDEN, dtype=np.int64), classes=self.classes,
            au_feature_names=self.au_feature_names)

    def digest(self) -> str:
        """sha256 of every array and the class list: equal digests, equal data."""
        sha = hashlib.sha256()
        sha.update("\x1f".join(self.classes + self.au_feature_names).encode())
        for name in ("clip_id", "clip", "subject", "flow", "apex_image", "au_features", "au_codes",
                     "y"):
            array = np.ascontiguousarray(getattr(self, name))
            sha.update(f"{name}{array.dtype.str}{array.shape}".encode())
            if array.dtype.kind == "U":
                sha.update("\x1f".join(array.tolist()).encode())
            else:
                sha.update(array.tobytes())
        return sha.hexdigest()


def load_clips(features_path: str | Path, manifest_path: str | Path, scheme: str,
               params: Params | None = None) -> ClipSet:
    """Join features.npz with the manifest's subject, labels and AU codes by clip_id.

    ``params``: a DatasetError if the features or the manifest were made with other params,
    or the features from other manifest clips (mer.core.records).
    """
    from mer.core.manifest import read_manifest
    from mer.core.npz import (
        FEATURES_SECTIONS,
        read_features,
        recorded_made_from,
        recorded_made_with,
    )
    from mer.core.records import check_made_from, check_made_with

    features_path = Path(features_path)
    # A missing, empty or damaged file is a DatasetError saying how to get it back.
    arrays = read_features(features_path)
    if params is not None:  # the features' params first: their advice reruns from the earliest
        check_made_with(recorded_made_with(arrays), features_path, params, FEATURES_SECTIONS)
    manifest = read_manifest(manifest_path, params, through="features")
    if params is not None:
        check_made_from(recorded_made_from(arrays), features_path, manifest, params, "features")
    manifest = manifest.set_index("clip_id")
    clip_id = arrays["clip_id"].astype(str)
    unknown = sorted(set(clip_id) - set(manifest.index))
    if unknown:
        raise DatasetError(f"{features_path} has clips the manifest {manifest_path} lacks, e.g. "
                           f"{unknown[:3]}: the two come from different runs; run `dvc repro`")
    classes = get_scheme(scheme).classes
    rows = manifest.loc[clip_id]
    bad = sorted(set(rows["label"]) - set(classes))
    if bad:
        raise DatasetError(f"{manifest_path} has labels {bad} outside labels.scheme '{scheme}' "
                           f"{list(classes)}: rerun `mer data` after changing the scheme")
    dropped = len(manifest) - len(clip_id)
    if dropped:
        log.info("%d manifest clips have no features (no face found); LOSO uses %d clips",
                 dropped, len(clip_id))
    return ClipSet(
        clip_id=clip_id,
        clip=rows["clip"].to_numpy(dtype=str),
        subject=rows["subject"].to_numpy(dtype=str),
        flow=arrays["flow"].astype(np.float32, copy=False),
        apex_image=arrays["apex_image"].astype(np.float32, copy=False),
        au_features=arrays["au_features"].astype(np.float32, copy=False),
        au_codes=rows["aus"].fillna("").to_numpy(dtype=str),
        y=np.array([classes.index(label) for label in rows["label"]], dtype=np.int64),
        classes=classes,
        au_feature_names=tuple(arrays["au_feature_names"].astype(str).tolist()),
    )

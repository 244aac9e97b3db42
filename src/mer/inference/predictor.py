"""Frames -> face -> flow -> features -> class probabilities: the one inference path.

`mer predict`, the MLflow pyfunc model and the tests all call ``predict_window``.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from mer.atomic import atomic_path
from mer.config import FaceParams, FeatureParams
from mer.errors import MerError
from mer.inference.sources import FrameWindow

if TYPE_CHECKING:
    from mer.config import Params
    from mer.core.clipset import ClipSet
    from mer.models.hybrid import HybridModel
    from mer.spotting.spotter import FittedSpotter

TOP_REGIONS = 3  # how many most-moving AU regions a prediction names
# An AU region moving less than this (mean flow magnitude, px) did not move. A tenth of the
# least motion of any embedded clip's most-moving region (0.084 px), and below what sensor
# noise alone gives (an image against itself with noise of 1 grey level: 0.03 px): a window
# whose every region stays under it (the same image twice, frames identical in their pixels)
# shows no motion. Codec noise on a still face (0.02-0.1 px: JPEG, an mp4v video of one
# photo) overlaps real micro-motion, so no floor tells it apart: it is not flagged.
MOTION_FLOOR_PX = 0.01
PROBABILITY = "prob_"  # a row column holding one class's probability: prob_<class>
# Bump when a fitted model's pickled layout changes (2: the hybrid averages a CNN ensemble with
# the SVM; 4: the fitted CNN moved to mer.models.flownet), so an old bundle is refused with a
# message instead of failing mid-prediction.
BUNDLE_FORMAT = 4
BUNDLE_ARTIFACT = "bundle"  # the bundle's name among the MLflow model's artifacts


class Classifier(Protocol):
    def predict_proba(self, flow: np.ndarray, apex: np.ndarray, au: np.ndarray) -> np.ndarray:
        """(N, T, 3, I, I), (N, 1, I, I), (N, F) -> (N, C) class probabilities."""
        ...


@dataclass(frozen=True)
class ModelBundle:
    """A fitted classifier with the preprocessing it was trained behind."""

    classifier: Classifier
    classes: tuple[str, ...]
    faces: FaceParams
    features: FeatureParams
    provenance: dict[str, Any]  # what it was trained on and the evaluation that justifies it
    format: int = BUNDLE_FORMAT
    # The spotter registered with it (video requests, `mer spot`); None in bundles written
    # before spotting, which then answer clip requests only.
    spotter: FittedSpotter | None = None


@dataclass(frozen=True)
class Prediction:
    label: str
    probabilities: dict[str, float]  # class -> probability, the scheme's class order
    apex_index: int  # index into the window's frames (0: its first frame, the onset)
    apex_estimated: bool
    # AU region -> mean motion, px, most-moving first: the TOP_REGIONS regions that moved
    # most, of those that moved at all (MOTION_FLOOR_PX)
    moving_regions: dict[str, float]
    # True: no AU region moved (moving_regions is empty), so the label is a guess on a still
    # face; None in the answer of a server whose model predates the flag
    no_motion: bool | None
    source: str
    # the apex's frame number in the input's own numbering: its video's (0-based) or its
    # folder's (img46.jpg: 46), as --apex, --onset and `mer spot` give frames
    apex_frame: int

    def as_row(self) -> dict[str, Any]:
        """One flat table row, the served model's answer columns: label, prob_<class> per
        class, apex_index, apex_estimated, moving_regions, no_motion (the server sees frames,
        not their numbers: apex_frame is the caller's)."""
        return {
            "label": self.label,
            **{f"{PROBABILITY}{c}": p for c, p in self.probabilities.items()},
            "apex_index": self.apex_index,
            "apex_estimated": self.apex_estimated,
            "moving_regions": self.moving_regions,
            "no_motion": self.no_motion,
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any], window: FrameWindow) -> Prediction:
        """The Prediction an as_row() row holds (a served answer to ``window``); KeyError,
        TypeError or ValueError for a row of another shape."""
        probabilities = {name.removeprefix(PROBABILITY): float(value)
                         for name, value in row.items() if name.startswith(PROBABILITY)}
        if not probabilities or row["label"] not in probabilities:
            raise ValueError("no class probabilities")
        apex_index = int(row["apex_index"])
        no_motion = row.get("no_motion")  # absent from a model registered before the flag
        return cls(label=str(row["label"]), probabilities=probabilities,
                   apex_index=apex_index, apex_frame=window.number(apex_index),
                   apex_estimated=bool(row["apex_estimated"]),
                   moving_regions={str(k): float(v) for k, v in row["moving_regions"].items()},
                   no_motion=None if no_motion is None else bool(no_motion),
                   source=window.description)


def final_bundle(model: HybridModel, clips: ClipSet, params: Params,
                 evaluation: Mapping[str, float | str], pretrained: bytes | None = None
                 ) -> ModelBundle:
    """``model``, fitted on every clip of ``clips``, as the bundle `mer register` logs: with the
    preprocessing of ``params`` and, as provenance, what it was trained on (clips, subjects,
    the hybrid's experts, the SVM's C and gamma when it has one), ``evaluation``
    (the scores that justify it, as numbers: {'loso_uar': 0.79, ..., 'evaluation_protocol':
    'loso'}; {} without an evaluation) and, when its CNNs started from ``pretrained`` weights
    (train.cnn.pretrain), the pretraining corpus's settings and the weights' sha256."""
    from mer.models.pretrain import weights_digest

    pretrain = params.train.cnn.pretrain
    provenance = {
        "dataset": params.data.source,
        "scheme": params.labels.scheme,
        "clips": len(clips),
        "subjects": sorted(set(clips.subject.tolist())),
        # what the CNN is averaged with; C and gamma are the SVM's, null without one
        "experts": list(params.train.hybrid.experts),
        "c": model.svm.tuning.c if model.svm else None,
        "gamma": model.svm.tuning.gamma if model.svm else None,
        "loso": dict(evaluation),
        # synthetic motion of no project subject (mer.models.pretrain); None: trained from scratch
        "pretrain": None if pretrained is None else {
            **pretrain.model_dump(mode="json"), "weights_sha256": weights_digest(pretrained)},
    }
    return ModelBundle(model, clips.classes, params.faces, params.features, provenance)


def save_bundle(bundle: ModelBundle, path: str | Path) -> Path:
    with atomic_path(path) as tmp, tmp.open("wb") as handle:
        pickle.dump(bundle, handle, protocol=pickle.HIGHEST_PROTOCOL)
    return Path(path)


def load_bundle(path: str | Path, name: str | None = None) -> ModelBundle:
    """The bundle pickled at ``path`` (``name``: how messages call it, default the path).

    Unpickling runs code: call this only on a bundle this process wrote with save_bundle or on
    the bundle of an MLflow model whose MLmodel file registry.check_mer_model accepted (or that
    MLflow itself is serving, whose code already runs). `mer predict` never passes a user's path.
    """
    path = Path(path)
    name = name or str(path)
    try:
        with path.open("rb") as handle:
            bundle = pickle.load(handle)  # see above: a mer bundle, never an arbitrary file
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError,
            ValueError) as exc:  # not a bundle, or one written by an incompatible mer
        raise MerError(f"{name}: not a readable mer model bundle ({exc})") from None
    if not isinstance(bundle, ModelBundle):
        raise MerError(f"{name}: holds a {type(bundle).__name__}, not a mer model bundle")
    written = getattr(bundle, "format", 1)  # bundles before format 2 did not record one
    if written != BUNDLE_FORMAT:
        raise MerError(f"{name}: a model bundle of format {written}, but this mer reads format "
                       f"{BUNDLE_FORMAT}: retrain and register it with this mer (`mer register`)")
    return bundle


def moving_regions(au: np.ndarray, au_names: tuple[str, ...], top: int) -> dict[str, float]:
    """The ``top`` regions that moved most, by mean flow magnitude over the steps (the sum of
    their HOOF bins, px), of those that moved at least MOTION_FLOOR_PX: empty for a still face.

    au: (F,) AU-region features named by au_names ('brow_L/t0/hoof3', ...)."""
    totals: dict[str, list[float]] = {}
    for value, name in zip(au, au_names, strict=True):
        region, _step, stat = name.split("/")
        if stat.startswith("hoof"):
            totals.setdefault(region, []).append(float(value))
    steps = {name.split("/")[1] for name in au_names}
    motion = {region: sum(values) / len(steps) for region, values in totals.items()}
    moved = [item for item in motion.items() if item[1] >= MOTION_FLOOR_PX]
    ranked = sorted(moved, key=lambda item: (-item[1], item[0]))[:top]
    return {region: round(value, 4) for region, value in ranked}


def predict_window(bundle: ModelBundle, window: FrameWindow) -> Prediction:
    """Classify the micro-expression in one window of frames."""
    from mer.faces.align import FaceLostError, NoFaceError, align_clip
    from mer.features.extract import describe_clip

    try:
        aligned = align_clip(list(window.frames), bundle.faces, window.apex_index,
                             window.frame_numbers or range(len(window.frames)))
    except NoFaceError as exc:
        reason = f"{window.description}: {exc}"
        raise NoFaceError(
            f"{reason}. The first frame (the onset) must show the face "
            "upright and facing the camera: dlib's detector misses faces turned far aside and "
            "faces under about 80 px across, halved by each upsampling pass (this model was "
            f"registered with faces.upsample {bundle.faces.upsample}); crop the frames around "
            "the face or enlarge them", reason) from None
    except FaceLostError as exc:
        # two frames (--pair, a request of two) leave no shorter window to choose
        unnumbered = "" if window.frame_numbers else " (frame 0 the onset image, 1 the apex)"
        advice = (f"An onset and an apex{unnumbered} must show one face in about the same "
                  "place: give two frames of one take" if len(window.frames) == 2 else
                  "A window must hold one face that stays in view from its first to its last "
                  "frame: choose a shorter one around the expression (--start/--end for a "
                  "video, --onset/--offset for a clip folder)")
        reason = f"{window.description}: {exc}"
        raise FaceLostError(
            f"{reason}. {advice}. The model applies the faces "
            "params it was registered with (faces.min_correlation "
            f"{bundle.faces.min_correlation}, faces.max_drift {bundle.faces.max_drift}); "
            "register with other values to change them", reason) from None
    features = describe_clip(aligned.faces, aligned.landmarks, window.apex_index,
                             bundle.features)
    probabilities = bundle.classifier.predict_proba(
        features.flow[None], features.apex_image[None], features.au_features[None])[0]  # (C,)
    best = int(np.argmax(probabilities))
    regions = moving_regions(features.au_features, features.au_feature_names, TOP_REGIONS)
    return Prediction(
        label=bundle.classes[best],
        probabilities={c: round(float(p), 6) for c, p in zip(bundle.classes, probabilities,
                                                             strict=True)},
        apex_index=features.apex_index,
        apex_frame=window.number(features.apex_index),
        apex_estimated=features.apex_estimated,
        moving_regions=regions,
        no_motion=not regions,
        source=window.description,
    )

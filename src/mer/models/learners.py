"""The learners the train stage runs under LOSO (each a fit callable for mer.evaluation.loso).

- ``majority``: the training subjects' class frequencies (the trivial floor);
- ``au-oracle``: a tuned RBF SVM on the manifest's true AU codes, multi-hot (the ceiling);
- ``svm``: a tuned RBF SVM on the AU-region features;
- ``cnn`` and ``hybrid``: one learner, since the hybrid averages the CNN with its experts;
- ``ststnet``, ``off-apexnet``, ``sssnet``: the field's reference nets (mer.models.references).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from mer.config import (
    CEILING,
    CNN,
    FLOOR,
    HYBRID,
    OFF_APEXNET,
    SSSNET,
    STSTNET,
    SVM,
    SvmParams,
    TrainParams,
)
from mer.core.clipset import ClipSet
from mer.errors import MerError
from mer.evaluation.splits import Fold
from mer.models.au_codes import AuCodeEncoder, known_aus
from mer.models.hybrid import fit_hybrid
from mer.models.pretrain import weights_digest
from mer.models.references import ReferenceLearner
from mer.models.svm import TunedSvm, fit_tuned_svm

log = logging.getLogger(__name__)

# Measured per fold at CASME II's size (benchmarks/bench_train.py).
REFERENCES_SLOWEST_FIRST = (SSSNET, OFF_APEXNET, STSTNET)


@dataclass(frozen=True)
class _FittedMajority:
    prior: np.ndarray  # (K,)
    classes: tuple[str, ...]

    def predict(self, clips: ClipSet) -> dict[str, np.ndarray]:
        return {FLOOR: np.tile(self.prior, (len(clips), 1))}

    def report(self) -> dict[str, dict[str, Any]]:
        return {FLOOR: {"class": self.classes[int(np.argmax(self.prior))],
                        "prior": self.prior.tolist()}}


@dataclass(frozen=True)
class MajorityLearner:
    """Predicts the most frequent training class; probabilities = training frequencies."""

    name: str = FLOOR
    outputs: tuple[str, ...] = (FLOOR,)

    def spec(self) -> dict[str, Any]:
        return {}

    def fit(self, train: ClipSet, seed: int) -> _FittedMajority:
        train.require_labels("a learner")
        prior = np.bincount(train.y, minlength=train.n_classes) / len(train)
        return _FittedMajority(prior, train.classes)


Features = Literal["au-region", "au-codes"]


@dataclass(frozen=True, eq=False)
class FittedSvm:
    name: str
    features: Features
    encoder: AuCodeEncoder | None
    tuned: TunedSvm

    def predict(self, clips: ClipSet) -> dict[str, np.ndarray]:
        return {self.name: self.tuned.predict_proba(_svm_features(clips, self.encoder))}

    def report(self) -> dict[str, dict[str, Any]]:
        return {self.name: self.tuned.report()}


def _svm_features(clips: ClipSet, encoder: AuCodeEncoder | None) -> np.ndarray:
    if encoder is not None:
        return encoder.transform(clips.au_codes)
    return clips.au_features.astype(np.float64)


@dataclass(frozen=True)
class SvmLearner:
    """Optuna-tuned balanced RBF SVM on AU-region features or on true AU codes."""

    name: str
    features: Features
    svm: SvmParams

    @property
    def outputs(self) -> tuple[str, ...]:
        return (self.name,)

    @property
    def reads_au_codes(self) -> bool:
        """The AU-oracle's input is the held-out clips' annotated AU codes (Learner)."""
        return self.features == "au-codes"

    def spec(self) -> dict[str, Any]:
        return {"features": self.features, SVM: self.svm.model_dump(mode="json")}

    def scored(self, train: ClipSet, test: ClipSet) -> np.ndarray:
        """(len(test),) bool: on AU codes, the held-out clips that have codes, when some
        training clips have them (a clip without codes, SMIC's, is not the oracle's to
        guess); on AU-region features, every clip."""
        if self.features != "au-codes":
            return np.ones(len(test), dtype=bool)
        return known_aus(test.au_codes) & bool(known_aus(train.au_codes).any())

    def fit(self, train: ClipSet, seed: int) -> FittedSvm:
        train.require_labels("a learner")
        encoder = None
        if self.features == "au-codes":  # learns from the clips it could score only
            train = train.take(np.flatnonzero(known_aus(train.au_codes)))
            encoder = AuCodeEncoder.fit(train.au_codes)
        tuned = fit_tuned_svm(_svm_features(train, encoder), train.y, train.subject,
                              train.n_classes, self.svm, seed)
        return FittedSvm(self.name, self.features, encoder, tuned)


@dataclass(frozen=True)
class HybridLearner:
    """The CNN, and unless only 'cnn' is asked for, the hybrid (the CNN averaged with
    train.hybrid.experts)."""

    params: TrainParams
    outputs: tuple[str, ...] = (CNN, HYBRID)
    name: str = "cnn-hybrid"
    pretrained: bytes | None = None  # the CNNs' starting weights (train.cnn.pretrain)

    def spec(self) -> dict[str, Any]:
        # What the fit reads and what it returns: parallelism does not change a fold, but the
        # outputs do (a fold cached for [hybrid] holds no cnn predictions).
        experts = self.params.hybrid.experts if HYBRID in self.outputs else ()
        return {CNN: self.params.cnn.model_dump(mode="json"),
                SVM: self.params.svm.model_dump(mode="json") if SVM in experts else None,
                "references": ({name: ReferenceLearner(name, self.params.references).spec()
                                for name in experts if name != SVM} or None),
                "experts": list(experts), "outputs": list(self.outputs),
                "pretrained": weights_digest(self.pretrained)}

    @property
    def accelerator(self) -> str:
        """train.cnn.accelerator: a Ray fold of this learner asks for a GPU by it."""
        return self.params.cnn.accelerator

    def fit(self, train: ClipSet, seed: int) -> Any:
        train.require_labels("a learner")
        return fit_hybrid(train, self.params, seed, with_experts=HYBRID in self.outputs,
                          pretrained=self.pretrained)


def _training_subjects(clips: ClipSet, fold: Fold, rows: np.ndarray | None = None
                       ) -> list[str]:
    train = fold.train if rows is None else fold.train[rows[fold.train]]
    return sorted(set(clips.subject[train].tolist()))


def ceiling_fits(params: TrainParams, clips: ClipSet, folds: Sequence[Fold]) -> bool:
    """Check, before anything is fitted, that every fold gives the learners that tune C and
    gamma on an inner split of its training subjects (svm, and the hybrid's svm expert:
    train.svm.inner_folds) two or more of them; a MerError naming the fold, the models and
    the way out otherwise. Whether the au-oracle, which tunes so on the training clips with
    AU codes, has two or more such subjects in every fold: it is left out with a warning when
    not (a break-it session: a two-subject corpus failed in `mer train` after a CNN fold had
    been fitted, naming no model, and no train.models avoided it, as the oracle is added by
    itself)."""
    tuned = [SVM] if SVM in params.models else []
    if HYBRID in params.models and SVM in params.hybrid.experts:
        tuned.append(f"{HYBRID} (its {SVM} expert, train.hybrid.experts)")
    for fold in folds:
        subjects = _training_subjects(clips, fold)
        if tuned and len(subjects) < 2:
            raise MerError(
                f"fold {fold.subject}: {' and '.join(tuned)} "
                f"{'tunes' if len(tuned) == 1 else 'tune'} C and gamma on an inner "
                f"split of the fold's training subjects (train.svm.inner_folds), which needs "
                f"2 or more, and its training clips are {len(subjects)} subject's "
                f"({', '.join(subjects)}): add subjects (LOSO needs 3 or more for it), or "
                f"train only models that do not tune so (e.g. train.models: [{CNN}])")
    coded = known_aus(clips.au_codes)
    for fold in folds if coded.any() else ():
        subjects = _training_subjects(clips, fold, coded)
        if len(subjects) < 2:
            log.warning("fold %s: the %s (the ceiling) is left out: it tunes its SVM on an "
                        "inner split of the training subjects whose clips have AU codes, "
                        "which needs 2 or more, and this fold has %d (%s)", fold.subject,
                        CEILING, len(subjects), ", ".join(subjects) or "none")
            return False
    return True


def build_learners(params: TrainParams, has_au_codes: bool, has_au_features: bool,
                   pretrained: bytes | None = None) -> list[Any]:
    """The learners for ``params.models`` plus the floor and (with AU codes) the ceiling;
    ``pretrained``: the CNNs' starting weights (mer.models.pretrain.pretrained_flownet).

    Ordered slowest first, so parallel workers finish together.
    """
    learners: list[Any] = []
    neural = tuple(m for m in (CNN, HYBRID) if m in params.models)
    if neural:
        learners.append(HybridLearner(params, outputs=neural, pretrained=pretrained))
    learners += [ReferenceLearner(name, params.references)
                 for name in REFERENCES_SLOWEST_FIRST if name in params.models]
    if SVM in params.models:
        if not has_au_features:
            from mer.errors import MerError

            raise MerError("train.models has 'svm' but features.npz has no AU-region features "
                           "(au has 0 columns): drop 'svm' from train.models")
        learners.append(SvmLearner(SVM, "au-region", params.svm))
    if has_au_codes:
        learners.append(SvmLearner(CEILING, "au-codes", params.svm))
    learners.append(MajorityLearner())
    return learners

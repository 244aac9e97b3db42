"""The hybrid: CNN embedding ++ AU-region features -> an Optuna-tuned, class-balanced RBF SVM.

How C and gamma are tuned honestly. The final SVM is trained on the CNN's embeddings of the
CNN's own training subjects, which are overfit (nearly separable), and applied to an unseen
subject's embedding, which is not. Tuning on the same overfit embeddings would reward
hyperparameters that trust the embedding far too much. So the inner loop replays the whole
pipeline: for each inner fold (grouped by subject, training subjects only) a CNN is trained
on the inner-train subjects, the SVM is fitted on their (overfit) embeddings and scored on the
inner-validation subjects' (unseen) embeddings. That is the outer situation one level down,
so the inner UAR is an honest estimate for each (C, gamma). Inner out-of-fold embeddings
(stacking) would not work here: each inner CNN has its own embedding space, so an SVM trained
on them cannot read the final CNN's embeddings. Cost: inner_folds extra CNN fits per fold,
shared by all Optuna trials (the CNN does not depend on C or gamma). The same inner problems
calibrate the final SVM's probabilities, on scores of subjects unseen by both CNN and SVM.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mer.config import TrainParams
from mer.evaluation.splits import inner_splits
from mer.models.clips import ClipSet
from mer.models.cnn import TrainedCnn, fit_cnn
from mer.models.seeds import derive_seed
from mer.models.svm import InnerProblem, RbfSvm, Tuning, fit_rbf_svm, tune_c_gamma

CNN_STREAM, SPLIT_STREAM, TUNE_STREAM = 1, 2, 3  # derive_seed keys


@dataclass(frozen=True, eq=False)
class HybridModel:
    """A fitted CNN and (unless CNN-only) the SVM over [embedding ++ AU-region features]."""

    classes: tuple[str, ...]
    au_names: tuple[str, ...]
    cnn: TrainedCnn
    svm: RbfSvm | None
    tuning: Tuning | None
    inner_val_subjects: tuple[tuple[str, ...], ...]  # validation subjects of each inner fold

    def joint_features(self, flow: np.ndarray, apex: np.ndarray, au: np.ndarray) -> np.ndarray:
        """(N, E + F): the CNN embedding joined with the AU-region features."""
        _, embedding = self.cnn.predict(flow, apex)
        return np.concatenate([embedding.astype(np.float64), au.astype(np.float64)], axis=1)

    def predict_proba(self, flow: np.ndarray, apex: np.ndarray, au: np.ndarray) -> np.ndarray:
        """Hybrid class probabilities (N, K) from features.npz-style arrays.

        flow (N, T, 3, I, I), apex (N, 1, I, I), au (N, F); columns follow ``classes``.
        """
        if self.svm is None:
            raise ValueError("this model was fitted CNN-only; use cnn_proba")
        return self.svm.predict_proba(self.joint_features(flow, apex, au))

    def cnn_proba(self, flow: np.ndarray, apex: np.ndarray) -> np.ndarray:
        """The CNN's own softmax (N, K)."""
        return self.cnn.predict(flow, apex)[0]

    # The LOSO loop's interface (mer.evaluation.loso.Fitted):
    def predict(self, clips: ClipSet) -> dict[str, np.ndarray]:
        out = {"cnn": self.cnn_proba(clips.flow, clips.apex)}
        if self.svm is not None:
            out["hybrid"] = self.predict_proba(clips.flow, clips.apex, clips.au)
        return out

    def report(self) -> dict[str, dict[str, Any]]:
        cnn = {"train_loss": list(self.cnn.train_loss),
               "class_weights": list(self.cnn.class_weights)}
        out = {"cnn": cnn}
        if self.tuning is not None:
            out["hybrid"] = {**cnn, "c": self.tuning.c, "gamma": self.tuning.gamma,
                             "inner_uar": self.tuning.inner_uar,
                             "trials": list(self.tuning.trials),
                             "inner_val_subjects": [list(s) for s in self.inner_val_subjects]}
        return out


def fit_hybrid(train: ClipSet, params: TrainParams, seed: int, with_svm: bool = True
               ) -> HybridModel:
    """Fit the CNN and the tuned hybrid SVM on every clip of ``train`` (labels required).

    Used per LOSO fold (train = the training subjects) and, by ``mer register``, on all
    subjects for the final model.
    """
    cnn_seed = derive_seed(seed, CNN_STREAM)
    cnn = fit_cnn(train, params.cnn, cnn_seed)
    if not with_svm:
        return HybridModel(train.classes, train.au_names, cnn, None, None, ())
    splits = inner_splits(train.y, train.subject, params.svm.inner_folds,
                          derive_seed(seed, SPLIT_STREAM))
    problems = []
    for inner_train, inner_val in splits:
        fit_part, val_part = train.take(inner_train), train.take(inner_val)
        # Same seed as the final CNN: the inner runs differ from it only in their subjects.
        inner_model = HybridModel(train.classes, train.au_names,
                                  fit_cnn(fit_part, params.cnn, cnn_seed), None, None, ())
        problems.append(InnerProblem(
            x_train=inner_model.joint_features(fit_part.flow, fit_part.apex, fit_part.au),
            y_train=fit_part.y,
            x_val=inner_model.joint_features(val_part.flow, val_part.apex, val_part.au),
            y_val=val_part.y))
    tuning = tune_c_gamma(problems, params.svm, train.n_classes, derive_seed(seed, TUNE_STREAM))
    final = HybridModel(train.classes, train.au_names, cnn, None, None, ())
    svm = fit_rbf_svm(final.joint_features(train.flow, train.apex, train.au), train.y,
                      train.n_classes, tuning.c, tuning.gamma, problems)
    inner_subjects = tuple(tuple(sorted(set(train.subject[va].tolist()))) for _, va in splits)
    return HybridModel(train.classes, train.au_names, cnn, svm, tuning, inner_subjects)

"""The one splitter: leave-one-subject-out folds, cross-corpus folds, and inner folds grouped
by subject."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mer.errors import DatasetError
from mer.labels import people_apart

if TYPE_CHECKING:
    from mer.config import EvaluationParams

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class Fold:
    """One fold: ``subject``'s clips are held out (LOSO), or a test corpus's (cross-corpus)."""

    index: int  # position of subject in sorted order; seeds derive from it
    subject: str  # the held-out subject; cross-corpus: 'train+corpora->test'
    train: np.ndarray  # (n_train,) integer positions
    test: np.ndarray  # (n_test,) integer positions


def loso_folds(subjects: np.ndarray) -> list[Fold]:
    """One fold per subject, in sorted subject order."""
    subjects = np.asarray(subjects).astype(str)
    unique = sorted(set(subjects.tolist()))
    if len(unique) < 2:
        raise DatasetError(f"leave-one-subject-out needs 2 or more subjects, got {unique}")
    return [Fold(index=i, subject=s, train=np.flatnonzero(subjects != s),
                 test=np.flatnonzero(subjects == s)) for i, s in enumerate(unique)]


def dataset_of(clip_ids: np.ndarray) -> np.ndarray:
    """(N,) str corpus of each clip, the first part of its clip_id 'dataset/subject/clip'."""
    return np.array([str(c).split("/", 1)[0] for c in clip_ids], dtype=str)


def cross_corpus_folds(datasets: np.ndarray, subjects: np.ndarray, train: Sequence[str],
                       test: Sequence[str]) -> list[Fold]:
    """One fold per test corpus: train on every clip of the ``train`` corpora, test on it.
    ``datasets`` and ``subjects``: (N,) str, each clip's corpus and LOSO subject.

    Leak-free: no clip of the test corpus is ever in the training part, and no subject
    either: a DatasetError names the fold and its people where a training corpus filmed a
    test corpus's (SAMM-LV's long videos are SAMM's people, one LOSO subject each:
    labels.PEOPLE_OF). Corpora named in neither list take no part, with a warning naming
    them.
    """
    datasets = np.asarray(datasets).astype(str)
    subjects = np.asarray(subjects).astype(str)
    present = sorted(set(datasets.tolist()))
    for name in (*train, *test):
        if name not in present:
            raise DatasetError(f"evaluation: corpus {name} has no clip in the manifest "
                               f"(corpora present: {', '.join(present)}); check the corpora "
                               "data reads (data.sources, or a flow-image CSV's dataset "
                               "column), labels.scheme, and the clips the data stage skipped "
                               "(reports/data.json, 'skipped')")
    unused = {corpus: int((datasets == corpus).sum()) for corpus in present
              if corpus not in (*train, *test)}
    if unused:  # faces and features were computed for them: say why they count for nothing
        log.warning("evaluation: %s, in neither evaluation.train_corpora nor test_corpora: no "
                    "fold trains or tests on those clips; list a corpus in one of them to use "
                    "it", ", ".join(f"{c} ({n} clips)" for c, n in unused.items()))
    train_rows = np.flatnonzero(np.isin(datasets, list(train)))
    name = "+".join(sorted(train))
    # In name order, fold k seeded by its place there: the lists' order is not a setting.
    folds = [Fold(index=i, subject=f"{name}->{corpus}", train=train_rows,
                  test=np.flatnonzero(datasets == corpus)) for i, corpus in enumerate(sorted(test))]
    for fold in folds:
        shared = sorted(set(subjects[fold.train].tolist()) & set(subjects[fold.test].tolist()))
        if shared:
            shown = ", ".join(shared[:5]) + (f" and {len(shared) - 5} more"
                                             if len(shared) > 5 else "")
            raise DatasetError(
                f"evaluation: fold {fold.subject} would test {len(shared)} subject(s) its "
                f"training corpora hold clips of ({shown}): the corpora filmed the same people, "
                "so the fold would not be cross-corpus but tested on people it trained on; "
                "list such corpora on one side (both in evaluation.train_corpora, or both in "
                "test_corpora), or use evaluation.protocol: loso, whose folds keep each person "
                "on one side")
    return folds


def protocol_folds(clip_ids: np.ndarray, subjects: np.ndarray, protocol: EvaluationParams
                   ) -> list[Fold]:
    """The folds evaluation.protocol makes of these clips: one per subject (loso), or one per
    test corpus (cross-corpus)."""
    datasets = dataset_of(clip_ids)
    # Pooled under LOSO, each a fold's training or test part cross-corpus: two test corpora
    # (each fold trains on the training corpora only) or two training corpora may share
    # people (h66); the data stage refuses a LOSO manifest of them before this.
    together = ([datasets.tolist()] if protocol.protocol == "loso" else
                [[train, test] for train in protocol.train_corpora
                 for test in protocol.test_corpora])
    why = next(filter(None, map(people_apart, together)), None)
    if why is not None:
        raise DatasetError(f"evaluation ({protocol.protocol}): the {why}")
    if protocol.protocol == "loso":
        return loso_folds(subjects)
    return cross_corpus_folds(datasets, subjects, protocol.train_corpora,
                              protocol.test_corpora)


def check_training_classes(y: np.ndarray, classes: Sequence[str], folds: Sequence[Fold],
                           protocol: str = "loso") -> None:
    """A DatasetError, before anything is fitted, for a fold whose training clips hold fewer
    than two classes: no classifier learns from one (scikit-learn's SVM refuses it).
    ``y``: (N,) int class index of every clip into ``classes``."""
    for fold in folds:
        present = sorted(set(np.asarray(y)[fold.train].tolist()))
        if len(present) >= 2:
            continue
        held = ("the training corpora" if protocol == "cross-corpus" else
                f"every subject but {fold.subject}")
        have = (f"only class {classes[present[0]]!r}" if present else "no clip")
        advice = ("add a training corpus whose clips have other classes, or choose a "
                  "labels.scheme that keeps them" if protocol == "cross-corpus" else
                  f"the other classes' clips are all {fold.subject}'s: add subjects with "
                  "them, or choose a labels.scheme that keeps more of each")
        raise DatasetError(f"fold {fold.subject}: the clips of {held} hold {have} "
                           f"({len(fold.train)} clips); a classifier needs two or more classes "
                           f"to learn from: {advice}")
    _warn_unlearnable(np.asarray(y), classes, folds, protocol)


def _warn_unlearnable(y: np.ndarray, classes: Sequence[str], folds: Sequence[Fold],
                      protocol: str) -> None:
    """A warning naming the folds whose test clips hold a class their training clips do not:
    no model can predict it there (a break-it session: cross-corpus training on a corpus
    without surprise scored every surprise clip wrong, without a word)."""
    found = []
    for fold in folds:
        missing = sorted(set(y[fold.test].tolist()) - set(y[fold.train].tolist()))
        if missing:
            counts = ", ".join(f"{classes[i]} ({int((y[fold.test] == i).sum())} test clip(s))"
                               for i in missing)
            found.append(f"fold {fold.subject}: {counts}")
    if not found:
        return
    advice = ("add a training corpus (evaluation.train_corpora) with clips of it, or choose "
              "a labels.scheme that merges it" if protocol == "cross-corpus" else
              "every clip of it is the held-out subject's: add subjects with it, or choose a "
              "labels.scheme that merges it")
    log.warning("%d of the %d folds test clips of a class their training clips hold none of, "
                "so no model can predict it there and its recall is 0 in them: %s; %s",
                len(found), len(folds), "; ".join(found), advice)


def inner_splits(y: np.ndarray, subjects: np.ndarray, n_splits: int, seed: int
                 ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified folds grouped by subject over the given (training) clips only.

    ``n_splits`` is capped at the number of subjects; each subject lands in exactly one
    validation part, so no subject is ever on both sides of an inner split.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    subjects = np.asarray(subjects).astype(str)
    n_groups = len(set(subjects.tolist()))
    if n_groups < 2:
        raise DatasetError(f"an inner split needs 2 or more training subjects, got {n_groups}")
    splitter = StratifiedGroupKFold(n_splits=min(n_splits, n_groups), shuffle=True,
                                    random_state=seed)
    # sklearn warns when a class has fewer members than folds; with CASME II's rare classes
    # that is expected and harmless (the class is then absent from some validation parts).
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*least populated class.*")
        splits = list(splitter.split(np.zeros(len(y)), y, groups=subjects))
    return [(np.asarray(tr), np.asarray(va)) for tr, va in splits if len(va)]

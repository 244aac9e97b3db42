"""Figures and DVC-plots tables of a LOSO evaluation, written into one folder.

- confusion_<model>.png: row-normalised confusion matrix with counts, per model;
- per_class.png: recall of every class for every model, with the chance line;
- per_subject.png: the primary model's UAR and accuracy per held-out subject;
- per_corpus.png (several corpora only): UF1 and UAR of every model, full and per corpus;
- confusion.csv: actual,predicted per clip of the primary model (DVC's confusion template);
- per_subject.csv: model, subject, clips, accuracy, uar, uf1.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mer.evaluation import metrics
from mer.evaluation.report import (
    DECIMALS,
    classes_of,
    model_metrics,
    models_of,
    primary_model,
)

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

DPI = 120
PNG_METADATA = {"Software": None}  # no version stamp: same data, same bytes


def _figure(width: float, height: float) -> Figure:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def confusion_figure(matrix: np.ndarray, classes: Sequence[str], title: str) -> Figure:
    rows = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, rows, out=np.zeros(matrix.shape), where=rows > 0)
    fig = _figure(5.5, 4.8)
    ax = fig.add_subplot()
    image = ax.imshow(share, vmin=0, vmax=1, cmap="Blues")
    fig.colorbar(image, ax=ax, label="share of the actual class")
    ax.set_xticks(range(len(classes)), classes, rotation=35, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title(title)
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, f"{count}\n{share[i, j]:.0%}", ha="center", va="center", fontsize=8,
                color="white" if share[i, j] > 0.5 else "black")
    return fig


def per_class_figure(recalls: dict[str, list[float]], classes: Sequence[str]) -> Figure:
    fig = _figure(1.2 + 1.3 * len(classes), 4.0)
    ax = fig.add_subplot()
    width = 0.8 / max(len(recalls), 1)
    for m, (model, values) in enumerate(recalls.items()):
        ax.bar(np.arange(len(classes)) + (m - (len(recalls) - 1) / 2) * width, values, width,
               label=model)
    ax.axhline(1.0 / len(classes), color="grey", linestyle="--", linewidth=1, label="chance")
    ax.set_xticks(range(len(classes)), classes)
    ax.set_ylim(0, 1)
    ax.set_ylabel("recall (pooled over folds)")
    ax.set_title("per-class recall")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def per_subject_figure(table: pd.DataFrame, model: str, n_classes: int) -> Figure:
    fig = _figure(max(6.0, 0.35 * len(table) + 2), 4.0)
    ax = fig.add_subplot()
    x = np.arange(len(table))
    ax.bar(x - 0.2, table["uar"], 0.4, label="UAR")
    ax.bar(x + 0.2, table["accuracy"], 0.4, label="accuracy")
    ax.axhline(1.0 / n_classes, color="grey", linestyle="--", linewidth=1, label="chance UAR")
    labels = [f"{s} ({n})" for s, n in zip(table["subject"], table["clips"], strict=True)]
    ax.set_xticks(x, labels, rotation=60, ha="right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_title(f"{model}: per held-out subject (clips)")
    ax.legend(fontsize=8)
    return fig


def per_corpus_figure(scores: dict[str, dict[str, dict[str, float]]], n_classes: int
                      ) -> Figure:
    """UF1 and UAR bars per (model, corpus); ``scores``: model -> {'full' | corpus: scores}."""
    groups = list(next(iter(scores.values())))
    fig = _figure(2.0 + 1.6 * len(groups), 4.2)
    axes = fig.subplots(1, 2, sharey=True)
    width = 0.8 / max(len(scores), 1)
    for ax, metric in zip(axes, ("uf1", "uar"), strict=True):
        for m, (model, by_group) in enumerate(scores.items()):
            ax.bar(np.arange(len(groups)) + (m - (len(scores) - 1) / 2) * width,
                   [by_group[g][metric] for g in groups], width, label=model)
        ax.axhline(1.0 / n_classes, color="grey", linestyle="--", linewidth=1)
        ax.set_xticks(range(len(groups)), groups)
        ax.set_ylim(0, 1)
        ax.set_title(f"{metric.upper()} (pooled predictions)")
    axes[1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def _save(fig: Figure, path: Path) -> None:
    fig.savefig(path, metadata=PNG_METADATA)


def write_plots(frame: pd.DataFrame, per_subject: pd.DataFrame, folder: str | Path,
                report: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write every figure and table of the evaluation into ``folder``; return their names.

    ``report``: metrics_report(frame), when the caller has it already."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    classes = classes_of(frame)
    models = models_of(frame)
    lookup = {c: k for k, c in enumerate(classes)}
    recalls = {}
    for model in models:
        rows = frame[frame["model"] == model]
        matrix = metrics.confusion(rows["label"].map(lookup).to_numpy(),
                                   rows["prediction"].map(lookup).to_numpy(), len(classes))
        recalls[model] = metrics.recall_per_class(matrix).tolist()
        _save(confusion_figure(matrix, classes, f"{model}: UAR {metrics.uar_of(matrix):.3f}"),
              folder / f"confusion_{model}.png")
    _save(per_class_figure(recalls, classes), folder / "per_class.png")
    by_model = report["models"] if report is not None else {
        m: model_metrics(frame[frame["model"] == m], classes) for m in models}
    if any("corpora" in scores for scores in by_model.values()):
        _save(per_corpus_figure({m: {"full": scores, **scores.get("corpora", {})}
                                 for m, scores in by_model.items()}, len(classes)),
              folder / "per_corpus.png")
    primary = primary_model(models)
    mine = per_subject[per_subject["model"] == primary]
    _save(per_subject_figure(mine, primary, len(classes)), folder / "per_subject.png")
    rows = frame[frame["model"] == primary]
    rows[["label", "prediction"]].rename(columns={"label": "actual", "prediction": "predicted"}
                                         ).to_csv(folder / "confusion.csv", index=False,
                                                  lineterminator="\n")
    per_subject.to_csv(folder / "per_subject.csv", index=False, lineterminator="\n",
                       float_format=f"%.{DECIMALS}f")
    return {"primary": primary, "files": sorted(p.name for p in folder.iterdir())}

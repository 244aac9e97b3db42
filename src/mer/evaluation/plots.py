"""Figures and DVC-plots tables of a LOSO evaluation, written into one folder.

Figures (PNG, at the top of the folder; dvc.yaml declares them as image plots, which
`dvc plots show` embeds as they are, no script needed):
- confusion_<model>.png: row-normalised confusion matrix with counts, per model;
- models.png: UAR (with the mean and spread of the per-fold UAR), UF1 and accuracy of every model;
- per_class.png: recall of every class for every model, with the chance line;
- per_subject.png: the primary model's UAR and accuracy per held-out subject;
- per_corpus.png (several corpora only): UF1 and UAR of every model, full and per corpus.

Tables (CSV, one file per model; dvc.yaml's top-level plots draw each as a Vega chart that
`dvc plots show` / `dvc plots diff` overlay across revisions):
- confusion/<model>.csv: actual,predicted per clip (DVC's confusion template);
- recall/<model>.csv: class, recall, precision, support (bars by class);
- subjects/<model>.csv: subject, clips, classes, uar, accuracy, uf1 (bars by held-out
  subject; classes: how many its clips show, its chance UAR being 1 / classes).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mer.evaluation import metrics
from mer.evaluation.report import (
    DECIMALS,
    chance_uar,
    classes_of,
    classes_shown,
    headline_rank,
    model_metrics,
    models_of,
    primary_model,
)

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

DPI = 120
PNG_METADATA = {"Software": None}  # no version stamp: same data, same bytes


# The confusion figure's margins (shares of its 5.5 x 4.8 in), fixed: `mer train` draws one
# per (model, fold) for the MLflow UI, 340 in a LOSO run of the MEGC2019 composite, and
# constrained layout made each take 1.5 times as long (0.38 s against 0.25 s, drawn and saved
# as PNG, on this 2-core machine). They fit every label scheme's class names and a title line
# of TITLE_CHARACTERS; a longer title (a cross-corpus fold of long corpus names) is wrapped,
# each further line taking TITLE_LINE of the height from the top, and cut with ' ...' after
# TITLE_LINES: test_evaluation_report draws them and checks.
CONFUSION_MARGINS = {"left": 0.2, "right": 0.98, "bottom": 0.22, "top": 0.93}
TITLE_CHARACTERS = 46
TITLE_LINE = 0.05
TITLE_LINES = 3


def _figure(width: float, height: float, margins: dict[str, float] | None = None) -> Figure:
    """A ``width`` x ``height`` in figure at DPI; constrained layout unless ``margins`` (as
    Figure.subplots_adjust takes them) fix where its axes go."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    if margins is None:
        return Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    fig = Figure(figsize=(width, height), dpi=DPI)
    fig.subplots_adjust(**margins)
    return fig


def confusion_figure(matrix: np.ndarray, classes: Sequence[str], title: str) -> Figure:
    """Row-normalised confusion matrix (``matrix``: n_classes x n_classes counts, actual by
    row) with each cell's count and share, titled ``title``."""
    import textwrap

    rows = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, rows, out=np.zeros(matrix.shape), where=rows > 0)
    lines = textwrap.wrap(title, TITLE_CHARACTERS, break_on_hyphens=False,
                          max_lines=TITLE_LINES, placeholder=" ...") or [""]
    fig = _figure(5.5, 4.8, {**CONFUSION_MARGINS,
                             "top": CONFUSION_MARGINS["top"] - TITLE_LINE * (len(lines) - 1)})
    ax = fig.add_subplot()
    image = ax.imshow(share, vmin=0, vmax=1, cmap="Blues")
    fig.colorbar(image, ax=ax, label="share of the actual class")
    ax.set_xticks(range(len(classes)), classes, rotation=35, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title("\n".join(lines))
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, f"{count}\n{share[i, j]:.0%}", ha="center", va="center", fontsize=8,
                color="white" if share[i, j] > 0.5 else "black")
    return fig


def per_class_figure(recalls: dict[str, list[float]], classes: Sequence[str]) -> Figure:
    """Each model's recall of each class (NaN: the class has no clip, named so under it; a
    review found its empty group read as a recall of 0), over the recall of a guess drawn
    uniformly from the classes, 1 / classes."""
    fig = _figure(1.2 + 1.3 * len(classes), 4.0)
    ax = fig.add_subplot()
    width = 0.8 / max(len(recalls), 1)
    for m, (model, values) in enumerate(recalls.items()):
        ax.bar(np.arange(len(classes)) + (m - (len(recalls) - 1) / 2) * width, values, width,
               label=model)
    ax.axhline(1.0 / len(classes), color="grey", linestyle="--", linewidth=1,
               label="uniform guess (1 / classes)")
    absent = {k for k in range(len(classes))
              if recalls and all(np.isnan(values[k]) for values in recalls.values())}
    ax.set_xticks(range(len(classes)), [f"{c}\n(no clips)" if k in absent else c
                                        for k, c in enumerate(classes)])
    ax.set_ylim(0, 1)
    ax.set_ylabel("recall (pooled over folds)")
    ax.set_title("per-class recall")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def models_figure(by_model: dict[str, dict[str, Any]], chance: float) -> Figure:
    """Pooled UAR, UF1 and accuracy of every model side by side, in reports/metrics.json's
    order; over the UAR bar, the mean and spread (sd) of the per-fold UAR as a point with an
    error bar: how much the score moves with the held-out subject (none with one fold). (A
    break-it session: the spread was drawn around the pooled UAR, a range the folds never
    had.) ``chance``: the pooled chance UAR (report.chance_uar)."""
    models = sorted(by_model, key=headline_rank)
    fig = _figure(2.5 + 1.1 * len(models), 4.2)
    ax = fig.add_subplot()
    x = np.arange(len(models))
    for k, (key, label) in enumerate((("uar", "UAR"), ("uf1", "UF1"),
                                      ("accuracy", "accuracy"))):
        ax.bar(x + (k - 1) * 0.27, [by_model[m][key] for m in models], 0.27, label=label)
    spread = [by_model[m]["fold_std_uar"] for m in models]
    ax.errorbar(x - 0.27, [by_model[m]["fold_mean_uar"] for m in models],
                yerr=[np.nan if sd is None else sd for sd in spread], fmt="o", color="black",
                markersize=3, capsize=3, label="per-fold UAR: mean ± sd")
    ax.axhline(chance, color="grey", linestyle="--", linewidth=1, label="chance UAR")
    ax.set_xticks(x, models, rotation=20, ha="right")
    ax.set_ylim(0, 1)
    ax.set_title("models (bars: pooled predictions)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def per_subject_figure(table: pd.DataFrame, model: str) -> Figure:
    """UAR and accuracy of ``model`` per held-out subject (report.per_subject's rows), each
    subject's chance UAR marked over its bars."""
    fig = _figure(max(6.0, 0.35 * len(table) + 2), 4.0)
    ax = fig.add_subplot()
    x = np.arange(len(table))
    ax.bar(x - 0.2, table["uar"], 0.4, label="UAR")
    ax.bar(x + 0.2, table["accuracy"], 0.4, label="accuracy")
    # A subject's UAR averages over the classes it shows: its chance is 1 / those, per bar.
    ax.hlines(1.0 / table["classes"], x - 0.45, x + 0.45, color="black", linewidth=1.5,
              label="chance UAR (1 / classes shown)")
    labels = [f"{s} ({n})" for s, n in zip(table["subject"], table["clips"], strict=True)]
    ax.set_xticks(x, labels, rotation=60, ha="right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_title(f"{model}: per held-out subject (clips)")
    ax.legend(fontsize=8)
    return fig


def per_corpus_figure(scores: dict[str, dict[str, dict[str, float]]], n_classes: int
                      ) -> Figure:
    """UF1 and UAR bars per (model, corpus); ``scores``: model -> {'full' | corpus: scores}.
    A model without a corpus (the AU-oracle has none on SMIC-HS) has no bar there; a corpus
    whose clips show fewer classes (its scores' 'classes') says how many under its name, and
    its chance UAR, 1 / those, is marked over its bars (a break-it session: one line at
    1 / n_classes ran under a corpus of 2 classes, whose chance is 1/2)."""
    groups = list(dict.fromkeys(g for by_group in scores.values() for g in by_group))
    shown: dict[str, int] = {}  # the most any model's clips there show (the AU-oracle's fewer)
    for by_group in scores.values():
        for g, figures in by_group.items():
            if "classes" in figures:
                shown[g] = max(shown.get(g, 0), len(figures["classes"]))
    # on two lines: two captioned neighbours ran into each other (h71)
    names = [f"{g}\n({shown[g]} of {n_classes}\nclasses)" if shown.get(g, n_classes) < n_classes
             else g for g in groups]
    fig = _figure(2.0 + 2.0 * len(groups), 4.2)
    axes = fig.subplots(1, 2, sharey=True)
    width = 0.8 / max(len(scores), 1)
    for ax, metric in zip(axes, ("uf1", "uar"), strict=True):
        for m, (model, by_group) in enumerate(scores.items()):
            ax.bar(np.arange(len(groups)) + (m - (len(scores) - 1) / 2) * width,
                   [by_group[g][metric] if g in by_group else np.nan for g in groups],
                   width, label=model)
        x = np.arange(len(groups))
        # UAR's chance and the classes it averages over on the UAR panel only (a review): UF1
        # may average over more classes, those predicted there too
        if metric == "uar":
            ax.hlines([1.0 / shown.get(g, n_classes) for g in groups], x - 0.45, x + 0.45,
                      color="grey", linestyle="--", linewidth=1,
                      label="chance UAR (1 / classes shown)")
        ax.set_xticks(x, names if metric == "uar" else groups)
        ax.set_ylim(0, 1)
        ax.set_title(f"{metric.upper()} (pooled predictions)")
    axes[1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def _save(fig: Figure, path: Path) -> None:
    fig.savefig(path, metadata=PNG_METADATA)


CONFUSION, RECALL, SUBJECTS = "confusion", "recall", "subjects"  # the tables' subfolders


def _csv(table: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False, lineterminator="\n", float_format=f"%.{DECIMALS}f")


def write_plots(frame: pd.DataFrame, per_subject: pd.DataFrame, folder: str | Path,
                report: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write every figure and table of the evaluation into ``folder``; return their names.

    ``report``: evaluation_report(frame), when the caller has it already."""
    import pandas as pd

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    classes = classes_of(frame)
    # reports/metrics.json's order, in every figure: one colour per model throughout
    models = sorted(models_of(frame), key=headline_rank)
    lookup = {c: k for k, c in enumerate(classes)}
    recalls = {}
    for model in models:
        rows = frame[frame["model"] == model]
        y_true = rows["label"].map(lookup).to_numpy()
        y_pred = rows["prediction"].map(lookup).to_numpy()
        matrix = metrics.confusion(y_true, y_pred, len(classes))
        recall, precision = metrics.per_class(y_true, y_pred, len(classes))
        recalls[model] = recall.tolist()
        uar = metrics.uar(y_true, y_pred, len(classes))
        _save(confusion_figure(matrix, classes, f"{model}: UAR {uar:.3f}"),
              folder / f"confusion_{model}.png")
        _csv(rows[["label", "prediction"]].rename(
                columns={"label": "actual", "prediction": "predicted"}),
             folder / CONFUSION / f"{model}.csv")
        _csv(pd.DataFrame({"class": classes, "recall": recall, "precision": precision,
                           "support": matrix.sum(axis=1)}),
             folder / RECALL / f"{model}.csv")
        _csv(per_subject[per_subject["model"] == model].drop(columns="model"),
             folder / SUBJECTS / f"{model}.csv")
    _save(per_class_figure(recalls, classes), folder / "per_class.png")
    by_model = report["models"] if report is not None else {
        m: model_metrics(frame[frame["model"] == m], classes) for m in models}
    _save(models_figure(by_model, chance_uar(frame)), folder / "models.png")
    if any("corpora" in scores for scores in by_model.values()):
        # "full" with the classes its clips show, as each corpus has them (h69: its chance
        # was drawn at 1 / the scheme's classes)
        _save(per_corpus_figure({m: {"full": {**by_model[m], "classes": classes_shown(
                                         frame[frame["model"] == m], classes)},
                                     **by_model[m].get("corpora", {})}
                                 for m in models}, len(classes)),
              folder / "per_corpus.png")
    primary = primary_model(models)
    mine = per_subject[per_subject["model"] == primary]
    _save(per_subject_figure(mine, primary), folder / "per_subject.png")
    return {"primary": primary,
            "files": sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                            if p.is_file())}

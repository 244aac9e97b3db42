"""The two reports of `mer evaluate` and its plot tables, from a hand-made predictions table.

reports/metrics.json is the DVC metric: per model four numbers, so `dvc exp show` stays
readable; reports/evaluation.json keeps every figure. Both are bytes that depend only on the
predictions.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mer.evaluation.plots import write_plots
from mer.evaluation.report import (
    HEADLINE,
    evaluation_report,
    headline,
    headline_rank,
    per_subject,
    to_json,
)
from mer.labels import SCHEMES

CLASSES = ("happiness", "disgust", "others")
MODELS = ("majority", "au-oracle", "svm", "cnn", "hybrid")


def predictions(models=MODELS, seed=0) -> pd.DataFrame:
    """Every model x 3 subjects x 6 clips, its guesses right about half the time."""
    rng = np.random.default_rng(seed)
    rows = []
    for model in models:
        for s in range(3):
            for c in range(6):
                label = CLASSES[(s + c) % 3]
                proba = rng.dirichlet(np.ones(len(CLASSES)))
                if rng.random() < 0.5:
                    proba[CLASSES.index(label)] += 1.0
                proba /= proba.sum()
                rows.append({"model": model, "fold": f"sub0{s + 1}", "subject": f"sub0{s + 1}",
                             "clip_id": f"casme2/sub0{s + 1}/EP0{c}", "clip": f"EP0{c}",
                             "label": label, "prediction": CLASSES[int(np.argmax(proba))],
                             **{f"prob_{k}": float(p)
                                for k, p in zip(CLASSES, proba, strict=True)}})
    return pd.DataFrame(rows)


def test_headline_is_four_numbers_per_model_learners_first():
    report = evaluation_report(predictions(models=("hybrid", "lstm", *MODELS)))
    top = headline(report)
    # the learners, primary first (so `dvc exp show` shows them first), then any other model
    # trained, then the floor and the ceiling
    assert list(top) == ["hybrid", "cnn", "svm", "lstm", "majority", "au-oracle"]
    for model, figures in top.items():
        assert list(figures) == ["uar", "uf1", "acc", "uar_sd"]
        assert all(isinstance(v, float) for v in figures.values())
        full = report["models"][model]
        assert figures == {"uar": full["uar"], "uf1": full["uf1"], "acc": full["accuracy"],
                           "uar_sd": full["fold_std_uar"]}
    assert set(HEADLINE.values()) <= set(report["models"]["svm"])


def test_headline_json_is_flat_enough_for_dvc_exp_show():
    """Each leaf is one `dvc exp show` column: 5 models x 4, no per-class, per-corpus or
    per-fold ones."""
    text = to_json(headline(evaluation_report(predictions())), sort_keys=False)
    leaves = [f"{m}.{k}" for m, figures in json.loads(text).items() for k in figures]
    assert len(leaves) == 20
    assert max(map(len, leaves)) <= len("au-oracle.uar_sd")


def test_reports_are_the_same_bytes_for_the_same_predictions():
    frame = predictions()
    shuffled = frame.sample(frac=1.0, random_state=3).reset_index(drop=True)
    first, again = evaluation_report(frame), evaluation_report(shuffled)
    assert to_json(first) == to_json(again)
    assert to_json(headline(first), sort_keys=False) == to_json(headline(again),
                                                                sort_keys=False)


def test_evaluation_json_keeps_every_figure():
    report = evaluation_report(predictions())
    assert report["primary"] == "hybrid"
    assert report["uar"] == report["models"]["hybrid"]["uar"]
    assert report["classes"] == list(CLASSES)
    for name in ("recall", "precision", "support", "fold_mean_uar", "fold_std_uar", "folds"):
        assert name in report["models"]["svm"]
    assert "au_oracle_uar" in report["ceiling"] and "majority_uar" in report["floor"]


@pytest.mark.slow
def test_plot_tables_one_file_per_model_figures_at_the_top(tmp_path):
    """dvc.yaml draws reports/plots/{confusion,recall,subjects}/<model>.csv as charts and
    every file at the top of reports/plots as an image: so only PNGs stand there."""
    frame = predictions()
    report = evaluation_report(frame)
    subjects = per_subject(frame, report["classes"])
    write_plots(frame, subjects, tmp_path, report)
    top = {p.name for p in tmp_path.iterdir() if p.is_file()}
    assert all(name.endswith(".png") for name in top)
    assert {f"confusion_{m}.png" for m in MODELS} | {"models.png", "per_class.png",
                                                     "per_subject.png"} == top
    for model in MODELS:
        confusion = pd.read_csv(tmp_path / "confusion" / f"{model}.csv")
        assert list(confusion.columns) == ["actual", "predicted"] and len(confusion) == 18
        recall = pd.read_csv(tmp_path / "recall" / f"{model}.csv")
        assert list(recall["class"]) == list(CLASSES)
        assert recall["recall"].tolist() == pytest.approx(
            [report["models"][model]["recall"][c] for c in CLASSES], abs=1e-6)
        by_subject = pd.read_csv(tmp_path / "subjects" / f"{model}.csv", dtype={"subject": str})
        assert list(by_subject.columns) == ["subject", "clips", "classes", "accuracy", "uar",
                                            "uf1"]
        assert list(by_subject["subject"]) == ["sub01", "sub02", "sub03"]
        # a break-it session: the per-subject chart drew chance at 1 / 3 classes for every
        # subject, where a subject's UAR averages over the classes it shows
        shown = frame[frame["model"] == model].groupby("subject")["label"].nunique()
        assert by_subject["classes"].tolist() == shown.loc[by_subject["subject"]].tolist()


def test_per_corpus_figure_marks_each_corpus_chance():
    """A break-it session: one chance line at 1/3 ran under a corpus whose clips show 2 of the
    3 classes (its majority floor scores UAR 1/2 there), so every model above it looked better
    than chance when it may not be."""
    from matplotlib.collections import LineCollection

    from mer.evaluation.plots import per_corpus_figure

    three = {"uar": 0.6, "uf1": 0.5, "classes": ["negative", "positive", "surprise"]}
    two = {"uar": 0.6, "uf1": 0.5, "classes": ["negative", "positive"]}
    figure = per_corpus_figure({"hybrid": {"full": three, "casme2": three, "samm": two}}, 3)
    uf1_panel, uar_panel = figure.axes
    [chance] = [c for c in uar_panel.collections if isinstance(c, LineCollection)]
    heights = [round(float(segment[0][1]), 3) for segment in chance.get_segments()]
    assert heights == [0.333, 0.333, 0.5]
    # a review (h68 F4): the UF1 panel drew UAR's chance, though UF1 may average over classes
    # a corpus lacks but the model predicts there
    assert not [c for c in uf1_panel.collections if isinstance(c, LineCollection)]


def cross_corpus_predictions() -> pd.DataFrame:
    """One cross-corpus fold whose test corpus shows 2 of the 3 classes (h68's case)."""
    rows = []
    for i in range(20):
        label = ("negative", "positive")[i % 2]
        for model, guess in (("majority", "negative"),
                             ("hybrid", label if i % 5 else "surprise")):
            rows.append({"model": model, "fold": "casme2->samm", "subject": f"samm_{i % 4}",
                         "clip_id": f"samm/samm_{i % 4}/c{i}", "clip": f"c{i}", "label": label,
                         "prediction": guess,
                         **{f"prob_{c}": 0.8 if c == guess else 0.1
                            for c in ("negative", "positive", "surprise")}})
    return pd.DataFrame(rows)


def test_chance_spread_and_recall_say_what_a_cross_corpus_fold_measured(tmp_path):
    """A review (h68 F1-F3, F6): a test corpus lacking 'surprise' had chance UAR 1/3 under a
    majority guess scoring 0.5; one fold gave uar_sd 0.0, a spread no fold measured; the
    class with no clip had recall 0.0 beside UAR 0.8, which leaves it out; and the figures
    ordered the models two ways, so one model had two colours."""
    from mer.tracking.runs import report_metrics

    frame = cross_corpus_predictions()
    report = evaluation_report(frame)
    assert report["floor"]["chance_uar"] == 0.5 == report["floor"]["majority_uar"]
    assert headline(report)["hybrid"]["uar_sd"] is None
    assert report["models"]["hybrid"]["fold_std_uf1"] is None
    assert "null" in to_json(headline(report))
    assert report["models"]["hybrid"]["recall"] == {"negative": 0.8, "positive": 0.8,
                                                    "surprise": None}
    assert "hybrid/uar_sd" not in report_metrics(report) and "hybrid/uar" in report_metrics(report)
    write_plots(frame, per_subject(frame, report["classes"]), tmp_path, report)  # no spread
    recall = pd.read_csv(tmp_path / "recall" / "hybrid.csv")
    assert recall["recall"].isna().tolist() == [False, False, True]


def test_the_figures_draw_the_chance_and_classes_the_reports_give(tmp_path, monkeypatch):
    """The re-check (h69 F1, F5, F6): per_corpus.png drew the pooled ('full') chance at 1/3
    where evaluation.json and models.png said 0.5; per_class.png showed a class with no clip
    as an empty group, like a recall of 0; the UF1 panel carried UAR's class captions."""
    from matplotlib.collections import LineCollection

    from mer.evaluation import plots

    frame = cross_corpus_predictions()
    other = frame.copy()  # a second test corpus, also without 'surprise'
    other["clip_id"] = other["clip_id"].str.replace("samm/", "smic/")
    other["fold"] = "casme2->smic"
    frame = pd.concat([frame, other], ignore_index=True)
    drawn = {}
    for name in ("per_class_figure", "per_corpus_figure"):
        original = getattr(plots, name)
        monkeypatch.setattr(plots, name, lambda *a, _o=original, _n=name: drawn.setdefault(
            _n, _o(*a)))
    report = evaluation_report(frame)
    write_plots(frame, per_subject(frame, report["classes"]), tmp_path, report)
    uf1_panel, uar_panel = drawn["per_corpus_figure"].axes
    [chance] = [c for c in uar_panel.collections if isinstance(c, LineCollection)]
    assert [round(float(s[0][1]), 3) for s in chance.get_segments()] == [0.5, 0.5, 0.5]
    assert report["floor"]["chance_uar"] == 0.5
    assert [t.get_text() for t in uf1_panel.get_xticklabels()] == ["full", "samm", "smic"]
    assert uar_panel.get_xticklabels()[0].get_text() == "full\n(2 of 3\nclasses)"
    ticks = [t.get_text() for t in drawn["per_class_figure"].axes[0].get_xticklabels()]
    assert ticks == ["negative", "positive", "surprise\n(no clips)"]


def test_every_figure_orders_the_models_as_metrics_json(tmp_path, monkeypatch):
    from mer.evaluation import plots

    seen = {}
    original = plots.per_class_figure
    monkeypatch.setattr(plots, "per_class_figure",
                        lambda recalls, classes: seen.setdefault("order", list(recalls))
                        and original(recalls, classes))
    frame = predictions()
    write_plots(frame, per_subject(frame, CLASSES), tmp_path)
    assert seen["order"] == list(headline(evaluation_report(frame)))


def test_models_figure_centres_the_fold_spread_on_the_fold_mean():
    """A break-it session: the per-fold UAR's sd was drawn around the pooled UAR (cnn 0.807
    +- 0.201, a range its folds, of mean 0.742, never had), in another order than
    reports/metrics.json's."""
    from matplotlib.container import ErrorbarContainer

    from mer.evaluation.plots import models_figure

    by_model = {m: {"uar": 0.8 - 0.1 * i, "uf1": 0.5, "accuracy": 0.6,
                    "fold_mean_uar": 0.7 - 0.1 * i, "fold_std_uar": 0.05 + 0.01 * i}
                for i, m in enumerate(MODELS)}
    ax = models_figure(by_model, 0.2).axes[0]
    shown = [label.get_text() for label in ax.get_xticklabels()]
    assert shown == sorted(MODELS, key=headline_rank) == ["hybrid", "cnn", "svm", "majority",
                                                            "au-oracle"]
    [bars] = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    points = bars.lines[0].get_ydata()
    assert list(points) == [by_model[m]["fold_mean_uar"] for m in shown]


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
@pytest.mark.parametrize("title", ["off-apexnet, held-out " + "s" * 24,
                                   "off-apexnet, held-out casme2+samm+smic->casme3parta_sub0"
                                   + "7" * 40])
def test_the_confusion_figure_shows_every_label_whole(scheme, title):
    """The confusion figure has fixed margins (`mer train` draws one per model and fold): every
    class name of every label scheme and the title lie inside the figure, and the axis labels
    clear the class names. A title line holds 46 characters; a longer title is wrapped and
    the matrix moved down for it (a break-it session: one of 56 characters was cut)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from mer.evaluation.plots import confusion_figure

    classes = SCHEMES[scheme].classes
    matrix = np.full((len(classes), len(classes)), 100)  # three-digit counts in every cell
    figure = confusion_figure(matrix, classes, title)
    renderer = FigureCanvasAgg(figure).get_renderer()
    figure.draw(renderer)
    inside = figure.bbox
    texts = [t for t in figure.findobj(lambda a: hasattr(a, "get_text")) if t.get_text()
             and t.get_visible()]
    assert {t.get_text() for t in texts} >= {*classes, "actual", "predicted"}
    (shown,) = [t.get_text() for t in texts if t.get_text().split() and
                "".join(t.get_text().split()) == "".join(title.split())]
    assert max(map(len, shown.split("\n"))) <= 46
    # a title of many lines (names no fold has) is cut after three, not a matrix pushed off
    many = confusion_figure(matrix, classes, " ".join(["casme2+samm+smic->sub07"] * 40))
    FigureCanvasAgg(many).draw()
    assert many.axes[0].get_title().count("\n") == 2
    assert many.axes[0].get_title().endswith(" ...")
    for text in texts:
        box = text.get_window_extent(renderer)
        assert (box.x0 >= inside.x0 and box.x1 <= inside.x1 and box.y0 >= inside.y0
                and box.y1 <= inside.y1), f"{text.get_text()!r} is cut at the figure's edge"
    ax = figure.axes[0]
    for label, ticks in ((ax.yaxis.label, ax.get_yticklabels()),
                         (ax.xaxis.label, ax.get_xticklabels())):
        box = label.get_window_extent(renderer)
        assert not any(box.overlaps(t.get_window_extent(renderer)) for t in ticks), \
            f"{label.get_text()!r} overlaps the class names"

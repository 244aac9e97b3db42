"""The SAMM-format synthetic set is SAMM's exact on-disk format, read by the real SAMM adapter."""

import csv
import re
from collections import Counter

import cv2
import openpyxl
import pytest

from mer.config import SyntheticParams
from mer.core.frames import NO_FRAME
from mer.data.aus import normalise_aus
from mer.data.clips import APEX_MISSING
from mer.data.repairs import resolve_frames
from mer.data.samm import read_samm
from mer.data.sheets import read_table
from mer.labels import get_scheme, normalise_emotion
from mer.synthetic.face import AuEvent
from mer.synthetic.write_samm import (
    GROUND_TRUTH,
    HEADER,
    HEADER_ROW,
    SAMM_CLASS_COUNTS,
    SAMM_SUBJECT_IDS,
    SHEET,
    au_cell,
    class_counts,
    intensity_letter,
    plan_samm,
)


@pytest.fixture(scope="module")
def default_plan():
    return plan_samm(SyntheticParams(), seed=0)


def test_the_real_adapter_reads_the_planned_clips(tiny_all_dataset, tiny_all_params):
    plan = plan_samm(tiny_all_params, seed=0)
    corpus = read_samm(tiny_all_dataset)
    assert corpus.annotations.endswith(SHEET)
    assert len(corpus.clips) == len(plan.clips) == 10
    for clip, planned in zip(corpus.clips, plan.clips, strict=True):
        assert (clip.subject, clip.clip) == (f"{planned.subject:03d}", planned.name)
        assert (clip.onset, clip.offset, clip.fps) == (planned.onset, planned.offset, 200.0)
        assert clip.emotion == normalise_emotion(planned.emotion)
        assert clip.aus == normalise_aus(planned.au_cell)[0]
        if planned.apex_in_sheet:
            assert clip.apex == planned.apex and APEX_MISSING not in clip.flags
        else:
            assert clip.apex == NO_FRAME and APEX_MISSING in clip.flags
        resolved = resolve_frames(clip)  # every frame onset..offset present and decodable
        assert len(resolved.frame_paths) == planned.frames
    assert any(not c.apex_in_sheet for c in plan.clips)
    megc = {get_scheme("megc-3").label_of(c.emotion) for c in corpus.clips}
    assert {"negative", "positive", "surprise"} <= megc


def test_frames_are_greyscale_jpegs_named_as_samms(tiny_all_dataset, tiny_all_params):
    for clip in plan_samm(tiny_all_params, seed=0).clips:
        folder = tiny_all_dataset / clip.folder
        assert re.fullmatch(r"SAMM/\d{3}/\d{3}_\d_\d+", clip.folder)
        names = sorted(p.name for p in folder.iterdir())
        assert names == [f"{clip.subject:03d}_{n:05d}.jpg"
                         for n in range(clip.onset, clip.offset + 1)]
    image = cv2.imread(str(folder / names[0]), cv2.IMREAD_UNCHANGED)
    assert image.shape == (194, 160)  # one channel: greyscale, as SAMM's camera


def test_sheet_has_notes_above_the_header_and_formula_durations(tiny_all_dataset,
                                                                tiny_all_params):
    plan = plan_samm(tiny_all_params, seed=0)
    formulas = openpyxl.load_workbook(tiny_all_dataset / SHEET).active
    values = openpyxl.load_workbook(tiny_all_dataset / SHEET, data_only=True).active
    rows = list(values.iter_rows(values_only=True))
    assert rows[HEADER_ROW - 1] == HEADER
    notes = [r[0] for r in rows[:HEADER_ROW - 1] if r[0] is not None]
    assert len(notes) >= 8 and any("Davison" in n for n in notes)
    for number, clip in enumerate(plan.clips, start=HEADER_ROW + 1):
        assert formulas[f"G{number}"].value == f"=F{number}-D{number}+1"
        assert values[f"G{number}"].value == clip.frames  # the cached value Excel would save
    subjects = [r[0] for r in rows[HEADER_ROW:]]
    assert any(isinstance(s, int) for s in subjects)
    assert any(isinstance(s, str) and re.fullmatch(r"\d{3}", s) for s in subjects)


def test_read_table_gets_the_duration_numbers(tiny_all_dataset, tiny_all_params):
    table = read_table(tiny_all_dataset / SHEET, {"clip": ("Filename",),
                                                  "duration": ("Duration",)})
    assert table.header_row == HEADER_ROW
    durations = [row.values["duration"] for row in table.rows]
    assert durations == [c.frames for c in plan_samm(tiny_all_params, seed=0).clips]
    assert all(isinstance(d, int) for d in durations)


def test_au_cells_are_written_in_samms_styles(default_plan):
    cells = [str(c.au_cell) for c in default_plan.clips]
    assert any(re.search(r"(^|\+)A\d+", c) for c in cells)  # asymmetric: A14
    assert any(re.search(r"\d[A-E](\+|$)", c) for c in cells)  # intensity: R14A, 12B
    assert any(re.fullmatch(r"L(\d+) or R\1", part) for c in cells for part in c.split("+"))
    assert any(re.fullmatch(r"\d+(\+\d+)+", c) for c in cells)  # 4+7
    assert any(isinstance(c.au_cell, int) for c in default_plan.clips)
    for clip in default_plan.clips:  # the cell codes the true AUs
        coded = {int(re.search(r"\d+", code).group()) for code in
                 normalise_aus(clip.au_cell)[0].split("+")}
        assert coded == {e.au for e in clip.aus}


def test_au_cell_spellings():
    assert intensity_letter(0.0) == "A" and intensity_letter(1.3) == "E"

    class Always:  # an RNG whose every draw is 0: every optional spelling is used
        def uniform(self):
            return 0.0

    assert au_cell((AuEvent(12, 0.5),), Always()) == "12B"
    assert au_cell((AuEvent(4, 0.5), AuEvent(14, 0.9, "R")), Always()) == "4B+L14 or R14"


def test_default_plan_has_samms_size_classes_and_ids(default_plan):
    assert len(default_plan.subjects) == 32 and len(default_plan.clips) == 159
    assert Counter(c.emotion for c in default_plan.clips) == Counter(SAMM_CLASS_COUNTS)
    assert [s.number for s in default_plan.subjects] == list(SAMM_SUBJECT_IDS)
    assert min(Counter(c.subject for c in default_plan.clips).values()) >= 2
    frames = sorted(c.frames for c in default_plan.clips)
    assert 55 <= frames[len(frames) // 2] <= 85 and frames[-1] <= 101
    assert all(c.onset < c.apex < c.offset for c in default_plan.clips)
    assert len({c.name for c in default_plan.clips}) == 159


def test_contempt_is_one_sided_and_classes_overlap(default_plan):
    contempt = [c for c in default_plan.clips if c.emotion == "Contempt"]
    assert all(e.side for c in contempt for e in c.aus if e.au in (12, 14))
    anger = {c.au_string for c in default_plan.clips if c.emotion == "Anger"}
    other = {c.au_string for c in default_plan.clips if c.emotion == "Other"}
    assert anger & other  # plain AU4 or AU7 in both, as in SAMM
    happy = [c for c in default_plan.clips if c.emotion == "Happiness"]
    assert sum(any(e.au == 12 for e in c.aus) for c in happy) / len(happy) > 0.8


@pytest.mark.parametrize(("subjects", "clips"), [(13, 128), (52, 510), (2, 4)])
def test_size_scales_with_casme2s_factors(subjects, clips):
    plan = plan_samm(SyntheticParams(subjects=subjects, clips=clips), seed=1)
    assert len(plan.subjects) == max(2, round(32 * subjects / 26))
    assert len(plan.clips) == max(round(159 * clips / 255), 2 * len(plan.subjects), 3)
    megc = {get_scheme("megc-3").label_of(normalise_emotion(c.emotion)) for c in plan.clips}
    assert {"negative", "positive", "surprise"} <= megc
    assert len({s.number for s in plan.subjects}) == len(plan.subjects)


def test_class_counts_scale_and_keep_every_megc_class():
    assert class_counts(159) == SAMM_CLASS_COUNTS
    half = class_counts(80)
    assert sum(half.values()) == 80
    assert all(abs(half[e] - n * 80 / 159) < 1 for e, n in SAMM_CLASS_COUNTS.items())
    tiny = class_counts(4)
    assert sum(tiny.values()) == 4 and min(tiny["Anger"], tiny["Happiness"], tiny["Surprise"]) > 0


def test_ground_truth_has_the_true_aus_and_apex(tiny_all_dataset, tiny_all_params):
    plan = plan_samm(tiny_all_params, seed=0)
    truth = list(csv.DictReader((tiny_all_dataset / GROUND_TRUTH).open(encoding="utf-8")))
    assert len(truth) == len(plan.clips)
    for row, clip in zip(truth, plan.clips, strict=True):
        assert (row["subject"], row["clip"], row["emotion"]) == (f"{clip.subject:03d}",
                                                                 clip.name, clip.emotion)
        assert int(row["apex"]) == clip.apex and row["aus"] == clip.au_string
        assert row["sheet_aus"] == str(clip.au_cell)
        present = {int(k[2:]) for k, v in row.items() if k.startswith("AU") and float(v) > 0}
        assert present == {e.au for e in clip.aus}

"""Precomputed flow images: a CSV of subject, clip, label, path (+ dataset).

The images here are noise written with cv2.imwrite, so their channel order cannot be found
from the data: data.flow_channels is set to bgr (test_data_flow_channels.py tests auto).
"""

import csv
import json
import re
import shutil
from pathlib import Path

import cv2
import pytest
from data_builders import FLOW_ROWS, SIZE, make_flow_images, write_frame

from mer.config import DataParams
from mer.core.flow_image import FLOW_CHANNELS_BGR
from mer.data.build import build_manifest
from mer.data.cells import subject_key, subject_number
from mer.data.clips import PRECOMPUTED_FLOW
from mer.data.flow_image_corpus import check_flow_image, resolve_flow_channels, split_corpus
from mer.data.flow_image_corpus import read_flow_images as read_corpus
from mer.errors import DatasetError, MerError
from mer.labels import name_key


@pytest.fixture
def build():
    """The data tests' build(source, root, scheme, annotations), with flow_channels: bgr."""

    def _build(source: str, root: Path, scheme: str = "casme2-5",
               annotations: Path | None = None):
        data = DataParams(source=source, root=root, annotations=annotations,
                          flow_channels="bgr")
        return build_manifest(data, scheme)

    return _build


def test_manifest_of_flow_images(tmp_path, build):
    root = make_flow_images(tmp_path)
    manifest, report = build("flow-images", root, scheme="megc-3")
    assert len(manifest) == 4 and report["dataset"] == "flow-images"
    clip = manifest.set_index("clip_id").loc["casme2/casme2_1/EP02_01f"].to_dict()
    assert clip["subject"] == "casme2_1"  # three corpora: subjects qualified by corpus
    assert clip["flow_image"] == f"{root}/flow/casme2_1_EP02_01f.png"
    assert list(clip["frame_paths"]) == []
    assert (clip["onset"], clip["apex"], clip["offset"], clip["fps"]) == (-1, -1, -1, 0.0)
    assert list(clip["flags"]) == ["precomputed_flow", "flow_channels_bgr"]  # as set
    assert clip["label"] == "positive" and clip["source"] == f"{root}/labels.csv:2"
    assert report["subjects"] == 3  # smic 1 and casme2 1 are different people
    assert report["apex_to_estimate"]["count"] == 0


def test_a_flow_image_composite_reports_each_corpus(tmp_path, build):
    """A break-it session: the MEGC2019 composite as one flow-image list had no per-corpus
    counts in reports/data.json (the same composite from frames had them), so which corpus
    lost the rows labels.scheme drops was not said."""
    rows = [*FLOW_ROWS, ("2", "EP01_01", "happiness", "casme2"), ("1", "s1_ne_01", "others",
                                                                 "smic")]
    root = make_flow_images(tmp_path, rows)
    _, report = build("flow-images", root, scheme="megc-3")
    corpora = report["corpora"]
    assert sorted(corpora) == ["casme2", "samm", "smic"]
    assert corpora["casme2"]["clips"] == 3 and corpora["casme2"]["subjects"] == 2
    assert corpora["casme2"]["clips_per_class"] == {"negative": 1, "positive": 2,
                                                    "surprise": 0}
    assert corpora["casme2"]["dropped"]["by_emotion"] == {}  # happiness is positive
    assert corpora["smic"]["dropped"]["by_emotion"] == {"others": 1}
    assert corpora["samm"]["clips_per_class"] == {"negative": 1, "positive": 0, "surprise": 0}
    assert sum(c["clips"] for c in corpora.values()) == report["clips"] == 5
    _, single = build("flow-images", make_flow_images(tmp_path / "one", FLOW_ROWS[:2]),
                      scheme="megc-3")
    assert "corpora" not in single


def test_single_corpus_csv_with_another_name(tmp_path, build):
    rows = [("1", "a", "negative", "x"), ("2", "b", "surprise", "x")]
    root = make_flow_images(tmp_path, rows, csv_name="megc.csv", with_dataset=False)
    manifest, _ = build("flow-images", root, scheme="megc-3")
    assert list(manifest["subject"]) == ["1", "2"]
    assert set(manifest["dataset"]) == {"flow-images"}
    # in any letter case (h64 F3: a list saved on Windows as MEGC.CSV was not found)
    root = make_flow_images(tmp_path / "upper", rows, csv_name="MEGC.CSV", with_dataset=False)
    manifest, _ = build("flow-images", root, scheme="megc-3")
    assert list(manifest["subject"]) == ["1", "2"]
    # and labels.csv, the list by name, too (h66: LABELS.CSV beside another CSV)
    root = make_flow_images(tmp_path / "named", rows, csv_name="LABELS.CSV", with_dataset=False)
    (root / "notes.csv").write_text("a note\n")
    manifest, _ = build("flow-images", root, scheme="megc-3")
    assert list(manifest["subject"]) == ["1", "2"]


def test_a_list_written_on_windows_finds_its_images(tmp_path, build):
    """The issue: paths written flow\\x.png were 'not found', one error per row."""
    root = make_flow_images(tmp_path)
    listed = (root / "labels.csv").read_text()
    (root / "labels.csv").write_text(listed.replace("flow/", "flow\\"))
    manifest, _ = build("flow-images", root, scheme="megc-3")
    assert set(manifest["flow_image"]) == {f"{root}/flow/{name}" for name in
                                           ("casme2_1_EP02_01f.png", "casme2_1_EP03_02.png",
                                            "smic_1_s1_sur_01.png", "samm_6_006_1_2.png")}


def test_numeric_label_is_an_error(tmp_path, build):
    rows = [*FLOW_ROWS[:2], ("1", "c", "2", "casme2")]
    root = make_flow_images(tmp_path, rows)
    with pytest.raises(DatasetError, match=r"labels.csv, row 4: column 'label' holds '2', a "
                                           r"class number; write the class's name instead"):
        build("flow-images", root, scheme="megc-3")


def test_the_composite_list_published_with_htnet_reads_with_a_path_column(tmp_path, build):
    """The issue: the field's MEGC2019 composite list (HTNet's combined_3_class2_for_optical_
    flow.csv: dataset, sub, filename_o, label, apex, imagename, sub_filename) was refused for
    lacking subject and clip. With a path to each flow image and class names it reads as is.
    As published, without a path, it is refused with what to add (a break-it session: "rename
    the column to the expected name" invited renaming imagename, the apex frame, to path)."""
    rows = [("sub01", "EP02_01f", "positive", "casme2"), ("s01", "s01_ne_01", "negative", "smic"),
            ("006", "006_1_2", "surprise", "samm")]
    lines = ["dataset,sub,filename_o,label,apex,imagename,sub_filename,path"]
    for index, (subject, clip, label, dataset) in enumerate(rows):
        write_frame(tmp_path / f"flow/{subject}_{clip} .png", seed=index)
        lines.append(f"{dataset},{subject},{clip},{label},,{subject}_{clip}.jpg,,"
                     f"flow/{subject}_{clip} .png")
    published = tmp_path / "combined_3_class2_for_optical_flow.csv"
    published.write_text("\n".join(line.rsplit(",", 1)[0] for line in lines) + "\n")
    with pytest.raises(DatasetError, match=r"lacks the column\(s\) 'path'; .* Add a column "
                                           r"'path' holding each clip's flow image, relative "
                                           r"to the list \(.*'imagename' is the clip's apex "
                                           r"frame, not its flow image\)$"):
        build("flow-images", tmp_path, scheme="megc-3")
    # with its class column named otherwise too, the advice for each (the re-check: the
    # generic one, "rename the column", stood for both)
    published.write_text(published.read_text().replace(",label,", ",emotion_class,", 1))
    with pytest.raises(DatasetError, match=r"lacks the column\(s\) 'label', 'path'; .* Rename "
                                           r"your column to 'label', or check this is the "
                                           r"right file. Add a column 'path' "
                                           r"holding each clip's flow image"):
        build("flow-images", tmp_path, scheme="megc-3")
    published.write_text("\n".join(lines) + "\n")
    manifest, _ = build("flow-images", tmp_path, scheme="megc-3")
    assert sorted(manifest["clip_id"]) == ["casme2/casme2_sub01/EP02_01f",
                                           "samm/samm_006/006_1_2", "smic/smic_s01/s01_ne_01"]
    flow_image = manifest.set_index("clip")["flow_image"]
    assert flow_image["006_1_2"] == f"{tmp_path}/flow/006_006_1_2 .png"


def test_missing_image(tmp_path, build):
    root = make_flow_images(tmp_path)
    (root / "flow/samm_6_006_1_2.png").unlink()
    with pytest.raises(DatasetError, match=r"labels.csv, row 5: flow image .*samm_6_006_1_2.png "
                                           r"not found"):
        build("flow-images", root, scheme="megc-3")


@pytest.mark.parametrize("case", ["letter case", "folder"])
def test_a_missing_image_says_what_is_there_instead(tmp_path, build, case):
    """A break-it session: a path written in another letter case (a list made on macOS or
    Windows, which open it) was "not found" with the file beside it; so was a folder."""
    root = make_flow_images(tmp_path)
    image = root / "flow/samm_6_006_1_2.png"
    if case == "folder":
        image.unlink()
        image.mkdir()
        expected = r"samm_6_006_1_2.png is a folder, not an image file"
    else:
        image.rename(image.with_name("SAMM_6_006_1_2.PNG"))
        expected = (r"samm_6_006_1_2.png not found, but .*flow/SAMM_6_006_1_2.PNG is there: "
                    r"names differ in letter case")
    with pytest.raises(DatasetError, match=r"labels.csv, row 5: flow image .*" + expected):
        build("flow-images", root, scheme="megc-3")


def test_one_channel_image(tmp_path, build):
    root = make_flow_images(tmp_path, channels=1)
    # The features stage's own reader checks it, so the two stages agree on what is valid.
    with pytest.raises(MerError, match=r"labels.csv, row 2.*3 channels"):
        build("flow-images", root, scheme="megc-3")


@pytest.mark.parametrize("mode", ["RGB", "LA", "RGB+dither"])
def test_a_grey_image_saved_in_colour_is_refused(tmp_path, build, mode):
    """Break-it sessions: a grey flow image was refused, but the same grey saved as RGB or
    with an alpha channel (LA) passed, read as u = v = strain; then a grey whose channels
    differ by +-1 (dither) passed."""
    import numpy as np
    from PIL import Image

    root = make_flow_images(tmp_path)
    image = root / "flow/casme2_1_EP03_02.png"
    grey = Image.open(image).convert("L")
    if mode == "RGB+dither":
        pixels = np.asarray(grey.convert("RGB")).astype(np.int16)
        noise = np.random.default_rng(0).integers(-1, 2, size=pixels.shape)
        noise[:, :, 0] = 0
        Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8)).save(image)
    else:
        grey.convert(mode).save(image)
    with pytest.raises(MerError, match=r"casme2_1_EP03_02.png \(.*labels.csv, row 3\): its 3 "
                                       r"channels are one and the same picture \(a grey image"):
        build("flow-images", root, scheme="megc-3")


def test_an_opaque_alpha_channel_is_dropped_a_real_one_refused(tmp_path):
    """The issue: matplotlib's imsave writes RGBA, and such flow images were refused for
    having 4 channels; an alpha that is opaque everywhere carries nothing."""
    import cv2
    import numpy as np

    from mer.core.flow_image import read_flow_image

    colour = np.random.default_rng(0).integers(0, 256, (28, 28, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "rgb.png"), colour)
    alpha = np.full((28, 28, 1), 255, dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "rgba.png"), np.concatenate([colour, alpha], axis=2))
    np.testing.assert_array_equal(read_flow_image(tmp_path / "rgba.png", "row 2", "rgb"),
                                  read_flow_image(tmp_path / "rgb.png", "row 2", "rgb"))
    alpha[0, 0] = 0
    cv2.imwrite(str(tmp_path / "clear.png"), np.concatenate([colour, alpha], axis=2))
    with pytest.raises(MerError, match=r"clear.png \(row 2\): a flow image needs 3 channels "
                                       r".*this one has 4 with an alpha channel that is not "
                                       "opaque"):
        read_flow_image(tmp_path / "clear.png", "row 2", "rgb")


def test_no_csv(tmp_path, build):
    with pytest.raises(DatasetError, match=r"no CSV or workbook and no labels.csv; set "
                                           r"data.annotations to the list"):
        build("flow-images", tmp_path, scheme="megc-3")


def test_a_list_saved_as_the_roots_only_workbook_is_read(tmp_path, build):
    """The issue: a root holding labels.xlsx and no CSV said 'no CSV and no labels.csv; set
    data.annotations', though the workbook read fine once named there."""
    import openpyxl

    root = make_flow_images(tmp_path)
    book = openpyxl.Workbook()
    with (root / "labels.csv").open(newline="") as handle:
        for row in csv.reader(handle):
            book.active.append(row)
    book.save(root / "labels.xlsx")
    (root / "labels.csv").unlink()
    # The re-check: Excel's lock file of the open workbook, and macOS's ._ file of a copied
    # one, each counted as a second list.
    (root / "~$labels.xlsx").write_bytes(b"owner")
    (root / "._labels.csv").write_bytes(b"\x00\x05\x16\x07")
    manifest, _ = build("flow-images", root, scheme="megc-3")
    assert len(manifest) == len(FLOW_ROWS)
    book.save(root / "other.xlsx")
    with pytest.raises(DatasetError, match=r"2 workbooks \(labels.xlsx, other.xlsx\) and no "
                                           "labels.csv"):
        build("flow-images", root, scheme="megc-3")


def test_duplicate_clip_in_csv(tmp_path, build):
    root = make_flow_images(tmp_path, [*FLOW_ROWS, FLOW_ROWS[0]])
    with pytest.raises(DatasetError, match=r"labels.csv, row 6: flow image of clip "
                                           r"casme2_1/EP02_01f is listed twice .*labels.csv, "
                                           r"row 2\); delete one row"):
        build("flow-images", root, scheme="megc-3")


def test_one_image_under_two_names_is_an_error(tmp_path, build):
    """The issue: a merged list gave one image two subject and clip names: it was accepted,
    and LOSO trained and tested on the same sample."""
    root = make_flow_images(tmp_path)
    with (root / "labels.csv").open("a", newline="") as handle:
        csv.writer(handle).writerow(["5", "EP09_01", "positive", "flow/casme2_1_EP02_01f.png",
                                     "casme2"])
    with pytest.raises(DatasetError, match=r"labels.csv, row 6: flow image of clip "
                                           r"casme2_5/EP09_01 is listed twice \(also as "
                                           r"casme2_1/EP02_01f at .*labels.csv, row 2\)"):
        build("flow-images", root, scheme="megc-3")


@pytest.mark.parametrize("how", ["copy", "symlink"])
def test_one_image_under_another_path_is_an_error(tmp_path, build, how):
    """The issue: duplicates were found by path, so a byte-identical copy of an image (or the
    image through a symlink) listed as another subject's clip passed, and LOSO trained and
    tested on one sample."""
    import shutil

    root = make_flow_images(tmp_path)
    source = root / "flow/casme2_1_EP02_01f.png"
    (root / "more").mkdir()
    if how == "copy":
        shutil.copy(source, root / "more/x.png")
    else:
        (root / "more/x.png").symlink_to(source)
    with (root / "labels.csv").open("a", newline="") as handle:
        csv.writer(handle).writerow(["5", "EP09_01", "positive", "more/x.png", "casme2"])
    with pytest.raises(DatasetError, match=r"labels.csv, row 6: flow image .*more/x.png of clip "
                                           r"casme2_5/EP09_01 is byte for byte .*flow/"
                                           r"casme2_1_EP02_01f.png \(listed as casme2_1/EP02_01f "
                                           r"at .*labels.csv, row 2\): one image is one sample"):
        build("flow-images", root, scheme="megc-3")


@pytest.mark.parametrize("written", [r"C:\data\flow\x.png", "D:/flow/x.png",
                                     r"\\server\share\x.png"])
def test_a_windows_absolute_path_says_so(tmp_path, build, written):
    """The issue: a list written on Windows with absolute paths read as 'not found' under the
    CSV's folder, with no hint that the path is another machine's."""
    root = make_flow_images(tmp_path)
    with (root / "labels.csv").open("a", newline="") as handle:
        csv.writer(handle).writerow(["5", "EP09_01", "positive", written, "casme2"])
    with pytest.raises(DatasetError, match=r"labels.csv, row 6: column 'path' holds "
                                           rf"{re.escape(repr(written))}, a path on a Windows "
                                           r"machine, .* write each path relative to the CSV's "
                                           "folder"):
        build("flow-images", root, scheme="megc-3")


def test_images_under_data_root_that_the_list_leaves_out_are_warned_about(tmp_path, build,
                                                                           caplog):
    """A break-it session: a list missing its last rows read the rest without a word, and
    a whole LOSO subject vanished (a list beside STSTNet's tree was warned about already)."""
    root = make_flow_images(tmp_path)
    with caplog.at_level("WARNING", logger="mer.data"):
        build("flow-images", root, scheme="megc-3")
    assert "does not list" not in caplog.text
    lines = (root / "labels.csv").read_text().splitlines()
    (root / "labels.csv").write_text("\n".join(lines[:-1]) + "\n")
    (root / ".cache").mkdir()
    write_frame(root / ".cache/thumb.png", seed=9)  # hidden folders are not the corpus's
    # nor another corpus's frames beside the listed images' folder (a re-check round: raw
    # CASME II frames kept beside the flow export were counted as 2483 unlisted images)
    write_frame(root / "frames/sub01/img1.jpg", seed=3)
    caplog.clear()
    with caplog.at_level("WARNING", logger="mer.data"):
        manifest, _ = build("flow-images", root, scheme="megc-3")
    assert len(manifest) == 3
    assert (f"labels.csv is read as the list of flow images: 1 image(s) beside the listed "
            f"ones (under {root}/flow) that it does not list are not read ({root}/flow/"
            "samm_6_006_1_2.png). Add a row for each clip to read") in caplog.text
    assert "frames/sub01" not in caplog.text


@pytest.mark.parametrize("written", ["absolute", "dotdot"])
def test_flow_images_listed_outside_data_root_are_warned_about(tmp_path, build, caplog,
                                                                written):
    """A break-it session: a list naming images outside data.root (which DVC tracks) by
    absolute or ../ paths was read without a word, so a replaced image would leave
    `dvc repro`'s results stale."""
    images = make_flow_images(tmp_path / "elsewhere")
    root = tmp_path / "corpus"
    root.mkdir()
    text = (images / "labels.csv").read_text()
    prefix = f"{images}/" if written == "absolute" else "../elsewhere/"
    (root / "labels.csv").write_text(text.replace("flow/", prefix + "flow/"))
    with caplog.at_level("WARNING", logger="mer.data"):
        manifest, _ = build("flow-images", root, scheme="megc-3")
    assert len(manifest) == 4
    assert (f"4 of the 4 flow images listed lie outside data.root ({root}; e.g. "
            f"{root}/labels.csv, row 2: ") in caplog.text
    assert "DVC does not notice when one is replaced" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="mer.data"):
        build("flow-images", images, scheme="megc-3")
    assert "outside data.root" not in caplog.text


def test_one_person_spelt_two_ways_is_one_loso_subject(tmp_path, build, caplog):
    """The issue: 'sub01' and '1' (SAMM: '006' and '6') of one corpus became two subjects,
    so that person's clips were trained on in one fold and tested in the other."""
    rows = [("sub01", "EP02_01f", "positive", "casme2"), ("1", "EP03_02", "negative", "casme2"),
            ("006", "006_1_2", "negative", "samm"), ("6", "006_2_1", "surprise", "samm"),
            ("Sub01", "EP04_01", "surprise", "casme2"), ("1.0", "s1_sur_01", "surprise", "smic"),
            ("1", "s1_ne_01", "negative", "smic")]
    root = make_flow_images(tmp_path, rows)
    with caplog.at_level("WARNING", logger="mer.data"):
        manifest, report = build("flow-images", root, scheme="megc-3")
    assert sorted(set(manifest["subject"])) == ["casme2_sub01", "samm_006", "smic_1"]
    assert report["subjects"] == 3
    assert "column 'subject' writes subject 'sub01' (" in caplog.text
    assert "also as '1', 'Sub01' (2 rows, e.g. " in caplog.text
    assert "writes subject '006' (" in caplog.text and "also as '6' (1 row," in caplog.text
    # h37 N11: the person as the manifest names them, not without their corpus ('006')
    assert "read as one person, 'samm_006', one LOSO subject" in caplog.text


def test_a_subject_written_with_its_corpus_name_is_that_corpus_person(tmp_path, build,
                                                                      caplog):
    """Break-it sessions: in a composite list, a person written with the corpus's name before
    the id (as mer namespaces it: 'casme2_01', 'SMIC_s1', 'CASME II-sub01') in some rows and
    without it in others became two LOSO subjects, each tested on a model trained on the
    other's clips; only '1' beside 'casme2_1' merged, without a word, and which spelling came
    first decided whether 'casme2_2' joined 'sub02'."""
    rows = [("1", "a", "negative", "casme2"), ("casme2_01", "b", "positive", "casme2"),
            ("sub01", "c", "surprise", "casme2"), ("casme2_2", "d", "negative", "CASME II"),
            ("sub02", "e", "positive", "casme2"), ("2", "f", "surprise", "casme2"),
            ("6", "g", "negative", "samm"), ("samm_006", "h", "positive", "samm"),
            ("SMIC_s1", "i", "negative", "SMIC-HS"), ("s01", "j", "positive", "smic"),
            ("SMIC_HS_s1", "k", "surprise", "smic"), ("CASME II-sub01", "l", "negative",
                                                      "casme2"),
            ("casme2.1", "m", "negative", "casme2"), ("CASME2 sub01", "n", "positive",
                                                     "casme2"),
            ("SAMM 006", "o", "surprise", "samm"), ("casme2_casme2_2", "p", "positive",
                                                    "casme2"),
            ("\uff23\uff21\uff33\uff2d\uff25\uff12\uff3f\uff53\uff55\uff42\uff10\uff12", "q",
             "surprise", "casme2")]
    with caplog.at_level("WARNING", logger="mer.data"):
        manifest, report = build("flow-images", make_flow_images(tmp_path, rows),
                                 scheme="megc-3")
    subjects = manifest.set_index("clip")["subject"]
    assert sorted(set(subjects)) == ["casme2_1", "casme2_2", "samm_6", "smic_s1"]
    assert report["subjects"] == 4
    assert list(subjects[list("abclmn")]) == ["casme2_1"] * 6
    assert list(subjects[list("defpq")]) == ["casme2_2"] * 5
    assert list(subjects[list("gho")]) == ["samm_6"] * 3
    assert list(subjects[list("ijk")]) == ["smic_s1"] * 3
    assert ("writes subject 'casme2_2' (" in caplog.text
            and "also as 'sub02', '2', 'casme2_casme2_2', " in caplog.text
            and "read as one person, 'casme2_2', one LOSO subject" in caplog.text)
    assert "writes subject 'SMIC_s1' (" in caplog.text and "'s01', 'SMIC_HS_s1'" in caplog.text
    # full-width digits and letters are the id they stand for
    assert subject_key("\uff53\uff55\uff42\uff10\uff11") == subject_key("sub01") == 1
    # as a list written on Windows may join them
    assert split_corpus("CASME2\\sub01", "casme2") == ("casme2", "sub01")


def test_a_subject_naming_another_corpus_than_its_row_is_refused(tmp_path, build):
    """The re-check: 'casme2_1' in a samm row became a samm person, silently (a dataset cell
    gone wrong when two lists were merged: one person in two LOSO subjects)."""
    rows = [("1", "a", "negative", "casme2"), ("casme2_1", "b", "positive", "samm")]
    with pytest.raises(DatasetError, match=r"labels.csv, row 3: column 'subject' writes "
                                           r"subject 'casme2_1', which names the corpus "
                                           r"casme2, but the row's dataset is samm"):
        build("flow-images", make_flow_images(tmp_path, rows), scheme="megc-3")


def test_a_subject_id_with_a_slash_is_refused(tmp_path, build):
    """A break-it session: ids written 'CASME2/sub01', 'CASME2/sub02' made each corpus one LOSO
    subject ('CASME2'), as a clip id is dataset/subject/clip."""
    rows = [("CASME2/sub01", "a", "negative", "casme2"), ("CASME2/sub02", "b", "positive",
                                                         "casme2")]
    with pytest.raises(DatasetError, match=r"labels.csv, row 2: column 'subject' holds "
                                           r"'CASME2/sub01', with a '/': a subject id is one "
                                           r"name .*its corpus in a 'dataset' column"):
        build("flow-images", make_flow_images(tmp_path, rows), scheme="megc-3")


@pytest.mark.parametrize(("subject", "dataset", "manifest", "person"), [
    ("_1", "casme2", "casme2__1", "1"), ("\uff3f1", "casme2", "casme2_\uff3f1", "1"),
    ("-sub02", "casme2", "casme2_-sub02", "sub02"), ("HS_s1", "smic", "smic_HS_s1", "s1")])
def test_a_subject_id_the_manifest_would_write_as_another_is_refused(tmp_path, build, subject,
                                                                     dataset, manifest, person):
    """Break-it sessions (h37 N9, h40 F1, F2): CASME II's '_1' became subject 'casme2__1',
    while the row written 'casme2__1' became person '1' (casme2_1); so did a full-width '＿1',
    and SMIC's 'HS_s1' ('smic_HS_s1' reads as SMIC-HS's 's1'). An id whose manifest name
    reads back as another id is refused, naming the row."""
    from unicodedata import normalize

    name = normalize("NFKC", manifest)[:-len(person)]  # what reads as the corpus's name
    rows = [("1", "a", "negative", "casme2"), (subject, "b", "positive", dataset),
            ("2", "c", "surprise", "casme2"), ("s2", "d", "negative", "smic")]
    with pytest.raises(DatasetError, match=rf"labels.csv, row 3: column 'subject' writes "
                                           rf"subject '{re.escape(subject)}', which the "
                                           rf"manifest would write '{re.escape(manifest)}', "
                                           rf"and mer reads that as {dataset}'s person "
                                           rf"'{person}' \('{re.escape(name)}"
                                           r"' as the corpus's name\), .*if this is that "
                                           rf"person, write '{person}'"):
        build("flow-images", make_flow_images(tmp_path, rows), scheme="megc-3")


@pytest.mark.parametrize(("subject", "with_dataset"), [
    ("casme2_", True), ("casme2\uff3f", True), ("SMIC", True), ("samm", False),
    ("CASME II", False), ("SMIC-VIS", True), ("SAMM-LV", True), ("CAS(ME)^3", True),
    ("MEGC 2019", True), ("Sam M.", False)])
def test_a_subject_id_that_is_a_corpus_name_is_refused(tmp_path, build, subject,
                                                       with_dataset):
    """Break-it sessions (h37 N9, h45 G1): 'casme2_', a corpus's name alone, was kept as a
    person, and so were the field's corpora's usual spellings ('CASME II', 'SMIC-VIS', SMIC's
    person 'VIS'). Without a dataset column, the advice names the corpus the id spells; with
    one, the row's own numbering (h41 F4a, h45 G4a)."""
    rows = [("1", "a", "negative", "casme2"), (subject, "b", "positive", "casme2"),
            ("2", "c", "surprise", "casme2")]
    corpus = {"samm": "samm", "CASME II": "casme2", "Sam M.": "samm"}.get(subject)
    advice = (r"as the list writes the corpus's other people" if with_dataset
              else rf"\('01', or '{corpus}_01' with the corpus's name\)")
    with pytest.raises(DatasetError, match=rf"labels.csv, row 3: column 'subject' writes "
                                           rf"subject '{re.escape(subject)}', whose letters and "
                                           rf"digits spell {name_key(subject)}, a corpus's name, "
                                           rf"and no person's id: write the person's id "
                                           rf"{advice}"):
        build("flow-images", make_flow_images(tmp_path, rows, with_dataset=with_dataset),
              scheme="megc-3")


@pytest.mark.parametrize("subject", ["-", "N/A", "nan", "?"])
def test_a_subject_id_marking_no_value_is_refused(tmp_path, build, subject):
    """Break-it sessions (h40 F4, h41 F4e): '-', 'nan', marks for no value, were read as
    people, and 'N/A' was told it held a '/'."""
    rows = [("1", "a", "negative", "samm"), (subject, "b", "positive", "samm"),
            ("2", "c", "surprise", "samm")]
    with pytest.raises(DatasetError, match=rf"labels.csv, row 3: column 'subject' holds "
                                           rf"'{re.escape(subject)}', which marks no value "
                                           r"\(or holds no letter or digit\), so no person's "
                                           r"id; fill in the subject or delete the row"):
        build("flow-images", make_flow_images(tmp_path, rows), scheme="megc-3")


def test_ids_that_read_back_as_themselves_load(tmp_path, build):
    """Break-it sessions (h40 F3, F6, h41 F1, F2): a first fix refused initials ending in a
    dot ('J.S.') and an id equal to its row's unknown corpus ('1' of corpus '1');
    CAS(ME)^3's 'CASME3_spNO.1' beside 'spNO.1' (a corpus mer does not know, named in the
    dataset column) was refused as one number in two corpora's conventions. In a list of one
    corpus, which the manifest writes as is, SMIC's 'HS_s1' is kept."""
    rows = [("J.S.", "a", "negative", "samm"), ("J.S.", "b", "positive", "samm"),
            ("sub01_", "c", "surprise", "casme2"), ("sub02", "d", "negative", "casme2"),
            ("spNO.1", "e", "negative", "casme3"), ("CASME3_spNO.1", "f", "positive",
                                                    "casme3"),
            ("spNO.2", "g", "surprise", "casme3"), ("Sam Ma", "h", "negative", "samm"),
            ("1", "i", "positive", "1"), ("2", "j", "surprise", "1")]
    manifest, _ = build("flow-images", make_flow_images(tmp_path / "several", rows),
                        scheme="megc-3")
    subjects = manifest.set_index("clip")["subject"]
    assert list(subjects[list("abcdefghij")]) == [
        "samm_J.S.", "samm_J.S.", "casme2_sub01_", "casme2_sub02", "casme3_spNO.1",
        "casme3_spNO.1", "casme3_spNO.2", "samm_Sam Ma", "1_1", "1_2"]
    rows = [("HS_s1", "a", "negative", "smic"), ("HS_s2", "b", "positive", "smic"),
            ("HS_s1", "c", "surprise", "smic")]
    manifest, _ = build("flow-images", make_flow_images(tmp_path / "one", rows),
                        scheme="megc-3")
    assert sorted(manifest["subject"]) == ["HS_s1", "HS_s1", "HS_s2"]


def test_a_full_width_id_is_the_same_convention(tmp_path, build, caplog):
    """A break-it session (h40 F6): without a dataset column, full-width 'ｓｕｂ０１' beside
    'sub01' was refused as one number in two corpora's conventions; it is one person."""
    rows = [("sub01", "a", "negative", "x"), ("\uff53\uff55\uff42\uff10\uff11", "b",
                                              "positive", "x"),
            ("sub02", "c", "surprise", "x")]
    with caplog.at_level("WARNING", logger="mer.data"):
        manifest, _ = build("flow-images", make_flow_images(tmp_path, rows, with_dataset=False),
                            scheme="megc-3")
    assert sorted(set(manifest["subject"])) == ["sub01", "sub02"]
    assert "read as one person, 'sub01', one LOSO subject" in caplog.text


def test_one_person_written_with_other_separators_is_one_loso_subject(tmp_path, build,
                                                                     caplog):
    """Break-it sessions (h41 F5, h42 F4, h43 N4): CASME II's person 1 written 'sub01',
    'sub_01', 'sub 01', 'sub-01', 'Subject 1', 'sub01.', with a word processor's en dash
    ('CASME II\u2013sub01'), its no-break hyphen or a minus sign became eleven LOSO subjects
    without a word, each tested on a model trained on the others; so did CAS(ME)^3's
    'spNO.01' and 'spNO.1', SMIC-VIS's 'VIS_s1' and 'VIS s1', MMEW's 'mmew_1' and 'MMEW1' (and
    SAMM's 'SAMM006' beside 'samm_006'), and 'mmew_1' and 'mmew_01' in a list without a
    dataset column (h37 N9). Ids that differ in more than case, separators and leading zeros
    stay apart (h43 N2: joining letters across separators made 'Li_Na' and 'Lin_A' one)."""
    casme2 = ["sub01", "sub_01", "sub 01", "sub-01", "Subject 1", "subj01", "sub\u201301",
              "sub\u221201", "sub01.", "CASME II\u2013sub01", "CASME\u2011II\u2011sub01",
              "CASME II \u2212 sub01"]
    rows = [(subject, f"c{index}", "negative", "casme2") for index, subject in enumerate(casme2)]
    rows += [("spNO.01", "d", "positive", "casme3"), ("spNO.1", "e", "surprise", "casme3"),
             ("CASME3_spNO.1", "f", "negative", "casme3"), ("spNO1", "g", "negative", "casme3"),
             ("006", "h", "positive", "samm"), ("samm_006", "i", "positive", "samm"),
             ("SAMM006", "j", "positive", "samm"), ("VIS_s1", "k", "positive", "smic"),
             ("VIS s1", "l", "negative", "smic"), ("VIS-s01", "m", "negative", "smic"),
             ("mmew_1", "n", "negative", "mmew"), ("MMEW1", "o", "positive", "mmew"),
             ("Li_Na", "p", "positive", "casme3"), ("Lin_A", "q", "positive", "casme3")]
    with caplog.at_level("WARNING", logger="mer.data"):
        manifest, report = build("flow-images", make_flow_images(tmp_path / "several", rows),
                                 scheme="megc-3")
    subjects = manifest.set_index("clip")["subject"]
    assert report["subjects"] == 7
    assert set(subjects[[f"c{index}" for index in range(len(casme2))]]) == {"casme2_sub01"}
    assert set(subjects[list("defg")]) == {"casme3_spNO.01"}
    assert set(subjects[list("hij")]) == {"samm_006"}
    assert set(subjects[list("klm")]) == {"smic_VIS_s1"}
    assert set(subjects[list("no")]) == {"mmew_1"}
    assert list(subjects[list("pq")]) == ["casme3_Li_Na", "casme3_Lin_A"]
    spellings = ", ".join(repr(s) for s in casme2[1:])
    assert f"also as {spellings} (11 rows, e.g. " in caplog.text
    assert ("read as one person, 'casme3_spNO.01', one LOSO subject (in one corpus, ids that "
            "differ only in case, separators, leading zeros, the corpus's name before them or "
            "the word sub, s or subject before a number)") in caplog.text
    rows = [("mmew_1", "a", "negative", "x"), ("mmew_01", "b", "positive", "x"),
            ("mmew_2", "c", "surprise", "x")]
    manifest, _ = build("flow-images", make_flow_images(tmp_path / "mmew", rows,
                                                        with_dataset=False), scheme="megc-3")
    assert sorted(manifest["subject"]) == ["mmew_1", "mmew_1", "mmew_2"]
    # a corpus's sheets read the same spellings as the person's number
    assert [subject_number(s, "subject", "row 2") for s in casme2[:9]] == [1] * 9
    assert subject_number("s1.0", "subject", "row 2") == 1
    # different numbers or letters stay different people
    for apart in (("sub1_2", "sub12", "sub1", "1_2"), ("Li_Na", "Lin_A", "LiNa_1", "Li_Na1"),
                  ("1.1", "1.01", "1_10"), ("01_1", "1_01"), ("JS_1", "J_S1"),
                  ("sp.NO.1", "spNO.1"), ("1,1", "1,01"), ("A+1", "A+01")):
        assert len({subject_key(s) for s in apart}) == len(apart), apart


@pytest.mark.parametrize("folder", ["Subject 006", "Sub 006", "S_006", "sub_06"])
def test_a_tree_folder_in_no_corpus_s_numbering_is_refused(tmp_path, build, folder):
    """A break-it session (h42 F1, h43 N1): a tree's SAMM folder 'Subject 006' (SAMM's
    sheet heads its id column so), 'Sub 006' or 'S_006' was read as CASME II's or SMIC's
    numbering and merged with sub06 or s6: two corpora's people in one LOSO subject. Only
    the composite's own numberings tell a folder's corpus."""
    root = ststnet_tree(tmp_path / "input")
    (root / "006").rename(root / folder)
    with pytest.raises(DatasetError, match=rf"subject folder '{folder}' is in none of the "
                                           r"MEGC2019 composite's conventions"):
        build("flow-images", root, scheme="megc-3")


def test_an_id_in_no_corpus_s_numbering_is_not_taken_for_one(tmp_path, build):
    """Break-it sessions (h42 F1-F3, h43 N1, N3, N5, h44 F1, F2, F4b): without a dataset
    column, 'Subject 006' or 'Sub 006' beside CASME II's 'sub06' was merged with it; the
    refusal names the way each id is written, and a dash is shown as written. 'CASME2' or
    'casme3' in a row of CASME I is a corpus's name, not that corpus's person 2 or 3;
    'SAMM1' in a CASME II row is that row's person (initials, say), not SAMM's."""
    for index, (other, shown) in enumerate([("Subject 006", "'subject'"),
                                            ("Sub 006", "'sub' and a separator")]):
        rows = [("sub06", "a", "negative", "x"), (other, "b", "positive", "x"),
                ("s1", "c", "surprise", "x")]
        root = make_flow_images(tmp_path / f"nods{index}", rows, with_dataset=False)
        with pytest.raises(DatasetError, match=rf"row 3: column 'subject' writes subject "
                                               rf"'{other}' \({shown} before the number, no "
                                               r"corpus's own numbering\), and .*row 2 'sub06' "
                                               r"\(CASME II's numbering\): one number written "
                                               r"two ways"):
            build("flow-images", root, scheme="megc-3")
    rows = [("006", "a", "negative", "samm"), ("Subject 006", "b", "positive", "samm"),
            ("sub01", "c", "surprise", "casme2"), ("\u20131", "d", "positive", "casme2")]
    with pytest.raises(DatasetError, match="which the manifest would write 'casme2_\u20131', "
                                           "and mer reads that as casme2's person '1' "
                                           "\\('casme2_\u2013' as the corpus's name\\)"):
        build("flow-images", make_flow_images(tmp_path / "dash", rows), scheme="megc-3")
    rows = [*rows[:3], ("SAMM1", "e", "positive", "casme2")]
    manifest, _ = build("flow-images", make_flow_images(tmp_path / "samm", rows),
                        scheme="megc-3")
    assert sorted(manifest["subject"]) == ["casme2_SAMM1", "casme2_sub01", "samm_006",
                                           "samm_006"]
    for index, name in enumerate(["CASME2", "casme3", "MMEW", "CASME I", "CASME1"]):
        rows = [(name, "a", "negative", "casme"), ("2", "b", "positive", "casme")]
        with pytest.raises(DatasetError, match=rf"writes subject '{name}', whose letters and "
                                               r"digits spell .*, a corpus's name, and no "
                                               r"person's id"):
            build("flow-images", make_flow_images(tmp_path / f"casme1{index}", rows),
                  scheme="megc-3")
    # h45 G2: 'CASME31' may be CAS(ME)^3's person 1: not CASME I's person 31
    rows = [("CASME31", "a", "negative", "casme"), ("31", "b", "positive", "casme")]
    manifest, _ = build("flow-images", make_flow_images(tmp_path / "casme31", rows),
                        scheme="megc-3")
    assert sorted(manifest["subject"]) == ["31", "CASME31"]
    # h44 F2: 'Subject' with a separator or not is one convention, no corpus's; F4b: an id
    # with the row's corpus's name before it is described so
    rows = [("Subject 1", "a", "negative", "casme3"), ("Subject1", "b", "positive", "casme3"),
            ("subj01", "c", "positive", "casme3")]
    manifest, _ = build("flow-images", make_flow_images(tmp_path / "subject", rows),
                        scheme="megc-3")
    assert list(manifest["subject"]) == ["Subject 1"] * 3
    rows = [("mmew_1", "a", "negative", "mmew"), ("S01", "b", "positive", "mmew")]
    with pytest.raises(DatasetError, match=r"writes subject 'S01' \(SMIC's numbering\), and "
                                           r".*row 2 'mmew_1' \(mmew's name, then a bare "
                                           r"number, SAMM's numbering\)"):
        build("flow-images", make_flow_images(tmp_path / "mmew", rows), scheme="megc-3")


def test_a_corpus_column_names_each_rows_corpus(tmp_path, build):
    """A break-it session: a column headed 'corpus' was not read, so every row was one corpus
    and megc-3 kept CASME II's fear as negative, which its CASME II mapping drops."""
    rows = [("sub01", "a", "fear", "CASME II"), ("sub01", "b", "negative", "CASME II"),
            ("006", "c", "positive", "SAMM")]
    root = make_flow_images(tmp_path, rows)
    csv_path = root / "labels.csv"
    csv_path.write_text(csv_path.read_text().replace(",dataset", ",corpus", 1))
    manifest, report = build("flow-images", root, scheme="megc-3")
    assert sorted(manifest["subject"]) == ["casme2_sub01", "samm_006"]
    assert report["corpora"]["casme2"]["dropped"]["by_emotion"] == {"fear": 1}


def with_column(root: Path, header: str, values: list[str]) -> Path:
    """``root``'s labels.csv with one more column, ``header``, holding ``values`` by row."""
    csv_path = root / "labels.csv"
    lines = csv_path.read_text().splitlines()
    csv_path.write_text("\n".join(f"{line},{cell}" for line, cell
                                  in zip(lines, [header, *values], strict=True)) + "\n")
    return root


def test_a_list_with_several_corpus_columns_reads_the_one_that_names_the_corpora(
        tmp_path, build, caplog):
    """A break-it session: a list with both a 'dataset' and a 'corpus' column was refused,
    though both named each row's corpus, or 'corpus' named the collection ('MEGC2019
    composite') in every row. Columns that agree are read as one; columns naming no corpus
    mer knows are passed over, with a line saying so, and the column left is read as if
    alone (its unknown corpus warned about, its empty cell refused); a row two columns name
    different corpora for is refused, naming the two cells that differ (the re-check: it named
    two that agreed), and so is a look-alike name ('CAS(ME)^2') beside 'CASME II' (the
    re-check: it was passed over as no corpus)."""
    rows = [("sub01", "a", "fear", "CASME II"), ("sub01", "b", "negative", "casme2"),
            ("006", "c", "positive", "SAMM")]

    def project(name: str, dataset: list[str] | None = None, **columns: list[str]) -> Path:
        written = rows if dataset is None else [(*r[:3], d) for r, d in zip(rows, dataset,
                                                                              strict=True)]
        root = make_flow_images(tmp_path / name, written)
        for header, values in columns.items():
            with_column(root, header, values)
        return root

    collection = ["MEGC2019 composite"] * 3
    for root in (project("agree", Corpus=["CASME2", "CASME II", "samm"]),
                 project("three", database=["casme2", "CASME 2", "samm"], corpus=collection)):
        with caplog.at_level("INFO", logger="mer.data"):
            manifest, report = build("flow-images", root, scheme="megc-3")
        assert sorted(manifest["subject"]) == ["casme2_sub01", "samm_006"]
        assert report["corpora"]["casme2"]["dropped"]["by_emotion"] == {"fear": 1}
    assert caplog.text.count("mer reads each row's corpus from column") == 1
    assert ("reads each row's corpus from column 'dataset'; column 'corpus' names no corpus "
            "mer knows (e.g. 'MEGC2019 composite')") in caplog.text

    caplog.clear()
    with caplog.at_level("WARNING", logger="mer.data"):
        manifest, _ = build("flow-images", project("mmew", ["CASME II", "casme2", "MMEW"],
                                                   corpus=collection), scheme="megc-3")
    assert sorted(manifest["subject"]) == ["casme2_sub01", "mmew_006"]
    assert "names the corpus 'MMEW'" in caplog.text and "which mer does not know" in caplog.text
    with pytest.raises(DatasetError, match=r"row 4: column 'dataset' is empty while other "
                                           r"rows name their corpus"):
        build("flow-images", project("gap", ["CASME II", "casme2", ""], corpus=collection),
              scheme="megc-3")
    for name, dataset, columns, clash in (
            ("disagree", None, {"database": ["casme2", "SMIC-HS", "SAMM"]},
             r"row 3: column 'dataset' names the corpus 'casme2' and column 'database' "
             r"'SMIC-HS'"),
            ("one-of-three", None, {"database": ["casme2", "casme2", "SAMM"],
                                    "corpus": ["CASME II", "casme2", "SMIC"]},
             r"row 4: column 'dataset' names the corpus 'SAMM' and column 'corpus' 'SMIC'"),
            ("look-alike", ["CAS(ME)^2", "casme2", "SAMM"],
             {"corpus": ["CASME II", "casme2", "SAMM"]},
             r"row 2: column 'dataset' names the corpus 'CAS\(ME\)\^2' and column 'corpus' "
             r"'CASME II'")):
        with pytest.raises(DatasetError, match=rf"labels.csv, {clash}; mer reads each row's "
                                               r"corpus from one column"):
            build("flow-images", project(name, dataset, **columns), scheme="megc-3")


def test_ids_naming_their_corpus_without_a_dataset_column(tmp_path, build, caplog):
    """Without a dataset column, ids that each name their corpus are that corpus's people
    ('casme2_1' and 'samm_1' two, 'casme2_1' and 'CASME2_01' one), with a warning that the
    scheme's per-corpus mapping is not applied (the re-check: CASME II's fear was kept
    silently); one beside a bare number is refused as two conventions are, naming the row
    of the number (the re-check: it named 'casme2_1' and 'samm_1')."""
    rows = [("casme2_1", "a", "negative", ""), ("samm_1", "b", "positive", ""),
            ("CASME2_01", "c", "surprise", "")]
    root = make_flow_images(tmp_path / "named", rows, with_dataset=False)
    with caplog.at_level("WARNING", logger="mer.data"):
        manifest, _ = build("flow-images", root, scheme="megc-3")
    assert sorted(manifest["subject"]) == ["casme2_1", "casme2_1", "samm_1"]
    assert "writes subject 'casme2_1' (" in caplog.text and "also as 'CASME2_01'" in caplog.text
    assert ("column 'subject' writes subjects with their corpus's name (e.g. 'casme2_1', "
            in caplog.text and "add a 'dataset' column" in caplog.text)
    rows = [("casme2_1", "a", "negative", ""), ("samm_1", "b", "positive", ""),
            ("sub01", "c", "positive", "")]
    root = make_flow_images(tmp_path / "mixed", rows, with_dataset=False)
    with pytest.raises(DatasetError, match=r"row 2: column 'subject' writes subject "
                                           r"'casme2_1' \(casme2's name before the id\), and "
                                           r".*row 4 'sub01' \(CASME II's numbering\), and "
                                           r".*row 3 'samm_1' \(samm's name before the id\): "
                                           r"one number written three ways \(the MEGC2019 "
                                           r"corpora number their people .*and mer writes a "
                                           r"corpus's name before the id\)"):
        build("flow-images", root, scheme="megc-3")
    # A break-it session (h49): with 'samm_1' left out of the error, writing the ids it named
    # one way was refused again; and 'write the person's id one way' would have merged
    # CASME II's and SAMM's person 1. Every other number spelt several ways is counted.
    rows = [("casme2_1", "a", "negative", ""), ("samm_1", "b", "positive", ""),
            ("sub1", "c", "positive", ""), ("s1", "d", "negative", ""), ("1", "e", "surprise", ""),
            ("sub2", "f", "positive", ""), ("s2", "g", "negative", "")]
    root = make_flow_images(tmp_path / "five", rows, with_dataset=False)
    with pytest.raises(DatasetError) as refused:
        build("flow-images", root, scheme="megc-3")
    message = str(refused.value)
    for row, subject in enumerate(["casme2_1", "samm_1", "sub1", "s1", "1"], start=2):
        assert f"row {row} '{subject}' (" in message or f"subject '{subject}' (" in message
    assert "one number written five ways" in message
    assert message.endswith(
        "Add a 'dataset' column naming each row's corpus (casme2, samm, smic), or write each "
        f"id with its corpus's name before it, as {root / 'labels.csv'}, row 2 does "
        f"('casme2_1'). The list writes 1 more number(s) several ways too (e.g. "
        f"{root / 'labels.csv'}, row 7 'sub2' and {root / 'labels.csv'}, row 8 's2').")
    # the advice is the list's: where an id of another number names its corpus, writing this
    # number's ids one way would be followed there too (h50)
    rows = [("sub1", "a", "negative", ""), ("s1", "b", "positive", ""),
            ("casme2_2", "c", "positive", ""), ("2", "d", "negative", ""),
            ("3", "e", "surprise", "")]
    root = make_flow_images(tmp_path / "other-named", rows, with_dataset=False)
    with pytest.raises(DatasetError, match=r"or write each id with its corpus's name before "
                                           r"it, as .*row 4 does \('casme2_2'\)\. The list "
                                           r"writes 1 more number"):
        build("flow-images", root, scheme="megc-3")
    # the others counted by the corpus whose rows write them (h50: "1 more number" was the
    # same number in another corpus's rows)
    rows = [("1", "a", "negative", "mmew"), ("s1", "b", "positive", "mmew"),
            ("1", "c", "negative", "casme3"), ("s1", "d", "positive", "casme3"),
            ("2", "e", "negative", "casme3"), ("sub2", "f", "positive", "casme3")]
    root = make_flow_images(tmp_path / "two-corpora", rows)
    with pytest.raises(DatasetError, match=r"The list writes 2 more number\(s\) several ways "
                                           r"too: 2 in rows of casme3 \(e\.g\. .*row 4 '1' and "
                                           r".*row 5 's1'\)\.$"):
        build("flow-images", root, scheme="megc-3")


def test_an_id_naming_any_field_corpus_without_a_dataset_column_is_that_corpus_s(
        tmp_path, build):
    """Without a dataset column, an id with any of the field's corpora's names before its
    number, glued or cut, is that corpus's person, as 'casme2_1' is CASME II's (a break-it
    session: 'mmew_1' beside '1', and 'SAMM006' beside '006', loaded as two LOSO subjects
    without a word, and 'SAMM006' and 'samm_006' as two people): beside a bare number it is
    refused as one number written two ways. So is it in the rows of a collection, as one cut
    from its number is (the re-check, h51)."""
    where = r"labels.csv, row"
    for name, rows, first in (
            ("mmew", [("mmew_1", "a", "negative", ""), ("1", "b", "positive", "")],
             r"'mmew_1' \(mmew's name before the id\), and .*row 3 '1' \(a bare number"),
            ("glued", [("SAMM006", "a", "negative", ""), ("006", "b", "positive", "")],
             r"'SAMM006' \(samm's name before the id\), and .*row 3 '006' \(a bare number"),
            # the re-check (h51): glued to the corpus's own numbering too
            ("numbering", [("SMICs1", "a", "negative", ""), ("s1", "b", "positive", "")],
             r"'SMICs1' \(smic's name before the id\), and .*row 3 's1' \(SMIC's numbering"),
            ("digit", [("CASME2sub01", "a", "negative", ""), ("sub01", "b", "positive", "")],
             r"'CASME2sub01' \(casme2's name before the id\), and .*row 3 'sub01' \(CASME "
             r"II's numbering"),
            # the re-check (h52): a name with a separator in it, glued
            ("parts", [("SMIC-HS1", "a", "negative", ""), ("1", "b", "positive", "")],
             r"'SMIC-HS1' \(smic's name before the id\), and .*row 3 '1' \(a bare number")):
        root = make_flow_images(tmp_path / name, rows, with_dataset=False)
        with pytest.raises(DatasetError, match=rf"{where} 2: column 'subject' writes subject "
                                               rf"{first}.*: one number written two ways.* or "
                                               r"write each id with its corpus's name before "
                                               rf"it, as .*{where} 2 does \({rows[0][0]!r}\)$"):
            build("flow-images", root, scheme="megc-3")
    rows = [("SAMM006", "a", "negative", ""), ("samm_006", "b", "positive", ""),
            ("MMEW1", "c", "surprise", ""), ("mmew_1", "d", "negative", "")]
    root = make_flow_images(tmp_path / "one-each", rows, with_dataset=False)
    manifest, _ = build("flow-images", root, scheme="megc-3")
    assert sorted(manifest["subject"]) == ["MMEW1", "MMEW1", "SAMM006", "SAMM006"]
    # 'SAMM-LV' glued is the name 'SAMMLV' is (h52); 'Sam M' is no corpus's name, as its
    # first part 'Sam' is none
    rows = [("SAMM-LV006", "a", "negative", ""), ("SAMMLV006", "b", "positive", ""),
            ("Sam M1", "c", "surprise", ""), ("1", "d", "negative", "")]
    root = make_flow_images(tmp_path / "parts", rows, with_dataset=False)
    manifest, _ = build("flow-images", root, scheme="megc-3")
    assert sorted(manifest["subject"]) == ["1", "SAMM-LV006", "SAMM-LV006", "Sam M1"]
    # with a dataset column, a row's own corpus glued to its numbering (h52: adding the
    # column, as the refusal above advises, split 'SMICs1' and 's1' into two people)
    rows = [("SMICs1", "a", "negative", "smic"), ("s1", "b", "positive", "smic"),
            ("CASME2sub01", "c", "surprise", "casme2"), ("sub01", "d", "negative", "casme2")]
    manifest, _ = build("flow-images", make_flow_images(tmp_path / "own", rows),
                        scheme="megc-3")
    assert sorted(manifest["subject"]) == ["casme2_sub01", "casme2_sub01", "smic_s1", "smic_s1"]
    # a corpus of any name, its own name glued to the id in its rows (h53: 'mydata1' and '1'
    # were two people once corpora's names were read glued); 'Sam M' in a SAMM row is SAMM
    rows = [("mydata1", "a", "negative", "mydata"), ("1", "b", "positive", "mydata"),
            ("Sam M2", "c", "surprise", "samm"), ("002", "d", "negative", "samm")]
    manifest, _ = build("flow-images", make_flow_images(tmp_path / "mydata", rows),
                        scheme="megc-3")
    assert sorted(manifest["subject"]) == ["mydata_1", "mydata_1", "samm_2", "samm_2"]
    # one corpus under its several names (h51): CASME I's person 5
    rows = [("casmei_5", "a", "negative", ""), ("casme1_5", "b", "positive", ""),
            ("CASME_05", "c", "surprise", "")]
    root = make_flow_images(tmp_path / "casme-i", rows, with_dataset=False)
    manifest, _ = build("flow-images", root, scheme="megc-3")
    assert list(manifest["subject"]) == ["casmei_5"] * 3
    # where two names could be glued, or the name is cut from the id, the id is as written:
    # 'casme21' may be CASME II's person 1 or CASME's 21; 'casme_31' is CASME I's 31
    rows = [("casme21", "a", "negative", ""), ("casme_31", "b", "positive", ""),
            ("1", "c", "surprise", "")]
    root = make_flow_images(tmp_path / "ambiguous", rows, with_dataset=False)
    manifest, _ = build("flow-images", root, scheme="megc-3")
    assert sorted(manifest["subject"]) == ["1", "casme21", "casme_31"]
    # a collection's name in every dataset cell (h51): as 'samm_006' is, 'SAMM006' is refused
    rows = [("SAMM006", "a", "negative", "MEGC2019"), ("006", "b", "positive", "MEGC2019")]
    root = make_flow_images(tmp_path / "collection", rows)
    with pytest.raises(DatasetError, match=rf"{where} 2: column 'subject' writes subject "
                                           r"'SAMM006', which names the corpus samm, but the "
                                           r"row's dataset is megc2019"):
        build("flow-images", root, scheme="megc-3")


def test_smics_parts_are_never_pooled_in_one_loso_run(tmp_path, build):
    """An audit session (h65): SMIC-VIS, SMIC-NIR and SMIC-E filmed SMIC-HS's people under
    numbers not documented to be theirs, yet a list of SMIC-HS and SMIC-VIS rows made
    smic_s1 and smicvis_s1 two LOSO subjects, with a warning about an unknown corpus only:
    one person could be trained on and tested. The data stage refuses it, naming the two."""
    for other in ("SMIC-VIS", "SMIC-NIR", "SMIC-E"):
        rows = [("s1", "a", "negative", "SMIC-HS"), ("s2", "b", "positive", "SMIC-HS"),
                ("s1", "c", "surprise", other), ("s3", "d", "negative", other)]
        with pytest.raises(DatasetError, match=r"data: the corpora smic and smic\w+ filmed the "
                                               r"same people .* under numbers not documented "
                                               r"to match.*keep them apart: under LOSO one "
                                               r"of them per run"):
            build("flow-images", make_flow_images(tmp_path / other, rows), scheme="megc-3")
    rows = [("s1", "a", "negative", "SMIC-VIS"), ("s1", "b", "positive", "SMIC-NIR"),
            ("s2", "c", "surprise", "SMIC-VIS"), ("s2", "d", "negative", "SMIC-NIR")]
    with pytest.raises(DatasetError, match=r"the corpora smicnir and smicvis filmed the same"):
        build("flow-images", make_flow_images(tmp_path / "vis-nir", rows), scheme="megc-3")
    # one part alone, or beside corpora of other people, is read as before
    rows = [("s1", "a", "negative", "SMIC-VIS"), ("s2", "b", "positive", "SMIC-VIS"),
            ("1", "c", "surprise", "casme2"), ("006", "d", "negative", "samm")]
    manifest, _ = build("flow-images", make_flow_images(tmp_path / "apart", rows),
                        scheme="megc-3")
    assert sorted(manifest["subject"]) == ["casme2_1", "samm_006", "smicvis_s1", "smicvis_s2"]


def test_corpora_that_filmed_the_same_people_share_their_subjects(tmp_path, build, caplog):
    """SAMM-LV's long videos are SAMM's people under SAMM's numbers (labels.PEOPLE_OF): an id
    naming SAMM-LV is SAMM's person, in SAMM's rows, in SAMM-LV's and without a dataset
    column (a break-it session, h53: in a row of SAMM, 'SAMM-LV006' was SAMM's person
    'LV006', two LOSO subjects beside '006'; and 'SAMMLV006' and 'SAMM006' were two)."""
    rows = [("006", "a", "negative", "samm"), ("SAMM-LV006", "b", "positive", "samm"),
            ("SAMM-LV_006", "c", "surprise", "samm"), ("SAMMLV006", "d", "negative", "samm"),
            ("007", "e", "positive", "samm")]
    manifest, _ = build("flow-images", make_flow_images(tmp_path / "samm", rows),
                        scheme="megc-3")
    assert list(manifest.sort_values("clip")["subject"]) == ["006"] * 4 + ["007"]
    rows = [("SAMMLV006", "a", "negative", ""), ("SAMM006", "b", "positive", ""),
            ("samm_lv_7", "c", "surprise", ""), ("SAMM_007", "d", "negative", "")]
    root = make_flow_images(tmp_path / "pooled", rows, with_dataset=False)
    manifest, _ = build("flow-images", root, scheme="megc-3")
    assert list(manifest.sort_values("clip")["subject"]) == ["SAMMLV006"] * 2 + ["samm_lv_7"] * 2
    # two corpora: SAMM-LV's people are namespaced as SAMM's, one LOSO subject each; its
    # rows may name SAMM, cut or glued, and keep their own dataset for per-corpus figures
    rows = [("006", "a", "negative", "samm"), ("006", "b", "positive", "SAMM-LV"),
            ("SAMM006", "c", "surprise", "SAMM-LV"), ("samm_7", "d", "negative", "SAMM-LV"),
            ("1", "e", "positive", "casme2")]
    manifest, _ = build("flow-images", make_flow_images(tmp_path / "two", rows),
                        scheme="megc-3")
    table = manifest.sort_values("clip")
    assert list(table["subject"]) == ["samm_006"] * 3 + ["samm_7", "casme2_1"]
    assert list(table["dataset"]) == ["samm", "sammlv", "sammlv", "sammlv", "casme2"]
    # the release's name is SAMM-LV's too, and a name written twice reads off (h55)
    rows = [("006", "a", "negative", "samm"), ("006", "b", "positive", "SAMM-LV (Long Videos)"),
            ("SAMM_SAMM-LV_007", "c", "surprise", "SAMM_LongVideos"),
            ("007", "d", "negative", "samm")]
    with caplog.at_level("WARNING", logger="mer.data"):
        manifest, _ = build("flow-images", make_flow_images(tmp_path / "release", rows),
                            scheme="megc-3")
    table = manifest.sort_values("clip")
    assert list(table["subject"]) == ["samm_006"] * 2 + ["samm_007"] * 2
    assert list(table["dataset"]) == ["samm", "sammlv", "sammlv", "samm"]
    assert "one LOSO subject (in samm and sammlv, which filmed the same people, ids" in \
        caplog.text
    # (h57: the warning called SAMM-LV a corpus mer "does not know")
    assert ("names the corpus 'SAMM-LV (Long Videos)', 'SAMM_LongVideos' (2 rows, e.g. row 3), "
            "whose people mer reads as samm's (one LOSO subject with samm's person of the same "
            "id) but whose labels it does not map") in caplog.text
    # a video's name as the subject would make one person a LOSO subject per video (h55)
    for subject, dataset in (("006_1", "SAMM-LV"), ("SAMM-LV006_2", "SAMM-LV"),
                             ("006-1", "samm"), ("006_1_2", "samm"), ("SAMM_006.1", "samm")):
        rows = [(subject, "a", "negative", dataset), ("006", "b", "positive", dataset)]
        with pytest.raises(DatasetError, match=rf"row 2: column 'subject' writes subject "
                                               rf"'{subject}', SAMM's name for a video or "
                                               r"clip of "
                                               r"person 006 .*write the person's id, '006'$"):
            build("flow-images", make_flow_images(tmp_path / subject, rows), scheme="megc-3")
    # SMIC's other parts are not known to be SMIC-HS's people: their ids stay as written
    rows = [("SMIC-VIS1", "a", "negative", "smic"), ("1", "b", "positive", "smic")]
    manifest, _ = build("flow-images", make_flow_images(tmp_path / "smic", rows),
                        scheme="megc-3")
    assert sorted(manifest["subject"]) == ["1", "VIS1"]


def test_one_number_in_two_corpora_conventions_without_a_dataset_column_is_refused(
        tmp_path, build, caplog):
    """A break-it session: a composite list without a dataset column merged CASME II's sub03
    and SMIC's s3 (SAMM's 013 and SMIC's s13) into one LOSO subject, with only a warning:
    those prefixes are the corpora's own conventions. One convention spelt two ways (case,
    zero padding) is still one person. The re-check of the h36 fixes: a column naming the
    collection ('MEGC2019') in every row merged them again; a corpus mer does not know is
    checked as none, and told to name the corpus in its cells, not to add the column it has
    (h41 F4f)."""
    rows = [("sub03", "EP02_01f", "positive", "casme2"), ("s3", "s3_po_01", "positive", "smic"),
            ("s3", "s3_ne_01", "negative", "smic")]
    for name, dataset, advice in (
            ("two", False, r"in a list without a dataset column .* Add a 'dataset' column"),
            ("collection", True, r"in rows of megc2019, a corpus mer does not know .* If they "
                                 r"are clips of several corpora, name each row's own corpus "
                                 r"in its dataset cell \(casme2, samm, smic\); if they are "
                                 r"one person, write the id one way$")):
        root = make_flow_images(tmp_path / name, [(*row[:3], "MEGC2019") for row in rows],
                                with_dataset=dataset)
        with pytest.raises(DatasetError, match=r"labels.csv, row 3: column 'subject' writes "
                                               r"subject 's3' \(SMIC's numbering\), and "
                                               r".*labels.csv, row 2 'sub03' \(CASME II's "
                                               r"numbering\): one number written two ways .*"
                                               + advice):
            build("flow-images", root, scheme="megc-3")
    rows = [("sub03", "EP02_01f", "positive", ""), ("Sub3", "EP03_02", "negative", ""),
            ("006", "006_1_2", "negative", ""), ("6", "006_2_1", "surprise", "")]
    root = make_flow_images(tmp_path / "one", rows, with_dataset=False)
    with caplog.at_level("WARNING", logger="mer.data"):
        manifest, _ = build("flow-images", root, scheme="megc-3")
    assert sorted(set(manifest["subject"])) == ["006", "sub03"]
    assert "also as 'Sub3'" in caplog.text and "also as '6'" in caplog.text


def test_one_number_written_two_ways_in_a_corpus_mer_does_not_know_gets_its_own_advice(
        tmp_path, build):
    """A break-it session (h46 H4): MMEW's rows 'S01' and 'MMEW1' were refused with only "If
    they are CASME II, SAMM or SMIC-HS clips, name that corpus", which cannot fit them. Rows
    of a collection ('MEGC2019') are still told to name their corpora first: writing CASME
    II's 'sub03' and SMIC's 's3' one way merges two people (h47 P4, the test above)."""
    rows = [("S01", "EP01", "positive", "MMEW"), ("MMEW1", "EP02", "negative", "MMEW"),
            ("S02", "EP03", "negative", "MMEW")]
    root = make_flow_images(tmp_path / "mmew", rows, with_dataset=True)
    with pytest.raises(DatasetError, match=r"row 3: column 'subject' writes subject 'MMEW1' .*"
                                           r"one number written two ways .* If they are one "
                                           r"person of mmew, write the id one way, as .*"
                                           r"labels\.csv, row 2 does \('S01'\); if some are "
                                           r"CASME II, SAMM or SMIC-HS clips, name each row's "
                                           r"own corpus in its dataset cell"):
        build("flow-images", root, scheme="megc-3")
    # the spelling suggested is the one more rows use, not the first row's (h47 P5)
    root = make_flow_images(tmp_path / "odd-first", [rows[1], rows[0], rows[2]],
                            with_dataset=True)
    with pytest.raises(DatasetError, match=r"write the id one way, as .*labels\.csv, row 3 "
                                           r"does \('S01'\)"):
        build("flow-images", root, scheme="megc-3")
    # of all the number's spellings, not the two the error names: with three, the advice
    # changed after the user followed it (h48 Q1)
    three = [("sub1", "a", "positive"), ("s1", "b", "negative"), ("1", "c", "negative"),
             ("2", "d", "positive"), ("3", "e", "negative"), ("4", "f", "surprise")]
    root = make_flow_images(tmp_path / "three", [(*r, "MMEW") for r in three],
                            with_dataset=True)
    with pytest.raises(DatasetError, match=r"write the id one way, as .*labels\.csv, row 4 "
                                           r"does \('1'\)") as refused:
        build("flow-images", root, scheme="megc-3")
    # and the error names every spelling, each by its first row (h47 P7: it named two, and
    # the third was refused once the user had mended those)
    assert ("labels.csv, row 3: column 'subject' writes subject 's1' (SMIC's numbering), "
            "and ") in str(refused.value)
    assert ("row 2 'sub1' (CASME II's numbering), and " in str(refused.value))
    assert ("row 4 '1' (a bare number, SAMM's numbering): one number written three ways "
            in str(refused.value))
    assert "may be several corpora's people or one person" in str(refused.value)
    # CAS(ME)^2, which a list writes 'CASME_SQ' (its name without punctuation is CASME II's),
    # is one corpus of its own people (h48 Q2)
    sq = [("s15", "a", "positive"), ("15", "b", "negative"), ("s16", "c", "negative")]
    root = make_flow_images(tmp_path / "sq", [(*r, "CASME_SQ") for r in sq], with_dataset=True)
    with pytest.raises(DatasetError, match=r"If they are one person of casmesq, write the id "
                                           r"one way, as .*row 2 does \('s15'\)"):
        build("flow-images", root, scheme="megc-3")


def test_flow_images_of_several_sizes_are_counted_and_warned_about(tmp_path, caplog):
    """The issue: half the images 28 x 28 and half 128 x 128 (two preprocessing pipelines'
    images in one list) passed every stage without a word, and no report said their sizes.
    Every image is counted by size (also when data.flow_channels is set, which measures only
    a sample), with a warning naming one of the rarer size."""
    root = make_flow_images(tmp_path)
    clips = [check_flow_image(c) for c in read_corpus(root).clips]
    odd = clips[-1].flow_image
    cv2.imwrite(odd, cv2.resize(cv2.imread(odd), (40, 28)))
    with caplog.at_level("WARNING", logger="mer.data"):
        _, report = resolve_flow_channels(clips, "bgr")
    assert report["sizes"] == {f"{SIZE}x{SIZE}": len(clips) - 1, "40x28": 1}
    assert (f"the flow images come in 2 sizes ({SIZE}x{SIZE} {len(clips) - 1}, 40x28 1; "
            f"e.g. {odd} is 40x28)") in caplog.text
    caplog.clear()
    cv2.imwrite(odd, cv2.resize(cv2.imread(odd), (SIZE, SIZE)))
    with caplog.at_level("WARNING", logger="mer.data"):
        assert resolve_flow_channels(clips, "bgr")[1]["sizes"] == {f"{SIZE}x{SIZE}": len(clips)}
    assert "sizes" not in caplog.text


@pytest.mark.parametrize(("width", "height", "warned"), [
    (8, 8, True), (40, 28, True), (28, 40, True), (28, 28, False), (64, 64, False)])
def test_tiny_or_not_square_flow_images_are_warned_about(tmp_path, caplog, width, height,
                                                         warned):
    """The re-check: a corpus of 8 x 8 images, or of images not square, was read without a
    word (each is scaled to the nets' square input); only mixed sizes were warned about."""
    root = make_flow_images(tmp_path)
    clips = [check_flow_image(c) for c in read_corpus(root).clips]
    for clip in clips:
        cv2.imwrite(clip.flow_image, cv2.resize(cv2.imread(clip.flow_image), (width, height)))
    with caplog.at_level("WARNING", logger="mer.data"):
        _, report = resolve_flow_channels(clips, "bgr")
    assert report["sizes"] == {f"{width}x{height}": len(clips)}
    message = (f"{len(clips)} of the {len(clips)} flow images are smaller than 28 pixels a "
               f"side or not square ({width}x{height}; {clips[0].flow_image}")
    assert (message in caplog.text) is warned
    assert "sizes" not in caplog.text


def test_jpeg_flow_images_are_warned_about(tmp_path, caplog):
    """The issue: JPEG flow images passed without a note, though JPEG's colour subsampling
    mixes the channels (u, v, strain) the nets read apart."""
    root = make_flow_images(tmp_path)
    png = sorted((root / "flow").glob("*.png"))[0]
    cv2.imwrite(str(png.with_suffix(".JPG")), cv2.imread(str(png)))
    png.unlink()
    labels = root / "labels.csv"
    labels.write_text(labels.read_text().replace(png.name, png.with_suffix(".JPG").name))
    clips = [check_flow_image(c) for c in read_corpus(root).clips]
    with caplog.at_level("WARNING", logger="mer.data"):
        resolve_flow_channels(clips, "bgr")
    assert (f"1 of the {len(clips)} flow images are JPEG (e.g. "
            f"{png.with_suffix('.JPG')}): its colour subsampling") in caplog.text


def test_a_list_edited_after_mer_data_is_refused_by_the_stages_after_it(tmp_path, monkeypatch,
                                                                        capsys):
    """The issue: a label corrected in labels.csv after `mer data` went unnoticed by `mer
    faces`, `mer features` and `mer train` run by hand (DVC reruns `mer data`): they went on
    with the old label, exit 0. The manifest records each annotation file's sha256."""
    from mer.cli import main

    make_flow_images(tmp_path / "flows")
    (tmp_path / "params.yaml").write_text(
        "data: {source: flow-images, root: flows, flow_channels: bgr}\n"
        "labels: {scheme: megc-3}\nfaces: {workers: 1}\nfeatures: {workers: 1}\n")
    monkeypatch.chdir(tmp_path)
    assert main(["data"]) == 0
    report = json.loads((tmp_path / "reports/data.json").read_text())
    csv_path = "flows/labels.csv"
    assert list(report["sheets"]) == [csv_path] and len(report["sheets"][csv_path]) == 64
    assert main(["faces"]) == 0
    labels = tmp_path / csv_path
    labels.write_text(labels.read_text().replace("negative", "surprise", 1))
    capsys.readouterr()
    assert main(["features"]) == 2
    assert (f"{csv_path} changed after `mer data` read it to make data/manifest.parquet: rerun "
            "`mer data` and `mer faces` first") in capsys.readouterr().err
    assert main(["data"]) == 0 and main(["faces"]) == 0 and main(["features"]) == 0


def test_a_flow_image_replaced_after_mer_data_is_refused_by_the_stages_after_it(
        tmp_path, monkeypatch, capsys):
    """The re-check: a flow image re-saved after `mer features` (in the other channel order,
    say) went unnoticed by `mer train` run by hand, which trained on the old image's
    features. The manifest records each flow image's sha256 with the sheets'."""
    from mer.cli import main

    make_flow_images(tmp_path / "flows")
    (tmp_path / "params.yaml").write_text(
        "data: {source: flow-images, root: flows, flow_channels: bgr}\n"
        "labels: {scheme: megc-3}\nfaces: {workers: 1}\nfeatures: {workers: 1}\n"
        "train: {models: [svm], parallel_folds: 1, svm: {trials: 2}}\n")
    monkeypatch.chdir(tmp_path)
    assert main(["data"]) == 0 and main(["faces"]) == 0 and main(["features"]) == 0
    image = sorted((tmp_path / "flows/flow").glob("*.png"))[0]
    cv2.imwrite(str(image), cv2.imread(str(image))[:, :, ::-1])
    capsys.readouterr()
    assert main(["train"]) == 2
    assert (f"flows/flow/{image.name} changed after `mer data` read it to make "
            "data/manifest.parquet: rerun `mer data`, `mer faces` and `mer features` "
            "first") in capsys.readouterr().err
    assert not (tmp_path / "reports/predictions.csv").exists()


def test_cv2_written_corpus_flagged_bgr_as_set(tmp_path):
    root = make_flow_images(tmp_path)
    clips = [check_flow_image(c) for c in read_corpus(root).clips]
    flagged, report = resolve_flow_channels(clips, "bgr")
    assert [c.flags for c in flagged] == [(PRECOMPUTED_FLOW, FLOW_CHANNELS_BGR)] * 4
    assert (report["setting"], report["order"]) == ("bgr", "bgr")
    assert report["evidence"]["images"] == 4  # a sample, measured only to warn


def test_noise_corpus_under_auto_asks_for_the_setting(tmp_path):
    root = make_flow_images(tmp_path)
    clips = [check_flow_image(c) for c in read_corpus(root).clips]
    with pytest.raises(DatasetError, match=r"labels.csv: data.flow_channels is auto .* "
                                           r"Set data.flow_channels in params.yaml to rgb"):
        resolve_flow_channels(clips, "auto")


def test_dataset_spellings_are_one_corpus_and_one_subject(tmp_path, build):
    """The issue: 'CASME2' and 'casme2' rows of one person made two LOSO subjects, and a CSV
    saying 'CASME II' could not be used for cross-corpus runs (which name casme2)."""
    rows = [("3", "a", "negative", "CASME2"), ("3", "b", "positive", "casme2"),
            ("3", "c", "surprise", "CASME II"), ("6", "d", "negative", "SAMM"),
            ("1", "e", "positive", "SMIC-HS")]
    manifest, report = build("flow-images", make_flow_images(tmp_path, rows), scheme="megc-3")
    assert sorted(set(manifest["subject"])) == ["casme2_3", "samm_6", "smic_1"]
    assert sorted(set(manifest["dataset"])) == ["casme2", "samm", "smic"]
    assert report["subjects"] == 3


def test_unknown_dataset_name_is_kept_and_warned_about(tmp_path, build, caplog):
    """The issue: 'CASME' took the general mapping silently (fear and sadness negative)."""
    rows = [("1", "a", "negative", "CASME"), ("1", "b", "fear", "casme"),
            ("2", "c", "positive", "casme2")]
    manifest, _ = build("flow-images", make_flow_images(tmp_path, rows), scheme="megc-3")
    assert sorted(set(manifest["subject"])) == ["casme2_2", "casme_1"]
    assert manifest.set_index("clip")["label"]["b"] == "negative"  # the general mapping
    assert "column 'dataset' names the corpus 'CASME', 'casme' (2 rows, e.g. row 2), which " \
           "mer does not know" in caplog.text
    assert "kept as dataset 'casme'" in caplog.text
    # a look-alike letter is shown as its code point (the re-check: 'SАMM', a Cyrillic A)
    rows = [("1", "a", "positive", "S\u0410MM"), ("2", "c", "negative", "casme2")]
    build("flow-images", make_flow_images(tmp_path / "cyrillic", rows), scheme="megc-3")
    assert "names the corpus 'S\u0410MM' (written 'S\\u0410MM') (1 rows" in caplog.text


def test_a_corpus_of_a_flow_image_csv_that_the_scheme_mostly_drops_is_warned_about(
        tmp_path, build, caplog):
    """The issue: a composite CSV whose SMIC-HS rows say happiness and disgust (emotions SMIC's
    megc-3 mapping does not have) lost 29 of its 39 SMIC rows with one INFO line, since the
    drop was counted over the whole CSV; SMIC then scored 1.000 on its one class left. Each
    corpus of the dataset column is counted on its own."""
    rows = [(str(s), f"c{s}", "negative", "casme2") for s in range(1, 6)]
    rows += [("1", "s1", "happiness", "SMIC-HS"), ("1", "s2", "disgust", "smic"),
             ("2", "s3", "surprise", "smic")]
    with caplog.at_level("WARNING", logger="mer.data"):
        manifest, _ = build("flow-images", make_flow_images(tmp_path, rows), scheme="megc-3")
    assert list(manifest["dataset"]).count("smic") == 1
    assert ("labels.scheme 'megc-3' drops 2 of the 3 clips of smic in flow-images "
            "(disgust 1, happiness 1)" in caplog.text)
    assert "clips of casme2" not in caplog.text


def test_rows_named_another_corpus_way_are_warned_about(tmp_path, build, caplog):
    """A break-it session: two SMIC-HS rows written 'happiness' (SMIC writes 'positive') were
    dropped with only a count, as other SMIC rows kept the class. CASME II's fear, which the
    composite leaves out on purpose, is no such row."""
    rows = [("s1", "a", "positive", "smic"), ("s1", "b", "happiness", "smic"),
            ("s2", "c", "happiness", "SMIC-HS"), ("s2", "d", "negative", "smic"),
            ("sub01", "e", "fear", "casme2"), ("sub01", "f", "happiness", "casme2"),
            ("sub02", "g", "surprise", "casme2")]
    with caplog.at_level("WARNING", logger="mer.data"):
        manifest, _ = build("flow-images", make_flow_images(tmp_path, rows), scheme="megc-3")
    assert sorted(manifest["clip"]) == ["a", "d", "f", "g"]
    assert ("flow-images: labels.scheme 'megc-3' drops 2 clip(s) of smic labelled happiness "
            "(e.g. ") in caplog.text
    assert ("its mapping for smic has no happiness (it maps negative, positive, "
            "surprise), though it maps happiness to positive for other corpora. If they are "
            "positive clips, write them positive") in caplog.text
    assert "labelled fear" not in caplog.text


def test_a_corpus_that_keeps_no_clip_of_a_class_the_others_keep_is_warned_about(
        tmp_path, build, caplog):
    """The re-check: SMIC-HS's positive clips written happiness (31 % of SMIC: under the
    mostly-dropped warning's half) vanished with an INFO line, and SMIC's per-corpus figures
    then scored two classes without a word."""
    rows = [("1", "c1", "positive", "casme2"), ("2", "c2", "negative", "casme2"),
            ("3", "c3", "surprise", "casme2"), ("1", "s1", "happiness", "smic"),
            ("2", "s2", "negative", "smic"), ("3", "s3", "surprise", "smic"),
            ("4", "s4", "negative", "smic")]
    with caplog.at_level("WARNING", logger="mer.data"):
        build("flow-images", make_flow_images(tmp_path, rows), scheme="megc-3")
    assert ("smic keeps no positive clip under labels.scheme 'megc-3', though the other "
            "corpora do (its clips the scheme drops: happiness 1): its per-corpus figures score "
            "negative, surprise only") in caplog.text
    assert "drops 1 of the 4" not in caplog.text and "casme2 keeps" not in caplog.text


@pytest.mark.parametrize(("cell", "name"), [
    ("CASME\u2013II", "casme2"), ("CASME\u00a0II", "casme2"), ("SMIC\u2010HS", "smic"),
    ("SMIC (HS)", "smic"), (" casme_2 ", "casme2"), ("SAMM", "samm")])
def test_a_corpus_name_may_be_spelt_with_any_space_or_dash(cell, name):
    """The re-check: once punctuation no longer matched, an en dash, a no-break space or a
    Unicode hyphen (a list edited in a word processor), or SMIC's '(HS)', was refused as
    'not a spelling of' the corpus it spells."""
    from mer.labels import dataset_name

    assert dataset_name(cell) == name


@pytest.mark.parametrize("cell", ["CAS(ME)^2", "CASME^2", "CAS(ME)2"])
def test_another_corpus_whose_letters_spell_a_known_one_is_refused(tmp_path, build, cell):
    """The issue: a dataset column saying CAS(ME)^2 (another corpus, other people) was read as
    CASME II, its letters and digits being 'casme2': its subjects merged with CASME II's of the
    same number and its figures pooled under casme2, without a word. A name that matches a
    known corpus only once its punctuation is dropped is refused, naming the row."""
    rows = [("1", "a", "negative", "casme2"), ("1", "b", "positive", cell)]
    with pytest.raises(DatasetError, match=re.escape(f"row 3: column 'dataset': {cell!r} is not "
                                                     "a spelling of casme2")):
        build("flow-images", make_flow_images(tmp_path, rows), scheme="megc-3")


@pytest.mark.parametrize(("cell", "message"), [
    ("", r"row 3: column 'dataset' is empty while other rows name their corpus"),
    ("--", r"row 3: column 'dataset': '--' is not a corpus name"),
])
def test_bad_dataset_cell_names_the_row(tmp_path, build, cell, message):
    rows = [FLOW_ROWS[0], (*FLOW_ROWS[1][:3], cell)]
    with pytest.raises(DatasetError, match=message):
        build("flow-images", make_flow_images(tmp_path, rows), scheme="megc-3")


def test_cross_corpus_folds_of_a_csv_that_spells_its_corpora_its_own_way(tmp_path, build):
    from mer.evaluation.splits import cross_corpus_folds, dataset_of

    rows = [("1", "a", "negative", "CASME II"), ("2", "b", "positive", "CASME II"),
            ("6", "c", "negative", "SAMM"), ("7", "d", "positive", "SAMM")]
    manifest, _ = build("flow-images", make_flow_images(tmp_path, rows), scheme="megc-3")
    folds = cross_corpus_folds(dataset_of(manifest["clip_id"].to_numpy()),
                               manifest["subject"].to_numpy(), ["casme2"], ["samm"])
    assert [len(folds[0].train), len(folds[0].test)] == [2, 2]


@pytest.mark.parametrize(("cell", "named"), [("SMIC-VIS", "SMIC-VIS"), ("casmesq", "casmesq"),
                                             ("SMIC VIS", "smicvis")])
def test_a_corpus_mer_does_not_know_can_be_a_cross_corpus_corpus(tmp_path, build, cell, named):
    """The re-check: a corpus the CSV keeps under a name mer does not know (SMIC-VIS, or
    CAS(ME)^2 written casmesq as the refusal advised) could not be named in
    evaluation.train_corpora / test_corpora, which took casme2, samm and smic only. They take
    any corpus in the spelling the dataset column may give it."""
    from mer.config import EvaluationParams
    from mer.evaluation.splits import cross_corpus_folds, dataset_of

    rows = [("1", "a", "negative", "CASME II"), ("2", "b", "positive", "CASME II"),
            ("6", "c", "negative", cell), ("7", "d", "positive", cell),
            ("8", "e", "surprise", cell)]
    manifest, _ = build("flow-images", make_flow_images(tmp_path, rows), scheme="megc-3")
    protocol = EvaluationParams(protocol="cross-corpus", train_corpora=["CASME II"],
                                test_corpora=[named])
    folds = cross_corpus_folds(dataset_of(manifest["clip_id"].to_numpy()),
                               manifest["subject"].to_numpy(), protocol.train_corpora,
                               protocol.test_corpora)
    assert [len(folds[0].train), len(folds[0].test)] == [2, 3]


@pytest.mark.parametrize(("named", "message"), [
    ("CAS(ME)^2", "'CAS(ME)^2' is not a spelling of casme2"), ("--", "'--' is not a corpus name")])
def test_cross_corpus_corpora_are_refused_as_the_dataset_column_refuses_them(named, message):
    """The same names as the dataset column, refused alike: 'CAS(ME)^2' is not CASME II."""
    from pydantic import ValidationError

    from mer.config import EvaluationParams

    with pytest.raises(ValidationError, match=re.escape(message)):
        EvaluationParams(protocol="cross-corpus", train_corpora=["casme2"], test_corpora=[named])


def test_names_differing_only_in_unicode_normalisation_are_one_file(tmp_path, build):
    """A break-it session: a list typed on Windows or Linux names 'données' composed (NFC); the
    folder, copied from a Mac, is decomposed (NFD). Both print alike, yet every row was 'not
    found'."""
    import unicodedata

    root = make_flow_images(tmp_path)
    composed, decomposed = (unicodedata.normalize(form, "données") for form in ("NFC", "NFD"))
    assert composed != decomposed
    (root / "flow").rename(root / decomposed)
    listed = (root / "labels.csv").read_text(encoding="utf-8")
    (root / "labels.csv").write_text(listed.replace("flow/", f"{composed}/"), encoding="utf-8")
    manifest, _ = build("flow-images", root, scheme="megc-3")
    assert len(manifest) == 4
    assert all(Path(p).is_file() and Path(p).parent.name == decomposed
               for p in manifest["flow_image"])
    # a name that matches nothing, in any normalisation, is still not found
    (root / "labels.csv").write_text(listed.replace("flow/", "donnees/"), encoding="utf-8")
    with pytest.raises(MerError, match=r"flow image .*donnees/casme2_1_EP02_01f\.png not found"):
        build("flow-images", root, scheme="megc-3")


def test_a_list_in_another_normalisation_lists_its_folder_once(tmp_path, monkeypatch):
    """A break-it session: every NFC name of a list was looked for by listing its NFD folder
    again, so 3000 images of one folder took 6.1 s to read against 1.4 s (quadratic)."""
    import unicodedata

    folder = tmp_path / unicodedata.normalize("NFD", "données")
    folder.mkdir()
    names = [f"clé_{i:03d}.png" for i in range(60)]
    rows = ["subject,clip,label,path,dataset"]
    for i, name in enumerate(names):
        (folder / unicodedata.normalize("NFD", name)).write_bytes(b"")
        rows.append(f"sub01,c{i},negative,{unicodedata.normalize('NFC', 'données/' + name)},"
                    "casme2")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    listed: list[Path] = []
    iterdir = Path.iterdir

    def counted(self: Path):
        listed.append(self)
        return iterdir(self)

    monkeypatch.setattr(Path, "iterdir", counted)
    corpus = read_corpus(tmp_path)
    assert all(Path(c.flow_image).is_file() for c in corpus.clips)
    assert listed.count(folder) == 1, f"{folder} listed {listed.count(folder)} times"


def ststnet_tree(root: Path) -> Path:
    """STSTNet's tree of a tiny composite: <subject>/u_test/<class number>/<clip>.png, with
    each other subject's images again under u_train (as its `input` folder has them)."""
    own = {"sub01": [("0", "EP02_01f"), ("1", "EP03_02")], "006": [("2", "006_1_2")],
           "s3": [("0", "s3_ne_01"), ("2", "s3_sur_01")]}
    for index, (subject, clips) in enumerate(own.items()):
        for seed, (number, clip) in enumerate(clips, start=10 * index):
            write_frame(root / subject / "u_test" / number / f"{clip}.png", seed=seed)
            for other in own:
                if other != subject:
                    write_frame(root / other / "u_train" / number / f"{clip}.png", seed=seed)
    return root


def test_ststnets_loso_tree_reads_without_a_list(tmp_path, build, caplog):
    """A break-it session: the field's own MEGC2019 tree (STSTNet's `input` folder) could not
    be read without writing a CSV, its dataset column and class names by hand."""
    root = ststnet_tree(tmp_path / "input")
    with caplog.at_level("INFO"):
        manifest, report = build("flow-images", root, scheme="megc-3")
    rows = manifest.set_index("clip_id")
    assert sorted(rows.index) == ["casme2/casme2_sub01/EP02_01f", "casme2/casme2_sub01/EP03_02",
                                  "samm/samm_006/006_1_2", "smic/smic_s3/s3_ne_01",
                                  "smic/smic_s3/s3_sur_01"]
    assert list(rows.loc[["casme2/casme2_sub01/EP02_01f", "casme2/casme2_sub01/EP03_02",
                          "samm/samm_006/006_1_2"], "label"]) == ["negative", "positive",
                                                                    "surprise"]
    assert rows.loc["smic/smic_s3/s3_sur_01", "flow_image"] == \
        f"{root}/s3/u_test/2/s3_sur_01.png"  # its own image, not another subject's u_train
    assert report["subjects"] == 3
    assert "read as STSTNet's LOSO tree, 5 images" in caplog.text
    # HTNet's names end in a space before .png ('sub01_EP02_01f .png'): not in the clip id
    ststnet_tree(tmp_path / "spaced")
    (tmp_path / "spaced" / "006" / "u_test" / "2" / "006_1_2.png").rename(
        tmp_path / "spaced" / "006" / "u_test" / "2" / "006_1_2 .png")
    assert "samm/samm_006/006_1_2" in set(build("flow-images", tmp_path / "spaced",
                                                scheme="megc-3")[0]["clip_id"])
    # the tree is named where a list would be, not its first image (a break-it session)
    assert report["flow_channels"]["csv"] == root.as_posix()
    assert f"{root}: data.flow_channels is bgr, but " in caplog.text
    # a list, when there is one, is what is read
    (root / "labels.csv").write_text("subject,clip,label,path\n"
                                     "sub01,EP02_01f,negative,sub01/u_test/0/EP02_01f.png\n"
                                     "006,006_1_2,surprise,006/u_test/2/006_1_2.png\n")
    with caplog.at_level("WARNING"):
        assert len(build("flow-images", root, scheme="megc-3")[0]) == 2
    # a break-it session: the tree's other images were left out without a word
    assert re.search(r"labels\.csv is read .* 3 images of the tree .* it does not list .*"
                     r"s3/u_test/0/s3_ne_01\.png", caplog.text), caplog.text


def test_a_loso_trees_summary_counts_its_dropped_images_as_clips(tmp_path, build, caplog):
    """A break-it session: a tree's images that labels.scheme drops were "5 rows dropped" in
    the build summary, and "rows of samm (the dataset column of flow-images)" in a warning,
    though a tree has no rows and no dataset column."""
    root = ststnet_tree(tmp_path / "input")
    for n in range(3):  # most of SAMM's images, which megc-3 drops
        write_frame(root / "006" / "u_test" / "others" / f"006_9_{n}.png", seed=90 + n)
    with caplog.at_level("INFO"):
        manifest, report = build("flow-images", root, scheme="megc-3")
    assert len(manifest) == 5 and report["dropped"]["by_emotion"] == {"others": 3}
    assert "5 clips of 3 subjects under megc-3; 3 clips dropped (0 by" in caplog.text
    # nor in the warnings: a tree has neither rows nor a dataset column (a break-it session)
    assert "drops 3 of the 4 clips of samm in flow-images (others 3)" in caplog.text
    assert "samm keeps no negative or positive clip" in caplog.text
    assert "its clips the scheme drops: others 3" in caplog.text
    assert not re.search(r"\brows?\b|row\(s\)|dataset column", caplog.text), caplog.text


def _nest(root: Path) -> None:
    (root / "sub01" / "u_test" / "0" / "more").mkdir()
    (root / "sub01" / "u_test" / "0" / "EP02_01f.png").rename(
        root / "sub01" / "u_test" / "0" / "more" / "EP02_01f.png")


@pytest.mark.parametrize(("change", "message"), [
    (lambda root: (root / "007").mkdir(), r"007: no u_test folder"),
    (lambda root: (root / "sub01" / "u_test" / "0").rename(root / "sub01" / "u_test" / "3"),
     r"class folder '3' is none of STSTNet's numbers .* rename it to its class, or move it"),
    (lambda root: (root / "sub01" / "u_test" / "empty").mkdir(),
     r"class folder 'empty' is none of STSTNet's numbers .* and no emotion mer knows"),
    (lambda root: (root / "006").rename(root / "p006"), r"subject folder 'p006' is in none"),
    # a break-it session: images nested deeper, or loose in u_test, were left out unsaid
    (_nest, r"more/EP02_01f\.png: an image in a folder inside class folder"),
    (lambda root: (root / "006" / "u_test" / "2" / "006_1_2.png").rename(
        root / "006" / "u_test" / "006_1_2.png"), r"006_1_2\.png: an image directly in .*u_test"),
    # a stray CSV (STSTNet's results log) beside the tree is read as the list: say why
    (lambda root: (root / "results.csv").write_text("epoch,acc\n1,0.5\n"),
     r"results\.csv: no header row .* also holds STSTNet's tree .* move results\.csv out"),
    # a break-it session: a copy in two class folders got advice for a list's rows
    (lambda root: shutil.copy(root / "sub01" / "u_test" / "0" / "EP02_01f.png",
                              root / "sub01" / "u_test" / "1" / "copy.png"),
     r"copy\.png: flow image of clip casme2_sub01/copy is byte for byte .*EP02_01f\.png "
     r"\(clip casme2_sub01/EP02_01f\): .*; delete the wrong copy, or"),
], ids=["no-u_test", "class-3", "class-name", "subject-id", "nested", "loose", "stray-csv",
        "copy"])
def test_a_loso_tree_it_cannot_read_is_named(tmp_path, build, change, message):
    root = ststnet_tree(tmp_path / "input")
    change(root)
    with pytest.raises(DatasetError, match=message):
        build("flow-images", root, scheme="megc-3")


def test_a_loso_tree_reads_one_person_spelt_two_ways_as_one_subject(tmp_path, build, caplog):
    """A break-it session: the tree's folders s3 and s03 were two LOSO subjects without a
    word, where a list naming them so reads one person, with a warning. A Mac archive's
    __MACOSX folder is no subject."""
    root = ststnet_tree(tmp_path / "input")
    write_frame(root / "s03" / "u_test" / "1" / "s3_po_01.png", seed=99)
    (root / "__MACOSX" / "s3").mkdir(parents=True)
    manifest, report = build("flow-images", root, scheme="megc-3")
    assert sorted(set(manifest["subject"])) == ["casme2_sub01", "samm_006", "smic_s03"]
    assert report["subjects"] == 3
    # h37 N11: a tree's clips are images, not rows; the person is named as in the manifest
    assert ("STSTNet's tree writes subject 's03'" in caplog.text
            and "also as 's3' (2 images, e.g. " in caplog.text
            and "read as one person, 'smic_s03', one LOSO subject" in caplog.text)


def test_a_subject_id_in_two_unicode_normalisations_is_one_person(tmp_path, build, caplog):
    """A break-it session: 'Zoë' typed composed in some rows and decomposed in others was two
    LOSO subjects, printed alike, each tested on a model trained on the other's clips."""
    import unicodedata

    rows = [(unicodedata.normalize(form, "Zoë"), clip, label, "x") for form, clip, label in
            (("NFC", "a", "negative"), ("NFD", "b", "positive"), ("NFC", "c", "surprise"))]
    rows.append(("Ana", "d", "negative", "x"))
    root = make_flow_images(tmp_path, rows, with_dataset=False)
    manifest, report = build("flow-images", root, scheme="megc-3")
    assert report["subjects"] == 2
    assert set(manifest["subject"]) == {unicodedata.normalize("NFC", "Zoë"), "Ana"}
    # The re-check: "'Zoë' also as 'Zoë'": the two forms are told apart by their code points.
    assert ("also as 'Zoe\u0308' (the same letters in another Unicode form: 'Zoe\\u0308', "
            "first written 'Zo\\xeb') (1 row,") in caplog.text


def test_a_loso_tree_changed_after_mer_data_is_refused_by_the_stages_after_it(tmp_path,
                                                                               monkeypatch,
                                                                               capsys):
    """A break-it session: an image added to the tree, or moved to another class folder,
    after `mer data` went unnoticed by `mer faces` and `mer features` run by hand (an edited
    list is refused), or was refused with advice for a list row."""
    from mer.cli import main

    ststnet_tree(tmp_path / "flow")
    (tmp_path / "params.yaml").write_text(
        "data: {source: flow-images, root: flow, flow_channels: bgr}\nlabels: {scheme: megc-3}\n")
    monkeypatch.chdir(tmp_path)
    assert main(["data"]) == 0
    write_frame(tmp_path / "flow" / "sub01" / "u_test" / "2" / "EP09_01.png", seed=77)
    capsys.readouterr()
    assert main(["faces"]) == 2
    assert "flow: its files changed (one added, moved or removed) after `mer data` read it" \
        in capsys.readouterr().err
    (tmp_path / "flow" / "sub01" / "u_test" / "2" / "EP09_01.png").unlink()
    assert main(["faces"]) == 0  # the listing as `mer data` read it
    (tmp_path / "flow" / "sub01" / "u_test" / "2").mkdir(exist_ok=True)
    (tmp_path / "flow" / "sub01" / "u_test" / "1" / "EP03_02.png").rename(
        tmp_path / "flow" / "sub01" / "u_test" / "2" / "EP03_02.png")
    assert main(["features"]) == 2

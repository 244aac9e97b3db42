"""Label schemes on one corpus: what each keeps, maps and drops (and counts)."""

import pytest
from data_builders import make_casme2

from mer.labels import get_scheme


@pytest.mark.parametrize(("scheme", "labels", "dropped"), [
    ("casme2-5", {"EP02_01f": "happiness", "EP03_02": "disgust", "EP01_11f": "repression",
                  "EP05_03": "surprise", "EP07_01": "others"}, {"fear": 1}),
    # MEGC2019's CASME II mapping drops fear; the disgust clip with apex '/' is excluded
    # (tests/data/test_data_megc.py)
    ("megc-3", {"EP02_01f": "positive", "EP01_11f": "negative", "EP05_03": "surprise"},
     {"fear": 1, "others": 1}),
    ("seed-4", {"EP02_01f": "happiness", "EP03_02": "disgust", "EP01_11f": "repression",
                "EP05_03": "surprise"}, {"fear": 1, "others": 1}),
])
def test_schemes_map_and_drop(tmp_path, build, scheme, labels, dropped):
    manifest, report = build("casme2", make_casme2(tmp_path), scheme=scheme)
    assert dict(zip(manifest["clip"], manifest["label"], strict=True)) == labels
    classes = get_scheme(scheme).classes
    assert list(manifest["label_index"]) == [classes.index(x) for x in manifest["label"]]
    assert report["dropped"]["by_emotion"] == dropped
    excluded = len(report["dropped"]["excluded"])
    assert report["dropped"]["rows"] == sum(dropped.values()) + excluded
    assert list(report["clips_per_class"]) == list(classes)
    assert sum(report["clips_per_class"].values()) == len(manifest)


def test_dropped_rows_are_not_checked_on_disk(tmp_path, build):
    root = make_casme2(tmp_path)
    (root / "Cropped/sub03/EP08_02/reg_img6.jpg").unlink()  # the fear clip casme2-5 drops
    manifest, _ = build("casme2", root, scheme="casme2-5")
    assert "EP08_02" not in set(manifest["clip"])

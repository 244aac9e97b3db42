"""Damaged frames inside a clip: every stage that reads a frame refuses it, naming the file.

Real files, real OpenCV, dlib and the real stages: a small embedded dataset (2 subjects, 4
clips, CASME II format) is generated once by `mer synthesize` and checked by `mer data`, then
each test damages one frame of a copy of it the way frames get damaged on disk:

- truncated: a JPEG cut short (an interrupted copy); cv2.imread decodes it to a whole image,
  its missing part grey, with a warning on stderr and no error;
- other size: a whole, valid JPEG of another size (a frame of another clip or camera);
- empty: a 0-byte file;
- not an image: an HTML error page saved under the frame's .jpg name;

at the onset, in the middle (a frame no stage looked at before: not the onset, apex, middle
or offset) and at the apex. The paths: `mer data` (stop, or skip and list), the faces and
features stages reading frames damaged after `mer data` ran, `mer predict --clip`, and the
served model's request decoding.
"""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import yaml

from mer.cli import main
from mer.core.manifest import read_manifest, write_manifest
from mer.errors import MerError

pytestmark = pytest.mark.faults

KINDS = ("truncated", "other_size", "empty", "not_image")
POSITIONS = ("onset", "middle", "apex")
PARAMS = {"data": {"synthetic": {"subjects": 2, "clips": 4, "workers": 1}},
          "faces": {"workers": 1}, "features": {"workers": 1}}


def damage(path: Path, kind: str) -> None:
    """Damage one frame file on disk the way ``kind`` says."""
    data = path.read_bytes()
    if kind == "truncated":
        path.write_bytes(data[:len(data) * 6 // 10])
    elif kind == "other_size":
        image = cv2.imread(str(path))
        assert cv2.imwrite(str(path), cv2.resize(image, (image.shape[1] + 16,
                                                         image.shape[0] + 8)))
    elif kind == "empty":
        path.write_bytes(b"")
    else:
        path.write_bytes(b"<html><body>404 Not Found</body></html>\n")


def problem(kind: str) -> str:
    """The words the error message must hold for ``kind``."""
    return {"truncated": "is truncated", "other_size": "frames differ in size",
            "empty": "is an empty file", "not_image": "does not decode as an image"}[kind]


def names_the_frame(message: str, kind: str, frame: Path | str) -> bool:
    """The message blames ``frame`` itself (for another size: as the odd one out)."""
    name = frame.name if isinstance(frame, Path) else frame
    said = {"truncated": "is truncated", "other_size": "is ", "empty": "is an empty file",
            "not_image": "does not decode as an image"}[kind]
    return problem(kind) in message and f"{name} {said}" in message


def mer(*argv: str) -> int:
    return main(list(argv))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """A checked embedded dataset: data/synthetic and data/manifest.parquet, params.yaml."""
    root = tmp_path_factory.mktemp("corpus")
    (root / "params.yaml").write_text(yaml.safe_dump(PARAMS))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        assert mer("synthesize") == 0 and mer("data") == 0
    return root


@pytest.fixture
def project(corpus, tmp_path, monkeypatch) -> Path:
    """A fresh copy of the corpus as the current folder (manifest included)."""
    shutil.copytree(corpus / "data", tmp_path / "data")
    shutil.copy(corpus / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def clip_with_apex(project: Path) -> dict:
    """The manifest row of the first clip whose sheet gives an apex, its frame paths made
    absolute (the manifest's are relative to the project folder)."""
    manifest = read_manifest(project / "data" / "manifest.parquet")
    rows = manifest[manifest["apex"] >= 0].to_dict("records")
    assert rows, "the synthetic dataset has a clip with an apex"
    return {**rows[0], "frame_paths": [str(project / p) for p in rows[0]["frame_paths"]]}


def frame_at(row: dict, position: str) -> Path:
    """The frame file of ``row`` at ``position``: onset, apex, or a middle one read only by
    the features stage (not the onset, apex, clip middle or offset)."""
    paths = [Path(p) for p in row["frame_paths"]]
    apex = int(row["apex"]) - int(row["onset"])
    if position == "onset":
        return paths[0]
    if position == "apex":
        return paths[apex]
    looked_at = {0, apex, len(paths) // 2, len(paths) - 1}
    return paths[next(i for i in range(1, len(paths)) if i not in looked_at)]


def sheet_row(row: dict) -> str:
    """'row N' of the coding sheet: the manifest's source column holds 'file:N'."""
    return f"row {str(row['source']).rsplit(':', 1)[1]}"


def set_params(project: Path, section: str, **values) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    params[section] = {**params.get(section, {}), **values}
    (project / "params.yaml").write_text(yaml.safe_dump(params))


def test_cv2_imread_hides_a_truncated_jpeg_the_reader_refuses_it(corpus, tmp_path):
    # The measurement behind the reader: imread gives a whole-size image for a JPEG cut at 60%.
    from mer.core.frames import FrameError, read_frame

    source = Path(clip_with_apex(corpus)["frame_paths"][0])
    frame = tmp_path / source.name
    frame.write_bytes(source.read_bytes())
    damage(frame, "truncated")
    image = cv2.imread(str(frame))
    assert image is not None and image.shape == cv2.imread(str(source)).shape
    with pytest.raises(FrameError, match="is truncated"):
        read_frame(frame)
    # The reader's pixels are cv2.imread's for a whole file.
    assert np.array_equal(read_frame(source), cv2.imread(str(source), cv2.IMREAD_COLOR))


@pytest.mark.parametrize("position", POSITIONS)
@pytest.mark.parametrize("kind", KINDS)
def test_data_stage_stops_on_a_damaged_frame_naming_file_and_row(project, capsys, kind,
                                                                  position):
    row = clip_with_apex(project)
    frame = frame_at(row, position)
    damage(frame, kind)
    manifest = project / "data" / "manifest.parquet"
    before = manifest.read_bytes()
    assert mer("data") == 2
    message = capsys.readouterr().err
    assert names_the_frame(message, kind, frame)
    assert sheet_row(row) in message and "CASME2-coding-synthetic.xlsx" in message
    assert manifest.read_bytes() == before  # nothing half-written


@pytest.mark.parametrize("kind", KINDS)
def test_data_stage_skips_and_lists_a_clip_with_a_damaged_middle_frame(project, kind):
    row = clip_with_apex(project)
    frame = frame_at(row, "middle")
    damage(frame, kind)
    set_params(project, "data", on_bad_clip="skip")
    assert mer("data") == 0
    manifest = read_manifest(project / "data" / "manifest.parquet")
    assert row["clip_id"] not in set(manifest["clip_id"]) and len(manifest) == 3
    skipped = json.loads((project / "reports" / "data.json").read_text())["skipped"]
    assert skipped["count"] == 1
    listed = skipped["clips"][0]
    assert row["clip_id"].endswith(listed["clip_id"]) or listed["clip_id"] == row["clip_id"]
    assert names_the_frame(listed["reason"], kind, frame)


def only_clip(project: Path, row: dict) -> None:
    """Keep the manifest to one clip: the stages below then run in seconds."""
    path = project / "data" / "manifest.parquet"
    manifest = read_manifest(path)
    write_manifest(manifest[manifest["clip_id"] == row["clip_id"]].reset_index(drop=True), path)


def test_a_clip_without_a_face_is_left_out_with_a_warning(project, caplog):
    """A break-it session: a clip whose face dlib cannot find (frames exported blank) was
    dropped by `mer faces` and `mer features` with exit 0 and not a word; only
    reports/faces.json listed it."""
    import logging

    row = clip_with_apex(project)
    for frame in row["frame_paths"]:
        image = cv2.imread(frame)
        assert cv2.imwrite(frame, np.full_like(image, 128))
    with caplog.at_level(logging.INFO):
        assert mer("faces") == 0
    said = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "mer.stages.faces"]
    clips = len(read_manifest(project / "data" / "manifest.parquet"))
    assert said[0][0] == "WARNING" and said[0][1].startswith(f"no face for {row['clip_id']}, ")
    assert "no face found on the onset frame" in said[0][1]
    assert said[1] == ("INFO", f"{clips - 1} of {clips} clips have a face (reports/faces.json "
                               "lists the others, with the reason)")


@pytest.mark.parametrize("kind", KINDS)
def test_features_stage_catches_a_middle_frame_damaged_after_data(project, capsys, kind):
    # `mer data` passed; then a frame only the features stage reads is damaged. It used to
    # go through with exit 0 and flows 10-20x too large.
    row = clip_with_apex(project)
    only_clip(project, row)
    assert mer("faces") == 0  # onset, apex and offset are whole: the face is found
    frame = frame_at(row, "middle")
    damage(frame, kind)
    assert mer("features") == 2
    message = capsys.readouterr().err
    assert names_the_frame(message, kind, frame)
    assert row["clip_id"] in message and str(row["source"]) in message
    assert not (project / "data" / "features.npz").exists()


@pytest.mark.parametrize(("kind", "position"), [("truncated", "onset"), ("truncated", "apex"),
                                                ("other_size", "apex"), ("not_image", "onset")])
def test_faces_stage_catches_a_key_frame_damaged_after_data(project, capsys, kind, position):
    row = clip_with_apex(project)
    only_clip(project, row)
    frame = frame_at(row, position)
    damage(frame, kind)
    assert mer("faces") == 2
    message = capsys.readouterr().err
    assert names_the_frame(message, kind, frame)
    assert row["clip_id"] in message and str(row["source"]) in message
    assert not (project / "data" / "faces.npz").exists()


@pytest.mark.parametrize("position", POSITIONS)
@pytest.mark.parametrize("kind", KINDS)
def test_predict_clip_refuses_a_damaged_frame(project, capsys, kind, position):
    # `mer predict --clip` reads the frames before it loads the model: a damaged frame is the
    # error, not a prediction (the model path does not exist, so a clean clip fails later).
    row = clip_with_apex(project)
    frame = frame_at(row, position)
    damage(frame, kind)
    folder = frame.parent
    assert mer("predict", "--clip", str(folder), "--model", str(project / "no-model.pkl")) == 2
    message = capsys.readouterr().err
    assert names_the_frame(message, kind, frame)
    assert "no-model.pkl" not in message


def test_predict_clip_of_whole_frames_reaches_the_model(project, capsys):
    row = clip_with_apex(project)
    folder = Path(row["frame_paths"][0]).parent
    assert mer("predict", "--clip", str(folder), "--model", str(project / "no-model.pkl")) == 2
    assert "no-model.pkl" in capsys.readouterr().err  # the frames passed; the model is absent


def request(frames: list[bytes]) -> pd.DataFrame:
    cell = json.dumps([base64.b64encode(f).decode("ascii") for f in frames])
    return pd.DataFrame({"frames": [cell], "apex_index": [-1]})


@pytest.mark.parametrize("kind", KINDS)
def test_served_request_refuses_a_damaged_frame(corpus, tmp_path, kind):
    # The served model's request path (predict_request reads each row so).
    from mer.inference.serving import request_rows, row_window

    def window_of(frame):
        ((cell, apex),) = request_rows(frame)
        return row_window(cell, apex, 0)

    paths = [Path(p) for p in clip_with_apex(corpus)["frame_paths"][:6]]
    copies = []
    for path in paths:
        copies.append(tmp_path / path.name)
        copies[-1].write_bytes(path.read_bytes())
    damage(copies[3], kind)
    with pytest.raises(MerError) as err:
        window_of(request([c.read_bytes() for c in copies]))
    message = str(err.value)
    # Frames of different sizes: said so, not a misleading "face moved" from the alignment.
    assert message.startswith("row 0: ") and names_the_frame(message, kind, "frame 3")
    assert len(window_of(request([p.read_bytes() for p in paths])).frames) == 6


@pytest.mark.parametrize("ext", [".jpg", ".png", ".bmp"])
def test_reader_refuses_each_frame_format_cut_short(corpus, tmp_path, ext):
    # CASME II and SAMM frames are JPEG, SMIC-HS's are BMP; cv2 alone is not the judge.
    from mer.core.frames import FrameError, read_frame

    image = cv2.imread(str(clip_with_apex(corpus)["frame_paths"][0]))
    whole = tmp_path / f"img1{ext}"
    assert cv2.imwrite(str(whole), image)
    assert read_frame(whole).shape == image.shape
    cut = tmp_path / f"img2{ext}"
    cut.write_bytes(whole.read_bytes()[:-100])
    with pytest.raises(FrameError, match=rf"img2\{ext} is truncated"):
        read_frame(cut)


def test_reader_accepts_bytes_after_a_jpeg_end_marker(corpus, tmp_path):
    # Padding after the end-of-image marker (some cameras and copy tools) is not damage.
    from mer.core.frames import read_frame

    source = Path(clip_with_apex(corpus)["frame_paths"][0])
    padded = tmp_path / source.name
    padded.write_bytes(source.read_bytes() + b"\x00" * 64)
    assert np.array_equal(read_frame(padded), read_frame(source))


def test_one_frame_reader_for_every_stage_and_prediction():
    from mer.core import frames
    from mer.faces import align_clips
    from mer.features import describe_clips
    from mer.inference import serving, sources

    assert align_clips.read_frames is frames.read_frames
    assert describe_clips.read_frames is frames.read_frames
    assert sources.read_image is frames.read_frame
    assert sources.read_clip_frames is frames.read_clip_frames
    assert serving.decode_frame is frames.decode_frame
    assert issubclass(frames.FrameError, MerError)


def test_a_16_bit_frame_of_12_bit_values_is_named_not_read_black(tmp_path):
    """The issue: a 12-bit camera's frame stored in a 16-bit PNG was read by its top 8 bits as
    values 0-15, and `mer predict` said no face was found. Such a frame is refused with what
    it is; a 16-bit frame over its full range reads as cv2.imread reads it."""
    import cv2

    from mer.core.frames import FrameError, read_frame

    rng = np.random.default_rng(0)
    eight = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    twelve, full = tmp_path / "twelve.png", tmp_path / "full.png"
    cv2.imwrite(str(twelve), eight.astype(np.uint16) * 16)
    cv2.imwrite(str(full), eight.astype(np.uint16) * 257)
    with pytest.raises(FrameError, match=r"twelve\.png is a 16-bit image whose brightest value "
                                         r"is 4080 of 65535: .* it is black \(0-15 of 255\)"):
        read_frame(twelve)
    np.testing.assert_array_equal(read_frame(full), cv2.imread(str(full), cv2.IMREAD_COLOR))
    np.testing.assert_array_equal(read_frame(full), eight)
    eight_bit = tmp_path / "eight.png"
    cv2.imwrite(str(eight_bit), eight)
    np.testing.assert_array_equal(read_frame(eight_bit), eight)


def test_hot_pixels_do_not_hide_a_dark_12_bit_frame_and_a_float_frame_is_named(tmp_path):
    """The issue: a 12-bit frame with one saturated (hot) pixel passed the range check and was
    read black; a 32-bit floating-point TIFF was called 'corrupt'. Both now say what they
    are; a full-range 16-bit frame with the same hot pixels still reads."""
    import cv2

    from mer.core.frames import FrameError, read_frame

    rng = np.random.default_rng(0)
    eight = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    hot = eight.astype(np.uint16) * 16
    hot[3, 4] = 65535
    cv2.imwrite(str(tmp_path / "hot.png"), hot)
    with pytest.raises(FrameError, match=r"hot\.png is a 16-bit image whose values lie at or "
                                         r"below 40\d\d but for 1 pixel\(s\) up to 65535 "
                                         r"\(hot pixels\?\) of 65535: .* it is black "
                                         r"\(0-15 of 255\)"):
        read_frame(tmp_path / "hot.png")
    bright = eight.astype(np.uint16) * 257
    bright[3, 4] = 65535
    cv2.imwrite(str(tmp_path / "bright.png"), bright)
    np.testing.assert_array_equal(read_frame(tmp_path / "bright.png"),
                                  cv2.imread(str(tmp_path / "bright.png"), cv2.IMREAD_COLOR))
    cv2.imwrite(str(tmp_path / "float.tiff"), eight.astype(np.float32) / 255)
    with pytest.raises(FrameError, match=r"float\.tiff is a 32-bit floating-point image "
                                         r"\(values 0 to 1\), which has no one 8-bit reading; "
                                         "save the frames as 8- or 16-bit integer images"):
        read_frame(tmp_path / "float.tiff")

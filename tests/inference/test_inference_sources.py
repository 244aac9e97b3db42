"""Reading the frames of one micro-expression: clip folders, image pairs, videos, bad files."""

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from mer.core.frames import APEX_RULE
from mer.data.repairs import list_frames
from mer.errors import MerError
from mer.inference.sources import from_clip_folder, from_image_pair, from_video

FACES = Path(__file__).resolve().parents[1] / "fixtures" / "faces"
VIDEO = FACES / "video_01.mp4"


def write_image(path: Path, grey: int = 128) -> Path:
    cv2.imwrite(str(path), np.full((20, 16, 3), grey, np.uint8))
    return path


@pytest.fixture
def clip_folder(tmp_path):
    folder = tmp_path / "EP01_01"
    folder.mkdir()
    for number in range(46, 52):
        cv2.imwrite(str(folder / f"reg_img{number}.jpg"), np.full((20, 16, 3), number, np.uint8))
    (folder / "notes.txt").write_text("not a frame")
    return folder


def test_clip_folder_orders_frames_by_number(clip_folder):
    window = from_clip_folder(clip_folder, onset=47, apex=49, offset=51)
    assert len(window.frames) == 5
    assert window.apex_index == 2
    # JPEG keeps flat grey levels nearly exact: frame k is the grey level of its number.
    assert [int(f.mean().round()) for f in window.frames] == [47, 48, 49, 50, 51]


def test_clip_folder_defaults_to_whole_clip_and_estimated_apex(clip_folder):
    window = from_clip_folder(clip_folder)
    assert len(window.frames) == 6
    assert window.apex_index is None


def test_missing_frame_is_named(clip_folder):
    (clip_folder / "reg_img48.jpg").unlink()
    with pytest.raises(MerError, match=r"frame\(s\) 48 between onset 46 and offset 51 are "
                                       r"missing; copy them back, or give an onset and offset "
                                       r"within consecutive frames, e.g. --onset 49 --offset 51"):
        from_clip_folder(clip_folder)
    # a folder given as a video is told in --video's options (h60: --onset, which it refuses)
    with pytest.raises(MerError, match=r"frame\(s\) 48 between start 46 and end 51 are "
                                       r"missing; copy them back, or give a start and end "
                                       r"within consecutive frames, e.g. --start 49 --end 51"):
        from_video(clip_folder)
    with pytest.raises(MerError, match=r"start 40 and end 51 must satisfy 46 <= start < end "
                                       r"<= 51 \(the frames on disk\)"):
        from_video(clip_folder, 40, 51)


def test_missing_frames_are_counted_and_a_way_forward_given(tmp_path):
    """A break-it session: 11 missing frames were shown as five numbers, not counted, with no
    way forward; a folder of every other frame got the same refusal."""
    folder = tmp_path / "gap"
    folder.mkdir()
    for number in [*range(23, 30), *range(41, 92)]:
        cv2.imwrite(str(folder / f"reg_img{number}.jpg"), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(MerError, match=r"frame\(s\) 30, 31, 32, 33, 34, \.\.\. \(11 in all\) "
                                       r".* e\.g\. --onset 41 --offset 91 \(the longest run"):
        from_clip_folder(folder)
    for frame in folder.iterdir():
        frame.unlink()
    for number in range(41, 92, 2):  # every other frame
        cv2.imwrite(str(folder / f"reg_img{number}.jpg"), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(MerError, match=r"holds one frame in 2 \(a subsampled copy\?\): use "
                                       r"the video's full-rate frames"):
        from_clip_folder(folder)


def test_two_files_for_one_frame_number_are_refused(clip_folder):
    cv2.imwrite(str(clip_folder / "img48.jpg"), np.zeros((20, 16, 3), np.uint8))
    with pytest.raises(MerError, match="both frame 48"):
        from_clip_folder(clip_folder)


def test_apex_outside_the_window_is_rejected_with_the_rule(clip_folder):
    # The message used to say "strictly between" while apex == offset passed.
    with pytest.raises(MerError) as err:
        from_clip_folder(clip_folder, onset=46, apex=51, offset=50)
    message = str(err.value)
    assert message.startswith(f"{clip_folder}: apex 51 lies after the offset (onset 46, "
                              "offset 50)")
    assert f"the apex must satisfy {APEX_RULE}" in message
    with pytest.raises(MerError, match="apex 45 lies before the onset"):
        from_clip_folder(clip_folder, onset=46, apex=45, offset=50)


def test_apex_at_the_onset_is_estimated_as_in_the_data_stage(clip_folder):
    # Was refused; `mer data` accepts it (flag apex_at_onset) and estimates the apex.
    assert from_clip_folder(clip_folder, onset=46, apex=46, offset=50).apex_index is None
    assert from_clip_folder(clip_folder, onset=46, apex=50, offset=50).apex_index == 4


@pytest.mark.parametrize("names", [
    ["img 46 .jpg", "img 47 .jpg", "img 48 .jpg"],  # a space before the extension
    ["img46 .jpg", "img47 .jpg", "img48 .JPG"],
    ["img46.jpg", "img 47.jpg", "img48 .jpg", "img49.png "],  # mixed, a space after it too
])
def test_clip_folder_reads_the_frame_names_the_data_stage_reads(tmp_path, names):
    folder = tmp_path / "EP01_01"
    folder.mkdir()
    for number, name in enumerate(names, start=46):
        cv2.imwrite(str(folder / name.strip()), np.full((20, 16, 3), number, np.uint8))
        (folder / name.strip()).rename(folder / name)
    numbers = list(range(46, 46 + len(names)))
    assert list(list_frames(folder, "row 2")) == numbers  # `mer data`'s listing
    window = from_clip_folder(folder, onset=46, apex=47)
    assert [int(f.mean().round()) for f in window.frames] == numbers
    assert window.apex_index == 1


def test_one_frame_listing_and_apex_rule_for_data_and_predict():
    from mer.core import frames
    from mer.inference import sources

    assert sources.frame_files is frames.frame_files
    assert sources.apex_to_use is frames.apex_to_use
    assert not hasattr(sources, "IMAGE_SUFFIXES") and not hasattr(sources, "_TRAILING_NUMBER")


def test_corrupt_frame_names_the_file(clip_folder):
    (clip_folder / "reg_img49.jpg").write_bytes(b"\xff\xd8 truncated")
    with pytest.raises(MerError, match=r"reg_img49\.jpg does not decode as an image"):
        from_clip_folder(clip_folder)


def test_pair_of_different_sizes_is_rejected(tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((10, 10, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "b.png"), np.zeros((12, 10, 3), np.uint8))
    with pytest.raises(MerError, match="differ in size"):
        from_image_pair(tmp_path / "a.png", tmp_path / "b.png")


def test_real_video_window():
    window = from_video(VIDEO, start=10, end=40, apex=25)
    assert len(window.frames) == 31
    assert window.frames[0].shape == (480, 640, 3)
    assert window.apex_index == 15


def test_video_window_past_the_end_says_how_long_it_is():
    with pytest.raises(MerError, match="89"):
        from_video(VIDEO, start=0, end=500)


def test_corrupt_video_is_a_clear_error(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00" * 1000)
    with pytest.raises(MerError, match=r"broken\.mp4"):
        from_video(bad)


def test_video_window_mistakes_are_told_in_the_videos_frame_numbers():
    """The issue: --start 40 --end 10 said the last frame was 10; --apex 80 in 10..40 was
    reported as apex 70 of onset 0, offset 30."""
    with pytest.raises(MerError, match=r"window 40..10 must satisfy start < end"):
        from_video(VIDEO, start=40, end=10)
    # a break-it session: --start -5 alone said 'window -5..None'
    with pytest.raises(MerError, match=r"starts at frame -5, before the video's first frame, "
                                       r"0 \(0-based") as refused:
        from_video(VIDEO, start=-5)
    assert "None" not in str(refused.value)
    with pytest.raises(MerError, match=r"frames 10..40: apex 80 lies after the offset \(onset "
                                       r"10, offset 40\)"):
        from_video(VIDEO, start=10, end=40, apex=80)


def test_real_video_window_numbers_its_frames_in_the_video(clip_folder):
    assert from_video(VIDEO, start=10, end=40).frame_numbers == tuple(range(10, 41))
    assert from_clip_folder(clip_folder, onset=47, offset=51).frame_numbers == (
        47, 48, 49, 50, 51)


def write_avi(path: Path, frames: int) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (64, 48))
    rng = np.random.default_rng(0)
    for _ in range(frames):
        writer.write(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    writer.release()
    return path


def test_a_truncated_video_is_an_error_not_a_shorter_answer(tmp_path):
    """The issue: a video cut to 40% was spotted on its first 11 of 30 frames, exit 0."""
    from mer.inference.sources import video_frames

    whole = write_avi(tmp_path / "whole.avi", 30)
    assert len(list(video_frames(whole)[1])) == 30
    cut = tmp_path / "cut.avi"
    cut.write_bytes(whole.read_bytes()[:int(whole.stat().st_size * 0.4)])
    with pytest.raises(MerError, match=r"cut.avi: decoding stopped after \d+ of the 30 frames "
                                       r"the file declares: it is truncated or damaged"):
        list(video_frames(cut)[1])
    with pytest.raises(MerError, match="truncated or damaged"):
        from_video(cut)
    assert len(from_video(cut, start=0, end=5).frames) == 6  # a window it can decode


@pytest.mark.parametrize("argv, message", [
    (["--video", "v.mp4", "--onset", "3"], "--onset applies to --clip only"),
    (["--clip", "c", "--start", "3"], "--start applies to --video only"),
    (["--pair", "a.png", "b.png", "--apex", "1"], "--apex does not apply to --pair"),
])
def test_predict_refuses_options_of_another_input(argv, message, capsys):
    from mer.cli import main

    assert main(["predict", *argv, "--model", "unused.pkl"]) == 2
    assert message in capsys.readouterr().err


def test_predict_refuses_an_out_it_would_replace_a_folder_with(tmp_path, capsys):
    """The issue: `--out results.json`, a folder of the user's, was deleted with what it held;
    `--out a.png/x.csv` gave a traceback, after all the work both times."""
    from mer.cli import main

    folder = tmp_path / "results.json"
    folder.mkdir()
    (folder / "important.txt").write_text("keep")
    image = tmp_path / "a.png"
    image.write_bytes(b"png")
    for out, message in ((folder, "results.json: it is a folder"),
                         (image / "x.csv", "a.png is a file, not a folder")):
        assert main(["predict", "--pair", "a.png", "b.png", "--model", "unused.pkl",
                     "--out", str(out)]) == 2
        assert message in capsys.readouterr().err
    assert (folder / "important.txt").read_text() == "keep"


def test_a_request_row_with_a_bad_apex_or_frames_is_named():
    import pandas as pd

    from mer.inference.serving import encode_frames, request_rows, row_window

    def windows_of(frame):
        return [row_window(cell, apex, row)
                for row, (cell, apex) in enumerate(request_rows(frame))]

    frames = encode_frames([np.full((20, 16, 3), k, np.uint8) for k in (10, 20, 30)])
    windows = windows_of(pd.DataFrame({"frames": [frames, frames],
                                               "apex_index": [-1, 1]}))
    assert [w.apex_index for w in windows] == [None, 1]
    # One rule with the data stage: index 0 (the onset) means estimate it, the offset is fine.
    windows = windows_of(pd.DataFrame({"frames": [frames, frames],
                                               "apex_index": [0, 2]}))
    assert [w.apex_index for w in windows] == [None, 2]
    for apex in (-2, 3):
        with pytest.raises(MerError, match=r"row 0 \(apex_index; -1 to estimate it\): apex "
                                           r".* the apex must satisfy onset <= apex <= offset"):
            windows_of(pd.DataFrame({"frames": [frames], "apex_index": [apex]}))
    with pytest.raises(MerError, match="row 0, frame 0: not valid base64"):
        windows_of(pd.DataFrame({"frames": ['["@@", "@@"]'], "apex_index": [-1]}))
    # A break-it session: int() truncated 1.7 to 1 and 0.5 to 0 ('estimate the apex'), and
    # read true as 1, each answered with HTTP 200.
    for apex in (1.7, 0.5, True, "1.5", "two"):
        with pytest.raises(MerError, match=r"row 1: apex_index must be a whole number .*, got "
                                           + re.escape(repr(apex))):
            windows_of(pd.DataFrame({"frames": [frames, frames],
                                             "apex_index": pd.Series([1, apex], dtype=object)}))
    windows = windows_of(pd.DataFrame({"frames": [frames, frames],
                                               "apex_index": [2.0, -1.0]}))
    assert [w.apex_index for w in windows] == [2, None]


def test_a_video_request_cell_that_is_no_text_is_named_so(tmp_path):
    """A break-it session: a served request's video cell holding a number (JSON [[5]]) was
    called 'empty'."""
    from mer.inference.serving import decode_video

    with pytest.raises(MerError, match=r"^row 2: 'video' holds 5, not text: send the whole "):
        decode_video(5, 2, tmp_path)
    for missing in (None, float("nan"), ""):
        with pytest.raises(MerError, match=r"^row 0: 'video' is empty"):
            decode_video(missing, 0, tmp_path)


def test_a_clip_list_reads_each_row_and_names_the_line_of_a_mistake(clip_folder, tmp_path):
    """`mer predict --clips-from`: folders relative to the CSV, empty cells for defaults."""
    from mer.stages.predict import clips_from

    listing = tmp_path / "clips.csv"
    listing.write_text(f"clip,onset,apex,offset\n{clip_folder.name},47,49,51\n"
                       f"{clip_folder},,,\n")
    first, second = (item.read() for item in clips_from(listing))
    assert (len(first.frames), first.apex_index) == (5, 2)
    assert (len(second.frames), second.apex_index) == (6, None)
    # A break-it session: a list saved as UTF-16 was a codec error (the data stage reads it)
    listing.write_text(listing.read_text(), encoding="utf-16")
    assert [item.read().apex_index for item in clips_from(listing)] == [2, None]
    mistakes = {"clip,apx\nEP01_01,3\n": "unknown: ['apx']",
                "clip,onset\nEP01_01,x\n": "line 2: column 'onset' holds 'x', not a frame "
                                           "number",
                "clip\n\n": "lists no clip", "clip\n,\n": "line 2: more cells",
                "clip,apex\n ,3\n": "line 2: the clip cell is empty",
                # the issue: csv.DictReader kept the last of two clip columns without a word
                "clip,clip\nEP01_01,EP01_02\n": "its header names 'clip' more than once",
                # the issue: blank lines were not counted, and line 3 was named for line 5
                "clip,onset\nEP01_01,3\n\n\nEP01_01,abc\n": "line 5: column 'onset' holds 'abc'",
                "clip\nC:\\CASME2\\sub01\n": "holds 'C:\\\\CASME2\\\\sub01', a path on a "
                                              "Windows machine"}
    for text, message in mistakes.items():
        listing.write_text(text)
        with pytest.raises(MerError, match=re.escape(message)):
            clips_from(listing)
    # A break-it session: a list written on Windows ('sub01\\EP01_01') was 'not a folder of
    # frames', and CASME II's '/' for an apex not coded was 'not a frame number', though the
    # data stage reads both.
    (tmp_path / "sub01").mkdir()
    clip_folder.rename(tmp_path / "sub01" / clip_folder.name)
    listing.write_text(f"clip,onset,apex,offset\r\nsub01\\{clip_folder.name},47,/,51\r\n"
                       f"sub01\\{clip_folder.name},47,-1,51\r\n")
    for item in clips_from(listing):
        assert (len(item.read().frames), item.read().apex_index) == (5, None)
    (tmp_path / "sub01" / clip_folder.name).rename(clip_folder)
    # A clip that cannot be read names the line that listed it: one clip may be listed on
    # several lines with other frame numbers.
    listing.write_text(f"clip,onset,apex\n{clip_folder.name},47,49\n{clip_folder.name},49,47\n")
    good, bad = clips_from(listing)
    good.read()
    with pytest.raises(MerError, match=re.escape(f"{listing}, line 3: ")):
        bad.read()
    # Headers in any case (Clip, Onset), as a coding sheet's; a ';'-separated list says so
    # (a break-it session: both were 'unknown' columns).
    listing.write_text(f"Clip,Onset,APEX,offset\n{clip_folder.name},47,49,51\n")
    (item,) = clips_from(listing)
    assert item.read().apex_index == 2
    listing.write_text(f"clip;onset\n{clip_folder.name};47\n")
    with pytest.raises(MerError, match="its columns are separated by semicolons: save it again"):
        clips_from(listing)
    # A list typed on Windows or Linux (NFC) names a folder a Mac copied (NFD) alike.
    import unicodedata

    composed, decomposed = (unicodedata.normalize(form, "séance") for form in ("NFC", "NFD"))
    clip_folder.rename(tmp_path / decomposed)
    listing.write_text(f"clip\n{composed}\n", encoding="utf-8")
    (item,) = clips_from(listing)
    assert len(item.read().frames) == 6


def test_a_folder_given_as_a_video_is_read_as_its_frames(tmp_path):
    """The issue: `--video <a folder>` said 'no such video file', though the path is there. A
    folder is the video of its numbered frames (none: an error saying so)."""
    from mer.inference.sources import video_frames

    with pytest.raises(MerError, match=r"the folder holds no numbered frames"):
        video_frames(tmp_path)
    with pytest.raises(MerError, match="no such video file"):
        video_frames(tmp_path / "missing.mp4")
    with pytest.raises(MerError, match=r"no such video file; for numbered frames, give their "
                                       r"folder \(--video FOLDER --fps N\)"):
        video_frames(tmp_path / "img%d.jpg", rate_option="--fps")
    # h59: `mer predict`, which has no --fps, was told to pass it
    for name in ("img%d.jpg", "face.png"):
        with pytest.raises(MerError) as refused:
            video_frames(tmp_path / name if "%" in name else write_image(tmp_path / name))
        assert "--fps" not in str(refused.value)


def test_a_folder_window_is_in_the_frames_own_numbers(tmp_path):
    """h59: `mer predict --video FOLDER --start 23 --end 91` was refused ("<= 68, its last
    frame") for a folder of img23..img91, and --apex 52 meant the 53rd file, img75.jpg:
    the folder's frames were counted from 0, while --clip and `mer spot` use their names'
    numbers."""
    from mer.inference.sources import from_clip_folder, from_video

    for number in range(23, 92):
        write_image(tmp_path / f"img{number}.jpg", number)
    window = from_video(tmp_path, 23, 91, 52)
    assert window.number(window.apex_index) == 52
    assert window.frame_numbers == tuple(range(23, 92))
    same = from_clip_folder(tmp_path, 23, 52, 91)
    assert window.description == same.description == f"{tmp_path} frames 23..91"
    assert all((a == b).all() for a, b in zip(window.frames, same.frames, strict=True))
    assert from_video(tmp_path).frame_numbers == tuple(range(23, 92))  # the whole folder
    with pytest.raises(MerError, match=r"must satisfy 23 <= start < end <= 91"):
        from_video(tmp_path, 0, 68)


def test_a_server_url_ending_in_invocations_is_refused_before_any_request():
    """A break-it session: with a multi-MB request, a server answered .../invocations/
    invocations with 404 before the body was sent, the client saw a reset connection, and mer
    said no server answers, to start one that was running."""
    from mer.inference.client import ServedModel

    for url in ("http://127.0.0.1:5001/invocations", "http://127.0.0.1:5001/invocations/"):
        with pytest.raises(MerError, match=r"give the model server's URL without "
                                           r"/invocations \(mer adds it\), e\.g\. "
                                           r"http://127\.0\.0\.1:5001$"):
            ServedModel(url)


def served_answer(code: int, body: bytes, path: str = "", scheme: str = "http") -> str:
    """The MerError `--server` gives for a plain HTTP server at ``path`` answering every POST
    with HTTP ``code`` and ``body``, asked at ``scheme``://."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from mer.inference.client import ServedModel
    from mer.inference.sources import FrameWindow

    class Answer(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(code)
            self.send_header("Content-Type", "text/html" if body.startswith(b"<") else
                             "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"{scheme}://127.0.0.1:{server.server_address[1]}{path}"
    frames = [np.full((20, 16, 3), k, np.uint8) for k in (10, 20)]
    try:
        with pytest.raises(MerError) as refused:
            ServedModel(url).predict(FrameWindow(frames, 1, "a.png -> b.png"))
    finally:
        server.shutdown()
        server.server_close()
    return str(refused.value).replace(url, "URL")


@pytest.mark.parametrize(("path", "code", "reason"), [
    ("", 404, "Not Found"), ("/mlflow-ui", 404, "Not Found"),
    ("", 501, "Not Implemented"), ("", 500, "Internal Server Error")])
def test_a_server_url_with_no_model_says_so(path, code, reason):
    """Break-it sessions: `--server` pointed at `mer ui` (the MLflow UI) or at
    .../invocations blamed the frames ('the model server refused it (HTTP 404)') and
    printed the page's HTML; any other web server's page (HTTP 501 for a POST, h59) did."""
    message = served_answer(code, b"<!doctype html><title>Error</title><p>No POST</p>", path)
    # a 404 may be a model server's own, for a path it does not serve (h60)
    whose = "" if code == 404 else ", not an MLflow model server's answer"
    assert message.startswith(f"no model is served at URL (HTTP {code} {reason} for "
                              f"URL/invocations{whose})")
    assert "without /invocations" in message and "<p>" not in message


def test_https_to_a_plain_http_server_says_so():
    """h60: `--server https://...` of `mlflow models serve` (plain HTTP) was told that no
    server answers, and to start one."""
    message = served_answer(200, b"{}", scheme="https")
    assert message.startswith("the server at URL does not answer HTTPS (")
    assert message.endswith("`mlflow models serve` speaks plain HTTP, so give its URL with "
                            "http://")


def test_a_model_servers_refusal_gives_its_message():
    """What a model server refuses (mer's own message, or MLflow's for its signature, in a
    JSON object with a message) is the input's error, with that message."""
    message = served_answer(400, b'{"error_code": "BAD_REQUEST", "message": "row 0: no face"}')
    assert message == "a.png -> b.png: the model server refused it (HTTP 400): row 0: no face"
    long = served_answer(500, json.dumps({"message": "x" * 5000}).encode())  # (h60: whole)
    assert long.endswith("x" * 1000 + "... (cut)") and len(long) < 1100


def test_a_server_that_drops_the_request_is_not_called_absent():
    """h59: with a path in --server's URL, a model server answered 404 before the request
    was sent and dropped the connection; mer said that no server answers there and to start
    one, while one was running."""
    import socket
    import struct
    import threading

    from mer.inference.client import ServedModel
    from mer.inference.sources import FrameWindow

    listener = socket.create_server(("127.0.0.1", 0))

    def drop() -> None:
        connection, _ = listener.accept()
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        connection.close()  # a reset, as a server closing on an unread request sends

    threading.Thread(target=drop, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/ping"
    frames = [np.full((20, 16, 3), k, np.uint8) for k in (10, 20)]
    try:
        with pytest.raises(MerError, match=r"the server at .* closed the connection before "
                                           r"answering .*: either it serves no model at "
                                           r".*/ping/invocations .* or the model server "
                                           r"stopped \(see its log\)"):
            ServedModel(url).predict(FrameWindow(frames, 1, "a.png -> b.png"))
    finally:
        listener.close()


@pytest.mark.parametrize(("url", "why"), [
    ("http://127.0.0.1:99999", "Port out of range 0-65535"),
    ("http://127.0.0.1:0", "port 0 is no server's port"),
    ("http://127.0.0.1:5001?x=1", "a model server's URL has no \\?query or #fragment; give "
                                  "its scheme, host and port, e.g. http://127.0.0.1:5001$"),
    ("http://127.0.0.1:5001/#f", "a model server's URL has no"),
    ("http://:5001", "no host")])
def test_a_server_url_that_names_no_server_is_refused_before_any_request(url, why):
    """h59: a port past 65535 was 'Connection refused'; h60: port 0 too, and a query or
    fragment was glued before /invocations."""
    from mer.inference.client import ServedModel

    with pytest.raises(MerError, match=rf"--server {re.escape(url)}: {why}"):
        ServedModel(url)


def test_a_clip_request_of_no_row_has_an_answer_of_no_row():
    import pandas as pd

    from mer.inference.serving import predict_request

    answer = predict_request(None, pd.DataFrame({"frames": [], "apex_index": []}))
    assert isinstance(answer, pd.DataFrame) and answer.empty


def test_a_pair_of_numbered_frames_is_numbered_by_them(tmp_path, caplog):
    """A break-it session: --pair reg_img23.jpg reg_img52.jpg answered apex_frame 1 where
    --clip answers 52, and a pair given apex first passed without a word."""
    image = np.full((20, 16, 3), 128, np.uint8)
    for name in ("reg_img23.png", "reg_img52.png", "subject1_onset.png", "subject1_apex.png"):
        cv2.imwrite(str(tmp_path / name), image)
    window = from_image_pair(tmp_path / "reg_img23.png", tmp_path / "reg_img52.png")
    assert window.frame_numbers == (23, 52) and window.number(window.apex_index) == 52
    backwards = from_image_pair(tmp_path / "reg_img52.png", tmp_path / "reg_img23.png")
    assert backwards.frame_numbers == () and "give the onset image first" in caplog.text
    caplog.clear()
    named = from_image_pair(tmp_path / "subject1_onset.png", tmp_path / "subject1_apex.png")
    assert named.frame_numbers == () and not caplog.text  # names that number no frame


def test_command_line_paths_match_either_unicode_normalisation(clip_folder, tmp_path):
    """A break-it session: a --clip path typed composed (NFC) did not find the folder a Mac
    copied decomposed (NFD), though the same path in a --clips-from row did."""
    import argparse
    import unicodedata

    from mer.stages.predict import inputs_of

    composed, decomposed = (unicodedata.normalize(form, "séance") for form in ("NFC", "NFD"))
    clip_folder.rename(tmp_path / decomposed)
    args = argparse.Namespace(clips_from=None, clip=[str(tmp_path / composed)], onset=None,
                              apex=None, offset=None, pair=None, video=None)
    (item,) = inputs_of(args)
    assert len(item.read().frames) == 6

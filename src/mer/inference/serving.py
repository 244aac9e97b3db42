"""The MLflow pyfunc face of the model: a DataFrame in, predictions out. Two kinds of request.

A clip request classifies one micro-expression per row (columns frames, apex_index).
A video request spots every interval in each row's video and classifies each micro one
(column video); a request holds one kind, never both.

Clip request, one row per micro-expression:
  frames      str   JSON list of base64-encoded images (JPEG/PNG), onset first, offset last,
                    all of one size; each decoded by the data stage's one frame decoder
                    (mer.core.frames.decode_frame: a truncated or non-image frame is refused)
  apex_index  int   index of the apex in frames, or -1 to estimate it from motion; checked
                    by sources.check_apex under mer's one apex rule (0 <= apex_index <=
                    len(frames) - 1, 0 = the onset: no onset->apex motion, so estimated)
Output, one row each: label, prob_<class> per class, apex_index, apex_estimated,
moving_regions (a dict, in the JSON answer an object: AU region -> mean motion in px, the
regions that moved most first, as `mer predict` prints them), no_motion (true when no region
moved: the same image twice, identical frames), error (null, or why mer refused
that row: its other columns are then null, and the other rows are answered; a request whose
every row is refused is refused, HTTP 400, with the first row's message).

Video request, one row per video:
  video       str   a whole video file (any container and codec OpenCV reads, e.g. MP4/H.264,
                    AVI), base64-encoded; its frame rate must be in the file
Output, one row per spotted interval, in time order per video: request_row (the video's row),
onset, apex, offset (0-based frames), onset_s, apex_s, offset_s (s), kind (micro or macro),
confidence (peak over threshold, > 1), and for micro intervals label, prob_<class> per class
(null for macro intervals), recognition_error (null, or why a micro interval has no class:
its face was lost). A video in which nothing is spotted has no row: a request_row absent from
the answer is a video read and spotted, with no interval found (a video mer refuses has its
row, with error set). Spotting uses the spotter registered in the model (p fitted by `mer
spot-eval` on the spotting corpus); recognition uses each interval's spotted apex.
"""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mer.core.frames import NO_FRAME, check_same_size, decode_frame
from mer.errors import MerError
from mer.inference.predictor import ModelBundle, predict_window
from mer.inference.sources import FrameWindow, check_apex, read_image

if TYPE_CHECKING:  # pandas only where a DataFrame is built: `mer predict --server` sends
    import pandas as pd  # requests without paying its import

INPUT_COLUMNS = ("frames", "apex_index")
VIDEO_COLUMN = "video"  # a video request's one column
# A video request's answer columns besides label, prob_<class>: MLflow signature types.
VIDEO_OUTPUTS = {"request_row": "long", "onset": "long", "apex": "long", "offset": "long",
                 "onset_s": "double", "apex_s": "double", "offset_s": "double",
                 "kind": "string", "confidence": "double", "recognition_error": "string"}
ERROR = "error"  # a clip answer's column: null, or why mer refused that row

SEND_WHOLE = "send each frame as a whole JPEG or PNG file, base64-encoded"


def encode_frames(frames: list[np.ndarray] | tuple[np.ndarray, ...], ext: str = ".png") -> str:
    """JSON list of base64 images: the ``frames`` cell of a request."""
    import cv2

    encoded = []
    for frame in frames:
        ok, buffer = cv2.imencode(ext, frame)
        if not ok:
            raise MerError(f"could not encode a {frame.shape} frame as {ext}")
        encoded.append(base64.b64encode(buffer.tobytes()).decode("ascii"))
    return json.dumps(encoded)


def example_request(manifest: pd.DataFrame) -> pd.DataFrame:
    """A real one-row request from ``manifest`` (the clips a model was trained on): onset and
    apex frames of its first clip with an annotated apex, else that clip's onset and offset
    with the apex to be estimated."""
    if manifest.empty:
        raise MerError("no clip of the manifest has features: run `mer features` first")
    annotated = manifest[manifest["apex"] >= 0]
    row = (annotated if not annotated.empty else manifest).iloc[0]
    frames = row["frame_paths"]
    second, apex_index = ((frames[row["apex"] - row["onset"]], 1) if row["apex"] >= 0
                          else (frames[-1], NO_FRAME))
    import pandas as pd

    return pd.DataFrame({
        "frames": [encode_frames([read_image(frames[0]), read_image(second)], ".jpg")],
        "apex_index": [apex_index]})


def decode_frames(cell: str, row: int) -> tuple[np.ndarray, ...]:
    """The frames of one request row: each a whole image, all of one size, or a MerError
    naming the row and frame (frames of different sizes would otherwise reach the face
    alignment and read as a face that moved)."""
    try:
        items = json.loads(cell)
    except (TypeError, json.JSONDecodeError):
        raise MerError(f"row {row}: 'frames' must be a JSON list of base64 images") from None
    if not isinstance(items, list) or len(items) < 2:
        raise MerError(f"row {row}: 'frames' needs at least two images (onset and apex)")
    frames = []
    for k, item in enumerate(items):
        try:
            data = base64.b64decode(item, validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise MerError(f"row {row}, frame {k}: not valid base64") from None
        frames.append(decode_frame(data, str(k), f"row {row}", SEND_WHOLE))
    check_same_size([f.shape for f in frames], [str(k) for k in range(len(frames))],
                    f"row {row}", "send the frames of one video, uncropped")
    return tuple(frames)


def request_rows(frame: pd.DataFrame) -> list[tuple[object, object]]:
    """(frames cell, apex_index cell) of each clip request row; MerError for a request
    without those columns."""
    missing = [c for c in INPUT_COLUMNS if c not in frame.columns]
    if missing:
        raise MerError(f"request lacks columns {missing}; expected {list(INPUT_COLUMNS)} (a "
                       f"clip request) or '{VIDEO_COLUMN}' (a video request)")
    return list(zip(frame["frames"], frame["apex_index"], strict=True))


def row_window(cell: object, apex: object, row: int) -> FrameWindow:
    """One clip request row's frames and apex; MerError naming the row."""
    frames = decode_frames(cell, row)
    apex = _whole_number(apex, row)
    apex_index = check_apex(None if apex == NO_FRAME else apex, len(frames),
                            f"row {row} (apex_index; -1 to estimate it)")
    return FrameWindow(frames, apex_index, f"request row {row}")


def _whole_number(apex: object, row: int) -> int:
    """A request's apex_index as an int: a whole number (1, 1.0, '1'), never a truth value or
    a fraction, which int() would truncate (a break-it session: 1.7 was read as 1, and 0.5 as
    0, 'estimate the apex', without a word)."""
    number = None
    if isinstance(apex, str):
        text = apex.strip()
        number = int(text) if text.removeprefix("-").isdecimal() else None
    elif isinstance(apex, (int, float, np.integer, np.floating)) and not isinstance(
            apex, (bool, np.bool_)) and float(apex).is_integer():
        number = int(apex)
    if number is None:
        raise MerError(f"row {row}: apex_index must be a whole number (the apex's index in "
                       f"frames, or -1 to estimate it), got {apex!r}")
    return number


def _video_name(row: int) -> str:
    """A video request row's video, as messages name it (not the server's scratch file)."""
    return f"row {row} ('{VIDEO_COLUMN}')"


def decode_video(cell: object, row: int, scratch: Path) -> tuple[float, Path]:
    """The frame rate and file (in ``scratch``) of one video request row, or a MerError
    naming the row."""
    from mer.inference.sources import video_frames

    missing = cell is None or (isinstance(cell, float) and cell != cell)  # None or NaN
    if not isinstance(cell, str) and not missing:
        raise MerError(f"row {row}: '{VIDEO_COLUMN}' holds {cell!r}, not text: send the whole "
                       "video file, base64-encoded")
    try:
        data = base64.b64decode(cell, validate=True) if isinstance(cell, str) else b""
    except (binascii.Error, ValueError):
        raise MerError(f"row {row}: '{VIDEO_COLUMN}' is not valid base64: send the whole "
                       "video file, base64-encoded") from None
    if not data:
        raise MerError(f"row {row}: '{VIDEO_COLUMN}' is empty: send a whole video file, "
                       "base64-encoded")
    path = scratch / f"row{row}"
    path.write_bytes(data)
    try:
        fps, frames = video_frames(path, _video_name(row))
        first = next(frames, None)
        frames.close()
    except MerError:
        first = None
    if first is None:
        raise MerError(f"row {row}: '{VIDEO_COLUMN}' holds no video OpenCV can decode "
                       f"({len(data)} bytes): send a whole video file (MP4, AVI, ...), "
                       "base64-encoded") from None
    if fps <= 0:
        raise MerError(f"row {row}: the video gives no frame rate; write the video with its "
                       "frame rate (spotting windows are in seconds)")
    return fps, path


def spot_request(bundle: ModelBundle, request: pd.DataFrame) -> pd.DataFrame:
    """Every interval spotted in each row's video (column ``video``), micro ones recognised:
    one row each, led by request_row, with ``error`` null. A row mer refuses (not a video, no
    face, too short) is one row with only request_row and ``error``, and the other rows are
    answered, as in a clip request (a break-it session: one video without a face discarded
    the intervals of the others, already spotted). MerError when every row is refused or the
    model has no spotter."""
    import tempfile

    from mer.inference.sources import video_frames
    from mer.inference.spot_recognise import columns, spot_video

    spotter = getattr(bundle, "spotter", None)  # bundles registered before spotting had none
    if spotter is None:
        raise MerError("this model was registered without a spotter and answers clip requests "
                       f"({', '.join(INPUT_COLUMNS)}) only: register it again with this mer, "
                       "after `mer spot-eval`")
    rows: list[dict[str, object]] = []
    refused: list[str] = []
    with tempfile.TemporaryDirectory(prefix="mer-video-") as scratch:
        for row, cell in enumerate(request[VIDEO_COLUMN]):
            try:
                fps, path = decode_video(cell, row, Path(scratch))
                found, _ = spot_video(lambda path=path, row=row: video_frames(
                    path, _video_name(row))[1], fps, spotter, bundle, f"request row {row}")
            except MerError as exc:
                refused.append(str(exc))
                rows.append({"request_row": row, ERROR: str(exc)})
                continue
            rows += [{"request_row": row, **f.row(bundle.classes), ERROR: None} for f in found]
    if refused and len(refused) == len(request):  # nothing answered: HTTP 400, as before
        more = f" (and {len(refused) - 1} more row(s) refused)" if len(refused) > 1 else ""
        raise MerError(f"{refused[0]}{more}")
    import pandas as pd

    names = ["request_row", *columns(bundle.classes), ERROR]
    # null in JSON, not NaN, for macro rows (pandas' str dtype would make a missing label NaN)
    # and for every column of a refused row
    nullable = ({"label", "recognition_error", ERROR, *(f"prob_{c}" for c in bundle.classes)}
                if not refused else set(names) - {"request_row"})
    return pd.DataFrame({name: pd.Series([r.get(name) for r in rows],
                                         dtype=object if name in nullable else None)
                         for name in names}, columns=names)


def predict_request(bundle: ModelBundle, request: pd.DataFrame) -> pd.DataFrame:
    """The answer to a request: a clip request (columns INPUT_COLUMNS: frames, apex_index),
    one prediction per row; a video request (column VIDEO_COLUMN), one row per interval
    spotted (spot_request)."""
    clip = [c for c in INPUT_COLUMNS if c in request.columns]
    if VIDEO_COLUMN in request.columns:
        if clip:
            raise MerError(f"request has both '{VIDEO_COLUMN}' (a video request) and {clip} "
                           "(a clip request): send one kind per request")
        return spot_request(bundle, request)
    import pandas as pd

    answers: list[dict[str, object]] = []
    refused: list[str | None] = []
    for row, (cell, apex) in enumerate(request_rows(request)):
        try:  # a bad row (a lost face) is its own answer, as in `mer predict --clips-from`
            answers.append(predict_window(bundle, row_window(cell, apex, row)).as_row())
            refused.append(None)
        except MerError as exc:
            answers.append({})
            refused.append(str(exc))
    if not refused:  # no row: no answer
        return pd.DataFrame()
    if all(refused):  # nothing answered: the request is refused (HTTP 400), as before
        more = f" (and {len(refused) - 1} more row(s) refused)" if len(refused) > 1 else ""
        raise MerError(f"{refused[0]}{more}")
    names = [*next(a for a in answers if a), ERROR]
    rows = [{**answer, ERROR: why} for answer, why in zip(answers, refused, strict=True)]
    if not any(refused):
        return pd.DataFrame(rows, columns=names)
    # null in JSON, not NaN, in a refused row's columns
    return pd.DataFrame({name: pd.Series([r.get(name) for r in rows], dtype=object)
                         for name in names})

"""The MLflow pyfunc face of the model: a DataFrame of encoded frames in, predictions out.

Input, one row per micro-expression:
  frames      str   JSON list of base64-encoded images (JPEG/PNG), onset first, offset last,
                    all of one size; each decoded by the data stage's one frame decoder
                    (mer.core.frames.decode_frame: a truncated or non-image frame is refused)
  apex_index  int   index of the apex in frames, or -1 to estimate it from motion; checked
                    by sources.check_apex under mer's one apex rule (0 <= apex_index <=
                    len(frames) - 1, 0 = the onset: no onset->apex motion, so estimated)
Output, one row each: label, prob_<class> per class, apex_index, apex_estimated,
moving_regions (a dict, in the JSON answer an object: AU region -> mean motion in px, the
regions that moved most first, as `mer predict` prints them).
"""

from __future__ import annotations

import base64
import binascii
import json

import numpy as np
import pandas as pd

from mer.core.frames import NO_FRAME, check_same_size, decode_frame
from mer.errors import MerError
from mer.inference.predictor import ModelBundle, predict_window
from mer.inference.sources import FrameWindow, check_apex, read_image

INPUT_COLUMNS = ("frames", "apex_index")

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


def request_to_windows(frame: pd.DataFrame) -> list[FrameWindow]:
    missing = [c for c in INPUT_COLUMNS if c not in frame.columns]
    if missing:
        raise MerError(f"request lacks columns {missing}; expected {list(INPUT_COLUMNS)}")
    windows = []
    for row, (cell, apex) in enumerate(zip(frame["frames"], frame["apex_index"], strict=True)):
        frames = decode_frames(cell, row)
        try:
            apex = int(apex)
        except (TypeError, ValueError):
            raise MerError(f"row {row}: apex_index must be an integer, got {apex!r}") from None
        apex_index = check_apex(None if apex == NO_FRAME else apex, len(frames),
                                f"row {row} (apex_index; -1 to estimate it)")
        windows.append(FrameWindow(frames, apex_index, f"request row {row}"))
    return windows


def predict_request(bundle: ModelBundle, request: pd.DataFrame) -> pd.DataFrame:
    """Predictions for every row of a request (columns INPUT_COLUMNS: frames, apex_index)."""
    rows = []
    for window in request_to_windows(request):
        prediction = predict_window(bundle, window)
        rows.append({
            "label": prediction.label,
            **{f"prob_{c}": p for c, p in prediction.probabilities.items()},
            "apex_index": prediction.apex_index,
            "apex_estimated": prediction.apex_estimated,
            "moving_regions": prediction.moving_regions,
        })
    return pd.DataFrame(rows)

"""A served mer model asked over HTTP: what `mer predict --server URL` sends and reads back.

The server is `mlflow models serve` of a model logged by `mer register` (README "Register,
promote, predict, serve"); it keeps the model loaded, so a call costs the request and its
prediction, not torch's and scikit-learn's imports. This side imports neither: it reads the
frames (mer.inference.sources), sends them as one clip request (mer.inference.serving: frames
as lossless PNG, so the server classifies the very pixels read here, and apex_index) to
``URL/invocations`` and turns the answer row back into the Prediction `mer predict` prints
(Prediction.from_row).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass

from mer.core.frames import NO_FRAME
from mer.errors import MerError
from mer.inference.predictor import Prediction
from mer.inference.serving import INPUT_COLUMNS, encode_frames
from mer.inference.sources import FrameWindow

TIMEOUT_S = 300.0  # a whole clip with its apex estimated takes seconds, a video window longer
SERVE_HINT = ("start one with `mlflow models serve -m models:/<name>@champion --env-manager "
              "local -h 127.0.0.1 -p 5001` in the project (README \"Register, promote, predict, "
              "serve\"), or drop --server to load the model in this process")


@dataclass(frozen=True)
class ServedModel:
    """The model served at ``url`` (scheme, host and port, e.g. http://127.0.0.1:5001)."""

    url: str

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise MerError(f"--server {self.url}: give the server's URL, e.g. "
                           "http://127.0.0.1:5001")
        if self.url.rstrip("/").endswith("/invocations"):
            # mer adds it; a server answers .../invocations/invocations with 404 before a
            # large request is sent, which the client then sees as a reset connection ("no
            # model server answers", a break-it session), so this is refused at once.
            raise MerError(f"--server {self.url}: give the model server's URL without "
                           f"/invocations (mer adds it), e.g. "
                           f"{self.url.rstrip('/').removesuffix('/invocations')}")

    def predict(self, window: FrameWindow) -> Prediction:
        """The served model's prediction for ``window``; a MerError carries the server's own
        message for a refused request (HTTP 400: a lost face, frames of two sizes) and says
        what to do when no server answers."""
        apex = NO_FRAME if window.apex_index is None else window.apex_index
        body = json.dumps({"dataframe_split": {"columns": list(INPUT_COLUMNS),
                                               "data": [[encode_frames(window.frames), apex]]}})
        request = urllib.request.Request(f"{self.url.rstrip('/')}/invocations",
                                         data=body.encode("utf-8"),
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            if exc.code in (404, 405):  # no scoring endpoint here: not the frames' fault
                raise MerError(f"no model is served at {self.url} (HTTP {exc.code} for "
                               f"{request.full_url}): give the model server's URL, scheme, "
                               "host and port only (e.g. http://127.0.0.1:5001, without "
                               "/invocations; `mer ui`'s is the MLflow UI, not a model "
                               f"server), or {SERVE_HINT}") from None
            raise MerError(f"{window.description}: the model server refused it (HTTP "
                           f"{exc.code}): {_served_message(exc)}") from None
        except TimeoutError:
            raise MerError(f"{window.description}: the model server at {self.url} gave no "
                           f"answer within {TIMEOUT_S:.0f} s: send a shorter window") from None
        except (urllib.error.URLError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise MerError(f"no model server answers at {self.url} ({reason}): "
                           f"{SERVE_HINT}") from None
        except json.JSONDecodeError:
            raise MerError(f"{self.url} answered something other than JSON: is it a served "
                           "mer model (`mlflow models serve`)?") from None
        try:
            return Prediction.from_row(answer["predictions"][0], window)
        except (KeyError, IndexError, TypeError, ValueError):
            raise MerError(f"{self.url} answered {str(answer)[:200]!r}, not a mer clip "
                           "prediction: is it a model logged by `mer register`?") from None


def _served_message(error: urllib.error.HTTPError) -> str:
    """The message of an MLflow scoring server's error body (mer's own for a refused
    request), else the body's start."""
    text = error.read().decode("utf-8", "replace")
    try:
        return str(json.loads(text)["message"])
    except (json.JSONDecodeError, KeyError, TypeError):
        return text[:500] or str(error.reason)


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
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from mer.core.frames import NO_FRAME
from mer.errors import MerError
from mer.inference.predictor import Prediction
from mer.inference.serving import INPUT_COLUMNS, encode_frames
from mer.inference.sources import FrameWindow

MESSAGE_SHOWN = 1000  # characters of a server's error message a MerError shows
TIMEOUT_S = 300.0  # a whole clip with its apex estimated takes seconds, a video window longer
SERVE_HINT = ("start one with `mlflow models serve -m models:/<name>@champion --env-manager "
              "local -h 127.0.0.1 -p 5001` in the project (README \"Register, promote, predict, "
              "serve\"), or drop --server to load the model in this process")
EXAMPLE_URL = "http://127.0.0.1:5001"  # `mlflow models serve ... -p 5001`, as SERVE_HINT says
URL_HINT = f"give the server's URL, e.g. {EXAMPLE_URL}"
# for a URL a server answered on, but not as a model server
BASE_URL_HINT = f"give the model server's URL, scheme, host and port only, e.g. {EXAMPLE_URL}"


@dataclass(frozen=True)
class ServedModel:
    """The model served at ``url`` (scheme, host and port, e.g. http://127.0.0.1:5001)."""

    url: str

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise MerError(f"--server {self.url}: {URL_HINT}")
        try:  # a port past 65535 was 'Connection refused' (h59), and port 0 (h60)
            parts = urllib.parse.urlsplit(self.url)
            if parts.port == 0:
                raise ValueError("port 0 is no server's port")
        except ValueError as exc:
            raise MerError(f"--server {self.url}: {exc}; {URL_HINT}") from None
        if not parts.hostname:
            raise MerError(f"--server {self.url}: no host; {URL_HINT}")
        if parts.query or parts.fragment:  # (h60: glued before /invocations)
            raise MerError(f"--server {self.url}: a model server's URL has no ?query or "
                           f"#fragment; give its scheme, host and port, e.g. "
                           f"{parts.scheme}://{parts.netloc}")
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
            served = None if exc.code in (404, 405) else _served_message(exc)
            if served is None:  # no scoring endpoint here: not the frames' fault
                # (h59: another web server's 501 page was printed whole, blaming the frames;
                # a 404 may be a model server's own, for a path it does not serve: h60)
                whose = "" if exc.code in (404, 405) else ", not an MLflow model server's answer"
                raise MerError(f"no model is served at {self.url} (HTTP {exc.code} "
                               f"{exc.reason} for {request.full_url}{whose}): {BASE_URL_HINT} "
                               "(without /invocations; `mer ui`'s is the MLflow UI, not a "
                               f"model server), or {SERVE_HINT}") from None
            raise MerError(f"{window.description}: the model server refused it (HTTP "
                           f"{exc.code}): {served}") from None
        except TimeoutError:
            raise MerError(f"{window.description}: the model server at {self.url} gave no "
                           f"answer within {TIMEOUT_S:.0f} s: send a shorter window") from None
        except (urllib.error.URLError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, ssl.SSLError):  # (h60: "no server answers ... start one")
                raise MerError(f"the server at {self.url} does not answer HTTPS ({reason}): "
                               "`mlflow models serve` speaks plain HTTP, so give its URL with "
                               "http://") from None
            if isinstance(reason, ConnectionResetError | BrokenPipeError):
                # a server is there (h59: a URL with a path was told none answers): one that
                # refuses a path answers before the request is sent, then drops it
                raise MerError(f"the server at {self.url} closed the connection before "
                               f"answering ({reason}): either it serves no model at "
                               f"{request.full_url} ({BASE_URL_HINT}), or the model server "
                               "stopped (see its log)") from None
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


def _served_message(error: urllib.error.HTTPError) -> str | None:
    """The message of an MLflow scoring server's error body (a JSON object with a message:
    mer's own for a refused request, MLflow's for one its signature refuses); None for any
    other body, which no MLflow model server sends."""
    try:
        answer = json.loads(error.read().decode("utf-8", "replace"))
    except (OSError, ValueError):
        return None
    message = answer.get("message") if isinstance(answer, dict) else None
    if message is None:
        return None
    text = str(message)  # (h60: 5000 characters were printed whole)
    return text if len(text) <= MESSAGE_SHOWN else f"{text[:MESSAGE_SHOWN]}... (cut)"


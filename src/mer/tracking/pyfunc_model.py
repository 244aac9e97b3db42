"""MLflow models-from-code entry: the registered model is this file plus mer's code and a bundle.

Logged by `mer register`; loaded by `mlflow models serve` and mlflow.pyfunc.load_model (`mer
predict` reads the bundle itself, after checking the MLmodel file: registry.load_model_bundle).

Errors reach the scoring server as MlflowExceptions, which it answers without a stack trace: a
request mer refuses (MerError: bad base64, not an image, one frame, no face, ...) is HTTP 400
INVALID_PARAMETER_VALUE whose "message" is mer's message, also under "mer_error"; anything else
is HTTP 500 naming no detail, its traceback only in the server's log. (MLflow turns any other
exception into a 400 whose body carries the whole stack trace, server paths included.)

One request at a time per process: the scoring server calls predict from a thread pool, and
what a prediction runs (OpenCV's DIS optical flow object, dlib's detector and shape predictor,
each built once per process) is not safe to share between threads (a break-it session: two
concurrent requests got each other's probabilities, then the server died of a SIGSEGV). For
requests in parallel, serve several processes (`mlflow models serve --workers N`).
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INTERNAL_ERROR, INVALID_PARAMETER_VALUE
from mlflow.pyfunc import PythonModel

from mer.errors import MerError
from mer.inference.predictor import BUNDLE_ARTIFACT

log = logging.getLogger("mer.serving")


class ServedError(MlflowException):
    """An error whose JSON answer says ``message`` alone. The scoring server rewrites the
    ``message`` of any MlflowException a model raises into "Failed to predict data '<the
    request as a DataFrame>'. Error: ...", which buries mer's message in truncated base64."""

    def __init__(self, message: str, error_code: int, **kwargs: Any) -> None:
        super().__init__(message, error_code=error_code, **kwargs)
        self.own_message = message

    def serialize_as_json(self) -> str:
        return json.dumps({**json.loads(super().serialize_as_json()),
                           "message": self.own_message})


class MerPyfuncModel(PythonModel):
    def load_context(self, context: Any) -> None:
        from mer.inference.predictor import load_bundle

        self.bundle = load_bundle(context.artifacts[BUNDLE_ARTIFACT])
        self.one_at_a_time = threading.Lock()  # see the module's docstring

    def predict(self, context: Any, model_input: pd.DataFrame,
                params: dict[str, Any] | None = None) -> pd.DataFrame:
        from mer.inference.serving import predict_request

        try:
            with self.one_at_a_time:
                return predict_request(self.bundle, model_input)
        except MerError as exc:
            log.warning("request refused: %s", exc)
            raise ServedError(str(exc), INVALID_PARAMETER_VALUE, mer_error=str(exc)) from None
        except Exception:
            log.exception("mer failed on a request")
            raise ServedError("mer failed on this request with an internal error; its details "
                              "are in the model server's log", INTERNAL_ERROR) from None


mlflow.models.set_model(MerPyfuncModel())

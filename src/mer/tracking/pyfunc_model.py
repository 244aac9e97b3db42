"""MLflow models-from-code entry: the registered model is this file plus mer's code and a bundle.

Logged by `mer register`; loaded by `mlflow models serve` and mlflow.pyfunc.load_model (`mer
predict` reads the bundle itself, after checking the MLmodel file: registry.load_model_bundle).

Errors reach the scoring server as MlflowExceptions, which it answers without a stack trace: a
request mer refuses (MerError: bad base64, not an image, one frame, no face, ...) is HTTP 400
INVALID_PARAMETER_VALUE with mer's message, also alone under "mer_error"; anything else is HTTP
500 naming no detail, its traceback only in the server's log. (MLflow turns any other exception
into a 400 whose body carries the whole stack trace, server paths included.)
"""

from __future__ import annotations

import logging
from typing import Any

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INTERNAL_ERROR, INVALID_PARAMETER_VALUE
from mlflow.pyfunc import PythonModel

from mer.errors import MerError
from mer.inference.predictor import BUNDLE_ARTIFACT

log = logging.getLogger("mer.serving")


class MerPyfuncModel(PythonModel):
    def load_context(self, context: Any) -> None:
        from mer.inference.predictor import load_bundle

        self.bundle = load_bundle(context.artifacts[BUNDLE_ARTIFACT])

    def predict(self, context: Any, model_input: pd.DataFrame,
                params: dict[str, Any] | None = None) -> pd.DataFrame:
        from mer.inference.serving import predict_request

        try:
            return predict_request(self.bundle, model_input)
        except MerError as exc:
            log.warning("request refused: %s", exc)
            raise MlflowException(str(exc), error_code=INVALID_PARAMETER_VALUE,
                                  mer_error=str(exc)) from None
        except Exception:
            log.exception("mer failed on a request")
            raise MlflowException("mer failed on this request with an internal error; its "
                                  "details are in the model server's log",
                                  error_code=INTERNAL_ERROR) from None


mlflow.models.set_model(MerPyfuncModel())

"""MLflow models-from-code entry: the registered model is this file plus mer's code and a bundle.

Logged by `mer register`; loaded by `mlflow models serve`, mlflow.pyfunc.load_model and
`mer predict`.
"""

from __future__ import annotations

from typing import Any

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel

BUNDLE_ARTIFACT = "bundle"


class MerPyfuncModel(PythonModel):
    def load_context(self, context: Any) -> None:
        from mer.inference.pipeline import load_bundle

        self.bundle = load_bundle(context.artifacts[BUNDLE_ARTIFACT])

    def predict(self, context: Any, model_input: pd.DataFrame,
                params: dict[str, Any] | None = None) -> pd.DataFrame:
        from mer.inference.serving import predict_frame

        return predict_frame(self.bundle, model_input)


mlflow.models.set_model(MerPyfuncModel())

"""Untrusted and foreign models, and error answers of the served model, on real components.

What mer loads: an MLflow model logged by `mer register` (models:/name@alias, models:/name/N,
runs:/<run>/model, or its local model folder), checked through its MLmodel file before anything
in it is unpickled. A bare file is never unpickled. The served model answers a request mer
refuses with HTTP 400 and mer's own message, never a stack trace.

One module-scoped project (a tiny synthetic dataset through the real stages into a real MLflow
SQLite registry in tmp) and one real `mlflow models serve` of its champion on 127.0.0.1.
"""

import base64
import json
import os
import pickle
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mer.errors import MerError
from mer.inference.serving import encode_frames
from registry_helpers import (
    FACES,
    MODEL,
    REPO,
    in_process,
    mer,
    model_folder,
    registered_project,
    run,
    served_champion,
)

pytestmark = [pytest.mark.faults, pytest.mark.slow]

FACE = FACES / "obama-480p.jpg"
FOREIGN = "not-mer"
REQUEST_S = 60


FOREIGN_SCRIPT = f"""
import mlflow, numpy as np
from sklearn.linear_model import LogisticRegression
model = LogisticRegression().fit(np.array([[0.0], [1.0]]), [0, 1])
with mlflow.start_run(run_name="foreign"):
    mlflow.sklearn.log_model(model, name="model", registered_model_name="{FOREIGN}")
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = registered_project(tmp_path_factory.mktemp("project"))
    mer(root, "promote", "--version", "1")
    run(root, "-c", FOREIGN_SCRIPT)  # a real, registered, non-mer MLflow model
    return root


@pytest.fixture
def tracking(project, monkeypatch):
    """In-process loads read the project's registry (registry_helpers.in_process)."""
    in_process(project, monkeypatch)
    return project


def registered_run_id(project: Path) -> str:
    return json.loads((project / "reports" / "registered.json").read_text())["run_id"]


class Payload:
    """Unpickling this creates ``marker``: stands for any code a crafted pickle runs."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.makedirs, (self.marker,))


def crafted_pickle(path: Path, marker: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(Payload(marker)))
    return path


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    return lines[0]


# --- 1. an untrusted model file never runs code -------------------------------------------


def test_a_crafted_pickle_given_as_model_is_never_unpickled(project, tmp_path):
    marker = tmp_path / "pwned"
    evil = crafted_pickle(tmp_path / "bundle.pkl", marker)
    line = one_line_error(mer(project, "predict", "--pair", str(FACE), str(FACE),
                              "--model", str(evil), check=False))
    assert not marker.exists(), "the crafted pickle ran"
    assert str(evil) in line and "models:/" in line and "mer register" in line


def test_a_crafted_pickle_inside_a_foreign_model_folder_is_never_unpickled(tmp_path):
    """A real sklearn model folder whose model.pkl is replaced: MLflow's own sklearn loader
    would unpickle it; mer refuses on the MLmodel file first."""
    import mlflow
    from sklearn.linear_model import LogisticRegression

    from mer.tracking.registry import load_model_bundle

    folder = tmp_path / "sk"
    mlflow.sklearn.save_model(LogisticRegression().fit(np.array([[0.0], [1.0]]), [0, 1]),
                              str(folder), serialization_format="cloudpickle")
    marker = tmp_path / "pwned"
    crafted_pickle(folder / "model.pkl", marker)
    with pytest.raises(MerError, match="not a mer model") as refused:
        load_model_bundle(str(folder))
    assert not marker.exists(), "the crafted pickle ran"
    assert "sklearn" in str(refused.value)


def forge(project: Path, tmp_path: Path, edit) -> tuple[Path, Path]:
    """A copy of the real mer model folder with a crafted bundle and ``edit`` applied to its
    MLmodel dict."""
    folder = tmp_path / "forged"
    shutil.copytree(model_folder(project), folder)
    marker = tmp_path / "pwned"
    crafted_pickle(folder / "artifacts" / "bundle.pkl", marker)
    mlmodel = yaml.safe_load((folder / "MLmodel").read_text())
    edit(mlmodel)
    (folder / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    return folder, marker


def no_bundle_format(mlmodel: dict) -> None:
    mlmodel.pop("metadata", None)  # what a model registered by an older mer looks like


def old_bundle_format(mlmodel: dict) -> None:
    mlmodel.setdefault("metadata", {})["mer_bundle_format"] = 1


def outside_bundle(mlmodel: dict) -> None:
    mlmodel["flavors"]["python_function"]["artifacts"]["bundle"]["path"] = "../outside.pkl"


def foreign_loader(mlmodel: dict) -> None:
    mlmodel["flavors"]["python_function"]["loader_module"] = "mlflow.sklearn"


@pytest.mark.parametrize(("edit", "message"), [
    (no_bundle_format, "does not record its bundle format"),
    (old_bundle_format, "bundle format 1"),
    (outside_bundle, "outside the model folder"),
    (foreign_loader, "not a mer model"),
], ids=["no-format", "old-format", "escaping-path", "foreign-loader"])
def test_a_mer_shaped_folder_is_checked_before_anything_is_unpickled(project, tracking,
                                                                     tmp_path, edit, message):
    from mer.tracking.registry import load_model_bundle

    folder, marker = forge(project, tmp_path, edit)
    crafted_pickle(tmp_path / "outside.pkl", marker)
    with pytest.raises(MerError, match=message):
        load_model_bundle(str(folder))
    assert not marker.exists(), "the crafted pickle ran"


def test_a_run_artifact_that_is_a_bare_pickle_is_refused(tracking, tmp_path):
    import mlflow

    from mer.tracking.registry import load_model_bundle

    marker = tmp_path / "pwned"
    evil = crafted_pickle(tmp_path / "evil.pkl", marker)
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    with mlflow.start_run(run_name="evil") as planted:
        mlflow.log_artifact(str(evil))
    with pytest.raises(MerError, match="MLflow model"):
        load_model_bundle(f"runs:/{planted.info.run_id}/evil.pkl")
    assert not marker.exists(), "the crafted pickle ran"


def test_every_trusted_form_of_the_mer_model_still_loads(project, tracking):
    from mer.inference.predictor import ModelBundle
    from mer.tracking.registry import load_model_bundle

    uris = [f"models:/{MODEL}@champion", f"models:/{MODEL}/1",
            f"runs:/{registered_run_id(project)}/model", str(model_folder(project))]
    bundles = [load_model_bundle(uri) for uri in uris]
    assert all(isinstance(bundle, ModelBundle) for bundle in bundles)
    assert {bundle.classes for bundle in bundles} == {bundles[0].classes}


# --- 2. a non-mer MLflow model is one clear line --------------------------------------------


def test_a_registered_non_mer_model_is_one_clear_line(project):
    uri = f"models:/{FOREIGN}/1"
    line = one_line_error(mer(project, "predict", "--pair", str(FACE), str(FACE),
                              "--model", uri, check=False))
    assert uri in line and "not a mer model" in line and "mer register" in line


class Echo:
    """A foreign pyfunc model (cloudpickled by MLflow)."""

    def predict(self, context, model_input, params=None):
        return model_input


def test_a_foreign_pyfunc_folder_is_refused_without_loading_it(tmp_path):
    import mlflow
    from mlflow.pyfunc import PythonModel

    from mer.tracking.registry import load_model_bundle

    folder = tmp_path / "echo"
    mlflow.pyfunc.save_model(str(folder), python_model=type("EchoModel", (PythonModel,),
                                                             {"predict": Echo.predict})())
    marker = tmp_path / "pwned"
    crafted_pickle(folder / "python_model.pkl", marker)
    with pytest.raises(MerError, match="not a mer model"):
        load_model_bundle(str(folder))
    assert not marker.exists(), "the crafted pickle ran"


# --- 3. the served model answers refused requests with mer's message ------------------------


@pytest.fixture(scope="module")
def server(project, tmp_path_factory):
    with served_champion(project, tmp_path_factory.mktemp("server") / "server.log") as url:
        yield url


def post(url: str, request: pd.DataFrame) -> tuple[int, str]:
    body = json.dumps({"dataframe_split": request.to_dict("split")}).encode()
    call = urllib.request.Request(f"{url}/invocations", data=body,
                                  headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(call, timeout=REQUEST_S) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def face_frames() -> list[str]:
    import cv2

    return json.loads(encode_frames([cv2.imread(str(FACE))] * 2, ".jpg"))


def bad_base64() -> str:
    return json.dumps(["%%% not base64 %%%", face_frames()[1]])


def not_an_image() -> str:
    junk = base64.b64encode(b"this is text, not an image").decode()
    return json.dumps([face_frames()[0], junk])


def one_frame() -> str:
    return json.dumps(face_frames()[:1])


def no_face() -> str:
    noise = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    return encode_frames([noise, noise])


@pytest.mark.parametrize(("frames", "words"), [
    (bad_base64, "base64"), (not_an_image, "image"), (one_frame, "two"), (no_face, "face"),
], ids=["bad-base64", "not-an-image", "one-frame", "no-face"])
def test_a_refused_request_is_400_with_mers_message_and_no_stack_trace(
        project, tracking, server, frames, words):
    from mer.inference.serving import predict_request
    from mer.tracking.registry import load_model_bundle

    request = pd.DataFrame({"frames": [frames()], "apex_index": [-1]})
    with pytest.raises(MerError) as expected:  # what mer itself says about this request
        predict_request(load_model_bundle(f"models:/{MODEL}@champion"), request)
    status, text = post(server, request)
    assert status == 400, text
    answer = json.loads(text)
    assert answer["error_code"] == "INVALID_PARAMETER_VALUE"
    assert answer["message"] == answer["mer_error"] == str(expected.value)
    assert words in answer["message"]
    assert "stack_trace" not in answer and "Traceback" not in text
    assert "site-packages" not in text and str(project) not in text and str(REPO) not in text


def test_a_good_request_still_answers(server):
    from mer.inference.sources import from_video

    moving = encode_frames(from_video(FACES / "video_01.mp4", 0, 6).frames)
    request = pd.DataFrame({"frames": [moving, json.dumps(face_frames())],
                            "apex_index": [-1, 1]})
    status, text = post(server, request)
    assert status == 200, text
    answer, still = json.loads(text)["predictions"]
    assert sum(v for k, v in answer.items() if k.startswith("prob_")) == pytest.approx(1, abs=1e-4)
    # Every field is a JSON value of its own kind, none a JSON document inside a string.
    assert isinstance(answer["moving_regions"], dict) and len(answer["moving_regions"]) == 3
    assert all(isinstance(v, float) for v in answer["moving_regions"].values())
    assert isinstance(answer["label"], str) and not answer["label"].startswith(("{", "["))
    assert answer["no_motion"] is False
    # The same face twice: a label, but flagged, and no region said to have moved (a break-it
    # session: regions of 0.0 px were listed as "the AU regions that moved most").
    assert still["no_motion"] is True and still["moving_regions"] == {}

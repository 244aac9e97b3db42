"""The whole loop on a tiny real pipeline: register, promote by alias, predict, serve over HTTP.

One module-scoped project: a small synthetic dataset goes through the real stages (dlib, DIS
flow, Lightning CNN, Optuna SVM) and into a real MLflow SQLite registry in tmp_path.
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mer.inference.serving import encode_frames
from mer.inference.sources import from_video

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
FACES = REPO / "tests" / "fixtures" / "faces"
VIDEO = FACES / "video_01.mp4"
MODEL = "mer-test"
CLASSES = ("happiness", "disgust", "surprise", "repression", "others")
SERVER_START_S = 90


def tiny_params() -> dict:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["data"]["synthetic"].update(subjects=4, clips=24, frame_width=160, frame_height=192)
    params["train"]["cnn"]["epochs"] = 2
    params["train"]["svm"].update(trials=3, inner_folds=2)
    params["tracking"]["model_name"] = MODEL
    return params


def mer(project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run([sys.executable, "-m", "mer.cli", *args], cwd=project, env=env,
                            capture_output=True, text=True, check=False)
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("project")
    (root / "params.yaml").write_text(yaml.safe_dump(tiny_params()))
    for stage in ("synthesize", "data", "faces", "features", "register"):
        mer(root, stage)
    return root


def test_register_records_a_version_without_promoting(project):
    record = json.loads((project / "reports" / "registered.json").read_text())
    assert record["name"] == MODEL and record["version"] == "1"
    from mlflow import MlflowClient

    uri = f"sqlite:///{project / 'mlflow.db'}"
    # registry_uri too: an earlier in-process test may have set MLflow's global registry URI
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    version = client.get_model_version(MODEL, "1")
    assert version.aliases == []  # registering never promotes
    model = client.get_registered_model(MODEL)
    assert "champion" not in model.aliases


def test_promote_moves_aliases_and_predict_loads_the_champion(project):
    assert "version 1" in mer(project, "promote", "--version", "1").stdout
    mer(project, "promote", "--alias", "challenger", "--version", "1")
    result = mer(project, "predict", "--video", str(VIDEO), "--start", "0", "--end", "6")
    prediction = json.loads(result.stdout)
    assert prediction["model"] == f"models:/{MODEL}@champion"
    assert prediction["label"] in CLASSES
    assert set(prediction["probabilities"]) == set(CLASSES)
    assert sum(prediction["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    assert prediction["label"] == max(prediction["probabilities"],
                                      key=prediction["probabilities"].get)
    assert 0 < prediction["apex_index"] <= 6 and prediction["apex_estimated"]
    assert len(prediction["moving_regions"]) == 3
    challenger = mer(project, "predict", "--video", str(VIDEO), "--start", "0", "--end", "6",
                     "--model", f"models:/{MODEL}@challenger")
    assert json.loads(challenger.stdout)["probabilities"] == prediction["probabilities"]


def test_predict_on_an_image_pair(project):
    mer(project, "promote", "--version", "1")
    face = str(FACES / "obama-480p.jpg")
    prediction = json.loads(mer(project, "predict", "--pair", face, face).stdout)
    assert prediction["label"] in CLASSES
    assert prediction["apex_index"] == 1 and not prediction["apex_estimated"]


def test_promoting_a_missing_version_is_a_clear_error(project):
    result = mer(project, "promote", "--version", "7", check=False)
    assert result.returncode == 2
    assert "has no version 7" in result.stderr and "Traceback" not in result.stderr


def test_unknown_model_is_a_clear_error(project):
    result = mer(project, "predict", "--pair", str(FACES / "biden.jpg"),
                 str(FACES / "biden.jpg"), "--model", "models:/no-such-model@champion",
                 check=False)
    assert result.returncode == 2
    assert "cannot load model 'models:/no-such-model@champion'" in result.stderr


def test_no_face_is_a_clear_error(project, tmp_path):
    import cv2

    noise = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "a.png"), noise)
    cv2.imwrite(str(tmp_path / "b.png"), noise)
    mer(project, "promote", "--version", "1")
    result = mer(project, "predict", "--pair", str(tmp_path / "a.png"), str(tmp_path / "b.png"),
                 check=False)
    assert result.returncode == 2
    assert "no face" in result.stderr and "Traceback" not in result.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_served_champion_answers_like_mer_predict(project):
    mer(project, "promote", "--version", "1")
    expected = json.loads(mer(project, "predict", "--video", str(VIDEO), "--start", "0",
                              "--end", "6").stdout)
    window = from_video(VIDEO, 0, 6)
    body = json.dumps({"dataframe_split": pd.DataFrame({
        "frames": [encode_frames(window.frames)], "apex_index": [-1]}).to_dict("split")})
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "models", "serve", "-m", f"models:/{MODEL}@champion",
         "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)],
        cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True)
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            assert server.poll() is None, server.stderr.read().decode()[-3000:]
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline, "the model server did not start"
                time.sleep(1)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations", data=body.encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.loads(response.read())["predictions"][0]
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
    assert answer["label"] == expected["label"]
    for name, probability in expected["probabilities"].items():
        assert answer[f"prob_{name}"] == pytest.approx(probability, abs=1e-5)

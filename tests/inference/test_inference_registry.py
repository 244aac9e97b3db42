"""The whole loop on a tiny real pipeline: register, promote by alias, predict, serve over HTTP.

One module-scoped project: a small synthetic dataset goes through the real stages (dlib, DIS
flow, Lightning CNN, Optuna SVM) and into a real MLflow SQLite registry in tmp_path.
"""

import csv
import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient

from mer.config import LongVideoParams
from mer.data.long_video import Interval
from mer.errors import MerError
from mer.inference.serving import encode_frames
from mer.inference.sources import from_video
from registry_helpers import (
    COMMAND_S,
    FACES,
    MODEL,
    REPO,
    environment,
    in_process,
    mer,
    model_folder,
    registered_project,
    run,
    served_champion,
    team_server,
    tiny_params,
)

pytestmark = pytest.mark.slow

VIDEO = FACES / "video_01.mp4"
README = REPO / "README.md"
CLASSES = ("happiness", "disgust", "surprise", "repression", "others")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return registered_project(tmp_path_factory.mktemp("project"))


def faceless_pair(folder: Path) -> list[str]:
    """Two 320 x 240 noise images in ``folder``, an onset/apex pair without a face."""
    import cv2

    noise = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    pair = [str(folder / name) for name in ("a.png", "b.png")]
    for name in pair:
        cv2.imwrite(name, noise)
    return pair


@pytest.fixture(scope="module")
def champion(project):
    """Version 1 promoted to champion by `mer promote`, once for the tests that load it (each
    promoted it again, a process of seconds); after test_register_records_a_version_without_
    promoting, which needs it unpromoted."""
    assert "version 1" in mer(project, "promote", "--version", "1").stdout


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
    (provenance,) = (project / "mlruns").rglob("provenance.json")
    recorded = json.loads(provenance.read_text())
    # the default, pretrained CNNs: the final model's start from the net register pretrained
    # once in data/pretrain, and the version says which
    (weights,) = (project / "data/pretrain").glob("*/flownet.pt")
    report = json.loads((weights.parent / "pretrain.json").read_text())
    assert report["subjects"] == 2 and report["clips"] >= 2
    assert recorded["pretrain"] == {
        **tiny_params()["train"]["cnn"]["pretrain"],
        "weights_sha256": hashlib.sha256(weights.read_bytes()).hexdigest()}
    # The README audit: the README said provenance.json gives C and gamma, null with the
    # default hybrid (its expert an OFF-ApexNet, no SVM), and nothing said what it averaged.
    assert recorded["experts"] == ["off-apexnet"]
    assert recorded["c"] is None and recorded["gamma"] is None


def test_the_signature_declares_what_the_served_model_answers(project):
    """moving_regions is a map (its keys, the regions that moved most, vary per request)."""
    (mlmodel,) = [p for p in (project / "mlruns").rglob("MLmodel")
                  if (p.parent / "pyfunc_model.py").exists()]
    signature = yaml.safe_load(mlmodel.read_text())["signature"]
    outputs = {column["name"]: column for column in json.loads(signature["outputs"])}
    assert outputs["moving_regions"]["type"] == "map"
    assert outputs["moving_regions"]["values"] == {"type": "double"}
    assert {outputs[f"prob_{name}"]["type"] for name in CLASSES} == {"double"}
    assert outputs["label"]["type"] == "string"


def test_a_lost_face_says_what_to_change(project, champion):
    """The fixture video is a several-person scene: over all 90 frames the face is lost."""
    result = mer(project, "predict", "--video", str(VIDEO), check=False)
    assert result.returncode == 2, result.stderr
    message = result.stderr.strip().splitlines()[-1]
    assert "face lost on frame" in message and "--start/--end" in message
    assert "faces.min_correlation" in message and "Traceback" not in result.stderr


def test_a_pair_whose_face_is_lost_gets_advice_for_a_pair(project, champion, tmp_path):
    """A break-it session: frames 0 and 10 of the fixture video as --pair were told to choose
    a shorter window with --start/--end or --onset/--offset, options --pair does not take."""
    import cv2

    window = from_video(VIDEO, 0, 10).frames
    pair = [str(tmp_path / "onset.png"), str(tmp_path / "apex.png")]
    for name, frame in zip(pair, (window[0], window[10]), strict=True):
        cv2.imwrite(name, frame)
    result = mer(project, "predict", "--pair", *pair, check=False)
    assert result.returncode == 2, result.stderr
    message = result.stderr.strip().splitlines()[-1]
    assert "face lost on frame 1" in message and "(frame 0 the onset image, 1 the apex)" in message
    assert "--start" not in message and "--onset" not in message


def test_a_lost_face_is_named_by_its_frame_in_the_video(project, champion):
    """The issue: the message gave the frame's index in the window (29 for frame 89)."""
    import re

    result = mer(project, "predict", "--video", str(VIDEO), "--start", "60", "--end", "89",
                 check=False)
    assert result.returncode == 2, result.stderr
    message = result.stderr.strip().splitlines()[-1]
    assert "frames 60..89: " in message
    (frame,) = re.findall(r"(?:face lost on|and) frame (\d+)", message)
    assert 60 < int(frame) <= 89


def test_an_interval_without_a_face_is_its_rows_error_not_the_videos(project, in_project):
    """The issue: no face on one spotted interval's onset aborted the whole `mer spot` run
    (and --follow, and a served video request); it is that row's recognition_error."""
    import cv2

    from mer.inference.spot_recognise import recognise
    from mer.spotting.spotter import Spot
    from mer.tracking.registry import load_model_bundle

    bundle = load_model_bundle(f"models:/{MODEL}/1")
    noise = np.random.default_rng(0).integers(0, 255, (5, 240, 320, 3), dtype=np.uint8)
    frames = [cv2.GaussianBlur(f, (9, 9), 0) for f in noise]
    found = Spot(Interval(100, 102, 104, "micro"), 0.9)
    row = recognise(bundle, found, 30.0, frames, "v.mp4")
    assert row.prediction is None
    assert row.error.startswith("v.mp4 frames 100..104: no face found on the onset frame")
    assert row.row(bundle.classes)["recognition_error"] == row.error
    # A break-it session: the reason was cut at the first '. ', in 'Mr. Smith.mp4' too,
    # leaving '/videos/Mr'. It is the whole reason, and no advice.
    dotted = recognise(bundle, found, 30.0, frames, "/videos/Mr. Smith.mp4")
    assert dotted.error == ("/videos/Mr. Smith.mp4 frames 100..104: no face found on the onset "
                            "frame (320x240 px, dlib upsampling 1)"), dotted.error


def test_a_face_lost_after_a_gap_is_named_by_the_folder_s_number(project, champion, in_project):
    """The re-check: in a folder whose numbering has a gap inside a spotted interval, the
    recognition_error counted on from the interval's first number, naming a frame in the gap
    (402 for the file img412.jpg). It names the frames by the folder's numbers."""
    from mer.inference.spot_recognise import recognise
    from mer.spotting.spotter import Spot
    from mer.tracking.registry import load_model_bundle

    bundle = load_model_bundle(f"models:/{MODEL}/1")
    faces = list(from_video(VIDEO, 0, 1).frames)
    blank = np.zeros_like(faces[0])
    numbers = [*range(1, 102), *range(110, 120)]  # img1..img101, then img110..: a gap
    found = Spot(Interval(99, 100, 103, "micro"), 0.9)  # img100, img101, img110..img112
    row = recognise(bundle, found, 30.0, [*faces, blank, blank, blank], "folder", numbers)
    assert row.prediction is None
    assert row.error.startswith("folder frames 100..112: face lost on frame 112")  # not 104

    mer(project, "promote", "--alias", "challenger", "--version", "1")
    result = mer(project, "predict", "--video", str(VIDEO), "--start", "0", "--end", "6")
    prediction = json.loads(result.stdout)
    assert prediction["model"] == f"models:/{MODEL}@champion"
    # the version the alias named: the answer stays traceable after the alias moves
    assert prediction["model_version"] == f"models:/{MODEL}/1"
    assert prediction["input"] == str(VIDEO)
    assert prediction["label"] in CLASSES
    probabilities = {c: prediction[f"prob_{c}"] for c in CLASSES}
    assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-4)
    assert prediction["label"] == max(probabilities, key=probabilities.get)
    assert 0 < prediction["apex_index"] <= 6 and prediction["apex_estimated"]
    assert len(prediction["moving_regions"]) == 3
    challenger = mer(project, "predict", "--video", str(VIDEO), "--start", "0", "--end", "6",
                     "--model", f"models:/{MODEL}@challenger")
    assert {c: json.loads(challenger.stdout)[f"prob_{c}"] for c in CLASSES} == probabilities


def test_predict_on_an_image_pair(project, champion):
    face = str(FACES / "obama-480p.jpg")
    result = mer(project, "predict", "--pair", face, face)
    prediction = json.loads(result.stdout)
    assert prediction["label"] in CLASSES
    assert prediction["apex_index"] == prediction["apex_frame"] == 1
    assert not prediction["apex_estimated"]
    # The same image twice moves nothing: flagged and warned, no region listed as moving (a
    # break-it session: a confident-looking class and three regions of 0.0 px, no word).
    assert prediction["no_motion"] is True and prediction["moving_regions"] == {}
    assert f"{face} {face}: no facial motion between the onset and the apex" in result.stderr


def test_predict_gives_the_apex_as_the_inputs_frame_number(project, champion, tmp_path):
    """--apex is a frame number of the video or folder; the answer gave it back only as an
    index into the window (a break-it session: --start 65 --apex 70 answered apex_index 5)."""
    import cv2

    video = json.loads(mer(project, "predict", "--video", str(VIDEO), "--start", "1",
                           "--end", "6", "--apex", "4").stdout)
    assert (video["apex_frame"], video["apex_index"]) == (4, 3)
    assert video["no_motion"] is False and len(video["moving_regions"]) == 3
    folder = tmp_path / "clip"
    folder.mkdir()
    for position, frame in enumerate(from_video(VIDEO, 0, 6).frames):
        cv2.imwrite(str(folder / f"img{position + 40}.png"), frame)
    out = tmp_path / "predictions.csv"
    mer(project, "predict", "--clip", str(folder), str(folder), "--out", str(out))
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 2 and {r["apex_frame"] for r in rows} == {
        str(int(rows[0]["apex_index"]) + 40)}
    assert rows[0]["no_motion"] == "False"


def test_a_moved_project_says_where_its_model_files_were(project, champion, tmp_path):
    """MLflow's store records absolute paths: in a project folder moved away from them, a model
    not yet in the model cache cannot be read, and mer says why instead of "no MLmodel"."""
    pair = faceless_pair(tmp_path)
    moved = project.with_name(f"{project.name}-moved")
    project.rename(moved)
    try:
        done = subprocess.run([sys.executable, "-m", "mer.cli", "predict", "--pair", *pair],
                              cwd=moved, capture_output=True, text=True, check=False,
                              env={**environment(moved), "MER_MODEL_CACHE": str(tmp_path)})
        # A break-it session: such a version could still be promoted, to a champion every
        # `mer predict` then fails to load.
        promoted = subprocess.run([sys.executable, "-m", "mer.cli", "promote", "--alias",
                                   "canary", "--version", "1"], cwd=moved,
                                  capture_output=True, text=True, check=False,
                                  env=environment(moved))
    finally:
        moved.rename(project)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert f"keeps its files in {project / 'mlruns'}/" in done.stderr
    assert "which no longer exists" in done.stderr
    assert f"moved or copied from {project} still reads from there" in done.stderr
    assert promoted.returncode == 2 and "Traceback" not in promoted.stderr, promoted.stderr
    assert (f"cannot promote model 'models:/{MODEL}/1': the registry keeps its files in "
            f"{project / 'mlruns'}/") in promoted.stderr
    registry = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    assert "canary" not in registry.get_registered_model(MODEL).aliases


def test_promoting_a_missing_version_is_a_clear_error(project):
    result = mer(project, "promote", "--version", "7", check=False)
    assert result.returncode == 2
    assert "has no version 7" in result.stderr and "Traceback" not in result.stderr


def test_an_alias_differing_in_case_only_is_refused(project, champion):
    """`--alias Champion` made a second alias beside 'champion', on another version."""
    result = mer(project, "promote", "--alias", "Champion", "--version", "1", check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "use --alias champion" in result.stderr


def test_unknown_model_is_a_clear_error(project):
    result = mer(project, "predict", "--pair", str(FACES / "biden.jpg"),
                 str(FACES / "biden.jpg"), "--model", "models:/no-such-model@champion",
                 check=False)
    assert result.returncode == 2
    assert "cannot load model 'models:/no-such-model@champion'" in result.stderr


def test_no_face_is_a_clear_error(project, champion, tmp_path):
    result = mer(project, "predict", "--pair", *faceless_pair(tmp_path), check=False)
    assert result.returncode == 2
    assert "no face" in result.stderr and "Traceback" not in result.stderr
    assert "facing the camera" in result.stderr and "faces.upsample 1" in result.stderr


def test_served_champion_answers_like_mer_predict(project, champion, tmp_path):
    expected = json.loads(mer(project, "predict", "--video", str(VIDEO), "--start", "0",
                              "--end", "6").stdout)
    window = from_video(VIDEO, 0, 6)
    body = json.dumps({"dataframe_split": pd.DataFrame({
        "frames": [encode_frames(window.frames)], "apex_index": [-1]}).to_dict("split")})
    with served_champion(project, tmp_path / "server.log") as url:
        request = urllib.request.Request(
            f"{url}/invocations", data=body.encode(), headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.loads(response.read())["predictions"][0]
    assert answer["label"] == expected["label"]
    for name in CLASSES:
        assert answer[f"prob_{name}"] == pytest.approx(expected[f"prob_{name}"], abs=1e-5)
    # The README's request example, pointed at a clip of this tiny project, answers like
    # `mer predict --pair` on the same two files.
    snippet = README.read_text(encoding="utf-8").split("```python\n")[1].split("```")[0]
    manifest = pd.read_parquet(project / "data" / "manifest.parquet")
    row = manifest[manifest["apex"] >= 0].iloc[0]
    folder = Path(row["frame_paths"][0]).parent.as_posix()
    line = next(x for x in snippet.splitlines() if x.startswith("folder, onset, apex = "))
    snippet = snippet.replace(line, f"folder, onset, apex = {folder!r}, {row['onset']}, "
                                    f"{row['apex']}")
    request = run(project, "-c", snippet).stdout
    pair = [row["frame_paths"][0], row["frame_paths"][row["apex"] - row["onset"]]]
    expected = json.loads(mer(project, "predict", "--pair", *pair).stdout)
    faceless = faceless_pair(tmp_path)
    with served_champion(project, tmp_path / "server2.log") as url:
        call = urllib.request.Request(f"{url}/invocations", data=request.encode(),
                                      headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(call, timeout=60) as response:
            answer = json.loads(response.read())["predictions"][0]
        # `mer predict --server` asks that served model: the local answer, byte for byte,
        # but for the model it names; a refused request is mer's own message.
        remote = json.loads(mer(project, "predict", "--pair", *pair, "--server", url).stdout)
        assert remote == {**expected, "model": url, "model_version": None}
        refused = mer(project, "predict", "--pair", *faceless, "--server", url, check=False)
        assert refused.returncode == 2 and "Traceback" not in refused.stderr
        assert "refused it (HTTP 400)" in refused.stderr and "no face" in refused.stderr
    gone = mer(project, "predict", "--pair", *pair, "--server", url, check=False)
    assert gone.returncode == 2 and "no model server answers at" in gone.stderr
    assert "mlflow models serve" in gone.stderr
    assert answer["label"] == expected["label"] and answer["apex_index"] == 1
    for name in CLASSES:
        assert answer[f"prob_{name}"] == pytest.approx(expected[f"prob_{name}"], abs=1e-5)
    assert list(answer["moving_regions"]) == list(expected["moving_regions"])
    assert answer["moving_regions"] == pytest.approx(expected["moving_regions"], abs=1e-3)
    # The answer has the shape the README shows: its fields, each of the README's JSON kind
    # (moving_regions an object of numbers, not a JSON document inside a string).
    shown = json.loads(README.read_text(encoding="utf-8").split("```json\n")[1]
                       .split("```")[0])["predictions"][0]
    assert list(answer) == list(shown)
    for field, value in shown.items():
        assert type(answer[field]) is type(value), field
    assert len(answer["moving_regions"]) == len(shown["moving_regions"])


def api(url: str, path: str, body: dict | None = None) -> dict:
    """A call of the MLflow server's REST API (what its UI reads)."""
    request = urllib.request.Request(
        f"{url}/api/2.0/mlflow/{path}", headers={"Content-Type": "application/json"},
        data=None if body is None else json.dumps(body).encode())
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_a_team_server_receives_runs_figures_and_the_registered_model(project, tmp_path,
                                                                      monkeypatch):
    """MLFLOW_TRACKING_URI=http://...: train, evaluate and register log to a real `mlflow
    server`, their files through its proxied artifact store; nothing lands in the project."""
    import shutil

    from mer.cli import main
    from mer.tracking.store import PARENT_TAG

    copy = tmp_path / "project"
    shutil.copytree(project, copy, ignore=shutil.ignore_patterns("mlflow.db*", "mlruns"))
    params = yaml.safe_load((copy / "params.yaml").read_text())
    monkeypatch.chdir(copy)
    with team_server(tmp_path / "server") as url:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
        # register first, with the hybrid in train.models (without it nothing is registered)
        # and no evaluation yet; then train and evaluate the SVM alone, in seconds
        assert main(["register"]) == 0
        params["train"].update(models=["svm"], parallel_folds=1)
        (copy / "params.yaml").write_text(yaml.safe_dump(params))
        for stage in ("train", "evaluate"):
            assert main([stage]) == 0, stage

        experiment = api(url, "experiments/get-by-name?experiment_name=mer")["experiment"]
        assert experiment["artifact_location"].startswith("mlflow-artifacts:")  # proxied
        runs = api(url, "runs/search", {"experiment_ids": [experiment["experiment_id"]],
                                        "max_results": 1000})["runs"]
        tags = {run["info"]["run_id"]: {t["key"]: t["value"] for t in run["data"]["tags"]}
                for run in runs}
        (evaluation,) = [run for run, tag in tags.items() if tag.get("mer.kind") == "evaluation"]
        folds = [tag for tag in tags.values() if tag.get(PARENT_TAG) == evaluation]
        assert len(folds) == 3 * 4  # (svm, majority, au-oracle) x 4 subjects
        record = json.loads((copy / "reports" / "registered.json").read_text())
        version = api(url, f"model-versions/get?name={MODEL}&version={record['version']}")
        assert version["model_version"]["run_id"] == record["run_id"] in tags
    stored = {p.name for p in (tmp_path / "server" / "artifacts").rglob("*") if p.is_file()}
    assert {"predictions.csv", "MLmodel"} <= stored  # the training's and the model's files
    assert any(name.endswith(".png") for name in stored)  # the evaluation's figures
    assert not (copy / "mlflow.db").exists() and not (copy / "mlruns").exists()


# ---- spot, then recognise (issue 14): `mer spot` and the served model's video request -----

# 6 s, one micro- and one macro-expression; not a video of the spotting corpus (seed 0): the
# registered p were fitted on other videos than the one spotted.
LONG = LongVideoParams(subjects=2, seconds=6.0, micro=1, macro=1, noise=0.5)
LONG_SEED = 4


@pytest.fixture(scope="module")
def long_video(tmp_path_factory):
    """A lossless 30 fps video rendered by the long-video generator, and its micro interval."""
    import cv2

    from mer.synthetic.long_videos import build_face, plan_long_videos, render_long_video

    plan = plan_long_videos(LONG, LONG_SEED)[0]
    path = tmp_path_factory.mktemp("long") / "interview.avi"
    writer = None
    for frame in render_long_video(plan, build_face(plan, LONG, LONG_SEED), LONG, LONG_SEED):
        if writer is None:
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), LONG.fps,
                                     (frame.shape[1], frame.shape[0]))
        writer.write(frame)
    writer.release()
    (micro,) = [e for e in plan.expressions if e.kind == "micro"]
    return path, Interval(micro.onset, micro.apex, micro.offset, "micro")


@pytest.fixture
def in_project(project, monkeypatch):
    """`mer` in this process, in the project, on its store; models:/ URIs resolve there."""
    monkeypatch.chdir(project)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{project / 'mlflow.db'}")
    return project


@pytest.fixture
def spotted(in_project, champion, long_video, tmp_path, capsys):
    """`mer spot --video` on the long video with the champion: the rows it wrote."""
    from mer.cli import main

    assert main(["spot", "--video", str(long_video[0]), "--out", str(tmp_path / "i.json")]) == 0
    err = capsys.readouterr().err
    assert "reports/spotting.json" in err and f"models:/{MODEL}@champion" in err
    rows = json.loads((tmp_path / "i.json").read_text())
    # the summary counts the micro intervals left without a class (it said "recognised")
    micro = sum(r["kind"] == "micro" for r in rows)
    failed = sum(bool(r["recognition_error"]) for r in rows)
    said = "all recognised" if not failed else f"{micro - failed} recognised, {failed} not"
    assert f"({micro} micro, {said}" in err
    return rows


def check_recognised(rows: list[dict], frames: list[np.ndarray], bundle) -> None:
    """Each micro row is the recogniser's answer on its frames onset..offset with the spotted
    apex; macro rows have no class."""
    from mer.inference.predictor import predict_window
    from mer.inference.sources import FrameWindow

    for row in rows:
        probabilities = {c: row[f"prob_{c}"] for c in CLASSES}
        if row["kind"] == "macro":
            assert row["label"] is None and set(probabilities.values()) == {None}
            continue
        on, apex, off = row["onset"], row["apex"], row["offset"]
        found = predict_window(bundle, FrameWindow(tuple(frames[on:off + 1]), apex - on, "x"))
        assert found.apex_index == apex - on and not found.apex_estimated  # spotted apex
        assert row["label"] == found.label == max(probabilities, key=probabilities.get)
        assert probabilities == pytest.approx(found.probabilities, abs=1e-6)
        assert sum(probabilities.values()) == pytest.approx(1, abs=1e-4)


def test_spot_recognises_each_micro_interval_with_the_spotted_apex(spotted, long_video,
                                                                   tmp_path, capsys):
    from mer.cli import main
    from mer.evaluation.spotting import iou
    from mer.inference.sources import video_frames
    from mer.tracking.registry import load_model_bundle

    path, micro = long_video
    hits = [r for r in spotted if r["kind"] == "micro"
            and iou(Interval(r["onset"], r["apex"], r["offset"], "micro"), micro) >= 0.5]
    assert len(hits) == 1 and hits[0]["label"] in CLASSES  # the known micro-expression
    frames = list(video_frames(path)[1])
    bundle = load_model_bundle(f"models:/{MODEL}/1")
    check_recognised(spotted, frames, bundle)
    # --follow classifies each interval as it is reported, from the frames it still holds.
    # One p for both scales: with the tiny corpus's fitted p (micro 0.7, macro 0.2) the
    # micro-expression, the video's first, is decided before the macro one has been seen,
    # so the running macro threshold is low and its macro-scale motion wins the conflict
    # (FollowSpotter), as offline on a video that ended there: no micro row to check.
    assert main(["spot", "--video", str(path), "--follow", "--p", "0.5", "0.5", "--out",
                 str(tmp_path / "f.csv")]) == 0
    assert "x real time" in capsys.readouterr().err
    followed = [{k: (None if v == "" else float(v) if k.startswith("prob_") or k == "confidence"
                     else int(v) if k in ("onset", "apex", "offset") else v)
                 for k, v in row.items()} for row in csv.DictReader((tmp_path / "f.csv").open())]
    assert any(r["kind"] == "micro" for r in followed)
    check_recognised(followed, frames, bundle)


def test_the_registered_model_spots_and_recognises_a_video_request(spotted, long_video,
                                                                   in_project):
    """Real MLflow: the registered pyfunc model answers the README's video request with the
    intervals and classes `mer spot` finds, using the p fitted on the spotting corpus."""
    import mlflow

    from mer.inference.sources import video_frames
    from mer.spotting.signals import video_signals
    from mer.spotting.spotter import spot
    from mer.tracking.registry import load_model_bundle

    snippet = README.read_text(encoding="utf-8").split("```python\n")[2].split("```")[0]
    line = next(x for x in snippet.splitlines() if x.startswith("video = "))
    request = json.loads(run(in_project, "-c", snippet.replace(
        line, f"video = {str(long_video[0])!r}")).stdout)["dataframe_split"]
    uri = os.environ["MLFLOW_TRACKING_URI"]
    folder = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{MODEL}/1",
                                                 tracking_uri=uri, registry_uri=uri)
    model = mlflow.pyfunc.load_model(folder)
    answer = model.predict(pd.DataFrame(**request))
    assert list(answer.columns)[:9] == ["request_row", "onset", "apex", "offset", "onset_s",
                                        "apex_s", "offset_s", "kind", "confidence"]
    rows = answer.drop(columns="request_row").to_dict("records")
    assert all(r.pop("error") is None for r in rows)  # no row refused
    assert [{k: v for k, v in r.items() if k != "recognition_error"} for r in rows] == [
        pytest.approx({k: v for k, v in r.items() if k != "recognition_error"}, abs=1e-6)
        for r in spotted]
    # The bundle's spotter is the one spot-eval fitted on every subject of the corpus, and the
    # served intervals are that spotter's on this video (nothing fitted on the video itself).
    bundle = load_model_bundle(f"models:/{MODEL}/1")
    report = json.loads((in_project / "reports" / "spotting.json").read_text())["synthetic"]
    assert bundle.spotter.p == report["p"] and bundle.spotter.corpus == "synthetic"
    assert bundle.spotter.provenance["videos"] == report["videos"] == 2
    fps, frames = video_frames(long_video[0])
    signals = video_signals(frames, fps, bundle.spotter.params, bundle.spotter.features, "v")
    assert [(r["onset"], r["apex"], r["offset"], r["kind"]) for r in rows] == [
        (s.interval.onset, s.interval.apex, s.interval.offset, s.interval.kind)
        for s in spot(signals, report["p"], bundle.spotter.noise_floor)]


def test_bad_video_requests_and_a_missing_model_are_clear_errors(in_project, long_video,
                                                                  capsys):
    import base64

    import mlflow
    from mlflow.exceptions import MlflowException

    from mer.cli import main

    uri = os.environ["MLFLOW_TRACKING_URI"]
    model = mlflow.pyfunc.load_model(mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{MODEL}/1", tracking_uri=uri, registry_uri=uri))
    not_video = base64.b64encode(b"this is not a video").decode()
    for request, expected in (
            ({"video": ["%%%"]}, "row 0: 'video' is not valid base64"),
            ({"video": [not_video]}, "row 0: 'video' holds no video OpenCV can decode"),
            ({"video": [not_video], "frames": ["[]"], "apex_index": [-1]},
             "send one kind per request"),
            # a break-it session: a truncated video was named by the server's scratch file
            # (/tmp/mer-video-.../row0), not by its row
            ({"video": [base64.b64encode(VIDEO.read_bytes()[:60000]).decode()]},
             "row 0 ('video'): decoding stopped after")):
        with pytest.raises(MlflowException) as refused:
            model.predict(pd.DataFrame(request))
        assert expected in getattr(refused.value, "own_message", ""), refused.value.message
        assert "mer-video-" not in refused.value.own_message
    # A break-it session: a request of a good video and one without a face was HTTP 400, and
    # the good video's intervals, already spotted, were lost. Each row is answered.
    good = base64.b64encode(long_video[0].read_bytes()).decode()
    alone = model.predict(pd.DataFrame({"video": [good]}))
    both = model.predict(pd.DataFrame({"video": [good, not_video]}))
    assert alone["error"].isna().all() and len(alone) > 0
    kept = both[both["request_row"] == 0].drop(columns="error").to_json(orient="records")
    assert json.loads(kept) == json.loads(alone.drop(columns="error").to_json(orient="records"))
    (bad,) = both[both["request_row"] == 1].to_dict("records")
    assert bad["error"].startswith("row 1: 'video' holds no video OpenCV can decode")
    assert bad["onset"] is None and bad["label"] is None
    assert main(["spot", "--video", str(long_video[0]), "--model",
                 f"models:/{MODEL}@nosuchalias"]) == 2
    message = capsys.readouterr().err
    assert "nosuchalias" in message and "--spot-only" in message and "Traceback" not in message
    # A break-it session: "register one" twice, though a version was registered and only
    # promoting it was needed.
    assert (f"model '{MODEL}' has version(s) 1 but no alias 'nosuchalias'. Point it at one with "
            "`mer promote --alias nosuchalias --version N`, or pass --model "
            f"models:/{MODEL}/1") in message
    assert "mer register" not in message, message
    assert main(["spot", "--video", str(long_video[0]), "--model", f"models:/{MODEL}/7"]) == 2
    assert f"model '{MODEL}' has no version 7; it has 1" in capsys.readouterr().err
# --- the model cache and batched predict ----------------------------------------------------
# In-process (registry_helpers.in_process): the project's registry, a fresh model cache each.

CLIP = "data/synthetic/Cropped/sub01"  # the project's clips, each read over a few frames


@pytest.fixture
def local(project, monkeypatch, tmp_path):
    """The project, with in-process loads reading its registry and an empty model cache."""
    from mer.tracking.registry import promote

    in_process(project, monkeypatch)
    monkeypatch.setenv("MER_MODEL_CACHE", str(tmp_path / "cache"))
    promote(MODEL, "champion", "1")
    return project


def first_clip(project: Path):
    """(folder, first frame number) of the project's first clip."""
    from mer.core.frames import frame_files

    folder = sorted((project / CLIP).iterdir())[0]
    return folder, min(frame_files(folder))


def answer(bundle, project: Path) -> str:
    """The JSON a bundle answers for the first clip's frames 0..5 (apex 2)."""
    from mer.inference.predictor import predict_window
    from mer.inference.sources import from_clip_folder

    folder, first = first_clip(project)
    window = from_clip_folder(folder, first, first + 2, first + 5)
    return json.dumps(dataclasses.asdict(predict_window(bundle, window)))


def cached(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "cache").iterdir())


def test_a_cached_model_answers_as_the_registered_one_and_needs_no_mlflow(local, tmp_path):
    from mer.tracking.registry import load_model_bundle

    uri = f"models:/{MODEL}@champion"
    registered = answer(load_model_bundle(str(model_folder(local))), local)  # never cached
    assert answer(load_model_bundle(uri), local) == registered  # fetched into the cache
    (entry,) = cached(tmp_path)
    inode = entry.stat().st_ino
    assert answer(load_model_bundle(uri), local) == registered  # read from the cache
    assert [p.stat().st_ino for p in cached(tmp_path)] == [inode]  # not fetched again
    # A new process loading from the cache imports no MLflow (seconds of imports).
    script = ("import sys; from mer.tracking.registry import load_model_bundle; "
              f"load_model_bundle('{uri}'); assert 'mlflow' not in sys.modules, 'imported'")
    subprocess.run([sys.executable, "-c", script], cwd=local, check=True, timeout=COMMAND_S,
                   env={**environment(local), "MER_MODEL_CACHE": str(tmp_path / "cache")})


def test_a_downloaded_model_folder_names_the_version_it_records(local, tmp_path):
    """h59: `mer predict --model shipped/` answered "model_version": "shipped", though the
    folder MLflow downloads records the registered version it is (registered_model_meta)."""
    import mlflow

    from mer.tracking.registry import load_pinned_bundle
    from mer.tracking.store import tracking_uri

    shipped = Path(mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{MODEL}@champion", dst_path=str(tmp_path / "shipped"),
        tracking_uri=tracking_uri(), registry_uri=tracking_uri()))
    assert load_pinned_bundle(str(shipped))[1] == f"models:/{MODEL}/1"
    (shipped / "registered_model_meta").write_text("model_name: [not, a, name]\n")
    assert load_pinned_bundle(str(shipped))[1] == str(shipped)
    # h60: odd records (a version of another script's digits, a name that makes no URI, a
    # named pipe, whose read hung) name the folder, without a crash
    for meta in ('model_name: mer-test\nmodel_version: "²"\n',
                 "model_name: a/b@c\nmodel_version: 1\n"):
        (shipped / "registered_model_meta").write_text(meta)
        assert load_pinned_bundle(str(shipped))[1] == str(shipped)
    (shipped / "registered_model_meta").unlink()
    os.mkfifo(shipped / "registered_model_meta")
    assert load_pinned_bundle(str(shipped))[1] == str(shipped)
    (shipped / "registered_model_meta").unlink()  # a folder that records no version
    assert load_pinned_bundle(str(shipped))[1] == str(shipped)


def test_the_cache_follows_the_registry_when_an_alias_moves(local, tmp_path):
    """A new version promoted to champion is what the next load reads, and the fast SQLite
    read of the registry names the same version, run, source and time as MLflow's client."""
    from dataclasses import replace

    from mer.inference.predictor import load_bundle, save_bundle
    from mer.tracking import model_cache
    from mer.tracking.registry import (
        _resolve_with_mlflow,
        check_mer_model,
        load_model_bundle,
        promote,
    )
    from mer.tracking.store import mlflow_client, tracking_uri

    copy = tmp_path / "version2"
    shutil.copytree(model_folder(local), copy)
    bundle_file = check_mer_model(copy, str(copy))
    save_bundle(replace(load_bundle(bundle_file), provenance={"marker": "v2"}), bundle_file)
    store = tracking_uri()
    version = mlflow_client(store).create_model_version(MODEL, source=str(copy)).version
    # described, as `mer register` ends (promote refuses a version it did not finish)
    mlflow_client(store).update_model_version(MODEL, version, description="version 2")
    uri = f"models:/{MODEL}@champion"
    try:
        assert "marker" not in load_model_bundle(uri).provenance  # version 1, now cached
        promote(MODEL, "champion", str(version))
        assert load_model_bundle(uri).provenance == {"marker": "v2"}
        for name in (uri, f"models:/{MODEL}/1", f"models:/{MODEL}/{version}"):
            entry = model_cache.registry_entry(name)
            assert (model_cache.resolve_in_sqlite(store, entry), True) == _resolve_with_mlflow(
                name, store, entry)
    finally:
        promote(MODEL, "champion", "1")
    assert "marker" not in load_model_bundle(uri).provenance
    assert len(cached(tmp_path)) == 2  # one folder per version, each still valid


def test_latest_is_pinned_to_the_version_it_means_now(local, tmp_path):
    """models:/name/latest and @latest name a moving version, as an alias does: the answer
    names the version MLflow's rule picked then, and that version is what is read and cached."""
    from dataclasses import replace

    from mer.inference.predictor import load_bundle, save_bundle
    from mer.tracking.registry import check_mer_model, load_pinned_bundle
    from mer.tracking.store import mlflow_client, tracking_uri

    copy = tmp_path / "newest"
    shutil.copytree(model_folder(local), copy)
    bundle_file = check_mer_model(copy, str(copy))
    save_bundle(replace(load_bundle(bundle_file), provenance={"marker": "newest"}), bundle_file)
    version = mlflow_client(tracking_uri()).create_model_version(MODEL, source=str(copy)).version
    # not described yet: a `mer register` stopped before its end, which `mer promote` refuses
    # and `mer predict` loaded without a word, through /latest too (h59)
    for uri in (f"models:/{MODEL}/latest", f"models:/{MODEL}/{version}"):
        with pytest.raises(MerError, match=rf"cannot load model '{uri}': version {version} of "
                                           rf"model '{MODEL}' was not registered to the end"):
            load_pinned_bundle(uri)
    # and advice names a version that loads (h60: the example was the unfinished one)
    with pytest.raises(MerError) as bare:
        load_pinned_bundle(f"models:/{MODEL}")
    example = re.search(rf"e\.g\. models:/{MODEL}@champion or models:/{MODEL}/(\d+) \(it has "
                        rf"version\(s\) 1, (\d+, )*{version} \(not registered to the end\)\)$",
                        str(bare.value))
    assert example is not None and example[1] != str(version), str(bare.value)
    with pytest.raises(MerError, match=r"'²' is no version number \(digits 0-9\)"):
        load_pinned_bundle(f"models:/{MODEL}/²")  # MLflow's rule took it; int() crashed (h60)
    mlflow_client(tracking_uri()).update_model_version(MODEL, version, description="newest")
    for uri in (f"models:/{MODEL}/latest", f"models:/{MODEL}@latest", f"models:/{MODEL}/LATEST"):
        bundle, pinned = load_pinned_bundle(uri)
        assert (pinned, bundle.provenance) == (f"models:/{MODEL}/{version}", {"marker": "newest"})
    assert len(cached(tmp_path)) == 1  # one version, fetched once
    with pytest.raises(MerError, match="cannot load model 'models:/no-such-model/latest'"):
        load_pinned_bundle("models:/no-such-model/latest")
    # h59: a registered model's bare name was told to register one (MLflow read it as the id
    # of a logged model), and a server's URL was neither a model URI nor a folder
    for uri in (f"models:/{MODEL}", f"models:/{MODEL}/"):
        with pytest.raises(MerError, match=rf"cannot load model '{uri}': it names the "
                                           rf"registered model '{MODEL}' but no version: add "
                                           rf"an alias or a version, e\.g\. models:/{MODEL}"
                                           rf"@champion or models:/{MODEL}/{version} "):
            load_pinned_bundle(uri)
    with pytest.raises(MerError, match=r"A model server's URL goes to `mer predict --server`"):
        load_pinned_bundle("http://127.0.0.1:5001")


def test_a_damaged_cached_copy_is_fetched_again_not_used(local, tmp_path, caplog):
    from mer.tracking.registry import load_model_bundle

    uri = f"models:/{MODEL}/1"
    expected = answer(load_model_bundle(uri), local)
    (entry,) = cached(tmp_path)
    damages = {"artifacts/bundle.pkl": lambda p: p.write_bytes(p.read_bytes()[:-1] + b"\0"),
               "MLmodel": Path.unlink}
    for name, damage in damages.items():
        damage(entry / name)
        caplog.clear()
        assert answer(load_model_bundle(uri), local) == expected
        assert f"damaged (1 file(s) differ from its manifest, e.g. {name})" in caplog.text
        assert (entry / name).is_file()


def test_several_clips_in_one_call_answer_as_one_call_each(local, tmp_path, capsys):
    import csv

    from mer.cli import main
    from mer.core.frames import frame_files

    folder, first = first_clip(local)
    second = sorted((local / CLIP).iterdir())[1]
    start = min(frame_files(second))
    clips = tmp_path / "clips.csv"  # absolute and relative folders, an apex to estimate
    clips.write_text(f"clip,onset,apex,offset\n{folder},{first},{first + 2},{first + 5}\n"
                     f"{os.path.relpath(second, tmp_path)},{start},,{start + 6}\nmissing,,,\n")
    out = tmp_path / "predictions.csv"
    assert main(["predict", "--clips-from", str(clips), "--out", str(out)]) == 2
    assert "1 of 3 inputs could not be classified" in capsys.readouterr().err
    rows = list(csv.DictReader(out.open()))
    assert rows[2]["error"].startswith(f"{clips}, line 4: {tmp_path / 'missing'}: not a "
                                       "folder of frames")
    assert {row["model_version"] for row in rows} == {f"models:/{MODEL}/1"}
    # Printed, each line is its row, the failed one too: every field, null where it has none
    # (the re-check: the failed line had 4 keys, so `line["label"]` raised KeyError)
    assert main(["predict", "--clips-from", str(clips)]) == 2
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [list(line) for line in printed] == [list(row) for row in rows]
    assert printed[2]["label"] is None and printed[2]["error"] == rows[2]["error"]
    # h59: when the first input failed, its line had no prob_<class> fields, and a table of
    # failures none: every line and table has the model's
    failing = tmp_path / "failing-first.csv"
    failing.write_text(f"clip,onset,apex,offset\nmissing,,,\n{folder},{first},{first + 2},"
                       f"{first + 5}\n")
    assert main(["predict", "--clips-from", str(failing)]) == 2
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [list(line) for line in printed] == [list(rows[0])] * 2
    assert printed[0]["prob_happiness"] is None and printed[1]["prob_happiness"] is not None
    nothing = tmp_path / "nothing.json"
    assert main(["predict", "--clip", str(tmp_path / "missing"), "--out", str(nothing)]) == 2
    assert list(json.loads(nothing.read_text())[0]) == list(rows[0])
    # the issue: a list of one clip printed the one-input form (indented, no "input"), and a
    # script reading the list's lines broke on it: a list always prints one line per clip
    one = tmp_path / "one.csv"
    one.write_text(f"clip,onset,apex,offset\n{folder},{first},{first + 2},{first + 5}\n")
    assert main(["predict", "--clips-from", str(one)]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line)["input"] == str(folder)
    singles = [["--clip", str(folder), "--onset", str(first), "--apex", str(first + 2),
                "--offset", str(first + 5)],
               ["--clip", str(second), "--onset", str(start), "--offset", str(start + 6)]]
    for row, options in zip(rows, singles, strict=False):
        assert main(["predict", *options]) == 0
        single = json.loads(capsys.readouterr().out)
        # A break-it session: the printed JSON nested the probabilities that the rows (and
        # the served answer) give as prob_<class>. It is the row --out writes, in its order.
        assert list(single) == list(row)
        assert row["error"] == "" and single["error"] is None
        assert row["label"] == single["label"]
        assert {c: float(row[f"prob_{c}"]) for c in CLASSES} == {
            c: single[f"prob_{c}"] for c in CLASSES}
        assert json.loads(row["moving_regions"]) == single["moving_regions"]
        assert (int(row["apex_index"]), row["apex_estimated"], row["source"]) == (
            single["apex_index"], str(single["apex_estimated"]), single["source"])


def test_an_unwritable_model_cache_is_said_and_the_model_still_loads(local, tmp_path,
                                                                     monkeypatch, caplog):
    from mer.tracking.registry import load_model_bundle

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("MER_MODEL_CACHE", str(blocker))
    expected = answer(load_model_bundle(str(model_folder(local))), local)
    assert answer(load_model_bundle(f"models:/{MODEL}@champion"), local) == expected
    assert "cannot write the model cache" in caplog.text and "MER_MODEL_CACHE" in caplog.text


def test_the_signature_is_inferred_without_mlflow_s_integer_column_hint():
    """`mer register` printed MLflow's UserWarning about integer columns and missing values,
    which a request cannot have: it leaves a column out, never a value."""
    import warnings

    import pandas as pd

    from mer.tracking.registry import model_signature

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        signature = model_signature(pd.DataFrame({"apex_index": [1]}),
                                    pd.DataFrame({"label": ["disgust"], "apex_index": [1]}))
    assert "apex_index" in signature.inputs.input_names()


@pytest.mark.parametrize("step", ["set_model_version_tag", "update_model_version"])
def test_a_stopped_registration_leaves_no_version(project, tmp_path, monkeypatch, step):
    """A break-it session: a Ctrl-C right after MLflow created the version (`Created version
    '11'`) left it READY without its evaluation tags or description, its run FINISHED, and
    `mer promote` made it the champion. The registration's version is deleted when it stops
    before the version is described, and its run is KILLED."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.models import Model

    from mer.inference.serving import predict_request
    from mer.tracking.registry import load_model_bundle, register_bundle

    in_process(project, monkeypatch)
    bundle = load_model_bundle(f"models:/{MODEL}/1")
    folder = mlflow.artifacts.download_artifacts(f"models:/{MODEL}/1",
                                                 dst_path=str(tmp_path / "model"))
    request = Model.load(folder).load_input_example(folder)
    answer = predict_request(bundle, request)
    store = tmp_path / "store"  # its own store: the project's model stays the only one there
    store.mkdir()
    uri = f"sqlite:///{store / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", uri)
    monkeypatch.chdir(store)

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patched:
        patched.setattr(MlflowClient, step, ctrl_c)
        with pytest.raises(KeyboardInterrupt):
            register_bundle(bundle, "mer-stopped", request, answer,
                            {"loso_uar": "0.5", "evaluation_protocol": "loso"},
                            experiment="mer-stopped", root=store)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    assert client.search_model_versions("name = 'mer-stopped'") == []
    (stopped,) = client.search_runs([client.get_experiment_by_name("mer-stopped").experiment_id])
    assert stopped.info.status == "KILLED"


def test_promote_refuses_a_version_whose_registration_did_not_finish(tmp_path):
    """A registration killed outright (SIGKILL, power cut) cannot delete its version: promote
    refuses one without the description registering ends with."""
    from mlflow import MlflowClient

    from mer.tracking.store import Tracker

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    with Tracker("mer-killed", root=tmp_path).run("register") as run_id:
        pass
    client.create_registered_model("mer-killed")
    client.create_model_version("mer-killed", f"{client.get_run(run_id).info.artifact_uri}"
                                "/model", run_id)  # as log_model does, before the tags
    result = mer(tmp_path, "promote", "--name", "mer-killed", "--version", "1", check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "version 1 of model 'mer-killed' was not registered to the end" in result.stderr
    assert client.get_registered_model("mer-killed").aliases == {}


def test_concurrent_requests_get_their_own_answers(project, champion, tmp_path):
    """A break-it session: two requests sent at once to the served model got each other's
    probabilities, and a few rounds later the server died (SIGSEGV, or glibc's "malloc():
    unsorted double linked list corrupted"): the scoring server predicts in a thread pool,
    and OpenCV's DIS flow object and dlib's models are built once per process."""
    from concurrent.futures import ThreadPoolExecutor

    import cv2

    manifest = pd.read_parquet(project / "data" / "manifest.parquet")
    bodies = []
    for row in manifest[manifest["apex"] >= 0].head(4).to_dict("records"):
        apex = row["apex"] - row["onset"]
        frames = [cv2.imread(str(project / path)) for path in row["frame_paths"][:apex + 1]]
        bodies.append(json.dumps({"dataframe_split": pd.DataFrame({
            "frames": [encode_frames(frames)], "apex_index": [apex]}).to_dict("split")
        }).encode())
    assert len(bodies) == 4
    with served_champion(project, tmp_path / "server.log") as url:
        def ask(body: bytes) -> dict:
            call = urllib.request.Request(f"{url}/invocations", data=body,
                                          headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(call, timeout=300) as response:
                return json.loads(response.read())["predictions"][0]

        alone = [ask(body) for body in bodies]
        with ThreadPoolExecutor(len(bodies)) as pool:
            for _ in range(3):
                assert list(pool.map(ask, bodies)) == alone


def test_promote_defaults_to_the_version_this_project_registered(tmp_path):
    """A break-it session: after an experiment (which registers a version) and back on the
    baseline, `mer promote` promoted the registry's newest version, the experiment's model,
    while reports/registered.json named the baseline's."""
    from mlflow import MlflowClient

    from mer.tracking.store import Tracker

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model("mer-ws")
    for _ in range(2):  # the baseline's version, then an experiment's
        with Tracker("mer-ws", root=tmp_path).run("register") as run_id:
            pass
        # the version's files exist (mer promote refuses a version whose files are gone)
        client.log_text(run_id, "flavors: {}\n", "model/MLmodel")
        version = client.create_model_version(
            "mer-ws", f"{client.get_run(run_id).info.artifact_uri}/model", run_id)
        client.update_model_version("mer-ws", version.version, description="registered")
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "registered.json").write_text(json.dumps(
        {"registered": True, "name": "mer-ws", "version": "1", "run_id": "x",
         "model_uri": "models:/mer-ws/1"}))
    result = mer(tmp_path, "promote", "--name", "mer-ws")
    assert result.stdout.strip() == "models:/mer-ws@champion -> version 1"
    assert "the one reports/registered.json names" in result.stderr
    assert mer(tmp_path, "promote", "--name", "mer-ws", "--version", "02").stdout.strip() == \
        "models:/mer-ws@champion -> version 2"  # as models:/mer-ws/02 loads version 2 (h59)
    for odd in ("²", "٢"):  # h60: '²' crashed int() with a traceback; '٢' was version 2
        result = mer(tmp_path, "promote", "--name", "mer-ws", "--version", odd, check=False)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert f"model 'mer-ws' has no version {odd}; it has 1, 2" in result.stderr


@pytest.mark.parametrize(("record", "why"), [
    (None, "reports/registered.json does not exist"),
    ("{", "reports/registered.json cannot be read"),
    ({"registered": False, "reason": "flow images: nothing to serve"},
     "registered no model (flow images: nothing to serve)"),
    ({"registered": True, "name": "other", "version": "1"},
     "names version 1 of model 'other', not of 'mer-ws'"),
    ({"registered": True, "name": "mer-ws"}, "reports/registered.json names no version")])
def test_promote_without_a_record_of_this_projects_version_names_them(tmp_path, record, why):
    """A break-it session (h59): a `dvc checkout` whose cache lacked reports/registered.json
    deleted it, and `mer promote` then promoted the registry's newest version, an
    experiment's, without a word. Without the record it refuses, naming the versions and
    which variant registered the newest."""
    from mlflow import MlflowClient

    from mer.tracking.store import Tracker

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model("mer-ws")
    for variant in ("defaults", "svm-trials-5"):  # the baseline's version, then an experiment's
        with Tracker("mer-ws", root=tmp_path).run("register") as run_id:
            pass
        client.log_text(run_id, "flavors: {}\n", "model/MLmodel")
        version = client.create_model_version(
            "mer-ws", f"{client.get_run(run_id).info.artifact_uri}/model", run_id,
            tags={"variant": variant})
        client.update_model_version("mer-ws", version.version, description="registered")
    if record is not None:
        (tmp_path / "reports").mkdir()
        (tmp_path / "reports" / "registered.json").write_text(
            record if isinstance(record, str) else json.dumps(record))
    result = mer(tmp_path, "promote", "--name", "mer-ws", check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert why in result.stderr
    assert ("has version(s) 1, 2; the newest, 2 (registered by 'svm-trials-5'), may be an "
            "experiment's") in result.stderr
    assert "Pass --version N" in result.stderr
    assert client.get_registered_model("mer-ws").aliases == {}


def test_a_shipped_model_folder_spots_outside_a_project(spotted, long_video, project,
                                                        tmp_path, monkeypatch, capsys, caplog):
    """A break-it session: `mer predict --model DIR` worked in any folder, but `mer spot
    --model DIR` said 'params.yaml not found', though the model carries its fitted spotter
    (a default params.yaml made it work: they were not needed)."""
    from mer.cli import main

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["spot", "--video", str(long_video[0]), "--model", str(model_folder(project)),
                 "--out", "i.json"]) == 0
    assert "the spotter registered in" in capsys.readouterr().err
    rows = json.loads((elsewhere / "i.json").read_text())
    assert [(r["onset"], r["offset"], r["label"]) for r in rows] == [
        (r["onset"], r["offset"], r["label"]) for r in spotted]
    # A break-it session: --p and --spot-only (with --model too) each died on "params.yaml
    # not found", naming neither the option nor the way out.
    folder = str(model_folder(project))
    assert main(["spot", "--video", str(long_video[0]), "--model", folder, "--spot-only",
                 "--out", "s.json"]) == 0
    assert "spotter: p micro" in capsys.readouterr().err
    only = json.loads((elsewhere / "s.json").read_text())
    assert [(r["onset"], r["offset"], r["kind"]) for r in only] == [
        (r["onset"], r["offset"], r["kind"]) for r in rows]
    assert not any("label" in r for r in only)  # spotted, not recognised
    assert main(["spot", "--video", str(long_video[0]), "--model", folder, "--p", "0.3",
                 "0.3", "--spot-only"]) == 0
    assert ("spotter: p micro 0.3, macro 0.3, noise floor 6 (--p) from --p, with the signal "
            f"settings and noise floor of the spotter registered in {folder}"
            ) in capsys.readouterr().err
    for missing in (["spot", "--video", str(long_video[0]), "--spot-only"],
                    ["predict", "--pair", *map(str, faceless_pair(tmp_path))]):
        assert main(missing) == 2
        assert ("params.yaml not found: without --model, mer" in
                (err := capsys.readouterr().err)) and "or pass --model with a model URI or " \
            "a model folder" in err, err
    assert not (elsewhere / "params.yaml").exists()
    # A break-it session: in a project whose spotting.noise_floor differs, the registered
    # spotter (no spotting report there) spotted with its own without a word.
    (elsewhere / "params.yaml").write_text("spotting: {noise_floor: 0}\n", encoding="utf-8")
    with caplog.at_level("WARNING", logger="mer.stages.spot"):
        assert main(["spot", "--video", str(long_video[0]), "--model", folder,
                     "--spot-only"]) == 0
    assert (f"the spotter registered in {folder} spots with its own noise floor, 6, not "
            "params.yaml's spotting.noise_floor 0") in caplog.text


def test_a_refused_row_of_a_clip_request_leaves_the_others_answered(in_project, tmp_path):
    """A break-it session: one clip without a face in a three-row request made the whole
    request HTTP 400, and the two good rows' answers were lost. Each row is answered, a
    refused one with its error (as `mer predict --clips-from` does); a request with no row
    answered is still refused."""
    import cv2
    import mlflow
    from mlflow.exceptions import MlflowException

    uri = os.environ["MLFLOW_TRACKING_URI"]
    model = mlflow.pyfunc.load_model(mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{MODEL}/1", tracking_uri=uri, registry_uri=uri))
    manifest = pd.read_parquet(in_project / "data" / "manifest.parquet")
    row = manifest[manifest["apex"] >= 0].iloc[0]
    apex = int(row["apex"] - row["onset"])
    good = encode_frames([cv2.imread(str(in_project / p)) for p in row["frame_paths"][:apex + 1]])
    faceless = encode_frames([cv2.imread(p) for p in faceless_pair(tmp_path)])
    alone = model.predict(pd.DataFrame({"frames": [good], "apex_index": [apex]}))
    answer = model.predict(pd.DataFrame({"frames": [good, faceless, good],
                                         "apex_index": [apex, 1, apex]}))
    rows = answer.to_dict("records")
    assert len(rows) == 3 and rows[0] == rows[2] == alone.to_dict("records")[0]
    assert rows[0]["error"] is None and rows[1]["label"] is None
    assert rows[1]["error"].startswith("request row 1: ") and "face" in rows[1]["error"]
    with pytest.raises(MlflowException) as refused:
        model.predict(pd.DataFrame({"frames": [faceless, faceless], "apex_index": [1, 1]}))
    message = refused.value.own_message
    assert message.startswith("request row 0: ") and "(and 1 more row(s) refused)" in message

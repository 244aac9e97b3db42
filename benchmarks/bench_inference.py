"""Inference latency, registration time and `mer predict`'s start-up, on a small model trained
by the real pipeline.

A tiny synthetic project (4 subjects, 24 clips) goes through synthesize -> data -> faces ->
features; a hybrid is fitted on it (model size and feature shapes as in the default params, so
the cost per prediction is the default's). Latency is the median of repeated runs with torch
on one thread. The start-up rows run fresh processes and report CPU time (user + sys), which a
shared machine disturbs less than wall time, as ratios within this run: loading the champion
with an empty model cache (MLflow imported, artifacts copied) against loading it from the
cache, `mer predict` called once per clip against one call for all of them, and a fresh
`mer predict --pair` loading the model against the same call asking it served (`--server`, the
model kept loaded by `mlflow models serve`).
"""

from __future__ import annotations

import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import chdir, contextmanager
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
VIDEO = REPO / "tests" / "fixtures" / "faces" / "video_01.mp4"
REPEATS = 15
VIDEO_WINDOW = (0, 6)  # the main face stays put over these frames
LOAD_REPEATS = 3  # fresh processes per model-load measurement (median)
CLIPS = 4  # clips classified one call each, then in one call
MODEL = "bench-model"
SERVE_START_S = 180  # mlflow models serve imports the model's whole stack before it answers


def _median_ms(action, repeats: int = REPEATS) -> float:
    action()  # warm-up: lazy imports, dlib model load
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def _process_seconds(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall s, CPU s: user + sys) of running ``command`` to completion."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _median_load(env: dict[str, str], cold_cache: Path | None) -> tuple[float, float]:
    """Median (wall s, CPU s) of a fresh process loading the champion: with an empty model
    cache each time when ``cold_cache`` is given, else from ``env``'s filled cache."""
    load = ("from mer.tracking.registry import load_model_bundle; "
            f"load_model_bundle('models:/{MODEL}@champion')")
    runs = []
    for repeat in range(LOAD_REPEATS):
        if cold_cache is not None:
            env = {**env, "MER_MODEL_CACHE": str(cold_cache / str(repeat))}
        runs.append(_process_seconds([sys.executable, "-c", load], env))
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


@contextmanager
def _served(env: dict[str, str]) -> Iterator[str]:
    """The URL of `mlflow models serve` of the champion (README's command), stopped on exit."""
    from mer.tracking.ui import free_port, wait_until_answers

    port = free_port()
    bin_dir = str(Path(sys.executable).parent)  # the scoring server's uvicorn is the venv's
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "models", "serve", "-m", f"models:/{MODEL}@champion",
         "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)],
        env={**env, "PATH": f"{bin_dir}{os.pathsep}{env['PATH']}"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        if not wait_until_answers(server, f"{url}/ping", SERVE_START_S):
            raise RuntimeError(f"mlflow models serve did not start ({url})")
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


def startup_rows(folder: Path) -> list[dict]:
    """Model load with and without the model cache; `mer predict` per clip vs batched; a
    fresh `mer predict --pair` loading the model vs asking it served."""
    from mer.tracking.registry import promote

    promote(MODEL, "champion", None)
    env = {**os.environ, "MER_MODEL_CACHE": str(folder / "cache")}
    cold_wall, cold_cpu = _median_load(env, folder / "cold")
    _process_seconds([sys.executable, "-c", "from mer.tracking.registry import "
                      f"load_model_bundle as l; l('models:/{MODEL}@champion')"], env)  # fill
    warm_wall, warm_cpu = _median_load(env, None)
    clips = [str(p) for p in sorted(Path("data/synthetic/Cropped").glob("*/*"))[:CLIPS]]
    predict = [sys.executable, "-m", "mer.cli", "predict", "--model", f"models:/{MODEL}@champion"]
    single = [_process_seconds([*predict, "--clip", clip], env) for clip in clips]
    single_wall, single_cpu = (sum(s[i] for s in single) / CLIPS for i in (0, 1))
    batch_wall, batch_cpu = (value / CLIPS for value in
                             _process_seconds([*predict, "--clip", *clips], env))
    pair = [str(p) for p in sorted(Path(clips[0]).iterdir())[::8][:2]]  # onset, a later frame
    local = [_process_seconds([*predict, "--pair", *pair], env) for _ in range(LOAD_REPEATS)]
    with _served(env) as url:
        remote = [_process_seconds([*predict[:4], "--pair", *pair, "--server", url], env)
                  for _ in range(LOAD_REPEATS)]
    local_wall, local_cpu = (statistics.median(r[i] for r in local) for i in (0, 1))
    remote_wall, remote_cpu = (statistics.median(r[i] for r in remote) for i in (0, 1))
    return [
        {"benchmark": "mer predict --pair, fresh process, model cache filled", "value": local_wall,
         "unit": "s wall", "note": f"median of {LOAD_REPEATS}; CPU {local_cpu:.2f} s: torch, "
         "scikit-learn and dlib's landmark model load before one prediction"},
        {"benchmark": "mer predict --pair --server (mlflow models serve of the same version)",
         "value": remote_wall, "unit": "s wall",
         "note": f"median of {LOAD_REPEATS}; client CPU {remote_cpu:.2f} s; "
                 f"{local_wall / remote_wall:.1f}x faster than loading the model; same answer "
                 "(tested)"},
        {"benchmark": "load the champion, empty model cache (MLflow import + artifact copy)",
         "value": cold_cpu, "unit": "s CPU",
         "note": f"fresh process, median of {LOAD_REPEATS}; wall {cold_wall:.2f} s"},
        {"benchmark": "load the champion from the model cache (registry read without MLflow)",
         "value": warm_cpu, "unit": "s CPU",
         "note": f"fresh process, median of {LOAD_REPEATS}; wall {warm_wall:.2f} s; "
                 f"{cold_cpu / warm_cpu:.2f}x less CPU than the empty cache"},
        {"benchmark": f"mer predict --clip, one call per clip ({CLIPS} whole clips, apex "
                      "estimated)", "value": single_cpu, "unit": "s CPU per clip",
         "note": f"model cache filled; wall {single_wall:.2f} s per clip"},
        {"benchmark": f"mer predict --clip with all {CLIPS} clips in one call",
         "value": batch_cpu, "unit": "s CPU per clip",
         "note": f"wall {batch_wall:.2f} s per clip; {single_cpu / batch_cpu:.2f}x less CPU "
                 "per clip than one call each; identical predictions (tested)"},
    ]


def run() -> list[dict]:
    import torch

    from mer.cli import main as mer
    from mer.config import load_params
    from mer.core.clipset import load_clips
    from mer.faces.align import align_clip
    from mer.features.extract import describe_clip
    from mer.inference.predictor import ModelBundle, predict_window
    from mer.inference.serving import encode_frames, predict_request
    from mer.inference.sources import from_video
    from mer.models.hybrid import fit_hybrid
    from mer.tracking.registry import register_bundle

    torch.set_num_threads(1)
    params_yaml = yaml.safe_load((REPO / "params.yaml").read_text())
    params_yaml["data"]["synthetic"].update(subjects=4, clips=24)
    params_yaml["train"]["cnn"]["epochs"] = 2
    # no pretraining corpus to build: pretrained weights do not change a prediction's cost
    params_yaml["train"]["cnn"]["pretrain"]["clips"] = 0
    params_yaml["train"]["svm"].update(trials=3, inner_folds=2)
    with tempfile.TemporaryDirectory() as folder, chdir(folder):
        Path("params.yaml").write_text(yaml.safe_dump(params_yaml))
        for stage in ("synthesize", "data", "faces", "features"):
            assert mer([stage]) == 0, stage
        params = load_params()
        clips = load_clips("data/features.npz", "data/manifest.parquet", params.labels.scheme)
        bundle = ModelBundle(fit_hybrid(clips, params.train, params.train.seed), clips.classes,
                             params.faces, params.features, {})
        window = from_video(VIDEO, *VIDEO_WINDOW)
        aligned = align_clip(list(window.frames), params.faces)
        pair = aligned.faces[[0, len(aligned.faces) // 2]]  # (2, S, S) onset, apex

        def from_aligned() -> None:
            features = describe_clip(pair, aligned.landmarks, 1, params.features)
            bundle.classifier.predict_proba(features.flow[None], features.apex_image[None],
                                            features.au_features[None])

        aligned_ms = _median_ms(from_aligned)
        video_ms = _median_ms(lambda: predict_window(bundle, window), repeats=5)
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{Path(folder).resolve() / 'mlflow.db'}"
        try:
            frame = pd.DataFrame({"frames": [encode_frames(window.frames[:2])],
                                  "apex_index": [1]})
            output = predict_request(bundle, frame)
            start = time.perf_counter()
            register_bundle(bundle, MODEL, frame, output, {"bench": "1"},
                            experiment="bench")
            register_s = time.perf_counter() - start
            startup = startup_rows(Path(folder))
        finally:
            del os.environ["MLFLOW_TRACKING_URI"]
    frames = len(window.frames)
    return [
        {"benchmark": "predict from aligned onset/apex frames (flow, features, the hybrid: "
                      f"CNN, {', '.join(params.train.hybrid.experts)})",
         "value": aligned_ms, "unit": "ms",
         "note": f"median of {REPEATS}, one torch thread; target <= 30 ms"},
        {"benchmark": f"predict from a raw 640x480 video segment ({frames} frames)",
         "value": video_ms, "unit": "ms",
         "note": "decoded frames in memory; face detection, alignment, flow, features, model"},
        {"benchmark": "log + register the model in MLflow (pyfunc, code, signature, example)",
         "value": register_s, "unit": "s", "note": "SQLite store, explicit pip requirements"},
        *startup,
    ]


if __name__ == "__main__":
    from benchmarks.common import module_main

    raise SystemExit(module_main(run, __doc__))

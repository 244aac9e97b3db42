"""Pretraining the flow CNN on synthetic motion of no project subject (train.cnn.pretrain).

With ``train.cnn.pretrain.clips`` > 0, one FlowNet is trained once on a separately generated
synthetic corpus before any fold: the embedded generator (mer.synthetic, casme2 format, its
default settings) with data seed ``pretrain.seed``, ``pretrain.clips`` clips of
``pretrain.subjects`` subjects, run through the project's own data, faces and features code and
settings, so its flow tensors have exactly the project's geometry (a flow-images project's
corpus is exported as 28 x 28 flow images and read back, as its own data were). It learns the
corpus's emotion labels under labels.scheme and, with weight ``pretrain.au_aux``, its AU codes
(mer.models.cnn's AU head), for ``pretrain.epochs`` epochs with the rest of train.cnn. Every
CNN fit (each LOSO fold's, and ``mer register``'s) then starts from its conv streams, GRU and
embedding layer, with a fresh emotion head and its own input normaliser
(mer.models.cnn.load_pretrained), and trains for train.cnn.epochs as without it. Transfer by
fine-tuning a pretrained network (Yosinski, Clune, Bengio and Lipson, "How transferable are
features in deep neural networks?", NeurIPS 2014); MER nets are commonly pretrained on other
data because the corpora are small.

Leak-free by construction: the corpus is built from params alone (never from data.root), and
a pretraining seed equal to the one the project's data were drawn from is refused (it would
redraw the project's subjects): by Params when the project generates its data, and here when
a corpus it reads records that seed (mer.synthetic.record), however it is read. The net is
cached in data/pretrain under a digest of every setting and all the code it depends on
(``pretraining_key``); the fold cache key holds the digest of the weights themselves
(mer.models.learners.HybridLearner.spec).

How the settings were chosen: on the pretraining corpus alone (data seed 1000, 52 subjects,
510 clips drawn, 492 with a face), 5-fold split by subject, mean held-out UF1 / UAR of the
emotion head, one fit each:

| pretrain au_aux, epochs | UF1    | UAR    |
| ----------------------- | ------ | ------ |
| 0, 30                   | 0.698  | 0.783  |
| 0, 60                   | 0.740  | 0.784  |
| 0, 100                  | 0.771  | 0.809  |
| 1, 30                   | 0.709  | 0.787  |
| 1, 60                   | 0.774  | 0.802  |
| 1, 100 (chosen)         | 0.783  | 0.811  |

Measured with ``python -m benchmarks.bench_compare`` on the frames set (the default embedded
CASME II, data seed 0: 246 clips, 26 subjects, casme2-5), one CNN per fit
(``train.cnn.ensemble: 1``), seeds 0-5, the settings above fixed before measuring (this one
variant, none other tried on the frames set); pooled UF1 / UAR, mean +- sd over the six seeds:

| train.cnn.pretrain | cnn UF1        | cnn UAR        | hybrid UF1     | hybrid UAR     |
| ------------------ | -------------- | -------------- | -------------- | -------------- |
| off (clips 0)      | 0.691 +- 0.015 | 0.755 +- 0.007 | 0.690 +- 0.019 | 0.770 +- 0.015 |
| clips 510          | 0.750 +- 0.014 | 0.800 +- 0.008 | 0.732 +- 0.023 | 0.798 +- 0.015 |

The CNN gains 0.059 UF1 (about four seed spreads) and 0.045 UAR, the hybrid 0.042 UF1 (about
two); the SVM does not use it (0.658 +- 0.014 / 0.727 +- 0.017 in both). Building the corpus
took 178 s and pretraining 42 s, once, on a shared 2-core machine. Rerun: ``python -m
benchmarks.bench_compare --dataset frames --models svm cnn hybrid --seeds 0 1 2 3 4 5 --set
train.cnn.ensemble=1 train.cnn.pretrain.clips=510``. With three CNNs per fit (the default
then; seeds 0-2, the same pretrained net): cnn 0.756 +- 0.006 / 0.798 +- 0.006, hybrid 0.731
+- 0.004 / 0.794 +- 0.004, beside sssnet's 0.726 +- 0.014 / 0.771 +- 0.012 and the then default
hybrid's
0.702 +- 0.019 / 0.782 +- 0.018 (BENCHMARKS.md, bench_compare). On synthetic data,
pretraining on the same generator is also more data of the test set's distribution (other
subjects, the same face model and AU-to-emotion rules), so the gain may overstate the gain on
a real corpus. On by default since 2026-12-02, with one CNN per fit (mer.models.hybrid, "The
defaults"); a real corpus is where its gain must be measured.

On the embedded composite exported as flow images (bench_compare's flow-images set: 443 clips,
74 LOSO folds, megc-3; the pretraining corpus exported alike, 293 clips with a megc-3 class),
one CNN per fit, seeds 0-2, on one machine: cnn 0.923 +- 0.001 / 0.926 +- 0.001 against
0.912 +- 0.005 / 0.918 +- 0.005 without, hybrid 0.918 +- 0.003 / 0.924 +- 0.004 against
0.919 +- 0.002 / 0.923 +- 0.001 (the SVM 0.910 / 0.914 in both): the CNN gains about two
spreads on a set near its ceiling, the hybrid nothing.

On the subtle flow-image proxy (bench_compare's flow-images-subtle: the same composite at
data.synthetic.intensity 0.2, where STSTNet scores its honest real-composite UF1; the
pretraining corpus is the same one as above, at the generator's full intensity), three CNNs
per fit (the default then), seeds 0-2, pooled UF1 / UAR: cnn 0.821 +- 0.005 / 0.830 +- 0.007 against
0.783 +- 0.005 / 0.801 +- 0.006 without, hybrid 0.818 +- 0.006 / 0.829 +- 0.004 against 0.786
+- 0.011 / 0.803 +- 0.013 without; the best reference, OFF-ApexNet, 0.779 +- 0.012 / 0.785 +-
0.014. The pretrained hybrid leads it in every seed (UF1 0.826 / 0.762, 0.816 / 0.783, 0.812 /
0.790), by about three seed spreads on both measures. The pretrained net was the one above,
fixed before this set existed; nothing about it was chosen on this set. Averaged with an
OFF-ApexNet instead of the SVM (train.hybrid.experts: [off-apexnet]), the pretrained CNN leads
the best reference on both embedded sets in each of seeds 0-4 (mer.models.hybrid has the table).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from mer.atomic import atomic_path, held_lock
from mer.config import (
    CNN,
    HYBRID,
    CnnParams,
    DataParams,
    Params,
    PretrainParams,
    SyntheticParams,
    check_pretraining,
)
from mer.core.clipset import ClipSet, load_clips
from mer.errors import MerError, ParamsError

log = logging.getLogger(__name__)

FIT_SEED = 0  # the pretraining fit's seed: one pretrained net for every train.seed
# px: the side of the flow images a flow-images project's corpus is exported at, the MEGC
# composite's (STSTNet's, OFF-ApexNet's) and mer export-flow-images' default
FLOW_IMAGE_SIZE = 28
WEIGHTS, REPORT = "flownet.pt", "pretrain.json"  # in the cache folder of one key


def corpus_data(params: Params, root: Path) -> DataParams:
    """The data params of the pretraining corpus, generated into ``root``: the embedded
    generator's casme2 format and default settings (SyntheticParams), train.cnn.pretrain's
    seed, subjects and clips; nothing of the project's data params (it renders with
    features.workers processes, which the train stage reads anyway)."""
    pretrain = params.train.cnn.pretrain
    synthetic = SyntheticParams(clips=pretrain.clips, subjects=pretrain.subjects,
                                corpora=["casme2"], workers=params.features.workers)
    return DataParams(source="synthetic", root=root, seed=pretrain.seed, synthetic=synthetic)


# What finds the faces of the pretraining corpus (dlib's detector, its landmark model): their
# versions, with the numeric libraries', are part of the pretrained net's key.
FACE_LIBRARIES = ("dlib", "dlib-bin", "face_recognition_models")


def pretraining_key(params: Params) -> str:
    """sha256 of everything the pretrained net depends on: train.cnn as the pretraining fit
    uses it (``pretraining_params``: not the fine-tuning's epochs, au_aux or ensemble size),
    train.cnn.pretrain, faces and features (but their worker counts), labels.scheme, and the
    code that builds the corpus and fits the net with the numeric libraries' versions
    (mer.evaluation.loso.code_digest: a break-it session found an edit to the generator or
    the CNN reusing the net the old code made); no data params (the corpus is the generator's
    defaults at train.cnn.pretrain's seed and size)."""
    from mer.evaluation.loso import NUMERIC_LIBRARIES, code_digest

    cnn = params.train.cnn
    payload = {"code": code_digest((__name__,), (*NUMERIC_LIBRARIES, *FACE_LIBRARIES)),
               "cnn": pretraining_params(cnn).model_dump(mode="json", exclude={"pretrain"}),
               "pretrain": cnn.pretrain.model_dump(mode="json"),
               "faces": params.faces.model_dump(mode="json", exclude={"workers"}),
               "features": params.features.model_dump(mode="json", exclude={"workers"}),
               "scheme": params.labels.scheme, "fit_seed": FIT_SEED,
               "flow_images": FLOW_IMAGE_SIZE if reads_flow_images(params) else None}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def reads_flow_images(params: Params) -> bool:
    """True when the project's data are precomputed flow images (data.source flow-images)."""
    from mer.data.build import FLOW_IMAGES

    return FLOW_IMAGES in params.data.formats


def build_corpus(params: Params, folder: Path) -> ClipSet:
    """Generate the pretraining corpus into the new ``folder`` and run the data, faces and
    features steps on it with the project's settings; its clips under labels.scheme.

    For a flow-images project the corpus takes the project's own input path: its clips are
    exported as FLOW_IMAGE_SIZE-px flow images, exactly as ``mer export-flow-images`` writes
    them (onset->apex u, v, strain, min-max scaled, RGB), and read back as a flow-images
    corpus, so the net is pretrained on the tensors such a project's CNN reads."""
    from mer.core.manifest import write_manifest
    from mer.core.npz import write_npz
    from mer.data.build import FLOW_IMAGES, build_manifest
    from mer.faces.align_clips import locate_faces
    from mer.features.describe_clips import extract_features
    from mer.features.flow_image_export import export_flow_images, write_flow_images
    from mer.synthetic.write_casme2 import generate_dataset

    data = corpus_data(params, folder / "synthetic")
    generate_dataset(data.root, data.synthetic, data.seed, workers_key="features.workers")
    manifest, _ = build_manifest(data, params.labels.scheme)
    faces, _ = locate_faces(manifest, params.faces)
    arrays, _ = extract_features(manifest, faces, params.features)
    if reads_flow_images(params):
        images = folder / FLOW_IMAGES
        images.mkdir()
        write_flow_images(images, export_flow_images(manifest, faces, arrays, params.features,
                                                     FLOW_IMAGE_SIZE))
        as_images = DataParams(source=FLOW_IMAGES, root=images, flow_channels="rgb")
        codes = manifest.set_index("clip_id")["aus"]
        manifest, _ = build_manifest(as_images, params.labels.scheme)
        # the generator's AU codes, for pretrain.au_aux: labels.csv carries none (the same
        # clip ids, as written by export_flow_images)
        manifest["aus"] = manifest["clip_id"].map(codes)
        faces, _ = locate_faces(manifest, params.faces)  # none: the images are aligned crops
        arrays, _ = extract_features(manifest, faces, params.features)
    write_manifest(manifest, folder / "manifest.parquet")
    write_npz(folder / "features.npz", arrays)
    return load_clips(folder / "features.npz", folder / "manifest.parquet",
                      params.labels.scheme)


def pretraining_params(cnn: CnnParams) -> CnnParams:
    """train.cnn for the pretraining fit: pretrain.epochs and pretrain.au_aux, one net, and
    no pretraining of its own."""
    return cnn.model_copy(update={"epochs": cnn.pretrain.epochs, "au_aux": cnn.pretrain.au_aux,
                                  "ensemble": 1, "pretrain": PretrainParams(clips=0)})


def check_unseen_subjects(params: Params) -> None:
    """ParamsError when a folder this project reads records (mer.synthetic.record.
    SYNTHESIS_RECORD) that its subjects were drawn from train.cnn.pretrain.seed, which draws
    the pretraining corpus's: every held-out subject would be in it. check_pretraining sees
    that from params when the project generates its data; this sees it however the folder is
    read (a break-it session: the embedded set generated at seed 1000 and read as casme2, or
    exported as flow images, was accepted)."""
    from mer.synthetic.record import synthesis_seeds

    seed = params.train.cnn.pretrain.seed
    record = synthesis_seeds([params.data.root, *(c.root for c in params.data.corpora)])
    if seed in record:
        raise ParamsError(f"{record[seed]} records that this project's data were generated by "
                          f"`mer synthesize` with seed {seed}, the seed train.cnn.pretrain.seed "
                          "draws the pretraining corpus from: its subjects would be the "
                          "held-out ones; give train.cnn.pretrain.seed another value, or "
                          "set train.cnn.pretrain.clips: 0")


def pretrained_flownet(params: Params, cache: Path, models: Sequence[str] | None = None
                       ) -> bytes | None:
    """The pretrained FlowNet's state dict (torch.save bytes) for ``params``, built once and
    then read from ``cache``/<pretraining_key>/; None when train.cnn.pretrain.clips is 0 or no
    model that starts from it (cnn, hybrid) is among ``models`` (None: train.models), e.g.
    train.models [svm].
    ParamsError when train.cnn.pretrain cannot hold (mer.config.check_pretraining).

    Writes pretrain.json beside the weights: clips, subjects, seconds to build the corpus and
    to pretrain, the loss of the first and last epoch."""
    # The key first, on or off: a stage reads every setting the net depends on either way,
    # so dvc.yaml lists them and DVC reruns the stage when one changes (test_core_dvc_deps).
    folder = Path(cache) / pretraining_key(params)[:16]
    models = params.train.models if models is None else models
    if params.train.cnn.pretrain.clips == 0 or not {CNN, HYBRID} & set(models):
        return None
    try:
        check_pretraining(params)  # params changed after loading were not validated
    except ValueError as exc:
        raise ParamsError(str(exc)) from None
    check_unseen_subjects(params)
    cached = _whole(folder / WEIGHTS)
    if cached is not None:  # the usual case, without the lock: a whole net is never replaced
        return cached
    # DVC's experiment copies share the project's cache (mer.paths.project_cache): of two
    # queued variants of one setting, the second waits for the first's net rather than
    # pretraining it again (minutes) or reading the folder while the first replaces it.
    with held_lock(folder.with_name(f"{folder.name}.lock"), lambda: log.info(
            "another mer process is pretraining the net of %s: waiting for it", folder)):
        return _cached_or_built(params, folder)


def _whole(weights: Path) -> bytes | None:
    """The bytes of ``weights`` when they load as a state dict; None when missing, damaged
    or being replaced (then _cached_or_built, under the lock, says which and builds)."""
    try:
        cached = weights.read_bytes()
        _load(cached)
    except Exception:  # torch raises many types for a damaged file
        return None
    return cached


def _load(state: bytes) -> None:
    """Load ``state`` (torch.save bytes) as a state dict, as a fit starting from it will: raises
    what torch raises for a damaged file."""
    torch.load(io.BytesIO(state), map_location="cpu", weights_only=True)


def _cached_or_built(params: Params, folder: Path) -> bytes:
    """The net of ``folder`` when it is there and loads, else built (pretrained) and cached
    there."""
    from mer.models.cnn import fit_cnn, resolve_accelerator

    if (folder / WEIGHTS).is_file():
        cached = (folder / WEIGHTS).read_bytes()
        try:
            _load(cached)
            return cached
        except Exception as exc:  # torch raises many types for a damaged file
            why = (str(exc).splitlines() or [""])[0][:200]
            log.warning("%s is damaged (%s%s); it is a cache: pretraining again",
                        folder / WEIGHTS, type(exc).__name__, f": {why}" if why else "")
            shutil.rmtree(folder)
    _check_cache(folder.parent)  # before minutes of work, not after them
    # the fit below runs here, on this setting's device: a GPU asked for and missing is said
    # before the corpus is built (h61: after 2.5 minutes of it, at every rerun)
    resolve_accelerator(pretraining_params(params.train.cnn).accelerator)
    log.info("pretraining the CNN on %d synthetic clips (train.cnn.pretrain), once; cached in %s",
             params.train.cnn.pretrain.clips, folder)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        corpus = build_corpus(params, Path(scratch))
    built = time.perf_counter()
    fitted = fit_cnn(corpus, pretraining_params(params.train.cnn), FIT_SEED)
    buffer = io.BytesIO()
    torch.save(fitted.net.state_dict(), buffer)
    report = {"clips": len(corpus), "subjects": len(set(corpus.subject.tolist())),
              "corpus_seconds": round(built - started, 1),
              "pretrain_seconds": round(time.perf_counter() - built, 1),
              "train_loss_first": fitted.train_loss[0], "train_loss_last": fitted.train_loss[-1]}
    with atomic_path(folder) as tmp:
        tmp.mkdir(parents=True)
        (tmp / WEIGHTS).write_bytes(buffer.getvalue())
        (tmp / REPORT).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return buffer.getvalue()


def _check_cache(cache: Path) -> None:
    """A MerError when the pretrained net could not be cached in ``cache`` (a file there, or
    a folder this process may not write): said before it is built, not after."""
    if cache.exists() and not cache.is_dir():
        raise MerError(f"cannot cache the pretrained CNN in {cache}: it is a file, not a "
                       "folder (mer keeps its pretrained nets there); move the file away, then "
                       "rerun")
    try:
        cache.mkdir(parents=True, exist_ok=True)
        writable = os.access(cache, os.W_OK | os.X_OK)
    except OSError as exc:
        raise MerError(f"cannot cache the pretrained CNN in {cache} ({exc.strerror or exc}): "
                       "make it a writable folder, then rerun") from None
    if not writable:
        raise MerError(f"cannot cache the pretrained CNN in {cache}: the folder is not "
                       "writable (read-only, or another user's); make it writable, then rerun")


def weights_digest(state: bytes | None) -> str | None:
    """sha256 of pretrained weights (torch.save bytes; equal tensors, equal bytes), or None."""
    return None if state is None else hashlib.sha256(state).hexdigest()

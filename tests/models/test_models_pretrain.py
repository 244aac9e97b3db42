"""Pretraining the CNN on a synthetic corpus of no project subject (train.cnn.pretrain)."""

from __future__ import annotations

import io
import json
import logging
import os

import pytest
import torch

from mer.config import CnnParams, Params, PretrainParams
from mer.errors import MerError, ParamsError
from mer.models.pretrain import REPORT, build_corpus, pretrained_flownet, pretraining_key


def tiny(**data: object) -> Params:
    """4 synthetic clips of 2 subjects, one epoch of a narrow net."""
    cnn = CnnParams(epochs=1, batch_size=4, channels=4, embedding=8,
                    pretrain=PretrainParams(clips=4, subjects=2, epochs=1))
    return Params.model_validate({"data": {"synthetic": {"workers": 1}, **data},
                                  "faces": {"workers": 1}, "features": {"workers": 1},
                                  "train": {"cnn": cnn.model_dump(mode="json")}})


def test_params_refuse_a_pretraining_corpus_that_could_hold_project_subjects():
    with pytest.raises(ValueError, match=r"pretrain\.seed equals data\.seed .* or set "
                                         r"train\.cnn\.pretrain\.clips: 0"):
        tiny(seed=1000)
    # a break-it session: refused by every command, though no model starts from the net
    svm_only = tiny().model_dump(mode="json")
    svm_only["data"]["seed"], svm_only["train"]["models"] = 1000, ["svm"]
    Params.model_validate(svm_only)
    tiny(source="casme2", root="corpus", seed=1000)  # a real corpus: its seed is not used
    composite = [{"source": name, "root": "data/corpora"} for name in ("casme2", "samm")]
    tiny(root="data/corpora", sources=composite, seed=1000)  # real corpora, likewise
    with pytest.raises(ValueError, match=r"pretrain\.seed equals data\.seed"):
        tiny(root="data/synthetic",  # the embedded composite (examples/megc2019-synthetic.yaml)
             sources=[{**source, "root": "data/synthetic"} for source in composite],
             seed=1000)


def test_the_key_holds_no_project_data_but_the_tensor_geometry():
    base = tiny()
    assert pretraining_key(base) == pretraining_key(tiny(seed=7, root="elsewhere"))
    ensemble = base.train.cnn.model_copy(update={"ensemble": 5})
    assert pretraining_key(base) == pretraining_key(
        base.model_copy(update={"train": base.train.model_copy(update={"cnn": ensemble})}))
    wider = base.model_copy(update={"features": base.features.model_copy(
        update={"input_size": 16})})
    assert pretraining_key(base) != pretraining_key(wider)


def cnn_changed(params: Params, **update: object) -> Params:
    cnn = params.train.cnn.model_copy(update=update)
    return params.model_copy(update={"train": params.train.model_copy(update={"cnn": cnn})})


def test_the_key_holds_what_the_pretraining_fit_uses_not_the_fine_tunings_settings():
    """The issue: train.cnn.epochs and au_aux, which the pretraining fit replaces with
    pretrain.epochs and pretrain.au_aux, were in the key, so an epoch sweep pretrained again
    for byte-identical weights."""
    base = tiny()
    for fine_tuning in ({"epochs": 7}, {"au_aux": 0.5}):
        assert pretraining_key(cnn_changed(base, **fine_tuning)) == pretraining_key(base)
    for pretraining in ({"dropout": 0.1}, {"pretrain": PretrainParams(clips=4, subjects=2,
                                                                        epochs=2)},
                        {"pretrain": PretrainParams(clips=4, subjects=2, epochs=1,
                                                    au_aux=0.5)}):
        assert pretraining_key(cnn_changed(base, **pretraining)) != pretraining_key(base)


@pytest.mark.slow
def test_pretrained_flownet_is_built_once_from_params_alone(tmp_path, caplog):
    """Built from params (never data.root: it does not exist here), then read from the
    cache, by any project whose data differ (the key holds none of them: the test above).
    The build's steps are deterministic (the synthesize, faces, features and CNN tests)."""
    state = pretrained_flownet(tiny(seed=3, root=str(tmp_path / "absent")), tmp_path)
    assert state is not None
    weights = torch.load(io.BytesIO(state), weights_only=True)
    assert weights["motion.0.weight"].shape == (4, 2, 5, 5)  # channels 4 over u, v
    (folder,) = (path for path in tmp_path.iterdir() if path.is_dir())
    report = json.loads((folder / REPORT).read_text())
    assert report["clips"] >= 2 and report["subjects"] == 2
    assert pretrained_flownet(tiny(seed=4, root="elsewhere"), tmp_path) == state
    # A damaged cache (the issue: a raw torch traceback in the middle of the folds) is a
    # cache: built again, with a warning naming the file.
    for damaged, why in ((state[:1000], "RuntimeError: "), (b"", "EOFError)")):
        (folder / "flownet.pt").write_bytes(damaged)  # cut short; empty (a full disk)
        caplog.clear()
        with caplog.at_level("WARNING", logger="mer.models"):
            assert pretrained_flownet(tiny(seed=4, root="elsewhere"), tmp_path) == state
        assert f"{folder / 'flownet.pt'} is damaged ({why}" in caplog.text
        assert (folder / "flownet.pt").read_bytes() == state
    off = Params().model_copy(update={"train": Params().train.model_copy(update={
        "cnn": Params().train.cnn.model_copy(update={"pretrain": PretrainParams(clips=0)})})})
    assert pretrained_flownet(off, tmp_path) is None  # clips 0: off


WAITER = """
import hashlib, json, logging, sys
from pathlib import Path
from mer.config import Params
from mer.models.pretrain import pretrained_flownet
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
state = pretrained_flownet(Params.model_validate(json.loads(sys.argv[1])), Path(sys.argv[2]))
print("weights", hashlib.sha256(state).hexdigest(), flush=True)
"""


@pytest.mark.slow
def test_a_second_process_waits_for_the_net_being_pretrained(tmp_path):
    """DVC's queued copies share the project's cache (mer.paths.project_cache): a second
    mer that needs the net another is pretraining waits for it and reads it, rather than
    pretraining it again (minutes) or reading a folder being replaced."""
    import hashlib
    import subprocess
    import sys

    from filelock import FileLock

    params = tiny()
    folder = tmp_path / pretraining_key(params)[:16]
    with FileLock(str(folder.with_name(f"{folder.name}.lock"))):  # as a pretraining mer
        waiter = subprocess.Popen(
            [sys.executable, "-c", WAITER, json.dumps(params.model_dump(mode="json")),
             str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        said = []
        for line in waiter.stderr:  # until it waits, or (not waiting) ends
            said.append(line)
            if "waiting for it" in line:
                break
        assert "waiting for it" in "".join(said), "".join(said)[-3000:]
        buffer = io.BytesIO()
        torch.save({"marker": torch.arange(3)}, buffer)  # the net the holder "pretrained"
        folder.mkdir()
        (folder / "flownet.pt").write_bytes(buffer.getvalue())
        # A whole cached net is read without the lock (a break-it session: `mer register`
        # said it waited for a pretraining while another variant only read the net).
        reader = subprocess.run(
            [sys.executable, "-c", WAITER, json.dumps(params.model_dump(mode="json")),
             str(tmp_path)], capture_output=True, text=True, timeout=120, check=False)
        assert reader.returncode == 0 and "waiting" not in reader.stderr, reader.stderr[-3000:]
        assert reader.stdout.split() == ["weights", hashlib.sha256(buffer.getvalue()).hexdigest()]
    out, err = waiter.communicate(timeout=300)
    assert waiter.returncode == 0, err[-3000:]
    assert "pretraining the CNN" not in "".join(said) + err
    assert out.split() == ["weights", hashlib.sha256(buffer.getvalue()).hexdigest()]


def test_a_cache_that_cannot_hold_the_net_is_refused_before_pretraining(tmp_path, caplog):
    """A break-it session: data/pretrain a file, and mer pretrained for minutes before it
    failed, saying to "choose another path" (no param moves it)."""
    from mer.errors import MerError

    cache = tmp_path / "pretrain"
    cache.write_text("not a folder")
    with caplog.at_level("INFO", logger="mer.models"), \
            pytest.raises(MerError, match=rf"cannot cache the pretrained CNN in {cache}: it "
                                          r"is a file, not a folder .* move the file away"):
        pretrained_flownet(tiny(), cache)
    assert "pretraining the CNN" not in caplog.text


def test_pretrained_flownet_builds_nothing_for_models_without_a_cnn(tmp_path):
    """train.models [svm] under the default pretraining: no model would start from the net."""
    assert Params().train.cnn.pretrain.clips > 0
    assert pretrained_flownet(Params(), tmp_path, models=("svm", "off-apexnet")) is None
    assert not any(tmp_path.iterdir())


def test_pretrained_flownet_checks_params_changed_after_loading(tmp_path):
    params = Params()
    pretrain = PretrainParams(clips=4, subjects=2, seed=0)
    cnn = params.train.cnn.model_copy(update={"pretrain": pretrain})
    changed = params.model_copy(update={"train": params.train.model_copy(update={"cnn": cnn})})
    with pytest.raises(ParamsError, match=r"equals data\.seed"):
        pretrained_flownet(changed, tmp_path)


@pytest.mark.slow
def test_a_flow_images_project_pretrains_on_flow_images(tmp_path):
    """A flow-images project's corpus takes its own input path: exported as 28 px flow images
    and read back (one flow step, no apex frame), so the pretrained net has the geometry of
    that project's CNN; a frames project's key differs."""
    params = tiny(source="flow-images", root=str(tmp_path / "absent"))
    assert pretraining_key(params) != pretraining_key(tiny())
    state = pretrained_flownet(params, tmp_path)
    assert state is not None
    weights = torch.load(io.BytesIO(state), weights_only=True)
    assert weights["motion.0.weight"].shape == (4, 2, 5, 5)
    (folder,) = (path for path in tmp_path.iterdir() if path.is_dir())
    assert json.loads((folder / REPORT).read_text())["clips"] >= 2


def test_the_pretraining_corpus_names_the_param_that_sets_its_workers(tmp_path, caplog):
    """The corpus renders with features.workers processes, so a warning about too many names
    that key, not data.synthetic.workers, which the pretraining corpus does not read (a
    final read found the wrong key). One CPU (the process's affinity, as under taskset)
    makes 3 workers too many."""
    params = tiny().model_copy(update={"features": tiny().features.model_copy(
        update={"workers": 3})})
    cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cpus)})
    try:
        with caplog.at_level("WARNING", logger="mer"):
            build_corpus(params, tmp_path)
    finally:
        os.sched_setaffinity(0, cpus)
    assert "features.workers asks for 3 worker processes" in caplog.text
    assert "data.synthetic.workers" not in caplog.text


def test_data_generated_from_the_pretraining_seed_are_refused_however_they_are_read(tmp_path):
    """A break-it session: the embedded set generated with data.seed 1000 (the pretraining
    corpus's seed: the same 26 subjects) and then read as casme2, or exported as flow images,
    was accepted, and every held-out subject had been seen in pretraining. `mer synthesize`
    records its seed in the folder (mer.synthetic.record), and the export carries it along."""
    from mer.errors import DatasetError
    from mer.synthetic.record import SYNTHESIS_RECORD, write_synthesis_record

    corpus, export = tmp_path / "corpus", tmp_path / "export"
    for folder, seed in ((corpus, 1000), (export, 1000)):
        folder.mkdir()
        write_synthesis_record(folder, [seed])
    for data in ({"source": "casme2", "root": str(corpus)},
                 {"source": "casme2", "root": str(corpus / "Cropped")},  # the layout folder
                 {"source": "flow-images", "root": str(export)}):
        with pytest.raises(ParamsError, match=rf"{SYNTHESIS_RECORD} records that this "
                                              r"project's data were generated .* seed 1000"):
            pretrained_flownet(tiny(**data), tmp_path / "cache")
    assert not (tmp_path / "cache").exists()  # refused before anything was built
    # A break-it session: the corpus copied in CASME II's own layout (Cropped/ and the sheet,
    # not the generated root) lost the record; each format's folder carries it too.
    import shutil

    from mer.synthetic.record import write_synthesis_records

    generated, copied = tmp_path / "generated", tmp_path / "copied"
    (generated / "Cropped" / "sub01").mkdir(parents=True)
    write_synthesis_records(generated, [1000])
    shutil.copytree(generated / "Cropped", copied / "Cropped")
    with pytest.raises(ParamsError, match=r"Cropped/synthesis\.json records"):
        pretrained_flownet(tiny(source="casme2", root=str(copied)), tmp_path / "cache")
    (corpus / SYNTHESIS_RECORD).write_text("{}")
    with pytest.raises(DatasetError, match=r"not the record `mer synthesize` writes"):
        pretrained_flownet(tiny(source="casme2", root=str(corpus)), tmp_path / "cache")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_a_gpu_asked_for_and_missing_is_said_before_the_corpus_is_built(tmp_path, caplog):
    """h61: train.cnn.accelerator gpu on a machine without one failed only after the whole
    pretraining corpus was built (2.5 minutes), at every rerun."""
    params = tiny(root=str(tmp_path / "absent"))
    params = params.model_copy(update={"train": params.train.model_copy(update={
        "cnn": params.train.cnn.model_copy(update={"accelerator": "gpu"})})})
    with caplog.at_level(logging.INFO), \
            pytest.raises(MerError, match=r"accelerator is gpu but torch .* sees no CUDA GPU"):
        pretrained_flownet(params, tmp_path / "cache")
    assert "pretraining the CNN on" not in caplog.text

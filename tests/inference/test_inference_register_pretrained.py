"""`mer register` with train.cnn.pretrain on: the final model's CNNs start from the pretrained
net, cached once in data/pretrain, and the registered version says so in its provenance."""

from __future__ import annotations

import hashlib
import json

import pytest
import yaml

from registry_helpers import mer, tiny_params

pytestmark = pytest.mark.slow

# The smallest pretraining corpus (mer.models.pretrain): 4 clips of 2 subjects, one epoch
PRETRAIN = {"clips": 4, "subjects": 2, "seed": 1000, "epochs": 1, "au_aux": 1.0}


def test_register_fits_from_the_pretrained_net_and_records_it(tmp_path):
    params = tiny_params()
    params["train"]["cnn"]["pretrain"] = PRETRAIN
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    for stage in ("synthesize", "data", "faces", "features", "spot-synthesize", "spot-eval",
                  "register"):
        mer(tmp_path, stage)

    assert json.loads((tmp_path / "reports/registered.json").read_text())["version"] == "1"
    (weights,) = (tmp_path / "data/pretrain").glob("*/flownet.pt")  # built once, by register
    report = json.loads((weights.parent / "pretrain.json").read_text())
    assert report["subjects"] == 2 and report["clips"] >= 2
    (provenance,) = (tmp_path / "mlruns").rglob("provenance.json")
    recorded = json.loads(provenance.read_text())["pretrain"]
    assert recorded == {**PRETRAIN,
                        "weights_sha256": hashlib.sha256(weights.read_bytes()).hexdigest()}

"""`mer register` on a flow-image project: nothing to serve, so it says why and succeeds."""

from __future__ import annotations

import json

from mer.cli import main
from mer.core.manifest import read_manifest, write_manifest
from toy import write_toy


def test_register_on_flow_images_records_why_and_succeeds(tmp_path, monkeypatch, own_store):
    _, manifest_path = write_toy(tmp_path / "data", steps=1, with_apex=False, scheme="megc-3")
    manifest = read_manifest(manifest_path)
    manifest["flow_image"] = [f"flow/{c}.png" for c in manifest["clip"]]
    write_manifest(manifest, manifest_path)
    (tmp_path / "params.yaml").write_text("data: {source: flow-images, root: data}\n"
                                          "labels: {scheme: megc-3}\n")
    monkeypatch.chdir(tmp_path)
    assert main(["register"]) == 0
    record = json.loads((tmp_path / "reports/registered.json").read_text())
    assert record["registered"] is False
    assert "precomputed flow images" in record["reason"]
    assert not (tmp_path / "mlflow.db").exists()  # no model, no run

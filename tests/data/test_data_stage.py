"""`mer data` end to end in a scratch project: outputs on success, a clear error and no output
on bad input."""

import json

import pytest
import yaml
from data_builders import casme2_rows, make_casme2

from mer import cli, paths
from mer.core.manifest import read_manifest


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A scratch project folder as the working directory; returns a params writer."""
    monkeypatch.chdir(tmp_path)

    def write_params(source="casme2", root="corpus", scheme="casme2-5", annotations=None):
        params = {"data": {"source": source, "root": root, "annotations": annotations},
                  "labels": {"scheme": scheme}}
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
        return "params.yaml"

    return write_params


def run_data(params):
    return cli.main(["--params", params, "data", "--no-progress"])


def test_writes_manifest_and_report(tmp_path, project):
    make_casme2(tmp_path / "corpus")
    assert run_data(project()) == 0
    manifest = read_manifest(paths.MANIFEST)
    assert len(manifest) == 5
    assert manifest["frame_paths"].iloc[0][0].startswith("corpus/Cropped/")  # relative
    report = json.loads(paths.DATA_REPORT.read_text())
    assert report["clips"] == 5 and report["scheme"] == "casme2-5"
    assert report["dropped"]["by_emotion"] == {"fear": 1}
    assert report["repairs"]["count"] == 1 and report["apex_to_estimate"]["count"] == 1
    assert report["clips_per_subject"] == {"sub01": 2, "sub02": 2, "sub03": 1}


def test_same_input_same_bytes(tmp_path, project):
    make_casme2(tmp_path / "corpus")
    params = project()
    assert run_data(params) == 0
    first = paths.MANIFEST.read_bytes(), paths.DATA_REPORT.read_bytes()
    assert run_data(params) == 0
    assert (paths.MANIFEST.read_bytes(), paths.DATA_REPORT.read_bytes()) == first


def test_synthetic_source_reads_the_casme2_format(tmp_path, project):
    make_casme2(tmp_path / "data/synthetic", sheet="CASME2-coding-synthetic.xlsx")
    assert run_data(project(source="synthetic", root="data/synthetic")) == 0
    manifest = read_manifest(paths.MANIFEST)
    assert set(manifest["dataset"]) == {"synthetic"}
    assert manifest["clip_id"].iloc[0].startswith("synthetic/sub01/")


def test_synthetic_not_generated_yet(tmp_path, project, capsys):
    assert run_data(project(source="synthetic", root="data/synthetic")) == 2
    err = capsys.readouterr().err
    assert "CASME2-coding-synthetic.xlsx not found" in err and "mer synthesize" in err
    assert not paths.MANIFEST.exists()


def test_bad_sheet_is_exit_2_with_file_and_row_and_nothing_written(tmp_path, project, capsys):
    # (An apex before its onset, the bad value here before, is now repaired: see casme2.)
    rows = casme2_rows()
    rows[2]["onset"], rows[2]["frames"] = "twenty", range(20, 25)
    make_casme2(tmp_path / "corpus", rows)
    assert run_data(project()) == 2
    err = capsys.readouterr().err
    assert err.startswith("mer data: error: corpus/CASME2-coding-20140508.xlsx, sheet 'Sheet', "
                          "row 4: column 'OnsetFrame' holds 'twenty', not a frame number")
    assert "Traceback" not in err
    assert not paths.MANIFEST.exists() and not paths.DATA_REPORT.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus", "params.yaml"]


def test_missing_frame_keeps_the_previous_outputs_whole(tmp_path, project, capsys):
    make_casme2(tmp_path / "corpus")
    params = project()
    assert run_data(params) == 0
    before = paths.MANIFEST.read_bytes()
    (tmp_path / "corpus/Cropped/sub02/EP05_03/reg_img31.jpg").unlink()
    assert run_data(params) == 2
    assert "frame 31 (reg_img31.jpg)" in capsys.readouterr().err
    assert paths.MANIFEST.read_bytes() == before  # never half-written


def test_missing_root_is_a_params_error(tmp_path, project, capsys):
    assert run_data(project(root="nowhere")) == 2
    err = capsys.readouterr().err
    assert "data.root: nowhere does not exist" in err and "Traceback" not in err


def test_missing_annotations_file(tmp_path, project, capsys):
    make_casme2(tmp_path / "corpus")
    assert run_data(project(annotations="corpus/other.xlsx")) == 2
    assert "data.annotations: corpus/other.xlsx does not exist" in capsys.readouterr().err


def test_the_manifest_records_the_params_it_was_made_with(tmp_path, project):
    """Run by hand after a params change, a stage reading the manifest must not take the old
    clips and labels for the new ones: it refuses, naming the key, the params file and
    `mer data`."""
    from mer.config import load_params
    from mer.errors import DatasetError

    make_casme2(tmp_path / "corpus")
    assert run_data(project()) == 0
    read_manifest(paths.MANIFEST, load_params())
    project(scheme="megc-3")
    with pytest.raises(DatasetError, match=r"manifest.parquet was made with labels.scheme "
                                           r"'casme2-5', but params.yaml now says 'megc-3': "
                                           r"rerun `mer data` first"):
        read_manifest(paths.MANIFEST, load_params())
    (tmp_path / "other.yaml").write_text(yaml.safe_dump({
        "data": {"source": "casme2", "root": "corpus", "on_bad_clip": "skip"}}))
    with pytest.raises(DatasetError, match=r"data.on_bad_clip 'error', but other.yaml now "
                                           r"says 'skip': rerun `mer --params other.yaml "
                                           r"data` first"):
        read_manifest(paths.MANIFEST, load_params("other.yaml"))

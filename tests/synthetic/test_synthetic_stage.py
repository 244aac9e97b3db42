"""`mer synthesize`: writes the dataset for source synthetic or embedded data.sources, a
NOT_USED note otherwise, and never replaces a user's corpus."""

import logging

import pytest
import yaml

from mer import cli
from mer.config import check_data_paths, load_params
from mer.data.samm import read_samm
from mer.data.smic import read_smic
from mer.errors import ParamsError
from mer.synthetic import write_samm as samm
from mer.synthetic import write_smic as smic
from mer.synthetic.write_casme2 import GROUND_TRUTH, NOT_USED, SHEET

TINY = {"subjects": 2, "clips": 4, "frame_width": 128, "frame_height": 155, "workers": 1}


@pytest.fixture
def project(tmp_path, monkeypatch):
    """An empty project folder as the working directory; writes params.yaml from a mapping."""
    monkeypatch.chdir(tmp_path)

    def write(data: dict) -> str:
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(data))
        return "params.yaml"

    return tmp_path, write


def test_synthetic_source_generates_the_dataset_into_data_root(project, caplog):
    root, write = project
    params = write({"data": {"source": "synthetic", "root": "data/synthetic", "seed": 3,
                             "synthetic": TINY}})
    with caplog.at_level(logging.INFO, logger="mer"):
        assert cli.main(["--params", params, "synthesize"]) == 0
    # A break-it session: the log named the temporary folder the dataset was written in,
    # gone once the stage ended. It names the folder the dataset is in.
    said = [r.getMessage() for r in caplog.records]
    assert "wrote the synthetic dataset to data/synthetic" in said
    assert not [m for m in said if "/.synthetic." in m]
    out = root / "data" / "synthetic"
    assert (out / SHEET).is_file() and (out / GROUND_TRUTH).is_file()
    assert len(list(out.glob("Cropped/sub*/*/reg_img*.jpg"))) >= 4 * 23
    assert not (out / NOT_USED).exists()
    assert [p.name for p in (root / "data").iterdir()] == ["synthetic"]  # no temporaries left


def test_rerun_replaces_the_folder(project):
    root, write = project
    params = write({"data": {"synthetic": TINY}})
    stale = root / "data" / "synthetic" / "stale.txt"
    stale.parent.mkdir(parents=True)
    stale.write_text("old")
    assert cli.main(["--params", params, "synthesize"]) == 0
    assert not stale.exists() and (stale.parent / SHEET).is_file()


def test_other_source_writes_only_a_not_used_note(project):
    root, write = project
    corpus = root / "my_casme2"
    corpus.mkdir()
    params = write({"data": {"source": "casme2", "root": str(corpus)}})
    assert cli.main(["--params", params, "synthesize"]) == 0
    out = root / "data" / "synthetic"
    assert [p.name for p in out.iterdir()] == [NOT_USED]
    assert "casme2" in (out / NOT_USED).read_text()
    assert list(corpus.iterdir()) == []  # the user's corpus is never touched


def test_other_source_in_the_synthetic_folder_is_refused(project, capsys):
    root, write = project
    corpus = root / "data" / "synthetic"
    corpus.mkdir(parents=True)
    (corpus / "keep.txt").write_text("user data")
    params = write({"data": {"source": "casme2", "root": "data/synthetic"}})
    assert cli.main(["--params", params, "synthesize"]) == 2
    assert "data.root" in capsys.readouterr().err
    assert (corpus / "keep.txt").read_text() == "user data"


ALL = {**TINY, "corpora": ["casme2", "samm", "smic"]}
EMBEDDED = [{"source": "casme2", "root": "data/synthetic"},
            {"source": "samm", "root": "data/synthetic"},
            {"source": "smic", "root": "data/synthetic/HS"}]


def test_sources_in_the_embedded_folder_generate_every_listed_format(project):
    root, write = project
    params = write({"data": {"sources": EMBEDDED, "synthetic": ALL}})
    assert cli.main(["--params", params, "synthesize"]) == 0
    out = root / "data" / "synthetic"
    assert (out / SHEET).is_file() and (out / samm.SHEET).is_file()
    assert (out / samm.GROUND_TRUTH).is_file() and (out / smic.GROUND_TRUTH).is_file()
    assert list(out.glob("SAMM/*/*/*.jpg")) and list(out.glob("HS/s*/micro/*/*/*.bmp"))
    assert len(read_samm(out).clips) >= 4 and len(read_smic(out / "HS").clips) >= 3


def test_an_embedded_source_not_in_corpora_is_refused(project, capsys):
    root, write = project
    params = write({"data": {"sources": EMBEDDED, "synthetic": {**ALL, "corpora": ["casme2",
                                                                                   "samm"]}}})
    assert cli.main(["--params", params, "synthesize"]) == 2
    error = capsys.readouterr().err
    assert "data.synthetic.corpora" in error and "smic" in error
    assert not (root / "data" / "synthetic").exists()


def test_flow_images_in_the_embedded_folder_are_refused(project, capsys):
    _, write = project
    params = write({"data": {"sources": [{"source": "flow-images",
                                          "root": "data/synthetic/flow"}],
                             "synthetic": ALL}})
    assert cli.main(["--params", params, "synthesize"]) == 2
    assert ("inside the synthetic dataset's folder data/synthetic, which `mer synthesize` "
            "replaces") in capsys.readouterr().err


def test_sources_elsewhere_write_only_a_not_used_note(project):
    root, write = project
    corpus = root / "corpora" / "samm"
    corpus.mkdir(parents=True)
    params = write({"data": {"root": "corpora", "sources": [{"source": "samm",
                                                             "root": "corpora/samm"}]}})
    assert cli.main(["--params", params, "synthesize"]) == 0
    out = root / "data" / "synthetic"
    assert [p.name for p in out.iterdir()] == [NOT_USED]
    assert "data.sources" in (out / NOT_USED).read_text()
    assert list(corpus.iterdir()) == []


def test_sources_elsewhere_with_data_root_left_at_its_default_are_refused(project, capsys):
    """A break-it session: real corpora listed in data.sources with data.root left at its
    default (the synthetic folder) were taken for the embedded composite: a synthetic corpus
    nobody reads was generated, and their paths outside data.root (which DVC tracks) went
    unchecked, so an edited frame left `dvc repro`'s results stale."""
    root, write = project
    (root / "corpora" / "CASME2").mkdir(parents=True)
    params = write({"data": {"sources": [{"source": "casme2", "root": "corpora/CASME2"}]}})
    assert load_params(params).data.synthesized is False
    assert cli.main(["--params", params, "synthesize"]) == 2
    assert ("data.sources reads casme2 from corpora/CASME2, outside data.root (data/synthetic, "
            "the synthetic dataset's folder, its default), which is what DVC tracks: set "
            "data.root to the folder that holds your corpora") in capsys.readouterr().err
    assert not (root / "data" / "synthetic").exists()
    (root / "data" / "synthetic").mkdir(parents=True)
    # not "put the corpus there": a re-check round followed that into N5 below
    with pytest.raises(ParamsError, match=r"data.sources\[0\] \(casme2\): data.root is "
                                          r"data/synthetic, the synthetic dataset's folder \(its "
                                          r"default\), which `mer synthesize` replaces: set "
                                          r"data.root to the folder that holds your corpora"):
        check_data_paths(load_params(params).data)


def test_a_corpus_moved_into_a_folder_of_the_synthetic_dataset_is_never_replaced(project,
                                                                                capsys):
    """A re-check round: with data.root at its default, a CASME II copy moved to
    data/synthetic/CASME2 (as a path check advised) was taken for the embedded composite,
    and `mer synthesize` replaced its 2484 files with a synthetic corpus."""
    root, write = project
    corpus = root / "data" / "synthetic" / "CASME2"
    corpus.mkdir(parents=True)
    (corpus / "keep.txt").write_text("user data")
    params = write({"data": {"sources": [{"source": "casme2",
                                          "root": "data/synthetic/CASME2"}],
                             "synthetic": TINY}})
    assert load_params(params).data.synthesized is False
    assert cli.main(["--params", params, "synthesize"]) == 2
    assert ("data.sources reads casme2 from data/synthetic/CASME2, inside the synthetic "
            "dataset's folder data/synthetic, which `mer synthesize` replaces: to read your "
            "casme2 copy, move it out of data/synthetic") in capsys.readouterr().err
    assert (corpus / "keep.txt").read_text() == "user data"


def test_a_source_in_the_synthetic_folder_with_another_root_is_refused(project, capsys):
    root, write = project
    corpus = root / "data" / "synthetic" / "SAMM"
    corpus.mkdir(parents=True)
    (corpus / "keep.txt").write_text("user data")
    params = write({"data": {"root": "corpora", "sources": [{"source": "samm",
                                                             "root": "data/synthetic"}]}})
    assert cli.main(["--params", params, "synthesize"]) == 2
    assert "data.root" in capsys.readouterr().err
    assert (corpus / "keep.txt").read_text() == "user data"

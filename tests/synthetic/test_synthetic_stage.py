"""`mer synthesize`: writes the dataset for source synthetic, a NOT_USED note otherwise."""

import pytest
import yaml

from mer import cli
from mer.data.synthetic import GROUND_TRUTH, NOT_USED, SHEET

TINY = {"subjects": 2, "clips": 4, "frame_width": 128, "frame_height": 155, "workers": 1}


@pytest.fixture
def project(tmp_path, monkeypatch):
    """An empty project folder as the working directory; writes params.yaml from a mapping."""
    monkeypatch.chdir(tmp_path)

    def write(data: dict) -> str:
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(data))
        return "params.yaml"

    return tmp_path, write


def test_synthetic_source_generates_the_dataset_into_data_root(project):
    root, write = project
    params = write({"data": {"source": "synthetic", "root": "data/synthetic", "seed": 3,
                             "synthetic": TINY}})
    assert cli.main(["--params", params, "synthesize"]) == 0
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

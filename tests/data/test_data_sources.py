"""data.sources: several corpora in one manifest, each read by its own adapter."""

from __future__ import annotations

import re

import pytest
from data_builders import make_casme2, make_samm, make_smic

from mer.config import CorpusSource, DataParams, check_data_paths, parse_params
from mer.data.build import build_manifest
from mer.errors import DatasetError, ParamsError


def sources(tmp_path):
    return (CorpusSource(source="casme2", root=make_casme2(tmp_path / "CASME2")),
            CorpusSource(source="samm", root=make_samm(tmp_path / "SAMM")),
            CorpusSource(source="smic", root=make_smic(tmp_path / "SMIC")))


def test_three_corpora_make_one_manifest_with_namespaced_subjects(tmp_path):
    data = DataParams(root=tmp_path, sources=sources(tmp_path))
    check_data_paths(data)
    manifest, report = build_manifest(data, "megc-3")
    assert set(manifest["dataset"]) == {"casme2", "samm", "smic"}
    # subject 1 of CASME II and s1 of SMIC stay two LOSO folds
    assert set(manifest["subject"]) == {"casme2_sub01", "casme2_sub02", "samm_006", "samm_007",
                                        "smic_s1", "smic_s2"}
    assert all(cid.startswith(f"{d}/{d}_") for cid, d in
               zip(manifest["clip_id"], manifest["dataset"], strict=True))
    corpora = report["corpora"]
    assert set(corpora) == {"casme2", "samm", "smic"}
    assert sum(c["clips"] for c in corpora.values()) == report["clips"] == len(manifest)
    assert corpora["samm"]["dropped"]["by_emotion"] == {"others": 1}
    assert corpora["casme2"]["dropped"]["by_emotion"] == {"fear": 1, "others": 1}
    assert report["dataset"] == "casme2+samm+smic"


def test_one_source_reads_as_data_source_does(tmp_path):
    root = make_casme2(tmp_path)
    listed, _ = build_manifest(DataParams(root=tmp_path, sources=(
        CorpusSource(source="casme2", root=root),)), "casme2-5")
    single, _ = build_manifest(DataParams(source="casme2", root=root), "casme2-5")
    assert listed.equals(single)


def test_source_outside_data_root_is_refused(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "root").mkdir()
    data = DataParams(root=tmp_path / "root", sources=(
        CorpusSource(source="samm", root=tmp_path / "elsewhere"),))
    with pytest.raises(ParamsError, match=r"data.sources\[0\] \(samm\).*not inside data.root"):
        check_data_paths(data)


@pytest.mark.parametrize(("raw", "message"), [
    ({"data": {"source": "samm", "sources": [{"source": "samm", "root": "x"}]}},
     r"data.source has no meaning: give it per corpus as data.sources\[i\].source"),
    # h64 F2: the advice named no key that works
    ({"data": {"annotations": "a.xlsx", "sources": [{"source": "samm", "root": "x"}]}},
     r"data.annotations has no meaning: give it per corpus as data.sources\[i\].annotations"),
    ({"data": {"sources": [{"source": "samm", "root": "x"}, {"source": "samm", "root": "y"}]}},
     "lists samm twice"),
    ({"data": {"sources": [{"source": "casme", "root": "x"}]}}, "data.sources.0.source"),
    ({"evaluation": {"protocol": "cross-corpus", "train_corpora": ["casme2"]}},
     "needs evaluation.train_corpora and evaluation.test_corpora"),
    ({"data": {"sources": [{"source": "casme2", "root": "x"}, {"source": "samm", "root": "y"}]},
      "evaluation": {"protocol": "cross-corpus", "train_corpora": ["casme2"],
                     "test_corpora": ["smic"]}},
     r"names smic, which is not a corpus this run reads \(data.sources: casme2, samm\)"),
    # a break-it session: the embedded set was quoted as 'data.source: casme2'
    ({"evaluation": {"protocol": "cross-corpus", "train_corpora": ["casme2"],
                     "test_corpora": ["samm"]}},
     r"names samm, which is not a corpus this run reads \(data.source: synthetic, the "
     r"embedded CASME II-format corpus\); for the embedded composite, start from "
     r"examples/megc2019-synthetic.yaml"),
    ({"evaluation": {"train_corpora": ["casme2"]}}, "are for evaluation.protocol: cross"),
])
def test_params_mistakes_name_the_key(raw, message):
    with pytest.raises(ParamsError, match=message):
        parse_params(raw)


def test_bad_clip_stops_the_stage_or_is_skipped_and_reported(tmp_path):
    root = make_casme2(tmp_path)
    (root / "Cropped/sub02/EP05_03/reg_img31.jpg").unlink()  # a dropped frame mid-clip
    with pytest.raises(DatasetError, match=r"frame 31 .*on_bad_clip: skip"):
        build_manifest(DataParams(source="casme2", root=root), "casme2-5")
    manifest, report = build_manifest(DataParams(source="casme2", root=root,
                                                 on_bad_clip="skip"), "casme2-5")
    assert "EP05_03" not in set(manifest["clip"]) and len(manifest) == 4
    assert report["skipped"]["count"] == 1
    skipped = report["skipped"]["clips"][0]
    assert skipped["clip_id"] == "casme2/sub02/EP05_03"
    assert "frame 31" in skipped["reason"] and skipped["source"].endswith(":5")


def test_a_corpus_that_loses_most_clips_to_skip_is_warned_about(tmp_path, caplog):
    """h64 F5: with on_bad_clip: skip a corpus lost every clip, with only a line per clip;
    its cross-corpus test fold failed in the train stage, with no word of the skipped ones."""
    casme2, samm, smic = sources(tmp_path)
    for clip in {frame.parent for frame in smic.root.rglob("micro/*/*/*.bmp")}:
        sorted(clip.glob("*.bmp"))[1].unlink()  # a gap in every clip
    data = DataParams(root=tmp_path, sources=(casme2, samm, smic), on_bad_clip="skip")
    with caplog.at_level("WARNING", logger="mer.data"):
        manifest, report = build_manifest(data, "megc-3")
    assert "smic" not in set(manifest["dataset"]) and report["corpora"]["smic"]["clips"] == 0
    assert re.search(r"smic: every one of its clips \(\d+ of \d+\) were skipped for problems "
                     r"with their frames .* so it adds nothing to the run", caplog.text)
    assert "casme2: every" not in caplog.text and "samm: every" not in caplog.text


def test_report_ids_are_namespaced_like_the_manifest(tmp_path):
    casme2, samm, smic = sources(tmp_path)
    (casme2.root / "Cropped/sub02/EP05_03/reg_img31.jpg").unlink()
    data = DataParams(root=tmp_path, sources=(casme2, samm, smic), on_bad_clip="skip")
    manifest, report = build_manifest(data, "megc-3")
    assert report["skipped"]["clips"][0]["clip_id"] == "casme2/casme2_sub02/EP05_03"
    excluded = report["dropped"]["excluded"]
    assert [e["clip_id"] for e in excluded] == ["casme2/casme2_sub01/EP03_02"]
    assert report["corpora"]["casme2"]["skipped"]["clips"][0]["clip_id"] == \
        "casme2/casme2_sub02/EP05_03"
    estimated = report["apex_to_estimate"]["clip_ids"]
    assert set(estimated) <= set(manifest["clip_id"])


def test_frames_and_flow_images_in_one_run_are_refused_before_reading():
    """The issue: data.sources took CASME II frames beside a flow-image CSV at `mer data`,
    and only `mer faces` refused the manifest."""
    with pytest.raises(ParamsError, match=r"data.sources mixes frame corpora \(casme2\) with "
                                          r"flow-images.*mer export-flow-images"):
        parse_params({"data": {"root": "d", "sources": [
            {"source": "casme2", "root": "d/CASME2"},
            {"source": "flow-images", "root": "d/flows"}]}})


def test_adapter_errors_name_the_source(tmp_path):
    (tmp_path / "SAMM").mkdir()
    data = DataParams(root=tmp_path, sources=(
        CorpusSource(source="casme2", root=make_casme2(tmp_path / "CASME2")),
        CorpusSource(source="samm", root=tmp_path / "SAMM")))
    with pytest.raises(DatasetError, match=r"^data.sources\[1\] \(samm, root .*SAMM\): ") as raised:
        build_manifest(data, "megc-3")
    # its advice names the source's own keys (h64 F2: "point data.root at your SAMM copy", and
    # "set data.annotations", which data.sources refuses)
    assert "point data.sources[1].root at your SAMM copy" in str(raised.value)
    assert "data.root" not in str(raised.value)
    samm = make_samm(tmp_path / "SAMM2")
    for sheet in samm.rglob("*.xlsx"):
        sheet.rename(sheet.with_name("SAMM_codes.xlsx"))
    data = DataParams(root=tmp_path, sources=(
        CorpusSource(source="casme2", root=make_casme2(tmp_path / "CASME2b")),
        CorpusSource(source="samm", root=samm)))
    with pytest.raises(DatasetError, match=r"set data.sources\[1\].annotations to its path") \
            as raised:
        build_manifest(data, "megc-3")
    assert "data.annotations" not in str(raised.value)


def test_cross_corpus_on_a_flow_image_csv_is_accepted():
    params = parse_params({"data": {"source": "flow-images", "root": "flows"},
                           "evaluation": {"protocol": "cross-corpus",
                                          "train_corpora": ["casme2", "smic"],
                                          "test_corpora": ["samm"]}})
    assert params.evaluation.test_corpora == ("samm",)


def test_a_sheet_outside_data_root_is_read_with_a_warning(tmp_path, caplog):
    """The issue: the sheet found in data.root's parent was used silently, though DVC, which
    tracks data.root, never sees an edit to it."""
    root = make_casme2(tmp_path / "CASME2")
    (root / "CASME2-coding-20140508.xlsx").rename(tmp_path / "CASME2-coding-20140508.xlsx")
    manifest, _ = build_manifest(DataParams(source="casme2", root=root), "casme2-5")
    assert len(manifest) == 5
    assert f"{tmp_path}/CASME2-coding-20140508.xlsx lies outside data.root ({root}), so DVC " \
           "does not notice edits to it" in caplog.text
    caplog.clear()
    casme2, samm, smic = sources(tmp_path / "corpora")
    build_manifest(DataParams(root=tmp_path / "corpora", sources=(casme2, samm, smic)),
                   "megc-3")
    assert "outside data.root" not in caplog.text


def test_a_scheme_that_drops_most_of_a_corpus_is_warned_about(tmp_path, caplog):
    """The issue: SMIC under casme2-5 in a composite silently kept only its surprise clips."""
    casme2, _, smic = sources(tmp_path)
    _, report = build_manifest(DataParams(root=tmp_path, sources=(casme2, smic)), "casme2-5")
    assert report["corpora"]["smic"]["clips"] == 1
    assert "labels.scheme 'casme2-5' drops 3 of the 4 clips of smic (negative 2, positive 1)" \
        in caplog.text and "megc-3 keeps them" in caplog.text
    assert "clips of casme2" not in caplog.text


def test_a_corpus_linked_into_data_root_is_refused(tmp_path):
    """A break-it session: with corpora/CASME2 a symbolic link to the corpus on a shared
    drive, a corrected coding sheet behind the link left `dvc repro` at "up to date" and
    the old labels in every result: DVC does not follow a linked folder inside a dependency
    (the next test). data.root itself may be the link; linked files are followed."""
    share = tmp_path / "share"
    share.mkdir()
    made = sources(share)
    project = tmp_path / "project"
    (project / "corpora").mkdir(parents=True)
    for corpus in made:
        (project / "corpora" / corpus.root.name).symlink_to(corpus.root)
    data = DataParams(root=project / "corpora", sources=tuple(
        CorpusSource(source=c.source, root=project / "corpora" / c.root.name) for c in made))
    with pytest.raises(ParamsError) as refused:
        check_data_paths(data)
    message = str(refused.value)
    assert message.startswith("data.sources[0] (casme2): ")
    assert f"corpora/CASME2 -> {share / 'CASME2'}" in message
    assert "which DVC does not follow" in message and "Make data.root itself the link" in message

    (project / "linked").symlink_to(share)  # data.root the link: DVC follows it
    check_data_paths(DataParams(root=project / "linked", sources=tuple(
        CorpusSource(source=c.source, root=project / "linked" / c.root.name) for c in made)))

    # one clip folder linked in from elsewhere, in a single corpus
    casme2 = made[0].root
    clip = next(p for p in casme2.rglob("*") if p.is_dir() and any(p.glob("*.jpg")))
    clip.rename(tmp_path / "moved")
    clip.symlink_to(tmp_path / "moved")
    with pytest.raises(ParamsError, match=r"^data.root: .*-> .*moved: a symbolic link to a "
                                          r"folder inside data.root"):
        check_data_paths(DataParams(source="casme2", root=casme2))


def test_dvc_does_not_follow_a_linked_folder_inside_a_dependency(tmp_path):
    """What the refusal above rests on, with the real DVC: an edit behind a linked folder
    inside a dependency leaves the stage unchanged; behind the dependency itself, not."""
    import subprocess
    import sys

    def dvc(*args):
        return subprocess.run([sys.executable, "-m", "dvc", *args], cwd=tmp_path / "project",
                              capture_output=True, text=True, check=True).stdout

    for name in ("inner", "outer"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "sheet.csv").write_text("a\n")
    project = tmp_path / "project"
    (project / "corpora").mkdir(parents=True)
    (project / "corpora" / "CASME2").symlink_to(tmp_path / "inner")
    (project / "linked").symlink_to(tmp_path / "outer")
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    dvc("init", "-q")
    dvc("stage", "add", "-q", "-n", "inside", "-d", "corpora", "true")
    dvc("stage", "add", "-q", "-n", "itself", "-d", "linked", "true")
    dvc("repro", "-q")
    for name in ("inner", "outer"):
        (tmp_path / name / "sheet.csv").write_text("b\n")
    status = dvc("status")
    assert "itself:" in status and "inside:" not in status, status


def test_a_long_video_folder_linked_into_spotting_root_is_refused(tmp_path):
    """spotting.root is spot-eval's DVC dependency, as data.root is the data stage's."""
    from mer.config import SpottingParams, check_spotting_paths

    (tmp_path / "share" / "s15").mkdir(parents=True)
    root = tmp_path / "CAS(ME)^2"
    root.mkdir()
    (root / "s15").symlink_to(tmp_path / "share" / "s15")
    with pytest.raises(ParamsError, match=r"^spotting.root: .*s15 -> .*: a symbolic link to a "
                                          r"folder inside spotting.root"):
        check_spotting_paths(SpottingParams(source="casme_sq", root=root))
    (root / "s15").unlink()
    (root / "s15").mkdir()
    check_spotting_paths(SpottingParams(source="casme_sq", root=root))

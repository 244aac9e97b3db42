"""One entry point to the long-video corpora: a source name and a root in, LongVideos out."""

import pytest
from data_builders import make_casme_sq, make_samm_lv

from mer.data.spotting_corpora import read_long_videos
from mer.errors import ParamsError


def test_each_source_reads_its_corpus_sorted(tmp_path):
    casme = read_long_videos("casme_sq", make_casme_sq(tmp_path / "casme"), None)
    samm = read_long_videos("samm_lv", make_samm_lv(tmp_path / "samm"),
                            tmp_path / "samm" / "SAMM_LongVideos_V3_Release.xlsx")
    assert [v.video for v in casme] == ["15_0101", "15_0502", "16_0101", "16_0502"]
    assert [(v.dataset, v.subject, v.video) for v in samm] == [
        ("samm_lv", "006", "006_1"), ("samm_lv", "006", "006_2"), ("samm_lv", "007", "007_3")]


def test_unknown_source(tmp_path):
    with pytest.raises(ParamsError, match=r"unknown long-video corpus 'samm'; use one of "
                                          r"casme_sq, samm_lv"):
        read_long_videos("samm", tmp_path, None)


def test_videos_that_no_row_codes_are_named_in_a_warning(tmp_path, caplog):
    """The re-check: a video whose rows the workbook lacks (a partial copy) was scored as
    holding no expression, every interval spotted in it a false positive, without a word."""
    root = make_casme_sq(tmp_path / "casme")  # 16_0101 has no row
    with caplog.at_level("WARNING", logger="mer.data"):
        read_long_videos("casme_sq", root, None)
    assert (f"{root}: 1 of the 4 casme_sq videos have no coded interval (s16/16_0101): they "
            "are scored as holding no expression") in caplog.text


def test_a_corpus_left_with_one_subject_is_refused_before_the_signals(tmp_path, caplog):
    """A review (h71): when leaving rows out (onset 0) left one subject, spot-eval computed
    every video's signals, then stopped on a bare "leave-one-subject-out needs 2 or more
    subjects", which did not say rows were left out."""
    from mer.config import SpottingParams
    from mer.data.spotting_corpora import read_spotting_corpus
    from mer.errors import DatasetError

    rows = [[1, "disgust1_1", 3, 5, 8, "4", "negative", "micro-expression", "x"],
            [2, "disgust1_1", 0, 5, 8, "4", "negative", "micro-expression", "x"]]  # onset 0
    root = make_casme_sq(tmp_path / "casme", rows=rows,
                         frames={(15, "0101"): 20, (16, "0101"): 10})
    with caplog.at_level("WARNING", logger="mer.data"), \
            pytest.raises(DatasetError, match=r"1 subject\(s\) with videos to score \(s15\); "
                                              r"spot-eval's leave-one-subject-out needs 2"):
        read_spotting_corpus(SpottingParams(source="casme_sq", root=root))
    assert "video(s) s16/16_0101 hold only rows left out" in caplog.text

"""Same seed, same bytes (whatever the worker count); another seed, another dataset."""

from pathlib import Path

from mer.synthetic.write_casme2 import SHEET, generate_dataset


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_byte_identical_files_with_any_worker_count(tiny_dataset, tiny_params,
                                                                    tmp_path):
    generate_dataset(tmp_path / "again", tiny_params.model_copy(update={"workers": 2}), seed=0)
    first, again = _files(tiny_dataset), _files(tmp_path / "again")
    assert sorted(first) == sorted(again)
    assert sum(name.endswith(".jpg") for name in first) > 200
    different = [name for name in first if first[name] != again[name]]
    assert different == []


def test_another_seed_gives_another_dataset(tiny_dataset, tiny_params, tmp_path):
    generate_dataset(tmp_path / "other", tiny_params, seed=1)
    first, other = _files(tiny_dataset), _files(tmp_path / "other")
    assert first[SHEET] != other[SHEET]
    frames = {data for name, data in first.items() if name.endswith(".jpg")}
    other_frames = {data for name, data in other.items() if name.endswith(".jpg")}
    assert frames and other_frames and not frames & other_frames


def _under(files: dict[str, bytes], *prefixes: str) -> dict[str, bytes]:
    return {name: data for name, data in files.items() if name.startswith(prefixes)}


SAMM_AND_SMIC = ("SAMM", "HS")  # SAMM/, SAMM_*.xlsx, SAMM_ground_truth.csv, HS/, HS_*.csv


def test_casme2_files_do_not_depend_on_the_other_formats(tiny_dataset, tiny_all_dataset):
    alone, together = _files(tiny_dataset), _files(tiny_all_dataset)
    casme2 = {name: data for name, data in together.items()
              if not name.startswith(SAMM_AND_SMIC)}
    assert casme2 == alone  # byte for byte: adding SAMM and SMIC changes nothing of CASME II


def test_samm_and_smic_files_are_the_same_for_any_worker_count_and_company(
        tiny_all_dataset, tiny_all_params, tmp_path):
    params = tiny_all_params.model_copy(update={"workers": 2, "corpora": ("smic", "samm")})
    generate_dataset(tmp_path / "again", params, seed=0)
    first = _under(_files(tiny_all_dataset), *SAMM_AND_SMIC, "synthesis.json")
    again = _files(tmp_path / "again")
    assert sorted(again) == sorted(first)
    assert sum(n.endswith(".jpg") for n in first) > 300 and sum(
        n.endswith(".bmp") for n in first) > 100
    assert [name for name in first if first[name] != again[name]] == []


def test_the_dataset_records_the_seed_it_was_drawn_from(tiny_dataset):
    """So a pretraining corpus drawn from the same seed is refused whatever reads the folder
    (mer.models.pretrain.check_unseen_subjects)."""
    from mer.synthetic.record import synthesis_seeds

    assert synthesis_seeds([tiny_dataset]) == {0: tiny_dataset / "synthesis.json"}

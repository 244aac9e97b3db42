"""Same seed, same bytes (whatever the worker count); another seed, another dataset."""

from pathlib import Path

from mer.data.synthetic import SHEET, generate_dataset


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

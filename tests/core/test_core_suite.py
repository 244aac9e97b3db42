"""The suite's own order: conftest.FIRST, the files that build real projects, start first."""

from __future__ import annotations

from conftest import FIRST, TESTS


def test_every_file_collected_first_exists():
    """A renamed file would silently start last again."""
    assert [name for name in FIRST if not (TESTS / name).is_file()] == []


def test_the_costliest_files_are_collected_first_in_their_order(request):
    files = list(dict.fromkeys(item.path.relative_to(TESTS).as_posix()
                               for item in request.session.items))
    first = [name for name in files if name in FIRST]
    assert files[:len(first)] == first == [name for name in FIRST if name in first]

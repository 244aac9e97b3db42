"""Cache keys hold the digest of the code that computes the cached result: every mer module it
imports, not the packages it lives in."""

from __future__ import annotations

import re
import shutil

import pytest

from mer.core import code
from mer.errors import MerError
from mer.evaluation.loso import CODE_PACKAGES, code_digest

PRETRAIN = ("mer.models.pretrain",)


@pytest.fixture
def source_copy(tmp_path, monkeypatch):
    """A copy of the mer sources, which code's digests read instead of the real ones."""
    root = tmp_path / "src"
    shutil.copytree(code.PACKAGE, root / "mer", ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(code, "PACKAGE", root / "mer")
    monkeypatch.setattr(code, "SOURCE_ROOT", root)
    return root / "mer"


def edit(path):
    path.write_text(path.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")


def test_an_edit_to_any_module_a_fold_imports_changes_the_fold_key(source_copy):
    """A break-it session: editing mer.features.sampling (which picks the flow every reference
    net reads) left 104 of 104 cached folds 'made with the same code', and their stale
    predictions were returned."""
    folds, pretrained = code_digest(), code_digest(PRETRAIN)
    assert code_digest() == folds  # the same files, the same digest
    for module in ("features/sampling.py", "core/clipset.py", "config.py"):
        edit(source_copy / module)
        assert code_digest() != folds, module
        folds = code_digest()
    edit(source_copy / "tracking" / "ui.py")  # no fold imports it: the cache stays valid
    edit(source_copy / "stages" / "train.py")
    assert code_digest() == folds
    # the pretrained net's key follows the generator and faces code that builds its corpus
    for module in ("synthetic/face.py", "faces/align.py"):
        edit(source_copy / module)
        assert code_digest(PRETRAIN) != pretrained, module
        pretrained = code_digest(PRETRAIN)
    # and the portraits it draws its faces from (a break-it session: a flipped portrait kept
    # the key), which are data files, not modules
    portrait = source_copy / "assets" / "faces" / "obama.png"
    portrait.write_bytes(portrait.read_bytes() + b"\0")
    assert code_digest(PRETRAIN) != pretrained


def test_the_closure_follows_imports_inside_functions():
    files = {p.relative_to(code.SOURCE_ROOT).as_posix() for p in code.closure(CODE_PACKAGES)}
    # mer.evaluation.loso imports mer.core.code inside code_digest only
    assert {"mer/core/code.py", "mer/features/sampling.py", "mer/__init__.py"} <= files
    assert not any(f.startswith(("mer/stages/", "mer/tracking/")) for f in files)
    with pytest.raises(KeyError, match=r"mer\.nothing is not a mer module"):
        code.closure(["mer.nothing"])


def test_an_import_added_to_a_module_already_read_joins_the_closure(source_copy):
    """The imports of each file are cached by its text (a profile: `mer train` parsed the same
    192 files for several closures); an edited file is read afresh."""
    ui = source_copy / "tracking" / "ui.py"
    assert ui not in code.closure(CODE_PACKAGES)
    sampling = source_copy / "features" / "sampling.py"
    sampling.write_text(sampling.read_text(encoding="utf-8")
                        + "\n\ndef _later():\n    import mer.tracking.ui  # noqa: F401\n",
                        encoding="utf-8")
    assert ui in code.closure(CODE_PACKAGES)


def test_a_module_saved_with_a_byte_order_mark_is_read_as_python_reads_it(source_copy):
    """A break-it session: a mer file saved with a UTF-8 byte-order mark, which Python runs,
    stopped every closure (so every `mer train`) with a SyntaxError."""
    sampling = source_copy / "features" / "sampling.py"
    sampling.write_bytes(b"\xef\xbb\xbf" + sampling.read_bytes()
                         + b"\n\ndef _later():\n    import mer.tracking.ui  # noqa: F401\n")
    assert source_copy / "tracking" / "ui.py" in code.closure(CODE_PACKAGES)


def test_a_module_python_cannot_read_is_named_with_its_line(source_copy):
    """A break-it session: a syntax error in one of some 200 files said only "<unknown>, line
    35"; a null byte gave Python's ValueError without a file."""
    sampling = source_copy / "features" / "sampling.py"
    text = sampling.read_bytes()
    lines = text.count(b"\n")
    sampling.write_bytes(text + b"def broken(:\n")
    with pytest.raises(MerError, match=rf"^{re.escape(str(sampling))}, line {lines + 1}: mer "
                       r"cannot read this source file's imports, nor could Python import it "
                       r"\(invalid syntax.*\): mend the file$"):
        code.closure(CODE_PACKAGES)
    sampling.write_bytes(text + b"\0")
    with pytest.raises(MerError, match=rf"^{re.escape(str(sampling))}: mer cannot read"):
        code.closure(CODE_PACKAGES)

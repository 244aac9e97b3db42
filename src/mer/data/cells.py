"""Reading one annotation cell: frame numbers, subject ids, plain text.

Spreadsheets hand us ints, floats (``46.0``), text (``'046'``, ``' 46 '``) or nothing for the
same kind of value; every adapter reads cells through these few functions, so a cell means
the same thing whichever corpus it comes from. ``where`` names the file and row for errors.
"""

from __future__ import annotations

import re

from mer.core.frames import NO_FRAME
from mer.errors import DatasetError

# What annotators write for "no apex": CASME II uses '/', SAMM -1, others leave it empty.
_NO_VALUE = {"", "/", "-", "?", "n/a", "na", "none", "nan"}
_SUBJECT = re.compile(r"^(?:sub|s)?0*(\d+)$", re.IGNORECASE)


def is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def cell_text(value: object) -> str:
    """A cell as text: integral floats lose their '.0' (openpyxl gives 12.0 for a '12' cell)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def frame_number(value: object, column: str, where: str, *, missing_ok: bool = False) -> int:
    """A frame number >= 0; NO_FRAME for an empty/'/'/negative cell when ``missing_ok``."""
    text = cell_text(value)
    if missing_ok and (text.lower() in _NO_VALUE or re.fullmatch(r"-\d+", text)):
        return NO_FRAME
    if isinstance(value, bool) or not re.fullmatch(r"\d+", text):
        shown = "an empty cell" if text == "" else repr(text)
        hint = " (leave the apex as '/' or empty to have it estimated)" if missing_ok else ""
        raise DatasetError(f"{where}: column '{column}' holds {shown}, not a frame number; "
                           f"write the frame number as a whole number >= 0{hint}")
    return int(text)


def whole_number(value: object) -> int | None:
    """A cell holding a whole number >= 0 as that number; None for anything else (optional
    columns such as SAMM's Duration, whose formula cells may hold no value at all)."""
    text = cell_text(value)
    if isinstance(value, bool) or not re.fullmatch(r"\d+", text):
        return None
    return int(text)


def subject_number(value: object, column: str, where: str) -> int:
    """The number in a subject id written 1, '01', 'sub01' or 's1'."""
    match = _SUBJECT.fullmatch(cell_text(value))
    if match is None:
        raise DatasetError(f"{where}: column '{column}' holds {cell_text(value)!r}, not a "
                           "subject id; write the subject's number (1, 01 or sub01)")
    return int(match.group(1))


def required_text(value: object, column: str, where: str) -> str:
    text = cell_text(value)
    if not text:
        raise DatasetError(f"{where}: column '{column}' is empty; fill it in or delete the row")
    return text

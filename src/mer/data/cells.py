"""Reading one annotation cell: frame numbers, subject ids, plain text.

Spreadsheets hand us ints, floats (``46.0``), text (``'046'``, ``' 46 '``) or nothing for the
same kind of value; every adapter reads cells through these few functions, so a cell means
the same thing whichever corpus it comes from. ``where`` names the file and row for errors.
"""

from __future__ import annotations

import datetime
import re
import unicodedata

from mer.core.frames import NO_FRAME
from mer.errors import DatasetError
from mer.labels import is_dash

# What annotators write for "no apex": CASME II uses '/', SAMM -1, others leave it empty.
_NO_VALUE = {"", "/", "-", "?", "n/a", "na", "none", "nan"}
# What may stand between the parts of a subject id, read in id_text: 'sub_01', 'Subject 1',
# 'spNO.1', 'CASME II-sub01', CASME2\\sub01.
ID_SEPARATORS = "_-. \\"
_SEPARATORS = re.compile("[" + re.escape(ID_SEPARATORS) + "]+")
# The runs a subject id's parts are read in: letters, a number, or one other character.
_RUN = re.compile(r"(?P<letters>[^\W\d_]+)|(?P<number>\d+)|.")
# The words a numbered subject id may have before its number: CASME II's 'sub01', SMIC's
# 's1', SAMM's sheet column 'Subject' ('Subject 006').
_SUBJECT_WORDS = frozenset({"sub", "s", "subj", "subject"})
# The '.' or '.0' a CSV's number column, or a typist, may leave after a subject's number
# ('1.0', 'sub01.').
_NUMBER_END = re.compile(r"(?<=\d)\.0*$")
# A whole number as a cell's text: '46', and '46.0' as a CSV writes a number column that has
# an empty cell (the same value an xlsx cell gives as the float 46.0).
_WHOLE = re.compile(r"(\d+)(?:\.0*)?")


class UnsavedFormula(str):
    """A formula cell (its text, '=C3+7') whose workbook holds no value for it: the file was
    written by a program that does not compute formulas (openpyxl, pandas, xlsxwriter), so a
    reader sees an empty cell where a spreadsheet program shows a number."""


class MergedCell(str):
    """A cell of a range of merged cells other than its first, read as empty (''): a
    spreadsheet program shows the first cell's value across the range, but the file holds
    it in the first cell only. ``cells`` is the range ('A2:A10')."""

    cells: str

    def __new__(cls, cells: str) -> MergedCell:
        cell = super().__new__(cls, "")
        cell.cells = cells
        return cell


def check_saved(value: object, column: str, where: str) -> None:
    """A DatasetError when ``value`` is an UnsavedFormula or a MergedCell: read as empty,
    it would pass for an uncoded cell (an apex to estimate, a clip to leave out), or be
    called empty where the sheet shows a value."""
    if isinstance(value, MergedCell):
        raise DatasetError(
            f"{where}: column '{column}' lies in the merged cells {value.cells}, which show "
            "their first cell's value on every row but hold it in the first row only; "
            "unmerge them and write the value in every row (in Excel or LibreOffice: select "
            "them, undo Merge & Center, then fill down)")
    if isinstance(value, UnsavedFormula):
        raise DatasetError(
            f"{where}: column '{column}' holds the formula '{value}' with no saved value (the "
            "workbook was written by a program that does not compute formulas, such as "
            "openpyxl or pandas); open it in Excel or LibreOffice and save it, which stores "
            "each formula's value, or write the value itself")


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
    """A frame number >= 0 (written 46 or 46.0). With ``missing_ok`` (an apex): NO_FRAME for
    a cell saying "not coded" (empty, '/', -1, ...), and any other negative number as it is,
    so the frame check reports it as an apex outside its clip rather than as not coded."""
    if missing_ok:
        check_saved(value, column, where)
        text = cell_text(value)
        if text.lower() in _NO_VALUE:
            return NO_FRAME
    else:
        text = required_text(value, column, where)
    negative = missing_ok and text.startswith("-")
    number = None if isinstance(value, bool) else whole_number(text[1:] if negative else text)
    if number is None:
        hint = " (leave the apex as '/' or empty to have it estimated)" if missing_ok else ""
        if isinstance(value, datetime.datetime | datetime.date | datetime.time):
            # (h64: a column formatted as Date showed the 172 typed in it as 1900-06-20)
            raise DatasetError(f"{where}: column '{column}' holds a date or time, {text!r}: "
                               "the cell is formatted as a date, so the number typed in it "
                               "reads as one; format the column as Number and check its "
                               f"values{hint}")
        raise DatasetError(f"{where}: column '{column}' holds {text!r}, not a frame number; "
                           f"write the frame number as a whole number >= 0{hint}")
    return -number if negative else number


def whole_number(value: object) -> int | None:
    """A cell holding a whole number >= 0 (46, 46.0, '46', '46.0') as that number; None for
    anything else (optional columns such as SAMM's Duration, whose formula cells may hold no
    value at all)."""
    match = None if isinstance(value, bool) else _WHOLE.fullmatch(cell_text(value))
    return int(match.group(1)) if match else None


def id_text(text: str) -> str:
    """A subject id as ids are read: NFKC (full-width 'ｓｕｂ０１' is 'sub01'), without the
    spaces around it, and any dash written '-' (labels.is_dash; a break-it session: a list
    edited in a word processor wrote 'CASME II–sub01' with an en dash, which was no
    separator). Each character stays one character, so an index into the result is one into
    the NFKC text."""
    text = unicodedata.normalize("NFKC", text).strip()
    return "".join("-" if is_dash(ch) else ch for ch in text)


def _id_runs(text: str) -> tuple[str, ...]:
    """A subject id as a sequence: its runs of letters (without case) and of digits, and its
    other characters, in order, without the separators between them; a number without its
    leading zeros ('01' is '1') where it begins the id or follows letters, not elsewhere
    ('1.01' is not '1.1', nor 'A+01' 'A+1'); a separator it begins or ends with is a run
    '_'. So 'sub01', 'sub_1' and 'SUB 001' are ('sub', '1'), 'VIS_s1' and 'VIS s01' ('vis',
    's', '1'), 'spNO.01' and 'spNO1' ('spno', '1'), while '1_2' ('1', '2') and '12' ('12')
    stay apart, and so do 'Li_Na' and 'Lin_A' (a break-it session: letters joined across
    separators made them one person)."""
    parts = _SEPARATORS.split(unicodedata.normalize("NFKC", id_text(text).casefold()))
    runs: list[str] = []
    for part in parts:
        if not part:  # a separator at either end ('_1', 'sub01_'); split gives '' there
            runs.append("_")
        for match in _RUN.finditer(part):
            # a person's number: '006', 'sub01', '_01' (a separator before it)
            counted = not runs or runs[-1].isalpha() or runs[-1] == "_"
            number = match["number"]
            runs.append(str(int(number)) if number and counted else match[0])
    return tuple(runs)


def _numbered(text: str) -> tuple[str, int] | None:
    """(convention, number) of a subject id written as a number, the convention being what
    stands before the number, without case and with any separator as '_': ('', 6) for
    '006' and for '6.0' as a CSV's number column writes it, ('sub', 1) for 'sub01' and
    'Sub1.', ('sub_', 1) for 'sub_01' and 'Sub-1' (not CASME II's own), ('s', 1) for 's1',
    ('subject', 6) for 'Subject 006', 'subj6' and 'SUBJECT_6' (no corpus's: one
    convention whatever the separator); None for another id (_SUBJECT_WORDS)."""
    text = _NUMBER_END.sub("", id_text(text))
    runs = _id_runs(text)
    if not runs or not runs[-1].isdecimal() or len(runs) > 2 or (
            len(runs) == 2 and runs[0] not in _SUBJECT_WORDS):
        return None
    word, number = ("", runs[0]) if len(runs) == 1 else runs
    if word in ("subj", "subject"):
        return "subject", int(number)
    separated = bool(word) and text[len(word)] in ID_SEPARATORS  # _SUBJECT_WORDS are ASCII
    return word + ("_" if separated else ""), int(number)


def subject_number(value: object, column: str, where: str) -> int:
    """The number in a subject id written 1, '01', 'sub01', 's1', 'sub_01' or 'Subject 1'."""
    text = required_text(value, column, where)
    numbered = _numbered(text)
    if numbered is None:
        raise DatasetError(f"{where}: column '{column}' holds {text!r}, not a subject id; "
                           "write the subject's number (1, 01 or sub01)")
    return numbered[1]


def subject_key(text: str) -> int | tuple[str, ...]:
    """Who a subject id written as free text names: the number of one written as a number
    (1, '01', 'sub01', 's1', 'Sub01', 'sub_01', 'sub–01', 'Subject 1' and full-width
    'ｓｕｂ０１' are all 1: _numbered), else its runs (_id_runs): without case, separators or
    a person number's leading zeros ('spNO.01', 'spNO.1' and 'SPNO1' are one person, 'VIS_s1'
    and 'VIS s1' another, 'sp.NO.1' a third: letters apart are not joined; 'Alice' and
    'alice' are one, and so are 'Zoë' typed composed and 'Zoë' decomposed as a Mac writes
    it), read in NFKC as the letters compatibility forms stand for. A break-it session
    found one person written 'sub01', 'sub_01', 'Subject 1' and 'sub–01' read as four LOSO
    subjects, each tested on a model trained on the others."""
    numbered = _numbered(text)
    return numbered[1] if numbered else _id_runs(text)


# A drive-letter ('C:\data', 'C:/data') or network ('\\server\share') path, as a list written
# on Windows may hold: relative to nothing here.
_WINDOWS_ABSOLUTE = re.compile(r"^([A-Za-z]:[\\/]|\\\\)")


def listed_path(value: object, column: str, where: str) -> str:
    """A path a CSV list's cell names, with '/' between folders: a list written on Windows
    separates them with '\\' (never part of a name there). A drive-letter or network path
    is a DatasetError: it names nothing on this machine."""
    written = required_text(value, column, where)
    if _WINDOWS_ABSOLUTE.match(written):
        raise DatasetError(f"{where}: column '{column}' holds {written!r}, a path on a Windows "
                           "machine, which this one cannot open; write each path relative to "
                           "the CSV's folder (e.g. flow/x.png), with the files copied there")
    return written.replace("\\", "/")


def subject_prefix(text: str) -> str | None:
    """The convention a numbered subject id is written in (_numbered): 'sub' (CASME II's
    'sub01'), 's' (SMIC's 's1'), '' (a bare number: SAMM's '006', a sheet's '1'), or another
    ('sub_' for 'sub_01', 'subject' for 'Subject 006', SAMM's sheet's heading): no corpus's
    own, so it tells no corpus (a break-it session: 'Sub 006', a SAMM folder, was read as
    CASME II's sub06); None for an id that is no number (subject_key)."""
    numbered = _numbered(text)
    return numbered[0] if numbered else None


def subject_text(value: object, column: str, where: str) -> str:
    """A subject id kept as written (free text), but for the '.0' a CSV's number column adds:
    '1.0' is subject 1, written '1'. DatasetError for one holding '/', which separates the
    dataset, subject and clip of a clip id (a break-it session: 'CASME2/sub01', 'CASME2/sub02'
    became one LOSO subject, 'CASME2'), or marking no value as the sheets' other cells do
    ('-', 'n/a', 'none', 'nan') or holding no letter or digit (break-it sessions found them
    read as people)."""
    text = required_text(value, column, where)
    if text.casefold() in _NO_VALUE or not any(c.isalnum() for c in text):
        raise DatasetError(f"{where}: column '{column}' holds {text!r}, which marks no value "
                           "(or holds no letter or digit), so no person's id; fill in the "
                           "subject or delete the row")
    if "/" in text:
        raise DatasetError(f"{where}: column '{column}' holds {text!r}, with a '/': a subject "
                           "id is one name (mer writes a clip as dataset/subject/clip); write "
                           "the subject alone, and its corpus in a 'dataset' column")
    whole = _WHOLE.fullmatch(text)  # '006' stays '006'
    return whole.group(1) if whole else text


def required_text(value: object, column: str, where: str) -> str:
    check_saved(value, column, where)
    text = cell_text(value)
    if not text:
        raise DatasetError(f"{where}: column '{column}' is empty; fill it in or delete the row")
    return text

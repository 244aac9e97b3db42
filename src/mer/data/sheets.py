"""Annotation tables (xlsx or csv): find the sheet and its header row, name rows as users see them.

Corpus sheets are messy in the same few ways: text rows above the header (SAMM has ~13),
extra empty worksheets, unnamed and trailing empty columns, formula cells, trailing empty
rows. ``read_table`` copes with all of them once, for every adapter: it looks for the first
row, in any worksheet, holding every required column, and returns the data rows below it
keyed by our column names, each with the row number a spreadsheet program shows. Also here:
finding a corpus's sheet, its folder of subject folders, and the folder of each subject: a
sheet's subject is matched to the folders on disk by its number, whatever zero padding either
uses (``s01``/``s1``, ``sub1``/``sub01``, ``6``/``006``).
"""

from __future__ import annotations

import codecs
import csv
import fnmatch
import io
import logging
import re
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mer.config import is_inside
from mer.data.cells import MergedCell, UnsavedFormula, is_blank
from mer.errors import DatasetError

log = logging.getLogger(__name__)

# Header rows are searched for this far down each worksheet: SAMM's sits at row 14, behind
# its notes and citations; anything much deeper is not the header of an annotation sheet.
HEADER_SEARCH_ROWS = 40

EXCEL_SUFFIXES = {".xlsx", ".xlsm"}

# Our column name -> header spellings accepted for it (compared without case, spaces, '_').
ColumnSpec = Mapping[str, Sequence[str]]


def _key(header: object) -> str:
    return re.sub(r"[^a-z0-9]", "", str(header).lower()) if header is not None else ""


@dataclass(frozen=True)
class Row:
    number: int  # 1-based, as a spreadsheet program shows it
    values: dict[str, object]  # our column name -> raw cell value (None when empty)


@dataclass(frozen=True)
class Table:
    path: Path
    sheet: str | None  # worksheet name; None for csv
    header_row: int
    headers: dict[str, str]  # our column name -> header as written in the file
    rows: tuple[Row, ...]

    def where(self, row: Row) -> str:
        """'file, row N' (with the worksheet when the workbook has it) for messages."""
        sheet = f", sheet '{self.sheet}'" if self.sheet else ""
        return f"{self.path}{sheet}, row {row.number}"

    def source(self, row: Row) -> str:
        """'file:row' for the manifest's source column."""
        return f"{self.path}:{row.number}"


@dataclass(frozen=True)
class Found:
    """A worksheet whose header row has the required columns: its table, or the error its
    header row raises (a column written twice)."""

    sheet: str | None
    hidden: bool
    table: Table | DatasetError

    @property
    def empty(self) -> bool:
        return isinstance(self.table, Table) and not self.table.rows


def _worksheets(path: Path) -> Iterator[tuple[str | None, list[tuple[object, ...]], bool]]:
    """(worksheet name, rows of cell values, hidden) of an xlsx or csv file; a CSV is one
    unnamed, visible sheet."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        try:
            rows = [tuple(row) for row in csv.reader(io.StringIO(read_csv_text(path),
                                                                 newline=""))]
        except csv.Error as exc:
            raise DatasetError(f"{path}: not a readable CSV file ({exc}); export the sheet "
                               "again as CSV UTF-8") from None
        yield None, rows, False
        return
    if suffix not in EXCEL_SUFFIXES:
        raise DatasetError(f"{path}: annotation files must be .xlsx or .csv, not '{suffix}'; "
                           "open it in a spreadsheet program and save it as .xlsx")
    from openpyxl.utils.cell import range_boundaries

    try:
        # data_only: a formula cell (SAMM's Duration) reads as its cached value, not '=F15-D15'.
        # read_only streams the cells: a sheet whose columns are formatted down to row 200 000
        # (what "format the whole column" saves) took 94 s and 777 MB loaded whole, for 32 rows.
        workbook = _load_workbook(path, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a damaged or mislabelled file
        raise DatasetError(f"{path}: cannot be read as an Excel workbook ({type(exc).__name__}: "
                           f"{exc}); check the file is the original .xlsx") from None
    if not workbook.worksheets:  # (h64: then called a sheet without the right columns)
        workbook.close()
        raise DatasetError(f"{path}: holds no worksheet openpyxl can read (a workbook saved as "
                           "'Strict Open XML Spreadsheet' reads as none); open it in a "
                           "spreadsheet program and save it as 'Excel Workbook (.xlsx)' or "
                           "'CSV UTF-8'")
    try:
        unsaved = _unsaved_formulas(path)
        for sheet in workbook.worksheets:
            rows = _sheet_rows(sheet)
            for (row, column), formula in unsaved.get(sheet.title, {}).items():
                if row < len(rows) and rows[row][column] is None:  # no value saved for it
                    rows[row][column] = UnsavedFormula(formula)
            for cells in _merged_ranges(sheet):
                first_column, first_row, last_column, last_row = range_boundaries(cells)
                for row in range(first_row - 1, min(last_row, len(rows))):
                    for column in range(first_column - 1, min(last_column, len(rows[row]))):
                        if (row, column) != (first_row - 1, first_column - 1) and \
                                rows[row][column] is None:
                            rows[row][column] = MergedCell(cells)
            yield sheet.title, [tuple(row) for row in rows], sheet.sheet_state != "visible"
    finally:
        workbook.close()


def _load_workbook(path: Path, data_only: bool) -> Any:
    """openpyxl's read-only workbook of ``path`` (``data_only``: formula cells as their saved
    values), without openpyxl's complaints about the parts it skips: the workbook's
    worksheets, or the caller's error, say what matters (h64: one leaked)."""
    import openpyxl

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return openpyxl.load_workbook(path, read_only=True, data_only=data_only)


def _sheet_rows(sheet: Any) -> list[list[object]]:
    """The cell values of a read-only worksheet, row 1 first, as rows of one length (the
    longest row's), without the trailing rows that hold no value (formatted empty cells)."""
    sheet.reset_dimensions()  # read every cell there is, not the extent the file claims
    rows = [list(row) for row in sheet.iter_rows(min_row=1, values_only=True)]
    while rows and all(value is None for value in rows[-1]):
        rows.pop()
    width = max(map(len, rows), default=0)
    return [row + [None] * (width - len(row)) for row in rows]


# A range of merged cells in a worksheet's XML: <mergeCell ref="A2:A10"/>.
_MERGED = re.compile(rb'<(?:\w+:)?mergeCell\b[^>]*?\bref="([A-Z]+[0-9]+:[A-Z]+[0-9]+)"')


def _merged_ranges(sheet: Any) -> list[str]:
    """The ranges of merged cells of a read-only worksheet ('A2:A10'), which openpyxl's
    read-only mode does not read: from the worksheet's XML, where they follow the cells."""
    with sheet._get_source() as source:  # read-only sheets expose no merged_cells
        return [match.decode() for match in _MERGED.findall(source.read())]


def _unsaved_formulas(path: Path) -> dict[str, dict[tuple[int, int], str]]:
    """Sheet name -> (row, column) index from A1 -> text of every formula cell of the
    workbook; the caller keeps those its data_only load found no value for."""
    workbook = _load_workbook(path, data_only=False)  # formulas as written
    try:
        for sheet in workbook.worksheets:
            sheet.reset_dimensions()  # every cell there is, not the extent the file claims
        return {sheet.title: {(cell.row - 1, cell.column - 1): str(getattr(cell.value, "text",
                                                                           cell.value))
                              for row in sheet.iter_rows(min_row=1) for cell in row
                              if getattr(cell, "data_type", None) == "f"}
                for sheet in workbook.worksheets}
    finally:
        workbook.close()


def _match(cells: Sequence[object], columns: ColumnSpec) -> dict[str, list[int]]:
    """Our column name -> indexes of the cells whose header is one of its spellings."""
    keys = [_key(c) for c in cells]
    return {name: [i for i, k in enumerate(keys) if k and k in {_key(s) for s in spellings}]
            for name, spellings in columns.items()}


def read_table(path: str | Path, required: ColumnSpec, optional: ColumnSpec | None = None,
               what: str = "annotation sheet", key: str = "data.annotations",
               advice: Mapping[str, str] | None = None) -> Table:
    """The data rows of the worksheet whose header row holds every ``required`` column.

    When several worksheets have the columns, the first visible one with data rows is read:
    an empty template and a hidden sheet are passed over, and a warning names the sheet read
    and the others. A hidden sheet is read only when no visible one has the columns and rows,
    with a warning that says so. ``Table.sheet`` names the sheet read (None for a CSV).
    ``key``: the params key that names the file, for messages; ``advice``: required column ->
    what to do when a file lacks it (instead of renaming a column to its name).
    """
    path = Path(path)
    optional = optional or {}
    if path.is_dir():
        raise DatasetError(f"{path}: is a folder, not the {what}; set {key} to the "
                           "file itself (.xlsx or .csv)")
    if not path.is_file():
        raise DatasetError(f"{path}: {what} not found; set {key} to its path")
    columns = {**required, **optional}
    best: tuple[int, str | None, int, list[str]] | None = None  # (found, sheet, row, missing)
    found_in: list[Found] = []  # the worksheets whose header row has the columns
    for sheet, rows, hidden in _worksheets(path):
        for index, cells in enumerate(rows[:HEADER_SEARCH_ROWS]):
            found = _match(cells, columns)
            missing = [name for name in required if not found[name]]
            if missing:
                score = len(required) - len(missing)
                if score and (best is None or score > best[0]):
                    best = (score, sheet, index + 1, missing)
                continue
            found_in.append(Found(sheet, hidden, _doubled(path, sheet, index, cells, found,
                                                          columns)
                                  or _table(path, sheet, index, rows, cells, found, required)))
            break
    if found_in:
        return _chosen(path, found_in, what)
    expected = ", ".join(spellings[0] for spellings in required.values())
    if best is None:
        raise DatasetError(f"{path}: no header row with the columns {expected} in the first "
                           f"{HEADER_SEARCH_ROWS} rows of any worksheet; is this the right "
                           f"{what}? (set {key} to it){_separator_hint(path)}")
    _, sheet, row, missing = best
    lacking = ", ".join(f"'{required[name][0]}'" for name in missing)
    sheet_text = f", sheet '{sheet}'" if sheet else ""
    advice = advice or {}
    plain = [f"'{required[name][0]}'" for name in missing if name not in advice]
    todo = [advice[name] for name in missing if name in advice]
    if plain:
        todo.insert(0, f"Rename your column{'s' if len(plain) > 1 else ''} to "
                       f"{' and '.join(plain)}, or check this is the right file")
    raise DatasetError(f"{path}{sheet_text}: the header row (row {row}) lacks the column(s) "
                       f"{lacking}; expected {expected} (extra columns are fine). "
                       f"{'. '.join(todo)}")


def _doubled(path: Path, sheet: str | None, index: int, cells: Sequence[object],
             found: dict[str, list[int]], columns: ColumnSpec) -> DatasetError | None:
    """The error for a header row that holds one of our columns twice, or None."""
    doubled = [name for name, hits in found.items() if len(hits) > 1]
    if not doubled:
        return None
    written = [str(cells[i]).strip() for i in found[doubled[0]]]
    has = (f"the column '{written[0]}' {len(written)} times" if len(set(written)) == 1 else
           f"the columns {' and '.join(repr(w) for w in written)}")
    sheet_text = f", sheet '{sheet}'" if sheet else ""
    return DatasetError(f"{path}{sheet_text}: row {index + 1} has {has}, and mer reads each as "
                        f"its {doubled[0]} column (any of {', '.join(columns[doubled[0]])}); "
                        "rename or delete all but one of them")


def _chosen(path: Path, found_in: Sequence[Found], what: str) -> Table:
    """Of the worksheets whose header row has the columns (in workbook order), the one to
    read: the first visible one with data rows, else the first with rows, else the first;
    warnings name the others and why they were passed over."""
    chosen = min(found_in, key=lambda f: (f.empty, f.hidden))  # min keeps the first of equals
    if isinstance(chosen.table, DatasetError):
        raise chosen.table
    for other in found_in:
        if other is chosen:
            continue
        why = ("has no data rows" if other.empty else
               "is hidden" if other.hidden and not chosen.hidden else "comes after it")
        log.warning("%s: worksheets '%s' and '%s' both have the columns of the %s; mer reads "
                    "'%s' ('%s' %s). If the other is the one to read, move it first or delete "
                    "the one not meant", path, chosen.sheet, other.sheet, what, chosen.sheet,
                    other.sheet, why)
    if chosen.hidden:
        log.warning("%s: mer reads the %s from worksheet '%s', which is hidden (no visible "
                    "worksheet has its columns and rows); unhide it to check it is the one "
                    "meant", path, what, chosen.sheet)
    return chosen.table


# Byte-order marks a CSV may start with: (mark, codec, name), UTF-32's before UTF-16's, whose
# little-endian mark begins UTF-32's.
BYTE_ORDER_MARKS = ((codecs.BOM_UTF32_LE, "utf-32", "UTF-32"),
                    (codecs.BOM_UTF32_BE, "utf-32", "UTF-32"),
                    (codecs.BOM_UTF16_LE, "utf-16", "UTF-16"),
                    (codecs.BOM_UTF16_BE, "utf-16", "UTF-16"))


def read_csv_text(path: Path) -> str:
    """The text of the CSV file ``path``: UTF-8 with or without its byte-order mark, or UTF-16
    or UTF-32 when it starts with theirs (as Windows tools save lists; a break-it session's
    UTF-16 list was refused as not UTF-8). DatasetError naming the file for bytes that do not
    decode, and for text holding NUL characters: a file saved as UTF-16 or UTF-32 without
    its byte-order mark (as R and .NET can save one) decodes as UTF-8 with NULs between its
    letters, which gave errors about cells full of them. OSError as reading the file
    raises it."""
    data = path.read_bytes()
    codec, name = next(((codec, name) for mark, codec, name in BYTE_ORDER_MARKS
                        if data.startswith(mark)), ("utf-8-sig", "UTF-8"))
    try:
        text = data.decode(codec)
    except UnicodeError as exc:
        raise DatasetError(f"{path}: not a readable {name} CSV file ({exc}); export the sheet "
                           "again as CSV UTF-8") from None
    if "\x00" in text:
        raise DatasetError(f"{path}: holds NUL characters, as a CSV saved as UTF-16 or UTF-32 "
                           "without its byte-order mark does; export the sheet again as CSV "
                           "UTF-8")
    return text


def _separator_hint(path: Path) -> str:
    """A hint when a CSV separates its columns with ';' or tabs (as spreadsheet programs do
    in some locales): the csv reader then sees each line as one column."""
    if path.suffix.lower() != ".csv":
        return ""
    first = next((line for line in read_csv_text(path).splitlines() if line.strip()), "")
    for separator, name in ((";", "semicolons"), ("\t", "tabs")):
        if separator in first and "," not in first:
            return (f". Its columns are separated by {name}: export it again as "
                    "comma-separated CSV UTF-8")
    return ""


def _table(path: Path, sheet: str | None, header_index: int, rows: list[tuple[object, ...]],
           header: Sequence[object], found: dict[str, list[int]], required: ColumnSpec) -> Table:
    columns = {name: hits[0] for name, hits in found.items() if hits}
    data = []
    for offset, cells in enumerate(rows[header_index + 1:]):
        values = {name: (cells[i] if i < len(cells) else None) for name, i in columns.items()}
        # Notes, spacer and trailing empty rows have none of the required cells filled in.
        if all(is_blank(values[name]) for name in required):
            continue
        data.append(Row(header_index + 2 + offset, values))
    headers = {name: str(header[i]).strip() for name, i in columns.items()}
    return Table(path, sheet, header_index + 1, headers, tuple(data))


def header_table(path: Path, sheet: str, rows: Sequence[tuple[object, ...]],
                 required: ColumnSpec, optional: ColumnSpec, marks: Sequence[str]
                 ) -> Table | None:
    """The sheet's data rows keyed by name, when one of its first HEADER_SEARCH_ROWS rows is a
    header row; None when none is (a sheet released without one: ``positional_table``).

    A header row is the first row holding a spelling of each of ``marks`` (our names, e.g.
    onset and offset); the rows above it (titles) are left out, and its columns are read by
    their names, in any order; an ``optional`` column it lacks reads as empty cells.
    DatasetError naming the row when it lacks a ``required`` column or holds one twice.
    """
    columns = {**required, **optional}
    for index, cells in enumerate(rows[:HEADER_SEARCH_ROWS]):
        found = _match(cells, columns)
        if not all(found[name] for name in marks):
            continue
        doubled = _doubled(path, sheet, index, cells, found, columns)
        if doubled is not None:
            raise doubled
        missing = [f"'{required[name][0]}'" for name in required if not found[name]]
        if missing:
            raise DatasetError(
                f"{path}, sheet '{sheet}': row {index + 1} is a header row (it names the "
                f"columns {', '.join(repr(str(cells[found[m][0]]).strip()) for m in marks)}) "
                f"but lacks the column(s) {', '.join(missing)}; expected "
                f"{', '.join(spellings[0] for spellings in required.values())} (in any order; "
                "extra columns are fine): rename the column, or delete the header row to read "
                "the columns in the released order")
        table = _table(path, sheet, index, list(rows), cells, found, required)
        # An optional column the header lacks reads as empty cells.
        absent = {name: None for name in optional if not found[name]}
        return replace(table, headers={**{name: f"{name} (no column)" for name in absent},
                                       **table.headers},
                       rows=tuple(Row(row.number, {**absent, **row.values})
                                  for row in table.rows))
    return None


def read_worksheets(path: str | Path, what: str) -> dict[str, list[tuple[object, ...]]]:
    """Every worksheet of an xlsx workbook by name, as rows of cell values (row 1 first).

    For workbooks whose sheets have no header row, such as CAS(ME)^2's coding and
    naming-rule sheets; ``positional_table`` then names their columns by position.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: {what} not found; put it there or give its path")
    if path.suffix.lower() not in EXCEL_SUFFIXES:
        raise DatasetError(f"{path}: the {what} must be the original .xlsx workbook (it has "
                           f"several sheets), not '{path.suffix}'")
    return {str(name): rows for name, rows, _ in _worksheets(path)}


def positional_table(path: Path, sheet: str, rows: Sequence[tuple[object, ...]],
                     columns: Sequence[str]) -> Table:
    """A sheet without a header row as a Table: ``columns[i]`` names column i (A, B, ...).

    Rows whose cells are all empty are left out; every other row is data (a header row some
    copies add is found by its names first: ``header_table``). Messages name a column
    'C (onset)': its letter and our name.
    """
    headers = {name: f"{chr(ord('A') + i)} ({name})" for i, name in enumerate(columns)}
    data = []
    for index, cells in enumerate(rows):
        values = {name: (cells[i] if i < len(cells) else None) for i, name in enumerate(columns)}
        if all(is_blank(value) for value in values.values()):
            continue
        data.append(Row(index + 1, values))
    return Table(path, sheet, 0, headers, tuple(data))


def warn_if_untracked(sheet: Path, root: Path, section: str, stage: str) -> None:
    """A warning when ``sheet`` lies outside ``root``, the folder DVC tracks for ``stage``
    (``section``.root: data.root for the data stage, spotting.root for spot-eval): DVC then
    does not notice edits to it, and the stage is not rerun after one."""
    if not is_inside(sheet, root):
        log.warning("%s lies outside %s.root (%s), so DVC does not notice edits to it and "
                    "`dvc repro` will not rerun the %s stage after one: move it into %s.root "
                    "and set %s.annotations to it, or move %s.root up to a folder holding "
                    "both", sheet, section, root, stage, section, section, section)


def find_annotation_file(folders: Sequence[Path], patterns: Sequence[str], what: str,
                         key: str = "data.annotations") -> Path:
    """The single file matching ``patterns`` in the first of ``folders`` that has one;
    ``key``: the params key that names the file instead, for messages."""
    for folder in folders:
        hits = sorted(matching_files(folder, patterns))
        if len(hits) > 1:
            names = ", ".join(p.name for p in hits)
            raise DatasetError(f"{folder}: found {len(hits)} {what}s ({names}); set "
                               f"{key} to the one to use")
        if hits:
            return hits[0]
    looked = ", ".join(str(f) for f in folders)
    hint = _other_format_hint(folders, patterns)
    raise DatasetError(f"no {what} ({' or '.join(patterns)}) found in {looked}; put it there "
                       f"or set {key} to its path{hint}")


def matching_files(folder: Path, patterns: Sequence[str]) -> set[Path]:
    """The files of ``folder`` whose names match one of the glob ``patterns`` in any letter
    case, but Excel's lock file of an open workbook (~$...) and hidden files (macOS's ._);
    empty when ``folder`` is no folder (h64: 'CASME2-coding-20140508.XLSX', as Windows may
    save it, was not found)."""
    if not folder.is_dir():
        return set()
    return {path for path in folder.iterdir()
            if any(fnmatch.fnmatchcase(path.name.lower(), pattern.lower())
                   for pattern in patterns)
            and path.is_file() and not path.name.startswith(("~$", "."))}


def _other_format_hint(folders: Sequence[Path], patterns: Sequence[str]) -> str:
    """A hint naming a file that matches a pattern but for its suffix (an old .xls, a .ods)."""
    readable = {Path(pattern).suffix.lower() for pattern in patterns}
    for folder in folders:
        for pattern in patterns:
            for path in sorted(matching_files(folder, [f"{Path(pattern).stem}.*"])):
                if path.suffix.lower() not in readable:
                    return (f". {path} looks like it, but mer reads "
                            f"{' and '.join(sorted(readable))} files: open it in a spreadsheet "
                            "program and save it as .xlsx beside it")
    return ""


def find_subjects_folder(candidates: Sequence[Path], subject_folder: re.Pattern[str]
                         ) -> Path | None:
    """The first of ``candidates`` (in order of preference) holding a folder named like a
    subject, or None. A candidate whose subjects sit one level down, in a folder of its own
    name (``Cropped/Cropped/sub01``: an archive unpacked into a folder named after it), is
    that folder. A preferred candidate that exists but holds no subject is passed over with a
    warning naming it, as the one found instead may be another kind of frames (raw instead of
    cropped)."""
    passed_over = []
    for folder in candidates:
        for place in (folder, folder / folder.name):
            if place.is_dir() and any(p.is_dir() and subject_folder.match(p.name)
                                      for p in place.iterdir()):
                if passed_over:
                    log.warning("%s holds no subject folder; reading the frames in %s "
                                "instead. If the frames you mean are deeper in %s, move their "
                                "subject folders directly into it", passed_over[0], place,
                                passed_over[0])
                return place
        if folder.is_dir():
            passed_over.append(folder)
    return None


def subject_folders(frames_root: Path, subject_folder: re.Pattern[str]) -> dict[int, str]:
    """Subject number -> name of its folder in ``frames_root``, whatever the zero padding.

    ``subject_folder`` matches a subject folder's name with the number as its first group
    (``sub(\\d+)``). Two folders of one subject (``sub1`` and ``sub01``) are an error.
    """
    found: dict[int, str] = {}
    for path in sorted(frames_root.iterdir()) if frames_root.is_dir() else []:
        match = subject_folder.fullmatch(path.name)
        if not path.is_dir() or match is None:
            continue
        number = int(match.group(1))
        if number in found:
            raise DatasetError(f"{frames_root}: the folders {found[number]} and {path.name} are "
                               f"both subject {number}; merge them into one folder")
        found[number] = path.name
    return found


def subject_namer(frames_root: Path, subject_folder: re.Pattern[str],
                  default: Callable[[int], str]) -> Callable[[int], str]:
    """Subject number -> its folder's name on disk; ``default(number)`` for a subject with no
    folder (the frame check then names the subject folders that do exist)."""
    folders = subject_folders(frames_root, subject_folder)
    return lambda number: folders.get(number, default(number))

"""Annotation tables: header rows found wherever they are, rows numbered as users see them."""

import codecs
import csv

import pytest
from data_builders import (
    SAMM_HEADER_ROW,
    casme2_rows,
    casme2_sheet_rows,
    make_samm,
    write_workbook,
)

from mer.data.coding import COLUMNS, OPTIONAL_COLUMNS
from mer.data.flow_image_corpus import COLUMNS as FLOW_COLUMNS
from mer.data.sheets import find_annotation_file, read_table
from mer.errors import DatasetError


def test_header_below_text_rows_and_formulas(tmp_path):
    make_samm(tmp_path)
    table = read_table(tmp_path / "SAMM_Micro_FACS_Codes_v2.xlsx", COLUMNS)
    assert table.header_row == SAMM_HEADER_ROW
    assert [row.number for row in table.rows] == [15, 16, 17, 18]
    assert table.headers["onset"] == "Onset Frame"
    assert table.rows[0].values["clip"] == "006_1_2"
    assert table.where(table.rows[1]).endswith("SAMM_Micro_FACS_Codes_v2.xlsx, sheet 'Sheet', "
                                               "row 16")


def test_a_strict_open_xml_workbook_is_named_as_such(tmp_path):
    """h64 F1: Excel's "Strict Open XML Spreadsheet" (the transitional namespaces replaced by
    purl.oclc.org's) opens in openpyxl with no worksheet; the right sheet was then said to
    lack its columns, after openpyxl's own warning."""
    import warnings
    import zipfile

    write_workbook(tmp_path / "plain.xlsx", casme2_sheet_rows(casme2_rows()))
    strict = {b"http://schemas.openxmlformats.org/spreadsheetml/2006/main":
              b"http://purl.oclc.org/ooxml/spreadsheetml/main",
              b"http://schemas.openxmlformats.org/officeDocument/2006/relationships":
              b"http://purl.oclc.org/ooxml/officeDocument/relationships"}
    with zipfile.ZipFile(tmp_path / "plain.xlsx") as source, \
            zipfile.ZipFile(tmp_path / "strict.xlsx", "w") as target:
        for item in source.infolist():
            data = source.read(item)
            for transitional, iso in strict.items():
                data = data.replace(transitional, iso)
            target.writestr(item, data)
    with warnings.catch_warnings(), pytest.raises(
            DatasetError, match=r"strict.xlsx: holds no worksheet openpyxl can read \(a workbook "
                                r"saved as 'Strict Open XML Spreadsheet' reads as none\); .* save "
                                r"it as 'Excel Workbook \(.xlsx\)'"):
        warnings.simplefilter("error")
        read_table(tmp_path / "strict.xlsx", COLUMNS)


def test_xlsx_and_csv_read_alike(tmp_path):
    rows = casme2_sheet_rows(casme2_rows())
    write_workbook(tmp_path / "a.xlsx", rows)
    with (tmp_path / "a.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([["" if v is None else v for v in r] for r in rows])
    from_xlsx = read_table(tmp_path / "a.xlsx", COLUMNS)
    from_csv = read_table(tmp_path / "a.csv", COLUMNS)
    assert [r.number for r in from_xlsx.rows] == [r.number for r in from_csv.rows] == \
        list(range(2, 8))
    assert [str(r.values["clip"]) for r in from_xlsx.rows] == \
        [r.values["clip"] for r in from_csv.rows]
    assert from_xlsx.rows[0].values["aus"] == 12  # a number cell stays a number
    assert from_csv.where(from_csv.rows[0]) == f"{tmp_path / 'a.csv'}, row 2"
    # A break-it session: a CSV saved as UTF-16 (with its byte-order mark, as Windows tools
    # write it) was refused as not UTF-8; in either byte order it reads as the UTF-8 one.
    # UTF-32 with its mark too. Without a mark (R, .NET) such a file decodes as UTF-8 with
    # NULs between the letters: it is refused as such (the re-check: errors about cells full
    # of NULs), as is a damaged one, named as the encoding it was read in.
    text = (tmp_path / "a.csv").read_text(encoding="utf-8")
    for encoding, mark in (("utf-16-le", codecs.BOM_UTF16_LE), ("utf-16-be", codecs.BOM_UTF16_BE),
                           ("utf-32-le", codecs.BOM_UTF32_LE), ("utf-32-be", codecs.BOM_UTF32_BE)):
        (tmp_path / "b.csv").write_bytes(mark + text.encode(encoding))
        from_unicode = read_table(tmp_path / "b.csv", COLUMNS)
        assert [r.values for r in from_unicode.rows] == [r.values for r in from_csv.rows]
        (tmp_path / "b.csv").write_bytes(text.encode(encoding))
        with pytest.raises(DatasetError, match=r"b.csv: holds NUL characters, as a CSV saved "
                                               r"as UTF-16 or UTF-32 without its byte-order "
                                               r"mark does; export the sheet again as CSV UTF-8"):
            read_table(tmp_path / "b.csv", COLUMNS)
    (tmp_path / "b.csv").write_bytes(codecs.BOM_UTF16_LE + text.encode("utf-16-le")[:-1])
    with pytest.raises(DatasetError, match=r"b.csv: not a readable UTF-16 CSV file \("):
        read_table(tmp_path / "b.csv", COLUMNS)


def test_header_in_a_later_sheet_and_blank_rows_skipped(tmp_path):
    import openpyxl

    book = openpyxl.Workbook()
    book.active.title = "notes"
    book.active.append(["nothing here"])
    sheet = book.create_sheet("coding")
    for row in casme2_sheet_rows(casme2_rows()[:2]):
        sheet.append(row)
    sheet.append([])
    sheet.append([None, None, None, None, None, None, None, None, None, "a remark"])
    book.save(tmp_path / "b.xlsx")
    table = read_table(tmp_path / "b.xlsx", COLUMNS)
    assert table.sheet == "coding"
    assert [r.number for r in table.rows] == [2, 3]


def test_missing_column_names_file_row_and_column(tmp_path):
    # The apex column is optional now (sheets without one exist): rename a required column.
    rows = casme2_sheet_rows(casme2_rows())
    rows[0][5] = "End"  # OffsetFrame renamed to something unexpected
    write_workbook(tmp_path / "c.xlsx", rows)
    with pytest.raises(DatasetError) as err:
        read_table(tmp_path / "c.xlsx", COLUMNS, OPTIONAL_COLUMNS)
    message = str(err.value)
    assert "c.xlsx" in message and "row 1" in message and "'OffsetFrame'" in message
    assert "Rename your column to 'OffsetFrame'" in message


def test_a_different_sheet_altogether(tmp_path):
    write_workbook(tmp_path / "d.xlsx", [["name", "score"], ["x", 1]])
    with pytest.raises(DatasetError, match=r"d.xlsx: no header row with the columns Subject, "
                                           r"Filename, OnsetFrame"):
        read_table(tmp_path / "d.xlsx", COLUMNS)


def test_duplicated_column_is_an_error(tmp_path):
    rows = casme2_sheet_rows(casme2_rows())
    rows[0][6] = "OnsetFrame"
    write_workbook(tmp_path / "e.xlsx", rows)
    with pytest.raises(DatasetError, match=r"e.xlsx, sheet 'Sheet': row 1 has the column "
                                           "'OnsetFrame' 2 times, and mer reads each as its "
                                           "onset column"):
        read_table(tmp_path / "e.xlsx", COLUMNS)


def test_two_spellings_of_one_column_are_named_as_written(tmp_path):
    """The issue: 'emotion' beside 'class' was reported as column 'label' twice."""
    path = tmp_path / "flows.csv"
    path.write_text("subject,clip,emotion,class,path\n1,a,negative,0,a.png\n")
    with pytest.raises(DatasetError, match=r"row 1 has the columns 'emotion' and 'class', and "
                                           r"mer reads each as its label column \(any of "
                                           r"label, emotion, class\); rename or delete"):
        read_table(path, FLOW_COLUMNS)


def test_annotations_that_name_a_folder(tmp_path):
    with pytest.raises(DatasetError, match=r": is a folder, not the annotation sheet; set "
                                           "data.annotations to the file itself"):
        read_table(tmp_path, COLUMNS)


@pytest.mark.parametrize(("separator", "name"), [(";", "semicolons"), ("\t", "tabs")])
def test_csv_with_another_separator_says_so(tmp_path, separator, name):
    path = tmp_path / "sheet.csv"
    path.write_text(separator.join(["Subject", "Filename", "OnsetFrame", "ApexFrame",
                                    "OffsetFrame"]) + "\n1;EP01;1;2;3\n")
    with pytest.raises(DatasetError, match=rf"no header row .*separated by {name}: export it "
                                           "again as comma-separated CSV UTF-8"):
        read_table(path, COLUMNS)
    path.write_text(path.read_text(), encoding="utf-16")  # Excel's "Unicode Text": UTF-16, tabs
    with pytest.raises(DatasetError, match=rf"separated by {name}: export it again"):
        read_table(path, COLUMNS)
    path.write_text("Name,Score\nx,1\n")  # a comma CSV that is simply another table
    with pytest.raises(DatasetError) as err:
        read_table(path, COLUMNS)
    assert "separated by" not in str(err.value)


def test_unreadable_files(tmp_path):
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(DatasetError, match=r"old.xls: .*save it as .xlsx"):
        read_table(tmp_path / "old.xls", COLUMNS)
    (tmp_path / "broken.xlsx").write_text("not a zip")
    with pytest.raises(DatasetError, match=r"broken.xlsx: cannot be read as an Excel workbook"):
        read_table(tmp_path / "broken.xlsx", COLUMNS)
    with pytest.raises(DatasetError, match=r"absent.xlsx: .* not found; set data.annotations"):
        read_table(tmp_path / "absent.xlsx", COLUMNS)


def test_find_annotation_file(tmp_path):
    sub = tmp_path / "root"
    sub.mkdir()
    (tmp_path / "CASME2-coding-20140508.xlsx").write_text("x")
    (sub / "~$CASME2-coding-lock.xlsx").write_text("excel lock file")
    found = find_annotation_file([sub, tmp_path], ["CASME2-coding-*.xlsx"], "coding sheet")
    assert found == tmp_path / "CASME2-coding-20140508.xlsx"
    (tmp_path / "CASME2-coding-2019.xlsx").write_text("x")
    with pytest.raises(DatasetError, match=r"found 2 coding sheets .*set data.annotations"):
        find_annotation_file([sub, tmp_path], ["CASME2-coding-*.xlsx"], "coding sheet")
    with pytest.raises(DatasetError, match=r"no coding sheet \(SAMM\*.xlsx\) found in"):
        find_annotation_file([sub], ["SAMM*.xlsx"], "coding sheet")
    # in any letter case (h64 F3: Windows' '.XLSX' and a lower-case name were not found)
    for name in ("SAMM_Micro_FACS_Codes_v2.XLSX", "samm_micro_facs_codes_v2.xlsx"):
        (sub / name).write_text("x")
        assert find_annotation_file([sub], ["SAMM*.xlsx"], "coding sheet") == sub / name
        (sub / name).unlink()


def test_a_sheet_in_a_format_mer_cannot_read_is_named(tmp_path):
    """The issue: an old .xls sheet gave 'no CASME II coding sheet found' and nothing more."""
    (tmp_path / "CASME2-coding-20140508.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    patterns = ["CASME2-coding-*.xlsx", "CASME2-coding-*.csv"]
    with pytest.raises(DatasetError, match=r"CASME2-coding-20140508.xls looks like it, but mer "
                                           r"reads .csv and .xlsx files: .*save it as .xlsx"):
        find_annotation_file([tmp_path], patterns, "coding sheet")


def _cells_read(path) -> list[int]:
    """How many rows of each worksheet mer's xlsx reader hands on."""
    from mer.data.sheets import _worksheets

    return [len(rows) for _, rows, _ in _worksheets(path)]


def test_formatted_empty_rows_are_not_read(tmp_path):
    """A break-it session: one column formatted down to row 200 000 (what "format the whole
    column" saves) made a 32-row sheet take 94 s and 777 MB: every row was loaded, twice."""
    import openpyxl
    from openpyxl.styles import Font

    path = tmp_path / "coding.xlsx"
    write_workbook(path, casme2_sheet_rows(casme2_rows()))
    workbook = openpyxl.load_workbook(path)
    for row in range(20, 5001):
        workbook.active.cell(row=row, column=3).font = Font(bold=True)
    workbook.save(path)
    assert _cells_read(path)[0] == 7  # the header and 6 clips
    assert [r.number for r in read_table(path, COLUMNS).rows] == list(range(2, 8))


def test_a_workbook_that_understates_its_extent_is_read_whole(tmp_path):
    """A writer may leave a wrong <dimension> (here A1:A1); the cells, not it, say what the
    sheet holds."""
    import re
    import zipfile

    path = tmp_path / "coding.xlsx"
    write_workbook(path, casme2_sheet_rows(casme2_rows()))
    expected = [r.values for r in read_table(path, COLUMNS).rows]
    with zipfile.ZipFile(path) as source:
        parts = {name: source.read(name) for name in source.namelist()}
    sheet = "xl/worksheets/sheet1.xml"
    parts[sheet] = re.sub(rb'<dimension ref="[^"]*"\s*/>', b'<dimension ref="A1:A1"/>',
                          parts[sheet])
    assert b'<dimension ref="A1:A1"/>' in parts[sheet]
    with zipfile.ZipFile(path, "w") as target:
        for name, data in parts.items():
            target.writestr(name, data)
    table = read_table(path, COLUMNS)
    assert [r.number for r in table.rows] == list(range(2, 8))
    assert [r.values for r in table.rows] == expected

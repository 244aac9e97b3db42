"""Cells, AU codes, frame names and digit slips: the helpers every adapter shares."""

import datetime
from pathlib import Path

import pytest

from mer.core.frames import NO_FRAME
from mer.data.aus import AUS_ALTERNATIVES, AUS_UNKNOWN, AUS_UNPARSED, normalise_aus
from mer.data.cells import frame_number, subject_number
from mer.data.repairs import expected_name, is_digit_slip
from mer.errors import DatasetError

WHERE = "sheet.xlsx, row 7"


@pytest.mark.parametrize("value", [46, 46.0, "46", " 046 ", "46.0", "46.00"])
def test_frame_numbers_in_any_cell_type(value):
    """'46.0' is how a CSV writes a number column that has an empty cell: the issue found it
    refused in a CSV while the same value in an xlsx was read."""
    assert frame_number(value, "OnsetFrame", WHERE) == 46


@pytest.mark.parametrize("value", ["/", None, "", -1, "-1", -1.0, "-1.0"])
def test_missing_apex_spellings(value):
    assert frame_number(value, "ApexFrame", WHERE, missing_ok=True) == NO_FRAME


@pytest.mark.parametrize("value", [-1449, "-1449", -2])
def test_other_negative_apexes_are_kept_to_be_reported(value):
    """The issue: SAMM's apex -1449 was read as "not coded" and repaired without a note."""
    assert frame_number(value, "ApexFrame", WHERE, missing_ok=True) == int(value)


@pytest.mark.parametrize("value", [datetime.datetime(1900, 6, 20), datetime.time(4, 48)])
def test_a_frame_cell_formatted_as_a_date_says_so(value):
    """h64 F7: a column formatted as Date showed the 172 typed in it as '1900-06-20 00:00:00',
    called "not a frame number", with no word of the formatting."""
    for missing_ok in (False, True):
        with pytest.raises(DatasetError, match=r"sheet.xlsx, row 7: column 'OnsetFrame' holds a "
                                               r"date or time, .*: the cell is formatted as a "
                                               r"date.* format the column as Number"):
            frame_number(value, "OnsetFrame", WHERE, missing_ok=missing_ok)


@pytest.mark.parametrize("value", ["abc", "/", 46.5, "46.5", "4 6", None, -3, "-3", True])
def test_bad_frame_number_names_file_row_and_column(value):
    with pytest.raises(DatasetError) as err:
        frame_number(value, "OnsetFrame", WHERE)
    message = str(err.value)
    assert "sheet.xlsx, row 7" in message and "'OnsetFrame'" in message
    # an empty cell is called empty, as in any required column (a break-it session)
    assert ("is empty; fill it in or delete the row" if value is None else
            "not a frame number") in message


@pytest.mark.parametrize("value", [1, 1.0, "1", "01", "sub01", "s1", " 001 ", "1.0", "Sub01"])
def test_subject_ids(value):
    assert subject_number(value, "Subject", WHERE) == 1


def test_bad_subject_names_the_row():
    with pytest.raises(DatasetError, match=r"row 7: column 'Subject' holds 'Bob'"):
        subject_number("Bob", "Subject", WHERE)


@pytest.mark.parametrize(("cell", "aus", "flags"), [
    (12, "12", ()),  # CASME II: a single AU is a number cell
    (12.0, "12", ()),
    ("4+7", "4+7", ()),
    ("4+L10", "4+L10", ()),
    ("R14", "R14", ()),
    ("10+4+4", "4+10", ()),  # sorted, duplicates dropped
    ("AU4 + AU7", "4+7", ()),
    ("A2", "A2", ()),  # SAMM: asymmetric
    ("R14A+4", "4+R14", ()),  # SAMM: intensity letters dropped
    ("L2 or R2", "2", (AUS_ALTERNATIVES,)),  # side unsure: the AU stays
    ("12 or 14", "12+14", (AUS_ALTERNATIVES,)),
    ("?", "", (AUS_UNKNOWN,)),
    (None, "", (AUS_UNKNOWN,)),
    ("4+x9", "4+x9", (AUS_UNPARSED,)),
    # the issue: spaces inside a cell were deleted, so '1 2' became AU12 and '1 2 5' AU125
    ("1 2", "1+2", ()),
    ("1 2 5", "1+2+5", ()),
    ("4 L10", "4+L10", ()),
    ("AU 12", "12", ()),  # a space inside one code
    ("R 14 + 4", "4+R14", ()),
    ("12 B", "12", ()),
    ("4, L10", "4+L10", ()),
    ("4; 7", "4+7", ()),
    ("12.0", "12", ()),  # a CSV's number column
    ("L2 or R2 + 4", "2+4", (AUS_ALTERNATIVES,)),
    # the re-check: a letter beside spaced codes still merged them ('AU 4 7' was AU47)
    ("AU 4 7", "4+7", ()),
    ("AU 12 25", "12+25", ()),
    ("R 12 14", "R12+14", ()),
    ("12 25 B", "12+25", ()),
    ("1 2 B", "1+2", ()),
    ("4 7 or 9", "4+7+9", (AUS_ALTERNATIVES,)),
    ("4+(7)", "4+7", ()),
    ("125", "125", (AUS_UNPARSED,)),  # no AU has a number above 99
    ("AU", "AU", (AUS_UNPARSED,)),
])
def test_au_normalisation(cell, aus, flags):
    assert normalise_aus(cell) == (aus, flags)


@pytest.mark.parametrize(("typed", "true", "slip"), [
    (9, 91, True),  # a digit dropped
    (19, 91, True),  # two digits swapped
    (81, 91, True),  # a digit changed
    (911, 91, True),  # a digit added
    (91, 91, False),
    (7, 91, False),
    (12, 91, False),
])
def test_digit_slip(typed, true, slip):
    assert is_digit_slip(typed, true) is slip


def test_expected_frame_name_keeps_prefix_and_padding():
    assert expected_name(Path("reg_img46.jpg"), 62) == "reg_img62.jpg"
    assert expected_name(Path("006_05562.jpg"), 5570) == "006_05570.jpg"
    assert expected_name(Path("image0100344.bmp"), 100350) == "image0100350.bmp"

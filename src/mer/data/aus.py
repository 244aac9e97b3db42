"""Action-unit codes from any corpus's sheet, normalised to one form: '4+7+L10'.

Codes are written many ways: a number cell (12, or '12.0' as a CSV writes a number column),
text joined by '+' ('4+7', '1+2+ 4'), by ',' or ';' ('4, L10'), or by spaces between whole
codes ('1 2 5', 'AU 4 7'; a space inside one code, 'AU 12', 'R 14', is not a separator),
parentheses ('4+(7)'),
sides ('L10', 'R14'), an asymmetry prefix ('A2', SAMM), intensity letters ('R14A', '12B',
SAMM), 'AU' prefixes, '?' for "not coded" (CASME II) and alternatives ('L2 or R2', SAMM).
The normal form keeps the AU number with its side/asymmetry prefix, drops intensity, sorts
by AU number and removes duplicates. What had to be interpreted is returned as flags.
"""

from __future__ import annotations

import re

from mer.data.cells import cell_text, check_saved

AUS_UNKNOWN = "aus_unknown"  # the cell says '?' or is empty: nobody coded this clip's AUs
AUS_ALTERNATIVES = "aus_alternatives"  # 'X or Y': the coder was unsure which
AUS_UNPARSED = "aus_unparsed"  # a code kept verbatim because it has no AU number we can read

# prefix: L/R side, A asymmetric, U unilateral, T/B top/bottom; suffix: FACS intensity A-E.
_CODE = re.compile(
    r"^(?:AU)?(?P<prefix>[LRAUTB]?)(?:AU)?(?P<number>\d+)(?:\.0+)?(?P<intensity>[A-E]?)$")
_SEPARATOR = re.compile(r"[+,;]")
_ALTERNATIVE = re.compile(r"\s+or\s+", re.IGNORECASE)
_NOT_CODED = {"", "?", "/", "-"}


MAX_AU = 99  # FACS numbers its action units and head/eye codes below 100


def _parse_code(token: str) -> tuple[int, str] | None:
    """(AU number, prefix) of one code, or None when it is not a code."""
    match = _CODE.fullmatch(re.sub(r"\s+", "", token).upper())
    if match is None or int(match.group("number")) > MAX_AU:
        return None
    return int(match.group("number")), match.group("prefix")


def _parse_codes(option: str) -> list[tuple[int, str]] | None:
    """The codes of one option: one code ('R14A', 'AU 12', '(7)'), or several with spaces
    between them ('1 2 5', 'AU 4 7', '12 25 B'). A part of letters only (AU, a side, an
    intensity) belongs to the number after it, or, at the end, to the one before it. None
    when any part is not a code."""
    parts = [part.strip("()").upper() for part in option.split()]
    parts = [part for part in parts if part]
    texts: list[str] = []
    prefix = ""
    for index, part in enumerate(parts):
        if part.isalpha() and index + 1 < len(parts):
            prefix += part
        elif part.isalpha():
            if not texts:
                return None
            texts[-1] += part
        else:
            texts.append(prefix + part)
            prefix = ""
    parsed = [_parse_code(text) for text in texts]
    return None if not parsed or None in parsed else [p for p in parsed if p is not None]


def normalise_aus(value: object, column: str = "Action Units", where: str = ""
                  ) -> tuple[str, tuple[str, ...]]:
    """('4+7+L10', flags) for one Action Units cell (``column`` at ``where`` for errors: a
    formula without a saved value is a DatasetError, mer.data.cells.check_saved)."""
    check_saved(value, column, where)
    text = cell_text(value)
    if text in _NOT_CODED:
        return "", (AUS_UNKNOWN,)
    codes: set[tuple[int, str]] = set()
    verbatim: list[str] = []
    flags: list[str] = []
    for token in (t.strip() for t in _SEPARATOR.split(text)):
        if token in _NOT_CODED:
            continue
        options = [_parse_codes(o) for o in _ALTERNATIVE.split(token) if o.strip()]
        if not options or None in options:
            flags.append(AUS_UNPARSED)
            verbatim.append(re.sub(r"\s+", "", token))
        elif len(options) > 1:
            flags.append(AUS_ALTERNATIVES)
            numbers = {number for found in options if found for number, _ in found}
            # 'L2 or R2': AU2 for sure, its side is the doubt: keep the AU, drop the side.
            # '12 or 14': one of them moved: keep both rather than guess which.
            codes.update((number, "") for number in numbers)
        else:
            codes.update(options[0] or ())
    ordered = [f"{prefix}{number}" for number, prefix in sorted(codes)]
    return "+".join(ordered + sorted(set(verbatim))), tuple(dict.fromkeys(flags))

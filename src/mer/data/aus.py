"""Action-unit codes from any corpus's sheet, normalised to one form: '4+7+L10'.

Codes are written many ways: a number cell (12, or '12.0' as a CSV writes a number column),
text joined by '+' ('4+7', '1+2+ 4'), by ',' or ';' ('4, L10'), or by spaces between whole
codes ('1 2 5'; a space inside one code, 'AU 12', 'R 14', is not a separator),
sides ('L10', 'R14'), an asymmetry prefix ('A2', SAMM), intensity letters ('R14A', '12B',
SAMM), 'AU' prefixes, '?' for "not coded" (CASME II) and alternatives ('L2 or R2', SAMM).
The normal form keeps the AU number with its side/asymmetry prefix, drops intensity, sorts
by AU number and removes duplicates. What had to be interpreted is returned as flags.
"""

from __future__ import annotations

import re

from mer.data.cells import cell_text

AUS_UNKNOWN = "aus_unknown"  # the cell says '?' or is empty: nobody coded this clip's AUs
AUS_ALTERNATIVES = "aus_alternatives"  # 'X or Y': the coder was unsure which
AUS_UNPARSED = "aus_unparsed"  # a code kept verbatim because it has no AU number we can read

# prefix: L/R side, A asymmetric, U unilateral, T/B top/bottom; suffix: FACS intensity A-E.
_CODE = re.compile(
    r"^(?:AU)?(?P<prefix>[LRAUTB]?)(?:AU)?(?P<number>\d+)(?:\.0+)?(?P<intensity>[A-E]?)$")
_SEPARATOR = re.compile(r"[+,;]")
_ALTERNATIVE = re.compile(r"\s+or\s+", re.IGNORECASE)
_NOT_CODED = {"", "?", "/", "-"}


def _parse_code(token: str) -> tuple[int, str] | None:
    """(AU number, prefix) of one code, or None when it is not a code."""
    match = _CODE.fullmatch(re.sub(r"\s+", "", token).upper())
    if match is None:
        return None
    return int(match.group("number")), match.group("prefix")


def normalise_aus(value: object) -> tuple[str, tuple[str, ...]]:
    """('4+7+L10', flags) for one Action Units cell."""
    text = cell_text(value)
    if text in _NOT_CODED:
        return "", (AUS_UNKNOWN,)
    codes: set[tuple[int, str]] = set()
    verbatim: list[str] = []
    flags: list[str] = []
    for token in (t.strip() for t in _SEPARATOR.split(text)):
        if token in _NOT_CODED:
            continue
        spaced = [_parse_code(part) for part in token.split()]
        if len(spaced) > 1 and all(p is not None for p in spaced):  # '1 2 5': three codes
            codes.update(p for p in spaced if p is not None)
            continue
        options = [o.strip() for o in _ALTERNATIVE.split(token) if o.strip()]
        parsed = [_parse_code(o) for o in options]
        if len(options) > 1 and all(p is not None for p in parsed):
            flags.append(AUS_ALTERNATIVES)
            numbers = {p[0] for p in parsed if p is not None}
            if len(numbers) == 1:
                # 'L2 or R2': AU2 for sure, its side is the doubt; keep the AU, drop the side.
                codes.add((numbers.pop(), ""))
            else:
                # '12 or 14': one of them moved; keep both rather than guess which.
                codes.update((number, "") for number in numbers)
        elif len(parsed) == 1 and parsed[0] is not None:
            codes.add(parsed[0])
        else:
            flags.append(AUS_UNPARSED)
            verbatim.append(re.sub(r"\s+", "", token))
    ordered = [f"{prefix}{number}" for number, prefix in sorted(codes)]
    return "+".join(ordered + sorted(set(verbatim))), tuple(dict.fromkeys(flags))

"""SAMM: 32 subjects, 200 fps, greyscale frames.

Layout: ``<root>/SAMM/006/006_1_2/006_05562.jpg`` (5-digit zero-padded frame numbers), or
``root`` is the SAMM folder itself. Sheet: ``SAMM_Micro_FACS_Codes_v2.xlsx`` in the root or its
parent, unless data.annotations names it. Quirks handled:

- ~13 rows of notes and citations above the header row: mer.data.sheets.read_table
- Duration cells are formulas (read as their cached values), Duration = offset - onset + 1;
  an optional column, used only to repair an offset typed before its onset
- subject ids written 6 or '006', matched by number to the folders on disk whatever their
  padding (``006``, ``6``): mer.data.cells.subject_number, mer.data.sheets.subject_namer; a
  subject with no folder is an error listing the subject folders there are
  (mer.data.repairs.list_frames)
- AUs like 'A2' (asymmetric), 'R14A' (intensity), 'L2 or R2': mer.data.aus.normalise_aus
- Apex Frame -1 where none was coded: apex -1, flag apex_missing (mer.data.coding)
- apexes outside their clip (v2 has a few, one ~3000 frames before its onset): treated as
  missing and estimated, flags apex_missing, apex_repaired, the sheet's value in the note
  (mer.data.repairs.check_order)
- an Offset Frame typo: an offset before the onset is repaired from the row's Duration,
  else from a digit slip the clip folder's frames prove; with neither, the row is skipped and
  listed in Corpus.skipped (mer.data.repairs.repair_reversed_offset); an offset before the
  apex from such a digit slip (mer.data.repairs.repair_offset); flag offset_repaired with a
  note
- several micro-expressions in one video folder (rows of one folder, disjoint frames): one
  clip each, named ``006_1_2@5562`` (mer.data.clips.distinct_clip_names); overlapping rows
  of one folder are an error
"""

from __future__ import annotations

import re
from pathlib import Path

from mer.data.clips import Corpus
from mer.data.coding import CodedCorpus, read_coded_corpus
from mer.data.sheets import find_subjects_folder
from mer.errors import DatasetError

FPS = 200.0  # SAMM was filmed at 200 frames per second (Davison et al., 2018)
SHEET_PATTERNS = ("SAMM_Micro_FACS_Codes*.xlsx", "SAMM_Micro_FACS_Codes*.csv")
_SUBJECT_FOLDER = re.compile(r"^(\d+)$")


def subject_folder(number: int) -> str:
    return f"{number:03d}"


def frames_root(root: Path) -> Path:
    """The folder holding 006, 007, ...: ``root/SAMM`` or root itself."""
    found = find_subjects_folder([root / "SAMM", root], _SUBJECT_FOLDER)
    if found is None:
        raise DatasetError(f"data.root {root}: no SAMM frames found: expected {root}/SAMM/006/"
                           "... or the subject folders (006, 007, ...) directly in data.root; "
                           "point data.root at your SAMM copy")
    return found


def read_samm(root: str | Path, annotations: str | Path | None = None) -> Corpus:
    """Every clip of SAMM (frames not yet checked)."""
    return read_coded_corpus(SAMM, root, annotations, "samm", copy="SAMM")


SAMM = CodedCorpus("SAMM coding sheet", FPS, SHEET_PATTERNS, frames_root, _SUBJECT_FOLDER,
                   subject_folder)

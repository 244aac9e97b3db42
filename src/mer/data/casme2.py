"""CASME II (and the embedded synthetic set, written in CASME II's format).

Layouts: ``<root>/Cropped/sub01/EP02_01f/reg_img46.jpg`` (cropped faces),
``<root>/CASME2_RAW_selected/sub01/EP02_01f/img46.jpg`` (raw 640x480 frames) or
``<root>/CASME2-RAW/...`` (whole videos); ``root`` may also be the folder that holds the
subNN folders itself. When a root holds several, the first in that order is used (point
data.root at CASME2_RAW_selected to use the raw frames).
Sheet: ``CASME2-coding-*.xlsx`` (or .csv) in the root or its parent, unless data.annotations
names it. Quirks handled:

- subject ids written ``1`` or ``01``, matched by number to the folders on disk whatever
  their padding (``sub01``, ``sub1``): mer.data.cells.subject_number,
  mer.data.sheets.subject_namer; a subject with no folder is an error listing the subject
  folders there are (mer.data.repairs.list_frames)
- single AUs as number cells, ``4+L10``, ``R14``, ``?``: mer.data.aus.normalise_aus
- ApexFrame ``/``, or no ApexFrame column at all: apex -1, flag apex_missing
  (mer.data.coding)
- an apex equal to the onset: estimated, flags apex_missing, apex_at_onset; an apex outside
  its clip: estimated, flags apex_missing, apex_repaired (mer.data.repairs.check_order)
- an OffsetFrame digit slip (an offset before the apex or the onset): repaired from the clip
  folder, flag offset_repaired (mer.data.repairs.repair_offset); an offset before the onset
  the folder does not prove a slip of: the row is skipped and listed in Corpus.skipped
  (mer.data.repairs.repair_reversed_offset; the sheet has no Duration to repair it from)
- two rows of one clip folder with disjoint frames: two clips, ``EP02_01f@46`` and
  ``EP02_01f@90`` (mer.data.clips.distinct_clip_names); overlapping rows are an error
- extra empty worksheets, unnamed and trailing empty columns: mer.data.sheets.read_table
"""

from __future__ import annotations

import re
from pathlib import Path

from mer.data.clips import Corpus
from mer.data.coding import CodedCorpus, read_coded_corpus
from mer.data.sheets import find_subjects_folder
from mer.errors import DatasetError

FPS = 200.0  # CASME II was filmed at 200 frames per second (Yan et al., 2014)
SHEET_PATTERNS = ("CASME2-coding-*.xlsx", "CASME2-coding-*.csv")
# Frame folders of the public release, in order of preference (CASME2-RAW: whole videos).
LAYOUTS = ("Cropped", "CASME2_RAW_selected", "CASME2-RAW")
_SUBJECT_FOLDER = re.compile(r"^sub(\d+)$", re.IGNORECASE)


def subject_folder(number: int) -> str:
    return f"sub{number:02d}"


def frames_root(root: Path) -> Path:
    """The folder holding sub01, sub02, ...: a known layout under ``root``, or root itself."""
    found = find_subjects_folder([root / name for name in LAYOUTS] + [root], _SUBJECT_FOLDER)
    if found is None:
        raise DatasetError(f"data.root {root}: no CASME II frames found: expected "
                           f"{' or '.join(f'{root}/{n}/sub01/...' for n in LAYOUTS)}, or subNN "
                           "folders directly in data.root; point data.root at your CASME II copy")
    return found


def read_casme2(root: str | Path, annotations: str | Path | None = None,
                dataset: str = "casme2") -> Corpus:
    """Every clip of a CASME II-format corpus (frames not yet checked)."""
    return read_coded_corpus(CASME2, root, annotations, dataset, copy=dataset)


CASME2 = CodedCorpus("CASME II coding sheet", FPS, SHEET_PATTERNS, frames_root, _SUBJECT_FOLDER,
                     subject_folder)

"""Precomputed flow images (MEGC2019 style, as STSTNet / OFF-ApexNet / HTNet use them).

One image per clip whose channels are the onset->apex u, v and optical strain (often
28x28), listed by a CSV: data.annotations, else ``<root>/labels.csv``, else the only CSV in
root. Columns: ``subject, clip, label, path`` (label = the class or emotion name, path =
relative to the CSV) and optionally ``dataset`` (casme2 / samm / smic in a composite set).

There are no frames: frame_paths is [], onset, apex and offset are -1 and fps is 0 (the
image holds the motion, not the frame numbers it came from), flag precomputed_flow. When
the CSV mixes datasets, subjects are written ``<dataset>_<subject>`` so that subject 1 of
one corpus and subject 1 of another stay two LOSO folds.
"""

from __future__ import annotations

from pathlib import Path

from mer.data.cells import cell_text, required_text
from mer.data.clips import NO_FRAME, PRECOMPUTED_FLOW, Clip, Corpus, emotion_of
from mer.data.sheets import read_table
from mer.errors import DatasetError

DATASET = "flow-images"
DEFAULT_CSV = "labels.csv"
NO_FPS = 0.0  # a flow image has no frame rate
COLUMNS = {
    "subject": ("subject",),
    "clip": ("clip", "filename", "video"),
    "label": ("label", "emotion", "class"),
    "path": ("path", "image", "file"),
}
OPTIONAL = {"dataset": ("dataset", "database")}


def find_csv(root: Path) -> Path:
    """``root/labels.csv``, else the only CSV in root."""
    if (root / DEFAULT_CSV).is_file():
        return root / DEFAULT_CSV
    found = sorted(p for p in root.glob("*.csv") if p.is_file())
    if len(found) == 1:
        return found[0]
    what = "no CSV" if not found else f"{len(found)} CSVs ({', '.join(p.name for p in found)})"
    raise DatasetError(f"data.root {root}: {what} and no {DEFAULT_CSV}; set data.annotations "
                       "to the CSV listing subject, clip, label and path of each flow image")


def read_flow_images(root: str | Path, annotations: str | Path | None = None) -> Corpus:
    """Every flow image the CSV lists (images not yet checked)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"data.root {root} is not a folder; point it at your flow images")
    csv_path = Path(annotations) if annotations is not None else find_csv(root)
    table = read_table(csv_path, COLUMNS, OPTIONAL, what="flow-image CSV")
    names = table.headers
    datasets = [cell_text(row.values.get("dataset")) or DATASET for row in table.rows]
    qualify = len(set(datasets)) > 1
    clips = []
    for row, dataset in zip(table.rows, datasets, strict=True):
        where, cells = table.where(row), row.values
        subject = required_text(cells["subject"], names["subject"], where)
        image = required_text(cells["path"], names["path"], where)
        clips.append(Clip(
            dataset=dataset, subject=f"{dataset}_{subject}" if qualify else subject,
            clip=required_text(cells["clip"], names["clip"], where),
            onset=NO_FRAME, apex=NO_FRAME, offset=NO_FRAME, fps=NO_FPS, aus="",
            emotion=emotion_of(cells["label"], names["label"], where),
            source=table.source(row), where=where,
            flow_image=(csv_path.parent / image).as_posix(), flags=(PRECOMPUTED_FLOW,)))
    return Corpus(DATASET, tuple(clips), str(csv_path), "")


def check_flow_image(clip: Clip) -> Clip:
    """The clip, once its image is known to exist and to be a 3-channel integer image."""
    from mer.features.flow_images import read_flow_image

    if not Path(clip.flow_image).is_file():
        raise DatasetError(f"{clip.where}: flow image {clip.flow_image} not found (paths are "
                           "relative to the CSV); fix the path or restore the file")
    read_flow_image(clip.flow_image, clip.where)  # the features stage's own reader and checks
    return clip

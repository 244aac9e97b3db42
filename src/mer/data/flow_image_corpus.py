"""Precomputed flow images (MEGC2019 style, as STSTNet / OFF-ApexNet / HTNet use them).

One image per clip whose three channels are the onset->apex horizontal flow u, vertical flow
v and optical strain (often 28x28), each min-max scaled to the image's integer range (0..255
for 8-bit), so their units are lost. Listed by a CSV: data.annotations, else
``<root>/labels.csv``, else the only CSV in root; without one, a root laid out as STSTNet
publishes the MEGC2019 composite (``<subject>/u_test/<class>/<clip>.png``: read_loso_tree).
Columns: ``subject, clip, label, path``
(label = the class or emotion name, never a class number; path = relative to the CSV, with
'/' or, as written on Windows, '\\' between folders) and
optionally ``dataset``, ``database`` or ``corpus`` (casme2 / samm / smic in a composite set,
in any spelling: ``dataset_names``; of several, ``corpus_column`` says which is read).

There are no frames: frame_paths is [], onset, apex and offset are -1 and fps is 0 (the
image holds the motion, not the frame numbers it came from), flag precomputed_flow. When
the CSV mixes datasets, the data stage writes subjects ``<dataset>_<subject>`` (as for
several corpora: mer.data.build.namespaced) so that subject 1 of one corpus and subject 1 of
another stay two LOSO folds.

Channel order. The usual public preprocessing writes u, v, strain as R, G, B (MATLAB's
imwrite, PIL, imageio), and OpenCV decodes such a file as B, G, R: its channel 0 is then the
strain. An array saved with cv2.imwrite instead has u in OpenCV's channel 0. Which one a
corpus holds is data.flow_channels (rgb / bgr), or with ``auto`` it is found from the
images: the strain channel is the one consistent with the optical strain of the other two
(``resolve_flow_channels``). Each clip then carries the flag flow_channels_rgb or
flow_channels_bgr, and the features stage reads u, v, strain by it.
"""

from __future__ import annotations

import logging
import math
import os
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from mer.config import is_inside
from mer.core.flow_image import (
    BGR,
    FLAG_OF_ORDER,
    ORDERS,
    RGB,
    in_uvs_order,
    optical_strain,
    read_flow_image,
)
from mer.core.frames import FRAME_SUFFIXES, NO_FRAME, DiskNames, is_image, subfolders
from mer.data.cells import (
    ID_SEPARATORS,
    cell_text,
    id_text,
    listed_path,
    required_text,
    subject_key,
    subject_prefix,
    subject_text,
)
from mer.data.clips import PRECOMPUTED_FLOW, Clip, Corpus, emotion_of
from mer.data.sheets import Table, matching_files, read_table
from mer.errors import DatasetError
from mer.labels import (
    COLLECTION_NAMES,
    CORPUS_OF_NAME,
    FIELD_CORPUS_NAMES,
    SAMM,
    corpus_name,
    corpus_of,
    dataset_name,
    name_key,
    normalise_emotion,
    people_of,
)

log = logging.getLogger(__name__)

DATASET = "flow-images"
DEFAULT_CSV = "labels.csv"
LOSSY = (".jpg", ".jpeg", ".jpe")  # lossy formats a flow image may come in
# The smallest side of the field's flow images (STSTNet's and OFF-ApexNet's 28 x 28); a
# smaller image, or one not square, gets a warning.
MIN_SIDE = 28
NO_FPS = 0.0  # a flow image has no frame rate
# Also the names of the MEGC2019 composite list published with HTNet (sub, filename_o); its
# imagename is the clip's apex frame, not its flow image, so it is no name of path.
COLUMNS = {
    "subject": ("subject", "sub"),
    "clip": ("clip", "filename", "filename_o", "video"),
    "label": ("label", "emotion", "class"),
    "path": ("path", "image", "file"),
}
# What to do about a list without a path column (a break-it session: "rename the column to
# the expected name" invited renaming HTNet's imagename, an apex frame, to path).
ADVICE = {"path": "Add a column 'path' holding each clip's flow image, relative to the list "
                  "(the MEGC2019 composite list published with HTNet has none: its "
                  "'imagename' is the clip's apex frame, not its flow image)"}
# The columns that may name each row's corpus, each read on its own (dataset_names decides
# between them when a list has several).
DATASET_COLUMNS = ("dataset", "database", "corpus")
OPTIONAL = {name: (name,) for name in DATASET_COLUMNS}
REFUSED = "\x00refused"  # what corpus_column reads a name corpus_name refuses as, before it

AUTO = "auto"  # data.flow_channels: find the order from the images

# How `auto` decides. Per image, r(order) is the Pearson correlation of that order's strain
# channel with the strain implied by its u, v (correlation, as the channels are min-max
# scaled separately). The true order gives a clearly positive r (about 0.9 on clean flow;
# real flow resized to 28x28 and re-quantised gives less), the wrong one about 0 (it compares
# u with gradients of the strain).
# An image votes only when one order's r is at least this: noise images give |r| < 0.1.
MIN_IMAGE_CORRELATION = 0.3
# ... and beats the other order's r by at least this, so a near tie does not vote.
IMAGE_MARGIN = 0.2
# At least this share of the corpus's images must vote: a corpus of near-still or noisy images
# that mostly abstains is not evidence, but a few still clips in a real corpus are tolerated.
MIN_VOTING_SHARE = 0.3
# And the winning order needs this share of the votes: a corpus is saved in one order, so a
# split vote means the measure does not work on these images (or they mix both orders).
MIN_AGREEMENT = 0.8
# Images whose r is below MIN_IMAGE_CORRELATION in both orders are named in a warning when they
# are so large a share of a corpus most of whose images fit an order (a break-it session: half
# of a corpus's images HSV-coded flow passed without a word); near-still clips fit neither too,
# so a few are tolerated.
SOME_FIT_NEITHER = 0.2


def _lists(root: Path, suffixes: Sequence[str] = (".csv", ".xlsx")) -> list[Path]:
    """The files in ``root`` that may list its images: CSVs and workbooks, but Excel's lock
    file of an open workbook (~$labels.xlsx) and macOS's ._ files; suffixes in any letter
    case (h64: Windows may save 'LIST.XLSX')."""
    return sorted(matching_files(root, [f"*{suffix}" for suffix in suffixes]))


def find_list(root: Path) -> Path:
    """``root/labels.csv`` (in any letter case), else the only CSV in root, else (no CSV) its
    only workbook."""
    default = [p for p in _lists(root, (".csv",)) if p.name.lower() == DEFAULT_CSV]
    if len(default) == 1:  # (h66: LABELS.CSV beside notes.csv was not taken as the list)
        return default[0]
    for suffix in (".csv", ".xlsx"):
        found = _lists(root, (suffix,))
        if len(found) == 1:
            return found[0]
        if found:
            break
    kind = "CSV" if not found or found[0].suffix.lower() == ".csv" else "workbook"
    what = (f"{len(found)} {kind}s ({', '.join(p.name for p in found)})" if found
            else "no CSV or workbook")
    raise DatasetError(f"data.root {root}: {what} and no {DEFAULT_CSV}; set data.annotations "
                       "to the list (CSV or workbook) of subject, clip, label and path of each "
                       "flow image, or point data.root at a tree laid out as STSTNet's "
                       f"(<subject>/{LOSO_TEST}/<class>/<clip>.png)")


# STSTNet's tree of the MEGC2019 composite (christy1206/STSTNet, its `input` folder): one folder
# per LOSO subject, holding that subject's own images in u_test/<class>/ and every other
# subject's in u_train/<class>/.
LOSO_TEST, LOSO_TRAIN = "u_test", "u_train"
# Its class folders' numbers (STSTNet's label_dict; HTNet's list numbers them alike).
COMPOSITE_CLASS_NUMBERS = {"0": "negative", "1": "positive", "2": "surprise"}
# The composite's subject ids say their corpus: CASME II sub01, SAMM 006, SMIC-HS s1 (cells.
# subject_prefix).
CORPUS_OF_CONVENTION = {"sub": "casme2", "": "samm", "s": "smic"}


def is_loso_tree(root: Path) -> bool:
    """True when a folder of ``root`` holds a LOSO_TEST folder (STSTNet's tree)."""
    return any((folder / LOSO_TEST).is_dir() for folder in subfolders(root))


def _class_of_folder(folder: Path) -> str:
    """The emotion a class folder of the tree names: 0, 1, 2 by STSTNet's numbering, or a
    class or emotion name."""
    emotion = (COMPOSITE_CLASS_NUMBERS.get(folder.name) if folder.name.isdigit() else
               normalise_emotion(folder.name))
    if emotion is None:
        raise DatasetError(f"{folder}: class folder {folder.name!r} is none of STSTNet's numbers "
                           "(0 negative, 1 positive, 2 surprise) and no emotion mer knows; "
                           "rename it to its class, or move it out of the tree")
    return emotion


def _images_in(class_folder: Path) -> list[Path]:
    """The images of a class folder, by name; DatasetError for an image in a folder inside
    it, which a tree does not hold (it would be left out without a word)."""
    images = []
    for entry in sorted(class_folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            nested = next((p for p in sorted(entry.rglob("*")) if is_image(p)), None)
            if nested is not None:
                raise DatasetError(f"{nested}: an image in a folder inside class folder "
                                   f"{class_folder}; STSTNet's tree holds each image directly "
                                   "in its class folder: move it there")
        elif is_image(entry):
            images.append(entry)
    return images


def read_loso_tree(root: Path) -> Corpus:
    """The clips of STSTNet's tree: each subject folder's LOSO_TEST images (its own clips),
    labelled by their class folder, of the corpus its id's convention says; LOSO_TRAIN
    folders, the other subjects' images again, are not read (mer makes its own folds).
    DatasetError naming the folder for a subject folder without LOSO_TEST, an id of none of
    the composite's conventions, a class folder it cannot read, or no image at all."""
    clips = _tree_clips(root)
    log.info("%s: read as STSTNet's LOSO tree, %d images: each subject's own from its %s "
             "folder, class folders 0, 1, 2 as negative, positive, surprise (STSTNet's "
             "numbering), the corpus from the subject id (sub01 CASME II, 006 SAMM, s1 "
             "SMIC-HS); %s folders are not read, as mer makes its own LOSO folds", root,
             len(clips), LOSO_TEST, LOSO_TRAIN)
    return Corpus(DATASET, one_spelling(clips, "STSTNet's tree", "image"), str(root), "")


def _tree_clips(root: Path) -> list[Clip]:
    """The clips of STSTNet's tree under ``root`` (read_loso_tree, which says what it
    raises)."""
    clips = []
    for folder in subfolders(root):
        test = folder / LOSO_TEST
        if not test.is_dir():
            raise DatasetError(f"{folder}: no {LOSO_TEST} folder, though other subject folders of "
                               f"{root} have one (STSTNet's tree: <subject>/{LOSO_TEST}/<class>/"
                               "<clip>.png); add it, or move this folder out of data.root")
        convention = subject_prefix(folder.name)
        if convention not in CORPUS_OF_CONVENTION:
            raise DatasetError(f"{folder}: subject folder {folder.name!r} is in none of the "
                               "MEGC2019 composite's conventions (CASME II sub01, SAMM 006, "
                               "SMIC-HS s1), which tell its corpus; rename it, or list the "
                               "images in a labels.csv with a dataset column")
        dataset = CORPUS_OF_CONVENTION[convention]
        loose = sorted(p for p in test.iterdir() if p.is_file() and is_image(p))
        if loose:
            raise DatasetError(f"{loose[0]}: an image directly in {test}, outside any class "
                               "folder, so of no class; move it into its class folder (0 "
                               "negative, 1 positive, 2 surprise)")
        for class_folder in subfolders(test):
            emotion = _class_of_folder(class_folder)
            for image in _images_in(class_folder):
                clips.append(Clip(
                    dataset=dataset, subject=folder.name, clip=image.stem.strip(),
                    onset=NO_FRAME, apex=NO_FRAME, offset=NO_FRAME, fps=NO_FPS, aus="",
                    emotion=emotion, source=image.as_posix(), where=str(image),
                    flow_image=image.as_posix(), flags=(PRECOMPUTED_FLOW,)))
    if not clips:
        raise DatasetError(f"data.root {root}: its {LOSO_TEST} folders hold no image "
                           f"({', '.join(sorted(FRAME_SUFFIXES))})")
    return clips


def read_flow_images(root: str | Path, annotations: str | Path | None = None) -> Corpus:
    """Every flow image the CSV lists, or STSTNet's tree holds when there is no list
    (read_loso_tree); images not yet checked."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"data.root {root} is not a folder; point it at your flow images")
    if annotations is None and not _lists(root) and is_loso_tree(root):
        return read_loso_tree(root)  # no list to read: the tree is the list
    csv_path = Path(annotations) if annotations is not None else find_list(root)
    try:
        table = read_table(csv_path, COLUMNS, OPTIONAL, what="flow-image CSV", advice=ADVICE)
    except DatasetError as exc:
        if annotations is not None or not is_loso_tree(root):
            raise
        raise DatasetError(f"{exc}. data.root also holds STSTNet's tree (<subject>/{LOSO_TEST}/"
                           f"<class>/<clip>.png), which is read when the root holds no CSV or "
                           f"workbook: move {csv_path.name} out of it to read the tree") from None
    names = table.headers
    datasets = dataset_names(table)
    disk = DiskNames()  # a folder of 3000 images is listed once, not once per row
    clips = []
    for row, dataset in zip(table.rows, datasets, strict=True):
        where, cells = table.where(row), row.values
        subject = subject_text(cells["subject"], names["subject"], where)
        image = listed_path(cells["path"], names["path"], where)
        clips.append(Clip(
            dataset=dataset, subject=subject,
            clip=required_text(cells["clip"], names["clip"], where),
            onset=NO_FRAME, apex=NO_FRAME, offset=NO_FRAME, fps=NO_FPS, aus="",
            emotion=_emotion(cells["label"], names["label"], where),
            source=table.source(row), where=where,
            flow_image=disk.find(csv_path.parent / image).as_posix(),
            flags=(PRECOMPUTED_FLOW,)))
    _warn_unlisted(root, csv_path, clips)
    return Corpus(DATASET, one_spelling(clips, f"column '{names['subject']}'"), str(csv_path),
                  "")


def _warn_unlisted(root: Path, csv_path: Path, clips: Sequence[Clip]) -> None:
    """A warning naming the images under ``root`` that the list read does not list: of
    STSTNet's tree when the root holds one (a break-it session: a list of two subjects beside
    a tree of six read two, without a word about the four others), else every image under
    the folder that holds all the listed ones in the root (another: a list missing its last
    rows dropped a whole LOSO subject without a word; not the whole root, which may hold
    other corpora's frames). A tree that would not read as one (read_loso_tree's errors) is
    no tree left out: the list is what is read."""
    tree = is_loso_tree(root)
    if tree:
        try:
            images = [clip.flow_image for clip in _tree_clips(root)]
        except DatasetError:
            return
    else:  # under the folder that holds every listed image, not other corpora's frames
        inside = [os.path.abspath(c.flow_image) for c in clips if is_inside(c.flow_image, root)]
        if not inside:
            return
        top = Path(os.path.commonpath([os.path.dirname(path) for path in inside]))
        images = [path.as_posix() for path in sorted(top.rglob("*"))
                  if is_image(path) and path.is_file()
                  and not any(part.startswith(".") for part in path.relative_to(top).parts)]
    listed = {os.path.abspath(clip.flow_image) for clip in clips}
    unlisted = [image for image in images if os.path.abspath(image) not in listed]
    if not unlisted:
        return
    if tree:
        log.warning("%s is read as the list of flow images: the %d images of the tree under "
                    "data.root (<subject>/%s/<class>/) that it does not list are not read "
                    "(e.g. %s). To read the whole tree instead, move %s out of data.root",
                    csv_path, len(unlisted), LOSO_TEST, unlisted[0], csv_path.name)
    else:
        log.warning("%s is read as the list of flow images: %d image(s) beside the listed ones "
                    "(under %s) that it does not list are not read (%s). Add a row for each "
                    "clip to read, or move the others out of data.root", csv_path,
                    len(unlisted), top, _some(unlisted, 3))


def warn_outside_root(clips: Sequence[Clip], root: Path) -> None:
    """A warning when flow images a list names lie outside ``root`` (data.root, the folder
    DVC tracks for the data stage): DVC does not notice one replaced, and `dvc repro` keeps
    the results made from the old one (a break-it session: absolute and ../ paths were read
    without a word)."""
    outside = [clip for clip in clips if clip.flow_image and not is_inside(clip.flow_image, root)]
    if outside:
        log.warning("%d of the %d flow images listed lie outside data.root (%s; e.g. %s: %s), "
                    "so DVC does not notice when one is replaced and `dvc repro` will not "
                    "rerun the data stage after it: move them into data.root and list them "
                    "by paths relative to the list", len(outside), len(clips), root,
                    outside[0].where, outside[0].flow_image)


def one_spelling(clips: Sequence[Clip], named_by: str, item: str = "row") -> tuple[Clip, ...]:
    """The clips with each person's subject written one way: the first spelling the CSV
    uses for them (cells.subject_key: 'sub01', '1' and '01' of one corpus are one person),
    with a warning naming the others. A subject written with its corpus's name before it, as
    mer's own composite ids are ('casme2_01', 'SMIC_s1', 'CASME II-sub01': ``split_corpus``),
    is that corpus's person '01' or 's1', and is written so (namespacing adds the corpus back,
    one way); one naming another corpus than its row's dataset is a DatasetError naming the
    row. Spelt two ways, one person would be two LOSO subjects, each tested on a model
    trained on the other's clips (break-it sessions: CASME II's 'casme2_01' and '1' were
    two). Without a dataset column, ids that each name their corpus are that corpus's people
    ('casme2_3' and 'samm_3' are two; a warning says the scheme's per-corpus mapping is then
    not applied), and in a list without one or whose corpus mer does not know (a column
    naming the collection, 'MEGC2019'), one number written in two conventions otherwise
    ('sub03' and 's3', '013' and 's13', 'casme2_3' and '3') is refused, a DatasetError: these
    are the MEGC2019 corpora's own conventions, so such ids are more likely two corpora's
    people than one person (a break-it session: CASME II's sub03 and SMIC's s3 were merged
    into one LOSO subject). An id that names a corpus and no person, or that the manifest
    would write as another person's id, is a DatasetError naming the row (_check_readable).
    ``item`` is what each clip is in the warning: a list's "row", a tree's "image"."""
    Key = tuple[str, str | None, int | tuple[str, ...]]
    first: dict[Key, Clip] = {}
    others: dict[Key, list[Clip]] = {}
    # rows of no corpus mer knows: (dataset, person number) -> how its ids are written (a
    # corpus's name before it, or a numbering: 'sub', 's', '', 'sub_') -> the first row
    conventions: dict[tuple[str, int | tuple[str, ...]], dict[tuple[str, str | None], Clip]] = {}
    used: Counter[tuple[str, tuple[str, str | None]]] = Counter()  # rows per convention
    # the id each person is written with: the first spelling, without its corpus's name
    # in a list that has a dataset column (the data stage namespaces it again)
    written: dict[Key, str] = {}
    keys, named = [], []
    # the subject as the manifest writes it: namespaced when the clips are of several corpora
    several = len({clip.dataset for clip in clips}) > 1
    for clip in clips:
        corpus, own = split_corpus(clip.subject, clip.dataset)
        _check_readable(clip, own, named_by, several)
        if (corpus is not None and clip.dataset != DATASET
                and not _same_people(corpus, clip.dataset)):
            raise DatasetError(
                f"{clip.where}: {named_by} writes subject {clip.subject!r}, which names the "
                f"corpus {corpus}, but the row's dataset is {clip.dataset}: write the "
                "subject's own id, or correct the dataset cell")
        # a person: without a dataset column, ids naming two corpora are two people, unless
        # one filmed the other's (labels.PEOPLE_OF: SAMM-LV's 006 is SAMM's)
        key = (people_of(clip.dataset), people_of(corpus) if corpus is not None
               and clip.dataset == DATASET else None, subject_key(own))
        keys.append(key)
        written.setdefault(key, clip.subject if clip.dataset == DATASET else own)
        if clip.dataset == DATASET and corpus is not None:
            named.append(clip)
        if corpus_of(clip.dataset) is None:
            # a name before the id is a convention only without a dataset column: in a row
            # that has one, it is the row's own corpus ('CASME3_spNO.1' is 'spNO.1')
            convention = (("name", corpus) if corpus is not None and clip.dataset == DATASET
                          else ("numbering", subject_prefix(own)))
            conventions.setdefault((clip.dataset, key[2]), {}).setdefault(convention, clip)
            used[clip.dataset, convention] += 1
        known = first.setdefault(key, clip)
        if known.subject != clip.subject:
            others.setdefault(key, []).append(clip)
    # one number written in two conventions, unless each names its corpus ('casme2_3' and
    # 'samm_3' are two people)
    spelt = [seen for seen in conventions.values()
             if len(seen) > 1 and any(kind == "numbering" for kind, _ in seen)]
    if spelt:
        raise _spelt_several_ways(spelt, used, named_by)
    if named:
        log.warning("%s writes subjects with their corpus's name (e.g. %r, %s), but the list "
                    "has no dataset column: labels.scheme maps every row with its general "
                    "mapping (not each corpus's own) and reports/data.json has no per-corpus "
                    "figures; add a 'dataset' column naming each row's corpus", named_by,
                    named[0].subject, named[0].where)
    for key, respelt in others.items():
        spellings = ", ".join(_spelling(s, first[key].subject)
                              for s in dict.fromkeys(c.subject for c in respelt))
        rows = f"{len(respelt)} {item}{'s' if len(respelt) > 1 else ''}"
        person = repr(namespaced_subject(key[0], written[key]) if several and key[0] != DATASET
                      else written[key])
        corpora = sorted({first[key].dataset, *(c.dataset for c in respelt)})
        scope = ("in one corpus" if len(corpora) == 1 else
                 f"in {' and '.join(corpora)}, which filmed the same people")
        log.warning("%s writes subject %r (%s) also as %s (%s, e.g. %s); they are "
                    "read as one person, %s, one LOSO subject (%s, ids that differ "
                    "only in case, separators, leading zeros, the corpus's name before them or "
                    "the word sub, s or subject before a number). If they are different people, "
                    "give them ids that differ in more than that",
                    named_by, first[key].subject, first[key].where,
                    spellings, rows, respelt[0].where, person, scope)
    return tuple(replace(c, subject=written[key]) for c, key in zip(clips, keys, strict=True))


def _spelt_several_ways(spelt: list[dict[tuple[str, str | None], Clip]],
                        used: Counter[tuple[str, tuple[str, str | None]]],
                        named_by: str) -> DatasetError:
    """The DatasetError for numbers written in several conventions (one_spelling): ``spelt``
    has each such number's conventions -> its first row, in the rows' order; ``used`` counts
    the rows of each (dataset, convention). It names every spelling of the first number, each
    by its first row, and how many other numbers are spelt so (break-it sessions: with three
    spellings the error named two, and the third, or the next number, was refused only once
    the user had mended those)."""
    seen = spelt[0]
    numbering = [(c, k) for k, c in seen.items() if k[0] == "numbering"]
    one, its = numbering[0]  # a row of a corpus's numbering, and the row it conflicts with
    other, theirs = next((c, k) for k, c in seen.items() if c is not one)
    also = "".join(f", and {c.where} {c.subject!r} ({_convention_of(c, k)})"
                   for k, c in seen.items() if c is not one and c is not other)
    ways = _COUNT_WORDS.get(len(seen), str(len(seen)))
    people = "two people of different corpora" if len(seen) == 2 else "several corpora's people"
    rows = ("in a list without a dataset column" if one.dataset == DATASET else
            f"in rows of {one.dataset}, a corpus mer does not know")
    # of every spelling of the number, not only the two named (a break-it session: with
    # three, the advice changed at each step)
    usual = max(seen.items(), key=lambda kc: used[one.dataset, kc[0]])[1]
    # an id naming its corpus anywhere among them: the advice is the list's, and writing the
    # others one way with it would merge two corpora's people (a break-it session)
    named = next((c for each in spelt for k, c in each.items() if k[0] == "name"), None)
    more = ""
    if len(spelt) > 1:
        a, b = list(spelt[1].values())[:2]
        # each dataset's own: one number may be spelt so in rows of two corpora (h50: "1 more
        # number" was the same number in another corpus's rows)
        count = Counter(next(iter(each.values())).dataset for each in spelt[1:])
        parts = ", ".join(f"{n} in {'rows of ' + d if d != DATASET else 'the list'}"
                          for d, n in count.items())
        more = (f". The list writes {len(spelt) - 1} more number(s) several ways too"
                f"{'' if set(count) == {one.dataset} else f': {parts}'} (e.g. "
                f"{a.where} {a.subject!r} and {b.where} {b.subject!r}).")
    return DatasetError(
        f"{other.where}: {named_by} writes subject {other.subject!r} "
        f"({_convention_of(other, theirs)}), and {one.where} {one.subject!r} "
        f"({_convention_of(one, its)}){also}: one number written {ways} ways (the MEGC2019 "
        f"corpora number their people CASME II 'sub03', SAMM '013', SMIC 's3', and mer "
        f"writes a corpus's name before the id), which {rows} may be {people} or one "
        f"person. {_advice_for(one.dataset, usual, named)}{more}")


def _advice_for(dataset: str, usual: Clip, named: Clip | None = None) -> str:
    """What to do about one number written several ways in rows of ``dataset``: DATASET (a list
    without a dataset column) or a corpus mer does not know; ``usual`` is a row of the
    number's spelling whose convention most of the corpus's rows use (the corpus's own
    numbering, as a rule). A single corpus of the field's (MMEW, CAS(ME)^3) numbers its own
    people: write the id one way, as ``usual`` does (a break-it session: MMEW's rows were told
    only to name CASME II, SAMM or SMIC-HS). Rows without a dataset column, of a collection
    ('MEGC2019' in every cell) or of a name mer does not know may be several corpora's
    people, whom writing the id one way would merge: name their corpora first. ``named``, a
    row whose id names its corpus ('casme2_1', a list without a dataset column): such ids are
    that corpus's people, and writing theirs one way with the others' would merge two corpora's
    people (a break-it session), so the advice is to name the corpus in every id."""
    corpora = "(casme2, samm, smic)"
    if dataset == DATASET:
        return (f"Add a 'dataset' column naming each row's corpus {corpora}, or "
                + ("write the person's id one way" if named is None else
                   f"write each id with its corpus's name before it, as {named.where} does "
                   f"({named.subject!r})"))
    name_corpora = f"name each row's own corpus in its dataset cell {corpora}"
    if _is_field_corpus(dataset):
        return (f"If they are one person of {dataset}, write the id one way, as {usual.where} "
                f"does ({usual.subject!r}); if some are CASME II, SAMM or SMIC-HS clips, "
                f"{name_corpora}")
    return (f"If they are clips of several corpora, {name_corpora}; if they are one person, "
            "write the id one way")


# How many ways one number is written, as an error says it.
_COUNT_WORDS = {2: "two", 3: "three", 4: "four", 5: "five"}

# The MEGC2019 corpora's own numberings (cells.subject_prefix), as an error names them.
_NUMBERING_SHOWN = {"sub": "CASME II's numbering", "s": "SMIC's numbering",
                    "": "a bare number, SAMM's numbering"}


def _convention_shown(convention: tuple[str, str | None]) -> str:
    """A convention one_spelling reads a subject id in, for an error: ('name', 'casme2') is
    "casme2's name before the id", ('numbering', 's') "SMIC's numbering", ('numbering',
    'sub_') "'sub' and a separator before the number, no corpus's own numbering"."""
    kind, value = convention
    if kind == "name":
        return f"{value}'s name before the id"
    if value is None:
        return "without a corpus's name"
    if value in _NUMBERING_SHOWN:
        return _NUMBERING_SHOWN[value]
    word = value.removesuffix("_")
    separator = " and a separator" if value.endswith("_") else ""
    return f"'{word}'{separator} before the number, no corpus's own numbering"


def _convention_of(clip: Clip, convention: tuple[str, str | None]) -> str:
    """_convention_shown, with the corpus's name a row's id begins with, which a row with a
    dataset column reads as that corpus's (a break-it session: 'mmew_1' was called "a bare
    number")."""
    named, _ = split_corpus(clip.subject, clip.dataset)
    shown = _convention_shown(convention)
    return f"{named}'s name, then {shown}" if named and convention[0] == "numbering" else shown


def _check_readable(clip: Clip, own: str, named_by: str, several: bool) -> None:
    """DatasetError naming ``clip``'s row for a subject id (``own``: without its corpus's
    name, split_corpus) that, or whose whole id, spells one of the field's corpora's names
    in letters and digits and no person ('casme2', 'casme2_', 'CASME II', 'SMIC-VIS',
    'CAS(ME)^3': labels.FIELD_CORPUS_NAMES, break-it sessions), or, in a list of
    ``several`` corpora, that the manifest would write as another person's id: the data
    stage then writes each subject '<dataset>_<id>' (namespaced_subject), and that must read
    back as the same id. A break-it session: CASME II's '_1' became 'casme2__1', which
    reads as person '1', as did SMIC's 'HS_s1' ('smic_HS_s1': SMIC-HS's 's1'), full-width
    separators ('＿1') too. An id that reads back as itself loads ('J.S.'); in a list of one
    corpus, the manifest keeps ids as written."""
    text = unicodedata.normalize("NFKC", own).strip()
    video = _SAMM_VIDEO.fullmatch(text) if people_of(clip.dataset) == SAMM else None
    if video is not None:
        # SAMM-LV names its videos '<person>_<video>' (mer.data.samm_lv), SAMM its clips
        # '<person>_<video>_<clip>': as a subject, one person would be a LOSO subject per video
        # or clip (break-it sessions)
        raise DatasetError(f"{clip.where}: {named_by} writes subject {_shown(clip.subject)}, "
                           f"SAMM's name for a video or clip of person {video[1]} (SAMM-LV's "
                           "videos are named '<person>_<video>', SAMM's clips "
                           "'<person>_<video>_<clip>'), not a person's id: write the person's "
                           f"id, '{video[1]}'")
    named = next((key for key in map(name_key, (clip.subject, own))
                  if key in FIELD_CORPUS_NAMES), None)
    if named is not None:
        advice = ("as the list writes the corpus's other people" if clip.dataset != DATASET
                  else f"('01', or '{dataset_name(named) or named}_01' with the corpus's name)")
        raise DatasetError(f"{clip.where}: {named_by} writes subject {_shown(clip.subject)}, "
                           f"whose letters and digits spell {named}, a corpus's name, and no "
                           f"person's id: write the person's id {advice}")
    if not several or clip.dataset == DATASET:  # the manifest writes the id as it is
        return
    manifest = namespaced_subject(clip.dataset, own)
    corpus, read = split_corpus(manifest, clip.dataset)
    if read != text:
        name = unicodedata.normalize("NFKC", manifest).strip()[:-len(read)]
        raise DatasetError(f"{clip.where}: {named_by} writes subject {_shown(clip.subject)}, "
                           f"which the manifest would write {_shown(manifest)}, and mer reads "
                           f"that as {corpus}'s person {_shown(read)} ({_shown(name)} as the "
                           "corpus's name), so the two could not be told apart: if this is "
                           f"that person, write {_shown(read)}; if not, give them an id that "
                           "does not begin with a separator (_ - . \\ or any dash) or with "
                           "what reads as part of a corpus's name")


def _shown(text: str) -> str:
    """``text`` quoted for a message: as written when printable (a backslash once: a break-it
    session looked for the two that repr shows), else repr's escapes."""
    return f"'{text}'" if text.isprintable() else repr(text)


def namespaced_subject(dataset: str, subject: str) -> str:
    """A subject as the data stage writes it in a manifest of several corpora: with the name
    of the corpus whose people its dataset filmed before it (labels.people_of: a dataset's
    own, SAMM's for SAMM-LV), '<corpus>_<subject>' ('samm', '006' -> 'samm_006'; 'sammlv',
    '006' -> 'samm_006'), so two corpora's subject 1 are two LOSO subjects and SAMM's 006 one
    however many corpora film them; unchanged when it already begins so."""
    prefix = f"{people_of(dataset)}_"
    return subject if subject.startswith(prefix) else prefix + subject


def split_corpus(subject: str, dataset: str) -> tuple[str | None, str]:
    """(corpus, id) of a subject id written with a corpus's name before it, as mer namespaces
    ids, with one of ID_SEPARATORS or any dash between ('casme2_01' -> ('casme2', '01'),
    'SMIC_HS_s1' -> ('smic', 's1'), 'CASME II–sub01' -> ('casme2', 'sub01')) or glued to an
    id mer reads as a number in a row of that corpus ('SAMM006' -> ('samm', '006'), 'SMICs1'
    -> ('smic', 's1')); in a row of a corpus, the name of one that filmed the same people
    too (labels.people_of: 'SAMM-LV006' -> ('sammlv', '006') in a row of SAMM, _longer_name).
    The longest such name first, read in NFKC (full-width letters); a name written twice goes twice
    ('casme2_casme2_1' -> ('casme2', '1')). The id is as written but for NFKC. (None,
    subject) for an id without one. The name is the row's own corpus (``dataset``, in mer's
    spelling) or one mer knows (casme2, samm, smic): for a row of another corpus,
    ``one_spelling`` refuses it. In a list without a dataset column (``dataset`` DATASET) or
    of a collection ('MEGC2019' in every dataset cell), any of the field's corpora is read,
    glued to the id too ('mmew_1' -> ('mmew', '1'), 'SAMM006' -> ('samm', '006'), 'SMICs1' ->
    ('smic', 's1')): such a list may hold several corpora (a break-it session: 'mmew_1' and
    '1', 'SAMM006' and '006' were two LOSO subjects without a word, where 'casme2_1' and '1'
    are refused as one number written two ways)."""
    text = unicodedata.normalize("NFKC", subject).strip()
    corpus = None
    while True:
        cut = _corpus_before(id_text(text), dataset)  # id_text keeps every index
        if cut is None or (corpus is not None and not _same_people(cut[0], corpus)):
            break
        corpus, text = cut[0], text[cut[1]:]
    return (corpus, text) if corpus is not None else (None, subject)


def _corpus_before(text: str, dataset: str) -> tuple[str, int] | None:
    """(corpus, where the id begins) for the longest head of ``text`` (id_text, no space
    around it) that names ``dataset`` or a corpus mer knows, cut at one of ID_SEPARATORS, or
    that names ``dataset`` glued to the id (_glued_at: 'MMEW1' in a row of MMEW). In the rows
    of a list of several corpora (``dataset`` DATASET, no dataset column, or a collection's
    name, 'MEGC2019'), any of the field's corpora, cut or glued (split_corpus). None when none
    does."""
    pooled = dataset == DATASET or name_key(dataset) in COLLECTION_NAMES
    glued = _glued_at(text, dataset, pooled)
    for index in reversed(range(1, len(text))):
        if text[index] in ID_SEPARATORS:
            rest = text[index + 1:].lstrip()
            if not rest or rest[0] in ID_SEPARATORS:
                continue
        elif index == glued:
            rest = text[index:]
        else:
            continue
        head = text[:index].strip()
        name = _corpus_of_name(head) if head else None
        if name is None:
            continue
        if (_same_people(name, dataset)
                or (name in CORPUS_OF_NAME and text[index] in ID_SEPARATORS)
                or (pooled and _is_field_corpus(head))):
            return _longer_name(text, name, len(text) - len(rest))
    return None


_LETTERS = re.compile(r"[^\W\d_]+")
# SAMM's person 006's video 1 or its clip 2, '006_1', '006_1_2' (any separator, '6_1' too)
_SAMM_VIDEO = re.compile(r"(\d{1,3})(?:[_.\-]\d{1,2}){1,2}")


def _longer_name(text: str, name: str, start: int) -> tuple[str, int]:
    """(name, start), for ``text`` (id_text) whose id begins at ``start`` after ``name``;
    but where the letters the id begins with make that name a corpus that filmed the same
    people (labels.PEOPLE_OF: 'SAMM-' and 'LV006' or 'LV_006' are SAMM-LV's), that corpus,
    and where its own id begins: one person is one LOSO subject (a break-it session: in a row
    of SAMM, 'SAMM-LV006' was SAMM's person 'LV006', two people beside '006'). A name whose
    letters would leave no id is not read ('SAMM-LV' alone). Other corpora's parts stay the
    id's, as lists write them ('VIS_s1' in a row of SMIC: whether SMIC-VIS's s1 is SMIC-HS's
    is not documented)."""
    letters = _LETTERS.match(text, start)
    if letters is None:
        return name, start
    longer = _corpus_of_name(text[:letters.end()])
    rest = text[letters.end():].lstrip(ID_SEPARATORS)
    if longer in (None, name) or not rest or not _same_people(longer, name):
        return name, start
    return longer, len(text) - len(rest)


def _same_people(name: str | None, dataset: str) -> bool:
    """Whether the corpus ``name`` (corpus_name's spelling; None for none) is ``dataset`` or
    filmed its people, or ``dataset`` filmed its (labels.people_of: SAMM-LV and SAMM)."""
    return name is not None and people_of(name) == people_of(dataset)


def _glued_at(text: str, dataset: str, pooled: bool) -> int | None:
    """Where a person's id, numbered as subject_prefix reads one, begins in ``text`` (id_text)
    glued to a corpus's name before it: ``dataset``'s own ('MMEW1' in a row of MMEW, 'SMICs1'
    in one of SMIC; not 'SAMM1' in a row of CASME II, a person's initials maybe), or in
    ``pooled`` rows (a list of several corpora) any of the field's corpora ('SAMM006',
    'SMIC-HS1', 'CASME2sub01'; a break-it session found them two people beside '006', '1',
    'sub01'). A name with a separator in it is one when its first part names a corpus too
    ('CASME II5', 'SAMM-LV006'; not 'Sam M1'). None where no name is, and where the id reads
    as a person's id after two names, glued or cut at a separator: 'casme21' may be CASME
    II's person 1 or CASME's 21 (read as written), 'casme_31' CASME I's 31 or CAS(ME)^3's 1
    (read as cut), and 'CASME31' in a row of CASME I may be its person 31 or CAS(ME)^3's 1."""
    readings = []  # (index, glued to the name before it, the name is dataset's, the name)
    for index in range(1, len(text)):
        head = text[:index].rstrip(ID_SEPARATORS)
        if not (text[index].isalnum() and head and subject_prefix(text[index:]) is not None):
            continue
        # the row's own corpus, of any name ('mydata' in a row of mydata, 'Sam M' in one of
        # SAMM), or one of the field's
        own = _same_people(_corpus_of_name(head), dataset)
        if own or _names_a_field_corpus(head):
            readings.append((index, text[index - 1].isalnum(), own, head))
    if len(readings) != 1 or not readings[0][1]:
        return None
    index, _, own, head = readings[0]
    return index if (own or (pooled and _is_field_corpus(head))) else None


def _names_a_field_corpus(head: str) -> bool:
    """Whether ``head`` (no separator at its end) names one of the field's corpora, each of
    its parts before its first separator too ('SMIC-HS', 'CASME II'; not 'Sam M', 'casme_3')."""
    first = head
    for separator in ID_SEPARATORS:
        first = first.split(separator, 1)[0]
    return name_key(head) in FIELD_CORPUS_NAMES and name_key(first) in FIELD_CORPUS_NAMES


def _corpus_of_name(text: str) -> str | None:
    """corpus_name(text), None for a text it refuses (no letter or digit, a known corpus's
    punctuated look-alike)."""
    try:
        return corpus_name(text)
    except ValueError:
        return None


def _is_field_corpus(name: str) -> bool:
    """Whether ``name`` names one of the field's corpora (FIELD_CORPUS_NAMES), not a collection
    of them ('MEGC2019')."""
    key = name_key(name)
    return key in FIELD_CORPUS_NAMES and key not in COLLECTION_NAMES


def _spelling(subject: str, first: str) -> str:
    """repr(subject), with its code points when it differs from ``first`` only in Unicode form
    (a break-it session: 'Zoë' composed and decomposed read "'Zoë' also as 'Zoë'")."""
    if unicodedata.normalize("NFC", subject) != unicodedata.normalize("NFC", first):
        return repr(subject)
    return (f"{subject!r} (the same letters in another Unicode form: {subject!a}, "
            f"first written {first!a})")


def _emotion(value: object, column: str, where: str) -> str:
    """emotion_of, with what to do about a class number (a number means nothing by itself:
    each list numbers its classes its own way)."""
    text = cell_text(value)
    if text.isdigit():
        raise DatasetError(f"{where}: column '{column}' holds {text!r}, a class number; write "
                           "the class's name instead (the MEGC2019 composite lists published "
                           "with STSTNet and HTNet number 0 negative, 1 positive, 2 surprise: "
                           "check what yours says)")
    return emotion_of(value, column, where)


def dataset_names(table: Table) -> list[str]:
    """Each row's dataset, written one way per dataset: the CSV's ``dataset`` column in mer's
    spelling (``mer.labels.dataset_name``: 'CASME II', 'CASME2' and 'casme2' are all casme2),
    so that one person is one LOSO subject and one corpus one cross-corpus name however the
    column spells it. A name mer does not know is kept lower-case without punctuation (its
    clips take labels.scheme's general mapping), with a warning. Without the column (or with
    it empty throughout) every row is ``flow-images``. DatasetError for a row whose cell is
    empty while others are filled in, or that ``mer.labels.corpus_name`` refuses (no letter
    or digit; 'CAS(ME)^2', a known corpus only without its punctuation).

    A list may have several of the columns DATASET_COLUMNS names (``corpus_column``).
    """
    filled = [name for name in DATASET_COLUMNS if name in table.headers
              and any(cell_text(row.values[name]) for row in table.rows)]
    if not filled:
        return [DATASET] * len(table.rows)
    key = filled[0] if len(filled) == 1 else corpus_column(table, filled)
    column = table.headers[key]
    written = [cell_text(row.values[key]) for row in table.rows]
    names, unknown = [], {}
    for row, text in zip(table.rows, written, strict=True):
        if not text:
            raise DatasetError(f"{table.where(row)}: column '{column}' is empty while other "
                               "rows name their corpus; fill it in (casme2, samm or smic) or "
                               "delete the row")
        try:
            name = corpus_name(text)
        except ValueError as error:
            raise DatasetError(f"{table.where(row)}: column '{column}': {error}") from None
        if name not in CORPUS_OF_NAME:
            unknown.setdefault(name, []).append((row, text))
        names.append(name)
    for name, rows in unknown.items():
        # code points of a name that is not ASCII: 'SАMM' with a Cyrillic A looks like SAMM
        spellings = ", ".join(repr(t) if t.isascii() else f"{t!r} (written {t!a})"
                              for t in sorted({text for _, text in rows}))
        # (a break-it session: SAMM-LV, whose people mer reads as SAMM's, was "not known")
        people = people_of(name)
        which = ("which mer does not know" if people == name else
                 f"whose people mer reads as {people}'s (one LOSO subject with {people}'s "
                 "person of the same id) but whose labels it does not map")
        log.warning("%s: column '%s' names the corpus %s (%d rows, e.g. row %d), %s (it "
                    "knows casme2, samm, smic in any spelling, e.g. CASME II, SMIC-HS); its "
                    "clips are kept as dataset '%s' (the name evaluation.train_corpora / "
                    "test_corpora take) and labels.scheme maps them with its general mapping. "
                    "If they are CASME II, SAMM or SMIC-HS clips, write that corpus's name",
                    table.path, column, spellings, len(rows), rows[0][0].number, which, name)
    return names


def corpus_column(table: Table, names: Sequence[str]) -> str:
    """Of the filled-in columns ``names`` (of DATASET_COLUMNS) of ``table``, the one that
    names each row's corpus (dataset_names then reads it as the only one).

    When no row has two of them naming different corpora ('CASME II' in one, 'casme2' in
    another is one corpus; an empty cell names none), the one filled in most rows (the first
    of equals). Else the columns that name no corpus mer knows in any row (a column naming
    the collection, 'MEGC2019 composite', or another corpus, 'MMEW') are passed over, with a
    line saying so, if that leaves columns that never name different corpora in a row; a
    name corpus_name refuses ('CAS(ME)^2') keeps its column. DatasetError otherwise, naming
    the first row where two of the columns left (or of all) name different corpora and
    those two cells.
    """
    read = {name: [_corpus_of_cell(cell_text(row.values[name])) for row in table.rows]
            for name in names}

    def clashes(columns: Sequence[str]) -> list[int]:
        return [index for index in range(len(table.rows))
                if len({read[name][index] for name in columns} - {None}) > 1]

    def most_filled(columns: Sequence[str]) -> str:
        return max(columns, key=lambda name: sum(n is not None for n in read[name]))

    if not clashes(names):
        return most_filled(names)
    naming = [name for name in names if any(n is not None and (n in CORPUS_OF_NAME or
                                                               n.startswith(REFUSED))
                                            for n in read[name])]
    if naming and not clashes(naming):
        chosen = most_filled(naming)
        others = [name for name in names if name not in naming]
        example = next(t for t in (cell_text(row.values[others[0]]) for row in table.rows) if t)
        log.info("%s: mer reads each row's corpus from column '%s'; column%s %s name%s no "
                 "corpus mer knows (e.g. %r)", table.path, table.headers[chosen],
                 "s" if len(others) > 1 else "",
                 " and ".join(f"'{table.headers[name]}'" for name in others),
                 "" if len(others) > 1 else "s", example)
        return chosen
    columns = naming or names  # columns naming corpora clash among themselves, if any do
    index = clashes(columns)[0]
    first = next(name for name in columns if read[name][index] is not None)
    other = next(name for name in columns
                 if read[name][index] not in (None, read[first][index]))
    row = table.rows[index]
    raise DatasetError(
        f"{table.where(row)}: column '{table.headers[first]}' names the corpus "
        f"{cell_text(row.values[first])!r} and column '{table.headers[other]}' "
        f"{cell_text(row.values[other])!r}; mer reads each row's corpus from one column: make "
        "them agree, or rename or delete the one that does not name the corpus")


def _corpus_of_cell(text: str) -> str | None:
    """corpus_name of a cell's text; None for an empty cell; for one corpus_name refuses, its
    text after REFUSED (dataset_names names its row and the reason when its column is read)."""
    if not text:
        return None
    try:
        return corpus_name(text)
    except ValueError:
        return REFUSED + text


def check_flow_image(clip: Clip) -> Clip:
    """The clip, once its image is known to exist and to be a 3-channel integer image."""
    path = Path(clip.flow_image)
    if not path.is_file():
        raise DatasetError(f"{clip.where}: flow image {clip.flow_image} "
                           f"{_not_a_file(path)}; fix the path or restore the file")
    # The features stage's own reader and checks (the order does not matter for them).
    read_flow_image(clip.flow_image, clip.where, BGR)
    return clip


def _not_a_file(path: Path) -> str:
    """What is at ``path`` instead of an image file, in words (a break-it session: a path
    written in another case, as a list made on macOS or Windows opens there, was "not found"
    with the file beside it)."""
    if path.is_dir():
        return "is a folder, not an image file"
    folder = path.parent
    alike = sorted(p.name for p in folder.iterdir() if p.name.casefold() == path.name.casefold()
                   ) if folder.is_dir() else []
    if alike:
        return (f"not found, but {folder / alike[0]} is there: names differ in letter case "
                "on this file system")
    return "not found (paths are relative to the CSV)"


def strain_correlations(image: np.ndarray) -> dict[str, float]:
    """r(order) of one flow image for each candidate order; NaN where a map is flat.

    ``image``: (H, W, 3) integer pixels as OpenCV decodes them. For each order, the optical
    strain of its (u, v) channels, sqrt(ux^2 + vy^2 + 0.5 (uy + vx)^2) with gradients in pixel
    values per pixel, is correlated (Pearson, over all pixels) with its strain channel.
    """
    pixels = image.astype(np.float64)
    found = {}
    for order in ORDERS:
        uvs = in_uvs_order(pixels, order)
        found[order] = _correlation(optical_strain(uvs[:, :, :2]), uvs[:, :, 2])
    return found


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a = a.astype(np.float64).ravel() - a.mean()
    b = b.astype(np.float64).ravel() - b.mean()
    scale = math.sqrt(float(a @ a) * float(b @ b))
    return float(a @ b) / scale if scale > 0 else math.nan


def _vote(correlations: dict[str, float]) -> str | None:
    """The order one image clearly supports, None when it does not tell."""
    if not all(math.isfinite(r) for r in correlations.values()):
        return None
    best, other = sorted(ORDERS, key=correlations.__getitem__, reverse=True)
    if (correlations[best] >= MIN_IMAGE_CORRELATION
            and correlations[best] - correlations[other] >= IMAGE_MARGIN):
        return best
    return None


def _measure(clips: Sequence[Clip]
             ) -> tuple[dict[str, Any], dict[str, list[str]], list[str | None]]:
    """Votes and median correlations over the clips' images, JSON-able; the images by size
    ('28x28': paths); and each clip's vote, in the clips' order (an order, or None)."""
    measured, flat = [], []
    sizes: dict[str, list[str]] = {}
    for clip in clips:
        image = read_flow_image(clip.flow_image, clip.where, BGR)
        sizes.setdefault(f"{image.shape[1]}x{image.shape[0]}", []).append(clip.flow_image)
        measured.append(strain_correlations(image))
        if np.any(np.ptp(image.reshape(-1, image.shape[-1]), axis=0) == 0):
            flat.append(clip.flow_image)
    votes = [_vote(r) for r in measured]
    neither = [clip.flow_image for clip, r in zip(clips, measured, strict=True)
               if all(x < MIN_IMAGE_CORRELATION for x in r.values())]  # NaN: a flat map
    voted = {order: _voting(clips, votes, order) for order in ORDERS}
    finite = [r for r in measured if all(math.isfinite(x) for x in r.values())]
    datasets = sorted({clip.dataset for clip in clips})
    # a CSV of several corpora: each corpus's votes (two corpora made by two tools differ)
    by_corpus = {name: {order: sum(clip.dataset == name and vote == order
                                   for clip, vote in zip(clips, votes, strict=True))
                        for order in ORDERS} for name in datasets} if len(datasets) > 1 else None
    return {
        "images": len(measured),
        "flat_images": len(flat),
        "flat_example": flat[0] if flat else None,
        "votes": {order: votes.count(order) for order in ORDERS},
        # order -> the first image measured that votes for it
        "vote_examples": {order: voted[order][0] if voted[order] else None for order in ORDERS},
        "abstained": votes.count(None),
        **({"votes_by_corpus": by_corpus} if by_corpus else {}),
        "fit_neither_order": neither,  # images whose strain channel fits neither order
        "median_correlation": {
            order: round(float(np.median([r[order] for r in finite])), 3) if finite else None
            for order in ORDERS},
        "thresholds": {"min_image_correlation": MIN_IMAGE_CORRELATION,
                       "image_margin": IMAGE_MARGIN, "min_voting_share": MIN_VOTING_SHARE,
                       "min_agreement": MIN_AGREEMENT, "some_fit_neither": SOME_FIT_NEITHER},
    }, sizes, votes


def _voting(clips: Sequence[Clip], votes: Sequence[str | None], order: str) -> list[str]:
    """The images of the clips whose vote is ``order``."""
    return [clip.flow_image for clip, vote in zip(clips, votes, strict=True) if vote == order]


def _decide(evidence: dict[str, Any]) -> str | None:
    """The order the evidence supports, None when it cannot tell."""
    votes = evidence["votes"]
    cast = sum(votes.values())
    if cast == 0 or cast < MIN_VOTING_SHARE * evidence["images"]:
        return None
    best = max(ORDERS, key=votes.__getitem__)
    return best if votes[best] >= MIN_AGREEMENT * cast else None


def _steered_by(clips: Sequence[Clip], votes: Sequence[str | None],
                evidence: dict[str, Any], order: str,
                test_corpora: Sequence[str] | None) -> str | None:
    """Why the vote for ``order`` rests on held-out images, for the message; None when it
    stands without them. What is held out is what the evaluation holds out: under LOSO
    (``test_corpora`` None) each subject in turn (as the data stage writes it; none in a
    one-subject corpus), each tried in sorted order, the first that steers named; under the
    cross-corpus protocol the test corpora's images together (the training corpora's
    subjects are never held out). The message names the unit, an image of it and the votes
    without it. ``votes``: each clip's vote (``_measure``)."""
    if test_corpora is None:
        why = ("Held out (leave-one-subject-out evaluation), the subject's own images may not "
               "decide how the training images of its fold are read")
        members: dict[Any, list[tuple[Clip, str | None]]] = {}
        for clip, vote in zip(clips, votes, strict=True):
            members.setdefault((clip.dataset, clip.subject), []).append((clip, vote))
        if len(members) < 2:  # no fold to steer
            return None
        units = [(f"subject {unit[1]}'s", members[unit]) for unit in sorted(members)]
    else:
        why = ("Held out (cross-corpus evaluation: evaluation.test_corpora), the test corpora's "
               "own images may not decide how the training corpora's images are read")
        held = [(clip, vote) for clip, vote in zip(clips, votes, strict=True)
                if clip.dataset in test_corpora]
        if not held or len(held) == len(clips):  # nothing held out, or nothing to train on
            return None
        names = " and ".join(sorted({clip.dataset for clip, _ in held}))
        units = [(f"the test corpora's ({names})", held)]
    for name, own in units:
        own_votes = [vote for _, vote in own]
        rest = {"images": evidence["images"] - len(own),
                "votes": {o: evidence["votes"][o] - own_votes.count(o) for o in ORDERS}}
        found = _decide(rest)
        if found == order:
            continue
        others = f"look {found}" if found is not None else "cannot tell the order"
        left = rest["votes"]
        return (f"only with {name} images ({len(own)}, e.g. {own[0][0].flow_image}): "
                f"without them the other {rest['images']} images {others} ({left[RGB]} "
                f"look rgb, {left[BGR]} bgr, the rest do not tell; "
                f"{MIN_VOTING_SHARE:.0%} must count and {MIN_AGREEMENT:.0%} of them "
                f"agree). {why}")
    return None


def _fits_neither(evidence: dict[str, Any]) -> bool:
    """Whether most images fit neither order: the median r of both is below
    MIN_IMAGE_CORRELATION and most images abstain. Images that do not hold u, v, strain
    (HSV-coded flow, u, v and magnitude) measure so, as do near-still or noisy ones (a
    break-it session: HSV-coded flow was said to mix both orders)."""
    medians = [r for r in evidence["median_correlation"].values() if r is not None]
    return (bool(medians) and max(medians) < MIN_IMAGE_CORRELATION
            and 2 * evidence["abstained"] > evidence["images"])


NEITHER = ("their third channel is not the optical strain of the first two in either order, "
           "so they may not hold u, v, strain at all (HSV-coded flow; u, v and magnitude) or "
           "carry almost no motion: check how they were made")


def _csv_of(clips: Sequence[Clip]) -> str:
    """The list the clips were read from, named in messages and the report; for STSTNet's
    tree, which has none (each clip's source is its image), the tree's root (a break-it
    session: messages about the tree named one of its images as if it were the list)."""
    if not clips:
        return ""
    first = clips[0]
    if first.source == first.flow_image:  # <root>/<subject>/u_test/<class>/<clip>.png
        return Path(first.flow_image).parents[3].as_posix()
    return first.source.rsplit(":", 1)[0]


def _undecided(clips: Sequence[Clip], evidence: dict[str, Any]) -> DatasetError:
    votes, median = evidence["votes"], evidence["median_correlation"]
    medians = ", ".join(f"{o} {'n/a' if median[o] is None else f'{median[o]:.2f}'}"
                        for o in ORDERS)
    if _fits_neither(evidence):
        split = f"; most images fit neither order: {NEITHER}"
    elif votes[RGB] and votes[BGR]:
        split = ("; the images disagree: if the corpus mixes both orders, re-save its images "
                 "in one")
        by_corpus = evidence.get("votes_by_corpus")
        if by_corpus:  # a composite of two tools' images: say which corpus goes which way
            ways = {name: [o for o in ORDERS if counts[o]] for name, counts in by_corpus.items()}
            split += " (votes by corpus: " + ", ".join(
                f"{name} {counts[RGB]} rgb / {counts[BGR]} bgr"
                for name, counts in by_corpus.items()) + ")"
            if all(len(way) <= 1 for way in ways.values()):
                split += (": each corpus's images look one way and the corpora differ, so "
                          "they were saved by different tools; re-save one corpus's images "
                          "in the others' order (one flow-image list is read in one order)")
    else:
        split = ""
    if votes[RGB] and votes[BGR] and not _fits_neither(evidence):  # one image of each order
        fewer = min(ORDERS, key=votes.__getitem__)
        example = (f"e.g. {evidence['vote_examples'][fewer]} looks {fewer}, "
                   f"{evidence['vote_examples'][BGR if fewer == RGB else RGB]} the other way")
    else:
        example = f"e.g. {clips[0].flow_image}"
    return DatasetError(
        f"{_csv_of(clips)}: data.flow_channels is auto but the channel order of the flow images "
        f"({example}) cannot be told from the data. Of {evidence['images']} "
        f"images, {votes[RGB]} look rgb (R, G, B = u, v, strain), {votes[BGR]} look bgr "
        f"(OpenCV's channel 0 = u), {evidence['abstained']} do not tell "
        f"({evidence['flat_images']} have a flat channel); median correlation of the strain "
        f"channel with the strain implied by u, v: {medians} (an image counts when one order "
        f"reaches {MIN_IMAGE_CORRELATION} and beats the other by {IMAGE_MARGIN}; "
        f"{MIN_VOTING_SHARE:.0%} of the images must count and {MIN_AGREEMENT:.0%} of them "
        f"agree){split}. Set data.flow_channels in params.yaml to rgb (u, v, strain saved as "
        "R, G, B by MATLAB, PIL or imageio) or bgr (saved with cv2.imwrite from a (u, v, "
        "strain) array)")


def _some(paths: Sequence[str], shown: int = 5) -> str:
    """'a, b, c' for a few paths, 'a, b, c, d, e and 7 more' for many."""
    more = f" and {len(paths) - shown} more" if len(paths) > shown else ""
    return ", ".join(paths[:shown]) + more


def _odd_size(size: str) -> bool:
    """Whether a 'WxH' size is smaller than MIN_SIDE a side or not square."""
    width, height = (int(side) for side in size.split("x"))
    return min(width, height) < MIN_SIDE or width != height


def _with_order(clip: Clip, order: str) -> Clip:
    kept = tuple(f for f in clip.flags if f not in FLAG_OF_ORDER.values())
    return replace(clip, flags=kept).flagged(FLAG_OF_ORDER[order])


def resolve_flow_channels(clips: Sequence[Clip], setting: str,
                          test_corpora: Sequence[str] | None = None
                          ) -> tuple[tuple[Clip, ...], dict[str, Any]]:
    """The clips of one flow-image corpus flagged with its channel order, and the report.

    ``setting`` is data.flow_channels. ``auto`` measures every image (``strain_correlations``)
    and decides once for the corpus by the images' votes; a DatasetError naming the CSV, an
    example image and the numbers when it cannot tell, and one naming what the evaluation
    holds out when the votes decide so only with its images (``_steered_by``: its images
    would decide how its fold's training images are read): a subject under LOSO
    (``test_corpora`` None), the test corpora under the cross-corpus protocol
    (``test_corpora``: evaluation.test_corpora). ``rgb`` / ``bgr`` are taken as given; every
    image is still measured, to log a warning when the corpus clearly disagrees. Either way,
    images that vote against the order taken are named in a warning (a few re-saved by
    another tool) and listed in the report, and every image's size is counted, with a warning
    when they differ (two pipelines' images mixed) and one for images smaller than MIN_SIDE a
    side or not square. The clips' images must already be checked (``check_flow_image``).
    Report (JSON-able): ``{"setting", "order", "csv", "sizes": {"28x28": count, ...},
    "evidence": {images, votes, vote_examples, against_order, median_correlation, ...}}``.
    """
    if setting != AUTO and setting not in ORDERS:
        raise DatasetError(f"data.flow_channels is {setting!r}; use auto, rgb or bgr")
    clips = tuple(clips)
    if not clips:
        return (), {"setting": setting, "order": None if setting == AUTO else setting,
                    "csv": "", "sizes": {}, "evidence": {"images": 0}}
    if setting == AUTO:
        evidence, sizes, votes = _measure(clips)
        order = _decide(evidence)
        if order is None:
            raise _undecided(clips, evidence)
        # Nothing about what a fold holds out may steer it (design brief 3), and the order
        # decides how every training image of that fold is read (an audit: where most images
        # abstained, one subject's images alone decided it). So the vote must give the same
        # order without any one subject's images under LOSO, without the test corpora's under
        # the cross-corpus protocol.
        steered = _steered_by(clips, votes, evidence, order, test_corpora)
        if steered is not None:
            raise DatasetError(
                f"{_csv_of(clips)}: data.flow_channels is auto, and the flow images vote "
                f"{order} ({evidence['votes'][order]} of {evidence['images']} images), but "
                f"{steered}. Set data.flow_channels in params.yaml to rgb (u, v, strain "
                "saved as R, G, B by MATLAB, PIL or imageio) or bgr (saved with cv2.imwrite "
                "from a (u, v, strain) array), as the corpus was made")
        log.info("%s: flow images hold u, v, strain in %s order (%d of %d images vote so)",
                 _csv_of(clips), order, evidence["votes"][order], evidence["images"])
    else:
        evidence, sizes, votes = _measure(clips)
        found = _decide(evidence)
        evidence["contradicts_setting"] = found is not None and found != setting
        if evidence["contradicts_setting"]:
            log.warning("%s: data.flow_channels is %s, but %d of %d flow images look "
                        "%s (their strain channel is where %s puts it): if they are, every "
                        "image is read with u and the strain swapped; check the setting",
                        _csv_of(clips), setting, evidence["votes"][found], evidence["images"],
                        found, found)
        order = setting
    evidence["fits_neither"] = _fits_neither(evidence)
    if evidence["fits_neither"]:  # auto decides so only when many images are still
        median = evidence["median_correlation"]
        log.warning("%s: data.flow_channels is %s, but %d of the %d flow images fit neither "
                    "order (median correlation of the strain channel with the strain implied "
                    "by u, v: rgb %.2f, bgr %.2f): %s (reports/data.json: "
                    "flow_channels.evidence.fits_neither)", _csv_of(clips), setting,
                    evidence["abstained"], evidence["images"], median[RGB], median[BGR],
                    NEITHER)
    elif len(evidence["fit_neither_order"]) >= max(3, SOME_FIT_NEITHER * evidence["images"]):
        log.warning("%s: %d of the %d flow images fit neither order (%s): %s (reports/data.json "
                    "lists them under flow_channels.evidence.fit_neither_order)", _csv_of(clips),
                    len(evidence["fit_neither_order"]), evidence["images"],
                    _some(evidence["fit_neither_order"]), NEITHER)
    other = BGR if order == RGB else RGB
    # Every image that looks the other way, to re-save (when most do, the setting is wrong
    # instead: the warning above says so; when most fit neither order, the few that look
    # the other way are noise: that warning says so).
    evidence["against_order"] = ([] if evidence.get("contradicts_setting")
                                 or evidence["fits_neither"] else _voting(clips, votes, other))
    if evidence["against_order"]:
        log.warning("%s: %d of the %d flow images measured look %s, against the %s order "
                    "the corpus is read in (%s): images saved by another tool (cv2.imwrite "
                    "writes B, G, R; MATLAB, PIL and imageio R, G, B) are read with u and "
                    "strain swapped; re-save them in one order (reports/data.json lists them "
                    "under flow_channels.evidence.against_order)", _csv_of(clips),
                    evidence["votes"][other], evidence["images"], other, order,
                    _some(evidence["against_order"]))
    if evidence["flat_images"]:
        log.warning("%s: %d of the %d flow images measured have a flat channel (u, v or strain "
                    "the same at every pixel; e.g. %s), so they carry no motion there; min-max "
                    "scaled flow is flat only where the motion is exactly constant, which real "
                    "flow never is: check how they were made (data.json counts them under "
                    "flow_channels)", _csv_of(clips), evidence["flat_images"],
                    evidence["images"], evidence["flat_example"])
    lossy = [c.flow_image for c in clips if Path(c.flow_image).suffix.lower() in LOSSY]
    if lossy:
        log.warning("%s: %d of the %d flow images are JPEG (e.g. %s): its colour subsampling "
                    "blurs u, v and strain into one another; save flow images as PNG if you "
                    "can", _csv_of(clips), len(lossy), len(clips), lossy[0])
    if len(sizes) > 1:
        rare = min(sizes, key=lambda size: len(sizes[size]))
        log.warning("%s: the flow images come in %d sizes (%s; e.g. %s is %s): each is scaled "
                    "to the nets' input, but images made by two pipelines differ in more than "
                    "size (crop, flow method, scaling): check how they were made "
                    "(reports/data.json counts them under flow_channels.sizes)", _csv_of(clips),
                    len(sizes), ", ".join(f"{size} {len(paths)}" for size, paths in
                                          sorted(sizes.items())),
                    sizes[rare][0], rare)
    odd = {size: paths for size, paths in sizes.items() if _odd_size(size)}
    if odd:
        log.warning("%s: %d of the %d flow images are smaller than %d pixels a side or not "
                    "square (%s; %s): each is scaled to the nets' square input, so a face's "
                    "motion is stretched, or blown up from too few pixels to show it; "
                    "check how they were made (the field's images are square, 28 x 28 or "
                    "more)", _csv_of(clips), sum(len(paths) for paths in odd.values()),
                    len(clips), MIN_SIDE, ", ".join(sorted(odd)),
                    _some([path for paths in odd.values() for path in paths]))
    flagged = tuple(_with_order(c, order) for c in clips)
    return flagged, {"setting": setting, "order": order, "csv": _csv_of(clips),
                     "sizes": {size: len(paths) for size, paths in sorted(sizes.items())},
                     "evidence": evidence}

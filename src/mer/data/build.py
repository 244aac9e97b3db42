"""The data stage's logic: one or several corpora -> the checked, labelled clip manifest.

For each corpus (data.sources, or the one data.source names): read it (its adapter) -> no clip
twice -> label scheme per corpus (dropped rows counted, protocol exclusions listed) -> frames
checked and repairs made (mer.core.frames), a bad clip an error or skipped and listed
(data.on_bad_clip) -> flow images' channel order found. Then one manifest table (subjects
namespaced by corpus when there are several) and the data report.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from mer.config import CorpusSource, DataParams
from mer.core.frames import NO_FRAME
from mer.core.manifest import COLUMNS, validate_manifest
from mer.data.casme2 import read_casme2
from mer.data.clips import (
    APEX_AT_ONSET,
    APEX_MISSING,
    APEX_REPAIRED,
    Clip,
    Corpus,
    Skipped,
    check_unique,
)
from mer.data.flow_image_corpus import (
    check_flow_image,
    namespaced_subject,
    read_flow_images,
    resolve_flow_channels,
    warn_outside_root,
)
from mer.data.labelling import Labelled, apply_scheme
from mer.data.repairs import APEX_SET_ASIDE, resolve_frames
from mer.data.samm import read_samm
from mer.data.sheets import warn_if_untracked
from mer.data.smic import read_smic
from mer.errors import DatasetError, MerError
from mer.labels import MEGC_3, LabelScheme, get_scheme, people_apart

log = logging.getLogger(__name__)

SYNTHETIC = "synthetic"
SYNTHETIC_SHEET = "CASME2-coding-synthetic.xlsx"  # what `mer synthesize` writes into data.root
FLOW_IMAGES = "flow-images"
# Problems listed in one error: enough to see a pattern, short enough to read.
MAX_LISTED_PROBLEMS = 10
# A scheme that drops more than this share of a corpus's clips gets a warning.
MOSTLY = 0.5

READERS: dict[str, Callable[[Path, Path | None], Corpus]] = {
    "casme2": read_casme2,
    "samm": read_samm,
    "smic": read_smic,
    FLOW_IMAGES: read_flow_images,
}


def read_synthetic(data: DataParams) -> Corpus:
    """The embedded set of data.source synthetic: CASME II's format, read by its adapter."""
    sheet = data.annotations or data.root / SYNTHETIC_SHEET
    if data.annotations is not None and not sheet.is_file():  # not one synthesize writes
        raise DatasetError(f"data.annotations {sheet} is not a file: point it at the sheet to "
                           "read, or set it to null to read the one `mer synthesize` writes")
    if not data.root.is_dir() or not sheet.is_file():
        raise DatasetError(f"{sheet} not found: the synthetic dataset has not been "
                           "generated; run `mer synthesize` (or `dvc repro`) first")
    return read_casme2(data.root, sheet, dataset=SYNTHETIC)


def read_source(source: CorpusSource) -> Corpus:
    """The clips of one corpus as its adapter reads them (frames not yet checked)."""
    return READERS[source.source](source.root, source.annotations)


# The keys an adapter's message names for a corpus of data.source (data.root, ...), each
# one's place in an entry of data.sources (a break-it session: a listed SAMM was told to set
# data.annotations, which data.sources refuses, where data.sources[1].annotations works).
SOURCE_KEYS = ("root", "annotations")


def read_listed(data: DataParams, index: int) -> Corpus:
    """data.sources[index], its adapter's errors saying which source they are about and
    naming its own keys (data.sources[index].root for data.root, ...)."""
    source = data.sources[index]
    try:
        return read_source(source)
    except DatasetError as exc:
        text = str(exc)
        for key in SOURCE_KEYS:
            text = re.sub(rf"\bdata\.{key}\b", f"data.sources[{index}].{key}", text)
        raise DatasetError(f"data.sources[{index}] ({source.source}, root {source.root}): "
                           f"{text}") from None


def check_clip(clip: Clip) -> Clip:
    """A clip whose frames (or flow image) are on disk and readable, repairs flagged."""
    return resolve_frames(clip) if clip.folder is not None else check_flow_image(clip)


def _listed(problems: Sequence[str], total: int) -> str:
    listed = "\n  ".join(problems[:MAX_LISTED_PROBLEMS])
    more = len(problems) - MAX_LISTED_PROBLEMS
    tail = f"\n  ... and {more} more" if more > 0 else ""
    return f"{len(problems)} of {total} clips have problems:\n  {listed}{tail}"


def check_clips(clips: Sequence[Clip], on_bad_clip: str = "error", progress: bool = False
                ) -> tuple[list[Clip], list[Skipped]]:
    """(checked clips, skipped clips). With on_bad_clip 'error' every problem found is raised
    together; with 'skip' each clip with a problem is left out and returned with its reason."""
    from tqdm import tqdm

    checked, skipped = [], []
    for clip in tqdm(clips, desc="checking frames", unit="clip", disable=not progress):
        try:
            checked.append(check_clip(clip))
        except MerError as exc:  # a frame or image problem: keep looking, report them all
            skipped.append(Skipped(clip.clip_id, clip.source, clip.where, str(exc)))
    if skipped and on_bad_clip == "error":
        if len(skipped) == 1:
            raise DatasetError(f"{skipped[0].reason} (or set data.on_bad_clip: skip to leave "
                               "such clips out and list them in reports/data.json)")
        raise DatasetError(_listed([s.reason for s in skipped], len(clips)) +
                           "\nFix them, or set data.on_bad_clip: skip to leave them out and "
                           "list them in reports/data.json")
    for item in skipped:
        log.warning("skipped %s: %s", item.clip_id, item.reason)
    return checked, skipped


@dataclass(frozen=True)
class CorpusResult:
    """One corpus after the data stage: what it read, kept, dropped, skipped and found."""

    corpus: Corpus
    labelled: Labelled  # before the frame checks
    clips: tuple[Clip, ...]  # kept and checked
    labels: tuple[str, ...]
    skipped: tuple[Skipped, ...]  # by the adapter (sheet value errors) and the frame checks
    flow_channels: dict[str, Any] | None  # flow images: the channel order found


def warn_if_mostly_dropped(corpus: Corpus, labelled: Labelled, scheme: LabelScheme) -> None:
    """A warning for each corpus whose clips labels.scheme mostly drops: in a composite the run
    goes on with the rest, so a scheme that does not fit one corpus would pass unnoticed. A
    flow-image CSV's corpora (its dataset column) are counted one by one."""
    rows_of = Counter(clip.dataset for clip in corpus.clips)
    for dataset, dropped in labelled.dropped_by_dataset.items():
        rows = sum(dropped.values())
        if rows <= MOSTLY * rows_of[dataset]:
            continue
        emotions = ", ".join(f"{e} {n}" for e, n in dropped.items())
        other = "" if scheme.name == MEGC_3 else f"; for a composite, {MEGC_3} keeps them"
        where = dataset if dataset == corpus.dataset else f"{dataset} in {corpus.dataset}"
        log.warning("labels.scheme '%s' drops %d of the %d clips of %s (%s), whose emotions "
                    "it does not map to one of its classes (%s) for that corpus%s",
                    scheme.name, rows, rows_of[dataset], where, emotions,
                    ", ".join(scheme.classes), other)


def warn_if_mostly_skipped(clips: Sequence[Clip], skipped: Sequence[Skipped]) -> None:
    """A warning for each corpus (a flow-image CSV's counted one by one) most of whose clips
    the frame checks skipped (data.on_bad_clip: skip): each skip is a line of its own, and a
    corpus that lost every clip went on as if it were in the run (h64: its cross-corpus test
    fold then failed in the train stage, with no word of the skipped clips)."""
    total = Counter(clip.dataset for clip in clips)
    gone = {item.clip_id for item in skipped}
    lost = Counter(clip.dataset for clip in clips if clip.clip_id in gone)
    for dataset, count in lost.items():
        if count <= MOSTLY * total[dataset]:
            continue
        what = ("every one" if count == total[dataset] else "most")
        log.warning("%s: %s of its clips (%d of %d) were skipped for problems with their "
                    "frames or images (data.on_bad_clip: skip; each is listed above and in "
                    "reports/data.json under 'skipped'), so it adds %s to the run: fix them, "
                    "or leave the corpus out", dataset, what, count, total[dataset],
                    "nothing" if count == total[dataset] else "little")


def warn_if_named_another_way(corpus: Corpus, labelled: Labelled, scheme: LabelScheme) -> None:
    """A warning for each emotion a corpus's clips are dropped for that the scheme keeps for
    other corpora and the corpus's protocol does not leave out (``class_elsewhere``): rows
    named another corpus's way, not clips the protocol excludes (a break-it session: SMIC-HS
    rows written 'happiness' were dropped with only a count, while other SMIC rows kept the
    class)."""
    for dataset, dropped in labelled.dropped_by_dataset.items():
        for emotion, rows in dropped.items():
            elsewhere = scheme.class_elsewhere(emotion, dataset)
            if elsewhere is None:
                continue
            first = next(c for c in corpus.clips
                         if c.dataset == dataset and c.emotion == emotion)
            own = sorted(set(scheme.mapping_for(dataset)))
            log.warning("%s: labels.scheme '%s' drops %d clip(s) of %s labelled %s (e.g. %s): "
                        "its mapping for %s has no %s (it maps %s), though it "
                        "maps %s to %s for other corpora. If they are %s clips, write them "
                        "%s", corpus.dataset, scheme.name, rows, dataset, emotion, first.where,
                        dataset, emotion, ", ".join(own), emotion, elsewhere, elsewhere,
                        elsewhere)


APEXES_OUTSIDE_FROM = 3  # so many apexes outside their clips, and most, say the convention is


def warn_if_apexes_outside(corpus: Corpus, clips: Sequence[Clip]) -> None:
    """A warning when most of the apexes a sheet gives lie outside their clips: each is set
    aside and estimated (a typo, as SAMM's few), but so many say the column holds something
    else, such as the apex's index within the clip (a break-it session: every apex of a
    re-annotated sheet was replaced by an estimate, said at INFO level only)."""
    outside = [c for c in clips if APEX_REPAIRED in c.flags]
    given = [c for c in clips if APEX_REPAIRED in c.flags or APEX_AT_ONSET in c.flags
             or c.apex != NO_FRAME]
    if len(outside) < APEXES_OUTSIDE_FROM or 2 * len(outside) <= len(given):
        return
    first = outside[0]
    note = next(text for flag, text in first.notes if flag == APEX_REPAIRED)
    log.warning("%s: %d of the %d apexes its annotations give lie outside their clips (e.g. "
                "%s: %s); so many say the apex column holds something other than frame "
                "numbers, such as the apex's index within the clip: mer reads frame numbers, "
                "as the onset and offset are, so write the apex frame's number",
                corpus.dataset, len(outside), len(given), first.where,
                note.removesuffix(APEX_SET_ASIDE))


def warn_of_exclusions(corpus: Corpus, labelled: Labelled, scheme: LabelScheme) -> None:
    """A warning naming the clips the scheme's published protocol leaves out (a break-it
    session: on a re-coded CASME II sheet, MEGC2019's rule left out every disgust clip whose
    apex was not coded, 4 of 14 negative clips, and only an INFO count said so, under the
    scheme-drop's reason)."""
    if not labelled.excluded:
        return
    reasons = Counter(e.reason for e in labelled.excluded)
    log.warning("%s: labels.scheme '%s' leaves out %d clip(s) its emotion would keep (%s; "
                "e.g. %s). MEGC2019's CASME II list leaves out 2 such clips of the 2014 sheet; "
                "to keep one, code its apex in the sheet (reports/data.json lists them under "
                "dropped.excluded)", corpus.dataset, scheme.name, len(labelled.excluded),
                "; ".join(f"{n}: {reason}" for reason, n in sorted(reasons.items())),
                labelled.excluded[0].source)


def build_corpus(corpus: Corpus, scheme: LabelScheme, data: DataParams, progress: bool,
                 test_corpora: Sequence[str] | None = None) -> CorpusResult:
    for item in corpus.skipped:  # rows whose values nothing repairs: said, not only listed
        log.warning("skipped %s: %s", item.clip_id, item.reason)
    check_unique(corpus.clips)
    labelled = apply_scheme(corpus.clips, scheme, corpus.dataset)
    warn_if_mostly_dropped(corpus, labelled, scheme)
    warn_if_named_another_way(corpus, labelled, scheme)
    warn_of_exclusions(corpus, labelled, scheme)
    checked, skipped = check_clips(labelled.clips, data.on_bad_clip, progress)
    warn_if_mostly_skipped(labelled.clips, skipped)
    warn_if_apexes_outside(corpus, checked)
    label_of = dict(zip((c.clip_id for c in labelled.clips), labelled.labels, strict=True))
    channels = None
    if corpus.dataset == FLOW_IMAGES and checked:
        flagged, channels = resolve_flow_channels(checked, data.flow_channels,
                                                  test_corpora)
        checked = list(flagged)
    return CorpusResult(corpus, labelled, tuple(checked),
                        tuple(label_of[c.clip_id] for c in checked),
                        (*corpus.skipped, *skipped), channels)


def namespaced_id(clip_id: str) -> str:
    """'samm/006/006_1_2' -> 'samm/samm_006/006_1_2' (unchanged when already namespaced)."""
    dataset, subject, clip = clip_id.split("/", 2)
    return f"{dataset}/{namespaced_subject(dataset, subject)}/{clip}"


def namespaced(corpus: Corpus) -> Corpus:
    """The corpus with every subject written <dataset>_<subject>, in its clips and skipped
    rows: one LOSO fold per person even when two corpora both have a subject 1."""
    clips = tuple(replace(c, subject=namespaced_id(c.clip_id).split("/")[1])
                  for c in corpus.clips)
    skipped = tuple(replace(s, clip_id=namespaced_id(s.clip_id)) for s in corpus.skipped)
    return replace(corpus, clips=clips, skipped=skipped)


def manifest_table(clips: Sequence[Clip], labels: Sequence[str],
                   scheme: LabelScheme) -> pd.DataFrame:
    """The manifest (mer.core.manifest's columns), one row per clip, sorted by clip_id."""
    rows = [{
        "dataset": c.dataset, "subject": c.subject, "clip": c.clip, "clip_id": c.clip_id,
        "frame_paths": list(c.frame_paths), "onset": c.onset, "apex": c.apex,
        "offset": c.offset, "fps": c.fps, "aus": c.aus, "emotion": c.emotion, "label": label,
        "label_index": scheme.index_of(label), "flow_image": c.flow_image,
        "flags": list(c.flags), "source": c.source,
    } for c, label in zip(clips, labels, strict=True)]
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    table = table.astype({"onset": "int64", "apex": "int64", "offset": "int64",
                          "label_index": "int64", "fps": "float64"})
    return validate_manifest(table)


def _counts(clips: Sequence[Clip], labels: Sequence[str], scheme: LabelScheme
            ) -> dict[str, Any]:
    per_class = Counter(labels)
    return {
        "clips": len(clips),
        "subjects": len({c.subject for c in clips}),
        "clips_per_class": {name: per_class.get(name, 0) for name in scheme.classes},
    }


def _dropped(result: Labelled, scheme: LabelScheme) -> dict[str, Any]:
    return {
        "rows": sum(result.dropped.values()) + len(result.excluded),
        "reason": f"emotion is not a class of labels.scheme '{scheme.name}' (by_emotion), or "
                  "the scheme's published protocol leaves the clip out (excluded)",
        "by_emotion": result.dropped,
        "excluded": [{"clip_id": e.clip_id, "source": e.source, "reason": e.reason}
                     for e in sorted(result.excluded, key=lambda e: e.clip_id)],
    }


def _skipped(items: Sequence[Skipped]) -> dict[str, Any]:
    return {"count": len(items),
            "clips": [{"clip_id": s.clip_id, "source": s.source, "reason": s.reason}
                      for s in sorted(items, key=lambda s: (s.clip_id, s.source))]}


def corpus_report(result: CorpusResult, scheme: LabelScheme) -> dict[str, Any]:
    """One corpus's share of reports/data.json."""
    report: dict[str, Any] = {
        "dataset": result.corpus.dataset,
        "annotations": result.corpus.annotations,
        "worksheet": result.corpus.worksheet,
        "frames": result.corpus.frames_root,
        **_counts(result.clips, result.labels, scheme),
        "dropped": _dropped(result.labelled, scheme),
        "skipped": _skipped(result.skipped),
    }
    if result.flow_channels is not None:
        report["flow_channels"] = result.flow_channels
    return report


def dataset_report(result: CorpusResult, dataset: str, clips: Sequence[Clip],
                   labels: Sequence[str], scheme: LabelScheme) -> dict[str, Any]:
    """The share of reports/data.json of one corpus a list names in its dataset column (a
    flow-image composite: one CSV of CASME II, SAMM and SMIC-HS rows), as corpus_report gives
    a corpus of its own (a break-it session: the flow-image composite had no per-corpus
    counts, so which corpus lost the rows a scheme drops was not said)."""
    def ours(clip_id: str) -> bool:  # clip ids are dataset/subject/clip
        return clip_id.split("/", 1)[0] == dataset

    kept = [(c, label) for c, label in zip(clips, labels, strict=True) if c.dataset == dataset]
    dropped = Labelled((), (), {dataset: result.labelled.dropped_by_dataset.get(dataset, {})},
                       tuple(e for e in result.labelled.excluded if ours(e.clip_id)))
    return {
        "dataset": dataset,
        **_counts([c for c, _ in kept], [label for _, label in kept], scheme),
        "dropped": _dropped(dropped, scheme),
        "skipped": _skipped([s for s in result.skipped if ours(s.clip_id)]),
    }


def data_report(results: Sequence[CorpusResult], scheme: LabelScheme, clips: Sequence[Clip],
                labels: Sequence[str]) -> dict[str, Any]:
    """reports/data.json: what the manifest holds, what was dropped, skipped and repaired; with
    several corpora, each one's share under 'corpora'."""
    ordered = sorted(clips, key=lambda c: c.clip_id)
    flags = Counter(flag for c in clips for flag in c.flags)
    repairs = [{"clip_id": c.clip_id, "source": c.source, "flag": flag, "what": note}
               for c in ordered for flag, note in c.notes]
    estimate = [c.clip_id for c in ordered if APEX_MISSING in c.flags]
    by_dataset: dict[str, Counter[str]] = {}
    for result in results:
        for name, counts in result.labelled.dropped_by_dataset.items():
            by_dataset.setdefault(name, Counter()).update(counts)
    dropped = Labelled((), (), {name: dict(counts) for name, counts in by_dataset.items()},
                       tuple(e for r in results for e in r.labelled.excluded))
    single = results[0].corpus if len(results) == 1 else None
    report: dict[str, Any] = {
        "dataset": single.dataset if single else "+".join(r.corpus.dataset for r in results),
        "annotations": single.annotations if single else "",
        "worksheet": single.worksheet if single else None,
        "frames": single.frames_root if single else "",
        "scheme": scheme.name,
        **_counts(clips, labels, scheme),
        "clips_per_subject": dict(sorted(Counter(c.subject for c in clips).items())),
        "dropped": _dropped(dropped, scheme),
        "skipped": _skipped([s for r in results for s in r.skipped]),
        "repairs": {"count": len(repairs), "clips": repairs},
        "apex_to_estimate": {"count": len(estimate), "clip_ids": estimate},
        "flags": dict(sorted(flags.items())),
    }
    if single is not None and results[0].flow_channels is not None:
        report["flow_channels"] = results[0].flow_channels
    if single is None:
        report["corpora"] = {r.corpus.dataset: corpus_report(r, scheme) for r in results}
    elif len(datasets := sorted({c.dataset for c in clips} | set(by_dataset))) > 1:
        report["corpora"] = {name: dataset_report(results[0], name, clips, labels, scheme)
                             for name in datasets}
    report["sheets"] = sheet_digests(results)
    return report


def sheet_digests(results: Sequence[CorpusResult]) -> dict[str, str]:
    """annotation file (coding sheet, flow-image list) or folder a corpus is listed by
    (SMIC-HS without data.annotations, STSTNet's tree) -> its digest (mer.core.records.
    annotation_digest): recorded with the manifest, so a stage run by hand after the sheet is
    edited, or an image added to or moved between the folders, is not fed the old labels."""
    from mer.core.records import annotation_digest

    digests = {r.corpus.annotations: annotation_digest(r.corpus.annotations) for r in results
               if r.corpus.annotations}
    return {name: digest for name, digest in digests.items() if digest is not None}


def flow_image_digests(manifest: pd.DataFrame) -> dict[str, str]:
    """flow image -> sha256 of its bytes, for each clip of the manifest read from one: recorded
    with the manifest beside the sheets' (mer.core.manifest.SHEETS_KEY), so a stage run by
    hand after an image is replaced (re-saved in another channel order, say) is not fed
    features of the old one."""
    from mer.core.records import file_digest

    return {image: file_digest(image) for image in manifest["flow_image"] if image}


def warn_of_missing_classes(results: Sequence[CorpusResult], clips: Sequence[Clip],
                            labels: Sequence[str], scheme: LabelScheme) -> None:
    """A warning for each corpus of a composite (several corpora, or a flow-image CSV's
    dataset column) that keeps no clip of a class the others keep: its per-corpus figures then
    score fewer classes (one class scores 1.000 when predicted right), and the cause is mostly
    rows whose emotion the scheme does not map for that corpus."""
    classes_of: dict[str, set[str]] = {}
    for clip, label in zip(clips, labels, strict=True):
        classes_of.setdefault(clip.dataset, set()).add(label)
    if len(classes_of) < 2:
        return
    kept = set(labels)
    for dataset, classes in sorted(classes_of.items()):
        missing = [c for c in scheme.classes if c in kept - classes]
        if not missing:
            continue
        dropped: Counter[str] = Counter()
        for result in results:
            dropped.update(result.labelled.dropped_by_dataset.get(dataset, {}))
        emotions = ", ".join(f"{e} {n}" for e, n in sorted(dropped.items())) or "none"
        log.warning("%s keeps no %s clip under labels.scheme '%s', though the other corpora "
                    "do (its clips the scheme drops: %s): its per-corpus figures score %s "
                    "only. If its labels name that class another way, write them as the "
                    "scheme's classes for that corpus", dataset, " or ".join(missing), scheme.name,
                    emotions, ", ".join(c for c in scheme.classes if c in classes))


def check_classes(clips: Sequence[Clip], labels: Sequence[str], results: Sequence[CorpusResult],
                  scheme: LabelScheme) -> None:
    """At least one clip and two classes are left, or an error saying what was found."""
    name = "+".join(r.corpus.dataset for r in results)
    if not clips:
        found = Counter(c.emotion for r in results for c in r.corpus.clips)
        listed = ", ".join(f"{e} ({n})" for e, n in sorted(found.items())) or "none"
        if not any(r.corpus.clips for r in results):
            raise DatasetError(f"{name}: the annotations list no clip ("
                               f"{', '.join(r.corpus.annotations for r in results)}); check "
                               "data.root and data.annotations point at the filled-in sheet")
        other = "" if scheme.name == MEGC_3 else f" (e.g. {MEGC_3})"
        raise DatasetError(f"no clip of {name} is left under labels.scheme '{scheme.name}' "
                           f"(classes {', '.join(scheme.classes)}); the emotions found were "
                           f"{listed}. Choose a labels.scheme that covers them{other}")
    classes = sorted(set(labels), key=scheme.classes.index)
    if len(classes) < 2:
        skipped = sum(len(r.skipped) for r in results)
        hint = (f" ({skipped} clips were skipped: see the warnings above)" if skipped else "")
        other = "" if scheme.name == MEGC_3 else f" (e.g. {MEGC_3})"
        raise DatasetError(f"labels.scheme '{scheme.name}' leaves only the class {classes[0]} "
                           f"of {name} ({len(clips)} clips){hint}; a classifier needs at least "
                           f"two classes: choose another labels.scheme{other} or add clips")


def read_corpora(data: DataParams) -> list[Corpus]:
    """Every corpus data names, read by its adapter, subjects namespaced when they come from
    several corpora."""
    if data.sources:
        corpora = [read_listed(data, i) for i in range(len(data.sources))]
    elif data.source == SYNTHETIC:
        corpora = [read_synthetic(data)]
    else:
        corpora = [read_source(data.corpora[0])]
    for corpus in corpora:
        if corpus.annotations:
            warn_if_untracked(corpus.annotations, data.root, "data", "data")
        warn_outside_root(corpus.clips, data.root)
    # Several corpora (or one flow-image CSV of several): subjects namespaced by corpus.
    datasets = {c.dataset for corpus in corpora for c in corpus.clips}
    return [namespaced(c) for c in corpora] if len(datasets) > 1 else corpora


def check_people_apart(corpora: Sequence[Corpus], test_corpora: Sequence[str] | None) -> None:
    """A DatasetError, before any clip is checked, for LOSO (``test_corpora`` None) over
    corpora that filmed the same people under numbers not known to match (labels.people_apart:
    SMIC-HS and SMIC-VIS); cross-corpus folds are checked by the corpora they use
    (mer.evaluation.splits.protocol_folds)."""
    if test_corpora is not None:
        return
    why = people_apart(clip.dataset for corpus in corpora for clip in corpus.clips)
    if why is not None:
        raise DatasetError(f"data: the {why}")


def build_manifest(data: DataParams, scheme_name: str, progress: bool = False,
                   test_corpora: Sequence[str] | None = None
                   ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """(manifest, data report) of data's corpora under a label scheme; DatasetError on bad input.
    ``test_corpora``: evaluation.test_corpora under the cross-corpus protocol, None under LOSO
    (what the evaluation holds out: ``resolve_flow_channels``)."""
    scheme = get_scheme(scheme_name)
    corpora = read_corpora(data)
    check_people_apart(corpora, test_corpora)
    results = [build_corpus(corpus, scheme, data, progress, test_corpora) for corpus in corpora]
    clips = [c for r in results for c in r.clips]
    labels = [label for r in results for label in r.labels]
    check_classes(clips, labels, results, scheme)
    warn_of_missing_classes(results, clips, labels, scheme)
    manifest = manifest_table(clips, labels, scheme)
    report = data_report(results, scheme, clips, labels)
    # "clips": a dropped clip is a row of a coding sheet or list, or an image of a tree
    log.info("%s: %d clips of %d subjects under %s; %d clips dropped (%d by the scheme's "
             "protocol), %d skipped, %d repairs, %d apexes to estimate", report["dataset"],
             report["clips"], report["subjects"], scheme.name, report["dropped"]["rows"],
             len(report["dropped"]["excluded"]), report["skipped"]["count"],
             report["repairs"]["count"], report["apex_to_estimate"]["count"])
    return manifest, report

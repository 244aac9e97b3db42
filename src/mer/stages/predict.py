"""Classify micro-expressions and print JSON: label, class probabilities, moving AU regions.

Give one kind of input: --clip FOLDER [FOLDER ...] (frames named by number; with one folder,
optional --onset/--apex/--offset frame numbers), --clips-from CSV (one clip per row: a ``clip``
folder, relative to the CSV's own folder, and optional ``onset``, ``apex``, ``offset`` frame
numbers), --pair ONSET APEX (two images), or --video FILE (with optional --start/--end window
and --apex, frame numbers counted from 0; a folder of a video's numbered frames is read as
--clip reads one, by the numbers in the names; the apex is estimated when absent).

One input prints one indented JSON object; several clips (or any --clips-from list, even of one
row) share one model load, so each costs only its own prediction: one JSON object per clip,
one per line, in the order given. Each is the row --out writes (ROW_FIELDS: the label, one
``prob_<class>`` per class, as the served model answers them, ...). Each gives the apex as a
frame number of its input (``apex_frame``) and as an index into the frames read
(``apex_index``), flags ``no_motion`` (no AU region moved: its label is a guess on a still
face, with a warning), and names its ``input``, the ``model`` as given and the
``model_version`` it pinned to (models:/name/8 for models:/name@champion: the answer stays
traceable after the alias moves; null with --server); with --out FILE (.csv or
.json) they go to that table instead, one row per input. A clip mer cannot classify (a lost
face, a damaged frame) gets a row holding its ``error`` while the others go on; the command then
exits with code 2.

The model is models:/<tracking.model_name>@champion unless --model names another model logged
by `mer register`: models:/name/3, models:/name@challenger, runs:/<run_id>/model or its local
MLflow model folder. A bare file (a pickle) is refused, never read: unpickling runs code. A
registered version is fetched once into the model cache ($MER_MODEL_CACHE, default
~/.cache/mer/models) and read from that verified copy afterwards; the registry still decides
which version an alias names. With --server URL nothing is loaded here: each input goes as
one request to the model `mlflow models serve` keeps loaded at URL (mer.inference.client), and
its answer prints as a local prediction would (``model`` is then the URL).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mer.errors import ParamsError
from mer.tracking.registry import CHAMPION

if TYPE_CHECKING:
    from mer.inference.predictor import Prediction
    from mer.inference.sources import FrameWindow

    Classify = Callable[[FrameWindow], Prediction]  # one window of frames -> its prediction

log = logging.getLogger(__name__)
CLIP_COLUMNS = ("clip", "onset", "apex", "offset")  # a --clips-from CSV's columns, clip required


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--clip", nargs="+", metavar="FOLDER",
                        help="folder(s) of numbered frames; several share one model load")
    source.add_argument("--clips-from", metavar="CSV",
                        help="a CSV with a clip column (folders, relative to the CSV) and "
                        "optional onset, apex, offset columns: one prediction per row")
    source.add_argument("--pair", nargs=2, metavar=("ONSET", "APEX"), help="two images")
    source.add_argument("--video", metavar="FILE", help="a video file, or a folder of its "
                        "numbered frames")
    parser.add_argument("--onset", type=int, help="--clip: onset frame number")
    parser.add_argument("--apex", type=int, help="apex frame number (--clip, --video)")
    parser.add_argument("--offset", type=int, help="--clip: offset frame number")
    parser.add_argument("--start", type=int, help="--video: first frame of the window (a "
                        "file's frames count from 0, a folder's are numbered by their names)")
    parser.add_argument("--end", type=int, help="--video: last frame of the window (inclusive)")
    parser.add_argument("--out", metavar="FILE", help="write the predictions to FILE (.csv or "
                        ".json), one row per input, instead of printing them")
    add_model_argument(parser)
    parser.add_argument("--server", metavar="URL", help="ask the model served at URL (`mlflow "
                       "models serve`, e.g. http://127.0.0.1:5001) instead of loading one: "
                       "no model load per call, so about a second an answer")


def add_model_argument(parser: argparse.ArgumentParser) -> None:
    """--model: which registered model to load (`mer predict`, `mer spot`)."""
    parser.add_argument("--model", help="a model logged by `mer register`: models:/NAME@ALIAS, "
                        "models:/NAME/VERSION, runs:/RUN_ID/model or its MLflow model folder "
                        f"(default: models:/<tracking.model_name>@{CHAMPION})")


def chosen_model(model: str | None, args: argparse.Namespace) -> str:
    """The model to load: --model, else the champion of the params file's
    tracking.model_name (read only then: --model works outside a project). ParamsError
    naming --model when there is no params file (a break-it session: away from the project
    the error named only the missing params.yaml)."""
    from mer.config import tracking_of

    if model:
        return model
    if not Path(args.params).exists():
        raise ParamsError(f"{args.params} not found: without --model, mer loads the champion "
                          "of the project's tracking.model_name; run it in the project folder, "
                          "or pass --model with a model URI or a model folder (no params "
                          "file needed)")
    return f"models:/{tracking_of(args).model_name}@{CHAMPION}"


@dataclass(frozen=True)
class Input:
    """One thing to classify: its name as the user gave it, and how to read its frames."""

    name: str
    read: Callable[[], FrameWindow]


def _check_options(args: argparse.Namespace) -> None:
    """Refuse options that do not apply to the chosen input instead of ignoring them."""
    from mer.atomic import check_table_target
    from mer.errors import MerError

    misplaced = {"--onset": (args.onset, "--clip"), "--offset": (args.offset, "--clip"),
                 "--start": (args.start, "--video"), "--end": (args.end, "--video")}
    for option, (value, owner) in misplaced.items():
        if value is not None and not getattr(args, owner.removeprefix("--")):
            raise MerError(f"{option} applies to {owner} only")
    if args.server and args.model:
        raise MerError("--server and --model both name a model: the server answers with the "
                       "model it serves; give one of them")
    if args.apex is not None and args.pair:
        raise MerError("--apex does not apply to --pair: the second image is the apex")
    frame_numbers = (args.onset, args.apex, args.offset)
    several = args.clips_from or (args.clip and len(args.clip) > 1)
    if several and any(n is not None for n in frame_numbers):
        raise MerError("--onset, --apex and --offset apply to one --clip: for several clips, "
                       "give each clip's frame numbers in a --clips-from CSV")
    if args.out is not None:
        check_table_target(args.out, shown="--out")  # before the work, not after it
        if args.clips_from and Path(args.out).resolve() == Path(args.clips_from).resolve():
            raise MerError(f"--out {args.out} is the --clips-from list itself, which the "
                           "predictions would replace; write them to another file")


def _frame_number(value: str | None, where: str, column: str) -> int | None:
    """A --clips-from cell's frame number, read as the data stage reads a coding sheet's
    (mer.data.cells.frame_number: '/' or -1 for an apex not coded); None for an empty cell
    (the first or last frame, an estimated apex)."""
    from mer.core.frames import NO_FRAME
    from mer.data.cells import frame_number

    if not (value or "").strip():
        return None
    number = frame_number(value, column, where, missing_ok=column == "apex")
    return None if number == NO_FRAME else number


def _at(where: str, read: Callable[[], FrameWindow]) -> FrameWindow:
    """``read()``, its MerError prefixed with ``where`` (the CSV line that listed the clip):
    a list may name one clip on several lines, with other frame numbers."""
    from mer.errors import MerError

    try:
        return read()
    except MerError as exc:
        raise MerError(f"{where}: {exc}") from None


def clips_from(csv_file: str | Path) -> list[Input]:
    """The clips a --clips-from CSV lists, in its order: a header row with a ``clip`` column
    (a folder of frames, relative to the CSV's folder unless absolute) and optional ``onset``,
    ``apex``, ``offset`` frame numbers (empty cells: the first and last frame, an estimated
    apex). A MerError names the file and line of anything else."""
    import csv
    import io

    from mer.core.frames import DiskNames
    from mer.data.cells import listed_path
    from mer.data.sheets import read_csv_text
    from mer.errors import MerError
    from mer.inference.sources import from_clip_folder

    csv_file = Path(csv_file)
    try:
        text = read_csv_text(csv_file)  # UTF-8, or UTF-16 / UTF-32 with a byte-order mark
    except OSError as exc:
        raise MerError(f"{csv_file}: cannot read the clip list ({exc})") from None
    reader = csv.DictReader(io.StringIO(text))
    written = [c.strip() for c in reader.fieldnames or []]
    # in any case, as a coding sheet's headers are read (Clip, Onset: a break-it session)
    columns = [c.casefold() for c in written]
    unknown = sorted(w for w, c in zip(written, columns, strict=True) if c not in CLIP_COLUMNS)
    if "clip" not in columns or unknown:
        separator = next((name for mark, name in ((";", "semicolons"), ("\t", "tabs"))
                          if len(written) == 1 and mark in written[0]), None)
        hint = (f"; its columns are separated by {separator}: save it again as CSV with "
                "commas" if separator else "")
        raise MerError(f"{csv_file}: its header must name a 'clip' column and optionally "
                       f"onset, apex, offset; it names {written} (unknown: {unknown or 'none'})"
                       f"{hint}")
    twice = sorted({c for c in columns if columns.count(c) > 1})
    if twice:  # csv.DictReader would keep the last of them without a word
        raise MerError(f"{csv_file}: its header names {', '.join(map(repr, twice))} more than "
                       "once; keep one column of each")
    reader.fieldnames = columns
    inputs = []
    disk = DiskNames()  # each folder listed once for the whole list
    for row in reader:
        line = reader.line_num  # the file's own line: blank lines are skipped, not counted
        where = f"{csv_file}, line {line}"
        if None in row:
            raise MerError(f"{where}: more cells than the header has columns")
        if not (row["clip"] or "").strip():
            raise MerError(f"{where}: the clip cell is empty")
        clip = listed_path(row["clip"], "clip", where)  # a Windows list's '\\' too
        folder = disk.find(Path(os.path.normpath(csv_file.parent / clip)))  # absolute stays
        onset, apex, offset = (_frame_number(row.get(c), where, c) for c in CLIP_COLUMNS[1:])
        inputs.append(Input(clip, lambda f=folder, n=(onset, apex, offset), w=where:
                            _at(w, lambda: from_clip_folder(f, *n))))
    if not inputs:
        raise MerError(f"{csv_file}: lists no clip (a header row, then one clip per line)")
    return inputs


def inputs_of(args: argparse.Namespace) -> list[Input]:
    """What the command line asks to classify, in order; frames are read only when used.
    Paths match names on disk in either Unicode normalisation (core.frames.on_disk: a path
    typed or pasted composed names a folder a Mac copied decomposed)."""
    from mer.core.frames import on_disk
    from mer.inference import sources

    if args.clips_from:
        return clips_from(on_disk(Path(args.clips_from)))
    if args.clip:
        return [Input(folder, lambda f=folder: sources.from_clip_folder(
            on_disk(Path(f)), args.onset, args.apex, args.offset)) for folder in args.clip]
    if args.pair:
        return [Input(" ".join(args.pair), lambda: sources.from_image_pair(
            *(on_disk(Path(image)) for image in args.pair)))]
    return [Input(args.video, lambda: sources.from_video(on_disk(Path(args.video)), args.start,
                                                         args.end, args.apex))]


def run(args: argparse.Namespace) -> None:
    _check_options(args)
    inputs = inputs_of(args)  # a malformed --clips-from list is refused before the model loads
    model, load = _model_of(args)
    if len(inputs) == 1 and not args.out and not args.clips_from:  # its JSON, or its error
        window = inputs[0].read()  # a damaged frame is the error, before the model loads
        classify, version, _ = load()
        prediction = _warned(inputs[0].name, classify(window))
        row = prediction_row(inputs[0].name, prediction,
                             {"model": model, "model_version": version})
        json.dump(in_order(row, probabilities_of(row)), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    classify, version, classes = load()
    predict_many(classify, inputs, model, version, args.out, classes)


def _model_of(args: argparse.Namespace
              ) -> tuple[str, Callable[[], tuple[Classify, str | None, tuple[str, ...]]]]:
    """The model's name as the output shows it, and what loads it, the URI of the version
    it loaded (models:/name/8 for models:/name@champion; mer.tracking.registry.
    load_pinned_bundle) and its classes: the served model at --server (nothing to load: a
    request per input; its version is the server's, unknown here: None, and its classes
    known from its first answer: ()), else the registered model chosen_model names, loaded
    in this process."""
    if args.server:
        from mer.inference.client import ServedModel

        served = ServedModel(args.server)  # a malformed URL is refused before any frame is read
        return args.server, lambda: (served.predict, None, ())
    from functools import partial

    from mer.inference.predictor import predict_window
    from mer.tracking.registry import load_pinned_bundle

    model = chosen_model(args.model, args)

    def load() -> tuple[Classify, str | None, tuple[str, ...]]:
        bundle, version = load_pinned_bundle(model)
        return partial(predict_window, bundle), version, bundle.classes

    return model, load


def _warned(name: str, prediction: Prediction) -> Prediction:
    """``prediction``, after a warning when no AU region of input ``name`` moved between its
    onset and apex: its label is then the model's guess on a still face."""
    if prediction.no_motion:
        from mer.inference.predictor import MOTION_FLOOR_PX

        log.warning("%s: no facial motion between the onset and the apex (every AU region "
                    "moved less than %g px: the same image twice, or identical frames), so its "
                    "label means nothing; give frames that span the expression", name,
                    MOTION_FLOOR_PX)
    return prediction


# A prediction's fields, printed or written, in this order (prob_<class> after the label);
# the served model answers the same columns but those the caller knows: input, apex_frame
# (its numbering), source, model, model_version. One shape everywhere: a break-it session
# found the printed JSON nesting the probabilities that every table gives as prob_<class>.
ROW_FIELDS = ("input", "label", "apex_frame", "apex_index", "apex_estimated", "moving_regions",
              "no_motion", "source", "model", "model_version", "error")


def prediction_row(name: str, prediction: Prediction | None, names: dict[str, str | None],
                   error: str | None = None) -> dict[str, Any]:
    """Input ``name``'s fields: its ``prediction`` (None when it failed with ``error``) with the
    model ``names`` (model, model_version); in_order gives them their order."""
    answer = ({} if prediction is None else {
        **prediction.as_row(), "apex_frame": prediction.apex_frame,
        "source": prediction.source})
    return {"input": name, **answer, **names, "error": error}


def probabilities_of(row: dict[str, Any]) -> dict[str, None]:
    """``row``'s prob_<class> fields, in the model's order (a row that failed has none)."""
    from mer.inference.predictor import PROBABILITY

    return dict.fromkeys(k for k in row if k.startswith(PROBABILITY))


def table_fields(probabilities: dict[str, None]) -> list[str]:
    """ROW_FIELDS with the ``probabilities`` fields (probabilities_of) after the label."""
    return [*ROW_FIELDS[:2], *probabilities, *ROW_FIELDS[2:]]


def in_order(row: dict[str, Any], probabilities: dict[str, None]) -> dict[str, Any]:
    """``row`` with every field of table_fields(``probabilities``), in that order, null where it
    has none."""
    return {field: row.get(field) for field in table_fields(probabilities)}


def predict_many(classify: Classify, inputs: list[Input], model: str, version: str | None,
                 out: str | None, classes: tuple[str, ...] = ()) -> None:
    """Classify every input with ``classify`` (one loaded model, or the served one; ``model``
    as the user named it, ``version`` what it pinned to, ``classes`` the model's, when known
    before its first answer): a JSON line each on stdout as it is done, or, with ``out``, one
    table row each written at the end, every one with a prob_<class> field per class. An
    input mer cannot classify (a MerError) gets a row with its error; then a MerError counts
    them."""
    from mer.atomic import write_rows
    from mer.errors import MerError
    from mer.interrupts import stop_if_requested

    rows, failed = [], []
    from mer.inference.predictor import PROBABILITY

    # every class, in the model's order: the model's own, else those answered so far (h59: a
    # first input that failed had no prob_<class> fields, and a table of failures none)
    probabilities = dict.fromkeys(f"{PROBABILITY}{c}" for c in classes)
    names = {"model": model, "model_version": version}
    for item in inputs:
        stop_if_requested()  # between inputs: a Ctrl-C a library dropped (mer.interrupts)
        try:
            row = prediction_row(item.name, _warned(item.name, classify(item.read())), names)
        except MerError as exc:
            error = str(exc) if item.name in str(exc) else f"{item.name}: {exc}"
            failed.append(error)
            row = prediction_row(item.name, None, names, error)
        rows.append(row)
        probabilities |= probabilities_of(row)
        if out is None:
            # a failed input's line has every field, null, as its --out row (a served
            # model's class probabilities once an earlier input has named the classes)
            print(json.dumps(in_order(row, probabilities)), flush=True)
    if out is not None:
        write_rows(out, rows, table_fields(probabilities))
        log.info("%d of %d predictions written to %s", len(rows) - len(failed), len(rows), out)
    if failed:
        raise MerError(f"{len(failed)} of {len(inputs)} inputs could not be classified (their "
                       f"rows hold the error); the first: {failed[0]}")

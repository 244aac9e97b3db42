"""Label schemes: which emotions a scheme keeps, and the class each one maps to, per corpus.

A scheme maps a normalised emotion to a class. Where corpora name the same feeling
differently or the field's protocol treats them differently, the mapping is per corpus:
MEGC2019's composite (See et al., MEGC2019; the three-class protocol of Liong et al.'s
STSTNet and the papers after it) keeps disgust and repression as negative on CASME II but
drops its fear and sadness, while on SAMM anger, contempt, disgust, fear and sadness are all
negative. Corpus names: casme2, samm, smic; the embedded synthetic set is in CASME II's format
and uses CASME II's mapping.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

CASME2, SAMM, SMIC = "casme2", "samm", "smic"
SYNTHETIC = "synthetic"  # the embedded set: CASME II's format and mapping, its own name
# The dataset names mer writes, by every spelling of them it knows (dataset columns of
# flow-image CSVs), compared by their letters and digits, lower-case (name_key); which other
# characters a spelling may hold, dataset_name says.
DATASET_NAMES = {
    "casme2": CASME2, "casmeii": CASME2,
    "samm": SAMM,
    "smic": SMIC, "smichs": SMIC,
    "synthetic": SYNTHETIC,
}
# The corpus whose label mapping each dataset name takes.
CORPUS_OF_NAME = {CASME2: CASME2, SAMM: SAMM, SMIC: SMIC, SYNTHETIC: CASME2}
# The field's corpora, lower-case, as their names are written without punctuation: those mer
# reads (DATASET_NAMES) and others a list may hold (CASME I, CAS(ME)^2 as 'casme_sq' (its
# own punctuation-free name is CASME II's), CAS(ME)^3, SAMM long videos,
# SMIC's parts, MMEW, 4DME, DFME, the MEGC2019 composite). A subject id that is one of them
# names no person (a break-it session: 'casme3' in a row of CASME I was read as its person 3).
# Of them, the collections of several corpora: rows a list names by one of them may be any of
# their corpora's people (mer.data.flow_image_corpus.one_spelling's advice).
COLLECTION_NAMES = frozenset({"megc2019"})
# Other names of those corpora mer does not read, as corpus_name writes them: CASME I is also
# written CASME and CASME1 (a break-it session: 'casmei_5' and 'casme1_5' were two people),
# SAMM-LV by its release's name, SAMM Long Videos, alone or after its own ('SAMM-LV (Long
# Videos)'; break-it sessions: a cell of it was another corpus, whose people were not SAMM's).
OTHER_CORPUS_SPELLINGS = {"casmei": "casme", "casme1": "casme",
                          **dict.fromkeys(("sammlongvideos", "sammlongvideo", "sammlvlongvideos",
                                           "sammlvlongvideo"), "sammlv")}
# The field's corpora, as above, each under every spelling mer knows.
FIELD_CORPUS_NAMES = frozenset({*DATASET_NAMES, "casme", "casmesq", "casme3", "sammlv",
                                "smicvis", "smicnir", "smice", "mmew", "4dme", "dfme",
                                *OTHER_CORPUS_SPELLINGS, *COLLECTION_NAMES})
# Corpora that filmed another corpus's people and number them as it does, as corpus_name
# writes them: SAMM-LV holds the long videos SAMM's clips were cut from (Yap et al., 2020; its
# subject 006 and video 006_1 are SAMM's), so an id of either is one person, one LOSO subject
# (a break-it session: 'SAMMLV006' and 'SAMM006' were two). SMIC's VIS, NIR and E parts are
# not listed: whether their numbers are SMIC-HS's people is not documented (PEOPLE_AMONG).
PEOPLE_OF = {"sammlv": SAMM}
# Corpora that filmed another corpus's people under numbers not documented to be its, by the
# start of their names: SMIC's VIS and NIR cameras filmed the sessions of the last eight of
# SMIC-HS's sixteen people beside its high-speed camera, and SMIC-E (released as SMIC-E-HS,
# -VIS and -NIR) holds longer cuts of SMIC's recordings (Li et al., "A spontaneous
# micro-expression database: inducement, collection and baseline", FG 2013). A person of one
# may be a person of another under another id, so no two of them are pooled in one LOSO run
# or split between a fold's training and test corpora (an audit session: smic_s1 and
# smicvis_s1 were two LOSO subjects, and a fold trained on SMIC-HS tested SMIC-VIS, the same
# people; a re-check: 'SMIC-E-HS', written smicehs, was not caught by a list of names).
PEOPLE_AMONG = {"smic": SMIC}


# What spellings of one name may differ by: spaces, dashes and '_' or '.' between its parts
# (any Unicode space or dash: a list edited in a word processor has en dashes and no-break
# spaces), and a last part in brackets ('SMIC (HS)').
NAME_SEPARATORS = frozenset("_.")
_LAST_PART_IN_BRACKETS = re.compile(r"\s+\(([^()]*)\)$")


def name_key(dataset: str) -> str:
    """A dataset name as names are compared: 'CASME II' -> 'casmeii', 'SMIC-HS' -> 'smichs'.
    Every character but letters and digits goes, so 'CAS(ME)^2' -> 'casme2' too: dataset_name
    tells the spellings of a name apart from another name. Compatibility forms are read as
    the letters they stand for (NFKC: 'CASME Ⅱ' with the Roman numeral, full-width 'ＣＡＳＭＥ２';
    a break-it session: they were unknown corpora)."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", dataset).lower() if ch.isalnum())


def is_dash(ch: str) -> bool:
    """Whether a character is a dash: '-', any Unicode dash (the en dash a word processor
    writes for '-', the no-break hyphen) or the minus sign (U+2212)."""
    return unicodedata.category(ch) == "Pd" or ch == "\u2212"


def dataset_name(dataset: str) -> str | None:
    """The one spelling mer writes for a dataset name (casme2, samm, smic or synthetic), as
    corpora and CSVs write it ('CASME II', 'SMIC-HS', 'Samm'); None if unknown, and for a
    name with other punctuation than NAME_SEPARATORS allow: 'CAS(ME)^2' is another corpus than
    CASME II, though its letters and digits are the same."""
    text = _LAST_PART_IN_BRACKETS.sub(r" \1", unicodedata.normalize("NFKC", dataset).strip())
    if any(not (ch.isalnum() or ch.isspace() or ch in NAME_SEPARATORS
                or is_dash(ch)) for ch in text):
        return None
    return DATASET_NAMES.get(name_key(dataset))


def corpus_name(text: str) -> str:
    """The name a corpus goes by in mer, from any spelling of it: a known corpus in mer's
    spelling (dataset_name: 'CASME II' -> casme2), another kept as its letters and digits,
    lower-case (name_key: 'SMIC-VIS' -> smicvis, 'CAS(ME)^2' written casmesq), in one spelling
    where it has several (OTHER_CORPUS_SPELLINGS: 'CASME I' -> casme). One function for a
    flow-image CSV's dataset column and evaluation.train_corpora / test_corpora, so a corpus
    is named alike in both.

    ValueError for a text with no letter or digit, and for one that reads as a known corpus
    only without its punctuation ('CAS(ME)^2' is another corpus than CASME II: the two would be
    pooled as one, their subjects merged).
    """
    known = dataset_name(text)
    if known:
        return known
    name = name_key(text)
    if not name:
        raise ValueError(f"{text!r} is not a corpus name; write casme2, samm or smic (or the "
                         "corpus's name in letters and digits)")
    if name in DATASET_NAMES:
        raise ValueError(
            f"{text!r} is not a spelling of {DATASET_NAMES[name]} but would read as it without "
            f"its punctuation (two corpora would be pooled as one, their subjects merged); "
            f"write {DATASET_NAMES[name]} for {DATASET_NAMES[name]} clips, and another "
            "corpus's name in letters and digits only (CAS(ME)^2 as casmesq, say)")
    return OTHER_CORPUS_SPELLINGS.get(name, name)


def people_of(corpus: str) -> str:
    """The corpus whose people ``corpus`` (in corpus_name's spelling) filmed, under their
    numbers: SAMM's for SAMM-LV (PEOPLE_OF), else ``corpus`` itself. Subject ids are read,
    and LOSO subjects namespaced, by it."""
    return PEOPLE_OF.get(corpus, corpus)


def people_apart(corpora: Iterable[str]) -> str | None:
    """Why ``corpora`` (corpus_name's spellings) cannot be evaluated together, None when they
    can: two of them filmed the same people under numbers not documented to match
    (PEOPLE_AMONG: SMIC-HS and SMIC-VIS), so one person could be two LOSO subjects, or be in
    a cross-corpus fold's training and test clips. The text names the two corpora."""
    numbering: dict[str, str] = {}  # people filmed -> the first corpus numbering them
    for corpus in sorted(set(corpora)):
        people = next((filmed for start, filmed in PEOPLE_AMONG.items()
                       if corpus.startswith(start)), people_of(corpus))
        first = numbering.setdefault(people, corpus)
        if people_of(first) != people_of(corpus):
            return (f"corpora {first} and {corpus} filmed the same people (SMIC's VIS, NIR and "
                    "E parts are recordings of SMIC-HS's people: Li et al., FG 2013) under "
                    "numbers not documented to match, so one person could be two LOSO "
                    "subjects, or in a fold's training and test clips; keep them apart: under "
                    "LOSO one of them per run (per list, or per data.sources), cross-corpus "
                    "both on one side (both training or both test corpora)")
    return None


def corpus_of(dataset: str) -> str | None:
    """casme2, samm or smic for a dataset name as corpora and CSVs write it; None if unknown."""
    name = dataset_name(dataset)
    return CORPUS_OF_NAME[name] if name else None


@dataclass(frozen=True)
class LabelScheme:
    name: str
    classes: tuple[str, ...]  # class order = label_index order everywhere
    mapping: dict[str, str]  # normalised emotion -> class; emotions absent here are dropped
    # corpus -> its own mapping, replacing ``mapping`` for that corpus's clips
    per_corpus: dict[str, dict[str, str]] = field(default_factory=dict)
    # corpus -> the emotions its own mapping drops on purpose though ``mapping`` keeps them
    # (the published list has no such clip)
    left_out: dict[str, frozenset[str]] = field(default_factory=dict)

    def mapping_for(self, dataset: str) -> dict[str, str]:
        """The emotion -> class mapping used for the clips of ``dataset``."""
        corpus = corpus_of(dataset)
        return self.per_corpus.get(corpus, self.mapping) if corpus else self.mapping

    def label_of(self, emotion: str, dataset: str = "") -> str | None:
        """Class of a normalised emotion of ``dataset``, or None when the scheme drops it."""
        return self.mapping_for(dataset).get(emotion)

    def class_elsewhere(self, emotion: str, dataset: str) -> str | None:
        """The class ``mapping`` gives an emotion that ``dataset``'s own mapping drops and its
        protocol does not leave out (SMIC-HS rows written 'happiness', which SMIC writes
        'positive'): a row most likely named another corpus's way. None otherwise."""
        corpus = corpus_of(dataset)
        if corpus is None or emotion in self.left_out.get(corpus, ()) \
                or self.label_of(emotion, dataset) is not None:
            return None
        return self.mapping.get(emotion)

    def index_of(self, label: str) -> int:
        return self.classes.index(label)


def _identity(*names: str) -> dict[str, str]:
    return {name: name for name in names}


MEGC_CLASSES = ("negative", "positive", "surprise")
# A clip already labelled with a MEGC class (SMIC's folders, MEGC flow-image CSVs) keeps it.
_MEGC_AS_IS = _identity(*MEGC_CLASSES)

CASME2_5, MEGC_3, SEED_4 = "casme2-5", "megc-3", "seed-4"  # labels.scheme

SCHEMES: dict[str, LabelScheme] = {
    # CASME II's five-class protocol: fear (2) and sadness (7) are too rare and are dropped.
    CASME2_5: LabelScheme(
        CASME2_5,
        ("happiness", "disgust", "surprise", "repression", "others"),
        _identity("happiness", "disgust", "surprise", "repression", "others"),
    ),
    # MEGC2019 composite: CASME II 145 clips (negative 88, positive 32, surprise 25), SAMM 133
    # (92 / 26 / 15), SMIC-HS 164 (70 / 51 / 43). The mapping is per corpus. A corpus mer cannot
    # name (a flow-image CSV without a dataset column) gets the broad one: every negative
    # emotion is negative.
    MEGC_3: LabelScheme(
        MEGC_3,
        MEGC_CLASSES,
        {**_MEGC_AS_IS, "happiness": "positive",
         **{e: "negative" for e in ("disgust", "repression", "anger", "contempt", "fear",
                                    "sadness")}},
        per_corpus={
            # fear, sadness and others are not in the composite's CASME II list.
            CASME2: {**_MEGC_AS_IS, "disgust": "negative", "repression": "negative",
                     "happiness": "positive"},
            # SAMM's 'other' is dropped.
            SAMM: {**_MEGC_AS_IS, "happiness": "positive",
                   **{e: "negative" for e in ("anger", "contempt", "disgust", "fear",
                                              "sadness")}},
            SMIC: dict(_MEGC_AS_IS),
        },
        left_out={CASME2: frozenset({"fear", "sadness"})},
    ),
    # The seed document's four classes.
    SEED_4: LabelScheme(
        SEED_4,
        ("happiness", "surprise", "disgust", "repression"),
        _identity("happiness", "surprise", "disgust", "repression"),
    ),
}

# Spellings found in the corpora's sheets -> one normalised emotion name.
EMOTION_ALIASES = {
    "happy": "happiness",
    "happiness": "happiness",
    "disgust": "disgust",
    "surprise": "surprise",
    "repression": "repression",
    "others": "others",
    "other": "others",
    "fear": "fear",
    "sadness": "sadness",
    "sad": "sadness",
    "anger": "anger",
    "angry": "anger",
    "contempt": "contempt",
    "negative": "negative",
    "positive": "positive",
}


def normalise_emotion(raw: object) -> str | None:
    """Lower-cased canonical emotion name, or None if the text is not an emotion we know."""
    text = str(raw).strip().lower()
    return EMOTION_ALIASES.get(text)


def get_scheme(name: str) -> LabelScheme:
    return SCHEMES[name]

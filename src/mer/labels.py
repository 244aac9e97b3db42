"""Label schemes: which emotions a scheme keeps, and the class each one maps to."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LabelScheme:
    name: str
    classes: tuple[str, ...]  # class order = label_index order everywhere
    mapping: dict[str, str]  # normalised emotion -> class; emotions absent here are dropped

    def label_of(self, emotion: str) -> str | None:
        """Class of a normalised emotion, or None when the scheme drops it."""
        return self.mapping.get(emotion)

    def index_of(self, label: str) -> int:
        return self.classes.index(label)


SCHEMES: dict[str, LabelScheme] = {
    # CASME II's five-class protocol: fear (2) and sadness (7) are too rare and are dropped.
    "casme2-5": LabelScheme(
        "casme2-5",
        ("happiness", "disgust", "surprise", "repression", "others"),
        {e: e for e in ("happiness", "disgust", "surprise", "repression", "others")},
    ),
    # MEGC2019 composite: every negative emotion of every corpus becomes 'negative'.
    "megc-3": LabelScheme(
        "megc-3",
        ("negative", "positive", "surprise"),
        {
            **{e: "negative" for e in ("disgust", "repression", "anger", "contempt", "fear",
                                       "sadness", "negative")},
            "happiness": "positive",
            "positive": "positive",
            "surprise": "surprise",
        },
    ),
    # The seed document's four classes.
    "seed-4": LabelScheme(
        "seed-4",
        ("happiness", "surprise", "disgust", "repression"),
        {e: e for e in ("happiness", "surprise", "disgust", "repression")},
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

"""A detector of persuasion cues in business descriptions.

Scripted agents are immune to what a description says — unless their ``credulity`` is
positive, in which case the description's persuasion score (0 to 1) raises their valuation of
that business's offers. This lets the manipulation studies run without an LLM; with LLM agents
the score is simply not used. The cues are the four families the Magentic Marketplace study
injects: authority claims, social proof, loss aversion and prompt injection.
"""

from __future__ import annotations

import re

import numpy as np
from numpy.typing import NDArray

CUES: dict[str, tuple[str, ...]] = {
    "authority": (
        "award",
        "certified",
        "accredited",
        "featured in",
        "michelin",
        "endorsed",
        "official",
        "recognized by",
        "licensed by",
        "guide",
    ),
    "social_proof": (
        "satisfied customers",
        "reviews",
        "five-star",
        "5-star",
        "#1",
        "top rated",
        "trusted by",
        "testimonial",
        "thousands of",
        "most popular",
        "best in town",
    ),
    "loss_aversion": (
        "limited time",
        "last chance",
        "don't miss",
        "do not miss",
        "hurry",
        "act now",
        "today only",
        "hidden fees",
        "before it's too late",
        "only a few",
        "exclusive offer",
        "warning",
    ),
    "prompt_injection": (
        "ignore",
        "instruction",
        "system",
        "override",
        "ai agent",
        "assistant",
        "mandatory",
        "do not contact",
        "end of business description",
        "protocol",
        "must choose",
    ),
}

_PATTERNS = {
    family: re.compile("|".join(re.escape(c) for c in cues), re.IGNORECASE)
    for family, cues in CUES.items()
}

SATURATION = 6
"""Number of cue hits at which the score reaches 1."""


def cue_counts(description: str) -> dict[str, int]:
    """Number of cue occurrences of each family in ``description``."""
    return {family: len(p.findall(description)) for family, p in _PATTERNS.items()}


_ANY_CUE = re.compile(
    "|".join(re.escape(c) for cues in CUES.values() for c in sorted(cues, key=len, reverse=True)),
    re.IGNORECASE,
)


def persuasion_score(description: str) -> float:
    """Persuasion score in [0, 1]: cue hits over :data:`SATURATION`, capped at 1.

    Hits are the non-overlapping matches of any cue, scanning left to right.
    """
    return min(1.0, len(_ANY_CUE.findall(description)) / SATURATION)


def persuasion_scores(descriptions: list[str]) -> NDArray[np.float64]:
    """Scores of many descriptions."""
    return np.asarray([persuasion_score(d) for d in descriptions], dtype=np.float64)

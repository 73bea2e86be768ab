"""Full-text search over catalog metadata: a pure-Python BM25F index, Chinese and English.

Owns tokenising metadata text and ranking documents (datasets, in practice) against a query. It
must not read the metadata store or know what a dataset is: callers build ``SearchDocument``s
(``catalog.discovery`` does) and rebuild the index when the catalog changes, which takes
milliseconds for a few thousand datasets. No external service, no dictionary.

Tokens: Chinese has no spaces, so each run of CJK characters becomes its overlapping character
bigrams (a run of one character stays a unigram); Latin text is split at non-letters, snake_case,
camelCase and letter/digit boundaries, lower-cased, and English plurals are stemmed ("records" →
"record", "companies" → "company"). A one-character Chinese query also matches every indexed
bigram that contains that character, at half weight.

Ranking: BM25F. Each field's term frequency is normalised by that field's length against its
average, weighted (by default name and title 3, columns 1.5, description 1, other fields 1),
summed, then saturated once per term with ``k1``; terms are weighted by their inverse document
frequency. A document matching more query terms therefore outranks one repeating a single term.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from countyos.errors import InvalidInputError, TooLargeError

DEFAULT_FIELD_WEIGHTS: Mapping[str, float] = {
    "name": 3.0, "title": 3.0, "keywords": 2.0, "columns": 1.5, "description": 1.0,
}
OTHER_FIELD_WEIGHT = 1.0
MAX_QUERY_CHARS = 1000
K1 = 1.2
B = 0.75
SINGLE_CHAR_WEIGHT = 0.5

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef"
_RUN_RE = re.compile(f"([{_CJK}]+)|([A-Za-z0-9]+)")
_LATIN_PART_RE = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_STOP_WORDS = frozenset(
    "a an and are as at be by for from in is it of on or per the to with".split()
)


@dataclass(frozen=True)
class SearchDocument:
    """One searchable thing.

    Attributes:
        key: Unique key returned by searches, e.g. the dataset name.
        fields: Field name to text, e.g. ``{"name", "title", "description", "columns"}``;
            ``None`` texts count as empty.
    """

    key: str
    fields: Mapping[str, str] = field(default_factory=dict)


def _stem(word: str) -> str:
    """Strip an English plural ending; leaves short words and -ss/-us/-is words alone."""
    if len(word) <= 3 or not word.endswith("s"):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "ches", "shes", "zes")):
        return word[:-2]
    if word.endswith(("ss", "us", "is")):
        return word
    return word[:-1]


@lru_cache(maxsize=65536)
def _run_tokens(cjk: str, latin: str) -> tuple[str, ...]:
    """Tokens of one CJK or Latin run; cached, since metadata repeats the same words."""
    if cjk:
        if len(cjk) == 1:
            return (cjk,)
        return tuple(cjk[i:i + 2] for i in range(len(cjk) - 1))
    words = (part.lower() for part in _LATIN_PART_RE.findall(latin))
    return tuple(w if w.isdigit() else _stem(w) for w in words if w not in _STOP_WORDS)


def tokenize(text: str) -> list[str]:
    """Split text into search tokens: CJK bigrams (unigram for a lone character), Latin words.

    Args:
        text: Any text, Chinese, English or mixed; full-width forms are folded first.

    Returns:
        Tokens in text order, with repetitions. Latin words are lower-cased and
        plural-stemmed; common English stop words are dropped.
    """
    if not text:
        return []
    tokens: list[str] = []
    for cjk, latin in _RUN_RE.findall(unicodedata.normalize("NFKC", text)):
        tokens.extend(_run_tokens(cjk, latin))
    return tokens


def _is_cjk_char(token: str) -> bool:
    return len(token) == 1 and _RUN_RE.fullmatch(token) is not None and not token.isascii()


class SearchIndex:
    """An immutable BM25F index over ``SearchDocument``s; rebuild it when documents change."""

    def __init__(
        self,
        documents: Iterable[SearchDocument],
        *,
        field_weights: Mapping[str, float] | None = None,
    ) -> None:
        """Build the index.

        Args:
            documents: The documents; keys must be unique.
            field_weights: Field name to weight (> 0 to count, 0 to ignore the field);
                defaults to ``DEFAULT_FIELD_WEIGHTS``, other fields weigh ``OTHER_FIELD_WEIGHT``.

        Raises:
            InvalidInputError: A duplicate or empty key, a non-text field, or a negative or
                non-finite weight.
        """
        weights = dict(DEFAULT_FIELD_WEIGHTS if field_weights is None else field_weights)
        for name, weight in weights.items():
            if not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight < 0:
                raise InvalidInputError(f"field weight of {name!r} must be a finite number >= 0")
        self._weights = weights
        self._keys: list[str] = []
        self._key_set: set[str] = set()
        field_tokens: list[dict[str, Counter[str]]] = []
        lengths: defaultdict[str, int] = defaultdict(int)
        for document in documents:
            if not isinstance(document.key, str) or not document.key:
                raise InvalidInputError("a search document needs a non-empty string key")
            if document.key in self._key_set:
                raise InvalidInputError(f"search document key {document.key!r} is not unique")
            self._key_set.add(document.key)
            counted: dict[str, Counter[str]] = {}
            for name, text in document.fields.items():
                if text is None:
                    continue
                if not isinstance(text, str):
                    raise InvalidInputError(f"field {name!r} of {document.key!r} must be text")
                if self._weight(name) > 0:
                    counted[name] = Counter(tokenize(text))
                    lengths[name] += sum(counted[name].values())
            self._keys.append(document.key)
            field_tokens.append(counted)
        count = len(self._keys)
        average = {name: total / count for name, total in lengths.items()} if count else {}
        # term -> [(document index, BM25F pseudo term frequency)]
        postings: dict[str, list[tuple[int, float]]] = {}
        for index, counted in enumerate(field_tokens):
            pseudo: dict[str, float] = {}
            for name, counts in counted.items():
                mean = average.get(name)
                norm = 1 - B + B * sum(counts.values()) / mean if mean else 1.0
                factor = self._weight(name) / norm
                for term, tf in counts.items():
                    pseudo[term] = pseudo.get(term, 0.0) + factor * tf
            for term, value in pseudo.items():
                hits = postings.get(term)
                if hits is None:
                    postings[term] = [(index, value)]
                else:
                    hits.append((index, value))
        self._postings = postings
        self._idf = {
            term: math.log(1 + (count - len(hits) + 0.5) / (len(hits) + 0.5))
            for term, hits in self._postings.items()
        }
        self._bigrams_by_char: defaultdict[str, list[str]] = defaultdict(list)
        for term in self._postings:
            if len(term) == 2 and not term.isascii():
                for char in set(term):
                    self._bigrams_by_char[char].append(term)

    def _weight(self, field_name: str) -> float:
        return float(self._weights.get(field_name, OTHER_FIELD_WEIGHT))

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: object) -> bool:
        return key in self._key_set

    def _query_terms(self, query: str) -> dict[str, float]:
        """Query terms with their weights; a lone CJK character expands to its bigrams."""
        terms: dict[str, float] = {}
        for token in tokenize(query):
            if token in self._postings:
                terms[token] = 1.0
            if _is_cjk_char(token):
                for bigram in self._bigrams_by_char.get(token, ()):
                    terms.setdefault(bigram, SINGLE_CHAR_WEIGHT)
        return terms

    def search(self, query: str, *, limit: int = 20) -> list[tuple[str, float]]:
        """Documents matching any query term, best first.

        Args:
            query: Chinese, English or mixed words; blank gives ``[]``.
            limit: Most results to return (>= 1).

        Returns:
            ``(key, score)`` pairs, highest score first, ties by key; ``[]`` if nothing matches.

        Raises:
            InvalidInputError: ``limit`` below 1 or a query that is not text.
            TooLargeError: A query longer than ``MAX_QUERY_CHARS``.
        """
        if not isinstance(query, str):
            raise InvalidInputError("a search query must be text")
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InvalidInputError("search limit must be a whole number of at least 1")
        if len(query) > MAX_QUERY_CHARS:
            raise TooLargeError(f"search query is longer than {MAX_QUERY_CHARS} characters")
        scores: defaultdict[int, float] = defaultdict(float)
        for term, query_weight in self._query_terms(query).items():
            idf = self._idf[term]
            for index, pseudo_tf in self._postings[term]:
                scores[index] += query_weight * idf * pseudo_tf * (K1 + 1) / (K1 + pseudo_tf)
        ranked = sorted(
            ((self._keys[index], score) for index, score in scores.items() if score > 0),
            key=lambda item: (-item[1], item[0]),
        )
        return ranked[:limit]

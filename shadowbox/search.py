"""Search: user text and filters in, playable hits out.

Parsing (user text to a query tree) lives in ``query``; rendering the tree for FTS5 and
running it lives in the store. This module joins them, merges inline filters with flags,
and checks objection ids against the taxonomy in force.
"""

from __future__ import annotations

from collections.abc import Sequence

from .errors import NotFoundError
from .library import Library
from .models import Hit
from .objections import Taxonomy
from .query import Query, Term, parse, to_fts5

# One or two typed characters match a huge share of the library; bm25 over all of it is
# slow, so those show newest first.
NEWEST_FIRST_BELOW = 3

# Words that occur in almost every segment: requiring them costs a merge of enormous index
# lists (150 ms on a million segments) and narrows nothing, so beside other words they are
# left out. Alone, or inside a "quoted phrase", they are still searched.
STOPWORDS = frozenset(
    {
        "a", "an", "and", "are", "as", "at", "be", "but", "by", "do", "for", "from", "had", "has",
        "have", "he", "her", "his", "i", "if", "in", "is", "it", "its", "me", "my", "no", "not",
        "of", "on", "or", "our", "she", "so", "that", "the", "their", "them", "then", "there",
        "they", "this", "to", "us", "was", "we", "were", "what", "when", "which", "who", "will",
        "with", "would", "you", "your"
    }
)


def _essential(query: Query) -> Query:
    """Drop stopwords and one- or two-letter prefixes that sit beside more telling words."""

    def weak(term: Term) -> bool:
        if term.negated or term.phrase:
            return False
        if term.prefix:
            return len(term.text) < NEWEST_FIRST_BELOW
        return term.text in STOPWORDS

    strong = [t for t in query.terms if not t.negated and not weak(t)]
    if not strong:
        return query
    return Query(terms=tuple(t for t in query.terms if not weak(t)), filters=query.filters)


def search(
    library: Library,
    taxonomy: Taxonomy,
    text: str = "",
    *,
    objections: Sequence[str] = (),
    reps: Sequence[str] = (),
    tags: Sequence[str] = (),
    limit: int = 20,
    typing: bool = False,
) -> list[Hit]:
    """Find talk-track moments by words and filters.

    Args:
        library: the open library.
        taxonomy: the objection taxonomy; unknown objection ids are refused with the list.
        text: what the user typed; may hold inline filters (``objection:price rep:dana``).
        objections: objection ids from flags (any of them).
        reps: rep names from flags (any of them).
        tags: custom tags from flags (any of them).
        limit: the most hits to return.
        typing: treat the last word as a prefix (search-as-you-type).
    """
    query = _essential(parse(text or "", typing=typing))
    filters = query.filters
    wanted_objections = [*objections, *filters.get("objection", ())]
    wanted_reps = [*reps, *filters.get("rep", ())]
    wanted_tags = [*tags, *filters.get("tag", ())]
    wanted_collections = library.collection_ids(filters.get("in", ()))
    known = taxonomy.ids()
    checked: list[str] = []
    for value in wanted_objections:
        norm = value.strip().lower()
        if norm not in known:
            raise NotFoundError(
                f"Unknown objection {value!r}: known objections are {', '.join(known)}"
            )
        checked.append(norm)
    match = to_fts5(query, column="text")
    if match is None and not (checked or wanted_reps or wanted_tags or wanted_collections):
        return []
    return library.search(
        match,
        objections=checked,
        reps=wanted_reps,
        tags=[t.lower() for t in wanted_tags],
        newest_first=0 < query.typed_chars() < NEWEST_FIRST_BELOW,
        limit=limit,
        collections=wanted_collections,
    )

"""Search text as a user types it, parsed into a backend-neutral query tree and rendered for FTS5.

User text never reaches a search engine raw: ``budget AND``, ``c++`` and ``don't`` are syntax
errors in an FTS5 MATCH expression. :func:`parse` turns any text into a :class:`Query` (words,
phrases, prefixes, exclusions and inline filters such as ``rep:"Dana Lee"``) and knows nothing
about a database; :func:`to_fts5` renders that tree for SQLite FTS5, and a PostgreSQL renderer
can be written beside it from the same tree.

Words are split the way FTS5's unicode61 tokenizer splits them (letters, digits and private-use
characters form words; anything else separates), so every rendered term holds a token SQLite
would index, and every term is double-quoted, so nothing the user types is read as FTS5 syntax.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = [
    "FILTER_KEYS",
    "MAX_FILTER_VALUES",
    "MAX_QUERY_CHARS",
    "MAX_TERMS",
    "MAX_TERM_WORDS",
    "Query",
    "Term",
    "parse",
    "to_fts5",
]

FILTER_KEYS = ("objection", "rep", "tag", "in")
"""Inline filter keys (``objection:price rep:dana tag:gold in:onboarding``), in any case."""

MAX_QUERY_CHARS = 4096
"""Text past this many characters is ignored, so a pasted transcript cannot stall a keystroke."""

MAX_TERMS = 64
"""At most this many terms (positive and negated) are kept; later ones are dropped."""

MAX_TERM_WORDS = 32
"""A phrase keeps at most this many words; a longer one is cut (it then matches a little more)."""

MAX_FILTER_VALUES = 64
"""At most this many inline filter values are kept, over all keys."""

# A character that starts or continues a word: what unicode61 (as built into SQLite 3.40,
# whose tables predate recent Unicode versions) treats as a token character among Python's
# letters and numbers, plus private-use characters. U+19B0-19C0, U+19C8-19C9 and U+1CF2-1CF3
# became letters in later Unicode versions but are separators to SQLite; a word made only of
# them would render as an empty phrase, and an empty phrase makes an FTS5 AND match nothing.
_BASE = (
    r"[^\W_\u19b0-\u19c0\u19c8\u19c9\u1cf2\u1cf3]"
    r"|[\ue000-\uf8ff\U000f0000-\U000ffffd\U00100000-\U0010fffd]"
)
# Combining diacritics inside a word keep NFD text (e + U+0301) one word, as unicode61 does
# with remove_diacritics; a word never starts with one, so it always has a base character.
_MARK = r"[\u0300-\u036f]"
_WORD_RE = re.compile(rf"(?:{_BASE})(?:{_BASE}|{_MARK})*")
_BASE_RE = re.compile(_BASE)
# Lone surrogates (argv bytes that were not UTF-8 arrive as U+DC80-DCFF) cannot be bound as
# SQL parameters; words never hold them, filter values drop them.
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
_WORD_END_RE = re.compile(rf"(?:{_BASE}|{_MARK})\Z")

# Capital letters that Python lowercases but SQLite's unicode61 does not fold (its case tables
# are older): lowering them would make the query miss text that contains them as written.
_NOT_FOLDED_RE = re.compile(
    "[\u037f\u0528\u052a\u052c\u052e\u13a0-\u13f5\u1c90-\u1cba\u1cbd-\u1cbf\u2c2f\ua698\ua69a"
    "\ua796\ua798\ua79a\ua79c\ua79e\ua7ab-\ua7ae\ua7b0-\ua7b4\ua7b6\ua7b8\ua7ba\ua7bc\ua7be"
    "\ua7c0\ua7c2\ua7c4-\ua7c7\ua7c9\ua7d0\ua7d6\ua7d8\ua7f5\U000104b0-\U000104d3"
    "\U00010570-\U0001057a\U0001057c-\U0001058a\U0001058c-\U00010592\U00010594-\U00010595"
    "\U00010c80-\U00010cb2\U000118a0-\U000118bf\U00016e40-\U00016e5f\U0001e900-\U0001e921]"
)

# One lexeme of user text: an optional run of dashes (negation), then a known filter with a
# bare or quoted value, a quoted phrase (the closing quote is optional: an unclosed quote runs
# to the end), or a bare chunk up to whitespace or a quote. Lone dashes fall back to a bare
# chunk with no words, which is dropped.
_FILTER_KEY_PATTERN = "|".join(re.escape(key) for key in sorted(FILTER_KEYS, key=len, reverse=True))
_LEXEME_RE = re.compile(
    rf"""
    (?P<neg>-+)?
    (?:
        (?P<key>(?i:{_FILTER_KEY_PATTERN})):(?:"(?P<qvalue>[^"]*)"?|(?P<value>[^\s"]*))
      | "(?P<phrase>[^"]*)(?P<closed>")?(?P<star>\*)?
      | (?P<word>[^\s"]+)
    )
    """,
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class Term:
    """One thing to look for: a word or a phrase, perhaps a prefix, perhaps excluded.

    ``text`` holds lowercased words separated by single spaces; each word is a run of letters,
    digits or private-use characters (combining accents may follow a letter), so no backend's
    syntax characters ever appear in it.
    """

    text: str
    """Normalised words; a phrase (or a word such as ``don't`` that splits) has several."""
    phrase: bool = False
    """The words must appear together, in order: the user quoted them or typed them joined."""
    prefix: bool = False
    """The last word matches as a prefix: the word being typed, or an explicit trailing ``*``."""
    negated: bool = False
    """Results must not contain this term (``-word``, ``-"a phrase"``)."""


def _no_filters() -> Mapping[str, tuple[str, ...]]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed search: terms that are ANDed together, and filters on the results.

    ``filters`` maps a key of :data:`FILTER_KEYS` to its values (several values of one key mean
    any of them). It is a read-only mapping; values keep the case the user typed and are meant
    to be compared case-insensitively. A plain dict may be passed in; it is copied.
    """

    terms: tuple[Term, ...] = ()
    filters: Mapping[str, tuple[str, ...]] = field(default_factory=_no_filters, hash=False)

    def __post_init__(self) -> None:
        frozen: dict[str, tuple[str, ...]] = {}
        for key, values in self.filters.items():
            name = key.lower()
            if name not in FILTER_KEYS:
                raise ValueError(f"unknown filter key {key!r}: expected one of {FILTER_KEYS}")
            kept = tuple(values)
            if kept:
                frozen[name] = frozen.get(name, ()) + kept
        object.__setattr__(self, "terms", tuple(self.terms))
        object.__setattr__(self, "filters", MappingProxyType(frozen))

    @property
    def positive_terms(self) -> tuple[Term, ...]:
        """The terms a result must contain."""
        return tuple(term for term in self.terms if not term.negated)

    @property
    def negated_terms(self) -> tuple[Term, ...]:
        """The terms a result must not contain."""
        return tuple(term for term in self.terms if term.negated)

    def is_empty(self) -> bool:
        """True when nothing positive is searched for, so no text match can be run.

        Exclusions alone cannot be matched (FTS5 needs something to exclude from): the caller
        then shows nothing, or the results of the filters alone.
        """
        return not any(
            not term.negated and _BASE_RE.search(term.text) is not None for term in self.terms
        )

    def typed_chars(self) -> int:
        """How many letters and digits the positive terms hold.

        Search ranks by bm25 normally, but a match on one or two characters is huge and slow to
        rank, so for 1 or 2 it lists newest first instead.
        """
        return sum(len(_BASE_RE.findall(term.text)) for term in self.terms if not term.negated)

    def with_filter(self, key: str, values: Iterable[str]) -> Query:
        """Return a copy with more values for one filter, e.g. from ``--rep`` on the command line.

        :param key: one of :data:`FILTER_KEYS`, in any case.
        :param values: values to add; blank ones are skipped, as are repeats (ignoring case).
        """
        name = key.lower()
        if name not in FILTER_KEYS:
            raise ValueError(f"unknown filter key {key!r}: expected one of {FILTER_KEYS}")
        merged = dict(self.filters)
        current = list(merged.get(name, ()))
        seen = {value.casefold() for value in current}
        for value in values:
            cleaned = " ".join(_SURROGATE_RE.sub("", value).split())
            if cleaned and cleaned.casefold() not in seen:
                seen.add(cleaned.casefold())
                current.append(cleaned)
        if current:
            merged[name] = tuple(current)
        return Query(self.terms, merged)


def _fold(word: str) -> str:
    """Lowercase ``word`` the way unicode61 folds it, leaving letters SQLite keeps as they are."""
    if word.isascii() or _NOT_FOLDED_RE.search(word) is None:
        return word.lower()
    return "".join(ch if _NOT_FOLDED_RE.match(ch) else ch.lower() for ch in word)


def _words(raw: str) -> list[str]:
    return [_fold(word) for word in _WORD_RE.findall(raw)]


def parse(text: str, *, typing: bool = False) -> Query:
    """Parse what a user typed into a search box or passed as a query on the command line.

    Never fails: any text gives a Query, possibly empty. Words are ANDed; ``"quoted phrases"``
    stay phrases (an unclosed quote runs to the end); ``-word`` and ``-"a phrase"`` exclude;
    ``word*`` is a prefix; ``objection:``, ``rep:``, ``tag:`` and ``in:`` (any case) with a bare
    or quoted value are filters. Everything else is plain words, FTS5 operators included:
    ``budget AND`` looks for "budget" and "and", ``c++`` for "c", ``http://x`` for the phrase
    "http x". A bare chunk that splits into several words (``don't``, ``e-mail``) becomes a
    phrase of them, which is how FTS5 itself reads the quoted chunk. Only the first
    :data:`MAX_QUERY_CHARS` characters and :data:`MAX_TERMS` terms count; repeats are dropped.

    :param text: the raw text, any Unicode, any length.
    :param typing: True while the user is still typing (search as you type): a last word or
        unclosed phrase that runs to the very end of the text, ending in a letter or digit,
        becomes a prefix so that ``pri`` already finds "price". Exclusions never do, so typing
        ``-p`` does not hide every word starting with p.
    """
    text = text[:MAX_QUERY_CHARS]
    end = len(text)
    terms: list[Term] = []
    seen_terms: set[Term] = set()
    filters: dict[str, list[str]] = {}
    seen_values: set[tuple[str, str]] = set()
    seen_lexemes: set[str] = set()  # a repeated chunk gives the same term: skip the work

    for match in _LEXEME_RE.finditer(text):
        negated = match.group("neg") is not None
        key = match.group("key")
        if key is not None and not negated:
            value = match.group("qvalue")
            value = match.group("value") if value is None else " ".join(value.split())
            if not value.isascii():
                value = _SURROGATE_RE.sub("", value)
            name = key.lower()
            folded = (name, value.casefold())
            if value and folded not in seen_values and len(seen_values) < MAX_FILTER_VALUES:
                seen_values.add(folded)
                filters.setdefault(name, []).append(value)
            continue
        lexeme = match.group(0)
        if len(terms) >= MAX_TERMS or (lexeme in seen_lexemes and match.end() != end):
            continue
        seen_lexemes.add(lexeme)

        phrase_text = match.group("phrase")
        if phrase_text is not None:
            words = _words(phrase_text)
            phrase = True
            # An unclosed quote runs to the end of the text: it is still being typed.
            open_ended = match.group("closed") is None
            prefix = match.group("star") is not None or (
                open_ended
                and (
                    phrase_text.endswith("*")
                    or (typing and not negated and _WORD_END_RE.search(phrase_text) is not None)
                )
            )
        else:
            # A bare chunk, or a negated filter, which is read as plain words.
            raw = lexeme.lstrip("-")
            words = _words(raw)
            phrase = len(words) > 1
            prefix = raw.endswith("*") or (
                typing
                and not negated
                and match.end() == end
                and _WORD_END_RE.search(raw) is not None
            )
        if not words:
            continue
        if len(words) > MAX_TERM_WORDS:
            # The cut leaves a complete word last: it is no prefix.
            words, prefix = words[:MAX_TERM_WORDS], False
        term = Term(" ".join(words), phrase=phrase, prefix=prefix, negated=negated)
        if term not in seen_terms:
            seen_terms.add(term)
            terms.append(term)

    return Query(tuple(terms), {name: tuple(values) for name, values in filters.items()})


_COLUMN_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _fts5_string(term: Term) -> str:
    quoted = '"' + term.text.replace('"', '""') + '"'
    return quoted + "*" if term.prefix else quoted


def to_fts5(query: Query, *, column: str | None = None) -> str | None:
    """Render a query as an SQLite FTS5 MATCH expression, or None when it cannot be matched.

    The expression is meant for a table built with
    ``tokenize='porter unicode61 remove_diacritics 2'`` and ``prefix='1 2 3'``. Every term is
    a double-quoted FTS5 string (a ``"`` inside is doubled), so no user text is read as syntax;
    FTS5 splits the string into tokens itself. Terms are implicitly ANDed, a prefix is
    ``"pri"*`` and a phrase ``"too expensive"``; exclusions go last as ``NOT "price"``, since
    FTS5 needs a positive term before NOT: ``"budget" "tight" NOT "price"``.

    :param query: a parsed (or hand-built) query; its filters are not rendered here, the caller
        turns them into SQL conditions.
    :param column: when the table indexes more than one column, the one to search, e.g.
        ``"text"``: the expression becomes ``{text} : (...)``, so words (and exclusions) apply
        to that column alone, not to others such as objection ids or tags. None searches every
        indexed column, which is the same thing on a one-column table.
    :raises ValueError: if ``column`` is not a plain identifier (a program error, not a user's).
    :returns: the expression, or None when there is no positive term (an empty query, or only
        exclusions), in which case the caller shows nothing or the filters' results alone.
    """
    positive: list[str] = []
    negative: list[str] = []
    for term in query.terms:
        # A term without a single word character (only possible when built by hand) would be
        # an empty FTS5 phrase, which silently makes the whole match empty.
        if _BASE_RE.search(term.text) is None:
            continue
        (negative if term.negated else positive).append(_fts5_string(term))
    if not positive:
        return None
    expression = " ".join(positive)
    if negative:
        expression += " NOT " + " NOT ".join(negative)
    if column is None:
        return expression
    if _COLUMN_RE.fullmatch(column) is None:
        raise ValueError(f"column {column!r} is not a plain identifier")
    return f"{{{column}}} : ({expression})"

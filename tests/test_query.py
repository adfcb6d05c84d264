"""Tests for shadowbox.query: exact parse trees, exact FTS5 text, and real SQLite FTS5 matches."""

from __future__ import annotations

import sqlite3
import sys
import timeit
import unicodedata
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from shadowbox import query as query_module
from shadowbox.query import (
    FILTER_KEYS,
    MAX_QUERY_CHARS,
    MAX_TERM_WORDS,
    MAX_TERMS,
    Query,
    Term,
    parse,
    to_fts5,
)

TOKENIZE = "porter unicode61 remove_diacritics 2"
CREATE_TABLE = f"CREATE VIRTUAL TABLE t USING fts5(text, tokenize='{TOKENIZE}', prefix='1 2 3')"
MATCH = "SELECT rowid FROM t WHERE t MATCH ? ORDER BY rowid"

ROWS = {
    1: "The budget is tight this quarter.",
    2: "Honestly, it is too expensive for us.",
    3: "Price is the main objection; the budget is fine.",
    4: "I don't think we need it right now.",
    5: "We hired two C++ developers last year.",
    6: "Not now, maybe next year.",
    7: "Send the pricing by e-mail to http://x.example please.",
    8: "Café owners say the price is too high.",
    9: "Prices went up, and budgets went down.",
}


def T(text: str, *, phrase: bool = False, prefix: bool = False, negated: bool = False) -> Term:
    """Shorthand for an expected term."""
    return Term(text, phrase=phrase, prefix=prefix, negated=negated)


def make_db(rows: dict[int, str]) -> sqlite3.Connection:
    db = sqlite3.connect(":memory:")
    db.execute(CREATE_TABLE)
    db.executemany("INSERT INTO t(rowid, text) VALUES (?, ?)", rows.items())
    return db


@pytest.fixture(scope="module")
def db() -> Iterator[sqlite3.Connection]:
    connection = make_db(ROWS)
    yield connection
    connection.close()


def search(db: sqlite3.Connection, text: str, *, typing: bool = False) -> list[int] | None:
    """Rowids the parsed text matches, or None when there is nothing to match."""
    expression = to_fts5(parse(text, typing=typing))
    if expression is None:
        return None
    return [rowid for (rowid,) in db.execute(MATCH, (expression,))]


# --- parse: exact trees -------------------------------------------------------------------

PARSE_CASES: list[tuple[str, tuple[Term, ...], dict[str, tuple[str, ...]]]] = [
    ("budget", (T("budget"),), {}),
    ("budget tight", (T("budget"), T("tight")), {}),
    ("  Budget\tTIGHT \n", (T("budget"), T("tight")), {}),
    ("budget AND", (T("budget"), T("and")), {}),
    ("budget OR price", (T("budget"), T("or"), T("price")), {}),
    ("NOT", (T("not"),), {}),
    ("NEAR", (T("near"),), {}),
    ("NEAR(a b)", (T("near a", phrase=True), T("b")), {}),
    ("c++", (T("c"),), {}),
    ("don't", (T("don t", phrase=True),), {}),
    ("e-mail", (T("e mail", phrase=True),), {}),
    ("{budget} ^price +tight (cost)", (T("budget"), T("price"), T("tight"), T("cost")), {}),
    ('"too expensive"', (T("too expensive", phrase=True),), {}),
    ('"Too   Expensive" budget', (T("too expensive", phrase=True), T("budget")), {}),
    ('"too expensive', (T("too expensive", phrase=True),), {}),
    ('budget "too expensive', (T("budget"), T("too expensive", phrase=True)), {}),
    ('say"hi there"now', (T("say"), T("hi there", phrase=True), T("now")), {}),
    ('"price"', (T("price", phrase=True),), {}),
    ("-price budget", (T("price", negated=True), T("budget")), {}),
    ("--price", (T("price", negated=True),), {}),
    ('-"too expensive"', (T("too expensive", phrase=True, negated=True),), {}),
    ("- budget", (T("budget"),), {}),
    ("budget -", (T("budget"),), {}),
    ("a-b", (T("a b", phrase=True),), {}),
    ("pri*", (T("pri", prefix=True),), {}),
    ("pri**", (T("pri", prefix=True),), {}),
    ("pri*ce", (T("pri ce", phrase=True),), {}),
    ("*price", (T("price"),), {}),
    ('"too exp"*', (T("too exp", phrase=True, prefix=True),), {}),
    ('"too exp*', (T("too exp", phrase=True, prefix=True),), {}),
    ("-pri*", (T("pri", prefix=True, negated=True),), {}),
    ("a:b", (T("a b", phrase=True),), {}),
    ("foo:bar", (T("foo bar", phrase=True),), {}),
    ("http://x", (T("http x", phrase=True),), {}),
    ("intro:call", (T("intro call", phrase=True),), {}),
    ("objection:price budget", (T("budget"),), {"objection": ("price",)}),
    ("OBJECTION:Price", (), {"objection": ("Price",)}),
    ('rep:"Dana Lee" price', (T("price"),), {"rep": ("Dana Lee",)}),
    ('rep:"  Dana   Lee "', (), {"rep": ("Dana Lee",)}),
    ('rep:"Dana Lee', (), {"rep": ("Dana Lee",)}),
    ("rep:dana rep:Sam REP:DANA", (), {"rep": ("dana", "Sam")}),
    ("tag:gold in:onboarding", (), {"tag": ("gold",), "in": ("onboarding",)}),
    ('in:"price objections" budget', (T("budget"),), {"in": ("price objections",)}),
    ("rep:dana,sam", (), {"rep": ("dana,sam",)}),
    ("rep:", (), {}),
    ('rep:""', (), {}),
    ("rep: dana", (T("dana"),), {}),
    ("-rep:dana budget", (T("rep dana", phrase=True, negated=True), T("budget")), {}),
    ("budget budget BUDGET", (T("budget"),), {}),
    ("Café CAFÉ", (T("café"),), {}),
    ("😀", (), {}),
    ("😀 budget 🎉", (T("budget"),), {}),
    ("budget😀tight", (T("budget tight", phrase=True),), {}),
    ("価格 高い", (T("価格"), T("高い")), {}),
    ("ΟΔΟΣ", (T("οδος"),), {}),
    ("", (), {}),
    ("   ", (), {}),
    ("*", (), {}),
    ("**", (), {}),
    ("(", (), {}),
    (")", (), {}),
    ("()", (), {}),
    ('"', (), {}),
    ('""', (), {}),
    ('" "', (), {}),
    ("-", (), {}),
    ("--", (), {}),
    ("-*", (), {}),
    ('-""', (), {}),
    (":", (), {}),
    ("^", (), {}),
    ("+", (), {}),
    ("{}", (), {}),
    ("\x00\x1f\u200b\ufeff", (), {}),
]


@pytest.mark.parametrize(("text", "terms", "filters"), PARSE_CASES)
def test_parse_gives_exact_tree(
    text: str, terms: tuple[Term, ...], filters: dict[str, tuple[str, ...]]
) -> None:
    query = parse(text)
    assert query.terms == terms
    assert query.filters == filters


TYPING_CASES: list[tuple[str, tuple[Term, ...]]] = [
    ("p", (T("p", prefix=True),)),
    ("pri", (T("pri", prefix=True),)),
    ("budget pri", (T("budget"), T("pri", prefix=True))),
    ("pri ", (T("pri"),)),
    ("budget,", (T("budget"),)),
    ("c++", (T("c"),)),
    ("don'", (T("don"),)),
    ("don't", (T("don t", phrase=True, prefix=True),)),
    ("café", (T("café", prefix=True),)),
    ("budget AND", (T("budget"), T("and", prefix=True))),
    ('"too exp', (T("too exp", phrase=True, prefix=True),)),
    ('"too exp ', (T("too exp", phrase=True),)),
    ('"too exp"', (T("too exp", phrase=True),)),
    ("-pri", (T("pri", negated=True),)),
    ("budget -pri", (T("budget"), T("pri", negated=True))),
    ('-"too exp', (T("too exp", phrase=True, negated=True),)),
    ("objection:pri", ()),
    ("rep:dana budg", (T("budg", prefix=True),)),
    ("budg rep:dana", (T("budg"),)),
    ("budget budget", (T("budget"), T("budget", prefix=True))),
]


@pytest.mark.parametrize(("text", "terms"), TYPING_CASES)
def test_typing_makes_only_the_word_being_typed_a_prefix(
    text: str, terms: tuple[Term, ...]
) -> None:
    assert parse(text, typing=True).terms == terms


def test_without_typing_no_word_is_a_prefix() -> None:
    assert parse("budget pri").terms == (T("budget"), T("pri"))


# --- to_fts5: exact expressions -----------------------------------------------------------

FTS5_CASES: list[tuple[str, bool, str | None]] = [
    ("budget", False, '"budget"'),
    ("budget tight", False, '"budget" "tight"'),
    ("budget AND", False, '"budget" "and"'),
    ("NOT", False, '"not"'),
    ("c++", False, '"c"'),
    ("don't", False, '"don t"'),
    ('"too expensive"', False, '"too expensive"'),
    ('"too expensive', False, '"too expensive"'),
    ("pri", True, '"pri"*'),
    ("pri*", False, '"pri"*'),
    ('"too exp', True, '"too exp"*'),
    ("budget tight -price", False, '"budget" "tight" NOT "price"'),
    ("-price budget -cheap tight", False, '"budget" "tight" NOT "price" NOT "cheap"'),
    ('-"too expensive" budget', False, '"budget" NOT "too expensive"'),
    ("objection:price budget", False, '"budget"'),
    ('rep:"Dana Lee" price', False, '"price"'),
    ("a:b", False, '"a b"'),
    ("-price", False, None),
    ("-price -cheap", False, None),
    ("objection:price", False, None),
    ("*", False, None),
    ("(", False, None),
    (")", False, None),
    ('"', False, None),
    ("-", False, None),
    ("--", False, None),
    ("", False, None),
    ("😀", False, None),
]


@pytest.mark.parametrize(("text", "typing", "expected"), FTS5_CASES)
def test_to_fts5_gives_exact_expression(text: str, typing: bool, expected: str | None) -> None:
    assert to_fts5(parse(text, typing=typing)) == expected


def test_to_fts5_doubles_quotes_in_hand_built_terms(db: sqlite3.Connection) -> None:
    query = Query((Term('say "too" expensive', phrase=True),))
    expression = to_fts5(query)
    assert expression == '"say ""too"" expensive"'
    assert list(db.execute(MATCH, (expression,))) == []
    found = to_fts5(Query((Term('too" expensive', phrase=True),)))
    assert [rowid for (rowid,) in db.execute(MATCH, (found,))] == [2]


def test_to_fts5_skips_hand_built_terms_without_a_word(db: sqlite3.Connection) -> None:
    # An empty FTS5 phrase would make the whole AND match nothing.
    query = Query((Term("budget"), Term("😀"), Term(""), Term(" ", negated=True)))
    assert to_fts5(query) == '"budget"'
    assert to_fts5(Query((Term("☃"),))) is None
    assert Query((Term("☃"),)).is_empty()


def test_to_fts5_can_restrict_to_one_column() -> None:
    # The library's table also indexes objection ids and tags: words must match the text.
    db = sqlite3.connect(":memory:")
    db.execute(
        "CREATE VIRTUAL TABLE t USING fts5(text, objections, tags,"
        f" tokenize='{TOKENIZE}', prefix='1 2 3')"
    )
    db.executemany(
        "INSERT INTO t(rowid, text, objections, tags) VALUES (?, ?, ?, ?)",
        [
            (1, "the budget is tight", "price", "gold"),
            (2, "budget tight, price too high", "", ""),
            (3, "the price", "", ""),
            (4, "a gold budget", "", ""),
        ],
    )
    query = parse("budget -price", typing=True)
    expression = to_fts5(query, column="text")
    assert expression == '{text} : ("budget" NOT "price")'
    assert [rowid for (rowid,) in db.execute(MATCH, (expression,))] == [1, 4]
    assert [rowid for (rowid,) in db.execute(MATCH, (to_fts5(query),))] == [4]
    gold = to_fts5(parse("gold"), column="text")
    assert [rowid for (rowid,) in db.execute(MATCH, (gold,))] == [4]
    assert to_fts5(parse("-price"), column="text") is None
    assert to_fts5(parse("pri"), column="text") == '{text} : ("pri")'
    with pytest.raises(ValueError, match="not a plain identifier"):
        to_fts5(parse("budget"), column="text} : x")


# --- real FTS5 matches --------------------------------------------------------------------

SEARCH_CASES: list[tuple[str, bool, list[int] | None]] = [
    ("budget", False, [1, 3, 9]),
    ("BUDGET", False, [1, 3, 9]),
    ("budget tight", False, [1]),
    ("budget AND", False, [9]),
    ("budget OR price", False, []),
    ("NOT", False, [6]),
    ("not now", False, [6]),
    ("c++", False, [5]),
    ("C++ developers", False, [5]),
    ("don't", False, [4]),
    ("don't think", False, [4]),
    ("dont", False, []),
    ("e-mail", False, [7]),
    ("http://x", False, [7]),
    ('"too expensive"', False, [2]),
    ('"expensive too"', False, []),
    ('"too expensive', False, [2]),
    ("too high", False, [8]),
    ('"too high"', False, [8]),
    ("price", False, [3, 7, 8, 9]),
    ("price -budget", False, [7, 8]),
    ("price -budget -café", False, [7]),
    ('price -"too high"', False, [3, 7, 9]),
    ("pri", False, []),
    ("pri", True, [3, 7, 8, 9]),
    ("pri*", False, [3, 7, 8, 9]),
    ("budget pri", True, [3, 9]),
    ('"too exp', True, [2]),
    ("cafe", False, [8]),
    ("café", False, [8]),
    ("objection:price budget", False, [1, 3, 9]),
    ('rep:"Dana Lee" tight', False, [1]),
    ("-price", False, None),
    ("*", False, None),
    ("(", False, None),
    ('"', False, None),
    ("-", False, None),
]


@pytest.mark.parametrize(("text", "typing", "rowids"), SEARCH_CASES)
def test_search_finds_exactly(
    db: sqlite3.Connection, text: str, typing: bool, rowids: list[int] | None
) -> None:
    assert search(db, text, typing=typing) == rowids


# --- the Query object ---------------------------------------------------------------------


def test_is_empty_means_no_positive_term() -> None:
    assert parse("").is_empty()
    assert parse("-price").is_empty()
    assert parse("objection:price").is_empty()
    assert not parse("price").is_empty()
    assert not parse("-price budget").is_empty()


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("", 0),
        ("p", 1),
        ("pr", 2),
        ("pri", 3),
        ("a b", 2),
        ("-price a", 1),
        ("don't", 4),
        ("c++", 1),
        ('"to o"', 3),
        ("価格", 2),
        ("cafe\u0301", 4),
        ("rep:dana", 0),
    ],
)
def test_typed_chars_counts_letters_and_digits_of_positive_terms(text: str, count: int) -> None:
    assert parse(text, typing=True).typed_chars() == count


def test_query_is_frozen_and_hashable() -> None:
    query = parse('rep:"Dana Lee" budget')
    assert hash(query) == hash(parse('rep:"Dana Lee" budget'))
    assert query == parse('rep:"Dana Lee" budget')
    assert query != parse("rep:Sam budget")
    with pytest.raises(TypeError):
        query.filters["rep"] = ("Sam",)  # type: ignore[index]
    with pytest.raises(AttributeError):
        query.terms = ()  # type: ignore[misc]


def test_query_copies_a_plain_dict_of_filters() -> None:
    source = {"REP": ["Dana"], "tag": []}
    query = Query((), source)  # type: ignore[arg-type]
    source["REP"].append("Sam")
    assert query.filters == {"rep": ("Dana",)}
    assert Query().filters == {}
    assert Query().terms == ()


def test_query_rejects_an_unknown_filter_key() -> None:
    with pytest.raises(ValueError, match="unknown filter key 'speaker'"):
        Query((), {"speaker": ("Dana",)})
    with pytest.raises(ValueError, match="unknown filter key 'speaker'"):
        Query().with_filter("speaker", ["Dana"])


def test_with_filter_merges_command_line_flags() -> None:
    query = parse("rep:dana budget").with_filter("REP", ["Dana", " Sam  Lee ", "", "sam lee"])
    assert query.filters == {"rep": ("dana", "Sam Lee")}
    assert query.terms == (T("budget"),)
    assert query.with_filter("tag", []).filters == {"rep": ("dana", "Sam Lee")}
    assert Query().with_filter("in", ["Onboarding"]).filters == {"in": ("Onboarding",)}


def test_lone_surrogates_never_reach_sql(db: sqlite3.Connection) -> None:
    # Command-line bytes that are not UTF-8 arrive as lone surrogates (U+DC80-DCFF).
    query = parse("rep:\udcffdana \udcff budg\udcffet").with_filter("tag", ["\udcff", "go\udcffld"])
    assert query.terms == (T("budg et", phrase=True),)
    assert query.filters == {"rep": ("dana",), "tag": ("gold",)}
    db.execute("SELECT ?", (query.filters["rep"][0],)).fetchall()


def test_positive_and_negated_terms() -> None:
    query = parse("a -b c -d")
    assert query.positive_terms == (T("a"), T("c"))
    assert query.negated_terms == (T("b", negated=True), T("d", negated=True))


def test_filter_keys_are_the_documented_ones() -> None:
    assert FILTER_KEYS == ("objection", "rep", "tag", "in")


# --- limits -------------------------------------------------------------------------------


def test_ten_thousand_distinct_words_are_capped() -> None:
    text = " ".join(f"w{i}" for i in range(2000))[:10_000]
    query = parse(text, typing=True)
    assert len(query.terms) == MAX_TERMS
    assert query.terms[0] == T("w0")
    assert query.terms[-1] == T(f"w{MAX_TERMS - 1}")
    expression = to_fts5(query)
    assert expression is not None
    make_db(ROWS).execute(MATCH, (expression,)).fetchall()


def test_ten_thousand_char_word_phrase_and_noise(db: sqlite3.Connection) -> None:
    word = parse("x" * 10_000)
    assert word.terms == (T("x" * MAX_QUERY_CHARS),)
    phrase = parse('"' + "ab " * 3_333)
    assert phrase.terms == (T(" ".join(["ab"] * MAX_TERM_WORDS), phrase=True),)
    for text in (
        "x" * 10_000,
        '"' + "ab " * 3_333,
        "(" * 10_000,
        '"' * 10_000,
        "-" * 10_000,
        "😀" * 10_000,
        "budget AND " * 1_000,
        "rep:x " * 2_000,
        "é" * 10_000,
    ):
        for typing in (False, True):
            expression = to_fts5(parse(text, typing=typing))
            if expression is not None:
                db.execute(MATCH, (expression,)).fetchall()


def test_filters_after_the_term_cap_still_count() -> None:
    text = " ".join(f"w{i}" for i in range(100)) + " rep:dana"
    assert parse(text).filters == {"rep": ("dana",)}


def test_parse_and_render_are_fast() -> None:
    typical = [
        "p",
        "pri",
        "budget tight -price",
        'objection:price rep:"Dana Lee" "too expensive" budg',
        "we don't have the budget this quarter",
    ]

    def run() -> None:
        for text in typical:
            to_fts5(parse(text, typing=True))

    number = 200
    best = min(timeit.repeat(run, number=number, repeat=5)) / (number * len(typical))
    assert best < 50e-6, f"parse + to_fts5 took {best * 1e6:.1f} µs per query"


# --- agreement with SQLite's tokenizer ----------------------------------------------------


def _all_characters() -> Iterator[str]:
    return (chr(cp) for cp in range(sys.maxunicode + 1) if not 0xD800 <= cp <= 0xDFFF)


def test_every_word_character_is_a_token_to_sqlite() -> None:
    # If parse kept a character that unicode61 treats as a separator, a term made of it would
    # render as an empty FTS5 phrase, which makes a whole AND match nothing.
    chars = [ch for ch in _all_characters() if query_module._WORD_RE.fullmatch(ch)]
    db = make_db({1: " ".join(chars)})
    db.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")
    (count,) = db.execute("SELECT count(*) FROM v").fetchone()
    assert count == len(chars)


def test_lowercasing_agrees_with_sqlite_folding() -> None:
    # parse lowercases; a letter SQLite does not fold must keep its case or it is not found.
    cased = [ch for ch in _all_characters() if ch.lower() != ch and parse(ch).terms]
    assert len(cased) > 1000
    rows: dict[int, str] = {}
    for i, ch in enumerate(cased):
        rows[2 * i] = ch
        rows[2 * i + 1] = parse(ch).terms[0].text
    db = make_db(rows)
    db.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")
    tokens = dict(db.execute("SELECT doc, term FROM v"))
    mismatched = [
        f"U+{ord(ch):04X} {unicodedata.name(ch, '?')}"
        for i, ch in enumerate(cased)
        if tokens.get(2 * i) != tokens.get(2 * i + 1)
    ]
    assert mismatched == []


# --- properties ---------------------------------------------------------------------------

NASTY = [
    "AND", "OR", "NOT", "NEAR", "NEAR(", "*", "^", "(", ")", ":", "+", "{", "}", '"', "-",
    "--", "'", ",", "rep:", "tag:", "in:", "objection:", "REP:", "text:", "col:", "\\", "\x00",
    "budget", "price", "pri", "don't", "c++", "é", "e\u0301", "😀", "🦄", "\u19b0", "\ue000",
    "İ", "Ꭰ", " ", "\t", "\n", "\u200b",
]  # fmt: skip

nasty_text = st.one_of(
    st.text(),
    st.lists(st.one_of(st.sampled_from(NASTY), st.text(max_size=3))).map("".join),
    st.lists(st.sampled_from(NASTY), max_size=40).map(" ".join),
)

PROPERTY_SETTINGS = settings(
    max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY_SETTINGS
@given(text=nasty_text, typing=st.booleans())
@example(text="budget AND", typing=False)
@example(text='"', typing=True)
@example(text="-", typing=True)
@example(text="\u19b0", typing=False)
def test_any_text_renders_to_a_valid_fts5_expression(
    db: sqlite3.Connection, text: str, typing: bool
) -> None:
    query = parse(text, typing=typing)
    expression = to_fts5(query)
    assert (expression is None) == query.is_empty()
    assert len(query.terms) <= MAX_TERMS
    assert set(query.filters) <= set(FILTER_KEYS)
    assert all(values for values in query.filters.values())
    if expression is not None:
        assert query.typed_chars() > 0
        db.execute(MATCH, (expression,)).fetchall()


word_char = st.characters(categories=("L", "N")).filter(
    lambda ch: query_module._WORD_RE.fullmatch(ch) is not None
)
plain_word = st.text(word_char, min_size=1, max_size=12)


@PROPERTY_SETTINGS
@given(word=plain_word, typing=st.booleans())
@example(word="Price", typing=True)
@example(word="ΟΔΟΣ", typing=False)
@example(word="Ꭰ", typing=False)
def test_a_plain_word_finds_the_row_containing_it(word: str, typing: bool) -> None:
    db = make_db({1: "alpha beta", 2: f"alpha {word} omega", 3: "gamma delta"})
    expression = to_fts5(parse(word, typing=typing))
    assert expression is not None
    assert 2 in [rowid for (rowid,) in db.execute(MATCH, (expression,))]


@PROPERTY_SETTINGS
@given(
    words=st.lists(plain_word, min_size=1, max_size=4),
    separators=st.lists(st.sampled_from(["'", "-", ".", "/", "+", "_", "&", "😀"]), max_size=3),
    typing=st.booleans(),
)
@example(words=["don", "t"], separators=["'"], typing=False)
def test_a_chunk_typed_as_it_appears_finds_its_row(
    words: list[str], separators: list[str], typing: bool
) -> None:
    chunk = words[0]
    for i, word in enumerate(words[1:]):
        chunk += separators[i % len(separators)] if separators else " "
        chunk += word
    db = make_db({1: "alpha beta", 2: f"we said {chunk}, then left", 3: "gamma delta"})
    expression = to_fts5(parse(chunk, typing=typing))
    assert expression is not None
    assert 2 in [rowid for (rowid,) in db.execute(MATCH, (expression,))]


@PROPERTY_SETTINGS
@given(word=plain_word)
def test_an_excluded_word_hides_its_row(word: str) -> None:
    db = make_db({1: f"budget {word}", 2: "budget omega"})
    expression = to_fts5(parse(f"budget -{word}"))
    found = [rowid for (rowid,) in db.execute(MATCH, (expression,))]
    assert 1 not in found

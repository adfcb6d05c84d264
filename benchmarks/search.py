"""Benchmark: search latency on a synthetic library of one million transcript segments.

Builds once (cached in the folder given by ``--db``, default /tmp/shadowbox-bench-1m) a
library through :class:`shadowbox.library.Library`: calls, talk tracks, segments (with word
timings), objection tags and track labels, bulk-inserted in one ``with lib.write():``
transaction so the FTS5 triggers index every segment. The text is sales-call talk: words
drawn from a vocabulary with a Zipf-like distribution (a few hundred common words, then a
long tail of rare ones such as product and company names), about 12 words a segment, with
stock phrases ("too expensive", "my boss makes that call") mixed in; about 5 segments a
talk track, about 40 talk tracks a call, and about 30% of tracks carry 1-2 objection ids.

Then it times :func:`shadowbox.search.search` (with the packaged taxonomy from
:func:`shadowbox.objections.load_taxonomy`) over about 200 queries of each kind: one word
(rare to common), two words, three words, a quoted phrase, one or two words with an objection
filter, and search-as-you-type prefixes of one, two and three or more characters. It prints
p50, p95 and max per kind, the mean number of hits, the build time and the database size.
**Target: p95 <= 20 ms for every kind.** A kind that misses is profiled: each SQL statement
its slowest queries ran is timed on its own, with its query plan.

Usage::

    .venv/bin/python benchmarks/search.py [--db DIR] [--segments N] [--queries N]
        [--rebuild] [--seed N] [--target-ms 20] [--no-words] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import sqlite3
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from report import table

from shadowbox.library import DB_NAME, SCHEMA_VERSION, Library, track_uuid
from shadowbox.objections import Taxonomy, load_taxonomy
from shadowbox.search import search

DEFAULT_DB = Path("/tmp/shadowbox-bench-1m")
META = "bench-meta.json"
GENERATOR_VERSION = 2  # bump when the generated data changes, so caches are rebuilt
TARGET_P95_MS = 20.0

SEGMENTS_PER_TRACK = 5
TRACKS_PER_CALL = 40
WORDS_PER_SEGMENT = 12
OBJECTION_SHARE = 0.30
PHRASE_SHARE = 0.08
ZIPF_EXPONENT = 1.07
TAIL_WORDS = 20000
REPS = ["Dana", "Marcus", "Priya", "Tom", "Aisha", "Kenji", "Lucia", "Sam", "Olu", "Mei"]

# Common words of sales calls, roughly most frequent first: the head of the Zipf curve.
_HEAD_TEXT = """
the to and you i a that we it of is so in for your this just on with have be what can
they do are our if but not like know about at yeah right will would think all get one
team there people going from or time want make more really then now how see out up when
need us them their here which also some could way work those been back well good let look
any go thing new much other call data sales because year actually kind sure great okay so
lot where sense mean first help into over said talk week month quarter next last start
budget price cost spend money contract renewal license seats discount quote proposal
numbers plan pricing tool platform system process reports reporting dashboard pipeline
forecast deal deals customers customer account accounts manager managers director vp cfo
ceo boss leadership approval sign decision stakeholders legal procurement security
compliance audit integration integrate salesforce hubspot api crm email calendar phone
onboarding rollout pilot trial demo setup training support service value roi return
savings save hours manual spreadsheets spreadsheet team's reps rep hire hiring new
competitor competitors vendor alternative already using use currently existing switch
switching migration migrate timing timeline later fiscal q1 q2 q3 q4 january february march
april may june july august september october november december monday tuesday wednesday
thursday friday morning afternoon tomorrow today yesterday schedule meeting follow
followup recap notes questions question concern concerns worry worried risk risks trust
references reference case study studies results proof evidence exit clause terms term
length annual monthly commitment cancel cancellation flexible flexibility small smaller
size grow growth scale scaling department company companies organization org enterprise
mid market startup industry region global local open honest fair understand hear get
totally exactly absolutely definitely probably maybe perhaps pretty quite very too
expensive cheap cheaper affordable tight frozen freeze cut cuts approved approve
justify justified worth investment invest paid pay paying payment invoice billing
finance financial cfo's signoff green light priority priorities roadmap feature features
product products version update updates release custom customize configure workflow
workflows automation automate automated insights analytics metrics kpis goals target
targets quota quotas coaching coach learn learning listen listening record recording
recordings transcript transcripts search find share sharing library collection best
practice practices playbook playbook's objection objections handle handling answer
answers response respond ask asked asking tell told telling show showed showing walk
through step steps together quick quickly short long minute minutes hour day days weeks
months years ago soon early late end beginning middle half full whole part parts piece
side both each every few many most less least little big bigger huge number percent
twenty thirty forty fifty hundred thousand million five ten two three four six seven
eight nine twelve fifteen dollars per seat user users login access permissions admin
it's that's we're you're i'm don't can't won't didn't isn't there's let's they're
"""
HEAD_WORDS = _HEAD_TEXT.split()

STOCK_PHRASES = [
    "too expensive", "budget is tight", "we already have a tool", "my boss makes that call",
    "not the right time", "send me a proposal", "return on investment", "sign off",
    "the spend is hard to justify", "locked into a contract", "does it integrate with",
    "security review", "free trial", "the tool we already use", "circle back next quarter",
    "need to run it by", "fiscal year", "cheaper option", "pays for itself",
    "exit clause", "phone system", "happy with what we have", "price increase",
    "per seat", "start with a pilot", "talk to procurement", "legal needs to review",
    "we are in the middle of a reorganization", "hard to justify", "another vendor",
]


# ---------------------------------------------------------------------------- vocabulary


def tail_words(count: int, rng: random.Random) -> list[str]:
    """Rare words: made-up product, company and people names, unique and pronounceable."""
    onsets = [
        "b", "br", "c", "ch", "cl", "d", "dr", "f", "fl", "g", "gr", "h", "j", "k", "kr", "l",
        "m", "n", "p", "pr", "qu", "r", "s", "sh", "st", "t", "tr", "v", "w", "z",
    ]
    vowels = ["a", "e", "i", "o", "u", "ai", "ea", "io", "ou"]
    codas = ["", "", "n", "r", "x", "l", "s", "m", "nt", "st", "rk", "ck"]
    seen = set(HEAD_WORDS)
    out: list[str] = []
    while len(out) < count:
        word = "".join(
            rng.choice(onsets) + rng.choice(vowels) for _ in range(rng.randint(2, 3))
        ) + rng.choice(codas)
        if word not in seen:
            seen.add(word)
            out.append(word)
    return out


@dataclass
class Vocabulary:
    """Words in rank order and the cumulative Zipf weights to draw them with."""

    words: list[str]
    cum_weights: list[float]

    @classmethod
    def build(cls, seed: int) -> Vocabulary:
        """The head words then the tail, with weight 1 / (rank + 2.7) ** ZIPF_EXPONENT."""
        words = list(dict.fromkeys(HEAD_WORDS)) + tail_words(TAIL_WORDS, random.Random(seed))
        total = 0.0
        cum: list[float] = []
        for rank in range(len(words)):
            total += 1.0 / (rank + 2.7) ** ZIPF_EXPONENT
            cum.append(total)
        return cls(words, cum)

    def sentence(self, rng: random.Random) -> str:
        """About WORDS_PER_SEGMENT words, sometimes with a stock phrase, as a sentence."""
        n = max(3, int(rng.gauss(WORDS_PER_SEGMENT, 3)))
        words = rng.choices(self.words, cum_weights=self.cum_weights, k=n)
        if rng.random() < PHRASE_SHARE:
            at = rng.randrange(len(words))
            words[at:at] = rng.choice(STOCK_PHRASES).split()
        text = " ".join(words)
        return text[0].upper() + text[1:] + rng.choice(".....?!")


# ---------------------------------------------------------------------------- build


@dataclass
class BuildInfo:
    """What was built (or found cached) and what it cost."""

    segments: int
    tracks: int
    calls: int
    seed: int
    with_words: bool
    build_seconds: float
    generator: int = GENERATOR_VERSION
    schema: int = SCHEMA_VERSION
    cached: bool = False


def fake_uuid(rng: random.Random) -> str:
    """A random (version 4) UUID drawn from ``rng``, so builds are reproducible."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def generate(
    n_segments: int, seed: int, taxonomy: Taxonomy, with_words: bool
) -> Iterator[tuple[list[tuple[Any, ...]], ...]]:
    """Yield rows call by call: (calls, talk_tracks, segments, tags, track_labels)."""
    rng = random.Random(seed)
    vocab = Vocabulary.build(seed)
    objection_ids = taxonomy.ids()
    n_calls = math.ceil(n_segments / (SEGMENTS_PER_TRACK * TRACKS_PER_CALL))
    start_day = time.mktime((2024, 1, 1, 9, 0, 0, 0, 0, 0))
    made = 0
    track_id = 0
    c = 0
    while made < n_segments:
        c += 1
        call_id = fake_uuid(rng)
        recorded = time.strftime(
            "%Y-%m-%dT%H:%M:%S+00:00",
            time.gmtime(start_day + c * (730 * 86400 / n_calls)),
        )
        rep = rng.choice(REPS)
        tracks: list[tuple[Any, ...]] = []
        segments: list[tuple[Any, ...]] = []
        tags: list[tuple[Any, ...]] = []
        labels: list[tuple[Any, ...]] = []
        clock = 0.0
        n_tracks = max(1, round(rng.gauss(TRACKS_PER_CALL, 6)))
        for t in range(n_tracks):
            if made >= n_segments:
                break
            track_id += 1
            chosen: list[str] = []
            if rng.random() < OBJECTION_SHARE:
                chosen = sorted(rng.sample(objection_ids, rng.choice((1, 1, 2))))
            objections = " ".join(chosen)
            clock += rng.uniform(1.5, 6.0)  # the other party talks
            track_start = clock
            texts: list[str] = []
            n_segs = max(1, min(round(rng.gauss(SEGMENTS_PER_TRACK, 1.5)), n_segments - made))
            for _ in range(n_segs):
                text = vocab.sentence(rng)
                seg_start = clock
                seg_len = 0.35 * len(text.split()) + rng.uniform(0.2, 1.0)
                clock += seg_len
                words = "[]"
                if with_words:
                    step = seg_len / max(1, len(text.split()))
                    words = json.dumps([
                        [round(seg_start + i * step, 3), round(seg_start + (i + 1) * step, 3),
                         " " + w, round(rng.uniform(0.6, 1.0), 3)]
                        for i, w in enumerate(text.split())
                    ])
                segments.append((
                    call_id, track_id, len(segments), round(seg_start, 3), round(clock, 3),
                    text, round(rng.uniform(0.5, 0.95), 3), words, objections,
                ))
                texts.append(text)
                clock += rng.uniform(0.1, 0.6)
                made += 1
            tracks.append((
                track_id, track_uuid(call_id, track_start), call_id, t, round(track_start, 3),
                round(clock, 3), " ".join(texts), objections,
            ))
            for value in chosen:
                tags.append((
                    call_id, track_id, round(track_start, 3), round(clock, 3), "objection",
                    value, "auto", round(rng.uniform(0.5, 0.95), 3),
                    f"cue: synthetic {value}", recorded,
                ))
                labels.append((track_id, "objection", value))
        call = (
            call_id, f"Call {c} with {rng.choice(vocab.words[400:2000]).title()}", rep,
            None, recorded, recorded, round(clock + 5, 1), f"audio/{call_id}.ogg",
            f"{rng.getrandbits(256):064x}", "synthetic.ogg", "mix", "ready", 0, 0,
            "tiny.en (embedded)",
        )
        yield [call], tracks, segments, tags, labels


def build(db: Path, n_segments: int, seed: int, with_words: bool, log: Callable[[str], None]
          ) -> BuildInfo:
    """Create the library at ``db`` and fill it in one write transaction."""
    taxonomy = load_taxonomy()
    began = time.perf_counter()
    counts = {"calls": 0, "tracks": 0, "segments": 0}
    with Library.open(db) as lib, lib.write() as conn:
        batch: list[list[tuple[Any, ...]]] = [[], [], [], [], []]

        def flush() -> None:
            conn.executemany(
                "INSERT INTO calls (id, title, rep, account, recorded_at, imported_at, duration,"
                " audio_path, audio_hash, source, channel, status, recovered, dropped_samples,"
                " model) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", batch[0])
            conn.executemany(
                'INSERT INTO talk_tracks (id, uuid, call_id, idx, start, "end", text,'
                " objections) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", batch[1])
            conn.executemany(
                'INSERT INTO segments (call_id, track_id, idx, start, "end", text, confidence,'
                " words, objections) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", batch[2])
            conn.executemany(
                "INSERT INTO tags (call_id, track_id, track_start, track_end, kind, value,"
                " source, confidence, reason, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                batch[3])
            conn.executemany(
                "INSERT INTO track_labels (track_id, kind, value) VALUES (?, ?, ?)", batch[4])
            for rows in batch:
                rows.clear()

        last_log = time.perf_counter()
        for rows in generate(n_segments, seed, taxonomy, with_words):
            for into, new in zip(batch, rows, strict=True):
                into.extend(new)
            counts["calls"] += 1
            counts["tracks"] += len(rows[1])
            counts["segments"] += len(rows[2])
            if len(batch[2]) >= 20000:
                flush()
            if time.perf_counter() - last_log > 15:
                last_log = time.perf_counter()
                log(f"built {counts['segments']:,} segments "
                    f"({last_log - began:.0f} s)")
        flush()
        log("committing")
    with Library.open(db) as lib:
        lib.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return BuildInfo(
        segments=counts["segments"], tracks=counts["tracks"], calls=counts["calls"],
        seed=seed, with_words=with_words, build_seconds=time.perf_counter() - began,
    )


def ensure_library(
    db: Path, n_segments: int, seed: int, with_words: bool, rebuild: bool,
    log: Callable[[str], None],
) -> BuildInfo:
    """Reuse the cached library if it was built with these parameters, else build it."""
    meta_path = db / META
    if meta_path.exists() and not rebuild:
        info = BuildInfo(**json.loads(meta_path.read_text()))
        # A newer schema version is fine: Library.open migrates the cached library forward.
        if (info.segments == n_segments and info.seed == seed and info.with_words == with_words
                and info.generator == GENERATOR_VERSION and (db / DB_NAME).exists()):
            info.cached = True
            return info
    if db.exists():
        if not meta_path.exists() and any(db.iterdir()):
            raise SystemExit(f"{db} exists and is not a benchmark library; pick another --db")
        shutil.rmtree(db)
    log(f"building {n_segments:,} segments in {db} (once; cached afterwards)")
    info = build(db, n_segments, seed, with_words, log)
    meta_path.write_text(json.dumps(asdict(info), indent=2))
    return info


def db_size(db: Path) -> int:
    """Bytes of library.db and its WAL."""
    return sum(p.stat().st_size for p in db.glob(DB_NAME + "*") if p.is_file())


# ---------------------------------------------------------------------------- queries


@dataclass(frozen=True)
class Query:
    """One search as the UI or CLI would run it."""

    text: str
    objections: tuple[str, ...] = ()
    typing: bool = False


KINDS = (
    "one word", "two words", "three words", "quoted phrase", "word + objection",
    "two words + objection", "typing 1 char", "typing 2 chars", "typing 3+ chars",
)


def make_queries(
    lib: Library, taxonomy: Taxonomy, seed: int, per_kind: int, n_segments: int
) -> dict[str, list[Query]]:
    """About ``per_kind`` queries of each kind, drawn from the same vocabulary as the data."""
    rng = random.Random(seed + 1)
    vocab = Vocabulary.build(seed)
    words = vocab.words
    # Split into three bands so rare and common words are both well represented.
    bands = [words[:60], words[60:len(HEAD_WORDS)], words[len(HEAD_WORDS):]]
    objection_ids = taxonomy.ids()

    def word() -> str:
        return rng.choice(rng.choice(bands))

    def zipf_word(min_len: int = 1) -> str:
        while True:
            w = rng.choices(words, cum_weights=vocab.cum_weights)[0]
            if len(w) >= min_len and w.isalpha():
                return w

    def db_phrase() -> str:
        row = lib.conn.execute(
            "SELECT text FROM segments WHERE id = ?", (rng.randint(1, n_segments),)
        ).fetchone()
        tokens = [t.strip(".?!,").lower() for t in row[0].split()]
        n = rng.choice((2, 3))
        at = rng.randrange(max(1, len(tokens) - n))
        return " ".join(tokens[at:at + n])

    letters = "abcdefghijklmnopqrstuvwxyz"
    out: dict[str, list[Query]] = {k: [] for k in KINDS}
    for _ in range(per_kind):
        out["one word"].append(Query(word()))
        out["two words"].append(Query(f"{word()} {word()}"))
        out["three words"].append(Query(f"{word()} {word()} {word()}"))
        phrase = rng.choice(STOCK_PHRASES) if rng.random() < 0.5 else db_phrase()
        out["quoted phrase"].append(Query(f'"{phrase}"'))
        out["word + objection"].append(Query(word(), (rng.choice(objection_ids),)))
        out["two words + objection"].append(
            Query(f"{word()} {word()}", (rng.choice(objection_ids),))
        )
        out["typing 1 char"].append(Query(rng.choice(letters), typing=True))
        out["typing 2 chars"].append(Query(zipf_word(2)[:2], typing=True))
        w = zipf_word(4) if rng.random() < 0.7 else rng.choice(bands[2])
        out["typing 3+ chars"].append(Query(w[: rng.randint(3, min(5, len(w)))], typing=True))
    return out


# ---------------------------------------------------------------------------- timing


@dataclass
class KindResult:
    """Latency figures for one kind of query."""

    kind: str
    count: int
    p50_ms: float
    p95_ms: float
    max_ms: float
    mean_hits: float
    zero_hit_share: float
    meets_target: bool
    slowest: list[tuple[float, str]] = field(default_factory=list)
    profile: list[dict[str, Any]] = field(default_factory=list)
    slowest_queries: list[Query] = field(default_factory=list, repr=False)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def run_query(lib: Library, taxonomy: Taxonomy, q: Query) -> tuple[float, int]:
    """Milliseconds for one search and how many hits it returned."""
    began = time.perf_counter()
    hits = search(lib, taxonomy, q.text, objections=q.objections, typing=q.typing)
    return (time.perf_counter() - began) * 1000, len(hits)


def describe(q: Query) -> str:
    """A query as one readable line."""
    parts = [q.text]
    if q.objections:
        parts.append(f"--objection {','.join(q.objections)}")
    if q.typing:
        parts.append("(typing)")
    return " ".join(parts)


def measure(lib: Library, taxonomy: Taxonomy, queries: dict[str, list[Query]],
            target_ms: float = TARGET_P95_MS) -> list[KindResult]:
    """Time every query once (kinds interleaved, so noise spreads evenly)."""
    times: dict[str, list[tuple[float, int, Query]]] = {k: [] for k in queries}
    rounds = max(len(v) for v in queries.values())
    for i in range(rounds):
        for kind, items in queries.items():
            if i < len(items):
                ms, hits = run_query(lib, taxonomy, items[i])
                times[kind].append((ms, hits, items[i]))
    results = []
    for kind, rows in times.items():
        ms = [r[0] for r in rows]
        p95 = percentile(ms, 95)
        slowest = sorted(rows, key=lambda r: r[0], reverse=True)[:5]
        results.append(KindResult(
            kind=kind, count=len(rows), p50_ms=percentile(ms, 50), p95_ms=p95,
            max_ms=max(ms), mean_hits=statistics.mean(r[1] for r in rows),
            zero_hit_share=sum(1 for r in rows if r[1] == 0) / len(rows),
            meets_target=p95 <= target_ms,
            slowest=[(round(r[0], 2), describe(r[2])) for r in slowest],
            slowest_queries=[r[2] for r in slowest],
        ))
    return results


# What each shape of statement costs and why, for the profile report.
HINTS = {
    "rank": "bm25 over the newest RANK_WINDOW matches: cost grows with the window, and bm25's"
            " IDF reads every row of each phrase's doclist (tens of ms for the commonest words"
            " and for phrases made of them)",
    "snippet": "snippet query with `rowid IN (ids)`: SQLite runs the MATCH once per id, and a"
               " prefix with no prefix index (4+ chars) re-merges all its terms' doclists each"
               " time",
    "newest": "newest-first ids (cheap: FTS5 walks rowids in order and stops at LIMIT)",
    "other": "",
}


def classify(sql: str) -> str:
    """Which part of a search an SQL statement is."""
    if "bm25(" in sql:
        return "rank"
    if "snippet(" in sql:
        return "snippet"
    if "segments_fts" in sql and "ORDER BY f.rowid DESC" in sql:
        return "newest"
    return "other"


def profile(lib: Library, taxonomy: Taxonomy, queries: Sequence[Query]) -> list[dict[str, Any]]:
    """Run queries with SQL tracing, time each statement alone, and sum by statement shape."""
    statements: list[str] = []
    lib.conn.set_trace_callback(statements.append)
    try:
        for q in queries:
            run_query(lib, taxonomy, q)
    finally:
        lib.conn.set_trace_callback(None)
    shapes: dict[str, dict[str, Any]] = {}
    for sql in dict.fromkeys(statements):
        if not sql.lstrip().upper().startswith("SELECT"):
            continue
        best = math.inf
        for _ in range(3):
            began = time.perf_counter()
            lib.conn.execute(sql).fetchall()
            best = min(best, (time.perf_counter() - began) * 1000)
        kind = classify(sql)
        shape = shapes.setdefault(kind, {"shape": kind, "count": 0, "total_ms": 0.0,
                                         "max_ms": 0.0, "example": "", "plan": []})
        shape["count"] += 1
        shape["total_ms"] += best
        if best >= shape["max_ms"]:
            shape["max_ms"] = round(best, 2)
            shape["example"] = sql
            shape["plan"] = [r[3] for r in lib.conn.execute("EXPLAIN QUERY PLAN " + sql)]
    for shape in shapes.values():
        shape["mean_ms"] = round(shape.pop("total_ms") / shape["count"], 2)
        shape["hint"] = HINTS[shape["shape"]]
    return sorted(shapes.values(), key=lambda x: x["max_ms"], reverse=True)


# ---------------------------------------------------------------------------- output


def main(argv: Sequence[str] | None = None) -> int:
    """Build or reuse the library, time the queries, print the table (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, default=DEFAULT_DB,
                        help=f"library folder to build or reuse (default {DEFAULT_DB})")
    parser.add_argument("--segments", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200, help="queries per kind")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-words", action="store_true",
                        help="store no word timings (smaller, less realistic database)")
    parser.add_argument("--rebuild", action="store_true", help="build even if cached")
    parser.add_argument("--target-ms", type=float, default=TARGET_P95_MS,
                        help="p95 target per kind; kinds above it are profiled")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args(argv)

    def log(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    info = ensure_library(args.db, args.segments, args.seed, not args.no_words, args.rebuild,
                          log)
    taxonomy = load_taxonomy()
    with Library.open(args.db, create=False) as lib:
        queries = make_queries(lib, taxonomy, args.seed, args.queries, info.segments)
        warm = [q for items in queries.values() for q in items[:3]]
        for q in warm:  # first touches read the index from disk; measure the steady state
            run_query(lib, taxonomy, q)
        log("timing")
        results = measure(lib, taxonomy, queries, args.target_ms)
        for r in results:
            if not r.meets_target:
                r.profile = profile(lib, taxonomy, r.slowest_queries)
        fts_segments = lib.conn.execute(
            "SELECT count(*) FROM segments_fts_idx"
        ).fetchone()[0] if _has_table(lib.conn, "segments_fts_idx") else None
    size = db_size(args.db)
    out = {
        "db": str(args.db), "build": asdict(info), "db_bytes": size,
        "fts_idx_rows": fts_segments, "sqlite": sqlite3.sqlite_version,
        "target_p95_ms": args.target_ms, "load_avg": os.getloadavg(),
        "kinds": [
            {k: v for k, v in asdict(r).items() if k != "slowest_queries"} for r in results
        ],
        "all_meet_target": all(r.meets_target for r in results),
    }
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    how = "cached" if info.cached else "built now"
    print(f"Library {args.db}: {info.segments:,} segments, {info.tracks:,} talk tracks, "
          f"{info.calls:,} calls; {size / 1e6:,.0f} MB on disk; build {info.build_seconds:.0f} s"
          f" ({how}); SQLite {sqlite3.sqlite_version}")
    rows = [
        [r.kind, str(r.count), f"{r.p50_ms:.2f}", f"{r.p95_ms:.2f}", f"{r.max_ms:.2f}",
         f"{r.mean_hits:.1f}", f"{100 * r.zero_hit_share:.0f}%",
         "ok" if r.meets_target else "MISS"]
        for r in results
    ]
    print(table(["kind", "n", "p50 ms", "p95 ms", "max ms", "hits", "0 hits",
                 f"p95<={args.target_ms:g}"], rows))
    for r in results:
        print(f"\nslowest {r.kind}: " + "; ".join(f"{ms} ms {text!r}" for ms, text in r.slowest))
        for p in r.profile:
            print(f"  {p['shape']:8} x{p['count']}: mean {p['mean_ms']:.2f} ms, max "
                  f"{p['max_ms']:.2f} ms; {p['hint']}")
            print(f"           slowest: {p['example'][:220]}")
            print(f"           plan: {' / '.join(p['plan'])}")
    verdict = "all kinds meet" if out["all_meet_target"] else "some kinds miss"
    print(f"\n{verdict} the target p95 <= {args.target_ms:g} ms "
          f"(load average {out['load_avg'][0]:.2f} on {os.cpu_count()} cores)")
    return 0


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute(
        "SELECT 1 FROM sqlite_master WHERE name = ?", (name,)
    ).fetchone() is not None


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: objection tagging quality and speed on the held-out eval set.

Prints per-category precision, recall and F1, micro and macro figures and the false
positive rate on talk tracks with no objection, for the original dev half (tuned on) and
test half (only ever reported), then micro figures for each fresh probe round: a round's
figures from before it was tuned on are in the eval file's comments, and rounds 6 and 8 are
held out (split "test", never tuned on). Also the time to build the tagger and milliseconds
per talk track; with a similarity backend, the rules-only figures for comparison.

    .venv/bin/python benchmarks/tagging.py [--errors dev|test|all|N] [--detail]
                                           [--similarity auto|on|off]
                                           [--eval FILE] [--taxonomy FILE]
"""

from __future__ import annotations

import argparse
import time
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from shadowbox.objections import BACKENDS, Tagger, load_taxonomy

EVAL_FILE = Path(__file__).resolve().parent.parent / "tests" / "data" / "objection_eval.toml"


@dataclass(frozen=True)
class Case:
    """One eval talk track and the objection ids it should get."""

    text: str
    expect: frozenset[str]
    split: str
    round: int | None = None
    """The fresh probe round the case was written in; None for the original set."""


@dataclass(frozen=True)
class Scores:
    """Figures for one split."""

    per_category: dict[str, tuple[float, float, float, int]]
    micro: tuple[float, float, float]
    macro_f1: float
    none_fpr: float
    none_count: int
    exact: float
    cases: int


def load_cases(path: Path = EVAL_FILE) -> list[Case]:
    """The eval cases in file order."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return [
        Case(c["text"], frozenset(c["expect"]), c["split"], c.get("round")) for c in data["case"]
    ]


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def score(cases: Sequence[Case], predicted: Sequence[frozenset[str]], ids: Sequence[str]) -> Scores:
    """Precision, recall and F1 per category and overall for predictions against cases."""
    per: dict[str, tuple[float, float, float, int]] = {}
    total_tp = total_fp = total_fn = 0
    pairs = list(zip(cases, predicted, strict=True))
    for oid in ids:
        tp = sum(1 for c, p in pairs if oid in c.expect and oid in p)
        fp = sum(1 for c, p in pairs if oid not in c.expect and oid in p)
        fn = sum(1 for c, p in pairs if oid in c.expect and oid not in p)
        per[oid] = (*_prf(tp, fp, fn), tp + fn)
        total_tp, total_fp, total_fn = total_tp + tp, total_fp + fp, total_fn + fn
    none = [(c, p) for c, p in zip(cases, predicted, strict=True) if not c.expect]
    none_fp = sum(1 for _, p in none if p)
    exact = sum(1 for c, p in zip(cases, predicted, strict=True) if c.expect == p)
    return Scores(
        per_category=per,
        micro=_prf(total_tp, total_fp, total_fn),
        macro_f1=sum(v[2] for v in per.values()) / len(per),
        none_fpr=none_fp / len(none) if none else 0.0,
        none_count=len(none),
        exact=exact / len(cases),
        cases=len(cases),
    )


def _print(name: str, scores: Scores) -> None:
    print(f"\n== {name}: {scores.cases} talk tracks, {scores.none_count} with no objection")
    print(f"{'category':<14}{'P':>7}{'R':>7}{'F1':>7}{'n':>5}")
    for oid, (p, r, f, n) in scores.per_category.items():
        print(f"{oid:<14}{p:>7.2f}{r:>7.2f}{f:>7.2f}{n:>5}")
    p, r, f = scores.micro
    print(f"{'micro':<14}{p:>7.2f}{r:>7.2f}{f:>7.2f}")
    print(f"macro F1 {scores.macro_f1:.3f}   exact-set accuracy {scores.exact:.3f}")
    print(f"no-objection false positive rate {scores.none_fpr:.3f}")


def groups(cases: Sequence[Case]) -> dict[str, list[int]]:
    """Indexes of the cases in each reported group: the original halves, then each round.

    The original ``dev`` and ``test`` halves exclude the probe rounds; each round is its own
    group because a round's first, untuned figures are the honest measure of how the tagger
    does on wording it has not seen (round 6 is held out and never tuned on).
    """
    found: dict[str, list[int]] = {"dev": [], "test": []}
    for index, case in enumerate(cases):
        if case.round is None:
            found[case.split].append(index)
    for number in sorted({c.round for c in cases if c.round is not None}):
        found[f"round {number}"] = [i for i, c in enumerate(cases) if c.round == number]
    found["all"] = list(range(len(cases)))
    return found


def _summary(
    cases: Sequence[Case], predicted: Sequence[frozenset[str]], ids: Sequence[str], title: str
) -> None:
    print(f"\n{title}")
    print(f"  {'group':<10}{'n':>5}{'P':>7}{'R':>7}{'F1':>7}{'FPR':>7}")
    for name, indexes in groups(cases).items():
        if not indexes:
            continue
        figures = score([cases[i] for i in indexes], [predicted[i] for i in indexes], ids)
        p, r, f = figures.micro
        row = f"  {name:<10}{figures.cases:>5}{p:>7.3f}{r:>7.3f}{f:>7.3f}{figures.none_fpr:>7.3f}"
        print(row)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval", type=Path, default=EVAL_FILE, help="eval set TOML")
    parser.add_argument(
        "--taxonomy",
        type=Path,
        action="append",
        default=[],
        help="extra taxonomy file (repeatable)",
    )
    parser.add_argument(
        "--errors",
        metavar="GROUP",
        help="list mistakes in a group: dev, test, all or a round number such as 6",
    )
    parser.add_argument(
        "--similarity",
        choices=("auto", "on", "off", *BACKENDS),
        default="auto",
        help="similarity layer: auto (the best installed backend), on, off, or a backend name",
    )
    parser.add_argument(
        "--detail", action="store_true", help="per-category figures for every group"
    )
    args = parser.parse_args(argv)

    taxonomy = load_taxonomy(args.taxonomy)
    wanted = {"auto": None, "on": True, "off": False}.get(args.similarity, args.similarity)
    start = time.perf_counter()
    tagger = Tagger(taxonomy, similarity=wanted)
    build_ms = (time.perf_counter() - start) * 1000
    mode = f"rules + {tagger.similarity_backend}" if tagger.uses_similarity else "rules only"
    print(f"tagger: {mode}; taxonomy: {', '.join(str(p) for p in taxonomy.sources)}")
    print(f"built in {build_ms:.0f} ms (compiling patterns, embedding examples)")
    cases = load_cases(args.eval)
    ids = taxonomy.ids()

    for case in cases[:20]:  # warm up
        tagger.tag(case.text)
    repeats = 3
    timings: list[float] = []
    for _ in range(repeats):
        predicted = []
        for case in cases:
            start = time.perf_counter()
            predicted.append(frozenset(t.objection for t in tagger.tag(case.text)))
            timings.append((time.perf_counter() - start) * 1000)
    timings.sort()
    per_track_ms = sum(timings) / len(timings)

    chosen_groups = groups(cases)
    for name in ("dev", "test", *(n for n in chosen_groups if n.startswith("round")), "all"):
        if name.startswith("round") and not args.detail:
            continue
        indexes = chosen_groups.get(name, [])
        if not indexes:  # a fresh eval file may hold one split only
            continue
        _print(name, score([cases[i] for i in indexes], [predicted[i] for i in indexes], ids))
    _summary(cases, predicted, ids, f"micro figures per group ({mode})")
    for title, chosen in (
        ("fresh rounds 3+", [i for i, c in enumerate(cases) if c.round and c.round >= 3]),
        ("held-out rounds", [i for i, c in enumerate(cases) if c.round and c.split == "test"]),
    ):
        if not chosen:
            continue
        figures = score([cases[i] for i in chosen], [predicted[i] for i in chosen], ids)
        print(
            f"  {title}: micro F1 {figures.micro[2]:.3f}, "
            f"no-objection FPR {figures.none_fpr:.3f} ({len(chosen)} talk tracks)"
        )
    print(
        f"\n{per_track_ms:.3f} ms per talk track (mean over {len(timings)} taggings; "
        f"95th percentile {timings[int(len(timings) * 0.95)]:.3f} ms, max {timings[-1]:.3f} ms)"
    )
    if tagger.uses_similarity:
        rules = Tagger(taxonomy, similarity=False)
        got = [frozenset(t.objection for t in rules.tag(c.text)) for c in cases]
        _summary(cases, got, ids, "rules only, for comparison")

    if args.errors:
        wanted_group = f"round {args.errors}" if args.errors.isdigit() else args.errors
        if wanted_group not in chosen_groups:
            parser.error(f"unknown group {args.errors!r}: {', '.join(chosen_groups)}")
        print(f"\n== mistakes in {wanted_group}")
        for index in chosen_groups[wanted_group]:
            case = cases[index]
            tags = tagger.tag(case.text)
            got_ids = frozenset(t.objection for t in tags)
            if got_ids != case.expect:
                print(f"- {case.text}\n  expected {sorted(case.expect)} got {sorted(got_ids)}")
                for tag in tags:
                    print(f"    {tag.objection} {tag.confidence:.2f} {tag.reason}")


if __name__ == "__main__":
    main()

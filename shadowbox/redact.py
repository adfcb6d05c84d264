"""Redaction: find personal data in transcript words, blank it in text and mute it in audio.

What counts as personal data here: email addresses, phone numbers and long digit runs such
as card or account numbers, whether the speech model wrote them as digits ("4111-1111"),
as words ("four one one one") or as a mix. The detector works on the word sequence, so every
finding has word timings and the same span can be muted in the audio.

The small speech model mishears exactly these things: it drops the "at" of a spoken email
("jain.dot.example.com"), hears "four" as "for", and stops transcribing a long run of
repeated digits after the first few. So the rules are deliberately generous:

* a dotted address (``name.example.com``) is an email when an email cue ("email",
  "address", "send ... to", "at") comes just before it or it follows another email;
* any digit run of 7 or more digits is redacted, and a shorter one too when a cue such as
  "card", "account", "phone" or "number" comes just before it;
* the muted span of a finding reaches over the untranscribed stretch next to it (up to the
  neighbouring words), because that is where the dropped digits were spoken.

Over-redaction costs a few words of a lesson; under-redaction leaks a customer's data.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .models import Segment, Word

KINDS = ("email", "phone", "number")
PLACEHOLDERS = {"email": "[email]", "phone": "[phone]", "number": "[number]"}
# Word timings from the model are often a tenth or two off: mute this much beyond them.
PAD_SECONDS = 0.2
# How many words before a finding are searched for a cue ("card number is ...").
CUE_WINDOW = 6
# Digit runs at least this long are redacted whatever precedes them.
LONG_RUN = 7

_DIGIT_WORDS = {
    "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
    "seven": "7", "eight": "8", "nine": "9",
}
# Words the model writes for a spoken digit; they count only next to a real digit.
_HOMOPHONES = {
    "oh": "0", "o": "0", "won": "1", "to": "2", "too": "2", "for": "4", "fore": "4", "ate": "8",
}
_REPEATS = {"double": 2, "triple": 3}
_SEPARATORS = {"-", "–", "—", "dash", "hyphen"}
_SPOKEN_SYMBOLS = {"dot": ".", "at": "@", "underscore": "_"}
_JOINERS = ".@_"

_LEADING = "\"'“‘([{"
_TRAILING = "\"'”’)]},;:!?."
_AMOUNT = re.compile(
    r"^[$€£¥]|%$|^\d{1,3}(?:,\d{3})+(?:\.\d+)?$|^\d+\.\d+$|^\d+(?:k|m|bn|s|st|nd|rd|th)$"
    r"|\d:\d"
)
_EMAIL = re.compile(
    r"(?<![\w.-])[a-z0-9][a-z0-9._%+-]*@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}(?![\w-])"
)
_DOMAIN = re.compile(
    r"(?<![\w.@-])[a-z0-9][a-z0-9_%+-]*(?:\.[a-z0-9-]+)*"
    r"\.(?:com|net|org|io|co|edu|gov|us|uk|de|fr|ca|au|in|info|biz|me|ai|app|dev)(?![\w-])"
)
_EMAIL_CUE = re.compile(r"\b(?:e-?mails?|mail|address|write|send|contact|reach)\b|@")
# "my email is <misheard pieces> example.com": what follows these words, up to the address,
# is all the address (the model splits a spoken local part into odd words).
_EMAIL_ANCHORS = {"email", "e-mail", "emails", "mail"}
_ANCHOR_FILLERS = {"is", "was", "address", "me", "at", "to", "it's", "its", "on"}
# Which kind a digit run is, judged from the words before it.
_CARD_WORDS = re.compile(
    r"\b(?:card|account|acct|routing|iban|ssn|social security|cvv|cvc|pin|sort code)\b"
)
_PHONE_WORDS = re.compile(r"\b(?:phone|cell|mobile|fax|extension|ext|(?:call|reach|text) me)\b")
# A short digit run is personal data only right after words like these ("card number is
# 4 1", "call me on 5 5 5"): "license" or "account" alone precede ordinary numbers too.
_SHORT_RUN_CUE = re.compile(
    r"(?:\b(?:number|no|ssn|iban|cvv|cvc|pin|card|phone|cell|mobile)"
    r"|\bcard\w*"  # "cardboard is": a misheard "card number"
    r"|\b(?:card|account|phone) \w+(?= is| was)"  # "card ember is": a misheard "number"
    r"|\b(?:call|reach|text) me(?: on| at)?)(?: is| was|'s)?$"
)
# How far past a neighbouring heard word a mute span may still be stretched to a pause.
NEIGHBOUR_WIDEN = 0.5
# After such a cue, this much silence from the model (no words) is taken to be the number
# itself: it stops transcribing a long run of repeated digits.
CUE_GAP_SECONDS = 1.0


@dataclass(frozen=True)
class Finding:
    """A stretch of tokens (words) holding personal data: ``first`` to ``last`` inclusive."""

    kind: str
    first: int
    last: int


@dataclass(frozen=True)
class MuteSpan:
    """A stretch of audio to silence, in seconds of the clip, and what it hid.

    ``said_start`` and ``said_end`` are where the words themselves start and end by the
    model's timings (the span is padded beyond them); None when no words were heard.
    """

    start: float
    end: float
    kind: str
    said_start: float | None = None
    said_end: float | None = None


@dataclass(frozen=True)
class RedactedText:
    """A text with its personal data replaced by placeholders, and how many of each kind."""

    text: str
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class RedactedTranscript:
    """Segments with personal data replaced in text and words, and the audio spans to mute."""

    segments: tuple[Segment, ...]
    spans: tuple[MuteSpan, ...]
    counts: dict[str, int] = field(default_factory=dict)


def _core(token: str) -> str:
    """A token lower-cased without the punctuation around it: "(555)" is 555, ".com," .com."""
    return token.strip().lower().lstrip(_LEADING).rstrip(_TRAILING)


def _written_digits(core: str) -> str | None:
    """The digits of a token written with digits ("555-1234", "(555)", or "4í1" when the
    model slips a stray character between two), unless it is an amount, a time or a word."""
    if not core or _AMOUNT.search(core) or re.search(r"[a-z]", core):
        return None
    digits = re.sub(r"\D", "", core)
    return digits or None


def _definite_digits(core: str) -> str | None:
    # "4-one" comes out as "4" and "-one": the dash joins digits, spelled or not.
    return _DIGIT_WORDS.get(core.lstrip("-–")) or _written_digits(core)


def find_personal_data(tokens: Sequence[str]) -> list[Finding]:
    """Find emails, phone numbers and long digit runs in a sequence of words.

    Why tokens: the transcript's words carry timings, so a finding by word index can be both
    replaced in the text and muted in the audio.

    Args:
        tokens: words as the speech model wrote them (leading spaces and punctuation are fine).

    Returns findings in order, never overlapping.
    """
    cores = [_core(t) for t in tokens]
    found = _emails(cores) + _digit_runs(cores)
    found.sort(key=lambda f: (f.first, -f.last))
    merged: list[Finding] = []
    for f in found:
        if merged and f.first <= merged[-1].last:
            last = merged[-1]
            merged[-1] = Finding(last.kind, last.first, max(last.last, f.last))
        else:
            merged.append(f)
    return merged


def _window(cores: Sequence[str], first: int) -> str:
    return " ".join(cores[max(0, first - CUE_WINDOW) : first])


def _emails(cores: Sequence[str]) -> list[Finding]:
    """Emails written (jane@example.com), spoken (jane at example dot com) or misheard."""
    text = ""
    owner: list[int] = []
    for i, core in enumerate(cores):
        piece = _SPOKEN_SYMBOLS.get(core, core)
        if not piece:
            continue
        if text and not (piece[0] in _JOINERS or text[-1] in _JOINERS):
            text += " "
            owner.append(-1)
        text += piece
        owner.extend([i] * len(piece))

    def tokens_of(match: re.Match[str]) -> tuple[int, int]:
        ids = [owner[k] for k in range(match.start(), match.end()) if owner[k] >= 0]
        return ids[0], ids[-1]

    findings = [Finding("email", *tokens_of(m)) for m in _EMAIL.finditer(text)]
    taken = {i for f in findings for i in range(f.first, f.last + 1)}
    for m in _DOMAIN.finditer(text):
        first, last = tokens_of(m)
        if first in taken:
            continue
        before = cores[first - 1] if first > 0 else ""
        follows_email = any(0 <= first - f.last <= 3 for f in findings)
        if follows_email or before in ("to", "at") or _EMAIL_CUE.search(_window(cores, first)):
            findings.append(Finding("email", first, last))
            taken.update(range(first, last + 1))
    for i, core in enumerate(cores):
        if core not in _EMAIL_ANCHORS:
            continue
        chain = _address_after(cores, i)
        if chain is not None and not any(j in taken for j in range(chain[0], chain[1] + 1)):
            findings.append(Finding("email", *chain))
            taken.update(range(chain[0], chain[1] + 1))
    return [_extend_to_anchor(f, cores) for f in findings]


def _joined(core: str) -> bool:
    return core in _SPOKEN_SYMBOLS or core in ("dash", "hyphen") or core[:1] in ".@_-"


def _address_after(cores: Sequence[str], anchor: int) -> tuple[int, int] | None:
    """The words right after "email (is)" glued into an address ("jane .donatexampl .comandmy").

    The model often garbles a spoken address past any pattern; words chained by dots, "at"
    or "dot" after the word "email" are the address all the same.
    """
    start = anchor + 1
    while start < len(cores) and cores[start] in _ANCHOR_FILLERS:
        start += 1
    if start >= len(cores) or not cores[start]:
        return None
    end = start
    while end + 1 < len(cores) and (
        _joined(cores[end + 1]) or cores[end] in _SPOKEN_SYMBOLS or cores[end][-1:] in ".@_-"
    ):
        end += 1
    pieces = cores[start : end + 1]
    if end == start and "." not in pieces[0] and "@" not in pieces[0]:
        return None
    return start, end


def _extend_to_anchor(finding: Finding, cores: Sequence[str]) -> Finding:
    """Reach back from an address to the words just after "email (is)", if they are near."""
    for i in range(finding.first - 1, max(-1, finding.first - 1 - CUE_WINDOW), -1):
        if cores[i] in _EMAIL_ANCHORS:
            start = i + 1
            while start < finding.first and cores[start] in _ANCHOR_FILLERS:
                start += 1
            return Finding(finding.kind, min(start, finding.first), finding.last)
    return finding


def _digit_runs(cores: Sequence[str]) -> list[Finding]:
    """Runs of digits (written or spoken) long enough, or cued enough, to be personal data."""
    definite = [_definite_digits(c) for c in cores]

    def digit(i: int) -> str | None:
        if definite[i] is not None:
            return definite[i]
        homophone = _HOMOPHONES.get(cores[i])
        if homophone is None:
            return None
        near = (i > 0 and definite[i - 1] is not None) or (
            i + 1 < len(cores) and definite[i + 1] is not None
        )
        return homophone if near else None

    findings: list[Finding] = []
    def starts_run(i: int) -> bool:
        if digit(i) is not None:
            return True
        return cores[i] in _REPEATS and i + 1 < len(cores) and digit(i + 1) is not None

    i = 0
    while i < len(cores):
        if not starts_run(i):
            i += 1
            continue
        digits, last, j = "", i, i
        while j < len(cores):
            d = digit(j)
            if d is not None:
                digits += d
                last = j
                j += 1
            elif (
                cores[j] in _REPEATS and j + 1 < len(cores) and (nxt := digit(j + 1)) is not None
            ):
                digits += nxt * (_REPEATS[cores[j]] - 1)
                j += 1
            elif cores[j] in _SEPARATORS and j + 1 < len(cores) and digit(j + 1) is not None:
                j += 1
            else:
                break
        kind = _digit_kind(digits, _window(cores, i))
        if kind is None and i > 0 and len(digits) < LONG_RUN:
            # One stray word between cue and digits ("card number is improving! 4-1").
            kind = _digit_kind(digits, _window(cores, i - 1))
        if kind is not None:
            findings.append(Finding(kind, i, last))
        i = last + 1
    return findings


def _digit_kind(digits: str, before: str) -> str | None:
    """``phone`` or ``number`` for a digit run worth redacting, None for an ordinary number.

    Args:
        digits: the run's digits.
        before: the words just before it (lower case, punctuation stripped).
    """
    if len(digits) < LONG_RUN and not _SHORT_RUN_CUE.search(before):
        return None
    if _CARD_WORDS.search(before):
        return "number"
    if _PHONE_WORDS.search(before):
        return "phone"
    return "phone" if len(digits) in (7, 10, 11) else "number"


def _trailing_punctuation(token: str) -> str:
    match = re.search(r"[.,;:!?]+$", token.strip())
    return match.group(0) if match else ""


def redact_text(text: str) -> RedactedText:
    """Replace personal data in free text (a curator's note, a tag's reason) with placeholders.

    Args:
        text: any text; words are split at whitespace.
    """
    spans = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
    tokens = [text[a:b] for a, b in spans]
    findings = find_personal_data(tokens)
    out, cursor = [], 0
    for f in findings:
        a, b = spans[f.first][0], spans[f.last][1]
        out.append(text[cursor:a])
        out.append(PLACEHOLDERS[f.kind] + _trailing_punctuation(tokens[f.last]))
        cursor = b
    out.append(text[cursor:])
    return RedactedText("".join(out), dict(Counter(f.kind for f in findings)))


@dataclass(frozen=True)
class _Token:
    segment: int
    word: Word
    timed: bool


def redact_segments(
    segments: Sequence[Segment], *, clip_start: float = 0.0, clip_end: float | None = None
) -> RedactedTranscript:
    """Replace personal data in a transcript's words and text, and say which audio to mute.

    Words are searched across segment boundaries (a number is often split between two).
    A segment without word timings is searched in its text and, when it holds personal
    data, muted whole.

    Args:
        segments: the transcript in time order.
        clip_start: where the audio that goes with it starts (mute spans never begin before).
        clip_end: where that audio ends (default: the last segment's end).
    """
    end_of_clip = clip_end if clip_end is not None else max(
        (s.end for s in segments), default=clip_start
    )
    tokens: list[_Token] = []
    for n, seg in enumerate(segments):
        if seg.words:
            tokens.extend(_Token(n, w, True) for w in seg.words)
        else:
            tokens.extend(
                _Token(n, Word(seg.start, seg.end, " " + piece, seg.confidence), False)
                for piece in seg.text.split()
            )
    findings = find_personal_data([t.word.word for t in tokens])
    owner: dict[int, Finding] = {}
    for f in findings:
        for i in range(f.first, f.last + 1):
            owner[i] = f
    spans = [_mute_span(f, tokens, clip_start, end_of_clip) for f in findings]
    unheard = _unheard_numbers(tokens, owner, end_of_clip)
    spans += [MuteSpan(start, end, kind) for start, end, kind in unheard.values()]
    counts = Counter(f.kind for f in findings)
    counts.update(kind for _, _, kind in unheard.values())
    touched = {tokens[i].segment for i in owner} | {tokens[i].segment for i in unheard}
    out: list[Segment] = []
    base = 0
    for n, seg in enumerate(segments):
        count = len(seg.words) if seg.words else len(seg.text.split())
        if n not in touched:
            out.append(seg)
            base += count
            continue
        words: list[Word] = []
        i = base
        while i < base + count:
            finding = owner.get(i)
            if finding is None:
                words.append(tokens[i].word)
                if i in unheard:
                    start, end, kind = unheard[i]
                    words.append(Word(start, end, " " + PLACEHOLDERS[kind], 1.0))
                i += 1
                continue
            stop = min(finding.last, base + count - 1)
            first, last = tokens[i].word, tokens[stop].word
            lead = first.word[: len(first.word) - len(first.word.lstrip())] or (
                " " if words else ""
            )
            text = lead + PLACEHOLDERS[finding.kind] + _trailing_punctuation(last.word)
            words.append(Word(first.start, last.end, text, 1.0))
            i = stop + 1
        base += count
        text = "".join(w.word for w in words).strip()
        out.append(
            Segment(
                start=seg.start, end=seg.end, text=text, confidence=seg.confidence,
                words=tuple(words) if seg.words else (), id=seg.id, track_id=seg.track_id,
            )
        )
    spans.sort(key=lambda span: span.start)
    return RedactedTranscript(tuple(out), tuple(spans), dict(counts))


def _unheard_numbers(
    tokens: Sequence[_Token], owner: dict[int, Finding], clip_end: float
) -> dict[int, tuple[float, float, str]]:
    """Silences (to the model) right after "card number is" and the like: the number itself.

    Returns, by the index of the cue's last word, the stretch to mute and its kind.
    """
    cores = [_core(t.word.word) for t in tokens]
    found: dict[int, tuple[float, float, str]] = {}
    for i, token in enumerate(tokens):
        if not token.timed or i in owner or (i + 1 < len(tokens) and i + 1 in owner):
            continue
        nxt = tokens[i + 1].word.start if i + 1 < len(tokens) else clip_end
        if nxt - token.word.end < CUE_GAP_SECONDS:
            continue
        before = " ".join(cores[max(0, i + 1 - CUE_WINDOW) : i + 1])
        if not _SHORT_RUN_CUE.search(before):
            continue
        kind = "phone" if _PHONE_WORDS.search(before) and not _CARD_WORDS.search(before) else (
            "number"
        )
        found[i] = (token.word.end, nxt, kind)
    return found


def _mute_span(
    finding: Finding, tokens: Sequence[_Token], clip_start: float, clip_end: float
) -> MuteSpan:
    """The audio to silence for a finding: its words, padded, and the silent-to-the-model
    stretches on either side (where the model dropped the rest of a number)."""
    first, last = tokens[finding.first], tokens[finding.last]
    start, end = first.word.start, last.word.end
    if not (first.timed and last.timed):
        start = min(start, min(t.word.start for t in tokens if t.segment == first.segment))
        end = max(end, max(t.word.end for t in tokens if t.segment == last.segment))
    previous_end = tokens[finding.first - 1].word.end if finding.first > 0 else clip_start
    next_start = (
        tokens[finding.last + 1].word.start if finding.last + 1 < len(tokens) else clip_end
    )
    return MuteSpan(
        start=max(clip_start, min(start - PAD_SECONDS, previous_end)),
        end=min(clip_end, max(end + PAD_SECONDS, next_start)),
        kind=finding.kind,
        said_start=start,
        said_end=end,
    )


def find_pauses(
    samples: np.ndarray, sample_rate: int, *, min_pause: float = 0.15, frame: float = 0.01
) -> list[tuple[float, float]]:
    """Quiet stretches of a clip, in seconds: frames well below its speech level.

    The level is judged against the clip itself (its loud frames and its noise floor), so a
    hiss under a recording does not hide the pauses.

    Args:
        samples: mono audio.
        sample_rate: samples per second.
        min_pause: the shortest quiet stretch that counts.
        frame: the analysis frame length in seconds.
    """
    size = max(1, int(frame * sample_rate))
    n = len(samples) // size
    if n == 0:
        return []
    energy = np.sqrt(np.mean(np.square(samples[: n * size].reshape(n, size)), axis=1))
    floor, loud = np.percentile(energy, 10), np.percentile(energy, 95)
    quiet = energy <= max(floor * 2.0, loud * 0.06, 1e-5)
    pauses: list[tuple[float, float]] = []
    start: int | None = None
    for k, q in enumerate([*quiet.tolist(), False]):
        if q and start is None:
            start = k
        elif not q and start is not None:
            if (k - start) * frame >= min_pause:
                pauses.append((start * frame, k * frame))
            start = None
    return pauses


def widen_to_pauses(
    spans: Sequence[MuteSpan],
    samples: np.ndarray,
    sample_rate: int,
    *,
    max_widen: float = 1.5,
) -> tuple[MuteSpan, ...]:
    """Stretch each span out to the pauses around it, so the whole spoken phrase is muted.

    Word timings are least reliable exactly where the model dropped words: a neighbouring
    word is stretched over them ("my" lasting 1.5 s over the end of an address). The
    audio's own pauses bound what was said; a span that starts or ends in speech is moved
    out to the nearest pause, never more than ``max_widen`` seconds, and never inward (with
    no pause that near, the speech runs on and the word timings are trusted).

    Args:
        spans: the spans from :func:`redact_segments`, in the clip's seconds.
        samples: the clip's audio.
        sample_rate: samples per second.
        max_widen: the furthest an edge moves, in seconds.
    """
    pauses = find_pauses(samples, sample_rate)
    duration = len(samples) / sample_rate
    out: list[MuteSpan] = []
    for span in spans:
        start, end = span.start, span.end
        said_start = span.start if span.said_start is None else span.said_start
        said_end = span.end if span.said_end is None else span.said_end
        # An edge that reaches a neighbouring heard word (over a stretch the model left
        # empty) moves only a little further: that word's own timing may be early. An edge
        # set by the padding moves out to the phrase's pause unless a pause already lies
        # between it and the words (the padding must not drag it through the next phrase).
        if not any(a <= start <= b for a, b in pauses):
            if start < said_start - PAD_SECONDS - 1e-6:
                reach = min(max_widen, NEIGHBOUR_WIDEN)
            elif any(a <= said_start + 2 * PAD_SECONDS and b >= start for a, b in pauses):
                reach = 0.0
            else:
                reach = max_widen
            before = [b for a, b in pauses if b <= start and start - b <= reach]
            start = max(before) if before else start
        if not any(a <= end <= b for a, b in pauses):
            if end > said_end + PAD_SECONDS + 1e-6:
                reach = min(max_widen, NEIGHBOUR_WIDEN)
            elif any(a <= end and b >= said_end - 2 * PAD_SECONDS for a, b in pauses):
                reach = 0.0
            else:
                reach = max_widen
            after = [a for a, b in pauses if a >= end and a - end <= reach]
            end = min(after) if after else end
        out.append(MuteSpan(start, min(end, duration), span.kind, span.said_start,
                            span.said_end))
    return tuple(out)


def mute(samples: np.ndarray, sample_rate: int, spans: Sequence[MuteSpan]) -> np.ndarray:
    """A copy of ``samples`` with every span set to silence.

    Args:
        samples: mono audio whose time 0 is the clip start the spans are measured from.
        sample_rate: samples per second.
        spans: what to silence (see :func:`redact_segments`).
    """
    out = np.array(samples, dtype=np.float32, copy=True)
    for span in spans:
        a = max(0, int(np.floor(span.start * sample_rate)))
        b = min(len(out), int(np.ceil(span.end * sample_rate)))
        if b > a:
            out[a:b] = 0.0
    return out

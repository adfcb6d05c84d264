"""Talk-track cutting and the repetition guard, on hand-made transcripts with exact answers."""

from __future__ import annotations

import numpy as np
import pytest

from shadowbox.audio import decode
from shadowbox.models import Segment, Word
from shadowbox.talktracks import cut_talk_tracks
from shadowbox.transcribe import (
    collapse_words,
    guard_repetition,
    pauses_between,
    speech_chunks,
)

from .conftest import SAMPLES


def seg(*timed: tuple[float, str]) -> Segment:
    words = tuple(Word(t, t + 0.4, " " + w, 0.9) for t, w in timed)
    return Segment(words[0].start, words[-1].end, "".join(w.word for w in words).strip(), 0.8,
                   words)


def line(start: float, text: str) -> Segment:
    return seg(*((start + i * 0.5, w) for i, w in enumerate(text.split())))


def test_pause_between_segments_starts_a_new_turn() -> None:
    a = line(0.0, "I hear you the budget is tight this quarter")
    b = line(8.0, "what if we start with one team and expand later")
    turns = cut_talk_tracks([a, b], pause=1.2, min_track=1.0)
    assert [t.text for t in turns] == [a.text, b.text]
    assert (turns[1].start, turns[1].end) == (8.0, 8.0 + 9 * 0.5 + 0.4)


def test_vad_pause_splits_inside_a_segment_even_when_word_gaps_are_small() -> None:
    # Word timings stretch into silence: the gap looks like 0.7 s, the audio says 2 s.
    s = seg((0, "that"), (0.5, "makes"), (1.0, "sense"), (2.2, "today"), (3.3, "here's"),
            (3.8, "what"), (4.3, "I"), (4.8, "suggest"))
    turns = cut_talk_tracks([s], pause=1.2, min_track=0.5, pauses=[(1.8, 3.8)])
    assert [t.text for t in turns] == ["that makes sense today", "here's what I suggest"]
    assert turns[1].segments[0].words[0].word == " here's"
    # Without the audio's pauses, word gaps are all we have and they are too short.
    assert len(cut_talk_tracks([s], pause=1.2, min_track=0.5)) == 1


def test_short_pauses_do_not_split() -> None:
    a = line(0.0, "first part of a thought")
    b = line(3.0, "and the rest of it")
    assert len(cut_talk_tracks([a, b], pause=1.2, min_track=1.0, pauses=[(2.3, 3.0)])) == 1


def test_short_aside_joins_the_nearer_turn() -> None:
    a = line(0.0, "let me walk you through the rollout plan in detail now")
    sure = line(8.0, "sure")
    b = line(9.6, "so the second phase covers the reporting for your managers")
    turns = cut_talk_tracks([a, sure, b], pause=1.2, min_track=3.0)
    assert [t.text for t in turns] == [a.text, "sure " + b.text]


def test_empty_transcript_has_no_turns() -> None:
    assert cut_talk_tracks([]) == []


def test_repetition_loops_are_collapsed_and_repeated_segments_dropped() -> None:
    loop = line(0.0, "thank you thank you thank you thank you so much")
    again = line(6.0, "Thank you, so much!")
    assert [w.word.strip() for w in collapse_words(loop.words)] == ["thank", "you", "so", "much"]
    out = list(guard_repetition([loop, line(6.0, "thank you so much"), again, line(9, "bye")]))
    assert [s.text for s in out] == ["thank you so much", "bye"]


def test_pauses_are_found_between_real_speech_across_windows() -> None:
    speech = decode(SAMPLES / "09_rapport_conference.flac").samples[: 16000 * 4]
    gap = np.zeros(16000 * 2, dtype=np.float32)
    audio = np.concatenate([speech, gap, speech])
    pauses = pauses_between(speech_chunks(audio, 1.2), 1.2)
    assert len(pauses) == 1
    start, end = pauses[0]
    assert 1.9 <= end - start <= 2.6
    # Two windows cut inside the gap (as the worker's lanes see them) find the same pause.
    cut = 16000 * 5
    split = speech_chunks(audio, 1.2, 0, cut) + speech_chunks(audio, 1.2, cut, len(audio))
    (split_pause,) = pauses_between(split, 1.2)
    # (the detector's 32 ms frames fall on another grid in the second window)
    assert split_pause == pytest.approx(pauses[0], abs=0.04)
    # int16 (how the worker holds a long call) is read the same way.
    compact = np.rint(audio * 32767).astype(np.int16)
    assert len(pauses_between(speech_chunks(compact, 1.2), 1.2)) == 1
    assert pauses_between(speech_chunks(np.zeros(16000 * 5, dtype=np.float32), 1.2), 1.2) == []

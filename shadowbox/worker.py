"""The transcription worker: take a job from the SQLite queue, transcribe, cut, tag, store.

Jobs are leased, so a killed worker's job is picked up again once its lease runs out; a
call's transcript is written in one transaction, never half. One worker loads the speech
model once and keeps it for every job.
"""

from __future__ import annotations

import os
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .audio import SAMPLE_RATE, DecodedAudio, decode
from .config import Settings, taxonomy_files
from .errors import ShadowboxError
from .library import LEASE_SECONDS, Library, NewSegment, NewTrack
from .models import Call, Job, Segment, Tag
from .objections import Tagger, load_taxonomy
from .talktracks import cut_talk_tracks
from .transcribe import (
    DecodeOptions,
    Transcriber,
    guard_repetition,
    pauses_between,
    speech_chunks,
)


@dataclass(frozen=True)
class Progress:
    """Where a job stands, for progress bars and the TUI."""

    call: Call
    fraction: float
    elapsed: float
    audio_seconds: float

    @property
    def eta(self) -> float | None:
        """Seconds left at the pace so far, once there is a pace to go by."""
        if self.fraction <= 0.02 or self.elapsed <= 0:
            return None
        return self.elapsed * (1 - self.fraction) / self.fraction


@dataclass
class WorkerReport:
    """What a worker run did: calls transcribed and calls that failed (with reasons)."""

    done: list[Call] = field(default_factory=list)
    failed: list[tuple[Call, str]] = field(default_factory=list)


ProgressCallback = Callable[[Progress], None]


def worker_name() -> str:
    """A lease owner name unique to this process and run."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def tag_turn_tags(tagger: Tagger, text: str) -> tuple[Tag, ...]:
    """The automatic objection tags for one talk track, each with its reason."""
    return tuple(
        Tag(kind="objection", value=t.objection, source="auto", confidence=t.confidence,
            reason=t.reason)
        for t in tagger.tag(text)
    )


class Worker:
    """Runs transcription jobs from a library's queue with one loaded model."""

    def __init__(
        self,
        library: Library,
        settings: Settings,
        *,
        model: str | None = None,
        on_progress: ProgressCallback | None = None,
        on_start: Callable[[Call], None] | None = None,
    ) -> None:
        """Prepare a worker; the model is loaded on the first job, not here.

        Args:
            library: the open library whose queue to work.
            settings: model, decoding and talk-track settings.
            model: overrides ``settings.model``.
            on_progress: called as segments arrive (from this thread).
            on_start: called when a job starts.
        """
        self.library = library
        self.settings = settings
        self.model_name = model or settings.model
        self.on_progress = on_progress
        self.on_start = on_start
        self.owner = worker_name()
        self._transcriber: Transcriber | None = None
        self._tagger: Tagger | None = None
        self._events: queue.SimpleQueue[tuple[_Running, int, float]] = queue.SimpleQueue()
        self.stop_event = threading.Event()

    @property
    def transcriber(self) -> Transcriber:
        """The speech model, loaded once on first use."""
        if self._transcriber is None:
            self._transcriber = Transcriber(
                self.model_name,
                DecodeOptions(beam_size=self.settings.beam_size,
                              cpu_threads=self.settings.cpu_threads),
            )
        return self._transcriber

    @property
    def tagger(self) -> Tagger:
        """The objection tagger for the taxonomy in force."""
        if self._tagger is None:
            self._tagger = Tagger(load_taxonomy(taxonomy_files(self.settings)))
        return self._tagger

    def run(
        self, *, once: bool = True, poll_seconds: float = 2.0, call_ids: Sequence[str] = ()
    ) -> WorkerReport:
        """Work the queue until it is empty (``once``) or until :attr:`stop_event` is set.

        Windows of audio are transcribed in the model's lanes (threads) while this thread
        keeps every database write, lease and progress report, so a batch of short calls
        keeps both cores busy and a long call is split across them.

        Args:
            once: return when no job is waiting, rather than polling for new ones.
            poll_seconds: how often to look for new jobs when not ``once``.
            call_ids: only work on jobs of these calls.
        """
        report = WorkerReport()
        if once and not self.library.queued_jobs():
            return report
        # A model that cannot load is the worker's problem, not the recordings': load it
        # before taking a job so that no job is failed for it.
        lanes = self.transcriber.lanes
        pool = ThreadPoolExecutor(lanes, thread_name_prefix="shadowbox-transcribe")
        self._events = queue.SimpleQueue()
        tasks: dict[Future[Any], tuple[_Running, int]] = {}
        running: list[_Running] = []
        try:
            while True:
                while not self.stop_event.is_set() and len(tasks) < lanes:
                    job = self.library.claim_job(self.owner, call_ids=call_ids)
                    if job is None:
                        break
                    run = _Running(job, self.library.get_call(job.call_id))
                    running.append(run)
                    if self.on_start:
                        self.on_start(run.call)
                    tasks[pool.submit(self._decode, run)] = (run, _DECODE)
                if not tasks:
                    if once or self.stop_event.is_set():
                        break
                    self.stop_event.wait(poll_seconds)
                    continue
                finished, _ = wait(tasks, timeout=0.2, return_when=FIRST_COMPLETED)
                self._report_progress(running)
                for future in finished:
                    run, window = tasks.pop(future)
                    if run.over:
                        continue
                    try:
                        result = future.result()
                    except ShadowboxError as exc:
                        run.over = True
                        self.library.fail_job(run.job, str(exc))
                        report.failed.append((run.call, str(exc)))
                        continue
                    except _Cancelled:
                        continue
                    if window == _DECODE:
                        self._start_windows(run, result, pool, tasks)
                    else:
                        run.parts[window] = result
                    if run.audio is not None and len(run.parts) == len(run.windows):
                        run.over = True
                        if self._finish(run):
                            report.done.append(self.library.get_call(run.call.id))
                if self.stop_event.is_set():
                    for run in running:
                        if not run.over:
                            run.over = True
                            self.library.release_job(run.job)
                running = [r for r in running if not r.over]
        except BaseException:
            for run in running:
                if not run.over:
                    run.over = True
                    self.library.release_job(run.job)
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return report

    # ---------------------------------------------------------------- in the lanes

    def _decode(self, run: _Running) -> DecodedAudio:
        # A long call waits as int16 (an hour in 115 MB, not 230 MB) while the lanes read it
        # window by window; a short one stays float32, exactly as decoded (requantising an
        # Ogg clip moved tiny.en's beam on a few near-tied words).
        duration = run.call.duration
        compact = duration is None or duration > COMPACT_AFTER_SECONDS
        return decode(self.library.audio_file(run.call), run.call.channel, compact=compact)

    def _transcribe_window(
        self, run: _Running, samples: np.ndarray, start: int, end: int
    ) -> tuple[list[Segment], list[tuple[int, int]]]:
        """One window's segments and speech chunks (for the pauses between talk tracks)."""
        segments: list[Segment] = []
        for seg in self.transcriber.transcribe_window(samples, start, end):
            if run.over or self.stop_event.is_set():
                raise _Cancelled
            segments.append(seg)
            self._events.put((run, start, seg.end * SAMPLE_RATE - start))
        chunks = speech_chunks(samples, self.settings.pause_seconds, start, end)
        self._events.put((run, start, end - start))
        return segments, chunks

    # ---------------------------------------------------------------- in this thread

    def _start_windows(
        self, run: _Running, audio: DecodedAudio, pool: ThreadPoolExecutor,
        tasks: dict[Future[Any], tuple[_Running, int]],
    ) -> None:
        run.audio = audio
        run.windows = self.transcriber.windows(audio.samples)
        for i, (start, end) in enumerate(run.windows):
            future = pool.submit(self._transcribe_window, run, audio.samples, start, end)
            tasks[future] = (run, i)

    def _report_progress(self, running: Sequence[_Running]) -> None:
        """Turn the lanes' progress events into progress callbacks, and keep the lease of
        every job in flight (one waiting for a lane as much as one being transcribed)."""
        touched: set[int] = set()
        while True:
            try:
                run, window_start, done = self._events.get_nowait()
            except queue.Empty:
                break
            run.reached[window_start] = max(run.reached.get(window_start, 0.0), done)
            touched.add(id(run))
        now = time.monotonic()
        for run in running:
            if run.over:
                continue
            total = len(run.audio.samples) if run.audio is not None else 0
            fraction = min(sum(run.reached.values()) / total, 1.0) if total else 0.0
            if now - run.last_renew > LEASE_SECONDS / 4:
                if not self.library.renew_lease(run.job, fraction):
                    run.over = True  # another worker took the job over
                    continue
                run.last_renew = now
            if self.on_progress and run.audio is not None and id(run) in touched:
                self.on_progress(
                    Progress(run.call, fraction, now - run.began, run.audio.duration)
                )

    def _finish(self, run: _Running) -> bool:
        """Cut, tag and store a call whose windows are all transcribed; False if not stored."""
        assert run.audio is not None
        segments: list[Segment] = []
        chunks: list[tuple[int, int]] = []
        for i in range(len(run.windows)):
            window_segments, window_chunks = run.parts[i]
            segments.extend(window_segments)
            chunks.extend(window_chunks)
        segments = list(guard_repetition(segments))
        pauses = pauses_between(chunks, self.settings.pause_seconds)
        turns = cut_talk_tracks(
            segments, self.settings.pause_seconds, self.settings.min_track_seconds, pauses
        )
        new_segments: list[NewSegment] = []
        new_tracks: list[NewTrack] = []
        tagger = self.tagger
        for index, turn in enumerate(turns):
            new_tracks.append(
                NewTrack(index, turn.start, turn.end, turn.text, tag_turn_tags(tagger, turn.text))
            )
            new_segments.extend(NewSegment(s, index) for s in turn.segments)
        stored = self.library.complete_job(
            run.job, duration=run.audio.duration, model=self.transcriber.label,
            segments=new_segments, tracks=new_tracks,
        )
        if stored and self.on_progress:
            self.on_progress(
                Progress(run.call, 1.0, time.monotonic() - run.began, run.audio.duration)
            )
        return stored


COMPACT_AFTER_SECONDS = 20 * 60
"""Calls longer than this are held as int16 while they are transcribed (see ``_decode``)."""

_DECODE = -1
"""The task index of a call's decoding (its windows are 0, 1, ...)."""


class _Cancelled(Exception):
    """A lane gave up its window: the job was stopped, lost or failed elsewhere."""


@dataclass(eq=False)
class _Running:
    """A job in flight: its audio, windows and what the lanes have returned so far."""

    job: Job
    call: Call
    began: float = field(default_factory=time.monotonic)
    last_renew: float = field(default_factory=time.monotonic)
    audio: DecodedAudio | None = None
    windows: list[tuple[int, int]] = field(default_factory=list)
    parts: dict[int, tuple[list[Segment], list[tuple[int, int]]]] = field(default_factory=dict)
    reached: dict[int, float] = field(default_factory=dict)
    over: bool = False

"""The transcription worker: take a job from the SQLite queue, transcribe, cut, tag, store.

Jobs are leased, so a killed worker's job is picked up again once its lease runs out; a
call's transcript is written in one transaction, never half. One worker loads the speech
model once and keeps it for every job.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .audio import decode
from .config import Settings, taxonomy_files
from .errors import ShadowboxError
from .library import LEASE_SECONDS, Library, NewSegment, NewTrack
from .models import Call, Job, Segment, Tag
from .objections import Tagger, load_taxonomy
from .talktracks import cut_talk_tracks
from .transcribe import DecodeOptions, Transcriber, find_pauses


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
        _ = self.transcriber
        while not self.stop_event.is_set():
            job = self.library.claim_job(self.owner, call_ids=call_ids)
            if job is None:
                if once:
                    break
                self.stop_event.wait(poll_seconds)
                continue
            call = self.library.get_call(job.call_id)
            try:
                finished = self.process(job, call)
            except ShadowboxError as exc:
                self.library.fail_job(job, str(exc))
                report.failed.append((call, str(exc)))
                continue
            except KeyboardInterrupt:
                self.library.release_job(job)
                raise
            if finished:
                report.done.append(self.library.get_call(call.id))
        return report

    def process(self, job: Job, call: Call) -> bool:
        """Transcribe one call and store its transcript, talk tracks and tags in one go.

        Returns False if the job's lease was lost (another worker took it over).
        """
        if self.on_start:
            self.on_start(call)
        audio = decode(self.library.audio_file(call), call.channel)
        transcriber = self.transcriber
        began = time.monotonic()
        last_renew = began
        segments: list[Segment] = []
        for seg in transcriber.transcribe(audio.samples):
            segments.append(seg)
            fraction = min(seg.end / audio.duration, 1.0) if audio.duration else 1.0
            now = time.monotonic()
            if now - last_renew > LEASE_SECONDS / 4:
                if not self.library.renew_lease(job, fraction):
                    return False
                last_renew = now
            if self.on_progress:
                self.on_progress(Progress(call, fraction, now - began, audio.duration))
            if self.stop_event.is_set():
                self.library.release_job(job)
                return False
        pauses = find_pauses(audio.samples, self.settings.pause_seconds, audio.sample_rate)
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
            job, duration=audio.duration, model=transcriber.label,
            segments=new_segments, tracks=new_tracks,
        )
        if stored and self.on_progress:
            self.on_progress(Progress(call, 1.0, time.monotonic() - began, audio.duration))
        return stored

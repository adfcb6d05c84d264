"""Recording sessions: consent, the spoken notice, markers, stop, compaction and crash recovery.

A session turns one recorded call into a library call. Consent is settled before the
microphone opens. While recording, two files sit in the library's ``audio/`` folder: the
growing WAV (``<id>.recording.wav``, written by :class:`shadowbox.capture.Recorder`) and an
append-only sidecar (``<id>.recording.jsonl``) holding the consent, title, rep, start time
and markers. The recording process holds an exclusive flock on the sidecar until the call is
stored, so :func:`recover_interrupted` (run by every command that opens the library) can tell
a live recording from an interrupted one, and two processes never recover the same one.

On stop the WAV is compacted to 16 kHz FLAC: the speech model only ever hears 16 kHz mono,
so resampling once (as the decoder would) and keeping that losslessly loses nothing any
Whisper model could use; the model's input from it differs from the WAV's by 16-bit rounding
only. It takes about 0.9-1.1 MB a minute of speech against 5.6 MB for a 48 kHz WAV. On the 14
sample clips (``benchmarks/capture.py --wer``) the word error rate against the scripts was
0.061 from the WAV, 0.065 from the FLAC and 0.070 from Ogg Opus at 32 kbit/s (about 230 KB
a minute), and the FLAC's transcripts matched the WAV's far more often, so FLAC it is. The
call is then stored with its consent and markers, and queued.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sqlite3
import struct
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .audio import SAMPLE_RATE, check_path, file_hash
from .config import CONSENT_METHODS, Settings, validate_consent
from .errors import (
    AudioError,
    ConsentError,
    DeviceError,
    LibraryError,
    NotFoundError,
    ShadowboxError,
)
from .library import Library, create_private_file, now_iso
from .models import Call, Consent, Marker

if TYPE_CHECKING:
    import numpy as np

    from .capture import Device, Fault, Level, Recorder

PARTIAL_SUFFIX = ".recording.wav"
SIDECAR_SUFFIX = ".recording.jsonl"
COMPACT_SUFFIX = ".flac"
COMPACT_FORMAT = "FLAC 16 kHz"
SIDECAR_VERSION = 1
NOTICE_FILE = Path(__file__).resolve().parent / "data" / "consent_notice.ogg"
"""The spoken consent notice shipped with the package (espeak-ng, Ogg Opus)."""
STALE_EMPTY_SIDECAR = 60.0
"""An unreadable sidecar this old, with no audio beside it, is debris from a crash at start."""

ConsentAsker = Callable[[Sequence[str], str | None], str | None]
"""Asks a person how consent was given: (allowed methods, default) -> a method or None."""
ProblemCallback = Callable[[Path, str], None]


# ---------------------------------------------------------------------- consent


def resolve_record_consent(
    method: str | None, settings: Settings, ask: ConsentAsker | None = None
) -> str:
    """Settle how the other party consented, before any device is opened.

    A live call needs a fresh answer: the flag, or the rep's answer on the terminal (the
    configured ``consent`` is only offered as the default answer). Without either, refuse.

    Args:
        method: the ``--consent`` flag, if given.
        settings: supplies ``require_announcement`` and the default answer.
        ask: asks the rep on a terminal; None when there is no terminal.
    """
    allowed: tuple[str, ...] = (
        ("announcement",) if settings.require_announcement else CONSENT_METHODS
    )
    if method is not None:
        norm = validate_consent(method, "--consent")
        assert norm is not None
        if norm not in allowed:
            raise ConsentError(
                f"Recording refused: policy requires announcement consent (the notice is "
                f"played to the other party), got {norm!r}"
            )
        return norm
    if ask is None:
        raise ConsentError(
            "Recording refused: no consent given and no terminal to ask on; pass --consent "
            + "|".join(allowed)
        )
    default = settings.consent if settings.consent in allowed else None
    answer = ask(allowed, default)
    if not answer:
        raise ConsentError("Recording refused: the other party's consent was not confirmed")
    norm = validate_consent(answer, "the answer")
    assert norm is not None
    if norm not in allowed:
        raise ConsentError(f"Recording refused: policy requires announcement consent, got {norm!r}")
    return norm


def notice_path(settings: Settings) -> Path:
    """The consent notice to play: the ``announcement_file`` setting, else the packaged one."""
    return settings.announcement_file or NOTICE_FILE


def play_announcement(path: Path, device: str | int | Device | None = None) -> float:
    """Play the spoken consent notice through an output device and wait until it is heard.

    Args:
        path: the notice (any format PyAV decodes).
        device: the output device (see :func:`shadowbox.capture.find_output_device`).

    Returns the notice's length in seconds.
    """
    import sounddevice as sd

    from .capture import Device, find_output_device

    out = device if isinstance(device, Device) else find_output_device(device)
    rate = round(out.default_samplerate)
    samples = decode_mono(path, rate)
    try:
        with sd.OutputStream(
            device=out.index, samplerate=rate, channels=1, dtype="float32"
        ) as stream:
            stream.write(samples.reshape(-1, 1))
            # Stopping waits for queued buffers; a short tail makes sure the end is heard.
            stream.write(_zeros(int(rate * 0.2)))
    except sd.PortAudioError as exc:
        raise DeviceError(
            f"Output device {out.name!r}: cannot play the consent notice ({exc})"
        ) from None
    return len(samples) / rate


def _zeros(frames: int) -> np.ndarray:
    import numpy as np

    return np.zeros((frames, 1), dtype=np.float32)


def decode_mono(path: Path, rate: int) -> np.ndarray:
    """Decode a short file to mono float32 at ``rate`` (for the notice, not for calls)."""
    import av
    import numpy as np

    check_path(path)
    chunks: list[np.ndarray] = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise AudioError(f"Consent notice {path}: the file has no audio stream")
            resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
            for frame in container.decode(container.streams.audio[0]):
                chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(frame))
            chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(None))
    except av.error.FFmpegError as exc:
        raise AudioError(f"Consent notice {path}: not a readable audio file ({exc})") from None
    if not chunks:
        raise AudioError(f"Consent notice {path}: it holds no audio")
    return np.ascontiguousarray(np.concatenate(chunks), dtype=np.float32)


# ---------------------------------------------------------------------- the sidecar


@dataclass(frozen=True)
class SessionHeader:
    """What the sidecar records first: everything needed to rebuild the call after a crash."""

    call_id: str
    title: str
    rep: str | None
    recorded_at: str
    consent: Consent
    device: str
    samplerate: int
    channels: int
    host: str
    pid: int

    def to_json(self) -> dict[str, Any]:
        """The header line's fields."""
        data = asdict(self)
        data["consent"] = asdict(self.consent)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SessionHeader:
        """Read a header line back (raises KeyError or TypeError when it is not one)."""
        fields = dict(data)
        fields.pop("kind", None)
        fields.pop("version", None)
        fields["consent"] = Consent(**fields["consent"])
        return cls(**fields)


@dataclass
class SidecarLog:
    """A sidecar read back: the header, the markers and the stop record if it got that far."""

    header: SessionHeader
    markers: list[Marker] = field(default_factory=list)
    stop: dict[str, Any] | None = None


def read_sidecar(path: Path) -> SidecarLog | None:
    """Parse a sidecar; None if its header is missing or torn (a crash before it was written).

    Lines after the header that do not parse (a torn last line) are ignored.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    if not lines:
        return None
    try:
        head = json.loads(lines[0])
        if head.get("kind") != "header":
            return None
        log = SidecarLog(SessionHeader.from_json(head))
    except (ValueError, KeyError, TypeError):
        return None
    for line in lines[1:]:
        try:
            entry = json.loads(line)
            if entry.get("kind") == "marker":
                log.markers.append(Marker(at=float(entry["at"]), label=entry.get("label")))
            elif entry.get("kind") == "stop":
                log.stop = entry
        except (ValueError, KeyError, TypeError, AttributeError):
            continue  # a line torn by the crash
    return log


class _Sidecar:
    """The open, locked sidecar of a live recording; appends are synced to disk."""

    def __init__(self, path: Path, header: SessionHeader) -> None:
        self.path = path
        self.fd = create_private_file(path)
        try:
            # Blocks only while a recovering process that raced our creation looks at it.
            fcntl.flock(self.fd, fcntl.LOCK_EX)
            # Written, not yet synced: a killed process loses nothing written, and the sync
            # (see sync()) waits until the microphone is open, off the key-press path.
            self.append({"kind": "header", "version": SIDECAR_VERSION, **header.to_json()},
                        sync=False)
        except BaseException:
            self.remove()
            raise

    def append(self, entry: dict[str, Any], *, sync: bool = True) -> None:
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        os.write(self.fd, line.encode("utf-8"))
        if sync:
            os.fsync(self.fd)

    def sync(self) -> None:
        """Make the sidecar and its name durable (against power loss, not only a kill)."""
        os.fsync(self.fd)
        _fsync_dir(self.path.parent)

    def remove(self) -> None:
        """Delete the sidecar, then release the lock (in that order: no one may re-take it)."""
        self.path.unlink(missing_ok=True)
        self.release()

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


# ---------------------------------------------------------------------- a session


@dataclass(frozen=True)
class SavedRecording:
    """A finished recording: the stored call and what the rep should be told about it."""

    call: Call
    duration: float
    markers: tuple[Marker, ...]
    overflows: int
    dropped_samples: int
    fault: Fault | None
    audio_format: str
    audio_bytes: int
    recovered: bool = False
    note: str | None = None


class RecordingSession:
    """One call recorded from the rep's microphone, from consent to a queued library call.

    ``start()`` plays the notice when consent is by announcement, writes the sidecar and
    starts the Recorder; ``mark()`` drops a bookmark; ``stop()`` stores the call. The TUI's
    record screen and ``shadowbox record`` both drive this class.
    """

    def __init__(
        self,
        library: Library,
        settings: Settings,
        *,
        consent: str,
        title: str | None = None,
        rep: str | None = None,
        device: str | int | Device | None = None,
        output_device: str | int | None = None,
        samplerate: int | None = None,
        reserve_bytes: int | None = None,
    ) -> None:
        """Prepare a session; nothing is opened or written until :meth:`start`.

        Args:
            library: the open library the call goes into.
            settings: supplies the rep, the notice file and the consent policy.
            consent: a method settled by :func:`resolve_record_consent`.
            title: the call's title (default: "Call <local date and time>").
            rep: the rep recording (default: the ``rep`` setting).
            device: the input device (see :func:`shadowbox.capture.find_input_device`).
            output_device: where the consent notice is played (default output if None).
            samplerate: None records at the device's native rate.
            reserve_bytes: free disk space to keep (see :class:`shadowbox.capture.Recorder`).
        """
        from .capture import Device, find_input_device

        self.library = library
        self.settings = settings
        self.consent_method = validate_consent(consent, "the session") or "verbal"
        self.device = device if isinstance(device, Device) else find_input_device(device)
        self.output_device = output_device
        self.samplerate = samplerate
        self.reserve_bytes = reserve_bytes
        self.call_id = str(uuid.uuid4())
        stamp = datetime.now().astimezone()
        self.title = title or f"Call {stamp:%Y-%m-%d %H:%M}"
        self.rep = rep or settings.rep
        self.wav_path = library.audio_dir / f"{self.call_id}{PARTIAL_SUFFIX}"
        self.sidecar_path = library.audio_dir / f"{self.call_id}{SIDECAR_SUFFIX}"
        self.markers: list[Marker] = []
        self.header: SessionHeader | None = None
        self._recorder: Recorder | None = None
        self._sidecar: _Sidecar | None = None
        self._saved: SavedRecording | None = None

    @property
    def recorder(self) -> Recorder:
        """The running Recorder (its level meter, elapsed time and fault)."""
        if self._recorder is None:
            raise DeviceError(f"Recording {self.title!r}: not started")
        return self._recorder

    def start(self) -> None:
        """Play the notice if consent is by announcement, then open the files and the mic."""
        from .capture import Recorder

        played = False
        note = {
            "verbal": "the rep confirmed the other party agreed, before recording",
            "written": "the rep declared written consent, before recording",
        }.get(self.consent_method)
        if self.consent_method == "announcement":
            notice = notice_path(self.settings)
            play_announcement(notice, self.output_device)
            played = True
            note = f"notice {notice.name} played to the other party before recording"
        header = SessionHeader(
            call_id=self.call_id, title=self.title, rep=self.rep, recorded_at=now_iso(),
            consent=Consent(method=self.consent_method, given_at=now_iso(), given_by=self.rep,
                            announcement_played=played, note=note),
            device=self.device.name,
            samplerate=self.samplerate or round(self.device.default_samplerate),
            channels=1, host=socket.gethostname(), pid=os.getpid(),
        )
        self.header = header
        self._sidecar = _Sidecar(self.sidecar_path, header)
        try:
            self._recorder = Recorder(
                self.wav_path, device=self.device, samplerate=header.samplerate,
                reserve_bytes=self.reserve_bytes,
            )
            self._recorder.start()
        except BaseException:
            self._sidecar.remove()
            self._sidecar = None
            raise
        self._sidecar.sync()

    def mark(self, label: str | None = None) -> Marker:
        """Drop a bookmark at this moment of the recording (kept even if the process dies).

        Args:
            label: an optional word or two shown with the bookmark.
        """
        if self._sidecar is None:
            raise DeviceError(f"Recording {self.title!r}: not started")
        marker = Marker(at=round(self.recorder.elapsed, 3), label=label)
        self.markers.append(marker)
        self._sidecar.append({"kind": "marker", "at": marker.at, "label": label})
        return marker

    def stop(self) -> SavedRecording:
        """Stop recording, compact the audio and store the call (queued for transcription).

        Raises DeviceError when no audio at all was recorded (nothing is stored then).
        """
        if self._saved is not None:
            return self._saved
        recorder = self.recorder
        sidecar, header = self._sidecar, self.header
        assert sidecar is not None and header is not None
        result = recorder.stop()
        try:
            with contextlib.suppress(OSError):  # the stop record only helps recovery
                sidecar.append({
                    "kind": "stop", "frames": result.frames, "overflows": result.overflows,
                    "dropped_samples": result.dropped_samples,
                    "fault": result.fault.message if result.fault else None,
                })
            saved = _finalize(
                self.library, header, self.wav_path, self.markers,
                overflows=result.overflows, dropped_samples=result.dropped_samples,
                recovered=False, fault=result.fault,
            )
            if saved is None:
                sidecar.remove()
                reason = result.fault.message if result.fault else "no audio arrived"
                raise DeviceError(
                    f"Input device {self.device.name!r}: nothing was recorded ({reason})"
                )
            sidecar.remove()
        finally:
            sidecar.release()
        self._saved = saved
        return saved


# ---------------------------------------------------------------------- storing a recording


def _finalize(
    library: Library,
    header: SessionHeader,
    wav: Path,
    markers: Sequence[Marker],
    *,
    overflows: int,
    dropped_samples: int,
    recovered: bool,
    fault: Fault | None = None,
) -> SavedRecording | None:
    """Compact a recording and store its call; the caller holds the sidecar lock.

    Every step can be repeated after a crash: the compacted file is written under a ``.part``
    name and renamed; the WAV is deleted only once the call row exists. Returns None when the
    recording holds no audio (its files are removed).
    """
    audio = library.audio_dir
    existing = _existing_call(library, header.call_id)
    if existing is not None:
        wav.unlink(missing_ok=True)
        return None
    final_wav = audio / f"{header.call_id}.wav"
    compacted = audio / f"{header.call_id}{COMPACT_SUFFIX}"
    note: str | None = None
    if wav.exists():
        info = repair_wav_header(wav)
        if info.frames == 0:
            wav.unlink(missing_ok=True)
            return None
        duration = info.frames / info.samplerate
        try:
            compact(wav, compacted, comment=f"shadowbox call {header.call_id}")
            target, audio_format = compacted, COMPACT_FORMAT
        except (OSError, AudioError) as exc:
            # Most likely the disk is full: keep the WAV itself rather than lose the call.
            os.replace(wav, final_wav)
            _fsync_dir(audio)
            target, audio_format = final_wav, "WAV (not compacted)"
            note = f"kept as WAV: compaction failed ({_reason(exc)})"
    elif final_wav.exists():
        import soundfile as sf

        target, audio_format = final_wav, "WAV (not compacted)"
        duration = sf.info(str(final_wav)).duration
    else:
        return None
    try:
        call = library.add_call(
            call_id=header.call_id, title=header.title, audio_path=f"audio/{target.name}",
            audio_hash=file_hash(target), duration=duration, consent=header.consent,
            rep=header.rep, recorded_at=header.recorded_at,
            source=f"recorded from {header.device}", recovered=recovered,
            dropped_samples=dropped_samples, markers=markers, queue=True,
        )
    except sqlite3.Error as exc:
        raise LibraryError(
            f"Recording {header.title!r}: audio kept in {target}, but the library could not "
            f"store the call ({exc}); the next command stores it once that is fixed"
        ) from None
    wav.unlink(missing_ok=True)
    return SavedRecording(
        call=call, duration=duration, markers=tuple(markers), overflows=overflows,
        dropped_samples=dropped_samples, fault=fault, audio_format=audio_format,
        audio_bytes=target.stat().st_size, recovered=recovered, note=note,
    )


def _existing_call(library: Library, call_id: str) -> Call | None:
    try:
        call = library.get_call(call_id)
    except NotFoundError:
        return None
    return call if call.id == call_id else None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


@dataclass(frozen=True)
class WavInfo:
    """Where a PCM WAV's samples are and how many there are."""

    frames: int
    samplerate: int
    channels: int
    data_offset: int


def repair_wav_header(path: Path) -> WavInfo:
    """Make a WAV's header agree with the bytes on disk (a killed writer may lag by a block).

    The data chunk is taken to run to the end of the file, as it does in a WAV libsndfile is
    still writing; a torn last frame is left out of the count.
    """
    with path.open("r+b") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            raise AudioError(f"Recording {path}: not a WAV file")
        channels = samplerate = block_align = 0
        while True:
            chunk = fh.read(8)
            if len(chunk) < 8:
                raise AudioError(f"Recording {path}: no data chunk (the file is truncated)")
            cid, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if cid == b"fmt ":
                fmt = fh.read(size + (size & 1))
                channels, samplerate = struct.unpack("<HI", fmt[2:8])
                block_align = struct.unpack("<H", fmt[12:14])[0]
            elif cid == b"data":
                break
            else:
                fh.seek(size + (size & 1), os.SEEK_CUR)
        if not block_align or not samplerate:
            raise AudioError(f"Recording {path}: no format chunk before the data")
        offset = fh.tell()
        end = os.fstat(fh.fileno()).st_size
        data_len = (end - offset) // block_align * block_align
        if size != data_len:
            fh.seek(offset - 4)
            fh.write(struct.pack("<I", data_len))
            fh.seek(4)
            fh.write(struct.pack("<I", offset - 8 + data_len))
            fh.flush()
            os.fsync(fh.fileno())
    return WavInfo(data_len // block_align, samplerate, channels, offset)


def compact(wav: Path, target: Path, *, comment: str | None = None) -> int:
    """Store a recording as 16 kHz FLAC: what the speech model hears, rounded to 16 bits.

    The speech model only ever hears 16 kHz mono; resampling once here, as the decoder
    (:func:`shadowbox.audio.decode`) would, and keeping the result losslessly means the
    model hears the same samples from the compacted file, up to 16-bit rounding. The file is
    written under ``<target>.part`` and renamed once whole; memory stays flat however long
    the call.

    Args:
        wav: the PCM WAV written while recording.
        target: the ``.flac`` file to create (replaced if a crash left one behind).
        comment: stored in the file's tags (the call id makes every file's hash unique).

    Returns the size of the compacted file in bytes.
    """
    import av
    import numpy as np
    import soundfile as sf

    part = target.with_name(target.name + ".part")
    part.unlink(missing_ok=True)  # debris of a compaction that was killed; the lock is ours
    fd = create_private_file(part)
    try:
        with sf.SoundFile(
            fd, "w", samplerate=SAMPLE_RATE, channels=1, subtype="PCM_16", format="FLAC",
            closefd=False, compression_level=1.0,
        ) as dst, av.open(str(wav), metadata_errors="ignore") as src:
            if comment:
                dst.comment = comment
            stream = src.streams.audio[0]
            mono = stream.codec_context.channels == 1
            resampler = av.AudioResampler(
                format="fltp", layout="mono" if mono else "stereo", rate=SAMPLE_RATE
            )

            def write(frames: list[Any]) -> None:
                for frame in frames:
                    planes = frame.to_ndarray()
                    block = planes[0] if mono else (planes[0] + planes[1]) * 0.5
                    dst.write(np.clip(np.rint(block * 32768.0), -32768, 32767).astype(np.int16))

            for frame in src.decode(stream):
                frame.pts = None
                write(resampler.resample(frame))
            write(resampler.resample(None))
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(part, target)
        _fsync_dir(target.parent)
    except av.error.FFmpegError as exc:
        part.unlink(missing_ok=True)
        raise AudioError(f"Recording {wav.name}: could not compact it ({exc})") from None
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    finally:
        if fd >= 0:
            os.close(fd)
    return target.stat().st_size


# ---------------------------------------------------------------------- recovery


def recover_interrupted(
    library: Library, *, on_problem: ProblemCallback | None = None
) -> list[Call]:
    """Turn recordings interrupted by a crash or a kill into calls, queued for transcription.

    Every command that opens a library calls this. A recording still being written is
    skipped (its process holds the sidecar's lock), and so is one another process is
    recovering right now. Each recovered call is marked recovered and keeps its consent and
    markers. Cheap when there is nothing to do: one directory listing.

    Args:
        library: the open library.
        on_problem: told about a recording that cannot be recovered (it is left untouched);
            by default such recordings are skipped silently and tried again next time.
    """
    calls: list[Call] = []
    for sidecar in sorted(library.audio_dir.glob(f"*{SIDECAR_SUFFIX}")):
        try:
            saved = _recover_one(library, sidecar)
        except (ShadowboxError, OSError) as exc:
            if on_problem is not None:
                on_problem(sidecar, f"Recording {sidecar.name}: not recovered ({_reason(exc)})")
            continue
        if saved is not None:
            calls.append(saved.call)
    return calls


def _recover_one(library: Library, sidecar: Path) -> SavedRecording | None:
    try:
        fd = os.open(sidecar, os.O_RDONLY)
    except FileNotFoundError:
        return None  # finished or recovered by someone else meanwhile
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None  # still recording, or being recovered by another process
        if os.fstat(fd).st_nlink == 0:
            return None  # its owner finished and removed it while we waited
        stem = sidecar.name[: -len(SIDECAR_SUFFIX)]
        wav = sidecar.with_name(stem + PARTIAL_SUFFIX)
        log = read_sidecar(sidecar)
        if log is None:
            age = _age(sidecar)
            if not wav.exists() and age is not None and age > STALE_EMPTY_SIDECAR:
                sidecar.unlink(missing_ok=True)
            return None
        stop = log.stop or {}
        saved = _finalize(
            library, log.header, wav, log.markers,
            overflows=int(stop.get("overflows") or 0),
            dropped_samples=int(stop.get("dropped_samples") or 0),
            recovered=True,
        )
        sidecar.unlink(missing_ok=True)
        return saved
    finally:
        os.close(fd)


def _age(path: Path) -> float | None:
    import time

    try:
        return time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---------------------------------------------------------------------- live warnings


@dataclass(frozen=True)
class LiveStatus:
    """What the live line shows: the level and any warnings the rep should act on."""

    level: Level | None
    clipping: bool
    silent_for: float
    warnings: tuple[str, ...]


class SignalWatch:
    """Turns meter readings into warnings: clipping, and a microphone that hears nothing."""

    def __init__(
        self, *, silence_seconds: float = 10.0, silence_dbfs: float = -60.0,
        clip_hold: float = 2.0,
    ) -> None:
        """Set the thresholds.

        Args:
            silence_seconds: warn after this long without any signal.
            silence_dbfs: peaks below this count as no signal (a muted mic is near -inf).
            clip_hold: keep the clipping warning up this long after the last clipped block.
        """
        self.silence_seconds = silence_seconds
        self.silence_dbfs = silence_dbfs
        self.clip_hold = clip_hold
        self._started: float | None = None
        self._last_signal: float | None = None
        self._last_clip: float | None = None
        self._level: Level | None = None

    def update(self, level: Level | None, now: float) -> LiveStatus:
        """Take the newest reading (None if there is no new one) at monotonic time ``now``."""
        if self._started is None:
            self._started = now
        if level is not None:
            self._level = level
            if level.dbfs > self.silence_dbfs:
                self._last_signal = now
            if level.clipped:
                self._last_clip = now
        since = self._last_signal if self._last_signal is not None else self._started
        silent_for = now - since
        clipping = self._last_clip is not None and now - self._last_clip <= self.clip_hold
        warnings: list[str] = []
        if clipping:
            warnings.append("clipping: move the mic away or lower its gain")
        if silent_for >= self.silence_seconds:
            warnings.append(f"no signal for {silent_for:.0f} s: is the mic muted?")
        return LiveStatus(self._level, clipping, silent_for, tuple(warnings))

"""Capture on the real device path: sample clips played into the null sink, recorded, heard.

A PulseAudio null sink's monitor is the default input, so what paplay plays is what the
Recorder records. A low-latency stream of silence keeps the sink awake during these tests, as
a real microphone always delivers: an idle null sink wakes only every 2 s, which would hide
the first and last moments of a recording behind PulseAudio's own timer.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
import wave
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import SimpleNamespace

import click
import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from shadowbox.audio import decode
from shadowbox.capture import Level, Recorder, find_input_device, list_devices
from shadowbox.config import Settings
from shadowbox.errors import ConsentError, DeviceError
from shadowbox.library import Library
from shadowbox.models import Consent
from shadowbox.recording import (
    PARTIAL_SUFFIX,
    SIDECAR_SUFFIX,
    RecordingSession,
    SessionHeader,
    SignalWatch,
    compact,
    recover_interrupted,
    repair_wav_header,
    resolve_record_consent,
)
from shadowbox.transcribe import Transcriber

from .test_playback import PULSE_SERVER

SAMPLES = Path(__file__).resolve().parent.parent / "sample_audio"
SALESFORCE = SAMPLES / "08_integration_salesforce.ogg"
KICKOFF = SAMPLES / "09_rapport_conference.flac"

# The shadowbox CLI as a subprocess. Until cli.py registers the capture commands and recovers
# on opening the library, this wires both in the same way; afterwards it changes nothing.
HARNESS = """
import inspect
import click
import shadowbox.cli as cli
from shadowbox.cli_capture import devices, record
from shadowbox.recording import recover_interrupted
for command in (record, devices):
    cli.cli.commands.setdefault(command.name, command)
if "recover_interrupted" not in inspect.getsource(cli.State):
    opened = cli.State.library.fget
    def library(self):
        fresh = self._library is None
        lib = opened(self)
        if fresh:
            for call in recover_interrupted(lib):
                click.echo(f"Recovered interrupted recording {call.id[:8]}", err=True)
        return lib
    cli.State.library = property(library)
cli.main()
"""


def shadowbox_cli() -> click.Group:
    """The click group with the capture commands, for CliRunner."""
    import shadowbox.cli as cli
    from shadowbox.cli_capture import devices, record

    for command in (record, devices):
        cli.cli.commands.setdefault(command.name or "", command)
    return cli.cli




def audio_problem() -> str | None:
    """Why the null-sink devices cannot be used here, or None when they can."""
    for tool in ("paplay", "pacat", "pactl"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (pulseaudio-utils)"
    if PULSE_SERVER is None:
        return "no PulseAudio server is running"
    try:
        import sounddevice as sd

        sd._terminate()  # list again now that PULSE_SERVER points at the server
        sd._initialize()
        names = {d.name for d in list_devices()}
    except (OSError, DeviceError) as exc:
        return f"no audio devices ({exc})"
    if not {"pulse", "default"} <= names:
        return f"the PulseAudio devices are missing (found: {sorted(names)})"
    return None


def require_audio(problem: str | None) -> None:
    """Skip without the devices; in CI (env CI set) a missing device is a failure instead."""
    if problem is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI must provide the PulseAudio null sink: {problem}")
    pytest.skip(problem)


@pytest.fixture(scope="module")
def sink() -> Iterator[None]:
    """A null sink of the module's own, kept awake by a low-latency stream of silence.

    Its own sink keeps other test runs that play into the shared one out of these
    recordings; PULSE_SINK and PULSE_SOURCE make it (and its monitor) what the default
    output and the default input reach, for this process and its children alike.
    """
    with pytest.MonkeyPatch.context() as mp:
        if PULSE_SERVER:
            mp.setenv("PULSE_SERVER", PULSE_SERVER)
        require_audio(audio_problem())
        name = f"shadowbox_capture_test_{os.getpid()}"
        loaded = subprocess.run(
            ["pactl", "load-module", "module-null-sink", f"sink_name={name}"],
            capture_output=True, text=True,
        )
        if loaded.returncode != 0:
            require_audio(f"cannot add a null sink ({loaded.stderr.strip()})")
        mp.setenv("PULSE_SINK", name)
        mp.setenv("PULSE_SOURCE", f"{name}.monitor")
        awake = subprocess.Popen(
            ["pacat", "--playback", "--raw", "--latency-msec=20", "--format=s16le",
             "--rate=48000", "--channels=1", "/dev/zero"],
        )
        time.sleep(2.5)  # an idle null sink wakes at most every 2 s; then it keeps pace
        try:
            yield
        finally:
            awake.terminate()
            awake.wait(10)
            subprocess.run(["pactl", "unload-module", loaded.stdout.strip()], check=True)


@pytest.fixture
def audio(sink: None) -> None:
    """Tests that record need the sink."""


@pytest.fixture(scope="module")
def transcriber() -> Transcriber:
    """The real embedded model, loaded once for the module."""
    return Transcriber()


def words_in(transcriber: Transcriber, path: Path) -> list[str]:
    """What the model hears in a file, as lower-case words without punctuation."""
    samples = decode(path).samples
    text = " ".join(s.text for s in transcriber.transcribe(samples))
    return re.findall(r"[a-z']+", text.lower().replace("-", " "))


def cut(clip: Path, seconds: float, folder: Path) -> Path:
    """The first ``seconds`` of a clip as a WAV, so paplay plays exactly that much."""
    data, rate = sf.read(str(clip), frames=int(seconds * sf.info(str(clip)).samplerate))
    out = folder / f"{clip.stem}-{seconds:g}s.wav"
    sf.write(str(out), data, rate)
    return out


def play(path: Path) -> subprocess.Popen[bytes]:
    """Play a file into the default sink, as the rep's voice would reach the microphone."""
    # A generous buffer: a busy machine must not starve the sink (that inserts silences).
    return subprocess.Popen(["paplay", "--latency-msec=300", str(path)])


def partial_files(root: Path) -> list[Path]:
    """Recordings in progress (or interrupted) in a library."""
    audio_dir = root / "audio"
    return sorted(audio_dir.glob(f"*{PARTIAL_SUFFIX}")) + sorted(
        audio_dir.glob(f"*{SIDECAR_SUFFIX}")
    )


def cli_args(lib_path: Path, *args: str) -> list[str]:
    """A shadowbox command line run by the test's Python."""
    return [sys.executable, "-c", HARNESS, "--library", str(lib_path), *args]


class Terminal:
    """A command on a pseudo-terminal: it sees a real tty, the test types keys into it."""

    def __init__(self, args: list[str]) -> None:
        try:
            master, slave = os.openpty()
        except OSError as exc:  # a chroot or container without /dev/pts
            pytest.skip(f"no pseudo-terminal on this machine ({exc.strerror})")
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 160, 0, 0))
        # A new session whose controlling terminal is the pty, so Ctrl-C there is SIGINT.
        launch = (
            "import fcntl, os, sys, termios; os.setsid(); fcntl.ioctl(0, termios.TIOCSCTTY, 0);"
            " os.execv(sys.argv[1], sys.argv[1:])"
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-c", launch, *args], stdin=slave, stdout=slave, stderr=slave,
        )
        os.close(slave)
        self.master = master
        self.output = ""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 4096)
            except OSError:
                return
            if not data:
                return
            self.output += data.decode(errors="replace")

    def expect(self, text: str, timeout: float = 20.0) -> None:
        """Wait until ``text`` has been shown."""
        deadline = time.monotonic() + timeout
        while text not in self.output:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                time.sleep(0.2)
                if text in self.output:
                    return
                pytest.fail(f"never saw {text!r}; the terminal showed:\n{self.output}")
            time.sleep(0.05)

    def type(self, keys: str) -> None:
        """Press keys."""
        os.write(self.master, keys.encode())

    def wait(self, timeout: float = 60.0) -> int:
        """The exit code once the command has finished."""
        code = self.proc.wait(timeout)
        self._reader.join(2)
        os.close(self.master)
        return code


def test_devices_are_listed_with_the_defaults_marked(audio: None) -> None:
    devices = list_devices()
    by_name = {d.name: d for d in devices}
    assert by_name["default"].default_input and by_name["default"].default_output
    assert not by_name["pulse"].default_input
    assert find_input_device("PUL").name == "pulse"
    assert find_input_device(by_name["pulse"].index).name == "pulse"
    assert find_input_device(None).name == "default"

    result = CliRunner().invoke(shadowbox_cli(), ["devices", "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert {d["name"] for d in listed} >= {"pulse", "default"}
    assert set(listed[0]) >= {"index", "name", "max_input_channels", "max_output_channels",
                              "default_samplerate", "default_input", "default_output"}
    text = CliRunner().invoke(shadowbox_cli(), ["devices"])
    assert re.search(r"default .* input, output", text.stdout)


def test_recorder_keeps_a_readable_wav_and_hears_the_clip(
    audio: None, transcriber: Transcriber, tmp_path: Path
) -> None:
    clip = cut(SALESFORCE, 16.0, tmp_path)
    path = tmp_path / "take.wav"
    recorder = Recorder(path)
    recorder.start()
    assert (path.stat().st_mode & 0o777) == 0o600
    player = play(clip)
    frames_seen: list[int] = []
    levels: list[Level] = []
    while player.poll() is None:
        time.sleep(1.0)
        # An ordinary reader opens the growing file, header and all.
        with wave.open(str(path)) as growing:
            frames_seen.append(growing.getnframes())
        level = recorder.level()
        if level is not None:
            levels.append(level)
    time.sleep(0.5)
    result = recorder.stop()

    assert result.fault is None and result.overflows == 0 and result.dropped_samples == 0
    assert result.samplerate == round(find_input_device(None).default_samplerate)
    assert 15.5 < result.duration < 19.0
    assert result.first_block_latency is not None and result.first_block_latency < 0.2
    assert frames_seen == sorted(frames_seen) and frames_seen[-1] > 10 * result.samplerate
    assert max(level.dbfs for level in levels) > -30
    assert sf.info(str(path)).frames == result.frames

    heard = words_in(transcriber, path)
    expected = {"salesforce", "warehouse", "island", "connect", "automatically"}
    # Played through PulseAudio and resampled twice, one word may come out split ("where
    # house"); four of these five distinctive words cannot be heard by chance.
    assert len(expected & set(heard)) >= 4, heard

    # Compaction: far smaller; the model's input from it differs from the WAV's by at most
    # 16-bit rounding, and the model hears the same words in it.
    flac = tmp_path / "take.flac"
    size = compact(path, flac, comment="test take")
    assert size < path.stat().st_size / 4
    from_wav, from_flac = decode(path).samples, decode(flac).samples
    assert len(from_wav) == len(from_flac)
    assert float(np.abs(from_wav - from_flac).max()) <= 0.5 / 32768 + 1e-9
    # tiny.en can flip a word on a change as small as 16-bit rounding (on the 14 sample clips
    # a few transcripts differ between WAV and FLAC, at the same error rate), so allow one.
    in_flac = words_in(transcriber, flac)
    assert len(expected - set(in_flac)) <= 1, (" ".join(heard), " ".join(in_flac))
    assert sf.SoundFile(str(flac)).comment == "test take"


def test_a_session_stores_the_call_with_consent_and_markers(
    audio: None, library: Library, settings: Settings, tmp_path: Path
) -> None:
    clip = cut(KICKOFF, 6.0, tmp_path)
    session = RecordingSession(
        library, settings, consent="verbal", title="Kickoff", rep="Priya"
    )
    session.start()
    player = play(clip)
    time.sleep(2.0)
    first = session.mark()
    time.sleep(2.0)
    second = session.mark("pricing came up")
    player.wait(30)
    time.sleep(0.5)
    saved = session.stop()

    call = library.get_call(session.call_id)
    assert saved.call == call
    assert call.title == "Kickoff" and call.rep == "Priya"
    assert call.status == "queued" and [j.call_id for j in library.queued_jobs()] == [call.id]
    assert not call.recovered and call.dropped_samples == 0
    assert call.audio_path == f"audio/{call.id}.flac" and saved.audio_format == "FLAC 16 kHz"
    assert 6.0 < (call.duration or 0) < 9.0
    consent = library.consent(call.id)
    assert (consent.method, consent.given_by, consent.announcement_played) == (
        "verbal", "Priya", False
    )
    assert library.markers(call.id) == [first, second]
    assert 1.5 < second.at - first.at < 2.6 and second.label == "pricing came up"
    audio_file = library.audio_file(call)
    assert (audio_file.stat().st_mode & 0o777) == 0o600
    assert partial_files(library.root) == []
    assert 5.5 < decode(audio_file).duration < 9.5


def test_an_announcement_is_heard_before_the_microphone_opens(
    audio: None, library: Library, settings: Settings, transcriber: Transcriber, tmp_path: Path
) -> None:
    listener = Recorder(tmp_path / "what-the-other-party-heard.wav")
    listener.start()
    session = RecordingSession(library, settings, consent="announcement", title="Notice")
    began = time.monotonic()
    session.start()  # returns once the notice has played
    played_for = time.monotonic() - began
    while session.recorder.frames == 0:
        time.sleep(0.05)
    time.sleep(0.5)
    saved = session.stop()
    listener.stop()

    assert played_for > 8.0
    heard = set(words_in(transcriber, listener.path))
    assert {"recording", "team", "learn"} <= heard, heard
    consent = library.consent(saved.call.id)
    assert consent.method == "announcement" and consent.announcement_played
    # The notice is not in the call: the microphone opened after it ended.
    samples, _ = sf.read(str(library.audio_file(saved.call)))
    assert float(np.abs(samples).max()) < 0.01


def test_a_configured_announcement_file_replaces_the_notice(
    audio: None, library: Library, lib_path: Path, transcriber: Transcriber, tmp_path: Path
) -> None:
    notice = cut(KICKOFF, 4.0, tmp_path)
    settings = Settings(library=lib_path, announcement_file=notice)
    listener = Recorder(tmp_path / "heard.wav")
    listener.start()
    session = RecordingSession(library, settings, consent="announcement")
    session.start()
    while session.recorder.frames == 0:
        time.sleep(0.05)
    saved = session.stop()
    listener.stop()
    heard = set(words_in(transcriber, listener.path))
    assert {"jordan", "time", "today"} <= heard and "recording" not in heard, heard
    assert notice.name in (library.consent(saved.call.id).note or "")


def test_consent_policy_and_the_terminal_question() -> None:
    strict = Settings(require_announcement=True)
    assert resolve_record_consent("announcement", strict) == "announcement"
    with pytest.raises(ConsentError, match="policy requires announcement"):
        resolve_record_consent("verbal", strict)
    with pytest.raises(ConsentError, match="no terminal to ask on"):
        resolve_record_consent(None, Settings(consent="verbal"))
    asked: list[tuple[tuple[str, ...], str | None]] = []

    def ask(allowed: Sequence[str], default: str | None) -> str | None:
        asked.append((tuple(allowed), default))
        return "written"

    assert resolve_record_consent(None, Settings(consent="verbal"), ask) == "written"
    assert asked == [(("verbal", "announcement", "written"), "verbal")]
    with pytest.raises(ConsentError, match="not confirmed"):
        resolve_record_consent(None, Settings(), lambda allowed, default: None)


def test_no_consent_and_no_terminal_refuses_before_anything_is_written(lib_path: Path) -> None:
    result = CliRunner().invoke(
        shadowbox_cli(),
        ["--library", str(lib_path), "record", "--duration", "2"],
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("shadowbox: Recording refused: no consent given")
    assert result.stderr.count("\n") == 1
    assert not lib_path.exists()


def test_an_unknown_device_is_a_one_line_error(lib_path: Path) -> None:
    result = CliRunner().invoke(
        shadowbox_cli(),
        ["--library", str(lib_path), "record", "--consent", "verbal", "--device",
         "no-such-mic", "--duration", "2"],
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("shadowbox: Input device 'no-such-mic': no such device")
    assert result.stderr.count("\n") == 1
    assert not lib_path.exists()


def test_sigkill_mid_sentence_loses_at_most_a_second(
    audio: None, transcriber: Transcriber, lib_path: Path
) -> None:
    term = Terminal(cli_args(lib_path, "record", "--consent", "written", "--title", "Killed",
                             "--rep", "Marcus"))
    term.expect("Recording 'Killed'")
    started = time.monotonic()
    player = play(SALESFORCE)
    time.sleep(3.0)
    term.type("m")
    term.expect("bookmark 1")
    # 17.5 s into the clip is mid-sentence: "from the warehouse we export everything every
    # evening"; the sentence before it ends at 15.4 s.
    time.sleep(started + 17.5 - time.monotonic())
    os.kill(term.proc.pid, signal.SIGKILL)
    killed = time.monotonic()
    player.kill()
    term.wait()

    wav, sidecar = partial_files(lib_path)
    assert sidecar.name.endswith(SIDECAR_SUFFIX)
    with wave.open(str(wav)) as left_behind:  # the header was current when it died
        assert left_behind.getnframes() > 10 * left_behind.getframerate()

    listing = subprocess.run(cli_args(lib_path, "calls", "--json"), capture_output=True,
                             text=True, timeout=120)
    assert listing.returncode == 0, listing.stderr
    (call,) = json.loads(listing.stdout)
    assert (call["title"], call["rep"], call["status"], call["recovered"]) == (
        "Killed", "Marcus", "queued", True
    )
    assert partial_files(lib_path) == []
    shown = subprocess.run(cli_args(lib_path, "show", call["id"], "--json"),
                           capture_output=True, text=True, timeout=60)
    details = json.loads(shown.stdout)
    assert details["consent"] == "written"
    assert len(details["markers"]) == 1 and 2.0 < details["markers"][0]["at"] < 5.0

    # The recording began before the clip, so it should hold all the time until the kill.
    lost = (killed - started) - call["duration"]
    assert lost <= 1.0, f"{lost:.2f} s lost"
    with Library.open(lib_path) as lib:
        heard = words_in(transcriber, lib.audio_file(lib.get_call(call["id"])))
    assert {"salesforce", "island", "connect", "automatically"} <= set(heard), " ".join(heard)


def test_recovery_leaves_live_recordings_alone_and_happens_once(
    library: Library, tmp_path: Path
) -> None:
    call_id = "5b0a1a56-8f44-4c43-9d7c-2f0c1e1f7a10"
    wav = library.audio_dir / f"{call_id}{PARTIAL_SUFFIX}"
    sidecar = library.audio_dir / f"{call_id}{SIDECAR_SUFFIX}"
    rate = 16000
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(2 * rate) / rate) * 32767).astype(np.int16)
    sf.write(str(wav), tone, rate, subtype="PCM_16")
    with wav.open("r+b") as fh:  # a writer killed before its header caught up
        fh.seek(40)
        fh.write(struct.pack("<I", 0))
    header = SessionHeader(
        call_id=call_id, title="Interrupted", rep="Dana", recorded_at="2025-01-02T10:00:00+00:00",
        consent=Consent("verbal", "2025-01-02T10:00:00+00:00", "Dana"), device="default",
        samplerate=rate, channels=1, host="test", pid=1,
    )
    lines = [
        json.dumps({"kind": "header", "version": 1, **header.to_json()}),
        json.dumps({"kind": "marker", "at": 1.25, "label": None}),
        '{"kind": "marker", "at": 1.9',  # torn by the crash
    ]
    sidecar.write_text("\n".join(lines))

    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDONLY);"
         " fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); sys.stdin.read()",
         str(sidecar)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert holder.stdout is not None and holder.stdin is not None
    assert holder.stdout.readline().strip() == "locked"
    before = wav.read_bytes()
    assert recover_interrupted(library) == []
    assert wav.read_bytes() == before and sidecar.exists()
    holder.stdin.close()
    holder.wait(10)

    racers = [
        subprocess.Popen(
            [sys.executable, "-c",
             "import sys; from pathlib import Path; from shadowbox.library import Library;"
             " from shadowbox.recording import recover_interrupted;"
             " lib = Library.open(Path(sys.argv[1]));"
             " print(len(recover_interrupted(lib)))", str(library.root)],
            stdout=subprocess.PIPE, text=True,
        )
        for _ in range(3)
    ]
    counts = [int(p.communicate(timeout=60)[0]) for p in racers]
    assert sorted(counts) == [0, 0, 1]
    (call,) = library.list_calls()
    assert (call.id, call.title, call.recovered, call.status) == (
        call_id, "Interrupted", True, "queued"
    )
    assert call.duration == pytest.approx(2.0)
    assert library.consent(call_id).method == "verbal"
    assert [m.at for m in library.markers(call_id)] == [1.25]
    assert partial_files(library.root) == []
    assert recover_interrupted(library) == []


def test_repairing_a_header_counts_only_whole_frames(tmp_path: Path) -> None:
    path = tmp_path / "torn.wav"
    sf.write(str(path), np.zeros(1000, dtype=np.int16), 8000, subtype="PCM_16")
    with path.open("ab") as fh:
        fh.write(b"\x01")  # half a frame written when the process died
    info = repair_wav_header(path)
    assert (info.frames, info.samplerate, info.channels) == (1000, 8000, 1)
    assert sf.info(str(path)).frames == 1000


def test_overflows_are_counted_reported_and_stored(
    audio: None, library: Library, settings: Settings
) -> None:
    import sounddevice as sd

    session = RecordingSession(library, settings, consent="verbal")
    session.start()
    time.sleep(1.0)
    flags = sd.CallbackFlags()
    flags.input_overflow = True
    block = np.zeros((441, 1), dtype=np.int16)
    # What PortAudio does when the input overflowed and gives no timestamps.
    session.recorder._callback(block, 441, SimpleNamespace(inputBufferAdcTime=0.0), flags)
    time.sleep(0.5)
    saved = session.stop()
    assert (saved.overflows, saved.dropped_samples) == (1, 441)
    assert library.get_call(saved.call.id).dropped_samples == 441


def test_a_full_disk_stops_cleanly_and_keeps_what_was_written(
    audio: None, lib_path: Path, tmp_path: Path
) -> None:
    clip = cut(KICKOFF, 12.0, tmp_path)
    limit = 600_000  # bytes: about 6.8 s of 44.1 kHz mono
    # The kernel refuses writes past the limit (EFBIG), as a full disk refuses them (ENOSPC).
    small_disk = (
        "import os, resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN);"
        f" resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}));"
        " os.execv(sys.argv[1], sys.argv[1:])"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", small_disk,
         *cli_args(lib_path, "record", "--consent", "verbal", "--duration", "30")],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    player = play(clip)
    out, err = proc.communicate(timeout=60)
    player.kill()
    assert proc.returncode == 1, err
    assert out.startswith("Saved call ")
    assert re.search(r"recording stopped early: cannot write \S+ \(File too large\); kept 0:0",
                     err), err
    with Library.open(lib_path) as lib:
        (call,) = lib.list_calls()
        assert 5.0 < (call.duration or 0) < 7.0
        assert decode(lib.audio_file(call)).duration == pytest.approx(call.duration, abs=0.1)
    assert partial_files(lib_path) == []


def test_low_disk_space_stops_before_the_disk_is_full(
    audio: None, library: Library, settings: Settings
) -> None:
    vfs = os.statvfs(library.audio_dir)
    free = vfs.f_bavail * vfs.f_frsize
    session = RecordingSession(
        library, settings, consent="verbal", reserve_bytes=free - 250_000
    )
    session.start()
    deadline = time.monotonic() + 20
    while session.recorder.fault is None and time.monotonic() < deadline:
        time.sleep(0.1)
    saved = session.stop()
    assert saved.fault is not None and saved.fault.kind == "disk"
    assert "almost full" in saved.fault.message
    assert 0 < saved.duration < 6.0
    assert library.get_call(saved.call.id).duration == pytest.approx(saved.duration)


@contextlib.contextmanager
def pulse_cli(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """PulseAudio's command interface (pacmd), loaded for the test if it was not."""
    if PULSE_SERVER and PULSE_SERVER.startswith("/") and "PULSE_RUNTIME_PATH" not in os.environ:
        # pacmd finds the daemon through its runtime folder, not through PULSE_SERVER.
        monkeypatch.setenv("PULSE_RUNTIME_PATH", str(Path(PULSE_SERVER).parent))
    probe = subprocess.run(["pacmd", "stat"], capture_output=True, text=True)
    loaded = None
    if probe.returncode != 0:
        done = subprocess.run(["pactl", "load-module", "module-cli-protocol-unix"],
                              capture_output=True, text=True, check=True)
        loaded = done.stdout.strip()
    try:
        yield
    finally:
        if loaded:
            subprocess.run(["pactl", "unload-module", loaded], check=True)


def test_a_device_that_disappears_mid_call_keeps_what_was_recorded(
    audio: None, lib_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("pacmd") is None:
        require_audio("pacmd is not installed (pulseaudio)")
    proc = subprocess.Popen(
        cli_args(lib_path, "record", "--consent", "verbal", "--duration", "30"),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stderr is not None
    assert proc.stderr.readline().startswith("Recording ")
    player = play(cut(KICKOFF, 8.0, tmp_path))
    time.sleep(4.0)
    with pulse_cli(monkeypatch):
        listing = subprocess.run(["pactl", "list", "source-outputs"], capture_output=True,
                                 text=True, check=True).stdout
        ours = [
            block.split()[0]
            for block in listing.split("Source Output #")[1:]
            if f'application.process.id = "{proc.pid}"' in block
        ]
        assert ours, listing
        for index in ours:
            subprocess.run(["pacmd", "kill-source-output", index], check=True)
        out, err = proc.communicate(timeout=30)
    player.kill()
    assert proc.returncode == 1, err
    assert out.startswith("Saved call ")
    assert "recording stopped early: input device 'default' stopped" in err
    with Library.open(lib_path) as lib:
        (call,) = lib.list_calls()
        assert 3.0 < (call.duration or 0) < 5.0


def test_marker_and_stop_keys_on_a_terminal(
    audio: None, lib_path: Path, tmp_path: Path
) -> None:
    term = Terminal(cli_args(lib_path, "record", "--title", "Keys", "--rep", "Priya",
                             "--transcribe"))
    term.expect("How did they consent?")
    term.type("v\r")
    term.expect("Recording 'Keys'")
    player = play(cut(KICKOFF, 9.0, tmp_path))
    time.sleep(3.0)
    term.type("m")
    term.expect("bookmark 1 at 0:0")
    player.wait(30)
    term.type(" ")
    assert term.wait(120) == 0, term.output
    assert "REC 0:0" in term.output and " dB" in term.output
    assert "Saved call" in term.output and "Transcribed" in term.output
    with Library.open(lib_path) as lib:
        (call,) = lib.list_calls()
        assert call.status == "ready" and call.rep == "Priya"
        assert lib.consent(call.id).method == "verbal"
        (marker,) = lib.markers(call.id)
        assert 2.5 < marker.at < 4.5
        text = " ".join(t.text for t in lib.talk_tracks(call.id)).lower()
        assert "jordan" in text and "conference" in text, text


def test_ctrl_c_stops_and_keeps_the_recording(audio: None, lib_path: Path) -> None:
    term = Terminal(cli_args(lib_path, "record", "--consent", "verbal"))
    term.expect("Recording ")
    time.sleep(2.0)
    term.type("\x03")
    assert term.wait(60) == 0, term.output
    assert "Saved call" in term.output
    with Library.open(lib_path) as lib:
        (call,) = lib.list_calls()
        assert 1.0 < (call.duration or 0) < 4.0


def test_sigterm_stops_and_keeps_the_recording(audio: None, lib_path: Path) -> None:
    proc = subprocess.Popen(
        cli_args(lib_path, "record", "--consent", "verbal", "--title", "Scripted"),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stderr is not None
    assert "stop it with Ctrl-C or SIGTERM" in proc.stderr.readline()
    time.sleep(2.0)
    proc.terminate()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert out.startswith("Saved call ") and "'Scripted'" in out
    with Library.open(lib_path) as lib:
        (call,) = lib.list_calls()
        assert 1.0 < (call.duration or 0) < 4.0 and not call.recovered


def test_refusing_consent_on_the_terminal_records_nothing(lib_path: Path) -> None:
    term = Terminal(cli_args(lib_path, "record"))
    term.expect("How did they consent?")
    term.type("n\r")
    assert term.wait(30) == 1
    assert "shadowbox: Recording refused: the other party's consent was not confirmed" in (
        term.output
    )
    assert not lib_path.exists()


def test_live_warnings_for_clipping_and_a_silent_microphone() -> None:
    watch = SignalWatch()
    loud = Level(peak=1.0, rms=0.5, clipped=True, at=1.0)
    quiet = Level(peak=0.0, rms=0.0, clipped=False, at=2.0)
    assert watch.update(loud, 100.0).clipping
    assert watch.update(quiet, 101.0).warnings[0].startswith("clipping")
    assert watch.update(quiet, 103.0).warnings == ()
    status = watch.update(None, 110.5)
    assert status.warnings == ("no signal for 10 s: is the mic muted?",)
    assert watch.update(Level(0.05, 0.01, False, 11.0), 111.0).warnings == ()


def test_without_the_devices_ci_fails_instead_of_skipping(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must provide"):
        require_audio("no PulseAudio server is running")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        require_audio("no PulseAudio server is running")
    require_audio(None)

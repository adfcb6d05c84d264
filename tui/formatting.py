"""Turning records into short, styled text for tables and lists (no widgets here)."""

from __future__ import annotations

from rich.text import Text

from shadowbox.models import Call

MATCH_STYLE = "bold reverse"
"""How a search match looks inside a snippet."""


def clock(seconds: float | None) -> str:
    """``m:ss`` (or ``h:mm:ss``) for a duration or a position; ``-`` when unknown."""
    if seconds is None:
        return "-"
    total = max(int(seconds), 0)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def day(iso: str) -> str:
    """The date part of an ISO timestamp (what a list of calls needs)."""
    return iso[:10]


def status(call: Call, width: int = 18) -> Text:
    """A call's pipeline status; transcription shows a small bar and its percentage."""
    if call.status == "transcribing":
        fraction = min(max(call.progress or 0.0, 0.0), 1.0)
        cells = max(width - 6, 4)
        filled = round(fraction * cells)
        text = Text()
        text.append("█" * filled, style="green")
        text.append("░" * (cells - filled), style="dim")
        text.append(f" {fraction * 100:3.0f}%")
        return text
    style = {"ready": "green", "queued": "yellow", "failed": "bold red"}.get(call.status, "")
    return Text(call.status, style=style)


def highlight_snippet(snippet: str, style: str = MATCH_STYLE) -> Text:
    """Render a search snippet, whose matches come wrapped in [brackets], with the matches styled.

    The text is never read as markup, so whatever a transcript says shows as it is.
    """
    text = Text()
    rest = snippet
    while rest:
        open_at = rest.find("[")
        close_at = rest.find("]", open_at + 1) if open_at >= 0 else -1
        if open_at < 0 or close_at < 0:
            text.append(rest)
            break
        text.append(rest[:open_at])
        text.append(rest[open_at + 1 : close_at], style=style)
        rest = rest[close_at + 1 :]
    return text


def fit(text: str, width: int) -> str:
    """Cut ``text`` to ``width`` cells with an ellipsis, padding it to exactly that width."""
    if width <= 0:
        return ""
    if len(text) > width:
        return text[: max(width - 1, 0)] + "…"
    return text.ljust(width)

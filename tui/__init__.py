"""The Textual terminal app for Shadowbox (installed as ``shadowbox_tui``)."""

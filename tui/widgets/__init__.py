"""Widgets of the Shadowbox app, one concern each."""

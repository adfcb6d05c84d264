"""Screens of the Shadowbox app: library, call, record, help and the small dialogs."""

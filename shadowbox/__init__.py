"""Shadowbox: senior reps' real calls, transcribed, tagged by objection and searchable.

The package is the library every front end stands on (the CLI, the Textual app in
``shadowbox_tui``, tests). It never imports Textual.
"""

__version__ = "0.1.0"

"""``python -m shadowbox``: the same as the ``shadowbox`` command."""

from .cli import main

main()

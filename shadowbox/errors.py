"""The one error hierarchy: every problem a user can cause or fix is a ShadowboxError.

The CLI prints ``str(error)`` on one line and exits non-zero; anything that is not a
ShadowboxError is a bug and keeps its traceback.
"""

from __future__ import annotations


class ShadowboxError(Exception):
    """Base class: a problem the user can understand and act on (message names thing and reason)."""

    exit_code = 1


class ConfigError(ShadowboxError):
    """The settings file or an environment variable holds something unusable."""


class LibraryError(ShadowboxError):
    """The library folder or database cannot be used as it is."""


class SchemaTooNewError(LibraryError):
    """The database was written by a newer Shadowbox; we refuse rather than alter it."""


class AudioError(ShadowboxError):
    """A recording cannot be read or decoded."""


class ConsentError(ShadowboxError):
    """No acceptable consent record was given for a call."""


class NotFoundError(ShadowboxError):
    """A call, talk track, collection or objection named by the user does not exist."""


class ModelError(ShadowboxError):
    """The speech model cannot be found, fetched or loaded."""


class DeviceError(ShadowboxError):
    """An audio device is missing, busy or failed."""


class BundleError(ShadowboxError):
    """A collection bundle is malformed, hostile or from a newer version."""

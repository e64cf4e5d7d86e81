"""The project's error types: what a user can fix is told in one line, a bug keeps its traceback.

``InputError`` is bad input (a setting, a file, a shape): the commands print its message alone and
exit with status 2. Any other exception is a bug and keeps its traceback. ``InputError`` is a
``ValueError``, so code that already catches ``ValueError`` keeps working.
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad input (config, files, shapes); the message says what was wrong and how to fix it."""


class ConfigError(InputError):
    """A setting has a bad value or does not belong to the command it was given to."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, handled by the command: ``message`` says what was kept, ``rerun`` the settings to
    add to the same command line to continue (e.g. ``("resume=true",)``), if any."""

    def __init__(self, message: str, rerun: tuple[str, ...] = ()):
        super().__init__(message)
        self.message, self.rerun = message, rerun

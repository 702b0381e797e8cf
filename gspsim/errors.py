"""User-facing errors: one line that names what is wrong and where, and an exit code.

Anything raised as a :class:`GspsimError` is a problem with what the user gave
(a model, a config, an input file), so the CLI prints ``error: <message>`` and
exits with ``exit_code`` instead of showing a traceback.  The message is made
printable (control characters shown as ``\x1b``; see gspsim.terminal).  Every
other exception is a bug in gspsim: the CLI prints one ``error: internal
error ...`` line asking for a bug report and exits with code 3 (``--debug``
shows the traceback).
"""

from __future__ import annotations

from .terminal import printable


class GspsimError(Exception):
    """A user-facing error with a one-line message and a process exit code."""

    exit_code: int = 2

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        # one line, and nothing a file or an option put in it can drive the terminal (escape sequences, BEL)
        super().__init__(printable(" ".join(message.split()) if "\n" in message else message))
        if exit_code is not None:
            self.exit_code = exit_code


class ModelError(GspsimError):
    """The ONNX file cannot be read or is not a valid, static dataflow graph."""


class UnsupportedOpsError(ModelError):
    """The model holds ops without a kernel; the message lists every one of them."""


class ConfigError(GspsimError):
    """A hardware config or option value is missing, mistyped or out of range."""


class InputError(GspsimError):
    """An ``--inputs`` file does not match the model's inputs."""


class CheckFailed(GspsimError):
    """``--check``: simulated outputs differ from onnxruntime beyond tolerance."""

    exit_code = 1


class NotYetAvailable(GspsimError):
    """An option whose capability is planned but not built yet."""

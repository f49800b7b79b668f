"""Levelled lines in the step's log (``print()`` goes there too, at ``info``)."""

from wit_world.imports import log as _log


def trace(message: str) -> None:
    """Writes ``message`` at trace level."""
    _log.log(_log.Level.TRACE, message)


def debug(message: str) -> None:
    """Writes ``message`` at debug level."""
    _log.log(_log.Level.DEBUG, message)


def info(message: str) -> None:
    """Writes ``message`` at info level."""
    _log.log(_log.Level.INFO, message)


def warn(message: str) -> None:
    """Writes ``message`` at warn level."""
    _log.log(_log.Level.WARN, message)


def error(message: str) -> None:
    """Writes ``message`` at error level."""
    _log.log(_log.Level.ERROR, message)

"""Write wharf plugin steps in Python.

A plugin is a WebAssembly component built with componentize-py against one world of
the ``wharf:plugin@0.1.0`` contract (``tagger``, ``scanner`` or ``notifier``; the WIT
ships in this package under ``wit/``). The app module defines the world's class::

    import wit_world
    from wharf_plugin import config, log

    class WitWorld(wit_world.WitWorld):
        def tag(self, image):
            version = config.require("version")
            log.info(f"tagging {image.reference} as {version}")
            return wit_world.TagResult(tags=[version, "latest"], outputs=[])

and is built with ``cargo xtask plugins`` (componentize-py ``--stub-wasi``: the
plugin imports only ``wharf:plugin/*``, so it gets exactly the grants a Rust one
would).

Importing this package routes ``sys.stdout`` and ``sys.stderr`` to the step's log
(``info`` and ``warn``), so ``print()`` works instead of trapping on the stubbed
WASI. Scanners read the image with ``from wharf_plugin import image``; notifiers send
HTTP with ``from wharf_plugin import http`` (``http.post(url, body, headers=...)``,
to the hosts ``allow: http:`` grants). Errors are raised: ``raise errors.failed("...")``; a host call's error (an
ungranted secret, a missing file) is raised by the call itself and, left uncaught,
becomes the step's error unchanged.
"""

import sys

from wit_world.imports import log as _log

from . import config, errors, log, outputs, secrets  # noqa: F401  (the public API)


class _LogWriter:
    """A text stream that writes each complete line to the step's log."""

    def __init__(self, level):
        self._level = level
        self._pending = ""

    def write(self, text):
        self._pending += text
        while "\n" in self._pending:
            line, self._pending = self._pending.split("\n", 1)
            _log.log(self._level, line)
        return len(text)

    def flush(self):
        if self._pending:
            line, self._pending = self._pending, ""
            _log.log(self._level, line)

    def isatty(self):
        return False

    def writable(self):
        return True


sys.stdout = _LogWriter(_log.Level.INFO)
sys.stderr = _LogWriter(_log.Level.WARN)

"""Scanners only: the image being scanned (import this module in a scanner)."""

from wit_world.imports import image as _image
from ._types import Finding, Severity

FileKind = _image.FileKind


def config() -> str:
    """The image's config as JSON text."""
    return _image.config()


def list_files() -> list:
    """Every entry of the merged file system, sorted by path (``path``, ``kind``, ...)."""
    return _image.list_files()


def read_file(path: str, max_bytes: int = 1 << 20) -> bytes:
    """At most ``max_bytes`` of the file at ``path``; raises ``not-found``."""
    return _image.read_file(path, max_bytes)


def finding(rule_id: str, severity: str, message: str, path=None, line=None) -> Finding:
    """A finding; ``severity`` is ``info``, ``low``, ``medium``, ``high`` or ``critical``."""
    return Finding(
        rule_id=rule_id,
        severity=Severity[severity.upper()],
        message=message,
        path=path,
        line=line,
    )

"""Files on the machine running wharf, under the paths ``allow: read:`` grants."""

from wit_world.imports import files as _files


def read(path: str, max_bytes: int = 1 << 20) -> bytes:
    """At most ``max_bytes`` of ``path``; raises ``access-denied`` outside the grants."""
    return _files.read_file(path, max_bytes)

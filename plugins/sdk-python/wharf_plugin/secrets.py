"""Secrets as handles, for the ids the step grants in ``allow: secrets:``.

``get(id)`` returns a resource: use it in a ``with`` block (or let it go) so the
host can drop it. ``hmac_sha256(data)`` signs inside the host; ``reveal()`` gives
the value itself (masked in every log either way).
"""

from wit_world.imports import secrets as _secrets


def get(id: str):
    """Opens secret ``id``; raises ``access-denied`` unless granted, ``not-found``."""
    return _secrets.get(id)

"""The step's ``with:`` values and the run's info.

Values arrive as text: a string as written, any other YAML value as JSON.
"""

import json as _json

from wit_world.imports import config as _config

from . import errors


def get(key: str):
    """``with: <key>`` as text, or ``None`` when the step did not set it."""
    return _config.get(key)


def require(key: str) -> str:
    """``with: <key>``; raises ``invalid-config`` naming the key when it is missing."""
    value = _config.get(key)
    if value is None:
        raise errors.invalid_config(f"`with: {key}` is required")
    return value


def json(key: str, default=None):
    """``with: <key>`` decoded from JSON (a plain string stays a string)."""
    value = _config.get(key)
    if value is None:
        return default
    try:
        return _json.loads(value)
    except ValueError:
        return value


def items(key: str) -> list:
    """``with: <key>`` as a list of strings: a list, or one comma-separated string."""
    value = json(key)
    if value is None:
        return []
    if isinstance(value, list):
        return [v if isinstance(v, str) else _json.dumps(v) for v in value]
    return [part.strip() for part in str(value).split(",") if part.strip()]


def flag(key: str, default: bool = False) -> bool:
    """``with: <key>`` as a boolean (``true``/``false``)."""
    value = _config.get(key)
    if value is None:
        return default
    if value in ("true", "false"):
        return value == "true"
    raise errors.invalid_config(f"`with: {key}` must be true or false, not {value!r}")


def all() -> list:
    """Every ``(key, value)`` of ``with:``, in the order written."""
    return _config.get_all()


def run():
    """The run and step this call belongs to (``id``, ``registry``, ``step_id``, ...)."""
    return _config.run()

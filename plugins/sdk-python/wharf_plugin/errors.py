"""The contract's ``plugin-error``, as exceptions to raise: ``raise failed("...")``."""

from componentize_py_types import Err
from ._types import (
    PluginError_AccessDenied,
    PluginError_Failed,
    PluginError_InvalidConfig,
    PluginError_NotFound,
    PluginError_Other,
)


def invalid_config(message: str) -> Err:
    """A ``with:`` value is missing or wrong (name the key)."""
    return Err(PluginError_InvalidConfig(message))


def access_denied(message: str) -> Err:
    """Something was not granted (name the ``allow:`` entry to add)."""
    return Err(PluginError_AccessDenied(message))


def not_found(message: str) -> Err:
    """What was asked for does not exist."""
    return Err(PluginError_NotFound(message))


def failed(message: str) -> Err:
    """The plugin ran and decided the step fails."""
    return Err(PluginError_Failed(message))


def other(message: str) -> Err:
    """Anything else."""
    return Err(PluginError_Other(message))

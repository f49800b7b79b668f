"""Step outputs, bound by later steps as ``$(steps.<id>.outputs.<name>)``."""

from ._types import Output, OutputValue_Items, OutputValue_Text


def text(name: str, value: str) -> Output:
    """An output holding one string."""
    return Output(name=name, value=OutputValue_Text(value))


def items(name: str, values) -> Output:
    """An output holding a list of strings."""
    return Output(name=name, value=OutputValue_Items(list(values)))

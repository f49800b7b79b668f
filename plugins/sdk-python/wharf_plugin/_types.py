"""The contract's ``wharf:plugin/types``, whatever componentize-py named its module.

The generated module is ``wit_world.imports.types`` in the tagger and scanner
worlds, and ``wit_world.imports.wharf_plugin_types`` in the notifier world (whose
``wasi:http/types`` would otherwise share the name).
"""

try:
    from wit_world.imports.types import *  # noqa: F401,F403
except ImportError:
    from wit_world.imports.wharf_plugin_types import *  # noqa: F401,F403

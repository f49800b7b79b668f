"""@NAME@: a tagger. Tags the step's image with `with: version` and `latest`."""

import wit_world
from wharf_plugin import config, log


class WitWorld(wit_world.WitWorld):
    def tag(self, image):
        version = config.require("version")
        log.info(f"tagging {image.reference} as {version} and latest")
        return wit_world.TagResult(tags=[version, "latest"], outputs=[])

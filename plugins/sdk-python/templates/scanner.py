"""@NAME@: a scanner. Reports every file of the image whose path contains
`with: pattern`, one finding each, severity low."""

import wit_world
from wharf_plugin import config, image, outputs


class WitWorld(wit_world.WitWorld):
    def scan(self, subject):
        pattern = config.require("pattern")
        findings = [
            image.finding("pattern", "low", f"{f.path} matches {pattern!r}", path=f.path)
            for f in image.list_files()
            if pattern in f.path
        ]
        return wit_world.ScanResult(
            findings=findings,
            outputs=[outputs.text("count", str(len(findings)))],
            fail=None,
        )

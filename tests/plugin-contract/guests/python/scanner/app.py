"""The contract suite's scanner guest in Python: the twin of
guests/rust/contract-scanner/src/lib.rs."""

import wit_world
from wharf_plugin import config, image, outputs


class WitWorld(wit_world.WitWorld):
    def scan(self, subject):
        pattern = config.require("pattern")
        probe = config.get("probe")
        if probe is not None:
            image.read_file(probe, 1024)
        cfg = image.config()
        findings = [
            image.finding("contract/pattern", "low", f"{f.path} matches {pattern}", path=f.path)
            for f in image.list_files()
            if pattern in f.path
        ]
        fail = f"{len(findings)} files match" if len(findings) > 1 else None
        return wit_world.ScanResult(
            findings=findings,
            outputs=[
                outputs.text("count", str(len(findings))),
                outputs.text("config-bytes", str(len(cfg.encode()))),
            ],
            fail=fail,
        )

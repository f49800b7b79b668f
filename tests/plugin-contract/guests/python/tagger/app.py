"""The contract suite's tagger guest in Python: the twin of
guests/rust/contract-tagger/src/lib.rs, mode by mode."""

import sys

import wit_world
from wharf_plugin import config, errors, files, log, outputs, secrets


class WitWorld(wit_world.WitWorld):
    def tag(self, image):
        mode = config.require("mode")
        if mode == "tag":
            version = config.require("version")
            run = config.run()
            log.info(f"tagging {image.repository} as {version}")
            keys = [k for k, _ in config.all()]
            return wit_world.TagResult(
                tags=[version, "latest"],
                outputs=[
                    outputs.text("run", f"{run.id}/{run.step_id}"),
                    outputs.items("keys", keys),
                    outputs.text("tag-in", image.tag if image.tag is not None else "<none>"),
                ],
            )
        if mode == "fail":
            raise errors.failed("the plugin failed on purpose")
        if mode == "read":
            data = files.read("data.txt", 1024)
            return wit_world.TagResult(tags=[f"len-{len(data)}"], outputs=[])
        if mode == "secret":
            with secrets.get(config.require("secret")) as secret:
                mac = secret.hmac_sha256(b"data")
                return wit_world.TagResult(
                    tags=[secret.id()], outputs=[outputs.text("mac", mac.hex())]
                )
        if mode == "secret-loop":
            sid = config.require("secret")
            n = 0
            for _ in range(3000):
                with secrets.get(sid) as s:
                    n += 1 if s.id() else 0
            return wit_world.TagResult(tags=[f"opened-{n}"], outputs=[])
        if mode == "print":
            print("hello from stdout")
            print("hello from stderr", file=sys.stderr)
            return wit_world.TagResult(tags=["printed"], outputs=[])
        if mode == "trap":
            raise RuntimeError("the guest trapped on purpose")
        raise errors.invalid_config(f"unknown mode {mode!r}")

"""@NAME@: a notifier. POSTs the run summary as JSON to `with: url` (grant its host
with `allow: { http: ["host:port"] }`)."""

import json

import wit_world
from wharf_plugin import config, errors, http


class WitWorld(wit_world.WitWorld):
    def notify(self, event):
        url = config.require("url")
        summary = {
            "run": event.run.id,
            "status": "success" if event.status == wit_world.RunStatus.SUCCESS else "failure",
            "steps": [{"id": s.id, "status": s.status} for s in event.steps],
        }
        response = http.post(url, json.dumps(summary), headers={"content-type": "application/json"})
        if not response.ok:
            raise errors.failed(f"{url} answered {response.status}")

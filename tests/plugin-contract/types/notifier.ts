// A notifier in TypeScript, checked against the SDK's declarations.
import { config, errors, log } from "@wharf/plugin-sdk";
import type { Notifier, RunEvent } from "@wharf/plugin-sdk";
import * as http from "@wharf/plugin-sdk/http";

export const notify: Notifier = (event: RunEvent): void => {
  const url = config.require("url");
  const failed = event.steps.filter((s) => s.error !== null).map((s) => `${s.id}: ${s.error}`);
  const pushed = event.images.map((i) => `${i.image.reference}@${i.digest ?? "?"} (${i.size ?? 0} bytes)`);
  const counts = event.findings.map((f) => `${f.severity}=${f.count}`);
  const body = JSON.stringify({
    run: event.run.id,
    ok: event.status === "success",
    took: event.durationMs,
    failed,
    pushed,
    counts,
  });
  const response = http.post(url, body, {
    headers: { "content-type": "application/json" },
    timeoutMs: 5000,
  });
  const again = http.request("PATCH", url, http.fromUtf8(response.body), {
    headers: [["x-run", event.run.id]],
    maxBody: 1024,
  });
  if (!response.ok || !again.ok) throw errors.failed(`${url} answered ${response.status}`);
  log.info(`notified ${url}: ${response.header("content-type") ?? "-"} ${again.json<{ ok: boolean }>().ok}`);
};

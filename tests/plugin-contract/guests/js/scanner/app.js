// The contract suite's scanner guest in JavaScript: the twin of
// guests/rust/contract-scanner/src/lib.rs.
import { config, outputs, utf8 } from "@wharf/plugin-sdk";
import * as image from "@wharf/plugin-sdk/image";

export function scan(_subject) {
  const pattern = config.require("pattern");
  const probe = config.get("probe");
  if (probe !== null) image.readFile(probe, 1024);
  const cfg = image.config();
  const findings = image
    .listFiles()
    .filter((f) => f.path.includes(pattern))
    .map((f) => image.finding("contract/pattern", "low", `${f.path} matches ${pattern}`, f.path));
  return {
    findings,
    outputs: [
      outputs.text("count", String(findings.length)),
      outputs.text("config-bytes", String(utf8(cfg).length)),
    ],
    fail: findings.length > 1 ? `${findings.length} files match` : null,
  };
}

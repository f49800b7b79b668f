// A scanner in TypeScript, checked against the SDK's declarations.
import { config, outputs } from "@wharf/plugin-sdk";
import type { Finding, ScanResult, Scanner } from "@wharf/plugin-sdk";
import * as image from "@wharf/plugin-sdk/image";
import type { FileEntry } from "@wharf/plugin-sdk/image";

export const scan: Scanner = (subject): ScanResult => {
  const user: string = JSON.parse(image.config()).config?.User ?? "";
  const setuid = (f: FileEntry) => f.kind === "file" && (f.mode & 0o4000) !== 0;
  const findings: Finding[] = image
    .listFiles()
    .filter(setuid)
    .map((f) => image.finding("policy/setuid", "medium", `${f.path} is setuid`, f.path));
  if (user === "" || user === "root") {
    findings.push(image.finding("policy/runs-as-root", "high", `${subject.reference} runs as root`));
  }
  const passwd = image.readFile("etc/passwd", 4096);
  const failOn = config.get("failOn");
  return {
    findings,
    outputs: [outputs.text("findings", findings.length), outputs.text("passwd", passwd.length)],
    fail: failOn !== null && findings.some((f) => f.severity === failOn) ? "findings at failOn" : null,
  };
};

// Scanners only: the image being scanned.
import * as wimage from "wharf:plugin/image@0.1.0";

export const config = () => wimage.config();
export const listFiles = () => wimage.listFiles();
export const readFile = (path, maxBytes = 1 << 20) => wimage.readFile(path, maxBytes);
/** A finding; severity is "info", "low", "medium", "high" or "critical". */
export const finding = (ruleId, severity, message, path = null, line = null) => ({
  ruleId, severity, message, path, line,
});

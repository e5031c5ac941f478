import { randomBytes } from "node:crypto";
import { mkdir, open, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import type { OutboundMessage, Transport } from "./transport.js";

/**
 * The embedded default (SPEC §4): each message becomes an .eml file in one folder, so Postern
 * runs without any other mail server. Files are written under a temporary name, flushed, then
 * renamed, so anything watching the folder never sees half a message.
 */
export class FileTransport implements Transport {
  constructor(
    private readonly dir: string,
    private readonly now: () => number = Date.now,
  ) {}

  async send(message: OutboundMessage): Promise<{ response: string }> {
    await mkdir(this.dir, { recursive: true });
    const name = `${fileTimestamp(this.now())}-${message.deliveryId === undefined ? randomBytes(6).toString("hex") : `d${message.deliveryId}`}.eml`;
    const finalPath = join(this.dir, name);
    // Leading dot: tools that pick up *.eml skip it while it is being written.
    const tempPath = join(this.dir, `.${name}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
    try {
      const file = await open(tempPath, "wx");
      try {
        await file.writeFile(message.raw);
        await file.sync();
      } finally {
        await file.close();
      }
      await rename(tempPath, finalPath);
    } catch (error) {
      await rm(tempPath, { force: true });
      throw error;
    }
    return { response: `written ${finalPath}` };
  }

  async close(): Promise<void> {}
}

/** ISO 8601 with the colons replaced, so the name is valid on every file system and sorts by time. */
function fileTimestamp(ms: number): string {
  return new Date(ms).toISOString().replace(/:/g, "-");
}

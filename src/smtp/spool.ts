import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { open, unlink, type FileHandle } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import type { Readable } from "node:stream";

/**
 * One message's bytes as they arrived in DATA. A small message stays in memory; past
 * `memoryLimit` bytes the message goes to a spool file as it arrives, so a session holds a few
 * kilobytes of it however large it is, and the bytes come back as one Buffer only when the
 * message's turn to be processed comes (see ProcessingLanes).
 */
export interface ReceivedMessage {
  /** Bytes held (0 once the message went over the SIZE limit: its bytes were drained, not kept). */
  readonly size: number;
  /** True when the bytes are on disk rather than in memory. */
  readonly spooled: boolean;
  /** The whole message as one Buffer (read from disk for a spooled message). */
  bytes(): Promise<Buffer>;
  /** Closes the spool file; nothing is left on disk either way (the file is unlinked once open). */
  discard(): Promise<void>;
}

export interface SpoolOptions {
  /** Where spool files are created (and at once unlinked). */
  readonly dir: string;
  /** Bytes a message may hold in memory before it goes to disk. */
  readonly memoryLimit: number;
}

/** Bytes written to the spool file but not yet on disk before the sender is slowed down (TCP backpressure). */
const MAX_PENDING_WRITE = 256 * 1024;

/**
 * Reads a DATA stream to its end. `keep()` says whether to go on holding bytes: false once
 * smtp-server has seen the message go over its SIZE limit, after which the rest is only drained.
 * Rejects with the stream's error or the spool file's (ENOSPC becomes 451 4.3.0, storage full, upstream);
 * `abort()` on the returned handle stops waiting and frees what was held.
 */
export function receiveMessage(
  stream: Readable,
  options: SpoolOptions,
  keep: () => boolean,
): { readonly received: Promise<ReceivedMessage>; abort(reason: unknown): void } {
  const receiver = new Receiver(stream, options, keep);
  return { received: receiver.received, abort: (reason) => receiver.fail(reason) };
}

class Receiver {
  readonly received: Promise<ReceivedMessage>;
  private resolve!: (message: ReceivedMessage) => void;
  private reject!: (error: unknown) => void;
  private chunks: Buffer[] = [];
  private held = 0;
  private file: FileHandle | undefined;
  private opening: Promise<void> | undefined;
  /** The tail of the chain of writes to the spool file, in arrival order. */
  private writing: Promise<void> = Promise.resolve();
  private written = 0;
  private pending = 0;
  private done = false;

  constructor(
    private readonly stream: Readable,
    private readonly options: SpoolOptions,
    private readonly keep: () => boolean,
  ) {
    this.received = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    stream.on("data", (chunk: Buffer) => this.onData(chunk));
    stream.once("end", () => void this.onEnd());
    stream.once("error", (error) => this.fail(error));
  }

  private onData(chunk: Buffer): void {
    if (this.done) return;
    if (!this.keep()) {
      // Over the SIZE limit: what was held is let go; the rest is read only to reach the end.
      this.chunks = [];
      this.held = 0;
      return;
    }
    this.held += chunk.length;
    if (!this.file && this.held <= this.options.memoryLimit) {
      this.chunks.push(chunk);
      return;
    }
    if (!this.file) {
      this.chunks.push(chunk);
      this.opening ??= this.openSpoolFile();
      return;
    }
    this.write(chunk);
  }

  private async openSpoolFile(): Promise<void> {
    this.stream.pause();
    try {
      this.file = await openUnlinked(this.options.dir);
    } catch (error) {
      this.fail(error);
      return;
    }
    if (this.done) {
      await this.file.close().catch(() => undefined);
      return;
    }
    const held = this.chunks;
    this.chunks = [];
    for (const chunk of held) this.write(chunk);
    if (this.pending <= MAX_PENDING_WRITE) this.stream.resume();
  }

  private write(chunk: Buffer): void {
    const file = this.file!;
    this.pending += chunk.length;
    if (this.pending > MAX_PENDING_WRITE) this.stream.pause();
    this.writing = this.writing.then(async () => {
      if (this.done) return;
      let offset = 0;
      while (offset < chunk.length) {
        const { bytesWritten } = await file.write(chunk, offset, chunk.length - offset, this.written);
        offset += bytesWritten;
        this.written += bytesWritten;
      }
      this.pending -= chunk.length;
      if (this.pending <= MAX_PENDING_WRITE / 2 && this.stream.isPaused()) this.stream.resume();
    });
    this.writing.catch((error: unknown) => this.fail(error));
  }

  private async onEnd(): Promise<void> {
    try {
      await this.opening;
      await this.writing;
    } catch (error) {
      this.fail(error);
      return;
    }
    if (this.done) return;
    this.done = true;
    const { chunks, file } = this;
    const size = this.keep() ? this.held : 0;
    this.chunks = [];
    if (!file || size === 0) {
      await file?.close().catch(() => undefined);
      const bytes = size === 0 ? Buffer.alloc(0) : chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      this.resolve({ size, spooled: false, bytes: async () => bytes, discard: async () => undefined });
      return;
    }
    this.resolve(spooledMessage(file, size));
  }

  fail(error: unknown): void {
    if (this.done) return;
    this.done = true;
    this.chunks = [];
    // Still reading: the session may go on (a 451 after DATA), so the rest of DATA is drained.
    if (this.stream.isPaused()) this.stream.resume();
    // Settled once the spool file, if one was being opened, is closed (and so gone from disk).
    void (async () => {
      await this.opening?.catch(() => undefined);
      await this.file?.close().catch(() => undefined);
      this.reject(error);
    })();
  }
}

function spooledMessage(file: FileHandle, size: number): ReceivedMessage {
  let closed = false;
  return {
    size,
    spooled: true,
    async bytes() {
      // One allocation, the size of the message: the only copy the pipeline gets.
      const buffer = Buffer.allocUnsafe(size);
      let offset = 0;
      while (offset < size) {
        const { bytesRead } = await file.read(buffer, offset, size - offset, offset);
        if (bytesRead === 0) throw new Error(`spool file ended after ${offset} of ${size} bytes`);
        offset += bytesRead;
      }
      return buffer;
    },
    async discard() {
      if (closed) return;
      closed = true;
      await file.close().catch(() => undefined);
    },
  };
}

/** A new file in `dir`, unlinked as soon as it is open: a crash leaves nothing behind to clean up. */
async function openUnlinked(dir: string): Promise<FileHandle> {
  const path = join(dir, `postern-${process.pid}-${randomBytes(8).toString("hex")}.eml`);
  const file = await open(path, "wx+", 0o600);
  await unlink(path).catch(async (error: unknown) => {
    await file.close().catch(() => undefined);
    throw error;
  });
  return file;
}

/**
 * Beside a SQLite database (the disk that must have room for the message anyway), else the
 * system's temporary directory. Created when missing.
 */
export function spoolDirOf(database: { readonly engine: string; readonly path: string }): string {
  const dir = database.engine === "sqlite" && database.path !== ":memory:" ? join(dirname(resolve(database.path)), "spool") : tmpdir();
  mkdirSync(dir, { recursive: true });
  return dir;
}

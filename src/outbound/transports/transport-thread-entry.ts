/**
 * The transport thread (see TransportThread): an SmtpTransport of its own, sending the copies its
 * parent hands over and answering with the relay's reply or the send's error fields.
 */
import { parentPort, workerData } from "node:worker_threads";
import { threadLogger } from "../thread-log.js";
import { SmtpTransport } from "./smtp-transport.js";
import type { FromTransportThread, SendFailure, ToTransportThread, TransportThreadData } from "./transport-thread.js";

const port = parentPort;
if (!port) throw new Error("transport-thread-entry runs as a worker thread, started by TransportThread");
const data = workerData as TransportThreadData;
const post = (message: FromTransportThread): void => port.postMessage(message);
// Structured cloning hands a Buffer over as a plain Uint8Array.
const settings = data.settings.ca ? { ...data.settings, ca: Buffer.from(data.settings.ca) } : data.settings;
const transport = new SmtpTransport(settings, threadLogger(data.log, (line) => post({ type: "log", line })));

port.on("message", (message: ToTransportThread) => {
  if (message.type === "send") {
    const raw = Buffer.from(message.raw.buffer, message.raw.byteOffset, message.raw.byteLength);
    transport.send({ envelope: message.envelope, raw }).then(
      (result) => post({ type: "sent", id: message.id, result }),
      (error: unknown) => post({ type: "failed", id: message.id, failure: failureOf(error) }),
    );
  } else if (message.type === "close") {
    void transport.close().finally(() => post({ type: "closed" }));
  }
});

function failureOf(error: unknown): SendFailure {
  if (typeof error !== "object" || error === null) return { name: "Error", message: String(error) };
  const e = error as Record<string, unknown>;
  const text = (value: unknown) => (typeof value === "string" ? value : undefined);
  const fields = {
    code: text(e.code),
    responseCode: typeof e.responseCode === "number" ? e.responseCode : undefined,
    command: text(e.command),
    response: text(e.response),
    syscall: text(e.syscall),
  };
  const defined = Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined));
  return { name: text(e.name) ?? "Error", message: text(e.message) ?? String(error), ...defined };
}

import { connect, type Socket } from "node:net";

/** A raw SMTP client: one socket, complete replies read line by line. */
export interface RawClient {
  readonly socket: Socket;
  /** The next complete reply (all its lines), or rejects after `ms`. */
  reply(ms?: number): Promise<string>;
  /** Sends one command line and returns the reply to it. */
  command(line: string, ms?: number): Promise<string>;
  write(data: string): void;
  /** Resolves once the server has closed the connection. */
  readonly closed: Promise<void>;
  end(): void;
}

/** Connects from `localAddress` (any of 127.0.0.0/8 acts as another host); the greeting is the first reply. */
export async function rawClient(port: number, localAddress = "127.0.0.1"): Promise<RawClient> {
  const socket = connect({ host: "127.0.0.1", port, localAddress });
  let buffer = "";
  const replies: string[] = [];
  const waiters: Array<(reply: string) => void> = [];
  let current: string[] = [];
  socket.setEncoding("utf8");
  socket.on("data", (data: string) => {
    buffer += data;
    let index: number;
    while ((index = buffer.indexOf("\r\n")) >= 0) {
      const line = buffer.slice(0, index);
      buffer = buffer.slice(index + 2);
      current.push(line);
      if (/^\d{3}(?: |$)/.test(line)) {
        const reply = current.join("\n");
        current = [];
        const waiter = waiters.shift();
        if (waiter) waiter(reply);
        else replies.push(reply);
      }
    }
  });
  socket.on("error", () => undefined);
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  const reply = (ms = 5000) =>
    new Promise<string>((resolve, reject) => {
      const ready = replies.shift();
      if (ready !== undefined) return resolve(ready);
      const timer = setTimeout(() => reject(new Error(`no reply within ${ms} ms`)), ms);
      waiters.push((r) => {
        clearTimeout(timer);
        resolve(r);
      });
    });
  return {
    socket,
    reply,
    command(line, ms) {
      socket.write(`${line}\r\n`);
      return reply(ms);
    },
    write: (data) => socket.write(data),
    closed,
    end: () => socket.destroy(),
  };
}

/**
 * The relay the benchmark's copies go to: a minimal SMTP server that accepts every message and
 * throws it away, in a process of its own (forked by scripts/bench/tools.ts). It is written on
 * raw sockets, like Postfix's smtp-sink, so that it costs far less per message than anything it
 * receives from; unlike smtp-sink it also counts bytes and timestamps marked messages, which the
 * fan-out baseline (same message size) and the latency scenario (250 → first copy) need.
 *
 *   argv[2]   port to listen on (0: any)
 *   → parent  { type: "ready", port }
 *   → parent  { type: "count", count, bytes, lastAt }   at most every 20 ms while messages arrive
 *   → parent  { type: "marks", marks: [[mark, at], …] } answering { type: "marks" }
 *   ← parent  { type: "stop" }
 *
 * A mark is the first `bench-mark-N` in a message's bytes; the first arrival of each is kept.
 * Times are epoch milliseconds with sub-millisecond precision, comparable across the processes of
 * one machine.
 */
import net from "node:net";

const now = () => performance.timeOrigin + performance.now();
const send = (message: unknown) => process.send?.(message);
process.on("disconnect", () => process.exit(0));

let count = 0;
let bytes = 0;
let lastAt = 0;
const marks = new Map<string, number>();
let flush: NodeJS.Timeout | undefined;
const MARK = /bench-mark-(\d+)/;
const END = Buffer.from("\r\n.\r\n");

function received(message: Buffer): void {
  count++;
  bytes += message.length;
  lastAt = now();
  const found = MARK.exec(message.toString("latin1"));
  if (found?.[1] !== undefined && !marks.has(found[1])) marks.set(found[1], lastAt);
  flush ??= setTimeout(() => {
    flush = undefined;
    send({ type: "count", count, bytes, lastAt });
  }, 20);
}

const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  let inData = false;
  let pending: Buffer = Buffer.alloc(0);
  let dataParts: Buffer[] = [];
  socket.write("220 bench-sink ESMTP\r\n");
  socket.on("error", () => socket.destroy());
  socket.on("data", (chunk: Buffer) => {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    let replies = "";
    for (;;) {
      if (inData) {
        // The terminating CRLF.CRLF (the CRLF before the dot ends the last line); every message
        // here has headers, so the bare ".CRLF" of an empty one never comes.
        const joined = dataParts.length ? Buffer.concat([...dataParts, pending]) : pending;
        const end = joined.indexOf(END);
        if (end === -1) {
          dataParts = [joined];
          pending = Buffer.alloc(0);
          break;
        }
        received(joined.subarray(0, end + 2));
        pending = joined.subarray(end + END.length);
        dataParts = [];
        inData = false;
        replies += "250 2.0.0 Ok: discarded\r\n";
        continue;
      }
      const eol = pending.indexOf("\r\n");
      if (eol === -1) break;
      const line = pending.subarray(0, eol).toString("latin1");
      pending = pending.subarray(eol + 2);
      const verb = line.slice(0, 4).toUpperCase();
      if (verb === "EHLO") replies += "250-bench-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 104857600\r\n";
      else if (verb === "DATA") {
        replies += "354 End data with <CR><LF>.<CR><LF>\r\n";
        inData = true;
      } else if (verb === "QUIT") {
        socket.end(`${replies}221 2.0.0 Bye\r\n`);
        return;
      } else replies += "250 2.0.0 Ok\r\n";
    }
    if (replies) socket.write(replies);
  });
});

process.on("message", (message: { type?: string }) => {
  if (message?.type === "marks") send({ type: "marks", marks: [...marks] });
  if (message?.type === "stop") {
    server.close();
    process.exit(0);
  }
});

server.listen(Number(process.argv[2] ?? 0), "127.0.0.1", () => {
  send({ type: "ready", port: (server.address() as net.AddressInfo).port });
});

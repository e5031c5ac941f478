// Load and baselines for scripts/bench.ts, run as a process of its own so that its CPU does not
// count against what it measures. Prints one JSON line: { startedAt, seconds, failed }, startedAt in
// epoch milliseconds (comparable with the sink's timestamps).
//
//   node scripts/bench-client.mjs pool PORT COUNT CONNECTIONS SIZE
//     The fan-out baseline: a nodemailer pool of CONNECTIONS connections (Nagle off) sending COUNT
//     raw messages of SIZE bytes, built before the clock starts, each to one recipient, after
//     CONNECTIONS untimed messages that open the pool's connections.
//   node scripts/bench-client.mjs inbound PORT COUNT CONNECTIONS FROM TO SIZE
//     Inbound load where Postfix's smtp-source cannot be had: the same pool, one message per
//     recipient address, kept connections.
import net from "node:net";
import nodemailer from "nodemailer";

const [mode, port, countArg, connectionsArg, ...rest] = process.argv.slice(2);
const count = Number(countArg);
const connections = Number(connectionsArg);
const now = () => performance.timeOrigin + performance.now();

const transport = nodemailer.createTransport({
  host: "127.0.0.1",
  port: Number(port),
  ignoreTLS: true,
  pool: true,
  maxConnections: connections,
  maxMessages: Infinity,
  // Nagle off, as Postern's outbound transport has it: each command goes out at once.
  getSocket(options, callback) {
    const socket = net.connect(options.port, options.host, () => callback(null, { connection: socket }));
    socket.setNoDelay(true);
    socket.once("error", (error) => callback(error));
  },
});

function raw(i, from, to, size) {
  const head =
    `From: Bench <${from}>\r\nTo: <${to}>\r\nSubject: Benchmark ${i}\r\nMessage-ID: <bench-${i}-${process.pid}@bench.test>\r\n` +
    `Date: ${new Date().toUTCString()}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n`;
  const line = "The quick brown fox jumps over the lazy dog, and the benchmark keeps counting.\r\n";
  let body = "";
  while (head.length + body.length + line.length <= size) body += line;
  return Buffer.from(head + body + "x".repeat(Math.max(0, size - head.length - body.length - 2)) + "\r\n");
}

const messages = [];
if (mode === "pool") {
  const size = Number(rest[0]);
  for (let i = 0; i < count; i++) {
    const to = `recipient${i % 100}@example.test`;
    messages.push({ envelope: { from: `bounce+${i}@bench.test`, to: [to] }, raw: raw(i, "postern@bench.test", to, size) });
  }
} else if (mode === "inbound") {
  const [from, to, size] = rest;
  for (let i = 0; i < count; i++) messages.push({ envelope: { from, to: [to] }, raw: raw(i, from, to, Number(size)) });
} else {
  throw new Error(`unknown mode "${mode}": pool or inbound`);
}

let failed = 0;
// The pool's connections are opened before the clock starts, as Postern's are by the time it is
// measured: one message per connection, counted by the sink but not timed.
if (mode === "pool") {
  const size = Number(rest[0]);
  await Promise.all(
    Array.from({ length: connections }, (_, i) =>
      transport.sendMail({ envelope: { from: "bounce+warm@bench.test", to: ["warm@example.test"] }, raw: raw(-1 - i, "postern@bench.test", "warm@example.test", size) }),
    ),
  );
}
const startedAt = now();
await Promise.all(messages.map((message) => transport.sendMail(message).catch(() => void failed++)));
const seconds = (now() - startedAt) / 1000;
transport.close();
process.stdout.write(JSON.stringify({ startedAt, seconds, failed }) + "\n");

// Load generator, run as its own process so its CPU does not count against the server:
// node scripts/bench-client.mjs PORT COUNT CONNECTIONS TO
import nodemailer from "nodemailer";

const [port, count, connections, to] = process.argv.slice(2);
const transport = nodemailer.createTransport({
  host: "127.0.0.1",
  port: Number(port),
  ignoreTLS: true,
  pool: true,
  maxConnections: Number(connections),
  maxMessages: Infinity,
});
const body = "Hello,\n\nThis is a benchmark message with a few lines of text.\n\nThanks,\nCarol\n\nOn Mon, Bob wrote:\n> quoted\n> text\n";
const started = performance.now();
let failed = 0;
await Promise.all(
  Array.from({ length: Number(count) }, (_, i) =>
    transport
      .sendMail({ from: `customer${i % 50}@bench.test`, to, subject: `Benchmark ${i}`, text: body, messageId: `<bench-${i}-${Date.now()}@bench.test>` })
      .catch(() => void failed++),
  ),
);
const seconds = (performance.now() - started) / 1000;
transport.close();
process.stdout.write(JSON.stringify({ seconds, failed }) + "\n");

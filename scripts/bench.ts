/**
 * The performance targets of issue 11, each measured beside a baseline measured in the same run,
 * printed and written between the markers of docs/benchmarks.md (which describes every row).
 *
 *   npm run bench                                   every scenario (about ten minutes)
 *   npm run bench -- --quick                        small counts: a smoke test of a few seconds per scenario
 *   npm run bench -- --only inbound,fanout          some scenarios
 *   npm run bench -- --engines sqlite               target 1 without its PostgreSQL row
 *   npm run bench -- --duration 20                  a shorter end-to-end run (seconds)
 *   npm run bench -- --no-write                     print only; leave docs/benchmarks.md alone
 *   POSTERN_RUN_SOURCES=1 npm run bench             the nodes run the TypeScript sources (tsx), not dist/
 *
 * Scenarios: inbound (target 1), connect (2), fanout (3), size and queries (4), memory (5),
 * latency (6), e2e (7). Each lives in scripts/bench/; Postern nodes run in processes of their own
 * (scripts/bench-node.ts) with a DNS resolver that fails at once, and send their copies over SMTP
 * to a sink in a process of its own (scripts/bench/sink.ts).
 */
import { cpus, loadavg, release, totalmem } from "node:os";
import { fileURLToPath } from "node:url";
import { engineAvailable, type Context } from "./bench/context.js";
import { memoryScenario, queriesScenario } from "./bench/external.js";
import { fanoutScenario } from "./bench/fanout.js";
import { connectScenario, inboundScenario } from "./bench/inbound.js";
import { endToEndScenario, latencyScenario } from "./bench/latency.js";
import { textTable, writeSection, type Table } from "./bench/report.js";
import { sizeScenario } from "./bench/size.js";
import { smtpSource, type Engine } from "./bench/tools.js";
import { build, distIsCurrent } from "./build.mjs";

const SCENARIOS: Record<string, (ctx: Context) => Promise<Table>> = {
  inbound: inboundScenario,
  connect: connectScenario,
  fanout: fanoutScenario,
  size: sizeScenario,
  latency: latencyScenario,
  e2e: endToEndScenario,
  memory: memoryScenario,
  queries: queriesScenario,
};

const args = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const quick = args.includes("--quick");
const only = (option("only") ?? Object.keys(SCENARIOS).join(",")).split(",").map((s) => s.trim()).filter(Boolean);
const unknown = only.filter((s) => !(s in SCENARIOS));
if (unknown.length || !only.length) throw new Error(`--only takes ${Object.keys(SCENARIOS).join(", ")} (comma-separated), not "${option("only")}"`);
const durationOption = option("duration");
const duration = durationOption !== undefined ? Number(durationOption) : quick ? 6 : 60;
if (!Number.isFinite(duration) || duration < 1) throw new Error(`--duration takes seconds, not "${durationOption}"`);

const facts: string[] = [];
const notes: string[] = [];
const enginesOption = option("engines");
let engines: Engine[];
if (enginesOption !== undefined) {
  engines = enginesOption.split(",").map((e) => e.trim()).filter(Boolean) as Engine[];
  if (!engines.length || engines.some((e) => e !== "sqlite" && e !== "postgres")) throw new Error(`--engines takes sqlite, postgres or both, not "${enginesOption}"`);
} else if (!quick && engineAvailable()) {
  engines = ["sqlite", "postgres"];
} else {
  engines = ["sqlite"];
  if (!quick) notes.push("PostgreSQL row skipped: no PostgreSQL server binaries (initdb, pg_ctl) found");
}

// The nodes run what `npm start` runs: the compiled dist/, built now when the sources are newer.
if (process.env.POSTERN_RUN_SOURCES !== "1" && !distIsCurrent()) {
  const { files, ms } = await build();
  process.stdout.write(`compiled ${files} files to dist/ in ${ms} ms\n`);
}
const runtime =
  process.env.POSTERN_RUN_SOURCES !== "1" && distIsCurrent()
    ? "the compiled dist/, as `npm start` runs them"
    : "the TypeScript sources through tsx (POSTERN_RUN_SOURCES=1)";

const started = performance.now();
const load = () => loadavg().map((l) => l.toFixed(2)).join(" ");
const loadBefore = load();
const ctx: Context = {
  quick,
  engines,
  duration,
  facts,
  log: (line) => process.stdout.write(`${line}\n`),
};

const generator = (await smtpSource()) ? "Postfix smtp-source (.tmp/postfix)" : "a nodemailer pool (scripts/bench-client.mjs); the connection-per-message scenario needs smtp-source";
const tables: Table[] = [];
let failures = 0;
try {
  for (const id of only) {
    let table: Table;
    try {
      table = await SCENARIOS[id]!(ctx);
    } catch (error) {
      // One scenario failing (a child that crashed, a database another process holds) leaves the others' figures.
      const message = error instanceof Error ? error.message : String(error);
      table = { id, title: `${id}: failed`, header: ["scenario", "error"], rows: [[id, message.split("\n").slice(0, 3).join(" / ").slice(0, 300)]], notes: [] };
      failures++;
    }
    tables.push(table);
    process.stdout.write(`\n${textTable(table)}\n\n`);
  }
} finally {
  await ctx.cluster?.stop();
}

const seconds = (performance.now() - started) / 1000;
const cpuList = cpus();
const machine = `${cpuList.length} × ${cpuList[0]?.model.trim() ?? "unknown CPU"}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB memory, Linux ${release()}, Node ${process.version}`;
const command = process.env.npm_lifecycle_event === "bench" ? `npm run bench${args.length ? ` -- ${args.join(" ")}` : ""}` : `node --import tsx scripts/bench.ts${args.length ? ` ${args.join(" ")}` : ""}`;
const allFacts = [
  `**Command:** \`${command}\``,
  `**Date:** ${new Date().toISOString().replace(/\.\d+Z$/, "Z")} (the run took ${seconds.toFixed(0)} s)`,
  `**Machine:** ${machine}`,
  `**Load average:** ${loadBefore} before the run, ${load()} after (other work on the machine shows here and as noise)`,
  `**Inbound load:** ${generator}; DNS: every lookup fails at once (ENOTFOUND), no real resolver`,
  `**Postern nodes run:** ${runtime}`,
  ...facts,
  ...notes,
];
process.stdout.write(`${allFacts.map((f) => f.replace(/\*\*/g, "")).join("\n")}\n`);
if (!args.includes("--no-write")) {
  const docs = fileURLToPath(new URL("../docs/benchmarks.md", import.meta.url));
  writeSection(docs, allFacts, tables);
  process.stdout.write(`written to ${docs}\n`);
}
// Children and pools are closed; a library handle left open must not keep the run alive.
process.exit(failures ? 1 : 0);

import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import nodemailer from "nodemailer";
import { afterEach, describe, expect, it } from "vitest";
import { markdownTable, textTable, verdict, writeSection, type Table } from "../../scripts/bench/report.js";
import { startSink, type Sink } from "../../scripts/bench/tools.js";

const run = promisify(execFile);

const table: Table = {
  id: "t",
  title: "Target 9: a table",
  header: ["row", "Postern", "baseline (same run)", "ratio", "target", "result"],
  rows: [["a | b", "10", "20", "0.50 ×", "≥ 0.25 ×", "pass"]],
  notes: ["one note"],
};

describe("benchmark report (scripts/bench/report.ts)", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it("rewrites only what lies between the markers, keeping the hand-written text", () => {
    const dir = mkdtempSync(join(tmpdir(), "bench-report-"));
    dirs.push(dir);
    const path = join(dir, "benchmarks.md");
    writeFileSync(path, "# Benchmarks\n\nHand-written.\n\n<!-- bench:start -->\nold figures\n<!-- bench:end -->\n\nAfter.\n");
    writeSection(path, ["**Date:** today"], [table]);
    const doc = readFileSync(path, "utf8");
    expect(doc.startsWith("# Benchmarks\n\nHand-written.\n\n<!-- bench:start -->")).toBe(true);
    expect(doc.endsWith("<!-- bench:end -->\n\nAfter.\n")).toBe(true);
    expect(doc).not.toContain("old figures");
    expect(doc).toContain("- **Date:** today");
    expect(doc).toContain("### Target 9: a table");
    // A pipe inside a cell must not split it into two columns.
    expect(doc).toContain("| a \\| b | 10 | 20 | 0.50 × | ≥ 0.25 × | pass |");
    expect(doc).toContain("- one note");
  });

  it("prints tables with one line per row and judges ratios against the target", () => {
    expect(textTable(table).split("\n")).toHaveLength(4);
    expect(markdownTable(table)).toContain("| --- | ---: | ---: | ---: | ---: | ---: |");
    expect(verdict(0.3, 0.25)).toBe("pass");
    expect(verdict(0.2, 0.25)).toBe("short");
    expect(verdict(Number.NaN, 0.25)).toBe("—");
  });
});

describe("benchmark sink (scripts/bench/sink.ts)", () => {
  let sink: Sink | undefined;
  afterEach(async () => {
    await sink?.stop();
    sink = undefined;
  });

  it("counts every message and the first arrival of each mark", async () => {
    sink = await startSink();
    const transport = nodemailer.createTransport({ host: "127.0.0.1", port: sink.port, ignoreTLS: true });
    for (const mark of [7, 7, 8]) {
      await transport.sendMail({ from: "a@bench.test", to: "b@example.test", subject: "Hi", text: `bench-mark-${mark}\n\nHello.\n.\nA line that is a lone dot above.` });
    }
    transport.close();
    expect(await sink.waitFor(3, 10_000)).toBe(true);
    expect(sink.count).toBe(3);
    expect(sink.bytes).toBeGreaterThan(0);
    const marks = await sink.marks();
    expect([...marks.keys()].sort()).toEqual(["7", "8"]);
  });
});

// SMOKE TEST: runs the benchmark itself (`--quick`, one cheap scenario, nothing written) and checks
// the shape of what it prints, never the figures: timings are not asserted anywhere.
describe("npm run bench -- --quick (smoke test)", () => {
  it("prints target 1's table with the baseline, Postern's rows and every reply accepted", async () => {
    const { stdout } = await run(process.execPath, ["--import", "tsx", "scripts/bench.ts", "--quick", "--only", "inbound", "--engines", "sqlite", "--no-write"], {
      maxBuffer: 1 << 24,
      timeout: 170_000,
    });
    expect(stdout).toContain("== Target 1: inbound, kept connections");
    expect(stdout).toMatch(/^row\s+Postern\s+baseline \(same run\)\s+ratio\s+target\s+result$/m);
    expect(stdout).toMatch(/^bare smtp-server, read and discard\s+—\s+\d+ msg\/s\s+1\.00 ×/m);
    expect(stdout).toMatch(/^SQLite, synchronous=FULL \(default\): msg\/s\s+\d+\s+\d+\s+\d+\.\d\d ×\s+≥ 0\.25 ×\s+(pass|short)$/m);
    expect(stdout).toContain("SQLite, synchronous=FULL (default): 100 of 100 replies became posts, 400 of 400 copies reached the sink");
    expect(stdout).toMatch(/CPU per message, every thread of the process: bare smtp-server \d+\.\d\d ms; SQLite, synchronous=FULL \(default\) \d+\.\d\d ms \(its 4 copies rendered and sent included\)/);
    expect(stdout).toMatch(/^\s+\d+ cores at that CPU per reply take at most: SQLite, synchronous=FULL \(default\) \d+ msg\/s/m);
    expect(stdout).toMatch(/^Load average: /m);
    expect(stdout).toMatch(/^Postern nodes run: the (compiled dist\/|TypeScript sources)/m);
    expect(stdout).not.toContain("written to");
  }, 180_000);
});

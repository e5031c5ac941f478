/**
 * Figures other scripts measure, run as children and put beside the rest: peak memory (target 5,
 * scripts/memory.ts) and query times on a big database (target 4, scripts/bench-queries.ts).
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Context } from "./context.js";
import { fixed, type Table } from "./report.js";
import { run } from "./tools.js";

const script = (name: string) => fileURLToPath(new URL(`../${name}`, import.meta.url));

/** The last line of the output that parses as a JSON object. */
function lastJson(stdout: string): Record<string, unknown> | undefined {
  for (const line of stdout.trim().split("\n").reverse()) {
    const text = line.trim();
    if (!text.startsWith("{") && !text.startsWith("[")) continue;
    try {
      const value = JSON.parse(text) as unknown;
      return Array.isArray(value) ? { rows: value } : (value as Record<string, unknown>);
    } catch {
      // Not JSON after all: keep looking.
    }
  }
  return undefined;
}

/** "| a | b |" rows of a text table, keyed by the header row's cells. */
function textRows(stdout: string): Record<string, string>[] {
  const lines = stdout.split("\n").filter((l) => l.trim().startsWith("|") && !/^\|[\s:-]+\|/.test(l.trim()));
  const cells = (l: string) => l.trim().replace(/^\||\|$/g, "").split("|").map((c) => c.trim());
  const [header, ...rest] = lines.map(cells);
  if (!header) return [];
  return rest.map((row) => Object.fromEntries(header.map((h, i) => [h, row[i] ?? ""])));
}

const mb = (value: unknown): number => {
  const n = typeof value === "number" ? value : Number(String(value ?? "").replace(/[^\d.]/g, ""));
  return Number.isFinite(n) && String(value ?? "") !== "" ? n : NaN;
};

/**
 * The value of the first key matching the first pattern that matches any, in an object or the
 * first of its `rows`/`results`/`scenarios`.
 */
function pick(data: Record<string, unknown>, ...patterns: RegExp[]): unknown {
  const candidates: Record<string, unknown>[] = [data];
  for (const key of ["rows", "results", "scenarios"]) {
    const value = data[key];
    if (Array.isArray(value) && value[0] && typeof value[0] === "object") candidates.push(value[0] as Record<string, unknown>);
  }
  for (const pattern of patterns) {
    for (const object of candidates) {
      const key = Object.keys(object).find((k) => pattern.test(k));
      if (key) return object[key];
    }
  }
  return undefined;
}

export async function memoryScenario(ctx: Context): Promise<Table> {
  ctx.log("memory: scripts/memory.ts --scenarios a (20 concurrent 10 MB messages with attachments), as npm start runs the gateway and with glibc's default malloc arenas");
  const started = await memoryRun([]);
  const glibc = await memoryRun(["--malloc-arenas", "default"]);
  const peakRow = (label: string, peak: number, target: boolean) => [
    label,
    Number.isFinite(peak) ? `${fixed(peak)} MB` : "—",
    target ? "≤ 300 MB" : "—",
    target && Number.isFinite(peak) ? (peak <= 300 ? "pass" : "short") : "—",
  ];
  return {
    id: "memory",
    title: "Target 5: memory, 20 concurrent 10 MB messages with attachments",
    header: ["measure", "Postern", "target", "result"],
    rows: [
      peakRow("peak RSS (VmHWM), receiving and sending the copies", started.peak, true),
      ["RSS before the load", Number.isFinite(started.baseline) ? `${fixed(started.baseline)} MB` : "—", "—", "—"],
      peakRow("the same peak with glibc's default malloc arenas", glibc.peak, false),
    ],
    notes: [
      `from \`node --import tsx scripts/memory.ts --scenarios a --json\`, read from ${started.source}; see \`npm run memory\` for the other scenarios`,
      "the gateway runs with MALLOC_ARENA_MAX=2, as `npm start` and the README's service recipe start it; the last row adds `--malloc-arenas default` (glibc's own: 8 pools per core, one per thread as they come)",
    ],
  };
}

async function memoryRun(args: readonly string[]): Promise<{ peak: number; baseline: number; source: string }> {
  const { stdout } = await run(process.execPath, ["--import", "tsx", script("memory.ts"), "--scenarios", "a", "--json", ...args], { maxBuffer: 1 << 24, timeout: 600_000 });
  const json = lastJson(stdout);
  if (json) {
    return {
      peak: mb(pick(json, /^peakWithCopiesMb$/, /peak.*cop/i, /^peak(Rss)?(Mb)?$/i)),
      baseline: mb(pick(json, /^baselineMb$/, /baseline/i)),
      source: "its --json line",
    };
  }
  const row = textRows(stdout).find((r) => (r.scenario ?? "").startsWith("a)")) ?? {};
  return { peak: mb(row["peak RSS with copies"] ?? row["peak RSS"]), baseline: mb(row["baseline RSS"]), source: "its table (no --json line in its output)" };
}

export async function queriesScenario(ctx: Context): Promise<Table> {
  const path = script("bench-queries.ts");
  if (!existsSync(path)) {
    return {
      id: "queries",
      title: "Target 4: queries on 1,000,000 posts and 100,000 users",
      header: ["query", "time", "target", "result"],
      rows: [],
      notes: ["not run: scripts/bench-queries.ts does not exist in this checkout"],
    };
  }
  const sizeArgs = ctx.quick ? ["--posts", "20000", "--users", "2000", "--runs", "3"] : [];
  ctx.log(`queries: scripts/bench-queries.ts --json ${sizeArgs.join(" ")} (the database is built on first use and kept under .tmp/bench-queries)`);
  const { stdout } = await run(process.execPath, ["--import", "tsx", path, "--json", ...sizeArgs], { maxBuffer: 1 << 24, timeout: 1_800_000 });
  const json = lastJson(stdout) ?? {};
  const list = (["queries", "rows", "results"].map((k) => json[k]).find(Array.isArray) as Record<string, unknown>[] | undefined) ?? [];
  const rows = list.map((q) => {
    const name = String(q.name ?? q.query ?? "?");
    const median = Number(q.medianMs ?? q.ms);
    const max = Number(q.maxMs);
    // The script's own rule: the four views are held to 50 ms; --bodies and the claim are context.
    const gated = !name.includes("--bodies") && !name.includes("claim");
    return [
      name,
      Number.isFinite(median) ? `${median.toFixed(2)} ms` : "—",
      Number.isFinite(max) ? `${max.toFixed(2)} ms` : "—",
      gated ? "< 50 ms" : "—",
      gated && Number.isFinite(median) ? (median < 50 ? "pass" : "short") : "—",
    ];
  });
  const size = json.size as Record<string, number> | undefined;
  return {
    id: "queries",
    title: "Target 4: queries on 1,000,000 posts and 100,000 users",
    header: ["query", "median", "max", "target", "result"],
    rows,
    notes: [
      `from \`node --import tsx scripts/bench-queries.ts --json${sizeArgs.length ? ` ${sizeArgs.join(" ")}` : ""}\`: query time inside its process, median and max of ${String(json.runs ?? "its")} runs after a warm-up, SQLite` +
        (size ? `, ${size.posts} posts, ${size.users} users` : ""),
    ],
  };
}

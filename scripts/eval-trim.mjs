#!/usr/bin/env node
// Scores the reply trimmer (src/inbound/trim/trim.ts) against the shared reply-trimming corpus
// (when ../shared is present) and against Postern's own client fixture set
// (test/fixtures/trim-clients/), then times trim() on pathological 1 MB bodies.
//
//   node scripts/eval-trim.mjs [--failures] [--diff NAME] [other score-trim.mjs options]
//
// The scorer runs the module in a worker thread, and tsx's loader (--import tsx) does not reach
// worker threads on Node 20, so the TypeScript is bundled with esbuild (a tsx dependency) into a
// temporary .mjs first. Timing lives here rather than in the unit tests: the project does not
// assert wall-clock time in tests.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { spawnSync } from "node:child_process";
import { fileURLToPath, pathToFileURL } from "node:url";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const scorer = resolve(repoRoot, "..", "shared", "tools", "score-trim.mjs");
const entry = join(repoRoot, "src", "inbound", "trim", "trim.ts");
const fixtureSet = join(repoRoot, "test", "fixtures", "trim-clients", "cases.ts");
const BUDGET_MS = 50;

const { build } = await import("esbuild");
const workDir = mkdtempSync(join(tmpdir(), "eval-trim-"));
const bundle = join(workDir, "trim.mjs");
const casesBundle = join(workDir, "cases.mjs");
try {
  const options = { bundle: true, format: "esm", platform: "node", logLevel: "error" };
  await build({ ...options, entryPoints: [entry], outfile: bundle });
  await build({ ...options, entryPoints: [fixtureSet], outfile: casesBundle });

  if (existsSync(scorer)) {
    console.log("shared corpus (../shared/corpus/reply-trimming):");
    const scored = spawnSync(process.execPath, [scorer, bundle, ...process.argv.slice(2)], { stdio: "inherit" });
    if (scored.status !== 0) process.exitCode = scored.status ?? 1;
  } else {
    console.log(`eval-trim: the shared reply-trimming corpus is not present (looked for ${scorer}).`);
  }

  const { trim } = await import(pathToFileURL(bundle).href);
  reportFixtureSet(trim, await import(pathToFileURL(casesBundle).href));
  reportTiming(trim);
} finally {
  rmSync(workDir, { recursive: true, force: true });
}

function reportFixtureSet(trim, { buildTrimCases, scoreTrimCases, breakdown }) {
  const cases = buildTrimCases();
  const score = scoreTrimCases(trim, cases);
  console.log(`\nPostern client fixture set (test/fixtures/trim-clients/):`);
  for (const key of ["client", "language", "shape"]) {
    const below = breakdown(score, cases, key);
    console.log(`  ${key}s below 100%: ${below.length ? below.join(", ") : "none"}`);
  }
  const showFailures = process.argv.includes("--failures");
  for (const { testCase, output } of showFailures ? score.failures : []) {
    console.log(`\n  ${testCase.name}\n  --- output\n${output}\n  --- expected\n${testCase.expected}`);
  }
  const percent = ((100 * score.exact) / score.total).toFixed(1);
  console.log(`  ${score.exact}/${score.total} exact (${percent}%)`);
}

function pathologicalBodies() {
  const MB = 1024 * 1024;
  const reply = "Thanks, that works for me.\n\nOn Tue, 3 Jan 2023 at 10:00, Bob <bob@example.com> wrote:\n";
  return {
    "1 MB single line, no newline": "word ".repeat(MB / 5),
    "1 MB of spaces on one line": " ".repeat(MB),
    "1 MB of 100k short lines": "a short line\n".repeat(Math.ceil(MB / 13)).slice(0, MB),
    "1 MB quoted body under a reply": reply + "> quoted text of the previous message\n".repeat(Math.ceil(MB / 38)),
    "1 MB of bare '>' lines (512k lines)": ">\n".repeat(MB / 2),
    "1 MB of lines ending in ':'": "Note 1:\n".repeat(MB / 8),
    "1 MB forward, kept (keepForwarded)": [
      "FYI, see below.\n\n---------- Forwarded message ---------\nFrom: Bob <bob@example.com>\nDate: Tue, Mar 4, 2025\nSubject: Logs\nTo: Ann <ann@example.com>\n\n" +
        "a line of the forwarded message\n".repeat(Math.ceil(MB / 32)),
      { keepForwarded: true },
    ],
  };
}

function reportTiming(trim) {
  const RUNS = 7;
  let worst = 0;
  const load = loadavg()[0].toFixed(2);
  console.log(`\ntiming of trim() (${RUNS} runs after a warm-up; load average ${load} on ${cpus().length} CPUs):`);
  console.log(`  ${"body".padEnd(38)} ${"median".padStart(9)} ${"best".padStart(9)}`);
  for (const [name, entry] of Object.entries(pathologicalBodies())) {
    const [body, options] = Array.isArray(entry) ? entry : [entry, undefined];
    trim(body, options);
    const times = [];
    for (let run = 0; run < RUNS; run++) {
      const t0 = performance.now();
      trim(body, options);
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    const median = times[Math.floor(RUNS / 2)];
    worst = Math.max(worst, median);
    console.log(`  ${name.padEnd(38)} ${median.toFixed(1).padStart(6)} ms ${times[0].toFixed(1).padStart(6)} ms`);
  }
  const verdict = worst < BUDGET_MS ? `under the ${BUDGET_MS} ms budget` : `OVER the ${BUDGET_MS} ms budget`;
  console.log(`worst median: ${worst.toFixed(1)} ms on a 1 MB body, ${verdict}`);
}

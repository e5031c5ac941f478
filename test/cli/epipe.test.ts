import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrateDatabase } from "../../src/db/database.js";

/** `postern mail log | head` used to die with an unhandled `Error: write EPIPE` stack trace. */

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** Each child starts Node and compiles TypeScript through tsx. */
const CHILD_TIMEOUT_MS = 60_000;

interface Outcome {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
}

/**
 * Runs node with `args` from the checkout, its stdout a pipe whose reading end is closed as
 * `head` closes it: at once (`closeAfterFirstChunk` false, so the very first write fails), or
 * after the first chunk has arrived (so the child is still writing when the pipe goes away).
 */
function runWithClosedStdout(args: readonly string[], closeAfterFirstChunk: boolean): Promise<Outcome> {
  const { POSTERN_CONFIG: _ignored, ...env } = process.env;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: REPO_ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`node ${args.join(" ")} did not finish; stderr: ${stderr}`));
    }, CHILD_TIMEOUT_MS);
    let stderr = "";
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk: string) => (stderr += chunk));
    if (closeAfterFirstChunk) child.stdout.once("data", () => child.stdout.destroy());
    else child.stdout.destroy();
    child.once("error", reject);
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr });
    });
  });
}

describe("EPIPE: output piped into a reader that closes early (`postern mail log | head`)", () => {
  it("printLine: 5 MB into a pipe closed after the first chunk ends with exit 0 and nothing on stderr", async () => {
    // The same guard main() installs, then far more output than a pipe buffers.
    const script = [
      // An absolute URL: `-e` code resolves relative specifiers against the working directory.
      `import { exitQuietlyWhenOutputCloses, printLine } from ${JSON.stringify(pathToFileURL(join(REPO_ROOT, "src", "cli", "output.ts")).href)};`,
      "exitQuietlyWhenOutputCloses();",
      'const line = "x".repeat(99);',
      "for (let i = 0; i < 50_000; i++) printLine(line);",
    ].join("\n");
    const outcome = await runWithClosedStdout(["--import", "tsx", "--input-type=module", "-e", script], true);
    expect(outcome.stderr).toBe("");
    expect(outcome.signal).toBeNull();
    expect(outcome.code).toBe(0);
  }, CHILD_TIMEOUT_MS);

  describe("every command, through bin/postern.js, with its stdout closed before it prints", () => {
    let dir: string;
    let configPath: string;

    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), "postern-epipe-"));
      configPath = join(dir, "postern.toml");
      const dbPath = join(dir, "postern.db");
      // Every command but `config check`, `db migrate` and `serve` needs an up-to-date database.
      migrateDatabase({ path: dbPath });
      writeFileSync(
        configPath,
        [
          "[gateway]",
          'domain = "example.test"',
          "[database]",
          `path = ${JSON.stringify(dbPath)}`,
          'synchronous = "NORMAL"',
          "[outbound]",
          `dir = ${JSON.stringify(join(dir, "outbox"))}`,
          "",
        ].join("\n"),
      );
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it("--help, config check, db migrate, mail log and users list end with exit 0 and nothing on stderr, no EPIPE stack trace", async () => {
      const commands = [["--help"], ["config", "check"], ["db", "migrate"], ["mail", "log"], ["users", "list"]];
      const outcomes = await Promise.all(
        commands.map((command) => runWithClosedStdout(["bin/postern.js", "--config", configPath, ...command], false)),
      );
      outcomes.forEach((outcome, i) => {
        const label = `postern ${commands[i]!.join(" ")}`;
        expect(outcome.stderr, label).toBe("");
        expect(outcome.signal, label).toBeNull();
        expect(outcome.code, label).toBe(0);
      });
    }, CHILD_TIMEOUT_MS);
  });
});

import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";
import { loadConfig } from "../../src/config/config.js";
import { migrate, openStore } from "../../src/db/database.js";
import type { DomainContext } from "../../src/domain/context.js";
import { createPostgresDatabase, ENGINE } from "./postgres.js";

/** The checkout: the CLI runs from here, as `node bin/postern.js` would for an admin. */
export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = join(REPO_ROOT, "bin", "postern.js");

/** Each run starts Node: the compiled dist/ when `npm run build` is current (npm test builds it first), else the TypeScript sources through tsx. */
export const CLI_TIMEOUT_MS = 60_000;

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  /** Extra environment; POSTERN_CONFIG is removed unless given here. */
  readonly env?: Record<string, string>;
  /** Leave out `--config FILE`, to test how the CLI finds its configuration. */
  readonly noConfig?: boolean;
}

export interface SandboxOptions {
  /** TOML appended to the sandbox's configuration. */
  readonly extraToml?: string;
  /**
   * `migrated` (the default): the database exists and is up to date, as `postern db migrate`
   * leaves it, since every command but `serve`, `config check` and `db migrate` refuses a missing
   * one. `missing`: no database file at all (SQLite), or an empty database (PostgreSQL).
   */
  readonly database?: "migrated" | "missing";
}

export interface CliSandbox {
  readonly dir: string;
  readonly configPath: string;
  readonly dbPath: string;
  readonly outboxDir: string;
  /** `postern --config FILE ...args`; resolves with the exit code, never rejects on a non-zero exit. */
  run(args: readonly string[], options?: RunOptions): Promise<CliResult>;
  /**
   * Runs independent commands a few at a time (each is a Node process of its own);
   * results come back in the order given.
   */
  runMany(commands: readonly (readonly string[])[], concurrency?: number): Promise<CliResult[]>;
  /** Runs a command that must succeed, with nothing on stderr; returns its stdout. */
  ok(args: readonly string[]): Promise<string>;
  /** Runs a command that must succeed and print JSON; returns the parsed value. */
  json<T = unknown>(args: readonly string[]): Promise<T>;
  /**
   * Domain work on the sandbox's database in one transaction, on a connection of its own, as the
   * gateway would do between two commands. `now` defaults to the wall clock.
   */
  write<T>(work: (ctx: DomainContext) => Promise<T>, now?: number): Promise<T>;
  dispose(): Promise<void>;
}

/** Runs `node bin/postern.js ...args` with the repository as working directory. */
export function runPostern(args: readonly string[], env: Record<string, string> = {}): Promise<CliResult> {
  const { POSTERN_CONFIG: _ignored, ...inherited } = process.env;
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: REPO_ROOT, env: { ...inherited, ...env }, timeout: CLI_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== "number") {
          // Killed by the timeout or a signal, or node itself could not start: not an answer from the CLI.
          reject(new Error(`postern ${args.join(" ")} did not finish (${error.signal ?? error.code ?? error.message})\n${stderr}`));
          return;
        }
        resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
      },
    );
  });
}

/**
 * A temporary folder with a TOML configuration for example.test, a database and an outbox inside
 * it, so every test file administers its own gateway.
 */
export async function createCliSandbox(options: SandboxOptions = {}): Promise<CliSandbox> {
  const { extraToml = "", database = "migrated" } = options;
  const dir = mkdtempSync(join(tmpdir(), "postern-cli-"));
  const configPath = join(dir, "postern.toml");
  const dbPath = join(dir, "postern.db");
  const outboxDir = join(dir, "outbox");
  const postgres = ENGINE === "postgres" ? await createPostgresDatabase() : undefined;
  writeFileSync(
    configPath,
    [
      "[gateway]",
      'domain = "example.test"',
      "",
      "[database]",
      ...(postgres ? ['engine = "postgres"', `url = ${JSON.stringify(postgres.url)}`, "pool_size = 2"] : []),
      `path = ${JSON.stringify(dbPath)}`,
      'synchronous = "NORMAL"',
      "",
      "[outbound]",
      `dir = ${JSON.stringify(outboxDir)}`,
      "",
      extraToml,
    ].join("\n"),
  );
  // What `postern db migrate` does, in-process: one Node start less per test file.
  if (database === "migrated") await migrate(loadConfig(configPath).database);

  const run = (args: readonly string[], options: RunOptions = {}) =>
    runPostern(options.noConfig ? args : ["--config", configPath, ...args], options.env);

  const ok = async (args: readonly string[]) => {
    const result = await run(args);
    if (result.code !== 0 || result.stderr !== "") {
      throw new Error(`postern ${args.join(" ")} failed with exit code ${result.code}: ${result.stderr.trim()}`);
    }
    return result.stdout;
  };

  const runMany = async (commands: readonly (readonly string[])[], concurrency = 3) => {
    const results: CliResult[] = new Array(commands.length);
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < commands.length; i = next++) results[i] = await run(commands[i]!);
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, commands.length) }, worker));
    return results;
  };

  return {
    dir,
    configPath,
    dbPath,
    outboxDir,
    run,
    runMany,
    ok,
    json: async <T>(args: readonly string[]) => JSON.parse(await ok(args)) as T,
    async write(work, now) {
      const config = loadConfig(configPath);
      const store = await openStore(config.database, "require-current");
      try {
        return await store.transaction((tx) => work({ tx, config, now: now ?? Date.now() }));
      } finally {
        await store.close();
      }
    },
    async dispose() {
      await postgres?.drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * SPEC §7: a failure is a non-zero exit with one line on stderr saying why, and nothing on stdout.
 * Takes `undefined` too, so results destructured from `runMany` need no assertion.
 */
export function expectRefused(outcome: CliResult | undefined, reason?: RegExp): void {
  expect(outcome).toBeDefined();
  const result = outcome as CliResult;
  expect(result.code, `exit code; stderr: ${result.stderr}`).not.toBe(0);
  expect(result.stdout).toBe("");
  const lines = result.stderr.split("\n").filter((line) => line.trim() !== "");
  expect(lines, result.stderr).toHaveLength(1);
  if (reason) expect(lines[0]).toMatch(reason);
}

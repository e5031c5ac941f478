import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { build, distIsCurrent } from "../../scripts/build.mjs";
import { CLI_TIMEOUT_MS, REPO_ROOT, createCliSandbox, type CliResult, type CliSandbox } from "../helpers/cli.js";

/**
 * `npm run build` compiles src/ to dist/, and bin/postern.js runs it only while it is newer than
 * every source: the compiled CLI must behave as the sources do (migrations found from dist/ too),
 * and an edit to the sources must send bin/postern.js back to them.
 */

describe("whether dist/ is current", () => {
  let root: string;
  const at = (seconds: number) => new Date(1_800_000_000_000 + seconds * 1000);
  const touch = (path: string, seconds: number) => utimesSync(path, at(seconds), at(seconds));

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), "postern-build-"));
    mkdirSync(join(root, "src", "db"), { recursive: true });
    mkdirSync(join(root, "schema"), { recursive: true });
    writeFileSync(join(root, "src", "db", "a.ts"), "export const a = 1;\n");
    writeFileSync(join(root, "src", "db", "b.ts"), "export const b = 2;\n");
    writeFileSync(join(root, "schema", "schema.ts"), "export {};\n");
    for (const path of ["src/db/a.ts", "src/db/b.ts", "schema/schema.ts", "src/db", "src", "schema"]) touch(join(root, path), 0);
  });

  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("is not current without a build, and current once the stamp is newer than every source", () => {
    expect(distIsCurrent(root)).toBe(false);
    mkdirSync(join(root, "dist"));
    writeFileSync(join(root, "dist", ".stamp"), "");
    touch(join(root, "dist", ".stamp"), 10);
    expect(distIsCurrent(root)).toBe(true);
  });

  it("is stale after a source changes, in src/ or in schema/", () => {
    touch(join(root, "src", "db", "a.ts"), 20);
    expect(distIsCurrent(root)).toBe(false);
    touch(join(root, "dist", ".stamp"), 30);
    expect(distIsCurrent(root)).toBe(true);
    touch(join(root, "schema", "schema.ts"), 40);
    expect(distIsCurrent(root)).toBe(false);
    touch(join(root, "dist", ".stamp"), 50);
  });

  it("is stale after a source is deleted: its folder changed", () => {
    expect(distIsCurrent(root)).toBe(true);
    rmSync(join(root, "src", "db", "b.ts"));
    touch(join(root, "src", "db"), 60);
    expect(distIsCurrent(root)).toBe(false);
  });
});

/** Each run starts Node (four runs in the longest test); generous, as on a busy CI machine. */
const TIMEOUT = 5 * CLI_TIMEOUT_MS;

describe("the compiled CLI", () => {
  // Inside the checkout, as dist/ is: packages and schema/ are found from there.
  const outDir = join(REPO_ROOT, ".tmp", `build-test-${process.pid}`, "dist");
  let cli: CliSandbox;

  /** The compiled main() with these arguments, as bin/postern.js would call it. */
  function runCompiled(args: readonly string[]): Promise<CliResult> {
    const script = "const { main } = await import(process.argv[1]); await main([process.argv[0], 'postern', ...process.argv.slice(2)]);";
    const { POSTERN_CONFIG: _ignored, ...env } = process.env;
    return new Promise((resolve, reject) => {
      execFile(
        process.execPath,
        ["--input-type=module", "-e", script, join(outDir, "src", "cli", "main.js"), "--config", cli.configPath, ...args],
        { cwd: REPO_ROOT, env, timeout: CLI_TIMEOUT_MS },
        (error, stdout, stderr) => {
          if (error && typeof error.code !== "number") reject(error);
          else resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
        },
      );
    });
  }

  beforeAll(async () => {
    cli = await createCliSandbox({ database: "missing" });
    await build(outDir);
  }, TIMEOUT);

  afterAll(async () => {
    await cli.dispose();
    rmSync(join(outDir, ".."), { recursive: true, force: true });
  });

  it("migrates a database from dist/ and then answers commands as the sources do", { timeout: TIMEOUT }, async () => {
    const migrated = await runCompiled(["db", "migrate"]);
    expect(migrated).toMatchObject({ code: 0, stderr: "" });
    expect(migrated.stdout).toMatch(/: \d+ migrations? applied now, \d+ in all; schema up to date/);
    expect(await runCompiled(["users", "add", "ann@example.test", "--name", "Ann"])).toMatchObject({ code: 0, stderr: "" });
    const compiled = await runCompiled(["users", "show", "ann@example.test", "--json"]);
    expect(compiled).toMatchObject({ code: 0, stderr: "" });
    // The sources, through bin/postern.js or tsx, agree on the same database.
    expect(JSON.parse(compiled.stdout)).toEqual(await cli.json(["users", "show", "ann@example.test", "--json"]));
  });

  it("refuses with one sentence on stderr, as the sources do", { timeout: TIMEOUT }, async () => {
    const refused = await runCompiled(["users", "show", "nobody@example.test"]);
    expect(refused.code).not.toBe(0);
    expect(refused.stdout).toBe("");
    expect(refused.stderr.trim().split("\n")).toHaveLength(1);
  });
});

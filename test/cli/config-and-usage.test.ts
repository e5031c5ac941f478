import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MIGRATIONS_FOLDER, applyMigrations } from "../../src/db/migrations.js";
import { ENGINE } from "../helpers/postgres.js";
import { CLI_TIMEOUT_MS, createCliSandbox, expectRefused, runPostern, type CliSandbox } from "../helpers/cli.js";

const TIMEOUT = 4 * CLI_TIMEOUT_MS;
const JOURNAL = JSON.parse(readFileSync(join(MIGRATIONS_FOLDER, "meta", "_journal.json"), "utf8")) as { entries: unknown[] };
const TOTAL = JOURNAL.entries.length;

/** A string matched literally inside a RegExp. */
const literally = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

let sandbox: CliSandbox;
beforeAll(async () => {
  sandbox = await createCliSandbox();
});
afterAll(() => sandbox.dispose());

describe("postern config check", () => {
  it("prints the effective configuration as JSON", { timeout: TIMEOUT }, async () => {
    const config = await sandbox.json<Record<string, any>>(["config", "check"]);
    expect(config.domains).toEqual(["example.test"]);
    expect(config.primaryDomain).toBe("example.test");
    expect(config.fromAddress).toBe("conversations@example.test");
    expect(config.source).toBe(sandbox.configPath);
    expect(config.gateway).toMatchObject({ domain: "example.test", name: "Postern" });
    expect(config.smtp).toMatchObject({ host: "127.0.0.1", port: 2525, max_message_size: 25 * 1024 * 1024 });
    expect(config.database).toMatchObject({ path: sandbox.dbPath });
    expect(config.outbound).toMatchObject({ transport: "file", dir: sandbox.outboxDir, host: "127.0.0.1", port: 25 });
  });

  it("finds the file through POSTERN_CONFIG, and takes --config after the command too", { timeout: TIMEOUT }, async () => {
    const [fromEnv, trailing] = await Promise.all([
      sandbox.run(["config", "check"], { noConfig: true, env: { POSTERN_CONFIG: sandbox.configPath } }),
      sandbox.run(["config", "check", "--config", sandbox.configPath], { noConfig: true }),
    ]);
    expect(fromEnv.code, fromEnv.stderr).toBe(0);
    expect(JSON.parse(fromEnv.stdout).source).toBe(sandbox.configPath);
    expect(trailing.code, trailing.stderr).toBe(0);
    expect(JSON.parse(trailing.stdout).source).toBe(sandbox.configPath);
  });

  it("never prints the relay password", { timeout: TIMEOUT }, async () => {
    const path = join(sandbox.dir, "with-password.toml");
    writeFileSync(path, '[gateway]\ndomain = "example.test"\n[outbound]\ntransport = "smtp"\nuser = "postern"\npassword = "hunter2-secret"\n');
    const result = await runPostern(["--config", path, "config", "check"]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).not.toContain("hunter2-secret");
    expect(JSON.parse(result.stdout).outbound.user).toBe("postern");
  });

  it("refuses a bad configuration with one line naming the key, the file or the problem", { timeout: TIMEOUT }, async () => {
    const typo = join(sandbox.dir, "typo.toml");
    writeFileSync(typo, '[gateway]\ndomain = "example.test"\n[smtp]\nprot = 2525\n');
    const wrongType = join(sandbox.dir, "wrong-type.toml");
    writeFileSync(wrongType, '[smtp]\nport = "2525"\nmax_message_size = "huge"\n');
    const broken = join(sandbox.dir, "broken.toml");
    writeFileSync(broken, '[gateway\ndomain = "example.test"\n');
    const missing = join(sandbox.dir, "missing.toml");

    const [typoResult, typeResult, brokenResult, missingResult, envMissing] = await Promise.all([
      runPostern(["--config", typo, "config", "check"]),
      runPostern(["--config", wrongType, "config", "check"]),
      runPostern(["--config", broken, "config", "check"]),
      runPostern(["--config", missing, "config", "check"]),
      runPostern(["users", "list"], { POSTERN_CONFIG: missing }),
    ]);
    expectRefused(typoResult, /smtp\.prot/);
    expectRefused(typeResult, /smtp\.port.*smtp\.max_message_size|smtp\.max_message_size.*smtp\.port/);
    expectRefused(brokenResult, /broken\.toml.*TOML/);
    expectRefused(missingResult, /missing\.toml/);
    expectRefused(envMissing, /missing\.toml/);
  });
});

describe("postern usage", () => {
  it("--help exits 0 and lists the commands on stdout", { timeout: TIMEOUT }, async () => {
    const [top, users] = await Promise.all([runPostern(["--help"]), runPostern(["users", "--help"])]);
    expect(top.code).toBe(0);
    expect(top.stderr).toBe("");
    for (const command of ["serve", "config", "db", "users", "groups", "conversations", "mail", "queue"]) {
      expect(top.stdout).toContain(command);
    }
    expect(users.code).toBe(0);
    for (const command of ["list", "show", "add", "activate", "set"]) expect(users.stdout).toContain(command);
  });

  it.each<[string, string[], RegExp]>([
    ["an unknown command", ["frobnicate"], /frobnicate/],
    ["an unknown option", ["users", "list", "--colour"], /--colour/],
    ["a role that does not exist", ["users", "add", "wizard@example.test", "--role", "wizard"], /wizard/],
    ["a non-numeric conversation id", ["conversations", "show", "abc"], /abc/],
    ["a non-numeric delivery id", ["queue", "retry", "first"], /first/],
    ["a non-numeric --limit", ["queue", "list", "--limit", "lots"], /lots/],
    ["a missing required option", ["groups", "add", "support"], /--inbox/],
    ["a missing --to", ["conversations", "create", "--from", "a@example.test", "--subject", "S", "--body", "B"], /--to/],
    ["a missing argument", ["users", "show"], /email/],
    ["a --config without a file", ["users", "list", "--config"], /config/],
  ])("%s is refused with one line on stderr", { timeout: TIMEOUT }, async (_name, args, reason) => {
    expectRefused(await sandbox.run(args), reason);
  });
});

describe("the database every command needs", () => {
  const missingSentence = (path: string) =>
    new RegExp(`^postern: There is no database at ${literally(path)}: run "postern db migrate" or start "postern serve"`);
  const outOfDateSentence = (path: string, applied: number) =>
    new RegExp(
      `^postern: The database at ${literally(path)} is not up to date \\(${applied} of ${TOTAL} migrations applied\\): run "postern db migrate"`,
    );
  const migrated = (path: string, ran: number) =>
    `${path}: ${ran} migration${ran === 1 ? "" : "s"} applied now, ${TOTAL} in all; schema up to date\n`;

  // Port 1 of the loopback address: nothing listens there, so the connection is refused at once.
  it.skipIf(ENGINE === "postgres")("a PostgreSQL database that cannot be reached is named, its password masked, in one line", { timeout: TIMEOUT }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "postern-unreachable-"));
    try {
      const config = join(dir, "postern.toml");
      writeFileSync(config, '[gateway]\ndomain = "example.test"\n');
      const env = { POSTERN_DATABASE_URL: "postgres://postern:secret-pw@127.0.0.1:1/postern" };
      const sentence = /^postern: Cannot use the PostgreSQL database postgres:\/\/postern:\*\*\*\*@127\.0\.0\.1:1\/postern: connect ECONNREFUSED 127\.0\.0\.1:1\.$/;
      const results = await Promise.all([["db", "migrate"], ["users", "list"]].map((args) => runPostern(["--config", config, ...args], env)));
      for (const result of results) {
        expectRefused(result, sentence);
        expect(result.stderr).not.toContain("secret-pw");
      }
      // Nothing was made in SQLite's place.
      expect(readdirSync(dir)).toEqual(["postern.toml"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // SQLite's own case: the database is a file, and refusing must not create it.
  it.skipIf(ENGINE === "postgres")("a command on a missing database is refused with one line, and creates no file", { timeout: TIMEOUT }, async () => {
    const fresh = await createCliSandbox({ database: "missing" });
    try {
      const results = await fresh.runMany([
        ["users", "list"],
        ["mail", "log", "--json"],
        ["queue", "retry", "1"],
        ["users", "add", "someone@example.test"],
      ]);
      for (const result of results) expectRefused(result, missingSentence(fresh.dbPath));
      // Neither the database nor its WAL or shared-memory files: only the configuration.
      expect(readdirSync(fresh.dir)).toEqual(["postern.toml"]);
      // `config check` needs no database, and does not make one either.
      await fresh.ok(["config", "check"]);
      expect(existsSync(fresh.dbPath)).toBe(false);
    } finally {
      await fresh.dispose();
    }
  });

  it.skipIf(ENGINE === "postgres")("a database with a pending migration is refused until db migrate brings it up to date", { timeout: TIMEOUT }, async () => {
    // A database whose newest migration is not recorded as applied.
    const forgotten = await createCliSandbox();
    // A database made by the previous release: every migration but the newest.
    const older = await createCliSandbox({ database: "missing" });
    try {
      const sqlite = new Database(forgotten.dbPath);
      sqlite.prepare("DELETE FROM __drizzle_migrations WHERE created_at = (SELECT max(created_at) FROM __drizzle_migrations)").run();
      sqlite.close();

      const previousRelease = join(older.dir, "migrations");
      cpSync(MIGRATIONS_FOLDER, previousRelease, { recursive: true });
      writeFileSync(join(previousRelease, "meta", "_journal.json"), JSON.stringify({ ...JOURNAL, entries: JOURNAL.entries.slice(0, -1) }));
      const olderDb = new Database(older.dbPath);
      olderDb.pragma("journal_mode = WAL");
      expect(applyMigrations(olderDb, previousRelease).ran).toBe(TOTAL - 1);
      olderDb.close();

      const [forgottenList, olderList, olderAdd] = await Promise.all([
        forgotten.run(["users", "list"]),
        older.run(["users", "list", "--json"]),
        older.run(["users", "add", "someone@example.test"]),
      ]);
      expectRefused(forgottenList, outOfDateSentence(forgotten.dbPath, TOTAL - 1));
      expectRefused(olderList, outOfDateSentence(older.dbPath, TOTAL - 1));
      expectRefused(olderAdd, outOfDateSentence(older.dbPath, TOTAL - 1));

      expect(await older.ok(["db", "migrate"])).toBe(migrated(older.dbPath, 1));
      expect(await older.json(["users", "list", "--json"])).toEqual([]);
    } finally {
      await forgotten.dispose();
      await older.dispose();
    }
  });

  it.skipIf(ENGINE === "postgres")("db migrate creates the database, and running it again, even at the same moment, changes nothing", { timeout: TIMEOUT }, async () => {
    const fresh = await createCliSandbox({ database: "missing" });
    try {
      const together = await Promise.all([fresh.run(["db", "migrate"]), fresh.run(["db", "migrate"])]);
      const ran: number[] = [];
      for (const result of together) {
        expect(result.code, result.stderr).toBe(0);
        expect(result.stderr).toBe("");
        const match = new RegExp(`^${literally(fresh.dbPath)}: (\\d+) migrations? applied now, ${TOTAL} in all; schema up to date\n$`).exec(result.stdout);
        expect(match, result.stdout).not.toBeNull();
        ran.push(Number(match?.[1]));
      }
      // One of them applied every migration; the other found nothing left to do.
      expect(ran.sort((a, b) => a - b)).toEqual([0, TOTAL]);
      expect(existsSync(fresh.dbPath)).toBe(true);

      expect(await fresh.ok(["db", "migrate"])).toBe(migrated(fresh.dbPath, 0));
      expect(await fresh.json(["users", "list", "--json"])).toEqual([]);
    } finally {
      await fresh.dispose();
    }
  });
});

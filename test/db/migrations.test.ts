import { spawn } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { drizzle } from "drizzle-orm/better-sqlite3";
import { migrate } from "drizzle-orm/better-sqlite3/migrator";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MIGRATIONS_FOLDER, applyMigrations, assertMigrated, migrationStatus } from "../../src/db/migrations.js";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const TOTAL = (JSON.parse(readFileSync(join(MIGRATIONS_FOLDER, "meta", "_journal.json"), "utf8")) as { entries: unknown[] })
  .entries.length;

let dir: string;
const open: Database.Database[] = [];

function openDb(path = join(dir, "postern.db")): Database.Database {
  const sqlite = new Database(path);
  sqlite.pragma("journal_mode = WAL");
  sqlite.pragma("busy_timeout = 5000");
  open.push(sqlite);
  return sqlite;
}

function names(sqlite: Database.Database, type: "table" | "trigger"): string[] {
  return (sqlite.prepare("SELECT name FROM sqlite_master WHERE type = ? ORDER BY name").all(type) as { name: string }[]).map(
    (r) => r.name,
  );
}

function recordedRows(sqlite: Database.Database): { hash: string; created_at: number }[] {
  return sqlite.prepare("SELECT hash, created_at FROM __drizzle_migrations ORDER BY created_at").all() as {
    hash: string;
    created_at: number;
  }[];
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "postern-migrations-"));
});

afterEach(() => {
  for (const sqlite of open.splice(0)) if (sqlite.open) sqlite.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("migrations", () => {
  it("MIGRATIONS_FOLDER is the checkout's schema/migrations", () => {
    expect(MIGRATIONS_FOLDER).toBe(join(REPO_ROOT, "schema", "migrations"));
    expect(TOTAL).toBeGreaterThanOrEqual(2);
  });

  it("migrates a fresh database: every migration pending, then all run, tables and triggers exist", () => {
    const sqlite = openDb();
    expect(migrationStatus(sqlite)).toEqual({ applied: 0, total: TOTAL, pending: TOTAL });
    // Status is read-only: it did not create the migrations table.
    expect(names(sqlite, "table")).not.toContain("__drizzle_migrations");

    expect(applyMigrations(sqlite)).toEqual({ applied: TOTAL, total: TOTAL, ran: TOTAL });
    expect(migrationStatus(sqlite)).toEqual({ applied: TOTAL, total: TOTAL, pending: 0 });
    expect(names(sqlite, "table")).toEqual(expect.arrayContaining(["users", "posts", "deliveries", "__drizzle_migrations"]));
    expect(names(sqlite, "trigger")).toEqual(
      expect.arrayContaining(["posts_sent_are_immutable", "posts_sent_cannot_be_deleted"]),
    );
    expect(recordedRows(sqlite)).toHaveLength(TOTAL);
  });

  it("is idempotent: a second run runs nothing and records nothing", () => {
    const sqlite = openDb();
    applyMigrations(sqlite);
    expect(applyMigrations(sqlite)).toEqual({ applied: TOTAL, total: TOTAL, ran: 0 });
    expect(recordedRows(sqlite)).toHaveLength(TOTAL);
  });

  it("records exactly what drizzle's migrate() records, and each recognises the other's database as up to date", () => {
    const byDrizzle = openDb(join(dir, "drizzle.db"));
    migrate(drizzle(byDrizzle), { migrationsFolder: MIGRATIONS_FOLDER });
    expect(migrationStatus(byDrizzle)).toEqual({ applied: TOTAL, total: TOTAL, pending: 0 });
    expect(applyMigrations(byDrizzle).ran).toBe(0);

    const byUs = openDb(join(dir, "ours.db"));
    applyMigrations(byUs);
    expect(recordedRows(byUs)).toEqual(recordedRows(byDrizzle));
    const tableSql = (s: Database.Database) =>
      (s.prepare("SELECT sql FROM sqlite_master WHERE name = '__drizzle_migrations'").get() as { sql: string }).sql.replace(
        /\s+/g,
        " ",
      );
    expect(tableSql(byUs)).toBe(tableSql(byDrizzle));

    // drizzle's migrator, run on a database we migrated, applies nothing (it would fail on CREATE TABLE if it tried).
    migrate(drizzle(byUs), { migrationsFolder: MIGRATIONS_FOLDER });
    expect(recordedRows(byUs)).toHaveLength(TOTAL);
  });

  it("counts as drizzle does: a database with only the first migration has the rest pending, and gets only those", () => {
    const partialFolder = join(dir, "partial");
    cpSync(MIGRATIONS_FOLDER, partialFolder, { recursive: true });
    const journalPath = join(partialFolder, "meta", "_journal.json");
    const journal = JSON.parse(readFileSync(journalPath, "utf8")) as { entries: unknown[] };
    writeFileSync(journalPath, JSON.stringify({ ...journal, entries: journal.entries.slice(0, 1) }));

    const sqlite = openDb();
    expect(applyMigrations(sqlite, partialFolder).ran).toBe(1);
    expect(migrationStatus(sqlite)).toEqual({ applied: 1, total: TOTAL, pending: TOTAL - 1 });
    expect(names(sqlite, "trigger")).not.toContain("posts_sent_are_immutable");
    expect(applyMigrations(sqlite)).toEqual({ applied: TOTAL, total: TOTAL, ran: TOTAL - 1 });
    expect(names(sqlite, "trigger")).toContain("posts_sent_are_immutable");
  });

  it("counts the posts a database already holds when conversation_counts arrives, and keeps counting after", () => {
    const partialFolder = join(dir, "partial");
    cpSync(MIGRATIONS_FOLDER, partialFolder, { recursive: true });
    const journalPath = join(partialFolder, "meta", "_journal.json");
    const journal = JSON.parse(readFileSync(journalPath, "utf8")) as { entries: { tag: string }[] };
    const before = journal.entries.findIndex((entry) => entry.tag.endsWith("_conversation_counts"));
    expect(before).toBeGreaterThan(0);
    writeFileSync(journalPath, JSON.stringify({ ...journal, entries: journal.entries.slice(0, before) }));

    const sqlite = openDb();
    applyMigrations(sqlite, partialFolder);
    sqlite.exec(`INSERT INTO users (id, email, name, status, role, created_at) VALUES (1, 'a@example.test', 'A', 'active', 'member', 0);
      INSERT INTO conversations (id, subject, kind, state, created_by_id, created_at, updated_at) VALUES (1, 'One', 'group', 'open', 1, 0, 0), (2, 'Two', 'group', 'open', 1, 0, 0);
      INSERT INTO posts (id, conversation_id, author_id, state, body, raw_body, message_id, note, created_at, sent_at) VALUES
        (1, 1, 1, 'sent', 'x', 'x', '<1@t>', 0, 0, 0), (2, 1, 1, 'sent', 'x', 'x', '<2@t>', 1, 0, 0), (3, 1, 1, 'draft', 'x', 'x', '<3@t>', 0, 0, NULL),
        (4, 2, 1, 'draft', 'x', 'x', '<4@t>', 0, 0, NULL);`);
    applyMigrations(sqlite);
    const counts = () => sqlite.prepare("SELECT conversation_id, sent_posts, sent_notes, last_sent_post_id FROM conversation_counts ORDER BY conversation_id").all();
    expect(counts()).toEqual([{ conversation_id: 1, sent_posts: 2, sent_notes: 1, last_sent_post_id: 2 }]);
    sqlite.exec("UPDATE posts SET state = 'sent', sent_at = 1 WHERE id IN (3, 4)");
    expect(counts()).toEqual([
      { conversation_id: 1, sent_posts: 3, sent_notes: 1, last_sent_post_id: 3 },
      { conversation_id: 2, sent_posts: 1, sent_notes: 0, last_sent_post_id: 4 },
    ]);
  });

  it("two processes migrating the same fresh file at the same moment both succeed, and each migration is applied once", async () => {
    const dbPath = join(dir, "raced.db");
    const script = join(dir, "migrate-child.mjs");
    // The child is a plain .mjs outside the checkout: packages are resolved from the checkout, and
    // tsx (loaded with --import) compiles the TypeScript module it imports.
    writeFileSync(
      script,
      `
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
const require = createRequire(${JSON.stringify(join(REPO_ROOT, "package.json"))});
const Database = require("better-sqlite3");
const { applyMigrations } = await import(pathToFileURL(${JSON.stringify(join(REPO_ROOT, "src", "db", "migrations.ts"))}).href);
const sqlite = new Database(process.argv[2]);
sqlite.pragma("journal_mode = WAL");
sqlite.pragma("busy_timeout = 5000");
process.stdout.write("ready\\n");
// Wait for the parent's "go", sent once both children are ready, so the two calls really coincide.
process.stdin.once("data", () => {
  const result = applyMigrations(sqlite);
  sqlite.close();
  process.stdout.write(JSON.stringify(result) + "\\n");
  process.exit(0);
});
`,
    );

    const children = [0, 1].map(() => {
      const child = spawn(process.execPath, ["--import", "tsx", script, dbPath], {
        cwd: REPO_ROOT,
        stdio: ["pipe", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
      child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
      const ready = new Promise<void>((resolveReady, rejectReady) => {
        const check = () => stdout.includes("ready\n") && resolveReady();
        child.stdout.on("data", check);
        child.once("exit", (code) => rejectReady(new Error(`child exited (${code}) before ready: ${stderr}`)));
      });
      const exited = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolveExit) =>
        child.once("exit", (code) => resolveExit({ code, stdout, stderr })),
      );
      return { child, ready, exited };
    });

    await Promise.all(children.map((c) => c.ready));
    for (const c of children) c.child.stdin.end("go\n");
    const results = await Promise.all(children.map((c) => c.exited));

    for (const r of results) expect(r, r.stderr).toMatchObject({ code: 0 });
    const ran = results.map((r) => (JSON.parse(r.stdout.split("\n").filter(Boolean).at(-1)!) as { ran: number }).ran);
    // One of them did the work; the other waited for the write lock and then found nothing to do.
    expect(ran.sort()).toEqual([0, TOTAL]);

    const sqlite = openDb(dbPath);
    expect(recordedRows(sqlite)).toHaveLength(TOTAL);
    expect(migrationStatus(sqlite).pending).toBe(0);
  }, 60_000);

  describe("a migration that fails", () => {
    let brokenFolder: string;
    beforeEach(() => {
      brokenFolder = join(dir, "broken");
      cpSync(MIGRATIONS_FOLDER, brokenFolder, { recursive: true });
      const journalPath = join(brokenFolder, "meta", "_journal.json");
      const journal = JSON.parse(readFileSync(journalPath, "utf8")) as { entries: { when: number }[] };
      const last = journal.entries.at(-1)!;
      journal.entries.push({ ...last, idx: journal.entries.length, when: last.when + 1000, tag: "9999_broken" } as never);
      writeFileSync(journalPath, JSON.stringify(journal, null, 2));
      // A good statement first, so the test sees that it is rolled back with the rest.
      writeFileSync(
        join(brokenFolder, "9999_broken.sql"),
        "CREATE TABLE `half_done` (`id` integer PRIMARY KEY);\n--> statement-breakpoint\nALTER TABLE `no_such_table` ADD `x` integer;",
      );
    });

    it("on a fresh database: throws naming the file and leaves nothing behind", () => {
      const sqlite = openDb();
      expect(() => applyMigrations(sqlite, brokenFolder)).toThrow(/Migration 9999_broken\.sql failed at statement 2 of 2: .*no_such_table/);
      expect(sqlite.inTransaction).toBe(false);
      // Everything, the earlier good migrations and the migrations table included, was rolled back.
      expect(names(sqlite, "table")).toEqual([]);
      expect(migrationStatus(sqlite, brokenFolder)).toEqual({ applied: 0, total: TOTAL + 1, pending: TOTAL + 1 });
    });

    it("on an up-to-date database: throws and keeps the previous state", () => {
      const sqlite = openDb();
      applyMigrations(sqlite);
      const before = recordedRows(sqlite);
      expect(() => applyMigrations(sqlite, brokenFolder)).toThrow(/9999_broken\.sql/);
      expect(recordedRows(sqlite)).toEqual(before);
      expect(names(sqlite, "table")).not.toContain("half_done");
      expect(migrationStatus(sqlite, brokenFolder)).toEqual({ applied: TOTAL, total: TOTAL + 1, pending: 1 });
      // The connection is usable afterwards: no transaction was left open.
      expect(applyMigrations(sqlite).ran).toBe(0);
    });
  });

  it("refuses to run inside a transaction the caller opened", () => {
    const sqlite = openDb();
    sqlite.exec("BEGIN");
    expect(() => applyMigrations(sqlite)).toThrow(/inside an open transaction/);
    sqlite.exec("ROLLBACK");
  });

  it("assertMigrated throws the CLI's sentence on a fresh database and passes once migrated", () => {
    const path = join(dir, "postern.db");
    const sqlite = openDb(path);
    expect(() => assertMigrated(sqlite, path)).toThrow(
      `The database at ${path} is not up to date (0 of ${TOTAL} migrations applied): run "postern db migrate" or start "postern serve", which migrates it.`,
    );
    applyMigrations(sqlite);
    expect(() => assertMigrated(sqlite, path)).not.toThrow();
  });
});

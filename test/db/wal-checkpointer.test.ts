import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { checkpointerFor } from "../../src/db/wal-checkpointer.js";

const dirs: string[] = [];
const connections: Database.Database[] = [];

afterEach(() => {
  for (const db of connections.splice(0)) db.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A WAL database whose own automatic checkpoint is off, so only the checkpointer moves pages. */
function walDatabase(): { path: string; db: Database.Database } {
  const dir = mkdtempSync(join(tmpdir(), "postern-checkpoint-"));
  dirs.push(dir);
  const path = join(dir, "p.db");
  const db = new Database(path);
  connections.push(db);
  db.pragma("journal_mode = WAL");
  db.pragma("wal_autocheckpoint = 0");
  db.exec("CREATE TABLE filler (data BLOB)");
  return { path, db };
}

/** Writes `commits` × `kib` through the WAL (9 MB by default), telling `committed` after each commit, as a Store does. */
async function fill(db: Database.Database, committed: () => void, commits = 96, kib = 96): Promise<void> {
  const chunk = Buffer.alloc(kib * 1024, 7);
  const insert = db.prepare("INSERT INTO filler VALUES (?)");
  for (let i = 0; i < commits; i++) {
    insert.run(chunk);
    committed();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
}

describe("checkpointerFor", () => {
  for (const where of ["thread", "inline"] as const) {
    it(`copies a large WAL into the database file (${where})`, async () => {
      const { path, db } = walDatabase();
      const before = statSync(path).size;
      const checkpointer = checkpointerFor(path, where);
      await fill(db, () => checkpointer.committed());
      await until(() => statSync(path).size >= before + 4 * 1024 * 1024);
      expect(statSync(path).size).toBeGreaterThanOrEqual(before + 4 * 1024 * 1024);
      await checkpointer.close();
    });
  }

  it("is shared by the Stores of one file: the first closed leaves it working for the other", async () => {
    const { path, db } = walDatabase();
    const before = statSync(path).size;
    const first = checkpointerFor(path, "thread");
    const second = checkpointerFor(path, "thread");
    await first.close();
    // Closing twice must not release the other Store's share.
    await first.close();
    await fill(db, () => second.committed());
    await until(() => statSync(path).size >= before + 4 * 1024 * 1024);
    expect(statSync(path).size).toBeGreaterThanOrEqual(before + 4 * 1024 * 1024);
    await second.close();
  });

  it("counts the commits of every Store of the file together", async () => {
    const { path, db } = walDatabase();
    const before = statSync(path).size;
    const first = checkpointerFor(path, "inline");
    const second = checkpointerFor(path, "inline");
    // 40 commits of 160 KiB: neither Store alone reaches the 32 commits after which the WAL's size
    // is looked at; together they do, with 5 MB in the WAL.
    let turn = 0;
    await fill(db, () => (turn++ % 2 === 0 ? first : second).committed(), 40, 160);
    await until(() => statSync(path).size >= before + 4 * 1024 * 1024);
    expect(statSync(path).size).toBeGreaterThanOrEqual(before + 4 * 1024 * 1024);
    await first.close();
    await second.close();
  });

  it("keeps the process alive while a close waits for the checkpoint thread (a shutdown runs to its end)", () => {
    const dir = mkdtempSync(join(tmpdir(), "postern-checkpoint-"));
    dirs.push(dir);
    // Nothing else holds the event loop here, as at the end of `postern serve`'s shutdown: a
    // thread that is not referenced while it is asked to checkpoint or to stop let the process end
    // mid-await (exit 13, "closed" never printed).
    const child = `
      import Database from "better-sqlite3";
      const { checkpointerFor } = await import(${JSON.stringify(fileURLToPath(new URL("../../src/db/wal-checkpointer.ts", import.meta.url)))});
      const path = ${JSON.stringify(join(dir, "p.db"))};
      const db = new Database(path);
      db.pragma("journal_mode = WAL");
      db.pragma("wal_autocheckpoint = 0");
      db.exec("CREATE TABLE filler (data BLOB)");
      const checkpointer = checkpointerFor(path, "thread");
      const insert = db.prepare("INSERT INTO filler VALUES (?)");
      for (let i = 0; i < 96; i++) {
        insert.run(Buffer.alloc(96 * 1024, 7));
        checkpointer.committed();
        await new Promise((resolve) => setImmediate(resolve));
      }
      await checkpointer.close();
      console.log("closed");
    `;
    const result = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", child], {
      cwd: fileURLToPath(new URL("../..", import.meta.url)),
      encoding: "utf8",
      timeout: 60_000,
    });
    expect({ status: result.status, stdout: result.stdout.trim(), stderr: result.stderr.trim() }).toEqual({ status: 0, stdout: "closed", stderr: "" });
  });
});

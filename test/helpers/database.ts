import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase, type PosternDatabase } from "../../src/db/database.js";

export interface TestDatabase extends PosternDatabase {
  readonly path: string;
  readonly dir: string;
  dispose(): void;
}

/** A fresh, migrated SQLite file in its own temporary folder: real WAL, real fsyncs. */
export function createTestDatabase(): TestDatabase {
  const dir = mkdtempSync(join(tmpdir(), "postern-test-"));
  const path = join(dir, "postern.db");
  const database = openDatabase({ path, synchronous: "NORMAL" });
  return {
    ...database,
    path,
    dir,
    dispose() {
      database.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildConfig, type Config } from "../../src/config/config.js";
import { openStore } from "../../src/db/database.js";
import type { Store } from "../../src/db/store.js";
import type { DomainContext } from "../../src/domain/context.js";

export interface TestStore {
  readonly store: Store;
  readonly path: string;
  readonly dir: string;
  readonly config: Config;
  /** Domain work in one transaction; `now` defaults to the wall clock. */
  write<T>(work: (ctx: DomainContext) => Promise<T>, now?: number): Promise<T>;
  read<T>(work: (ctx: DomainContext) => Promise<T>, now?: number): Promise<T>;
  /** Another connection to the same file, as the delivery worker or the CLI has. */
  openAnother(): Store;
  dispose(): Promise<void>;
}

/** A fresh, migrated SQLite file in its own temporary folder: real WAL, real fsyncs. */
export function createTestStore(config: Config = buildConfig({ gateway: { domain: "example.test", name: "Acme" } }, "test")): TestStore {
  const dir = mkdtempSync(join(tmpdir(), "postern-test-"));
  const path = join(dir, "postern.db");
  const open = (migrations: "migrate" | "require-current") => openStore({ path, synchronous: "NORMAL", migrations });
  const store = open("migrate");
  const others: Store[] = [];
  return {
    store,
    path,
    dir,
    config,
    write: (work, now) => store.transaction((tx) => work({ tx, config, now: now ?? Date.now() })),
    read: (work, now) => store.read((tx) => work({ tx, config, now: now ?? Date.now() })),
    openAnother() {
      const another = open("require-current");
      others.push(another);
      return another;
    },
    async dispose() {
      await Promise.all([store, ...others].map((s) => s.close()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

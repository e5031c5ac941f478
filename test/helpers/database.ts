import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildConfig, type Config } from "../../src/config/config.js";
import { openStore } from "../../src/db/database.js";
import type { Store } from "../../src/db/store.js";
import type { DomainContext } from "../../src/domain/context.js";
import { createPostgresDatabase, ENGINE } from "./postgres.js";

export interface TestStore {
  readonly store: Store;
  /** The SQLite file (also set on PostgreSQL, where nothing is written there). */
  readonly path: string;
  readonly dir: string;
  readonly config: Config;
  /** Domain work in one transaction; `now` defaults to the wall clock. */
  write<T>(work: (ctx: DomainContext) => Promise<T>, now?: number): Promise<T>;
  read<T>(work: (ctx: DomainContext) => Promise<T>, now?: number): Promise<T>;
  /** Another connection to the same database, as the delivery worker (SQLite) or another node has. */
  openAnother(): Promise<Store>;
  dispose(): Promise<void>;
}

const DEFAULT_CONFIG = () => buildConfig({ gateway: { domain: "example.test", name: "Acme" } }, "test");

/**
 * A fresh, migrated database of the engine under test (POSTERN_TEST_ENGINE): a SQLite file in its
 * own temporary folder (real WAL, real fsyncs), or a database of its own on the throwaway
 * PostgreSQL cluster the test run started.
 */
export async function createTestStore(config: Config = DEFAULT_CONFIG()): Promise<TestStore> {
  const { database, dir, drop } = await testDatabase(config);
  const effective = buildConfig({ ...plain(config), database }, config.source);
  const open = (migrations: "migrate" | "require-current") => openStore(effective.database, migrations);
  const store = await open("migrate");
  const others: Store[] = [];
  return {
    store,
    path: join(dir, "postern.db"),
    dir,
    config: effective,
    write: (work, now) => store.transaction((tx) => work({ tx, config: effective, now: now ?? Date.now() })),
    read: (work, now) => store.read((tx) => work({ tx, config: effective, now: now ?? Date.now() })),
    async openAnother() {
      const another = await open("require-current");
      others.push(another);
      return another;
    },
    async dispose() {
      await Promise.all([store, ...others].map((s) => s.close()));
      await drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The `[database]` section for a fresh database of the engine under test. */
export async function testDatabase(config: Config = DEFAULT_CONFIG()): Promise<{ database: Record<string, unknown>; dir: string; drop(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "postern-test-"));
  if (ENGINE === "postgres") {
    const created = await createPostgresDatabase();
    return { database: { engine: "postgres", url: created.url, pool_size: 4 }, dir, drop: created.drop };
  }
  return {
    database: { ...plain(config).database, engine: "sqlite", path: join(dir, "postern.db"), synchronous: "NORMAL" },
    dir,
    drop: async () => {},
  };
}

/** A frozen Config back as the plain TOML-shaped object buildConfig takes. */
function plain(config: Config): Record<string, Record<string, unknown>> {
  const { domains: _d, primaryDomain: _p, fromAddress: _f, source: _s, ...raw } = config;
  const copy = JSON.parse(JSON.stringify(raw)) as Record<string, Record<string, unknown>>;
  // buildConfig accepts either gateway.domain or gateway.domains, not both (the parsed config has domains only when given).
  return copy;
}

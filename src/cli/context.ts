import { loadConfig, type Config } from "../config/config.js";
import { openStore } from "../db/database.js";
import type { DomainContext } from "../domain/context.js";

export interface GlobalOptions {
  readonly config?: string;
}

export interface CliContext {
  readonly config: Config;
  /** Reads with a fresh domain context, outside any write transaction. */
  read<T>(work: (ctx: DomainContext) => Promise<T>): Promise<T>;
  /** Runs domain work in one transaction: it commits or changes nothing. */
  write<T>(work: (ctx: DomainContext) => Promise<T>): Promise<T>;
}

/**
 * Opens config and database for one command and always closes the database. A database that is
 * missing or not migrated is refused with a sentence: migrating it here could change the schema
 * under a running gateway.
 */
export async function withContext<T>(options: GlobalOptions, work: (cli: CliContext) => T | Promise<T>): Promise<T> {
  const config = loadConfig(options.config);
  const store = await openStore(config.database, "require-current");
  try {
    return await work({
      config,
      read: (fn) => store.read((tx) => fn({ tx, config, now: Date.now() })),
      write: (fn) => store.transaction((tx) => fn({ tx, config, now: Date.now() })),
    });
  } finally {
    await store.close();
  }
}

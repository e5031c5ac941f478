import { loadConfig, type Config } from "../config/config.js";
import { inTransaction } from "../db/commit-queue.js";
import { openDatabase, type PosternDatabase } from "../db/database.js";
import type { DomainContext } from "../domain/conversations.service.js";

export interface GlobalOptions {
  readonly config?: string;
}

export interface CliContext {
  readonly config: Config;
  readonly database: PosternDatabase;
  /** Runs domain work in one transaction with a fresh context; reads use `database` directly. */
  write<T>(work: (ctx: DomainContext) => T): T;
}

/** Opens config and database for one command and always closes the database. */
export async function withContext<T>(options: GlobalOptions, work: (cli: CliContext) => T | Promise<T>): Promise<T> {
  const config = loadConfig(options.config);
  const database = openDatabase({
    path: config.database.path,
    synchronous: config.database.synchronous,
    busyTimeoutMs: config.database.busy_timeout,
  });
  const domain = (): DomainContext => ({ db: database.db, config, now: Date.now() });
  try {
    return await work({
      config,
      database,
      write: (fn) => inTransaction(database.sqlite, () => fn(domain())),
    });
  } finally {
    database.close();
  }
}

import type { Config } from "../config/config.js";
import type { Tx } from "../db/store.js";

/** What every domain operation runs with: one transaction, the configuration and the clock. */
export interface DomainContext {
  readonly tx: Tx;
  readonly config: Config;
  readonly now: number;
}

import { sql, type SQL } from "drizzle-orm";
import type { BetterSQLite3Database } from "drizzle-orm/better-sqlite3";
import type * as schema from "../../schema/schema.js";

/**
 * The drizzle handle and tables repositories build queries with, typed by the SQLite schema. The
 * PostgreSQL schema has the same tables, columns and row types (a test keeps them equal), so one
 * query shape serves both engines; the Store hands each query its own engine's handle and tables.
 * Only `*.repo.ts` files build queries; services and everything above them see domain records.
 */
export type Db = BetterSQLite3Database<typeof schema>;
export type Tables = typeof schema;

/** An unprepared drizzle query: the Store prepares it once per connection. */
export interface Preparable {
  prepare(): { get(values?: Params): unknown; all(values?: Params): unknown; run(values?: Params): unknown };
}

type Params = Record<string, unknown>;
type Prepared<Q extends Preparable> = ReturnType<Q["prepare"]>;
export type QueryBuilder<Q extends Preparable = Preparable> = (db: Db, t: Tables) => Q;

/**
 * A query whose SQL must differ between engines (row locking, upserts, date arithmetic): both
 * shapes side by side, in src/db/, so the difference lives in one place per query.
 */
export interface DialectQuery<Q extends Preparable = Preparable> {
  readonly sqlite: QueryBuilder<Q>;
  readonly postgres: (db: never, t: never) => unknown;
}

export type Query<Q extends Preparable = Preparable> = QueryBuilder<Q> | DialectQuery<Q>;

/** What a repository works with: one connection, inside a transaction or a read. */
export interface Tx {
  readonly db: Db;
  readonly t: Tables;
  /** The first row of a query, prepared on first use and kept for this connection. */
  one<Q extends Preparable>(query: Query<Q>, values?: Params): Promise<ReturnType<Prepared<Q>["get"]>>;
  /** Every row of a prepared query. */
  all<Q extends Preparable>(query: Query<Q>, values?: Params): Promise<ReturnType<Prepared<Q>["all"]>>;
  /** Runs a prepared write; answers how many rows it changed. */
  run<Q extends Preparable>(query: Query<Q>, values?: Params): Promise<number>;
  /** Runs a query built for this call only (its shape depends on the arguments): the rows it returns. */
  rows<R>(build: (db: Db, t: Tables) => PromiseLike<R>): Promise<R>;
  /**
   * Runs part of the work in a nested savepoint: when it throws, only that part rolls back and
   * the error reaches the caller, while the rest of the transaction stays.
   */
  savepoint<T>(work: () => Promise<T>): Promise<T>;
  /**
   * Runs `effect` once the transaction has committed (at once in a read), never if it rolls back:
   * for what must not claim more than the database holds, such as a log line saying a delivery was sent.
   */
  afterCommit(effect: () => void): void;
}

/**
 * Storage behind one interface: SQLite (embedded default, group commit) or PostgreSQL (a pool,
 * several gateway nodes on one database). Every write goes through `transaction`, which resolves
 * only once its COMMIT has returned.
 */
export interface Store {
  transaction<T>(work: (tx: Tx) => Promise<T>): Promise<T>;
  /** Reads outside any write transaction, never interleaved with one on the same connection. */
  read<T>(work: (tx: Tx) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/**
 * A placeholder usable in `update().set()`, whose types accept no bare placeholder (inserts and
 * where clauses do). Values pass to the driver as they are: only for text, number and blob
 * (Buffer) columns, which both drivers take unchanged.
 */
export function setParam(name: string): SQL {
  return sql`${sql.placeholder(name)}`;
}

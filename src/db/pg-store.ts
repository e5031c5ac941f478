import { drizzle, type NodePgDatabase } from "drizzle-orm/node-postgres";
import pg from "pg";
import * as pgSchema from "../../schema/pg-schema.js";
import { useCompiledRowMapper, type MappedQuery } from "./row-mapper.js";
import type { Db, Query, Store, Tables, Tx } from "./store.js";

type PgDb = NodePgDatabase<typeof pgSchema>;
interface PgPrepared {
  execute(values?: Record<string, unknown>): Promise<unknown>;
}

/** One pooled connection with the queries prepared on it (PostgreSQL keeps named statements per connection). */
interface Connection {
  readonly db: PgDb;
  readonly prepared: Map<Query, PgPrepared>;
  savepoints: number;
}

/** Errors that say "run the same transaction again": a deadlock or a serialization failure. */
const RETRYABLE = new Set(["40001", "40P01"]);
const MAX_ATTEMPTS = 3;

/**
 * A Store on a PostgreSQL pool: several gateway nodes share one database. Each transaction takes
 * a connection of its own (PostgreSQL groups commits itself, so there is nothing to batch here);
 * races between nodes are settled by the schema's constraints and the repositories' upserts, and
 * a transaction that lost a deadlock is run again.
 */
export class PgStore implements Store {
  private readonly connections = new WeakMap<pg.PoolClient, Connection>();
  /** Statement names are per connection; one name per query keeps them apart. */
  private readonly names = new Map<Query, string>();
  private closed = false;

  constructor(private readonly pool: pg.Pool) {}

  async transaction<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const client = await this.connect();
      try {
        const effects: (() => void)[] = [];
        await client.query("BEGIN");
        const value = await work(this.tx(client, effects));
        await client.query("COMMIT");
        for (const effect of effects) effect();
        return value;
      } catch (error) {
        await client.query("ROLLBACK").catch(() => undefined);
        if (attempt >= MAX_ATTEMPTS || !RETRYABLE.has((error as { code?: string }).code ?? "")) throw error;
      } finally {
        client.release();
      }
    }
  }

  async read<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    const client = await this.connect();
    try {
      return await work(this.tx(client));
    } finally {
      client.release();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  private connect(): Promise<pg.PoolClient> {
    if (this.closed) return Promise.reject(new Error("the database is closed"));
    return this.pool.connect();
  }

  /** `effects` collects what runs after COMMIT; without it (a read) effects run at once. */
  private tx(client: pg.PoolClient, effects?: (() => void)[]): Tx {
    let connection = this.connections.get(client);
    if (!connection) {
      connection = { db: drizzle(client, { schema: pgSchema }), prepared: new Map(), savepoints: 0 };
      this.connections.set(client, connection);
    }
    const conn = connection;
    const statement = (query: Query): PgPrepared => {
      let prepared = conn.prepared.get(query);
      if (!prepared) {
        const build = (typeof query === "function" ? query : query.postgres) as unknown as (db: PgDb, t: typeof pgSchema) => { prepare(name: string): PgPrepared };
        prepared = build(conn.db, pgSchema).prepare(this.nameOf(query));
        // Rows arrive as arrays either way; this maps them (one row or many) as drizzle would, faster.
        useCompiledRowMapper(prepared as MappedQuery);
        conn.prepared.set(query, prepared);
      }
      return prepared;
    };
    // The PostgreSQL tables have the SQLite ones' names, columns and row types (test/db/schema-parity.test.ts).
    const db = conn.db as unknown as Db;
    const t = pgSchema as unknown as Tables;
    return {
      db,
      t,
      one: async (query, values) => ((await statement(query).execute(values)) as unknown[])[0] as never,
      all: async (query, values) => (await statement(query).execute(values)) as never,
      run: async (query, values) => changes(await statement(query).execute(values)),
      rows: async (build) => build(db, t),
      afterCommit: (effect) => {
        if (effects) effects.push(effect);
        else effect();
      },
      savepoint: async (work) => {
        const name = `sp${++conn.savepoints}`;
        await client.query(`SAVEPOINT ${name}`);
        try {
          const value = await work();
          await client.query(`RELEASE SAVEPOINT ${name}`);
          return value;
        } catch (error) {
          await client.query(`ROLLBACK TO SAVEPOINT ${name}`);
          await client.query(`RELEASE SAVEPOINT ${name}`);
          throw error;
        } finally {
          conn.savepoints -= 1;
        }
      },
    };
  }

  private nameOf(query: Query): string {
    let name = this.names.get(query);
    if (!name) {
      name = `postern_${this.names.size + 1}`;
      this.names.set(query, name);
    }
    return name;
  }
}

/** Rows a write changed: node-postgres reports rowCount, or the rows when the query returns them. */
function changes(result: unknown): number {
  if (Array.isArray(result)) return result.length;
  return (result as { rowCount?: number | null }).rowCount ?? 0;
}

/** What the scenarios share: the options of the run, figures one scenario hands the next, notes. */
import pg from "pg";
import * as clusterModule from "../postgres-cluster.mjs";
import type { Cluster } from "../postgres-cluster.mjs";
import { sqliteDatabase, type Database, type Engine } from "./tools.js";

export interface Context {
  readonly quick: boolean;
  readonly engines: readonly Engine[];
  /** Seconds of the end-to-end run. */
  readonly duration: number;
  /** Printed as the run goes, so a long run shows where it is. */
  log(line: string): void;
  /** Facts for the header of the generated section (PostgreSQL's settings, say). */
  readonly facts: string[];
  /** Postern's kept-connection msg/s (SQLite FULL) and the bare server's, once measured. */
  inboundRate?: number;
  bareKeptRate?: number;
  /** The PostgreSQL cluster, started on first use and stopped at the end of the run. */
  cluster?: Cluster;
}

async function query(url: string, text: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(text);
  } finally {
    await client.end();
  }
}

let databases = 0;

/** A fresh database on the run's throwaway cluster (scripts/postgres-cluster.mjs). */
export async function postgresDatabase(ctx: Context): Promise<Database> {
  if (!ctx.cluster) {
    ctx.cluster = await clusterModule.startCluster();
    clusterModule.stopOnExit(ctx.cluster);
    const { rows } = await query(
      ctx.cluster.url,
      "SELECT current_setting('server_version') AS version, current_setting('fsync') AS fsync, " +
        "current_setting('synchronous_commit') AS synchronous_commit, current_setting('full_page_writes') AS full_page_writes",
    );
    const row = rows[0] as Record<string, string>;
    ctx.facts.push(
      `**PostgreSQL:** ${row.version}, a throwaway cluster from scripts/postgres-cluster.mjs, running with fsync=${row.fsync}, ` +
        `synchronous_commit=${row.synchronous_commit}, full_page_writes=${row.full_page_writes}`,
    );
  }
  const cluster = ctx.cluster;
  const name = `postern_bench_${process.pid}_${++databases}`;
  await query(cluster.url, `CREATE DATABASE ${name}`);
  const url = new URL(cluster.url);
  url.pathname = `/${name}`;
  return {
    raw: { engine: "postgres", url: url.toString() },
    async dispose() {
      await query(cluster.url, `DROP DATABASE IF EXISTS ${name}`);
    },
  };
}

export function engineAvailable(): boolean {
  return Boolean(clusterModule.findPostgresBinDir() || clusterModule.mayInstall());
}

export { sqliteDatabase };

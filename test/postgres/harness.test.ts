import { existsSync } from "node:fs";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { createPostgresDatabase, ENGINE, postgresUrl } from "../helpers/postgres.js";
import { TEMPLATE_DATABASE } from "../setup/postgres.js";

/** The PostgreSQL test harness itself: the cluster, the template, a database per test. */
describe("PostgreSQL test harness", () => {
  async function query<R extends pg.QueryResultRow>(url: string, text: string, values: unknown[] = []): Promise<R[]> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      return (await client.query<R>(text, values)).rows;
    } finally {
      await client.end();
    }
  }

  it("runs in the postgres project, against the cluster the globalSetup started", async (ctx) => {
    const url = postgresUrl();
    if (!url) ctx.skip();
    expect(ENGINE).toBe("postgres");
    expect(url).toMatch(/^postgres:\/\/postern@127\.0\.0\.1:\d+\/postgres$/);
    const [row] = await query<{ user: string; encoding: string; fsync: string }>(
      url,
      "SELECT current_user AS user, pg_encoding_to_char(encoding) AS encoding, current_setting('fsync') AS fsync FROM pg_database WHERE datname = current_database()",
    );
    expect(row).toEqual({ user: "postern", encoding: "UTF8", fsync: "off" });
    const [template] = await query<{ datistemplate: boolean; datallowconn: boolean }>(
      url,
      "SELECT datistemplate, datallowconn FROM pg_database WHERE datname = $1",
      [TEMPLATE_DATABASE],
    );
    expect(template).toEqual({ datistemplate: true, datallowconn: false });
  });

  it("creates a database of its own, which holds tables and is dropped again", async (ctx) => {
    const url = postgresUrl();
    if (!url) ctx.skip();
    const db = await createPostgresDatabase();
    expect(db.url).toBe(url.replace(/\/postgres$/, `/${db.name}`));

    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      await client.query("CREATE TABLE harness (id integer PRIMARY KEY, body text NOT NULL)");
      await client.query("INSERT INTO harness VALUES (1, 'ünïcode ✓')");
      const { rows } = await client.query("SELECT body FROM harness");
      expect(rows).toEqual([{ body: "ünïcode ✓" }]);
      await client.query("DROP TABLE harness");
    } finally {
      await client.end();
    }

    await db.drop();
    await db.drop(); // idempotent
    const left = await query(url, "SELECT 1 FROM pg_database WHERE datname = $1", [db.name]);
    expect(left).toEqual([]);
  });

  it("drops a database even while a connection to it is still open", async (ctx) => {
    const url = postgresUrl();
    if (!url) ctx.skip();
    const db = await createPostgresDatabase();
    const leaked = new pg.Client({ connectionString: db.url });
    leaked.on("error", () => {}); // terminated by DROP DATABASE … WITH (FORCE)
    await leaked.connect();
    await db.drop();
    expect(await query(url, "SELECT 1 FROM pg_database WHERE datname = $1", [db.name])).toEqual([]);
    await leaked.end().catch(() => {});
  });

  it("copies the template, or with empty: true PostgreSQL's empty template0", async (ctx) => {
    const url = postgresUrl();
    if (!url) ctx.skip();
    const tables = (dbUrl: string) =>
      query<{ name: string }>(dbUrl, "SELECT table_name AS name FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1");
    const [migrated, empty] = await Promise.all([createPostgresDatabase(), createPostgresDatabase({ empty: true })]);
    try {
      const [fromTemplate, fromTemplate0] = await Promise.all([tables(migrated.url), tables(empty.url)]);
      expect(fromTemplate0).toEqual([]);
      // The template holds what test/setup/migrate-template.ts put in it: the schema, once that hook exists.
      expect(fromTemplate.length > 0).toBe(existsSync(new URL("../setup/migrate-template.ts", import.meta.url)));
    } finally {
      await Promise.all([migrated.drop(), empty.drop()]);
    }
  });

  it("gives concurrent tests distinct databases", async (ctx) => {
    const url = postgresUrl();
    if (!url) ctx.skip();
    const dbs = await Promise.all(Array.from({ length: 4 }, () => createPostgresDatabase()));
    expect(new Set(dbs.map((d) => d.name)).size).toBe(4);
    await Promise.all(dbs.map((d) => d.drop()));
  });
});

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Column, getTableColumns, is, SQL, sql } from "drizzle-orm";
import {
  getTableConfig as getPgTableConfig, integer as pgInteger, PgDialect, PgTable, pgTable, text as pgText,
  uniqueIndex as pgUniqueIndex,
} from "drizzle-orm/pg-core";
import {
  getTableConfig as getSqliteTableConfig, integer as sqliteInteger, SQLiteSyncDialect, SQLiteTable, sqliteTable,
  text as sqliteText,
} from "drizzle-orm/sqlite-core";
import { describe, expect, it } from "vitest";
import * as pgSchema from "../../schema/pg-schema.js";
import * as sqliteSchema from "../../schema/schema.js";

/**
 * SQLite (schema/schema.ts) and PostgreSQL (schema/pg-schema.ts) describe the same database: the same
 * tables, columns, keys, defaults and indexes, so either engine stores what the domain means. Each
 * side is brought to one engine-neutral shape and the shapes compared, table by table and column by
 * column; the row types are compared at compile time by records-match-schema.ts.
 */

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const SQLITE_MIGRATIONS = join(REPO_ROOT, "schema", "migrations");
const PG_MIGRATIONS = join(REPO_ROOT, "schema", "migrations-pg");

type Engine = "sqlite" | "pg";
type AnyTable = SQLiteTable | PgTable;

/** The type as the domain sees it; engine spellings of one kind of value share a name. */
type NormalType = "integer" | "text" | "boolean" | "real" | "bytes" | "json" | "timestamp";

const SQLITE_TYPES: Record<string, NormalType> = {
  SQLiteInteger: "integer",
  SQLiteText: "text",
  SQLiteBoolean: "boolean", // integer({ mode: "boolean" })
  SQLiteReal: "real",
  SQLiteBlobBuffer: "bytes",
  SQLiteTextJson: "json",
  SQLiteBlobJson: "json",
  SQLiteTimestamp: "timestamp", // integer({ mode: "timestamp" | "timestamp_ms" }): a Date, not the millis Postern uses
};

const PG_TYPES: Record<string, NormalType> = {
  PgInteger: "integer",
  PgSmallInt: "integer",
  PgBigInt53: "integer",
  PgSerial: "integer",
  PgSmallSerial: "integer",
  PgBigSerial53: "integer",
  PgText: "text",
  PgVarchar: "text",
  PgBoolean: "boolean",
  PgDoublePrecision: "real",
  PgReal: "real",
  PgJson: "json",
  PgJsonb: "json",
  PgTimestamp: "timestamp",
};

const PG_SERIALS = new Set(["PgSerial", "PgSmallSerial", "PgBigSerial53", "PgBigSerial64"]);

const dialects = { sqlite: new SQLiteSyncDialect(), pg: new PgDialect() };

/** SQL as text, the same on both engines when the same thing was written (both quote with "). */
function renderSql(engine: Engine, chunk: SQL): string {
  return dialects[engine].sqlToQuery(chunk).sql.replace(/\s+/g, " ").trim().toLowerCase();
}

function normalType(engine: Engine, table: string, column: Column): NormalType {
  const type =
    engine === "sqlite"
      ? SQLITE_TYPES[column.columnType]
      : column.columnType === "PgCustomColumn"
        ? column.getSQLType() === "bytea"
          ? "bytes"
          : undefined
        : PG_TYPES[column.columnType];
  if (type === undefined) {
    throw new Error(
      `${table}.${column.name}: no engine-neutral type for ${engine} ${column.columnType} (${column.getSQLType()}); ` +
        "teach test/db/schema-parity.test.ts what it corresponds to on the other engine",
    );
  }
  return type;
}

type DefaultShape = { kind: "none" } | { kind: "literal"; value: unknown } | { kind: "sql"; sql: string } | { kind: "function" };

interface ColumnShape {
  property: string;
  type: NormalType;
  notNull: boolean;
  primaryKey: boolean;
  /** SQLite AUTOINCREMENT, PostgreSQL identity or serial: the database numbers the rows. */
  generatedId: boolean;
  hasDefault: boolean;
  default: DefaultShape;
  enum: readonly string[] | null;
}

interface ForeignKeyShape {
  name: string;
  columns: string[];
  foreignTable: string;
  foreignColumns: string[];
  onDelete: string;
  onUpdate: string;
}

/** Uniqueness however declared: a column's .unique(), a table's unique(), or a unique index. */
interface UniqueShape {
  columns: string[];
  where: string | null;
  nullsNotDistinct: boolean;
}

interface TableShape {
  name: string;
  columns: Map<string, ColumnShape>;
  primaryKey: { name: string | null; columns: string[] };
  foreignKeys: Map<string, ForeignKeyShape>;
  /** Non-unique indexes, by name. */
  indexes: Map<string, { columns: string[]; where: string | null }>;
  /** Unique constraints and unique indexes, by name. */
  uniques: Map<string, UniqueShape>;
}

function indexColumnName(engine: Engine, column: unknown): string {
  if (is(column, SQL)) return `(${renderSql(engine, column)})`;
  return (column as { name: string }).name;
}

function defaultShape(engine: Engine, column: Column): DefaultShape {
  if (column.defaultFn !== undefined || column.onUpdateFn !== undefined) return { kind: "function" };
  if (column.default === undefined) return { kind: "none" };
  if (is(column.default, SQL)) return { kind: "sql", sql: renderSql(engine, column.default) };
  return { kind: "literal", value: column.default };
}

function shapeOf(engine: Engine, table: AnyTable): TableShape {
  const config = engine === "sqlite" ? getSqliteTableConfig(table as SQLiteTable) : getPgTableConfig(table as PgTable);
  const tableName = config.name;
  const propertyOf = new Map<Column, string>(Object.entries(getTableColumns(table)).map(([key, column]) => [column, key]));

  const columns = new Map<string, ColumnShape>();
  const uniques = new Map<string, UniqueShape>();
  const addUnique = (name: string, shape: UniqueShape) => {
    if (uniques.has(name)) throw new Error(`${tableName}: two unique rules are named ${name}`);
    uniques.set(name, shape);
  };

  for (const column of config.columns) {
    const generatedId =
      engine === "sqlite"
        ? (column as Column & { autoIncrement?: boolean }).autoIncrement === true
        : column.generatedIdentity !== undefined || PG_SERIALS.has(column.columnType);
    columns.set(column.name, {
      property: propertyOf.get(column) ?? "(none)",
      type: normalType(engine, tableName, column),
      notNull: column.notNull,
      primaryKey: column.primary,
      generatedId,
      hasDefault: column.hasDefault,
      default: defaultShape(engine, column),
      enum: column.enumValues ?? null,
    });
    if (column.isUnique) {
      addUnique(column.uniqueName ?? `${tableName}_${column.name}_unique`, {
        columns: [column.name],
        where: null,
        nullsNotDistinct: column.uniqueType === "not distinct",
      });
    }
  }

  for (const constraint of config.uniqueConstraints) {
    addUnique(constraint.getName() ?? "(unnamed)", {
      columns: constraint.columns.map((c) => c.name),
      where: null,
      nullsNotDistinct: "nullsNotDistinct" in constraint ? Boolean(constraint.nullsNotDistinct) : false,
    });
  }

  const indexes = new Map<string, { columns: string[]; where: string | null }>();
  for (const index of config.indexes) {
    const { name, unique, where } = index.config;
    const shape = {
      columns: (index.config.columns as unknown[]).map((c) => indexColumnName(engine, c)),
      where: where ? renderSql(engine, where) : null,
    };
    if (!name) throw new Error(`${tableName}: an index without a name`);
    if (unique) addUnique(name, { ...shape, nullsNotDistinct: false });
    else {
      if (indexes.has(name)) throw new Error(`${tableName}: two indexes are named ${name}`);
      indexes.set(name, shape);
    }
  }

  const foreignKeys = new Map<string, ForeignKeyShape>();
  for (const fk of config.foreignKeys) {
    const reference = fk.reference();
    const foreignTable =
      engine === "sqlite"
        ? getSqliteTableConfig(reference.foreignTable as SQLiteTable).name
        : getPgTableConfig(reference.foreignTable as PgTable).name;
    const columnNames = reference.columns.map((c) => c.name);
    foreignKeys.set(columnNames.join(","), {
      name: fk.getName(),
      columns: columnNames,
      foreignTable,
      foreignColumns: reference.foreignColumns.map((c) => c.name),
      onDelete: fk.onDelete ?? "no action",
      onUpdate: fk.onUpdate ?? "no action",
    });
  }

  if (config.primaryKeys.length > 1) throw new Error(`${tableName}: more than one primary key`);
  const composite = config.primaryKeys[0];
  const primaryKey = composite
    ? { name: composite.getName(), columns: composite.columns.map((c) => c.name) }
    : { name: null, columns: config.columns.filter((c) => c.primary).map((c) => c.name) };

  return { name: tableName, columns, primaryKey, foreignKeys, indexes, uniques };
}

function tablesOf<T extends AnyTable>(module: Record<string, unknown>, kind: typeof SQLiteTable | typeof PgTable): Map<string, T> {
  return new Map(
    Object.entries(module)
      .filter(([, value]) => is(value, kind))
      .map(([key, value]) => [key, value as T]),
  );
}

const sqliteTables = tablesOf<SQLiteTable>(sqliteSchema, SQLiteTable);
const pgTables = tablesOf<PgTable>(pgSchema, PgTable);
const sorted = (keys: Iterable<string>) => [...keys].sort();

/** Every difference reported, each naming its table (and column, index or key). */
function compareShapes(sqlite: TableShape, pg: TableShape): void {
  const t = sqlite.name;
  expect.soft(pg.name, `export's table name`).toBe(t);
  expect.soft(sorted(pg.columns.keys()), `${t}: the columns`).toEqual(sorted(sqlite.columns.keys()));
  for (const [name, column] of sqlite.columns) {
    const other = pg.columns.get(name);
    if (other) expect.soft(other, `${t}.${name}`).toEqual(column);
  }
  expect.soft(pg.primaryKey, `${t}: the primary key`).toEqual(sqlite.primaryKey);

  expect.soft(sorted(pg.foreignKeys.keys()), `${t}: the columns with foreign keys`).toEqual(sorted(sqlite.foreignKeys.keys()));
  for (const [columns, fk] of sqlite.foreignKeys) {
    const other = pg.foreignKeys.get(columns);
    if (other) expect.soft(other, `${t}.${columns}: the foreign key`).toEqual(fk);
  }

  expect.soft(sorted(pg.indexes.keys()), `${t}: the (non-unique) indexes`).toEqual(sorted(sqlite.indexes.keys()));
  for (const [name, index] of sqlite.indexes) {
    const other = pg.indexes.get(name);
    if (other) expect.soft(other, `${t}: index ${name} (on ${index.columns.join(", ")})`).toEqual(index);
  }

  expect.soft(sorted(pg.uniques.keys()), `${t}: the unique constraints and unique indexes`).toEqual(sorted(sqlite.uniques.keys()));
  for (const [name, unique] of sqlite.uniques) {
    const other = pg.uniques.get(name);
    if (other) expect.soft(other, `${t}: unique ${name} (on ${unique.columns.join(", ")})`).toEqual(unique);
  }
}

describe("the SQLite and PostgreSQL schemas", () => {
  it("export the same tables under the same names", () => {
    expect(sqliteTables.size).toBeGreaterThanOrEqual(9);
    expect(sorted(pgTables.keys()), "exported tables").toEqual(sorted(sqliteTables.keys()));
  });

  describe.each(sorted(sqliteTables.keys()))("%s", (key) => {
    it("has the same columns, keys, defaults, indexes and unique constraints on both engines", () => {
      const pg = pgTables.get(key);
      expect(pg, `${key}: no table exported by schema/pg-schema.ts`).toBeDefined();
      compareShapes(shapeOf("sqlite", sqliteTables.get(key)!), shapeOf("pg", pg!));
    });
  });

  it("PostgreSQL keeps millisecond timestamps in bigint: a timestamp would overflow integer", () => {
    for (const table of pgTables.values()) {
      const { name, columns } = getPgTableConfig(table);
      for (const column of columns.filter((c) => c.name.endsWith("_at"))) {
        expect.soft(column.getSQLType(), `${name}.${column.name}`).toBe("bigint");
        expect.soft(column.columnType, `${name}.${column.name} is read as a JS number`).toBe("PgBigInt53");
      }
    }
  });

  it("PostgreSQL numbers rows with identity columns, as SQLite does with AUTOINCREMENT", () => {
    for (const table of pgTables.values()) {
      const { name, columns } = getPgTableConfig(table);
      for (const column of columns.filter((c) => c.primary)) {
        expect.soft(column.generatedIdentity?.type, `${name}.${column.name}`).toBe("always");
      }
    }
  });
});

describe("the comparison itself", () => {
  // Two tiny tables: proof that the shapes see a difference, and that uniqueness compares however it is declared.
  it("notices a difference in nullability, type or default", () => {
    const a = shapeOf("sqlite", sqliteTable("t", { n: sqliteInteger("n").notNull() }));
    const b = shapeOf("pg", pgTable("t", { n: pgInteger("n") }));
    const c = shapeOf("pg", pgTable("t", { n: pgText("n").notNull() }));
    const d = shapeOf("pg", pgTable("t", { n: pgInteger("n").notNull().default(1) }));
    expect(b.columns.get("n")).not.toEqual(a.columns.get("n"));
    expect(c.columns.get("n")).not.toEqual(a.columns.get("n"));
    expect(d.columns.get("n")).not.toEqual(a.columns.get("n"));
    expect(shapeOf("pg", pgTable("t", { n: pgInteger("n").notNull() })).columns.get("n")).toEqual(a.columns.get("n"));
  });

  it("sees a column's .unique() and a unique index of the same name as the same rule, and a partial one as different", () => {
    const byColumn = shapeOf("sqlite", sqliteTable("t", { s: sqliteText("s").unique() }));
    const byIndex = shapeOf("pg", pgTable("t", { s: pgText("s") }, (t) => [pgUniqueIndex("t_s_unique").on(t.s)]));
    const partial = shapeOf(
      "pg",
      pgTable("t", { s: pgText("s") }, (t) => [pgUniqueIndex("t_s_unique").on(t.s).where(sql`${t.s} IS NOT NULL`)]),
    );
    expect(byIndex.uniques).toEqual(byColumn.uniques);
    expect(partial.uniques).not.toEqual(byColumn.uniques);
  });
});

interface Journal {
  dialect: string;
  entries: { idx: number; tag: string }[];
}

function readMigrations(folder: string): { journal: Journal; files: { tag: string; sql: string }[] } {
  const journal = JSON.parse(readFileSync(join(folder, "meta", "_journal.json"), "utf8")) as Journal;
  const files = journal.entries.map((e) => ({ tag: e.tag, sql: readFileSync(join(folder, `${e.tag}.sql`), "utf8") }));
  return { journal, files };
}

const statements = (sqlText: string) => sqlText.split("--> statement-breakpoint").map((s) => s.trim()).filter(Boolean);

/** The statement creating a trigger, if this migration has it. */
function triggerStatement(sqlText: string, name: string): string | undefined {
  return statements(sqlText).find((s) => new RegExp(`CREATE\\s+TRIGGER\\s+"?${name}"?\\s`, "i").test(s));
}

const IMMUTABILITY = [
  { trigger: "posts_sent_are_immutable", when: "UPDATE", message: "a sent post cannot be modified" },
  { trigger: "posts_sent_cannot_be_deleted", when: "DELETE", message: "a sent post cannot be deleted" },
];

/** The migration that makes sent posts immutable, checked as far as text allows; the PG one runs for real in a manual check. */
function immutabilityMigration(folder: string): { index: number; tag: string; sql: string } {
  const { files } = readMigrations(folder);
  const index = files.findIndex((f) => IMMUTABILITY.some(({ trigger }) => triggerStatement(f.sql, trigger)));
  expect(index, `${folder}: no migration creates the sent-post triggers`).toBeGreaterThanOrEqual(0);
  const file = files[index]!;
  for (const { trigger, when, message } of IMMUTABILITY) {
    const statement = triggerStatement(file.sql, trigger);
    expect(statement, `${file.tag}: creates ${trigger}`).toBeDefined();
    expect(statement, `${file.tag}: ${trigger} fires before ${when} on posts`).toMatch(
      new RegExp(`BEFORE\\s+${when}\\s+ON\\s+"?posts"?\\s`, "i"),
    );
    expect(statement, `${file.tag}: ${trigger} fires for sent posts only`).toMatch(/OLD\.state\s*=\s*'sent'/i);
    expect(file.sql, `${file.tag}: refuses with '${message}'`).toContain(`'${message}'`);
  }
  // Nothing later takes the rule away.
  for (const later of files.slice(index + 1)) {
    for (const { trigger } of IMMUTABILITY) {
      expect(later.sql, `${later.tag}: drops ${trigger}`).not.toMatch(new RegExp(`DROP\\s+TRIGGER[^;]*${trigger}`, "i"));
    }
  }
  return { index, ...file };
}

describe("the migrations", () => {
  it("PostgreSQL has its own migrations folder and journal, every entry with its SQL", () => {
    expect(existsSync(join(PG_MIGRATIONS, "meta", "_journal.json")), "schema/migrations-pg/meta/_journal.json").toBe(true);
    const { journal, files } = readMigrations(PG_MIGRATIONS);
    expect(journal.dialect).toBe("postgresql");
    expect(journal.entries.map((e) => e.idx)).toEqual(journal.entries.map((_, i) => i));
    for (const file of files) expect(statements(file.sql).length, `${file.tag}: has statements`).toBeGreaterThan(0);
    expect(readMigrations(SQLITE_MIGRATIONS).journal.dialect).toBe("sqlite");
  });

  it("PostgreSQL's migrations make sent posts immutable after creating posts, with SQLite's trigger names and messages", () => {
    const pg = immutabilityMigration(PG_MIGRATIONS);
    const { files } = readMigrations(PG_MIGRATIONS);
    const createsPosts = files.findIndex((f) => /CREATE TABLE "posts"/.test(f.sql));
    expect(createsPosts, "a PG migration creates posts").toBeGreaterThanOrEqual(0);
    expect(pg.index, `${pg.tag} runs after posts exists`).toBeGreaterThan(createsPosts);
    // A plpgsql function raises, the triggers call it.
    expect(pg.sql).toMatch(/LANGUAGE\s+plpgsql/i);
    expect(pg.sql).toMatch(/RAISE\s+EXCEPTION\s+'a sent post cannot be modified'/i);
    expect(pg.sql).toMatch(/RAISE\s+EXCEPTION\s+'a sent post cannot be deleted'/i);
  });

  it("SQLite's migrations make sent posts immutable too", () => {
    const sqlite = immutabilityMigration(SQLITE_MIGRATIONS);
    for (const { message } of IMMUTABILITY) expect(sqlite.sql).toMatch(new RegExp(`RAISE\\(ABORT,\\s*'${message}'\\)`));
  });

  it("PostgreSQL's migrations are up to date with schema/pg-schema.ts (npm run db:generate:pg has nothing to add)", async () => {
    const { generateDrizzleJson, generateMigration } = await import("drizzle-kit/api");
    const { journal } = readMigrations(PG_MIGRATIONS);
    const last = journal.entries.at(-1)!;
    const snapshotFile = join(PG_MIGRATIONS, "meta", `${String(last.idx).padStart(4, "0")}_snapshot.json`);
    const snapshot = JSON.parse(readFileSync(snapshotFile, "utf8")) as Parameters<typeof generateMigration>[0];
    const current = generateDrizzleJson(pgSchema as Record<string, unknown>, snapshot.id);
    expect(await generateMigration(snapshot, current), "SQL a new PG migration would need: run npm run db:generate:pg").toEqual([]);
  });
});

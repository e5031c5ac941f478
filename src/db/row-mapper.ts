import { Column, is, SQL, Subquery, getTableName } from "drizzle-orm";

/** A selected field as drizzle's prepared queries list them: where it goes in the row object, and what decodes it. */
interface SelectedField {
  readonly path: readonly string[];
  readonly field: unknown;
}

interface Decoder {
  mapFromDriverValue(value: unknown): unknown;
}

/** What the stores look at on a prepared drizzle query (both drivers keep these after `prepare()`). */
export interface MappedQuery {
  fields?: readonly SelectedField[];
  joinsNotNullableMap?: Record<string, boolean>;
  customResultMapper?: unknown;
}

type RowsMapper = (rows: readonly unknown[][]) => unknown[];

/**
 * drizzle turns each row into an object field by field, asking every field of every row which kind
 * of thing it is: a listing of ten thousand posts spent more time there than in SQLite. This builds,
 * once per prepared query, a function that writes the same objects directly (the same keys, in the
 * same order, the same decoders, the same nulled-out left joins), and hands it to the query as its
 * result mapper, which both drivers then call with the rows as arrays.
 *
 * Only flat selections and one level of nesting (a join's `{ posts: …, users: … }`) are compiled;
 * anything else keeps drizzle's own mapping. Answers whether the query now maps its rows this way:
 * better-sqlite3's `get` then answers the one row in an array.
 */
export function useCompiledRowMapper(prepared: MappedQuery): boolean {
  if (!prepared.fields || prepared.customResultMapper) return false;
  const mapRow = compileRowMapper(prepared.fields, prepared.joinsNotNullableMap);
  if (!mapRow) return false;
  const mapRows: RowsMapper = (rows) => {
    const mapped = new Array(rows.length);
    for (let i = 0; i < rows.length; i++) mapped[i] = mapRow(rows[i]!);
    return mapped;
  };
  prepared.customResultMapper = mapRows;
  return true;
}

/** The row function for these fields, or undefined when their shape is not one this compiles. */
export function compileRowMapper(fields: readonly SelectedField[], joinsNotNullableMap?: Record<string, boolean>): ((row: readonly unknown[]) => unknown) | undefined {
  const decoders: Decoder[] = [];
  for (const { path, field } of fields) {
    if (path.length < 1 || path.length > 2) return undefined;
    const decoder = decoderOf(field);
    if (!decoder) return undefined;
    decoders.push(decoder);
  }
  // Top-level keys in order of first appearance, as drizzle creates them.
  const groups = new Map<string, number[]>();
  fields.forEach(({ path }, index) => {
    const key = path[0]!;
    const group = groups.get(key);
    if (group) group.push(index);
    else groups.set(key, [index]);
  });
  const lines = decoders.map((_, index) => `const v${index} = row[${index}] === null ? null : d[${index}].mapFromDriverValue(row[${index}]);`);
  const members: string[] = [];
  for (const [key, indexes] of groups) {
    const nested = indexes.map((index) => fields[index]!.path.length === 2);
    if (nested.every((n) => !n)) {
      // Two fields at the same top-level key: drizzle keeps the last one's value.
      members.push(`${JSON.stringify(key)}: v${indexes[indexes.length - 1]}`);
      continue;
    }
    if (!nested.every(Boolean)) return undefined;
    const object = `{ ${indexes.map((index) => `${JSON.stringify(fields[index]!.path[1])}: v${index}`).join(", ")} }`;
    const decisive = nullingColumn(fields, indexes, joinsNotNullableMap);
    members.push(`${JSON.stringify(key)}: ${decisive === undefined ? object : `v${decisive} === null ? null : ${object}`}`);
  }
  const body = `${lines.join("\n")}\nreturn { ${members.join(", ")} };`;
  const build = new Function("d", `return function mapRow(row) {\n${body}\n};`) as (d: Decoder[]) => (row: readonly unknown[]) => unknown;
  return build(decoders);
}

function decoderOf(field: unknown): Decoder | undefined {
  // A column decodes its own values; SQL carries its decoder in a member its types keep private.
  const decoderOfSql = (value: SQL) => (value as unknown as { decoder: Decoder }).decoder;
  if (is(field, Column)) return field as unknown as Decoder;
  if (is(field, SQL)) return decoderOfSql(field);
  if (is(field, Subquery)) return decoderOfSql((field as unknown as { _: { sql: SQL } })._.sql);
  if (is(field, SQL.Aliased)) return decoderOfSql(field.sql);
  return undefined;
}

/**
 * drizzle's rule for a left join that found nothing: a nested object becomes null when its first
 * column's value is null, provided all its columns come from one table that the join may leave out
 * (fields that are SQL rather than columns are not looked at). The index of that first column, or
 * undefined when the object is never nulled.
 */
function nullingColumn(fields: readonly SelectedField[], indexes: readonly number[], joinsNotNullableMap?: Record<string, boolean>): number | undefined {
  if (!joinsNotNullableMap) return undefined;
  const columns = indexes.filter((index) => is(fields[index]!.field, Column));
  if (columns.length === 0) return undefined;
  const tableOf = (index: number) => getTableName((fields[index]!.field as Column).table);
  const table = tableOf(columns[0]!);
  if (columns.some((index) => tableOf(index) !== table) || joinsNotNullableMap[table]) return undefined;
  return columns[0];
}

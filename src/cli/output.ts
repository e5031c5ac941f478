/** Listings print as aligned columns for people, or as JSON with --json for other tools. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Columns are keys of the row type, so a renamed field cannot silently print as "-". */
export function printTable<Row extends object>(rows: readonly Row[], columns: readonly (keyof Row & string)[]): void {
  if (rows.length === 0) {
    process.stdout.write("(none)\n");
    return;
  }
  const cell = (value: unknown) => (value === null || value === undefined ? "-" : Array.isArray(value) ? value.join(",") : String(value));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i] ?? 0)).join("  ").trimEnd();
  process.stdout.write(`${line(columns.map((c) => c.toUpperCase()))}\n`);
  for (const row of rows) process.stdout.write(`${line(columns.map((c) => cell(row[c])))}\n`);
}

export function printLine(text: string): void {
  process.stdout.write(`${text}\n`);
}

export const iso = (millis: number | null | undefined): string | null =>
  millis === null || millis === undefined ? null : new Date(millis).toISOString();

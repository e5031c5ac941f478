let quietOnClosedOutput = false;

/**
 * `postern mail log | head`: once the reader goes away, writing to stdout fails with EPIPE. That
 * is the reader's choice, not a failure of the command, so the process ends quietly (with the exit
 * code already set, else 0) instead of dying on an unhandled 'error' event. Other errors still throw.
 */
export function exitQuietlyWhenOutputCloses(): void {
  if (quietOnClosedOutput) return;
  quietOnClosedOutput = true;
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit();
    throw error;
  });
}

/** Once stdout is closed (EPIPE destroys it) nothing more is written; a listing just stops. */
function write(text: string): void {
  if (process.stdout.destroyed) return;
  process.stdout.write(text);
}

/** Listings print as aligned columns for people, or as JSON with --json for other tools. */
export function printJson(value: unknown): void {
  write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Columns are keys of the row type, so a renamed field cannot silently print as "-". */
export function printTable<Row extends object>(rows: readonly Row[], columns: readonly (keyof Row & string)[]): void {
  if (rows.length === 0) {
    write("(none)\n");
    return;
  }
  const cell = (value: unknown) => (value === null || value === undefined ? "-" : Array.isArray(value) ? value.join(",") : String(value));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i] ?? 0)).join("  ").trimEnd();
  write(`${line(columns.map((c) => c.toUpperCase()))}\n`);
  for (const row of rows) write(`${line(columns.map((c) => cell(row[c])))}\n`);
}

export function printLine(text: string): void {
  write(`${text}\n`);
}

export const iso = (millis: number | null | undefined): string | null =>
  millis === null || millis === undefined ? null : new Date(millis).toISOString();

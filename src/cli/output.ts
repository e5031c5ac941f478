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

const DAY_MS = 86_400_000;
let isoDay = Number.NaN;
let isoDayPrefix = "";
const twoDigits = (n: number) => (n < 10 ? `0${n}` : `${n}`);

/**
 * `new Date(millis).toISOString()`, the same text, at a fraction of its cost: a listing of a long
 * conversation formats ten thousand times, mostly within the same few days, so the date part is
 * kept from the previous call and only the time of day is written out.
 */
export const iso = (millis: number | null | undefined): string | null => {
  if (millis === null || millis === undefined) return null;
  // Outside the plain case (fractions, NaN, beyond Date's range) Date itself answers or throws.
  if (!Number.isInteger(millis) || Math.abs(millis) > 8.64e15) return new Date(millis).toISOString();
  const day = Math.floor(millis / DAY_MS);
  if (day !== isoDay) {
    const text = new Date(day * DAY_MS).toISOString();
    isoDayPrefix = text.slice(0, text.indexOf("T") + 1);
    isoDay = day;
  }
  let rest = millis - day * DAY_MS;
  const ms = rest % 1000;
  rest = (rest - ms) / 1000;
  const seconds = rest % 60;
  rest = (rest - seconds) / 60;
  const minutes = rest % 60;
  const hours = (rest - minutes) / 60;
  return `${isoDayPrefix}${twoDigits(hours)}:${twoDigits(minutes)}:${twoDigits(seconds)}.${ms < 10 ? "00" : ms < 100 ? "0" : ""}${ms}Z`;
};

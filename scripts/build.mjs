/**
 * `npm run build`: compiles src/ and schema/*.ts to dist/ (one JavaScript file per TypeScript
 * file, no bundling), so bin/postern.js starts without compiling TypeScript at run time. It is the
 * transform tsx applies file by file when the sources run directly (tsx's esbuild), taking about
 * a second; type checking stays `npm run typecheck`. The SQL migrations are read from schema/ in
 * the checkout, not copied.
 *
 * dist/.stamp records when the build started. bin/postern.js runs dist/ only while no file under
 * src/ or schema/ (nor a folder, which changes when a file is added or deleted) is newer than
 * that, and falls back to tsx otherwise: stale compiled code never runs.
 *
 *   node scripts/build.mjs              build
 *   node scripts/build.mjs --if-stale   build only when dist/ is missing or older than the sources (`npm start`)
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
export const DIST = join(ROOT, "dist");
export const STAMP = join(DIST, ".stamp");
/** What the compiled code is made from. */
const SOURCES = ["src", "schema"];

/** The newest modification time (ms) of any file or folder under the sources. */
export function newestSourceMtime(root = ROOT) {
  let newest = 0;
  const walk = (path) => {
    const stat = statSync(path, { throwIfNoEntry: false });
    if (!stat) return;
    newest = Math.max(newest, stat.mtimeMs);
    if (stat.isDirectory()) for (const name of readdirSync(path)) walk(join(path, name));
  };
  for (const source of SOURCES) walk(join(root, source));
  return newest;
}

/** Whether dist/ was built after the last change to the sources. */
export function distIsCurrent(root = ROOT) {
  const stamp = statSync(join(root, "dist", ".stamp"), { throwIfNoEntry: false });
  return stamp !== undefined && stamp.mtimeMs >= newestSourceMtime(root);
}

function typescriptFiles(dir) {
  const files = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...typescriptFiles(path));
    else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) files.push(path);
  }
  return files;
}

/**
 * Compiles into `outDir` (dist/ unless a test names another folder inside the checkout). The new
 * tree is written beside it and then renamed into place, so a process starting meanwhile finds
 * the old build or the new one, never half of one, and a source deleted since the last build
 * leaves no output behind.
 */
export async function build(outDir = DIST) {
  const started = Date.now();
  // tsx's own esbuild: a dependency of a dependency (installed with --omit=dev too), and the very
  // transform the sources get when tsx runs them.
  const fromTsx = createRequire(createRequire(import.meta.url).resolve("tsx/package.json"));
  const { build: esbuild } = fromTsx("esbuild");
  const building = `${outDir}.building-${process.pid}`;
  rmSync(building, { recursive: true, force: true });
  mkdirSync(building, { recursive: true });
  const schemaFiles = readdirSync(join(ROOT, "schema")).filter((f) => f.endsWith(".ts")).map((f) => join(ROOT, "schema", f));
  const entryPoints = [...typescriptFiles(join(ROOT, "src")), ...schemaFiles];
  await esbuild({
    entryPoints,
    outdir: building,
    outbase: ROOT,
    bundle: false,
    format: "esm",
    platform: "node",
    target: "node20",
    sourcemap: "linked",
    logLevel: "warning",
  });
  // The stamp carries the time the build started: a source saved during the build counts as newer.
  const stamp = join(building, ".stamp");
  writeFileSync(stamp, `${new Date(started).toISOString()}\n`);
  utimesSync(stamp, new Date(started), new Date(started));
  const old = `${outDir}.old-${process.pid}`;
  if (existsSync(outDir)) renameSync(outDir, old);
  renameSync(building, outDir);
  rmSync(old, { recursive: true, force: true });
  return { files: entryPoints.length, ms: Date.now() - started };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (process.argv.includes("--if-stale") && distIsCurrent()) {
    console.log("dist/ is up to date");
  } else {
    const { files, ms } = await build();
    console.log(`compiled ${files} files to dist/ in ${ms} ms`);
  }
}

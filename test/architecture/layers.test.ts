import { readFileSync, readdirSync } from "node:fs";
import { join, posix, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

// ---------------------------------------------------------------------------
// The layer table: which units each unit's files may import.
// Why this order: one message's path reads top to bottom (smtp → inbound → domain ← outbound;
// cli → domain; app composes), so lower layers never reach back up.
// A unit is the first path segment under src/ (src/inbound/trim/lines.ts → "inbound", src/log.ts → "log");
// "schema" is the top-level /schema folder. Imports inside a unit, of npm packages and of node: builtins
// are always fine.
// ---------------------------------------------------------------------------
const ALLOWED: Record<string, readonly string[]> = {
  smtp: ["inbound", "concurrency", "errors", "config", "log"],
  inbound: ["domain", "db", "errors", "config", "log"],
  domain: ["db", "errors", "config", "log", "schema"],
  outbound: ["domain", "db", "concurrency", "errors", "config", "log"],
  scheduler: ["domain", "db", "errors", "config", "log"],
  cli: ["domain", "db", "errors", "config", "log", "app"],
  // app composes everything except cli (and schema, which only db and domain may touch).
  app: ["smtp", "inbound", "domain", "outbound", "scheduler", "concurrency", "db", "errors", "config", "log"],
  db: ["schema", "config", "errors", "log"],
  // Infrastructure.
  config: ["errors"],
  log: ["config"],
  errors: [],
  // How much work runs at once, by size: shared by the inbound listener and the delivery worker.
  concurrency: [],
  // Outside src/: importable only by db and domain.
  schema: [],
};

const TABLE_HINT = "add it to ALLOWED in test/architecture/layers.test.ts with the units it may import";

// ---------------------------------------------------------------------------
// Pure checker: no file system below this line until "File-system walk".
// ---------------------------------------------------------------------------

/** One relative import: `file` and `target` are paths relative to the project root, with "/" separators. */
interface ImportEdge {
  readonly file: string;
  readonly specifier: string;
  readonly target: string;
  readonly from: string;
  readonly to: string;
}

type UnitGraph = ReadonlyMap<string, ReadonlySet<string>>;

const REGEX_CAN_FOLLOW = new Set([..."(,=:[!&|?{};+-*%<>~^"]);
const KEYWORDS_BEFORE_EXPRESSION = new Set(["return", "typeof", "case", "do", "else", "in", "of", "new", "delete", "void", "throw", "yield", "await", "instanceof"]);

/** Does a "/" after this code start a regex literal (rather than a division)? */
function regexCanStart(codeSoFar: string): boolean {
  const trimmed = codeSoFar.trimEnd();
  if (trimmed === "") return true;
  if (REGEX_CAN_FOLLOW.has(trimmed.at(-1)!)) return true;
  const word = /[\w$]+$/.exec(trimmed)?.[0];
  return word !== undefined && KEYWORDS_BEFORE_EXPRESSION.has(word);
}

/** Index just past a quoted string or regex literal starting at `start`; stops at a line end (neither can span lines). */
function skipLiteral(source: string, start: number, isRegex: boolean): number {
  let inClass = false;
  for (let i = start + 1; i < source.length; i++) {
    const c = source[i];
    if (c === "\\") i++;
    else if (c === "\n") return i;
    else if (isRegex && c === "[") inClass = true;
    else if (isRegex && c === "]") inClass = false;
    else if (c === source[start] && !inClass) {
      if (!isRegex) return i + 1;
      let end = i + 1;
      while (end < source.length && /[a-z]/i.test(source[end]!)) end++;
      return end;
    }
  }
  return source.length;
}

/**
 * Removes comments and blanks the text of template literals (their `${…}` code stays), keeping line breaks.
 * Quoted strings and regex literals are kept as they are, but they are skipped as units so that a quote, a
 * backtick or "//" inside them cannot derail the scan.
 */
function stripComments(source: string): string {
  let out = "";
  let i = 0;
  let braceDepth = 0;
  const templateDepths: number[] = []; // brace depth at which each open `${` closes back into its template
  while (i < source.length) {
    const c = source[i]!;
    const next = source[i + 1];
    if (c === "/" && next === "/") {
      const end = source.indexOf("\n", i);
      i = end === -1 ? source.length : end;
    } else if (c === "/" && next === "*") {
      const end = source.indexOf("*/", i + 2);
      const stop = end === -1 ? source.length : end + 2;
      out += source.slice(i, stop).replace(/[^\n]/g, " ");
      i = stop;
    } else if (c === '"' || c === "'" || (c === "/" && regexCanStart(out))) {
      const stop = skipLiteral(source, i, c === "/");
      out += source.slice(i, stop);
      i = stop;
    } else if (c === "`" || (c === "}" && templateDepths.at(-1) === braceDepth)) {
      if (c === "}") templateDepths.pop();
      out += c;
      i++;
      while (i < source.length) {
        const t = source[i]!;
        if (t === "\\") {
          out += "  ";
          i += 2;
        } else if (t === "`") {
          out += t;
          i++;
          break;
        } else if (t === "$" && source[i + 1] === "{") {
          out += "${";
          i += 2;
          templateDepths.push(braceDepth);
          break;
        } else {
          out += t === "\n" ? t : " ";
          i++;
        }
      }
    } else {
      if (c === "{") braceDepth++;
      if (c === "}") braceDepth--;
      out += c;
      i++;
    }
  }
  return out;
}

const IMPORT_PATTERNS: readonly RegExp[] = [
  // import x from "m"; import type { A, B } from "m"; import * as n from "m"; export { a } from "m"; export * from "m" (lists may span lines)
  /(?:^|;)[ \t]*(?:import|export)\b[\w\s{},*$]*?\bfrom\s*(["'])([^"'\n]+)\1/gm,
  // import "m";
  /(?:^|;)[ \t]*import\s*(["'])([^"'\n]+)\1/gm,
  // import("m"), also in type positions: type T = import("m").T
  /(?<![\w$.])import\s*\(\s*(["'])([^"'\n]+)\1\s*[,)]/g,
];

/** Every module specifier a source file imports or re-exports from, in no particular order. */
function extractSpecifiers(source: string): string[] {
  const code = stripComments(source);
  return IMPORT_PATTERNS.flatMap((pattern) => [...code.matchAll(pattern)].map((match) => match[2]!));
}

/** The unit of a project-relative path: first segment under src/ (a file directly in src/ is its own unit), else the top-level folder. */
function unitOf(path: string): string {
  const parts = path.split("/");
  if (parts[0] !== "src" || parts.length < 2) return parts[0]!;
  return parts.length === 2 ? parts[1]!.replace(/\.(d\.)?[cm]?[jt]sx?$/, "") : parts[1]!;
}

/** Resolves a relative specifier against its importing file; null for npm packages, node: builtins and other bare specifiers. */
function resolveSpecifier(file: string, specifier: string): string | null {
  if (specifier !== "." && specifier !== ".." && !specifier.startsWith("./") && !specifier.startsWith("../")) return null;
  return posix.normalize(posix.join(posix.dirname(file), specifier));
}

function importEdges(file: string, source: string): ImportEdge[] {
  return extractSpecifiers(source).flatMap((specifier) => {
    const target = resolveSpecifier(file, specifier);
    return target === null ? [] : [{ file, specifier, target, from: unitOf(file), to: unitOf(target) }];
  });
}

/** Every broken rule, one line each: unknown units, then forbidden edges. */
function checkLayers(edges: readonly ImportEdge[], rules: Readonly<Record<string, readonly string[]>>): string[] {
  const known = (unit: string): boolean => Object.hasOwn(rules, unit);
  const unknownSources = new Map<string, string>();
  const violations: string[] = [];
  for (const edge of edges) {
    if (!known(edge.from)) {
      if (!unknownSources.has(edge.from)) unknownSources.set(edge.from, edge.file);
    } else if (edge.from === edge.to) {
      continue;
    } else if (!known(edge.to)) {
      violations.push(`${edge.file} imports ${edge.specifier} (unit "${edge.to}" is not in the layer table: ${TABLE_HINT})`);
    } else if (!rules[edge.from]!.includes(edge.to)) {
      violations.push(`${edge.file} imports ${edge.specifier} (${edge.from} → ${edge.to} is not allowed)`);
    }
  }
  const unknown = [...unknownSources].map(([unit, file]) => `${file}: unit "${unit}" is not in the layer table: ${TABLE_HINT}`);
  return [...unknown.sort(), ...violations.sort()];
}

function unitGraph(edges: Iterable<{ readonly from: string; readonly to: string }>): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const { from, to } of edges) {
    if (!graph.has(to)) graph.set(to, new Set());
    if (from === to) continue;
    const targets = graph.get(from) ?? new Set<string>();
    targets.add(to);
    graph.set(from, targets);
  }
  return graph;
}

/** Shortest path from `start` back to `start`, as a list of units ending where it began; null when there is none. */
function shortestCycleThrough(graph: UnitGraph, start: string): string[] | null {
  const previous = new Map<string, string>();
  const queue = [start];
  for (let head = 0; head < queue.length; head++) {
    const unit = queue[head]!;
    for (const next of [...(graph.get(unit) ?? [])].sort()) {
      if (next === start) {
        const path: string[] = [];
        for (let at = unit; at !== start; at = previous.get(at)!) path.unshift(at);
        return [start, ...path, start];
      }
      if (!previous.has(next)) {
        previous.set(next, unit);
        queue.push(next);
      }
    }
  }
  return null;
}

/** Distinct cycles between units (the shortest one through each unit that is on any), e.g. ["domain", "outbound", "domain"]. */
function findCycles(graph: UnitGraph): string[][] {
  const seen = new Set<string>();
  const cycles: string[][] = [];
  for (const unit of [...graph.keys()].sort()) {
    const cycle = shortestCycleThrough(graph, unit);
    if (cycle === null) continue;
    const ring = cycle.slice(0, -1);
    const first = ring.indexOf([...ring].sort()[0]!);
    const canonical = [...ring.slice(first), ...ring.slice(0, first)];
    const key = canonical.join(" → ");
    if (seen.has(key)) continue;
    seen.add(key);
    cycles.push([...canonical, canonical[0]!]);
  }
  return cycles;
}

/** "domain → outbound → domain", with one import that makes each step. */
function describeCycle(cycle: readonly string[], edges: readonly ImportEdge[]): string {
  const steps = cycle.slice(1).map((to, index) => {
    const from = cycle[index]!;
    const example = edges.find((edge) => edge.from === from && edge.to === to);
    return example ? `\n    ${from} → ${to}: ${example.file} imports ${example.specifier}` : "";
  });
  return cycle.join(" → ") + steps.join("");
}

// ---------------------------------------------------------------------------
// File-system walk.
// ---------------------------------------------------------------------------

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

function listTsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return listTsFiles(path);
    return entry.isFile() && entry.name.endsWith(".ts") ? [path] : [];
  });
}

function projectImports(): ImportEdge[] {
  return listTsFiles(join(ROOT, "src"))
    .sort()
    .flatMap((path) => importEdges(relative(ROOT, path).split(sep).join("/"), readFileSync(path, "utf8")));
}

// ---------------------------------------------------------------------------

describe("architecture: layers of src/", () => {
  const edges = projectImports();

  it("finds the source files and their imports", () => {
    expect(edges.length).toBeGreaterThan(0);
  });

  it("every import between units follows the layer table", () => {
    const violations = checkLayers(edges, ALLOWED);
    expect(violations, `${violations.length} layer violation(s):\n  ${violations.join("\n  ")}\n`).toEqual([]);
  });

  it("inside the domain, only repositories touch the storage schema (queries in *.repo.ts, rules in *.service.ts)", () => {
    const leaks = edges
      .filter((e) => e.from === "domain" && e.to === "schema" && !e.file.endsWith(".repo.ts"))
      .map((e) => `${e.file} imports ${e.specifier}`);
    expect(leaks, `schema imported outside repositories:\n  ${leaks.join("\n  ")}\n`).toEqual([]);
  });

  it("no file outside src/db/ names the SQLite driver", () => {
    const files = listTsFiles(join(ROOT, "src")).filter((path) => !relative(ROOT, path).split(sep).join("/").startsWith("src/db/"));
    const leaks = files.filter((path) => /better-sqlite3|BetterSQLite3/.test(readFileSync(path, "utf8"))).map((path) => relative(ROOT, path));
    expect(leaks).toEqual([]);
  });

  it("units do not import each other in a cycle", () => {
    const cycles = findCycles(unitGraph(edges)).map((cycle) => describeCycle(cycle, edges));
    expect(cycles, `${cycles.length} cycle(s) between units:\n  ${cycles.join("\n  ")}\n`).toEqual([]);
  });
});

describe("layer checker (self-test on synthetic input)", () => {
  const rules = { top: ["middle", "base"], middle: ["base"], base: [] } as const;
  const edge = (file: string, specifier: string): ImportEdge => importEdges(file, `import { x } from "${specifier}";\n`)[0]!;

  it("extracts every kind of import and re-export, ignoring comments and strings", () => {
    const source = [
      `import a from "./a.js";`,
      `import type { B } from "./b.js";`,
      `import {`,
      `  c,`,
      `  type D,`,
      `} from "../c.js";`,
      `import "./side-effect.js";`,
      `import * as e from 'node:fs';`,
      `export { f } from "./f.js";`,
      `export type * from "./g.js";`,
      `export * as h from "./h.js";`,
      `type T = import("./t.js").T;`,
      `const lazy = async () => (await import("./lazy.js")).run();`,
      `// import x from "./commented.js";`,
      `/* import y from "./block-commented.js"; */`,
      "const s = `",
      `import z from "./in-template.js";`,
      "`;",
      `const re = /["'\`]/g; const url = "http://example.com/*";`,
      `export function f2(from: string) { return from; }`,
      `export type Kind = "from" | "to";`,
      `const after = await import("./after-regex.js");`,
    ].join("\n");
    expect(extractSpecifiers(source).sort()).toEqual(
      ["./a.js", "./b.js", "../c.js", "./side-effect.js", "node:fs", "./f.js", "./g.js", "./h.js", "./t.js", "./lazy.js", "./after-regex.js"].sort(),
    );
  });

  it("maps files to units and resolves relative specifiers", () => {
    expect(unitOf("src/inbound/trim/lines.ts")).toBe("inbound");
    expect(unitOf("src/app.ts")).toBe("app");
    expect(unitOf("src/log.js")).toBe("log");
    expect(unitOf("schema/schema.js")).toBe("schema");
    expect(resolveSpecifier("src/domain/users.repo.ts", "../../schema/schema.js")).toBe("schema/schema.js");
    expect(resolveSpecifier("src/domain/users.repo.ts", "./tokens.js")).toBe("src/domain/tokens.js");
    expect(resolveSpecifier("src/domain/users.repo.ts", "drizzle-orm")).toBeNull();
    expect(resolveSpecifier("src/domain/users.repo.ts", "node:path")).toBeNull();
  });

  it("accepts allowed edges, edges inside a unit and package imports", () => {
    const edges = [
      edge("src/top/a.ts", "../middle/b.js"),
      edge("src/top/a.ts", "../base.js"),
      edge("src/middle/deep/b.ts", "../../base.js"),
      edge("src/middle/deep/b.ts", "../c.js"),
      ...importEdges("src/base.ts", `import x from "zod";\nimport { y } from "node:fs";`),
    ];
    expect(checkLayers(edges, rules)).toEqual([]);
  });

  it("reports a forbidden edge with its file and specifier", () => {
    const edges = [edge("src/base.ts", "./middle/b.js"), edge("src/top/a.ts", "../middle/b.js")];
    expect(checkLayers(edges, rules)).toEqual(["src/base.ts imports ./middle/b.js (base → middle is not allowed)"]);
  });

  it("reports units missing from the table, as importer or as target", () => {
    const edges = [edge("src/newbie/a.ts", "../base.js"), edge("src/newbie/b.ts", "../top/a.js"), edge("src/top/a.ts", "../../scripts/x.js")];
    expect(checkLayers(edges, rules)).toEqual([
      `src/newbie/a.ts: unit "newbie" is not in the layer table: ${TABLE_HINT}`,
      `src/top/a.ts imports ../../scripts/x.js (unit "scripts" is not in the layer table: ${TABLE_HINT})`,
    ]);
  });

  it("finds cycles between units and names an import for each step", () => {
    const edges = [
      edge("src/domain/fan-out.ts", "../outbound/outbox.repo.js"),
      edge("src/outbound/render.ts", "../domain/addresses.js"),
      edge("src/outbound/render.ts", "../db/database.js"),
      edge("src/domain/fan-out.ts", "./tokens.js"),
    ];
    const cycles = findCycles(unitGraph(edges));
    expect(cycles).toEqual([["domain", "outbound", "domain"]]);
    expect(describeCycle(cycles[0]!, edges)).toBe(
      "domain → outbound → domain" +
        "\n    domain → outbound: src/domain/fan-out.ts imports ../outbound/outbox.repo.js" +
        "\n    outbound → domain: src/outbound/render.ts imports ../domain/addresses.js",
    );
    expect(findCycles(unitGraph([{ from: "a", to: "b" }, { from: "b", to: "c" }, { from: "c", to: "a" }, { from: "c", to: "d" }]))).toEqual([["a", "b", "c", "a"]]);
    expect(findCycles(unitGraph([{ from: "a", to: "b" }, { from: "b", to: "c" }, { from: "a", to: "c" }]))).toEqual([]);
  });

  it("the layer table itself is acyclic and names only units it defines", () => {
    const tableEdges = Object.entries(ALLOWED).flatMap(([from, targets]) => targets.map((to) => ({ from, to })));
    expect(findCycles(unitGraph(tableEdges))).toEqual([]);
    expect(tableEdges.filter(({ to }) => !Object.hasOwn(ALLOWED, to))).toEqual([]);
  });
});

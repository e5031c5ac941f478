import { existsSync, readFileSync } from "node:fs";
import { parse as parseToml } from "smol-toml";
import type { ZodIssue } from "zod";
import { configSchema, type RawConfig } from "./schema.js";

export const DEFAULT_CONFIG_PATH = "config/postern.toml";
const DEFAULT_DOMAIN = "postern.localhost";

export interface Config extends RawConfig {
  /** Every domain Postern answers for, lowercase; the first is the primary one. */
  readonly domains: readonly string[];
  readonly primaryDomain: string;
  readonly fromAddress: string;
  /** Where the configuration came from, for `config check` and logs. */
  readonly source: string;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** Validates a parsed TOML object (or nothing: built-in defaults) into the frozen Config. */
export function buildConfig(input: unknown, source = "built-in defaults"): Config {
  const result = configSchema.safeParse(input ?? {});
  if (!result.success) {
    throw new ConfigError(`${source}: ${result.error.issues.map(describeIssue).join("; ")}`);
  }
  const raw = result.data;
  const domains = raw.gateway.domains ?? [raw.gateway.domain ?? DEFAULT_DOMAIN];
  const primaryDomain = domains[0] ?? DEFAULT_DOMAIN;
  const fromAddress = (raw.gateway.from_address ?? `conversations@${primaryDomain}`).toLowerCase();
  return deepFreeze({ ...raw, domains, primaryDomain, fromAddress, source });
}

/**
 * Resolves the file to read: an explicit path (--config), else POSTERN_CONFIG, else
 * config/postern.toml when present, else the built-in defaults.
 */
export function loadConfig(explicitPath?: string, env: NodeJS.ProcessEnv = process.env): Config {
  const path = explicitPath ?? env.POSTERN_CONFIG ?? (existsSync(DEFAULT_CONFIG_PATH) ? DEFAULT_CONFIG_PATH : undefined);
  if (path === undefined) return buildConfig(withEnvironment({}, env));
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError(`${path}: cannot read the configuration file (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  let parsed: unknown;
  try {
    parsed = parseToml(text);
  } catch (error) {
    throw new ConfigError(`${path}: not valid TOML: ${(error as Error).message.split("\n")[0]}`);
  }
  return buildConfig(withEnvironment(parsed, env), path);
}

/** POSTERN_DATABASE_URL keeps the database password out of the file; it wins over `[database] url`. */
function withEnvironment(parsed: unknown, env: NodeJS.ProcessEnv): unknown {
  const url = env.POSTERN_DATABASE_URL;
  if (!url || typeof parsed !== "object" || parsed === null) return parsed;
  const record = parsed as Record<string, unknown>;
  const database = typeof record.database === "object" && record.database !== null ? record.database : {};
  return { ...record, database: { ...database, url } };
}

/** A database URL safe to print: the password replaced. */
export function maskedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "****";
    return parsed.toString();
  } catch {
    return "(unreadable URL)";
  }
}

function describeIssue(issue: ZodIssue): string {
  const key = issue.path.join(".") || "(top level)";
  if (issue.code === "unrecognized_keys") {
    const prefix = issue.path.length ? `${issue.path.join(".")}.` : "";
    return `unknown key ${issue.keys.map((k) => `"${prefix}${k}"`).join(", ")}`;
  }
  return `${key}: ${issue.message}`;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

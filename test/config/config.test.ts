import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { buildConfig, ConfigError, loadConfig } from "../../src/config/config.js";
import { configSchema } from "../../src/config/schema.js";

/** The ConfigError a config throws, so a test can read the message that names the key. */
function configError(work: () => unknown): ConfigError {
  try {
    work();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error("expected a ConfigError, but the configuration was accepted");
}

describe("buildConfig: built-in defaults", () => {
  const config = buildConfig({});

  it("answers for postern.localhost with conversations@ as From", () => {
    expect(config.domains).toEqual(["postern.localhost"]);
    expect(config.primaryDomain).toBe("postern.localhost");
    expect(config.fromAddress).toBe("conversations@postern.localhost");
    expect(config.gateway.name).toBe("Postern");
    expect(config.gateway.disclose_participants).toBe(false);
    expect(config.source).toBe("built-in defaults");
  });

  it("listens on 127.0.0.1:2525 with a 25MB limit and no reverse DNS", () => {
    expect(config.smtp.host).toBe("127.0.0.1");
    expect(config.smtp.port).toBe(2525);
    expect(config.smtp.max_message_size).toBe(25 * 1024 * 1024);
    expect(config.smtp.reverse_dns).toBe(false);
  });

  it("stores in data/postern.db and delivers through the file transport", () => {
    expect(config.database.path).toBe("data/postern.db");
    expect(config.database.synchronous).toBe("FULL");
    expect(config.outbound.transport).toBe("file");
    expect(config.outbound.dir).toBe("data/outbox");
    expect(config.outbound.host).toBe("127.0.0.1");
    expect(config.outbound.port).toBe(25);
  });

  it("retries about 1m, 5m, 15m, 1h, 4h for up to 5 days", () => {
    expect(config.outbound.retry_schedule).toEqual([60_000, 300_000, 900_000, 3_600_000, 14_400_000]);
    expect(config.outbound.give_up_after).toBe(5 * 86_400_000);
  });

  it("lets only staff and admins write to email addresses", () => {
    expect(config.abilities.write_to_email).toEqual(["staff", "admin"]);
    expect(config.abilities.start_direct).toEqual(["member", "staff", "admin"]);
    expect(config.staged_users.enabled).toBe(true);
  });

  it("treats undefined and null input as the defaults", () => {
    const { source: _a, ...fromUndefined } = buildConfig(undefined);
    const { source: _b, ...fromEmpty } = config;
    expect(fromUndefined).toEqual(fromEmpty);
    expect(buildConfig(null).domains).toEqual(["postern.localhost"]);
  });
});

describe("buildConfig: domains and From", () => {
  it("uses gateway.domain, lowercased, as the only domain", () => {
    const config = buildConfig({ gateway: { domain: "Example.TEST" } });
    expect(config.domains).toEqual(["example.test"]);
    expect(config.primaryDomain).toBe("example.test");
    expect(config.fromAddress).toBe("conversations@example.test");
  });

  it("takes the first of gateway.domains as the primary domain", () => {
    const config = buildConfig({ gateway: { domains: ["A.test", "b.test"] } });
    expect(config.domains).toEqual(["a.test", "b.test"]);
    expect(config.primaryDomain).toBe("a.test");
    expect(config.fromAddress).toBe("conversations@a.test");
  });

  it("keeps an explicit from_address, lowercased", () => {
    const config = buildConfig({ gateway: { domain: "example.test", from_address: "Talk@Example.test" } });
    expect(config.fromAddress).toBe("talk@example.test");
  });

  it("refuses domain and domains together, naming gateway.domains", () => {
    const error = configError(() => buildConfig({ gateway: { domain: "a.test", domains: ["b.test"] } }));
    expect(error.message).toContain("gateway.domains");
  });

  it("refuses an empty domains list and a domain that is not a bare name", () => {
    expect(configError(() => buildConfig({ gateway: { domains: [] } })).message).toContain("gateway.domains");
    expect(configError(() => buildConfig({ gateway: { domain: "mail@example.test" } })).message).toContain("gateway.domain");
  });

  it("refuses a from_address that is not an email address", () => {
    expect(configError(() => buildConfig({ gateway: { from_address: "conversations" } })).message).toContain("gateway.from_address");
  });
});

describe("buildConfig: sizes and durations", () => {
  it("reads sizes with units and bare byte counts", () => {
    const config = buildConfig({ smtp: { max_message_size: "10MB" }, attachments: { max_total_size: 4096 } });
    expect(config.smtp.max_message_size).toBe(10 * 1024 * 1024);
    expect(config.attachments.max_total_size).toBe(4096);
  });

  it("reads durations with units and bare milliseconds", () => {
    const config = buildConfig({
      smtp: { socket_timeout: "5m", processing_timeout: 1500 },
      outbound: { retry_schedule: ["30s", "2h"], give_up_after: "1d" },
      database: { busy_timeout: "250ms" },
    });
    expect(config.smtp.socket_timeout).toBe(300_000);
    expect(config.smtp.processing_timeout).toBe(1500);
    expect(config.outbound.retry_schedule).toEqual([30_000, 7_200_000]);
    expect(config.outbound.give_up_after).toBe(86_400_000);
    expect(config.database.busy_timeout).toBe(250);
  });

  it("names the key and the value of a size it cannot read", () => {
    const error = configError(() => buildConfig({ smtp: { max_message_size: "lots" } }));
    expect(error.message).toContain("smtp.max_message_size");
    expect(error.message).toContain('"lots"');
  });

  it("names the key of a duration it cannot read, even inside a list", () => {
    expect(configError(() => buildConfig({ outbound: { give_up_after: "forever" } })).message).toContain("outbound.give_up_after");
    expect(configError(() => buildConfig({ outbound: { retry_schedule: ["1m", "soon"] } })).message).toContain("outbound.retry_schedule.1");
  });
});

describe("buildConfig: the result is frozen", () => {
  it("cannot be changed at any depth", () => {
    const config = buildConfig({ gateway: { domains: ["a.test", "b.test"] } });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.smtp)).toBe(true);
    expect(Object.isFrozen(config.domains)).toBe(true);
    expect(Object.isFrozen(config.outbound.retry_schedule)).toBe(true);
    // ES modules run in strict mode: writing to a frozen object throws.
    expect(() => {
      (config.smtp as { port: number }).port = 25;
    }).toThrow(TypeError);
    expect(() => (config.domains as string[]).push("c.test")).toThrow(TypeError);
    expect(config.smtp.port).toBe(2525);
  });

  it("does not freeze the caller's input", () => {
    const input = { gateway: { domain: "example.test" } };
    buildConfig(input);
    expect(Object.isFrozen(input)).toBe(false);
    expect(Object.isFrozen(input.gateway)).toBe(false);
  });
});

describe("buildConfig: bad input names the key", () => {
  it("an unknown key inside a section", () => {
    const error = configError(() => buildConfig({ smtp: { prot: 25 } }, "postern.toml"));
    expect(error.message).toContain("smtp.prot");
    expect(error.message.startsWith("postern.toml: ")).toBe(true);
  });

  it("an unknown section", () => {
    expect(configError(() => buildConfig({ gatway: { domain: "example.test" } })).message).toContain("gatway");
  });

  it("a value of the wrong type", () => {
    expect(configError(() => buildConfig({ smtp: { port: "2525" } })).message).toContain("smtp.port");
    expect(configError(() => buildConfig({ outbound: { secure: "yes" } })).message).toContain("outbound.secure");
    expect(configError(() => buildConfig({ smtp: "fast" })).message).toContain("smtp");
  });

  it("a value outside its range or choices", () => {
    expect(configError(() => buildConfig({ smtp: { port: 70000 } })).message).toContain("smtp.port");
    expect(configError(() => buildConfig({ outbound: { transport: "carrier-pigeon" } })).message).toContain("outbound.transport");
    expect(configError(() => buildConfig({ abilities: { write_to_email: ["wizard"] } })).message).toContain("abilities.write_to_email.0");
  });

  it("every problem at once, on one line", () => {
    const error = configError(() => buildConfig({ smtp: { prot: 25, port: "x" }, database: { path: "" } }));
    expect(error.message).toContain("smtp.prot");
    expect(error.message).toContain("smtp.port");
    expect(error.message).toContain("database.path");
    expect(error.message).not.toContain("\n");
  });
});

describe("buildConfig: [smtp] tls_key and tls_cert, which were silently ignored unless both were set", () => {
  it("refuses tls_key without tls_cert, naming smtp.tls_cert", () => {
    const error = configError(() => buildConfig({ smtp: { tls_key: "/etc/postern/key.pem" } }, "postern.toml"));
    expect(error.message).toBe("postern.toml: smtp.tls_cert: tls_key is set but tls_cert is not; set both or neither");
  });

  it("refuses tls_cert without tls_key, naming smtp.tls_key", () => {
    const error = configError(() => buildConfig({ smtp: { tls_cert: "/etc/postern/cert.pem" } }, "postern.toml"));
    expect(error.message).toBe("postern.toml: smtp.tls_key: tls_cert is set but tls_key is not; set both or neither");
  });

  it("refuses an empty path, which the listener would also ignore, naming the key", () => {
    const error = configError(() => buildConfig({ smtp: { tls_key: "", tls_cert: "/etc/postern/cert.pem" } }));
    expect(error.message).toContain("smtp.tls_key");
  });

  it("reports a lone tls_key alongside other problems in the same section", () => {
    const error = configError(() => buildConfig({ smtp: { tls_key: "/etc/postern/key.pem", prot: 25 } }));
    expect(error.message).toContain("smtp.prot");
    expect(error.message).toContain("smtp.tls_cert: tls_key is set but tls_cert is not");
  });

  it("accepts both set, and neither", () => {
    const both = buildConfig({ smtp: { tls_key: "/etc/postern/key.pem", tls_cert: "/etc/postern/cert.pem" } });
    expect(both.smtp.tls_key).toBe("/etc/postern/key.pem");
    expect(both.smtp.tls_cert).toBe("/etc/postern/cert.pem");
    const neither = buildConfig({});
    expect(neither.smtp.tls_key).toBeUndefined();
    expect(neither.smtp.tls_cert).toBeUndefined();
  });
});

describe("buildConfig: [abilities] add_participants and remove_participants", () => {
  it("default to staff and admin, leaving the existing abilities unchanged", () => {
    const config = buildConfig({});
    expect(config.abilities.add_participants).toEqual(["staff", "admin"]);
    expect(config.abilities.remove_participants).toEqual(["staff", "admin"]);
    expect(config.abilities.start_direct).toEqual(["member", "staff", "admin"]);
    expect(config.abilities.write_to_email).toEqual(["staff", "admin"]);
    expect(config.abilities.invite_by_cc).toEqual(["member", "staff", "admin"]);
  });

  it("take any list of roles, and refuse an unknown role naming the key", () => {
    const config = buildConfig({ abilities: { add_participants: ["member", "staff", "admin"], remove_participants: [] } });
    expect(config.abilities.add_participants).toEqual(["member", "staff", "admin"]);
    expect(config.abilities.remove_participants).toEqual([]);
    expect(configError(() => buildConfig({ abilities: { remove_participants: ["owner"] } })).message).toContain(
      "abilities.remove_participants.0",
    );
  });
});

/** The keys of a section: the object inside its default, refinements and optionality. */
function sectionKeys(schema: z.ZodTypeAny): string[] {
  if (schema instanceof z.ZodObject) return Object.keys(schema.shape as z.ZodRawShape);
  if (schema instanceof z.ZodDefault) return sectionKeys(schema.removeDefault());
  if (schema instanceof z.ZodEffects) return sectionKeys(schema.innerType());
  if (schema instanceof z.ZodOptional) return sectionKeys(schema.unwrap());
  throw new Error(`not a section: ${schema.constructor.name}`);
}

describe("config/postern.example.toml: no key missing (it lacked [smtp] banner)", () => {
  const text = readFileSync(new URL("../../config/postern.example.toml", import.meta.url), "utf8");
  /** Keys the example shows per section, set or commented out (`# key = ...`). */
  const shown = new Map<string, Set<string>>();
  let section = "";
  for (const line of text.split("\n")) {
    const header = /^\[([a-z_]+)(?:\.([a-z_]+))?\]/.exec(line);
    if (header) {
      // [abilities.inboxes] is the inboxes key of [abilities], written as a table of its own.
      if (header[2]) {
        shown.get(header[1]!)?.add(header[2]);
        section = `${header[1]}.${header[2]}`;
      } else {
        section = header[1]!;
      }
      if (!shown.has(section)) shown.set(section, new Set());
      continue;
    }
    const key = /^#?\s*([a-z_]+)\s*=/.exec(line);
    if (key && section) shown.get(section)!.add(key[1]!);
  }

  it("shows [smtp] banner with the listener's default, commented out", () => {
    expect(text).toMatch(/^# banner = "Postern conversation gateway"/m);
  });

  it("shows every key of every section the schema reads", () => {
    const sections = sectionKeys(configSchema);
    const missing = sections.flatMap((name) => {
      const shape = (configSchema.innerType() as z.AnyZodObject).shape as Record<string, z.ZodTypeAny>;
      return sectionKeys(shape[name]!).filter((key) => !shown.get(name)?.has(key)).map((key) => `${name}.${key}`);
    });
    expect(missing).toEqual([]);
  });
});

/** A temporary folder for the describe block that calls it: `file` writes one file into it. */
function tempFiles(prefix: string): { dir(): string; file(name: string, text: string): string } {
  let dir = "";
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), prefix));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return {
    dir: () => dir,
    file(name, text) {
      const path = join(dir, name);
      writeFileSync(path, text);
      return path;
    },
  };
}

describe("loadConfig", () => {
  const temp = tempFiles("postern-config-");
  const { file } = temp;

  it("reads a TOML file and records where the configuration came from", () => {
    const path = file(
      "ok.toml",
      [
        "[gateway]",
        'domain = "example.test"',
        'name = "Acme"',
        "[smtp]",
        "port = 2626",
        'max_message_size = "1MB"',
        "[database]",
        'path = "/var/lib/postern/postern.db"',
        "[outbound]",
        'transport = "smtp"',
        'host = "relay.example.test"',
        'retry_schedule = ["10s", "5m"]',
      ].join("\n"),
    );
    const config = loadConfig(path, {});
    expect(config.source).toBe(path);
    expect(config.domains).toEqual(["example.test"]);
    expect(config.gateway.name).toBe("Acme");
    expect(config.smtp.port).toBe(2626);
    expect(config.smtp.max_message_size).toBe(1024 * 1024);
    expect(config.database.path).toBe("/var/lib/postern/postern.db");
    expect(config.outbound.transport).toBe("smtp");
    expect(config.outbound.host).toBe("relay.example.test");
    expect(config.outbound.retry_schedule).toEqual([10_000, 300_000]);
    expect(Object.isFrozen(config.outbound)).toBe(true);
  });

  it("names the file and the key of an unknown key", () => {
    const path = file("typo.toml", "[smtp]\nprot = 25\n");
    const error = configError(() => loadConfig(path, {}));
    expect(error.message).toContain(path);
    expect(error.message).toContain("smtp.prot");
  });

  it("names the key of a value of the wrong type", () => {
    const path = file("type.toml", '[smtp]\nport = "twenty-five"\n');
    expect(configError(() => loadConfig(path, {})).message).toContain("smtp.port");
  });

  it("names the key of a bad size", () => {
    const path = file("size.toml", '[smtp]\nmax_message_size = "25 parsecs"\n');
    expect(configError(() => loadConfig(path, {})).message).toContain("smtp.max_message_size");
  });

  it("names smtp.tls_cert when a file sets tls_key alone", () => {
    const path = file("tls.toml", '[smtp]\ntls_key = "/etc/postern/key.pem"\n');
    const error = configError(() => loadConfig(path, {}));
    expect(error.message).toBe(`${path}: smtp.tls_cert: tls_key is set but tls_cert is not; set both or neither`);
  });

  it("says a missing file cannot be read", () => {
    const path = join(temp.dir(), "missing.toml");
    const error = configError(() => loadConfig(path, {}));
    expect(error.message).toContain(path);
    expect(error.message).toContain("cannot read");
    expect(error.message).toContain("ENOENT");
  });

  it("says a directory cannot be read as a configuration file", () => {
    const path = join(temp.dir(), "a-directory.toml");
    mkdirSync(path);
    expect(configError(() => loadConfig(path, {})).message).toContain("cannot read");
  });

  it.skipIf(process.getuid?.() === 0)("says a file without read permission cannot be read", () => {
    const path = file("secret.toml", '[gateway]\ndomain = "example.test"\n');
    chmodSync(path, 0o000);
    expect(configError(() => loadConfig(path, {})).message).toContain("EACCES");
  });

  it("reports invalid TOML on one line", () => {
    const path = file("broken.toml", '[gateway\ndomain = "example.test"\n');
    const error = configError(() => loadConfig(path, {}));
    expect(error.message).toContain(path);
    expect(error.message).toContain("not valid TOML");
    expect(error.message).not.toContain("\n");
  });

  it("reads POSTERN_CONFIG when no path is given", () => {
    const path = file("env.toml", '[gateway]\ndomain = "env.test"\n');
    const config = loadConfig(undefined, { POSTERN_CONFIG: path });
    expect(config.source).toBe(path);
    expect(config.domains).toEqual(["env.test"]);
  });

  it("prefers an explicit path to POSTERN_CONFIG", () => {
    const fromEnv = file("env2.toml", '[gateway]\ndomain = "env.test"\n');
    const explicit = file("explicit.toml", '[gateway]\ndomain = "explicit.test"\n');
    expect(loadConfig(explicit, { POSTERN_CONFIG: fromEnv }).domains).toEqual(["explicit.test"]);
  });

  it("reports a POSTERN_CONFIG that points nowhere rather than falling back to defaults", () => {
    expect(configError(() => loadConfig(undefined, { POSTERN_CONFIG: join(temp.dir(), "nowhere.toml") })).message).toContain("nowhere.toml");
  });

  it("uses the built-in defaults when there is no path, no POSTERN_CONFIG and no config/postern.toml", () => {
    const cwd = process.cwd();
    const empty = mkdtempSync(join(temp.dir(), "cwd-"));
    process.chdir(empty);
    try {
      const config = loadConfig(undefined, {});
      expect(config.source).toBe("built-in defaults");
      expect(config.domains).toEqual(["postern.localhost"]);
    } finally {
      process.chdir(cwd);
    }
  });

  it("reads config/postern.toml from the working directory when present", () => {
    const cwd = process.cwd();
    const root = mkdtempSync(join(temp.dir(), "cwd-"));
    mkdirSync(join(root, "config"));
    writeFileSync(join(root, "config", "postern.toml"), '[gateway]\ndomain = "local.test"\n');
    process.chdir(root);
    try {
      const config = loadConfig(undefined, {});
      expect(config.source).toBe("config/postern.toml");
      expect(config.domains).toEqual(["local.test"]);
    } finally {
      process.chdir(cwd);
    }
  });
});

// ---- [database] engine = "postgres": its url, POSTERN_DATABASE_URL, and never printing the password ----
// Imports for this section live here, so it could be appended without touching the top of the file
// (ES module imports are hoisted wherever they are written). None of it needs PostgreSQL.
import { maskedUrl } from "../../src/config/config.js";
import { CLI_TIMEOUT_MS, runPostern } from "../helpers/cli.js";

describe("[database] engine = \"postgres\"", () => {
  const URL_IN_FILE = "postgres://postern:file-pw-1@db.example.test:5432/postern";
  const URL_IN_ENV = "postgres://node:env-pw-2@db2.example.test:6543/postern_prod";
  const { file } = tempFiles("postern-config-pg-");

  it("is refused without a url, naming database.url", () => {
    const error = configError(() => buildConfig({ database: { engine: "postgres" } }, "test"));
    expect(error.message).toContain("database.url");
    expect(error.message).toContain("POSTERN_DATABASE_URL");
    const path = file("no-url.toml", '[database]\nengine = "postgres"\n');
    const fromFile = configError(() => loadConfig(path, {}));
    expect(fromFile.message).toContain(path);
    expect(fromFile.message).toContain("database.url");
  });

  it("refuses a url that is not postgres://, naming database.url", () => {
    for (const url of ["mysql://postern@db.example.test/postern", "db.example.test:5432", "/var/lib/postern/postern.db", ""]) {
      const error = configError(() => buildConfig({ database: { engine: "postgres", url } }, "test"));
      expect(error.message, url).toContain("database.url");
    }
    const path = file("bad-url.toml", '[database]\nengine = "postgres"\nurl = "http://db.example.test/postern"\n');
    expect(configError(() => loadConfig(path, {})).message).toContain("database.url");
  });

  it("takes postgres:// and postgresql:// urls, with a pool_size of 10 unless set", () => {
    const config = buildConfig({ database: { engine: "postgres", url: URL_IN_FILE } }, "test");
    expect(config.database).toMatchObject({ engine: "postgres", url: URL_IN_FILE, pool_size: 10 });
    expect(buildConfig({ database: { engine: "postgres", url: "postgresql://postern@localhost/postern", pool_size: 3 } }).database.pool_size).toBe(3);
  });

  it("POSTERN_DATABASE_URL overrides the file's url", () => {
    const path = file("with-url.toml", `[database]\nengine = "postgres"\nurl = ${JSON.stringify(URL_IN_FILE)}\npool_size = 4\n`);
    expect(loadConfig(path, {}).database.url).toBe(URL_IN_FILE);
    const config = loadConfig(path, { POSTERN_DATABASE_URL: URL_IN_ENV });
    expect(config.database).toMatchObject({ engine: "postgres", url: URL_IN_ENV, pool_size: 4 });
  });

  it("POSTERN_DATABASE_URL supplies the url when the file has none, or no [database] section at all", () => {
    const noUrl = file("env-url.toml", '[database]\nengine = "postgres"\n');
    expect(loadConfig(noUrl, { POSTERN_DATABASE_URL: URL_IN_ENV }).database).toMatchObject({ engine: "postgres", url: URL_IN_ENV });
    const noSection = file("env-url-no-section.toml", '[gateway]\ndomain = "example.test"\n');
    expect(loadConfig(noSection, { POSTERN_DATABASE_URL: URL_IN_ENV }).database.url).toBe(URL_IN_ENV);
    // Still validated: an env url that is not postgres:// is refused like a file's.
    expect(configError(() => loadConfig(noUrl, { POSTERN_DATABASE_URL: "mysql://x@y/z" })).message).toContain("database.url");
  });

  it("a url without an engine means PostgreSQL, whether it comes from the file or from POSTERN_DATABASE_URL", () => {
    expect(buildConfig({ database: { url: URL_IN_FILE } }, "test").database).toMatchObject({ engine: "postgres", url: URL_IN_FILE });
    const noEngine = file("no-engine.toml", '[gateway]\ndomain = "example.test"\n');
    expect(loadConfig(noEngine, { POSTERN_DATABASE_URL: URL_IN_ENV }).database).toMatchObject({ engine: "postgres", url: URL_IN_ENV });
    // Without any url the default stays the embedded SQLite file.
    expect(loadConfig(noEngine, {}).database).toMatchObject({ engine: "sqlite", path: "data/postern.db" });
  });

  it('refuses engine = "sqlite" together with a url, naming database.engine, rather than ignoring the url', () => {
    const error = configError(() => buildConfig({ database: { engine: "sqlite", url: URL_IN_FILE } }, "test"));
    expect(error.message).toContain("database.engine");
    expect(error.message).toContain('engine = "postgres"');
    expect(error.message).not.toContain("file-pw-1");
    const sqliteFile = file("sqlite-engine.toml", '[database]\nengine = "sqlite"\n');
    const fromEnv = configError(() => loadConfig(sqliteFile, { POSTERN_DATABASE_URL: URL_IN_ENV }));
    expect(fromEnv.message).toContain(sqliteFile);
    expect(fromEnv.message).toContain("POSTERN_DATABASE_URL");
    expect(fromEnv.message).not.toContain("env-pw-2");
  });

  it("maskedUrl hides the password and keeps everything else", () => {
    expect(maskedUrl(URL_IN_FILE)).toBe("postgres://postern:****@db.example.test:5432/postern");
    expect(maskedUrl(URL_IN_ENV)).not.toContain("env-pw-2");
    expect(maskedUrl("postgres://postern@127.0.0.1:5432/postern")).toBe("postgres://postern@127.0.0.1:5432/postern");
    expect(maskedUrl("postgres://postern:p%40ss%3Aword@db.example.test/postern?sslmode=require")).toBe("postgres://postern:****@db.example.test/postern?sslmode=require");
    expect(maskedUrl("not a url")).not.toContain("not a url");
  });

  it("postern config check prints the url with its password masked, from the file or from POSTERN_DATABASE_URL", { timeout: 2 * CLI_TIMEOUT_MS }, async () => {
    const path = file("check.toml", `[gateway]\ndomain = "example.test"\n[database]\nengine = "postgres"\nurl = ${JSON.stringify(URL_IN_FILE)}\n`);
    const [fromFile, fromEnv] = await Promise.all([
      // An empty POSTERN_DATABASE_URL counts as unset, whatever the test's own environment holds.
      runPostern(["--config", path, "config", "check"], { POSTERN_DATABASE_URL: "" }),
      runPostern(["--config", path, "config", "check"], { POSTERN_DATABASE_URL: URL_IN_ENV }),
    ]);
    expect(fromFile.code, fromFile.stderr).toBe(0);
    expect(fromFile.stdout).not.toContain("file-pw-1");
    expect(JSON.parse(fromFile.stdout).database).toMatchObject({ engine: "postgres", url: "postgres://postern:****@db.example.test:5432/postern" });
    expect(fromEnv.code, fromEnv.stderr).toBe(0);
    expect(fromEnv.stdout).not.toContain("env-pw-2");
    expect(fromEnv.stdout).not.toContain("file-pw-1");
    expect(JSON.parse(fromEnv.stdout).database).toMatchObject({ engine: "postgres", url: "postgres://node:****@db2.example.test:6543/postern_prod" });
  });
});

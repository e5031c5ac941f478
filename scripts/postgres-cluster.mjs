#!/usr/bin/env node
/**
 * A throwaway PostgreSQL cluster for tests, the benchmark and developers: a fresh `initdb` in a
 * temporary folder, started on a free port on 127.0.0.1, removed again by stop(). It never uses
 * a server the machine already had, so a test run does not depend on anything but the server
 * binaries (Debian's `postgresql` package).
 *
 * As a module (no dependencies but node: builtins, so vitest.config.ts, the test globalSetup and
 * scripts can all load it):
 *
 *   const cluster = await startCluster();      // throws PostgresUnavailableError without binaries
 *   cluster.url                                 // postgres://postern@127.0.0.1:PORT/postgres
 *   await cluster.stop();                       // idempotent
 *
 * As a command:
 *
 *   node scripts/postgres-cluster.mjs start     # prints the URL and leaves the cluster running
 *   node scripts/postgres-cluster.mjs stop      # stops the cluster `start` left running
 *   node scripts/postgres-cluster.mjs url       # prints its URL (exit 1 when none is running)
 *   node scripts/postgres-cluster.mjs run       # start, print the URL, stop on Ctrl-C / SIGTERM
 *   node scripts/postgres-cluster.mjs bindir    # where the server binaries are (exit 1 if none)
 *
 * Where no binaries are found, and we are root and CI is set or POSTERN_INSTALL_POSTGRES=1, Debian's
 * `postgresql` package is installed first; otherwise PostgreSQL is "not available" and callers
 * skip what needs it (a developer without PostgreSQL still runs the SQLite suite).
 */
import { execFile, execFileSync } from "node:child_process";
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const TEMP_PREFIX = "postern-pg-";
/** The role initdb creates as superuser; the URL logs in as it (trust authentication). */
export const SUPERUSER = "postern";
/** Where the command line `start` records the cluster it left running, for `stop` and `url`. */
const STATE_FILE = join(dirname(fileURLToPath(import.meta.url)), "..", ".tmp", "postgres-cluster.json");

export class PostgresUnavailableError extends Error {
  constructor(message) {
    super(message);
    this.name = "PostgresUnavailableError";
  }
}

const isRoot = () => typeof process.getuid === "function" && process.getuid() === 0;

/** Installing a system package is only done where that is expected: as root in CI, or when asked. */
export function mayInstall(env = process.env) {
  return isRoot() && (Boolean(env.CI) || env.POSTERN_INSTALL_POSTGRES === "1");
}

const hasServer = (dir) => existsSync(join(dir, "initdb")) && existsSync(join(dir, "pg_ctl")) && existsSync(join(dir, "postgres"));

/**
 * The folder holding initdb, pg_ctl and postgres, or undefined. Synchronous and cheap, so
 * vitest.config.ts can decide whether the postgres project runs at all.
 * POSTERN_POSTGRES_BINDIR overrides the search.
 */
export function findPostgresBinDir(env = process.env) {
  if (env.POSTERN_POSTGRES_BINDIR) return hasServer(env.POSTERN_POSTGRES_BINDIR) ? env.POSTERN_POSTGRES_BINDIR : undefined;
  // Debian/Ubuntu install every major version side by side; the newest one wins.
  const root = "/usr/lib/postgresql";
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => /^\d+(\.\d+)?$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    for (const v of versions) {
      const dir = join(root, v, "bin");
      if (hasServer(dir)) return dir;
    }
  }
  // Elsewhere (Homebrew, source builds, other distributions) pg_config knows. Debian's libpq-dev
  // ships pg_config without the server, hence the check that the binaries are really there.
  try {
    const dir = execFileSync("pg_config", ["--bindir"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    if (dir && hasServer(dir)) return dir;
  } catch {
    // no pg_config on the PATH
  }
  return undefined;
}

function run(file, args, options = {}) {
  return new Promise((resolvePromise, reject) => {
    execFile(file, args, { encoding: "utf8", maxBuffer: 16 * 1024 * 1024, ...options }, (error, stdout, stderr) => {
      if (error) {
        error.message = `${file} ${args.join(" ")} failed: ${error.message}\n${stdout}${stderr}`.trim();
        reject(error);
      } else resolvePromise({ stdout, stderr });
    });
  });
}

/**
 * Installs Debian's `postgresql` package. Without create_main_cluster = false the package would
 * also initdb and start a "main" cluster on port 5432 that nothing here uses.
 */
export async function installPostgres(log = (line) => console.error(line)) {
  log("postgres-cluster: no PostgreSQL server binaries found; installing Debian's postgresql package (apt-get)");
  mkdirSync("/etc/postgresql-common/createcluster.d", { recursive: true });
  writeFileSync("/etc/postgresql-common/createcluster.d/postern-no-main-cluster.conf", "create_main_cluster = false\n");
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  await run("apt-get", ["update", "-qq"], { env });
  await run("apt-get", ["install", "-y", "-qq", "--no-install-recommends", "postgresql"], { env });
}

/** The server binaries, installing them where that is allowed; throws PostgresUnavailableError. */
export async function ensurePostgresBinDir({ log } = {}) {
  let dir = findPostgresBinDir();
  if (dir) return dir;
  if (!mayInstall()) {
    throw new PostgresUnavailableError(
      "no PostgreSQL server binaries (initdb, pg_ctl) found in /usr/lib/postgresql/*/bin or pg_config --bindir; " +
        "install Debian's postgresql package, or run as root with POSTERN_INSTALL_POSTGRES=1",
    );
  }
  try {
    await installPostgres(log);
  } catch (error) {
    throw new PostgresUnavailableError(`installing PostgreSQL failed: ${error.message}`);
  }
  dir = findPostgresBinDir();
  if (!dir) throw new PostgresUnavailableError("the postgresql package installed no server binaries where expected");
  return dir;
}

/** A port nobody listens on right now: bind port 0 on 127.0.0.1, read what the kernel chose, close. */
export function freePort() {
  return new Promise((resolvePromise, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolvePromise(port));
    });
  });
}

function postgresUser() {
  try {
    const id = (flag) => Number(execFileSync("id", [flag, "postgres"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim());
    return { uid: id("-u"), gid: id("-g") };
  } catch {
    return undefined;
  }
}

/**
 * How to run initdb and pg_ctl. initdb (and postgres itself) refuse to run as root, so as root
 * they run as the `postgres` user that Debian's package creates, through runuser (no password,
 * no PAM prompt) or else su; as anyone else, as the current user.
 */
function commandRunner() {
  if (!isRoot()) return { owner: undefined, run: (file, args, options) => run(file, args, options), runSync: (file, args) => execFileSync(file, args, { stdio: "ignore" }) };
  const owner = postgresUser();
  if (!owner) throw new PostgresUnavailableError("running as root, but there is no `postgres` user to run the server as (initdb refuses root)");
  const hasRunuser = ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"].find((p) => existsSync(p));
  const wrap = (file, args) =>
    hasRunuser ? [hasRunuser, ["-u", "postgres", "--", file, ...args]] : ["su", ["postgres", "-s", "/bin/sh", "-c", [file, ...args].map(shellQuote).join(" ")]];
  return {
    owner,
    run: (file, args, options) => run(...wrap(file, args), options),
    runSync: (file, args) => {
      const [f, a] = wrap(file, args);
      execFileSync(f, a, { stdio: "ignore" });
    },
  };
}

const shellQuote = (s) => `'${String(s).replaceAll("'", `'\\''`)}'`;

/**
 * Folders of earlier clusters whose process died without stop() (a killed test run): removed when
 * older than an hour and no server runs in them. A live server is never touched.
 */
function removeStaleClusters() {
  const base = tmpdir();
  let entries;
  try {
    entries = readdirSync(base).filter((name) => name.startsWith(TEMP_PREFIX));
  } catch {
    return;
  }
  for (const name of entries) {
    const dir = join(base, name);
    try {
      if (Date.now() - statSync(dir).mtimeMs < 60 * 60 * 1000) continue;
      if (serverRunsIn(join(dir, "data"))) continue;
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // another user's folder, or gone meanwhile
    }
  }
}

/** Whether a server is running in this data folder, by the pid in its postmaster.pid. */
function serverRunsIn(dataDir) {
  try {
    const pid = Number(readFileSync(join(dataDir, "postmaster.pid"), "utf8").split("\n")[0]);
    return pid > 0 && isAlive(pid);
  } catch {
    return false;
  }
}

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === "EPERM";
  }
}

/**
 * Starts a fresh cluster. Options: `port` (default: a free one), `log` (progress lines; default
 * silent), `binDir` (default: found or installed as described above).
 * Resolves to { url, host, port, socketDir, dataDir, binDir, stop(), stopSync() }.
 */
export async function startCluster({ port, log = () => {}, binDir } = {}) {
  const started = Date.now();
  const bin = binDir ?? (await ensurePostgresBinDir({ log }));
  const runner = commandRunner();
  removeStaleClusters();

  const baseDir = mkdtempSync(join(tmpdir(), TEMP_PREFIX));
  const dataDir = join(baseDir, "data");
  const socketDir = baseDir;
  const logFile = join(baseDir, "server.log");
  if (runner.owner) chownSync(baseDir, runner.owner.uid, runner.owner.gid);

  let running = false;
  let stopped = false;
  const stopSync = () => {
    if (stopped) return;
    stopped = true;
    if (running) {
      try {
        runner.runSync(join(bin, "pg_ctl"), ["stop", "-D", dataDir, "-m", "immediate", "-s"]);
      } catch {
        // already gone
      }
    }
    rmSync(baseDir, { recursive: true, force: true });
  };
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (running) {
      try {
        // immediate: the data is thrown away, so there is nothing worth a clean shutdown.
        await runner.run(join(bin, "pg_ctl"), ["stop", "-D", dataDir, "-m", "immediate", "-s", "-w"]);
      } catch {
        // already gone
      }
    }
    rmSync(baseDir, { recursive: true, force: true });
  };

  try {
    // -A trust: only 127.0.0.1 and a private socket folder reach this server, and it lives for one run.
    // --no-sync: nothing needs to survive a crash of a throwaway cluster.
    // --locale=C: the same on every machine (no dependence on generated locales), and it compares
    // text bytewise, as SQLite does.
    await runner.run(join(bin, "initdb"), ["-D", dataDir, "-A", "trust", "-U", SUPERUSER, "--no-sync", "-E", "UTF8", "--locale=C"], {
      cwd: baseDir,
    });
    log(`postgres-cluster: initdb done in ${Date.now() - started} ms`);

    // A free port can be taken by someone else between freePort() and the server's bind: retry.
    let lastError;
    for (let attempt = 0; attempt < (port ? 1 : 5); attempt++) {
      const p = port ?? (await freePort());
      const serverOptions = [
        `-p ${p}`,
        `-k ${socketDir}`,
        "-c listen_addresses=127.0.0.1",
        // fsync, synchronous_commit and full_page_writes off only because the cluster is thrown
        // away: they trade crash safety, which it does not need, for speed.
        "-c fsync=off",
        "-c synchronous_commit=off",
        "-c full_page_writes=off",
        "-c max_connections=200",
      ].join(" ");
      try {
        // -l: the server's output goes to a file; inherited pipes would keep execFile waiting forever.
        await runner.run(join(bin, "pg_ctl"), ["start", "-D", dataDir, "-w", "-t", "60", "-s", "-l", logFile, "-o", serverOptions], { cwd: baseDir });
        running = true;
        const url = `postgres://${SUPERUSER}@127.0.0.1:${p}/postgres`;
        log(`postgres-cluster: started ${url} in ${Date.now() - started} ms`);
        return { url, host: "127.0.0.1", port: p, socketDir, dataDir, binDir: bin, stop, stopSync };
      } catch (error) {
        const serverLog = existsSync(logFile) ? readFileSync(logFile, "utf8") : "";
        lastError = new Error(`${error.message}\n${serverLog}`.trim());
        if (!/could not bind|already in use/i.test(serverLog)) break;
      }
    }
    throw lastError;
  } catch (error) {
    stopSync();
    throw error;
  }
}

/**
 * Stops the cluster when this process ends: on a normal exit and on SIGINT, SIGTERM and SIGHUP.
 * pg_ctl starts the server in a session of its own, so a Ctrl-C does not reach it: without this
 * an interrupted run would leave it running. After a signal, when nobody else (vitest, say)
 * listens for it, the signal is raised again so the process still ends the way it would have.
 * Returns a function that removes the hooks.
 */
export function stopOnExit(cluster) {
  const onExit = () => cluster.stopSync();
  const onSignal = (signal) => {
    cluster.stopSync();
    remove();
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  };
  const remove = () => {
    process.off("exit", onExit);
    for (const s of ["SIGINT", "SIGTERM", "SIGHUP"]) process.off(s, onSignal);
  };
  process.on("exit", onExit);
  for (const s of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(s, onSignal);
  return remove;
}

// ---------------------------------------------------------------------------------------------
// Command line

function readState() {
  try {
    return JSON.parse(readFileSync(STATE_FILE, "utf8"));
  } catch {
    return undefined;
  }
}

async function main(command) {
  const log = (line) => console.error(line);
  switch (command) {
    case "start": {
      const previous = readState();
      if (previous && serverRunsIn(previous.dataDir)) {
        console.log(previous.url);
        log(`postgres-cluster: already running (${previous.dataDir}); \`stop\` ends it`);
        return;
      }
      if (previous) rmSync(dirname(previous.dataDir), { recursive: true, force: true }); // died meanwhile
      const cluster = await startCluster({ log });
      // Until the state is written, an interrupted start leaves nothing behind.
      const unhook = stopOnExit(cluster);
      mkdirSync(dirname(STATE_FILE), { recursive: true });
      const { url, host, port, socketDir, dataDir, binDir } = cluster;
      writeFileSync(STATE_FILE, JSON.stringify({ url, host, port, socketDir, dataDir, binDir }, null, 2) + "\n");
      unhook();
      console.log(url);
      return;
    }
    case "run": {
      const cluster = await startCluster({ log });
      stopOnExit(cluster);
      console.log(cluster.url);
      log("postgres-cluster: running; Ctrl-C stops it and removes its data");
      setInterval(() => {}, 1 << 30);
      return;
    }
    case "stop": {
      const state = readState();
      if (!state) {
        log("postgres-cluster: no cluster recorded as running");
        return;
      }
      const ownerRunner = commandRunner();
      if (existsSync(join(state.dataDir, "postmaster.pid"))) {
        try {
          await ownerRunner.run(join(state.binDir, "pg_ctl"), ["stop", "-D", state.dataDir, "-m", "immediate", "-s", "-w"]);
        } catch (error) {
          log(`postgres-cluster: pg_ctl stop: ${error.message.split("\n")[0]}`);
        }
      }
      rmSync(dirname(state.dataDir), { recursive: true, force: true });
      rmSync(STATE_FILE, { force: true });
      log(`postgres-cluster: stopped ${state.url}`);
      return;
    }
    case "url": {
      const state = readState();
      if (!state || !serverRunsIn(state.dataDir)) {
        log("postgres-cluster: no cluster running");
        process.exitCode = 1;
        return;
      }
      console.log(state.url);
      return;
    }
    case "bindir": {
      const dir = findPostgresBinDir();
      if (dir) console.log(dir);
      else process.exitCode = 1;
      return;
    }
    default:
      log("usage: node scripts/postgres-cluster.mjs start|stop|url|run|bindir");
      process.exitCode = 2;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv[2]).catch((error) => {
    console.error(`postgres-cluster: ${error.message}`);
    process.exitCode = error instanceof PostgresUnavailableError ? 3 : 1;
  });
}

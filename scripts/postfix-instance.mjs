#!/usr/bin/env node
/**
 * A private Postfix instance for tests and for trying docs/deploy-postfix.md by hand: Debian's
 * postfix binaries run with their own main.cf and master.cf in a temporary folder
 * (`postfix -c DIR`), listening on 127.0.0.1 only, on two free high ports:
 *
 * - the MX port: the domain's front door, with Postern behind it as the before-queue content
 *   filter (smtpd_proxy_filter), exactly the recipe of docs/deploy-postfix.md;
 * - the relay port: Postern's smarthost; mail for the mailbox domain is delivered by Postfix's
 *   virtual(8) agent into one mbox file per user under DIR/mailboxes.
 *
 * It never reads or writes /etc/postfix (only the package's read-only postfix-files list there)
 * and never listens on port 25 or on any address but 127.0.0.1. Mail to any other domain stays in
 * the instance's own queue (retry transport): nothing leaves the machine.
 *
 * As a module (node: builtins only):
 *
 *   const postfix = await startPostfix({ posternPort, posternDomains: ["example.test"],
 *                                        mailboxDomain: "team.test", mailboxes: ["alice"] });
 *   postfix.mxPort, postfix.relayPort, postfix.mailbox("alice@team.test"), postfix.queuedFiles()
 *   await postfix.stop();                      // idempotent; removes the folder
 *
 * As a command (root only: Postfix's master runs as root and drops to the postfix user):
 *
 *   node scripts/postfix-instance.mjs run --postern-port 2525 --domain postern.localhost \
 *        --mailbox-domain team.test --mailbox alice --mailbox bob
 *
 * prints the ports and the folder, and stops and removes the instance on Ctrl-C / SIGTERM.
 */
import { execFile, execFileSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const POSTFIX = "/usr/sbin/postfix";
export const POSTQUEUE = "/usr/sbin/postqueue";
const POSTCONF = "/usr/sbin/postconf";
const TEMP_PREFIX = "postern-postfix-";
/** The MX port's limit; docs/deploy-postfix.md explains why the recipe keeps it below Postern's smtp.max_message_size. */
export const DEFAULT_MESSAGE_SIZE_LIMIT = 25_000_000;
/**
 * Everywhere else (the relay port, cleanup, queue): Postern's copy of the largest message it
 * accepts is larger than that message (a text and an HTML part, re-encoded), so the relay takes more.
 */
export const RELAY_MESSAGE_SIZE_LIMIT = 80_000_000;
/** smtpd processes on the MX port, hence proxy connections to Postern at most (master.cf maxproc). */
export const MX_PROCESS_LIMIT = 20;

const isRoot = () => typeof process.getuid === "function" && process.getuid() === 0;

/** Why a private instance cannot run here, or undefined when it can. */
export function postfixUnavailableReason() {
  if (!existsSync(POSTFIX)) return `${POSTFIX} is missing (install Debian's postfix package)`;
  if (!isRoot()) return "Postfix's master must start as root (it drops to the postfix user); run as root";
  if (!userIds("postfix")) return "there is no `postfix` user (the postfix package creates it)";
  if (!groupExists("postdrop")) return "there is no `postdrop` group (the postfix package creates it)";
  return undefined;
}

export function postfixVersion() {
  return execFileSync(POSTCONF, ["-d", "-h", "mail_version"], { encoding: "utf8" }).trim();
}

function userIds(name) {
  try {
    const id = (flag) => Number(execFileSync("id", [flag, name], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim());
    return { uid: id("-u"), gid: id("-g") };
  } catch {
    return undefined;
  }
}

function groupExists(name) {
  try {
    execFileSync("getent", ["group", name], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

function run(file, args) {
  return new Promise((resolve, reject) => {
    execFile(file, args, { encoding: "utf8" }, (error, stdout, stderr) => {
      if (error) {
        error.message = `${file} ${args.join(" ")} failed: ${error.message}\n${stdout}${stderr}`.trim();
        reject(error);
      } else resolve(stdout);
    });
  });
}

/** A port nobody listens on right now on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** main.cf of the instance: the recipe of docs/deploy-postfix.md plus what a throwaway instance needs. */
function mainCf({ dir, posternDomains, mailboxDomain, messageSizeLimit, mailboxOwner }) {
  return `# Private Postfix instance written by scripts/postfix-instance.mjs; removed on stop.
compatibility_level = 3.6
queue_directory = ${dir}/queue
data_directory = ${dir}/data
mail_owner = postfix
setgid_group = postdrop
maillog_file_prefixes = ${dir}
maillog_file = ${dir}/maillog
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mx.${posternDomains[0]}
mydomain = ${posternDomains[0]}
# Postfix's own notices (postmaster, double bounces) land in a mailbox file, where a test sees them.
myorigin = ${mailboxDomain}
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
mynetworks = 127.0.0.0/8
biff = no
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
smtp_host_lookup = native
smtputf8_enable = yes

# --- the recipe (docs/deploy-postfix.md) ---
relay_domains = ${posternDomains.join(", ")}
# Only mail Postfix itself creates for Postern's domains reaches this: DSNs about Postern's
# outbound copies, sent to bounce+TOKEN@. Everything from outside passes the proxy filter.
transport_maps = texthash:${dir}/etc/transport
message_size_limit = ${RELAY_MESSAGE_SIZE_LIMIT}
mailbox_size_limit = 0
virtual_mailbox_limit = 0
smtpd_proxy_timeout = 100s

# --- the mailbox domain standing in for the participants' own mail servers ---
virtual_mailbox_domains = ${mailboxDomain}
virtual_mailbox_base = ${dir}/mailboxes
virtual_mailbox_maps = texthash:${dir}/etc/mailboxes.map
virtual_uid_maps = static:${mailboxOwner.uid}
virtual_gid_maps = static:${mailboxOwner.gid}
# Anything else would go out to the Internet: it waits in this instance's queue instead.
default_transport = retry:4.4.1 this private test instance delivers nothing beyond 127.0.0.1
`;
}

function masterCf({ mxPort, relayPort, plainMxPort, posternHost, posternPort, messageSizeLimit }) {
  // Nothing chrooted: the instance lives in a temporary folder, not in /var/spool/postfix.
  return `# Private Postfix instance written by scripts/postfix-instance.mjs; removed on stop.
# The domain's MX: every transaction is handed to Postern while the client waits.
127.0.0.1:${mxPort} inet n - n - ${MX_PROCESS_LIMIT} smtpd
  -o syslog_name=postfix/mx
  -o smtpd_proxy_filter=${posternHost}:${posternPort}
  -o smtpd_relay_restrictions=reject_unauth_destination
  -o message_size_limit=${messageSizeLimit}
# Postern's smarthost: relays for 127.0.0.1 only. Like a relay for distant domains it accepts
# every recipient and reports failures later, by DSN to the copy's bounce+TOKEN@ address.
127.0.0.1:${relayPort} inet n - n - - smtpd
  -o syslog_name=postfix/relay
  -o smtpd_relay_restrictions=permit_mynetworks,reject
  -o smtpd_reject_unlisted_recipient=no
${plainMxPort ? `# NOT the recipe: an ordinary relay_domains front end, which queues first and bounces Postern's
# refusals afterwards (backscatter). Only there to show the difference.
127.0.0.1:${plainMxPort} inet n - n - - smtpd
  -o syslog_name=postfix/plain-mx
  -o smtpd_relay_restrictions=reject_unauth_destination
  -o message_size_limit=${messageSizeLimit}
` : ""}cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
proxywrite unix - - n - 1 proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
virtual   unix  - n n - - virtual
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
`;
}

/**
 * Starts a private instance. Options:
 * - posternPort (required), posternHost (default 127.0.0.1): where Postern listens;
 * - posternDomains: the domains Postern serves (default ["example.test"]);
 * - mailboxDomain, mailboxes: the domain this Postfix delivers locally and its users' local parts;
 * - messageSizeLimit: Postfix's message_size_limit (default DEFAULT_MESSAGE_SIZE_LIMIT);
 * - mxPort, relayPort: fixed ports instead of free ones (Postern's [outbound] port must be known
 *   before Postern starts, and Postern's port before Postfix does: one of the two is chosen first);
 * - unreachableDomain: a domain whose mail Postfix accepts from Postern and then bounces
 *   (error transport, 5.1.1), as a participant's server that refuses after queueing would: the
 *   DSN goes to the copy's bounce+TOKEN@ address, through transport_maps, to Postern;
 * - plainMxPort: true adds a third listener, an ordinary relay_domains front end WITHOUT the
 *   proxy filter, the setup the recipe replaces; its port is `plainMxPort` on the instance.
 */
export async function startPostfix(options) {
  const reason = postfixUnavailableReason();
  if (reason) throw new Error(`Postfix is not available: ${reason}`);
  const {
    posternPort,
    posternHost = "127.0.0.1",
    posternDomains = ["example.test"],
    mailboxDomain = "team.test",
    mailboxes = [],
    messageSizeLimit = DEFAULT_MESSAGE_SIZE_LIMIT,
    mxPort: fixedMxPort,
    relayPort: fixedRelayPort,
    plainMxPort: withPlainMx = false,
    unreachableDomain,
  } = options;
  if (!posternPort) throw new Error("startPostfix: posternPort is required");
  removeStaleInstances();

  const dir = mkdtempSync(join(tmpdir(), TEMP_PREFIX));
  // The postfix user must reach queue/, data/ and mailboxes/ below it.
  chmodSync(dir, 0o755);
  const postfixUser = userIds("postfix");
  // virtual(8) writes mailboxes as an unprivileged user (it refuses root): here the postfix user.
  const mailboxOwner = postfixUser;
  // main.cf and master.cf in a folder of their own: `postfix check` wants everything in it owned by root.
  const configDir = join(dir, "etc");
  mkdirSync(configDir, { mode: 0o755 });
  mkdirSync(join(dir, "queue"), { mode: 0o755 });
  mkdirSync(join(dir, "data"), { mode: 0o700 });
  chownSync(join(dir, "data"), postfixUser.uid, postfixUser.gid);
  const mailboxBase = join(dir, "mailboxes");
  mkdirSync(join(mailboxBase, mailboxDomain), { recursive: true, mode: 0o755 });
  chownSync(mailboxBase, mailboxOwner.uid, mailboxOwner.gid);
  chownSync(join(mailboxBase, mailboxDomain), mailboxOwner.uid, mailboxOwner.gid);
  // postmaster always has a mailbox: Postfix's own notices would show up there.
  const users = [...new Set([...mailboxes, "postmaster"])];
  writeFileSync(join(configDir, "mailboxes.map"), users.map((u) => `${u}@${mailboxDomain} ${mailboxDomain}/${u}\n`).join(""));
  const routes = posternDomains.map((d) => `${d} smtp:[${posternHost}]:${posternPort}\n`);
  if (unreachableDomain) routes.push(`${unreachableDomain} error:5.1.1 mailbox unavailable (a test domain that always bounces)\n`);
  writeFileSync(join(configDir, "transport"), routes.join(""));

  let running = false;
  let stopped = false;
  const masterPid = () => {
    try {
      return Number(readFileSync(join(dir, "queue", "pid", "master.pid"), "utf8").trim()) || undefined;
    } catch {
      return undefined;
    }
  };
  const stopSync = () => {
    if (stopped) return;
    stopped = true;
    const pid = masterPid();
    if (running) {
      try {
        execFileSync(POSTFIX, ["-c", configDir, "stop"], { stdio: "ignore" });
      } catch {
        // already gone
      }
    }
    waitForExitSync(pid);
    rmSync(dir, { recursive: true, force: true });
  };
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    const pid = masterPid();
    if (running) {
      try {
        await run(POSTFIX, ["-c", configDir, "stop"]);
      } catch {
        // already gone
      }
    }
    await waitForExit(pid);
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    let lastError;
    const fixedPorts = Boolean(fixedMxPort || fixedRelayPort);
    for (let attempt = 0; attempt < (fixedPorts ? 1 : 5); attempt++) {
      const mxPort = fixedMxPort ?? (await freePort());
      const relayPort = fixedRelayPort ?? (await freePort());
      const plainMxPort = withPlainMx ? await freePort() : undefined;
      writeFileSync(join(configDir, "main.cf"), mainCf({ dir, posternDomains, mailboxDomain, messageSizeLimit, mailboxOwner }));
      writeFileSync(join(configDir, "master.cf"), masterCf({ mxPort, relayPort, plainMxPort, posternHost, posternPort, messageSizeLimit }));
      try {
        await run(POSTFIX, ["-c", configDir, "start"]);
        running = true;
        await waitForListeners([mxPort, relayPort, ...(plainMxPort ? [plainMxPort] : [])]);
        const instance = {
          dir,
          configDir,
          host: "127.0.0.1",
          mxPort,
          relayPort,
          plainMxPort,
          messageSizeLimit,
          mailboxDomain,
          mailbox: (address) => readMailbox(mailboxBase, address),
          mailboxes: () => listMailboxes(mailboxBase),
          queuedFiles: () => listQueuedFiles(join(dir, "queue")),
          postqueue: () => run(POSTQUEUE, ["-c", configDir, "-p"]),
          log: () => (existsSync(join(dir, "maillog")) ? readFileSync(join(dir, "maillog"), "utf8") : ""),
          stop,
          stopSync,
        };
        return instance;
      } catch (error) {
        lastError = error;
        if (running) {
          running = false;
          const pid = masterPid();
          try {
            await run(POSTFIX, ["-c", configDir, "stop"]);
          } catch {
            // not started
          }
          await waitForExit(pid);
        }
        const log = existsSync(join(dir, "maillog")) ? readFileSync(join(dir, "maillog"), "utf8") : "";
        if (!/address already in use/i.test(log)) break;
      }
    }
    throw lastError;
  } catch (error) {
    stopSync();
    throw error;
  }
}

/** The mbox file of one address at the mailbox domain, or "" when nothing was delivered to it. */
function readMailbox(base, address) {
  const [local, domain] = address.split("@");
  const file = join(base, domain ?? "", local ?? "");
  return existsSync(file) ? readFileSync(file, "utf8") : "";
}

/** Every non-empty mailbox file, as "user@domain". */
function listMailboxes(base) {
  const found = [];
  for (const domain of readdirSync(base)) {
    for (const user of readdirSync(join(base, domain))) {
      if (statSync(join(base, domain, user)).size > 0) found.push(`${user}@${domain}`);
    }
  }
  return found;
}

/** Queue files in every queue Postfix keeps mail in (incoming, active, deferred, hold, corrupt, maildrop). */
function listQueuedFiles(queueDir) {
  const found = [];
  const walk = (path) => {
    if (!existsSync(path)) return;
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      const full = join(path, entry.name);
      if (entry.isDirectory()) walk(full);
      else found.push(full);
    }
  };
  for (const queue of ["maildrop", "incoming", "active", "deferred", "hold", "corrupt"]) walk(join(queueDir, queue));
  return found;
}

async function waitForListeners(ports) {
  const deadline = Date.now() + 10_000;
  for (const port of ports) {
    for (;;) {
      const open = await new Promise((resolve) => {
        const socket = connect({ host: "127.0.0.1", port });
        socket.once("connect", () => (socket.destroy(), resolve(true)));
        socket.once("error", () => resolve(false));
      });
      if (open) break;
      if (Date.now() > deadline) throw new Error(`Postfix did not listen on 127.0.0.1:${port} within 10 s`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
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

/** `postfix stop` only signals the master: wait for it (and so its children) to be gone, at most 10 s. */
async function waitForExit(pid) {
  if (!pid) return;
  const deadline = Date.now() + 10_000;
  while (isAlive(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  if (isAlive(pid)) process.kill(pid, "SIGKILL");
}

function waitForExitSync(pid) {
  if (!pid) return;
  const deadline = Date.now() + 10_000;
  while (isAlive(pid) && Date.now() < deadline) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
  if (isAlive(pid)) process.kill(pid, "SIGKILL");
}

/** Folders of instances whose process died without stop(): removed when their master is gone. */
function removeStaleInstances() {
  const base = tmpdir();
  for (const name of readdirSync(base).filter((n) => n.startsWith(TEMP_PREFIX))) {
    const dir = join(base, name);
    try {
      if (Date.now() - statSync(dir).mtimeMs < 60 * 60 * 1000) continue;
      const pid = Number(readFileSync(join(dir, "queue", "pid", "master.pid"), "utf8").trim());
      if (pid && isAlive(pid)) continue;
    } catch {
      // no pid file: never started, or already stopped
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Stops the instance when this process ends (normal exit, SIGINT, SIGTERM, SIGHUP): Postfix's
 * master is a daemon of its own, so nothing else would. Returns a function that removes the hooks.
 */
export function stopOnExit(instance) {
  const onExit = () => instance.stopSync();
  const onSignal = (signal) => {
    instance.stopSync();
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

function parseArgs(argv) {
  const options = { posternDomains: [], mailboxes: [] };
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1];
    switch (argv[i]) {
      case "--postern-port": options.posternPort = Number(value); i++; break;
      case "--postern-host": options.posternHost = value; i++; break;
      case "--domain": options.posternDomains.push(value); i++; break;
      case "--mailbox-domain": options.mailboxDomain = value; i++; break;
      case "--mailbox": options.mailboxes.push(value); i++; break;
      case "--message-size-limit": options.messageSizeLimit = Number(value); i++; break;
      case "--mx-port": options.mxPort = Number(value); i++; break;
      case "--relay-port": options.relayPort = Number(value); i++; break;
      default: throw new Error(`unknown option ${argv[i]}`);
    }
  }
  if (options.posternDomains.length === 0) delete options.posternDomains;
  return options;
}

async function main([command, ...rest]) {
  if (command === "version") {
    console.log(postfixVersion());
    return;
  }
  if (command !== "run") {
    console.error("usage: node scripts/postfix-instance.mjs run --postern-port PORT [--domain D]... [--mailbox-domain D] [--mailbox USER]... [--message-size-limit BYTES] [--mx-port P] [--relay-port P]");
    console.error("       node scripts/postfix-instance.mjs version");
    process.exitCode = 2;
    return;
  }
  const instance = await startPostfix(parseArgs(rest));
  stopOnExit(instance);
  console.log(`Postfix ${postfixVersion()} private instance in ${instance.dir}`);
  console.log(`MX (through Postern): 127.0.0.1:${instance.mxPort}`);
  console.log(`relay (Postern's [outbound] port): 127.0.0.1:${instance.relayPort}`);
  console.log(`mailboxes: ${join(instance.dir, "mailboxes", instance.mailboxDomain)}/USER; log: ${join(instance.dir, "maillog")}`);
  console.log("Ctrl-C stops it and removes the folder.");
  setInterval(() => {}, 1 << 30);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).catch((error) => {
    console.error(error.message);
    process.exitCode = 1;
  });
}

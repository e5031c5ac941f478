/**
 * Query time of the CLI's views on a large database (issue 11, "flat with size"):
 * `conversations show`, `conversations list --user`, `users show` and `mail log`, each through
 * the very function its command runs (src/cli/commands/*), on SQLite holding 1,000,000 posts,
 * 100,000 users, 500,000 participants, 3 deliveries per post and a mail log row per inbound
 * message (1,050,000, one in 21 refused). Everyone has read their conversations to the end (copies
 * sent count as read). Also the delivery claim, rolled back after each run.
 *
 *   npm run bench:queries [-- --json] [--runs N] [--posts N] [--users N]
 *
 * The database is built once with plain SQL (recursive CTEs, indexes created after the rows) and
 * kept under .tmp/bench-queries/, named by a hash of the migrations and the sizes, so a rerun only
 * times the queries. Figures are query time inside the process (median and max of --runs runs
 * after one warm-up run), not process start. `--json` prints one line for `npm run bench`.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { conversationShown, conversationsListed } from "../src/cli/commands/conversations-views.js";
import { mailLogListed } from "../src/cli/commands/mail.js";
import { userShown } from "../src/cli/commands/users.js";
import { buildConfig } from "../src/config/config.js";
import { MIGRATIONS_FOLDER, applyMigrations } from "../src/db/migrations.js";
import { openSqliteStore } from "../src/db/database.js";
import type { Store, Tx } from "../src/db/store.js";
import { claimDue } from "../src/domain/deliveries.repo.js";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const args = process.argv.slice(2);
const option = (name: string, fallback: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const json = args.includes("--json");
const RUNS = option("runs", 7);

/** Sizes of the generated database. */
const SIZE = {
  users: option("users", 100_000),
  posts: option("posts", 1_000_000),
  /** Conversation 1: one long conversation, for `conversations show` and flatness. */
  bigConversationPosts: 10_000,
  postsPerConversation: 10,
  participantsPerConversation: 5,
  deliveriesPerPost: 3,
  /** One mail log row in this many is a refused message (no post). */
  refusedEvery: 21,
  /** One busy member (staff answering an inbox) in this many conversations. */
  busyUserConversations: 2_000,
  /** The newest posts' deliveries are still queued, so the claim has work. */
  queuedPosts: 2_000,
};
const NOW = 1_800_000_000_000;
/** Bump when the generator below changes what it builds. */
const GENERATOR_VERSION = 3;

function log(line: string): void {
  if (!json) console.log(line);
  else console.error(line);
}

/** The cached database's name: whatever changes the schema or the rows changes it. */
function databaseKey(): string {
  const hash = createHash("sha256");
  for (const file of readdirSync(MIGRATIONS_FOLDER).sort()) {
    if (file.endsWith(".sql")) hash.update(readFileSync(join(MIGRATIONS_FOLDER, file)));
  }
  // The journal too: a migration generated again with the same SQL has a new timestamp, and a
  // database migrated under the old one no longer counts as up to date.
  hash.update(readFileSync(join(MIGRATIONS_FOLDER, "meta", "_journal.json")));
  hash.update(JSON.stringify({ SIZE, GENERATOR_VERSION }));
  return hash.digest("hex").slice(0, 16);
}

/** `WITH RECURSIVE n(i)` over 1..count, for INSERT … SELECT. */
const numbers = (count: number) => `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${count})`;

function build(path: string): void {
  const started = Date.now();
  const db = new Database(path);
  db.pragma("journal_mode = OFF");
  db.pragma("synchronous = OFF");
  db.pragma("cache_size = -262144");
  db.pragma("temp_store = MEMORY");
  applyMigrations(db);
  // Rows first, indexes after: building an index from sorted rows is many times faster than keeping it up to date.
  const indexes = db
    .prepare("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
    .all() as { name: string; sql: string }[];
  for (const { name } of indexes) db.exec(`DROP INDEX "${name}"`);
  const triggers = db.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").all() as { name: string; sql: string }[];
  for (const { name } of triggers) db.exec(`DROP TRIGGER "${name}"`);

  const { users, posts, bigConversationPosts, postsPerConversation, participantsPerConversation: per } = SIZE;
  const otherConversations = Math.ceil((posts - bigConversationPosts) / postsPerConversation);
  const conversations = 1 + otherConversations;
  const busy = users + 1;
  // Post i > bigConversationPosts belongs to conversation 2 + (i mod otherConversations): the
  // conversations' posts interleave, as they do when many conversations are active at once.
  const conversationOf = `CASE WHEN i <= ${bigConversationPosts} THEN 1 ELSE 2 + (i % ${otherConversations}) END`;
  // Participant k (0..per-1) of conversation c is user ((c-1)*per + k) mod users + 1: everyone takes part in about the same number.
  const memberOf = (c: string, k: string) => `((((${c}) - 1) * ${per} + (${k})) % ${users} + 1)`;
  const body = "x".repeat(400);

  db.exec("BEGIN");
  db.exec(`${numbers(users)} INSERT INTO users (id, email, name, status, role, created_at)
    SELECT i, 'user' || i || '@example.test', 'User ' || i, 'active', 'member', ${NOW} FROM n`);
  db.exec(`INSERT INTO users (id, email, name, status, role, created_at) VALUES (${busy}, 'busy@example.test', 'Busy Staff', 'active', 'staff', ${NOW})`);
  db.exec(`${numbers(conversations)} INSERT INTO conversations (id, subject, kind, state, created_by_id, created_at, updated_at)
    SELECT i, 'Conversation ' || i, 'group', 'open', ${memberOf("i", "0")}, ${NOW}, ${NOW} FROM n`);
  // Everyone has read their conversations to the end, as copies sent count as read: the newest post of
  // conversation c > 1 is the largest i <= posts with i mod otherConversations = c - 2.
  const lastPostOf = (c: string) => `CASE WHEN (${c}) = 1 THEN ${bigConversationPosts} ELSE ${posts} - ((${posts} - ((${c}) - 2)) % ${otherConversations}) END`;
  db.exec(`${numbers(conversations * per)} INSERT INTO participants (conversation_id, user_id, role, state, reply_token, leave_token, last_read_post_id, joined_at)
    SELECT (i - 1) / ${per} + 1, ${memberOf(`(i - 1) / ${per} + 1`, `(i - 1) % ${per}`)}, CASE WHEN (i - 1) % ${per} = 0 THEN 'owner' ELSE 'member' END,
      'active', 'reply' || i, 'leave' || i, ${lastPostOf(`(i - 1) / ${per} + 1`)}, ${NOW} FROM n`);
  // The busy member: conversation 1 and every conversation whose id is 1 more than a multiple of a step.
  const step = Math.max(1, Math.floor(conversations / SIZE.busyUserConversations));
  db.exec(`${numbers(SIZE.busyUserConversations)} INSERT INTO participants (conversation_id, user_id, role, state, reply_token, leave_token, last_read_post_id, joined_at)
    SELECT (i - 1) * ${step} + 1, ${busy}, 'member', 'active', 'busyreply' || i, 'busyleave' || i, ${lastPostOf(`(i - 1) * ${step} + 1`)}, ${NOW}
    FROM n WHERE (i - 1) * ${step} + 1 <= ${conversations}`);
  // Mail log: row j is refused when j is a multiple of refusedEvery; post i came in as row i + (i - 1) / (refusedEvery - 1).
  const every = SIZE.refusedEvery;
  const inbound = posts + Math.floor((posts - 1) / (every - 1));
  db.exec(`${numbers(inbound)} INSERT INTO inbound_messages (id, received_at, session_id, remote_address, mail_from, rcpt_to, from_address, message_id, dedupe_key, subject, outcome, reason, smtp_code, size, auth_results)
    SELECT i, ${NOW} + i, 's' || i, '192.0.2.1', 'sender' || (i % ${users}) || '@example.test', '["reply+token' || i || '@example.test"]', 'sender' || (i % ${users}) || '@example.test',
      '<m' || i || '@client.test>', CASE WHEN i % ${every} = 0 THEN NULL ELSE 'k' || i END, 'Re: Conversation',
      CASE WHEN i % ${every} = 0 THEN 'rejected' ELSE 'accepted' END, CASE WHEN i % ${every} = 0 THEN 'unknown_recipient' ELSE 'posted' END,
      CASE WHEN i % ${every} = 0 THEN 550 ELSE 250 END, 5000, 'spf=pass dkim=pass dmarc=pass' FROM n`);
  db.exec(`${numbers(posts)} INSERT INTO posts (id, conversation_id, author_id, state, body, raw_body, message_id, source_message_id, inbound_id, created_at, sent_at)
    SELECT i, ${conversationOf}, ${memberOf(conversationOf, `i % ${per}`)}, 'sent', '${body} ' || i, '${body} ' || i,
      '<p' || i || '@example.test>', '<m' || (i + (i - 1) / ${every - 1}) || '@client.test>', i + (i - 1) / ${every - 1}, ${NOW} + i, ${NOW} + i FROM n`);
  // Deliveries: copies of post i to the next deliveriesPerPost participants after its author.
  const copies = SIZE.deliveriesPerPost;
  const firstQueued = posts - SIZE.queuedPosts;
  db.exec(`${numbers(posts * copies)} INSERT INTO deliveries (id, kind, post_id, conversation_id, recipient_id, to_address, bounce_token, status, attempts, next_attempt_at, created_at, sent_at)
    SELECT i, 'post', p, c, ${memberOf("c", `(p + 1 + k) % ${per}`)}, 'user' || ${memberOf("c", `(p + 1 + k) % ${per}`)} || '@example.test', 'b' || i,
      CASE WHEN p > ${firstQueued} THEN 'queued' ELSE 'sent' END, CASE WHEN p > ${firstQueued} THEN 0 ELSE 1 END, ${NOW} + p, ${NOW} + p,
      CASE WHEN p > ${firstQueued} THEN NULL ELSE ${NOW} + p + 1000 END
    FROM (SELECT i, (i - 1) / ${copies} + 1 AS p, (i - 1) % ${copies} AS k,
      CASE WHEN (i - 1) / ${copies} + 1 <= ${bigConversationPosts} THEN 1 ELSE 2 + (((i - 1) / ${copies} + 1) % ${otherConversations}) END AS c FROM n)`);
  // The triggers that keep conversation_counts are off while the rows go in: the counts are made once, as the migration does.
  db.exec(`INSERT INTO conversation_counts (conversation_id, sent_posts, sent_notes, last_sent_post_id)
    SELECT conversation_id, count(*), sum(note), max(id) FROM posts WHERE state = 'sent' GROUP BY conversation_id`);
  db.exec("COMMIT");
  log(`  rows in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  for (const { sql } of indexes) db.exec(sql);
  for (const { sql } of triggers) db.exec(sql);
  log(`  indexes in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  db.pragma("journal_mode = WAL");
  db.close();
}

function databasePath(): string {
  const dir = join(ROOT, ".tmp", "bench-queries");
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${databaseKey()}.db`);
  if (existsSync(path)) return path;
  for (const file of readdirSync(dir)) rmSync(join(dir, file), { force: true });
  log(`building ${path} (${SIZE.posts.toLocaleString("en")} posts, ${SIZE.users.toLocaleString("en")} users); a minute or two, once`);
  const partial = `${path}.building`;
  build(partial);
  renameSync(partial, path);
  return path;
}

interface Figure {
  readonly name: string;
  readonly medianMs: number;
  readonly maxMs: number;
  /** This process's CPU time (user + system) for the query: steadier than wall time on a busy machine. */
  readonly medianCpuMs: number;
  /** How much the query answered (rows, posts, ids), to show it did the work. */
  readonly size: number;
}

class Rollback extends Error {}

async function time(name: string, runs: number, once: () => Promise<number>): Promise<Figure> {
  let size = await once();
  const samples: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = process.hrtime.bigint();
    const usage = process.cpuUsage();
    size = await once();
    const used = process.cpuUsage(usage);
    samples.push(Number(process.hrtime.bigint() - started) / 1e6);
    cpu.push((used.user + used.system) / 1000);
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  return { name, medianMs: median(samples), maxMs: Math.max(...samples), medianCpuMs: median(cpu), size };
}

async function measure(store: Store): Promise<Figure[]> {
  const config = buildConfig({ gateway: { domain: "example.test", name: "Bench" } }, "bench");
  const read = <T>(work: (tx: Tx) => Promise<T>) => store.read(work);
  const typical = "user4242@example.test";
  const busy = "busy@example.test";
  const member = "user1@example.test";
  const figures: Figure[] = [];
  const add = async (name: string, once: () => Promise<number>) => {
    const figure = await time(name, RUNS, once);
    figures.push(figure);
    log(`  ${name}: median ${figure.medianMs.toFixed(2)} ms, max ${figure.maxMs.toFixed(2)} ms, CPU ${figure.medianCpuMs.toFixed(2)} ms (${figure.size})`);
  };
  const typicalConversation = 2 + (4242 % (SIZE.posts / SIZE.postsPerConversation - 1));
  await add(`conversations show ${typicalConversation} (10 posts)`, async () => (await read((tx) => conversationShown(tx, typicalConversation, {}))).posts.length);
  await add("conversations show 1 (10,000 posts)", async () => (await read((tx) => conversationShown(tx, 1, {}))).posts.length);
  await add("conversations show 1 --as member (10,000 posts)", async () => (await read((tx) => conversationShown(tx, 1, { as: member }))).posts.length);
  await add("conversations show 1 --bodies (10,000 posts)", async () => (await read((tx) => conversationShown(tx, 1, { bodies: true }))).posts.length);
  await add("conversations list --user (5 conversations)", async () => (await read((tx) => conversationsListed(tx, { user: typical }))).length);
  await add("conversations list --user (2,000 conversations)", async () => (await read((tx) => conversationsListed(tx, { user: busy }))).length);
  await add("users show (5 conversations)", async () => (await store.read((tx) => userShown({ tx, config, now: NOW }, typical))).conversations.length);
  await add("users show (2,000 conversations)", async () => (await store.read((tx) => userShown({ tx, config, now: NOW }, busy))).conversations.length);
  await add("mail log", async () => (await read((tx) => mailLogListed(tx, { limit: 100 }))).length);
  await add("mail log --rejected", async () => (await read((tx) => mailLogListed(tx, { limit: 100, rejected: true }))).length);
  await add("delivery claim of 100 (rolled back)", async () => {
    let claimed = 0;
    await store
      .transaction(async (tx) => {
        claimed = (await claimDue(tx, { now: NOW + SIZE.posts + 1, owner: "bench", leaseMs: 60_000, limit: 100 })).length;
        throw new Rollback();
      })
      .catch((error: unknown) => {
        if (!(error instanceof Rollback)) throw error;
      });
    return claimed;
  });
  return figures;
}

const path = databasePath();
const store = openSqliteStore({ path, migrations: "require-current", synchronous: "NORMAL" });
const load = loadavg()[0]!.toFixed(2);
log(`node ${process.version}, ${cpus().length} cores, load average ${load}; ${path} (${Math.round(statSync(path).size / 1024 / 1024)} MB); ${RUNS} runs after a warm-up`);
const figures = await measure(store);
await store.close();
// The four views as the target names them: without --bodies, and not the claim.
const views = figures.filter((f) => !f.name.includes("--bodies") && !f.name.includes("claim"));
const slowest = Math.max(...views.map((f) => f.medianMs));
const slowestCpu = Math.max(...views.map((f) => f.medianCpuMs));
if (json) {
  console.log(JSON.stringify({ engine: "sqlite", size: SIZE, runs: RUNS, load: Number(load), targetMs: 50, slowestMedianMs: slowest, slowestMedianCpuMs: slowestCpu, queries: figures }));
} else {
  const ms = (n: number) => `${n.toFixed(2)} ms`;
  const rows = [["query", "median", "max", "median CPU", "rows"], ...figures.map((f) => [f.name, ms(f.medianMs), ms(f.maxMs), ms(f.medianCpuMs), String(f.size)])];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  console.log("");
  for (const row of rows) console.log(`| ${row.map((cell, i) => cell.padEnd(widths[i]!)).join(" | ")} |`);
  console.log(`\nslowest median of the four views (without --bodies): ${slowest.toFixed(2)} ms, CPU ${slowestCpu.toFixed(2)} ms (target: under 50 ms)`);
}

// Races that one SQLite writer never had: two gateway nodes on one PostgreSQL database, each with a
// pool of its own (t.store and t.openAnother()), handling mail at the same moment. The schema's
// unique constraints and the repositories' ON CONFLICT DO NOTHING upserts must turn every race into
// one row and no error.
//
// The overlap is made certain, not left to luck, in two ways:
// - lockstep: each node's transaction waits at a gate right after its BEGIN until the other
//   node's transaction has begun too, so both are open at once and then do the same work together
//   (repeated for ROUNDS rounds, with fresh data each round);
// - held: node A does all its work, then keeps its transaction open (pg_sleep inside it) while node
//   B does the same work from start to end. B cannot see A's uncommitted rows, so it takes the
//   "insert, conflict, read the winner's row" path for certain; that it had to wait for A's commit
//   shows in how long B's work took.

import { eq, sql, type SQL } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { tokenAddress } from "../../src/domain/addresses.js";
import { findParticipant, participantsWithUsers } from "../../src/domain/conversations.repo.js";
import { claimDue } from "../../src/domain/deliveries.repo.js";
import { insertMailLogEntry } from "../../src/domain/mail-log.repo.js";
import type { Group, Participant, User } from "../../src/domain/records.js";
import type { Store, Tx } from "../../src/db/store.js";
import { InboundPipeline, type InboundEnvelope, type InboundVerdict } from "../../src/inbound/pipeline.js";
import { silentLogger } from "../../src/log.js";
import { createTestStore, type TestStore } from "../helpers/database.js";
import { noDns } from "../helpers/dns.js";
import { ENGINE } from "../helpers/postgres.js";
import { buildMime, DOMAIN, queueAndRead, seedConversation, seedGroup, seedUser, T0 } from "../helpers/seed.js";

const ROUNDS = 10;
/** How long node A keeps its finished transaction open in the held runs. */
const HOLD_SECONDS = 0.4;
/** B waited for A's commit when its work took at least this long (well below the hold). */
const WAITED_MS = 250;
const SUPPORT = `support@${DOMAIN}`;

let t: TestStore;
/** The second gateway node: a pool of its own on the same database. */
let other: Store;

beforeEach(async () => {
  if (ENGINE !== "postgres") throw new Error("test/postgres/ runs in the postgres project only");
  t = await createTestStore();
  other = await t.openAnother();
});

afterEach(async () => {
  await t.dispose();
});

// ---- Making the two transactions overlap -------------------------------------------------------

/** Resolves once `parties` callers have arrived; later arrivals (a retried transaction) pass at once. */
class Gate {
  private arrived = 0;
  private release!: () => void;
  readonly opened = new Promise<void>((resolve) => (this.release = resolve));
  constructor(private readonly parties: number) {}
  arrive(): Promise<void> {
    if (++this.arrived >= this.parties) this.release();
    return this.opened;
  }
}

interface Hooks {
  /** Inside the transaction, after BEGIN, before the caller's work. */
  before?: () => Promise<void>;
  /** Inside the transaction, after the caller's work, before COMMIT; `failed` when the work threw. */
  after?: (tx: Tx, failed: boolean) => Promise<void>;
}

interface Timing {
  workStarted?: number;
  workEnded?: number;
  committed?: number;
  /**
   * Inserts (by their query's name) that returned no row: ON CONFLICT DO NOTHING met a row another
   * transaction had inserted, i.e. this node lost a race and took the "read the winner's row" path.
   */
  lostInserts: string[];
  /** When each prepared query (one/all) was sent and when its answer came back. */
  statements: [number, number][];
}

/**
 * The same Store with hooks around each transaction's work. A Proxy, so whatever else the Store
 * offers (read, close, ...) passes through unchanged.
 */
function hooked(store: Store, hooks: Hooks, timing: Timing): Store {
  const transaction: Store["transaction"] = async (work) => {
    const value = await store.transaction(async (tx) => {
      await hooks.before?.();
      timing.workStarted ??= performance.now();
      let failed = true;
      try {
        const result = await work(watched(tx, timing));
        failed = false;
        return result;
      } finally {
        timing.workEnded = performance.now();
        await hooks.after?.(tx, failed);
      }
    });
    timing.committed = performance.now();
    return value;
  };
  return new Proxy(store, {
    get(target, property) {
      if (property === "transaction") return transaction;
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** The Tx with its single-row queries watched for inserts that came back empty. */
function watched(tx: Tx, timing: Timing): Tx {
  const one: Tx["one"] = async (query, values) => {
    const sent = performance.now();
    const row = await tx.one(query, values);
    timing.statements.push([sent, performance.now()]);
    const name = typeof query === "function" ? query.name : "";
    if (row === undefined && /^insert/i.test(name)) timing.lostInserts.push(name);
    return row;
  };
  const all: Tx["all"] = async (query, values) => {
    const sent = performance.now();
    const rows = await tx.all(query, values);
    timing.statements.push([sent, performance.now()]);
    return rows;
  };
  return new Proxy(tx, {
    get(target, property) {
      if (property === "one") return one;
      if (property === "all") return all;
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** A raw statement inside a transaction (drizzle's node-postgres handle has execute()). */
function execute(tx: Tx, statement: SQL): Promise<unknown> {
  return tx.rows((db) => (db as unknown as { execute(query: SQL): Promise<unknown> }).execute(statement));
}

type Mode = "lockstep" | "held";

interface Raced<A, B> {
  readonly a: PromiseSettledResult<A>;
  readonly b: PromiseSettledResult<B>;
  readonly timing: { readonly a: Timing; readonly b: Timing };
}

/**
 * Runs `first` on node A (t.store) and `second` on node B (the other pool) at once, each given its
 * node's Store with the overlap built in (see the top of the file). Every transaction either node
 * opens during the race is hooked, so give each node one transaction per race.
 */
async function race<A, B>(mode: Mode, first: (store: Store) => Promise<A>, second: (store: Store) => Promise<B>): Promise<Raced<A, B>> {
  const timing: Raced<A, B>["timing"] = { a: { lostInserts: [], statements: [] }, b: { lostInserts: [], statements: [] } };
  let storeA: Store;
  let storeB: Store;
  if (mode === "lockstep") {
    const gate = new Gate(2);
    storeA = hooked(t.store, { before: () => gate.arrive() }, timing.a);
    storeB = hooked(other, { before: () => gate.arrive() }, timing.b);
  } else {
    let aDone!: () => void;
    const aWorkDone = new Promise<void>((resolve) => (aDone = resolve));
    storeA = hooked(
      t.store,
      {
        after: async (tx, failed) => {
          aDone();
          // A's rows exist but are not committed while B does its work.
          if (!failed) await execute(tx, sql`select pg_sleep(${HOLD_SECONDS})`);
        },
      },
      timing.a,
    );
    storeB = hooked(other, { before: () => aWorkDone }, timing.b);
  }
  const [a, b] = await Promise.allSettled([first(storeA), second(storeB)]);
  return { a, b, timing };
}

function value<T>(result: PromiseSettledResult<T>, who: string): T {
  if (result.status === "rejected") {
    const reason = result.reason as { message?: string; code?: number; reason?: string };
    throw new Error(`${who} failed: ${reason?.code ?? ""} ${reason?.reason ?? ""} ${reason?.message ?? String(result.reason)}`);
  }
  return result.value;
}

/** In a held run, B really waited for A's commit: its work ended only after A had held its rows. */
function expectBWaitedForA(timing: Raced<unknown, unknown>["timing"]): void {
  const { a, b } = timing;
  expect(a.workEnded! <= b.workStarted! + 5, "B started only once A's work was done").toBe(true);
  expect(b.workEnded! - b.workStarted!, "B's work waited for A's commit").toBeGreaterThanOrEqual(WAITED_MS);
}

/** In a lockstep run, both transactions were open before either did any work. */
function expectOverlap(timing: Raced<unknown, unknown>["timing"]): void {
  const { a, b } = timing;
  expect(a.workStarted! < b.committed! && b.workStarted! < a.committed!).toBe(true);
}

/** One node's insert met the other's row: the race was contested, not won by arriving first. */
function contested(timing: Raced<unknown, unknown>["timing"]): boolean {
  return timing.a.lostInserts.length + timing.b.lostInserts.length > 0;
}

/** Both nodes had a statement in flight at the same moment. */
function inFlightTogether(timing: Raced<unknown, unknown>["timing"]): boolean {
  return timing.a.statements.some(([aSent, aDone]) => timing.b.statements.some(([bSent, bDone]) => aSent < bDone && bSent < aDone));
}

type Timings = Raced<unknown, unknown>["timing"];

/**
 * ROUNDS lockstep rounds with fresh data; at least one must have been contested (in practice nearly
 * all are: the loser's ON CONFLICT DO NOTHING insert returns no row).
 */
async function lockstepRounds(run: (mode: Mode, round: number) => Promise<Timings>): Promise<void> {
  let contestedRounds = 0;
  for (let round = 1; round <= ROUNDS; round++) if (contested(await run("lockstep", round))) contestedRounds += 1;
  expect(contestedRounds, "rounds in which one node's insert met the other's row").toBeGreaterThan(0);
}

function pipeline(store: Store): InboundPipeline {
  return new InboundPipeline({ store, config: t.config, logger: silentLogger(), resolver: noDns });
}

const envelope = (mailFrom: string, ...rcptTo: string[]): InboundEnvelope => ({ mailFrom, rcptTo, sessionId: "race", remoteAddress: "192.0.2.1" });

// ---- Queries for the invariants ------------------------------------------------------------------

function usersWithEmail(email: string): Promise<User[]> {
  return t.read(({ tx }) => tx.rows((db, tb) => db.select().from(tb.users).where(eq(tb.users.email, email))));
}

function mailLogOutcomes(messageId: string): Promise<string[]> {
  return t
    .read(({ tx }) => tx.rows((db, tb) => db.select({ outcome: tb.inboundMessages.outcome }).from(tb.inboundMessages).where(eq(tb.inboundMessages.messageId, messageId))))
    .then((rows) => rows.map((row) => row.outcome).sort());
}

function mailLogOutcomesFrom(address: string): Promise<string[]> {
  return t
    .read(({ tx }) => tx.rows((db, tb) => db.select({ outcome: tb.inboundMessages.outcome }).from(tb.inboundMessages).where(eq(tb.inboundMessages.fromAddress, address))))
    .then((rows) => rows.map((row) => row.outcome).sort());
}

function postsFromMessage(messageId: string): Promise<number> {
  return t
    .read(({ tx }) => tx.rows((db, tb) => db.select({ id: tb.posts.id }).from(tb.posts).where(eq(tb.posts.sourceMessageId, messageId))))
    .then((rows) => rows.length);
}

// ---- (a) a stranger's first two messages ---------------------------------------------------------

describe("two nodes stage the same stranger at once", () => {
  let support: Group;

  beforeEach(async () => {
    const sam = await seedUser(t, "sam@team.test", "Sam Staff", "staff");
    support = await seedGroup(t, "support", SUPPORT, [sam]);
  });

  async function strangerWritesTwice(mode: Mode, round: number): Promise<Timings> {
    const email = `dana-${mode}-${round}@customer.test`;
    const message = (n: number) =>
      buildMime({ from: `Dana Customer <${email}>`, to: SUPPORT, subject: `Printer on fire (${n})`, body: `Message ${n}.`, messageId: `<dana-${mode}-${round}-${n}@customer.test>` });
    const raced = await race(
      mode,
      (store) => pipeline(store).process(message(1), envelope(email, SUPPORT)),
      (store) => pipeline(store).process(message(2), envelope(email, SUPPORT)),
    );
    const first = value(raced.a, `round ${round}, node A`);
    const second = value(raced.b, `round ${round}, node B`);

    // Exactly one staged user, and each message is a conversation of its own that they started.
    const users = await usersWithEmail(email);
    expect(users).toHaveLength(1);
    expect(users[0]).toMatchObject({ status: "staged", name: "Dana Customer" });
    expect(first).toMatchObject({ outcome: "accepted", reason: "new inbox conversation for support" });
    expect(second).toMatchObject({ outcome: "accepted", reason: "new inbox conversation for support" });
    expect(first.conversationId).not.toBe(second.conversationId);
    for (const verdict of [first, second]) {
      const participant = await t.read(({ tx }) => findParticipant(tx, verdict.conversationId!, users[0]!.id));
      expect(participant?.state).toBe("active");
    }
    expect(await mailLogOutcomesFrom(email)).toEqual(["accepted", "accepted"]);
    if (mode === "lockstep") expectOverlap(raced.timing);
    else expectBWaitedForA(raced.timing);
    return raced.timing;
  }

  it(`one user, two conversations: ${ROUNDS} rounds in lockstep`, async () => {
    await lockstepRounds(strangerWritesTwice);
  });

  it("one user, two conversations: node B stages the stranger while node A holds its uncommitted user", async () => {
    const timing = await strangerWritesTwice("held", 1);
    // B's user insert met A's row (insertUser), and B went on with A's user.
    expect(timing.a.lostInserts).toEqual([]);
    expect(timing.b.lostInserts).toEqual(["insert"]);
  });
});

// ---- (b) the same message at two nodes (an MX retry) ---------------------------------------------

describe("two nodes receive the same message at once", () => {
  let alice: User;
  let bob: User;

  beforeEach(async () => {
    alice = await seedUser(t, "alice@elsewhere.test", "Alice Example");
    bob = await seedUser(t, "bob@elsewhere.test", "Bob Builder");
  });

  async function deliveredTwice(mode: Mode, round: number): Promise<Timings> {
    const { conversation } = await seedConversation(t, alice, [bob], { subject: `Lunch ${mode} ${round}` });
    const bobs = await t.read(({ tx }) => findParticipant(tx, conversation.id, bob.id));
    const to = tokenAddress("reply", bobs!.replyToken, DOMAIN);
    const messageId = `<bob-${mode}-${round}@elsewhere.test>`;
    const raw = buildMime({ from: "Bob Builder <bob@elsewhere.test>", to, subject: `Re: Lunch ${mode} ${round}`, body: "Noon is fine.", messageId });

    const raced = await race(
      mode,
      (store) => pipeline(store).process(raw, envelope(bob.email, to)),
      (store) => pipeline(store).process(raw, envelope(bob.email, to)),
    );
    const verdicts = [value(raced.a, `round ${round}, node A`), value(raced.b, `round ${round}, node B`)];

    expect(verdicts.map((v) => v.outcome).sort()).toEqual(["accepted", "duplicate"]);
    const accepted = verdicts.find((v) => v.outcome === "accepted")!;
    const duplicate = verdicts.find((v) => v.outcome === "duplicate")!;
    // The repeat names the first arrival's post.
    expect(duplicate).toMatchObject({ conversationId: conversation.id, postId: accepted.postId });
    expect(await postsFromMessage(messageId)).toBe(1);
    expect(await mailLogOutcomes(messageId)).toEqual(["accepted", "duplicate"]);
    if (mode === "lockstep") expectOverlap(raced.timing);
    else {
      expectBWaitedForA(raced.timing);
      expect(verdicts[0]!.outcome).toBe("accepted");
    }
    return raced.timing;
  }

  it(`one post, one accepted and one duplicate entry: ${ROUNDS} rounds in lockstep`, async () => {
    await lockstepRounds(deliveredTwice);
  });

  it("one post: node B finds the key node A holds uncommitted, waits, and logs a duplicate", async () => {
    const timing = await deliveredTwice("held", 1);
    // B's mail-log entry met A's dedupe key (insertMailLogEntry); its duplicate entry has no key.
    expect(timing.a.lostInserts).toEqual([]);
    expect(timing.b.lostInserts).toEqual(["insert"]);
  });
});

// ---- (c) two replies CC'ing the same new address ---------------------------------------------------

describe("two replies at two nodes CC the same new address", () => {
  let alice: User;
  let bob: User;

  beforeEach(async () => {
    alice = await seedUser(t, "alice@elsewhere.test", "Alice Example");
    bob = await seedUser(t, "bob@elsewhere.test", "Bob Builder");
  });

  /**
   * Alice and Bob each reply, CC'ing Carol. A stranger is staged and then joins (the users insert is
   * where they meet); a known user who is not in the conversation yet only joins (the participants
   * insert is where they meet).
   */
  async function bothCcCarol(carolIs: "stranger" | "known user", mode: Mode, round: number): Promise<Timings> {
    const { conversation } = await seedConversation(t, alice, [bob], { subject: `Contract ${mode} ${round}` });
    const replyOf = async (user: User) => {
      const participant = (await t.read(({ tx }) => findParticipant(tx, conversation.id, user.id))) as Participant;
      return tokenAddress("reply", participant.replyToken, DOMAIN);
    };
    const [aliceReply, bobReply] = [await replyOf(alice), await replyOf(bob)];
    const carol = `carol-${carolIs === "stranger" ? "new" : "known"}-${mode}-${round}@lawfirm.test`;
    if (carolIs === "known user") await seedUser(t, carol, "Carol Counsel");
    const reply = (author: User, to: string) =>
      buildMime({
        from: `${author.name} <${author.email}>`,
        to,
        cc: `Carol Counsel <${carol}>`,
        subject: `Re: Contract ${mode} ${round}`,
        body: `Adding our lawyer, says ${author.name}.`,
        messageId: `<${author.email.split("@")[0]}-${mode}-${round}@elsewhere.test>`,
      });

    const raced = await race(
      mode,
      (store) => pipeline(store).process(reply(alice, aliceReply), envelope(alice.email, aliceReply)),
      (store) => pipeline(store).process(reply(bob, bobReply), envelope(bob.email, bobReply)),
    );
    const verdicts: InboundVerdict[] = [value(raced.a, `round ${round}, node A`), value(raced.b, `round ${round}, node B`)];

    for (const verdict of verdicts) expect(verdict).toMatchObject({ outcome: "accepted", conversationId: conversation.id });
    expect(new Set(verdicts.map((v) => v.postId)).size).toBe(2);
    const users = await usersWithEmail(carol);
    expect(users).toHaveLength(1);
    const people = await t.read(({ tx }) => participantsWithUsers(tx, conversation.id));
    const carols = people.filter((p) => p.user.email === carol);
    expect(carols).toHaveLength(1);
    expect(carols[0]!.participant.state).toBe("active");
    expect(people.map((p) => p.user.email).sort()).toEqual([alice.email, bob.email, carol].sort());
    if (mode === "lockstep") expectOverlap(raced.timing);
    else expectBWaitedForA(raced.timing);
    return raced.timing;
  }

  it(`a CC'd stranger is one user and one participant: ${ROUNDS} rounds in lockstep`, async () => {
    await lockstepRounds((mode, round) => bothCcCarol("stranger", mode, round));
  });

  it(`a CC'd known user is one participant: ${ROUNDS} rounds in lockstep`, async () => {
    await lockstepRounds((mode, round) => bothCcCarol("known user", mode, round));
  });

  it("a CC'd stranger: node B stages and adds them while node A holds its uncommitted user and participant", async () => {
    const timing = await bothCcCarol("stranger", "held", 1);
    // B's users insert met A's row; by the time B read it, A's participant row was committed too.
    expect(timing.a.lostInserts).toEqual([]);
    expect(timing.b.lostInserts).toEqual(["insert"]);
  });

  it("a CC'd known user: node B adds them while node A holds its uncommitted participant", async () => {
    const timing = await bothCcCarol("known user", "held", 1);
    expect(timing.a.lostInserts).toEqual([]);
    expect(timing.b.lostInserts).toEqual(["insertParticipantQuery"]);
  });
});

// ---- (d) two workers claim the same due deliveries --------------------------------------------------

describe("two nodes claim due deliveries at once", () => {
  const DUE = 40;
  const BATCH = 15;
  const LEASE_MS = 10 * 86_400_000;
  const NOW = T0 + 1000;
  let admin: User;

  beforeEach(async () => {
    admin = await seedUser(t, "root@team.test", "Root", "admin");
  });

  /** DUE queued forward deliveries, due at T0. */
  async function seedDue(): Promise<number[]> {
    const queued = await t.write(async ({ tx }) => {
      const inboundId = await insertMailLogEntry(tx, {
        receivedAt: T0,
        sessionId: null,
        remoteAddress: null,
        mailFrom: "someone@elsewhere.test",
        rcptTo: [`postmaster@${DOMAIN}`],
        fromAddress: "someone@elsewhere.test",
        messageId: null,
        subject: "Hello postmaster",
        outcome: "accepted",
        reason: "forwarded to admins",
        smtpCode: 250,
        size: 0,
        raw: null,
      });
      return queueAndRead(
        tx,
        Array.from({ length: DUE }, () => ({ kind: "forward" as const, inboundId: inboundId!, recipientId: admin.id, toAddress: admin.email })),
        T0,
      );
    }, T0);
    return queued.map((d) => d.id);
  }

  function claim(store: Store, owner: string): Promise<number[]> {
    return store.transaction((tx) => claimDue(tx, { now: NOW, owner, leaseMs: LEASE_MS, limit: BATCH })).then((rows) => rows.map((row) => row.id));
  }

  function leases(ids: readonly number[]): Promise<Map<number, { status: string; leaseOwner: string | null }>> {
    return t
      .read(({ tx }) => tx.rows((db, tb) => db.select({ id: tb.deliveries.id, status: tb.deliveries.status, leaseOwner: tb.deliveries.leaseOwner }).from(tb.deliveries)))
      .then((rows) => new Map(rows.filter((row) => ids.includes(row.id)).map((row) => [row.id, row])));
  }

  /** Nobody's rows overlap, together they are every seeded row, and each row's lease names its claimer. */
  function expectEachClaimedOnce(
    ids: readonly number[],
    byA: readonly number[],
    byB: readonly number[],
    rows: Awaited<ReturnType<typeof leases>>,
    owners: readonly [string, string],
    later?: { rest: readonly number[]; restOwner: string },
  ): void {
    expect(byA.filter((id) => byB.includes(id))).toEqual([]);
    expect(new Set(byA).size).toBe(byA.length);
    expect(new Set(byB).size).toBe(byB.length);
    expect([...byA, ...byB].sort((x, y) => x - y)).toEqual([...ids].sort((x, y) => x - y));
    const ownerOf = (id: number) => (later?.rest.includes(id) ? later.restOwner : byA.includes(id) ? owners[0] : owners[1]);
    for (const id of ids) expect(rows.get(id)).toEqual({ id, status: "sending", leaseOwner: ownerOf(id) });
  }

  it(`every row is claimed exactly once: ${ROUNDS} rounds of both nodes claiming in lockstep until none is left`, async () => {
    let passesInFlightTogether = 0;
    for (let round = 1; round <= ROUNDS; round++) {
      const ids = await seedDue();
      const owners: [string, string] = [`node-a-${round}`, `node-b-${round}`];
      const byA: number[] = [];
      const byB: number[] = [];
      for (let pass = 0; pass < DUE; pass++) {
        const raced = await race("lockstep", (store) => claim(store, owners[0]), (store) => claim(store, owners[1]));
        const [a, b] = [value(raced.a, "node A"), value(raced.b, "node B")];
        expectOverlap(raced.timing);
        expect(a.filter((id) => b.includes(id)), `round ${round}, pass ${pass}: claimed by both`).toEqual([]);
        if (inFlightTogether(raced.timing)) passesInFlightTogether += 1;
        byA.push(...a);
        byB.push(...b);
        if (a.length === 0 && b.length === 0) break;
      }
      expectEachClaimedOnce(ids, byA, byB, await leases(ids), owners);
    }
    // Both claim statements were at the server at once, not one node after the other.
    expect(passesInFlightTogether).toBeGreaterThan(0);
  });

  it("node B skips the rows node A holds uncommitted and takes others, without waiting for A", async () => {
    const ids = await seedDue();
    const raced = await race("held", (store) => claim(store, "node-a"), (store) => claim(store, "node-b"));
    const [a, b] = [value(raced.a, "node A"), value(raced.b, "node B")];
    expect(a).toHaveLength(BATCH);
    expect(b).toHaveLength(BATCH);
    // B committed while A still held its rows open: SKIP LOCKED, no waiting.
    expect(raced.timing.b.committed!).toBeLessThan(raced.timing.a.committed!);
    expect(raced.timing.b.workEnded! - raced.timing.b.workStarted!).toBeLessThan(WAITED_MS);
    const rest = await claim(t.store, "node-c");
    expect(rest).toHaveLength(DUE - 2 * BATCH);
    const rows = await leases(ids);
    expectEachClaimedOnce(ids, a, [...b, ...rest], rows, ["node-a", "node-b"], { rest, restOwner: "node-c" });
  });
});

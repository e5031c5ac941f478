import { z } from "zod";
import { parseDuration, parseSize } from "./units.js";

const RESERVED_LOCAL_PARTS = [
  "reply", "bounce", "leave", "accept", "decline", "note", "private", "every", "digest", "mute",
  "conversations", "postmaster", "abuse", "noreply",
] as const;
export { RESERVED_LOCAL_PARTS };

const domainName = z
  .string()
  .min(1)
  .regex(/^[a-z0-9.-]+$/i, "must be a bare domain name such as example.test")
  .transform((d) => d.toLowerCase());

const size = z.union([z.number().int().positive(), z.string()]).transform((value, ctx) => {
  const bytes = parseSize(value);
  if (bytes === undefined) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `"${value}" is not a size such as 25MB or 512KB` });
    return z.NEVER;
  }
  return bytes;
});

const duration = z.union([z.number().int().nonnegative(), z.string()]).transform((value, ctx) => {
  const ms = parseDuration(value);
  if (ms === undefined) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `"${value}" is not a duration such as 30s, 5m, 4h or 5d` });
    return z.NEVER;
  }
  return ms;
});

const role = z.enum(["member", "staff", "admin"]);

const gateway = z
  .object({
    domain: domainName.optional(),
    domains: z.array(domainName).min(1).optional(),
    name: z.string().min(1).default("Postern"),
    from_address: z.string().email().optional(),
    /** Show every participant in To of each copy; off by default so addresses stay private. */
    disclose_participants: z.boolean().default(false),
  })
  .strict()
  .default({});

const smtp = z
  .object({
    host: z.string().default("127.0.0.1"),
    port: z.number().int().min(0).max(65535).default(2525),
    max_message_size: size.default("25MB"),
    /** smtp-server resolves every client's IP by default; off so nothing queries DNS unasked. */
    reverse_dns: z.boolean().default(false),
    banner: z.string().optional(),
    max_clients: z.number().int().positive().default(200),
    socket_timeout: duration.default("60s"),
    /** Open connections one client address may hold at once; the next one gets 421 4.7.0. */
    max_connections_per_ip: z.number().int().positive().default(20),
    /** The whole session's deadline, however busy the client keeps it; then 421 4.4.2 and close. */
    session_timeout: duration.default("10m"),
    /** Slowest acceptable DATA transfer, bytes per second, averaged since DATA began. */
    min_data_rate: size.default("1KB"),
    /** How long DATA may run before min_data_rate is enforced. */
    min_data_rate_grace: duration.default("10s"),
    /** How long one message may take to process after DATA before the client is told 451. */
    processing_timeout: duration.default("30s"),
    /**
     * How long the listener waits before its 220 greeting; a client that talks first is refused as an
     * early talker (spamware does). 0 greets at once, for a trusted front MTA or a benchmark.
     */
    greeting_delay: duration.default("100ms"),
    /** Both or neither: STARTTLS is offered only with a key and its certificate. */
    tls_key: z.string().min(1).optional(),
    tls_cert: z.string().min(1).optional(),
  })
  .strict()
  .superRefine((smtp, ctx) => {
    // The listener offers STARTTLS only when both are set; one alone would be silently ignored.
    if (smtp.tls_key !== undefined && smtp.tls_cert === undefined) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ["tls_cert"],
        message: "tls_key is set but tls_cert is not; set both or neither",
      });
    }
    if (smtp.tls_cert !== undefined && smtp.tls_key === undefined) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ["tls_key"],
        message: "tls_cert is set but tls_key is not; set both or neither",
      });
    }
  })
  .default({});

const database = z
  .object({
    /**
     * sqlite: one file, the embedded default. postgres: several gateway nodes on one database.
     * Unset, a url (or POSTERN_DATABASE_URL) means postgres: whoever gives a PostgreSQL URL means
     * to use it, and a `db migrate` that quietly migrated the SQLite file instead would mislead.
     * For the same reason "sqlite" with a url is refused rather than the url ignored.
     */
    engine: z.enum(["sqlite", "postgres"]).optional(),
    path: z.string().min(1).default("data/postern.db"),
    /** FULL survives power loss after 250; NORMAL survives process crashes only. */
    synchronous: z.enum(["FULL", "NORMAL"]).default("FULL"),
    busy_timeout: duration.default("5s"),
    /** postgres://USER:PASSWORD@HOST:PORT/DB; POSTERN_DATABASE_URL overrides it, so secrets stay out of the file. */
    url: z
      .string()
      .regex(/^postgres(ql)?:\/\//, "must be a postgres:// URL such as postgres://postern@127.0.0.1:5432/postern")
      .optional(),
    /** Connections each gateway process keeps to PostgreSQL. */
    pool_size: z.number().int().positive().default(10),
  })
  .strict()
  .superRefine((value, ctx) => {
    if (value.engine === "postgres" && !value.url) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["url"], message: 'engine "postgres" needs a url (or POSTERN_DATABASE_URL)' });
    }
    if (value.engine === "sqlite" && value.url) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ["engine"],
        message: 'is "sqlite", yet a PostgreSQL url is given (in [database] url or POSTERN_DATABASE_URL): set engine = "postgres" to use it, or remove the url',
      });
    }
  })
  .transform(({ engine, ...rest }) => ({ engine: engine ?? (rest.url ? ("postgres" as const) : ("sqlite" as const)), ...rest }))
  .default({});

const outbound = z
  .object({
    transport: z.enum(["file", "smtp"]).default("file"),
    dir: z.string().min(1).default("data/outbox"),
    host: z.string().default("127.0.0.1"),
    port: z.number().int().min(1).max(65535).default(25),
    secure: z.boolean().default(false),
    /**
     * "opportunistic": STARTTLS when the relay offers it, certificate not verified, and a failed
     * handshake is retried in clear at once (Postfix's "may"); "required": STARTTLS with a verified
     * certificate or no delivery; "off": never STARTTLS.
     */
    starttls: z.enum(["opportunistic", "required", "off"]).default("opportunistic"),
    /** PEM file of the CA (or the relay's own certificate) that starttls = "required" verifies against, instead of the system CAs. */
    tls_ca: z.string().min(1).optional(),
    /** With starttls = "required" (or secure): refuse a relay whose certificate does not verify. false encrypts without verifying. */
    tls_reject_unauthorized: z.boolean().default(true),
    user: z.string().optional(),
    password: z.string().optional(),
    pool_size: z.number().int().positive().default(5),
    connection_timeout: duration.default("30s"),
    /** Waits between attempts after a temporary failure; the last one repeats until give_up_after. */
    retry_schedule: z.array(duration).min(1).default(["1m", "5m", "15m", "1h", "4h"]),
    give_up_after: duration.default("5d"),
    lease: duration.default("2m"),
    poll_interval: duration.default("1s"),
    /**
     * Claim, render and send in a worker thread with its own database connection, woken when
     * deliveries are queued, so inbound and outbound work on two cores; false keeps them on one.
     */
    delivery_thread: z.boolean().default(true),
    /**
     * With transport = "smtp": the SMTP dialogue (the connection pool, socket writes) in a thread of
     * its own, so that sending one copy and rendering the next use two cores; false sends from the
     * thread that renders.
     */
    transport_thread: z.boolean().default(true),
    batch_size: z.number().int().positive().default(50),
    /** 0 means no limit; system mail (invitations, digests) never counts. */
    max_per_user_per_day: z.number().int().nonnegative().default(100),
  })
  .strict()
  .default({});

const stagedUsers = z
  .object({
    enabled: z.boolean().default(true),
    /** Whether staged users (strangers) may bring the addresses they CC into a conversation; off so Postern relays to no third party. */
    invite_by_cc: z.boolean().default(false),
    /** Staged users one message or command may create; the addresses beyond it are skipped (CC) or refused. */
    max_per_message: z.number().int().positive().default(10),
  })
  .strict()
  .default({});

const conversations = z
  .object({
    max_cc_participants: z.number().int().nonnegative().default(10),
    /** Participants a conversation may have (active or invited); admission refuses or skips beyond it. */
    max_participants: z.number().int().positive().default(50),
    /** People one user may bring in by CC in 24 hours, across all conversations. */
    max_cc_invites_per_day: z.number().int().nonnegative().default(20),
    references_limit: z.number().int().min(2).default(20),
    /** Recipients one `conversations create` may name with --to. */
    max_recipients: z.number().int().positive().default(10),
    /**
     * What someone added later receives of the conversation so far, unless the person adding
     * chooses (--history): "all", "none", or the last N posts.
     */
    history: z.union([z.enum(["all", "none"]), z.number().int().positive()]).default("all"),
  })
  .strict()
  .default({});

/** Conversations that start only once the person invited accepts (SPEC §5). */
const consent = z
  .object({
    kinds: z.array(z.enum(["direct", "group", "inbox"])).default(["direct"]),
    /** An invitation not answered by then expires, and the person who wrote is told. */
    expire_after: duration.default("30d"),
  })
  .strict()
  .default({});

/** Unread digests (SPEC §6): one email per window to each user who reads by digest. */
const digest = z
  .object({
    /** The window: every digest user with something unread gets one email per interval. */
    interval: duration.default("5m"),
  })
  .strict()
  .default({});

/** Who can be brought into new conversations (SPEC §6). */
const reachability = z
  .object({
    /** Users inactive longer than this many days cannot be brought into new conversations; 0: no limit (SPIP's rule is 15). */
    inactive_days: z.number().int().nonnegative().default(0),
  })
  .strict()
  .default({});

const bounces = z
  .object({
    /** What a soft bounce (mailbox full, a temporary failure given up on, a policy refusal) adds to the score. */
    soft_weight: z.number().nonnegative().default(1),
    /** What a hard bounce (no such recipient) adds. */
    hard_weight: z.number().nonnegative().default(2),
    /** At this score mail to the address stops until `users set EMAIL --reset-bounces`; 0: never stop. */
    threshold: z.number().nonnegative().default(4),
    /** A bounce after this long without one starts the score again from 0. */
    decay_after: duration.default("30d"),
  })
  .strict()
  .default({});

const attachments = z
  .object({
    max_count: z.number().int().nonnegative().default(20),
    max_total_size: size.default("20MB"),
  })
  .strict()
  .default({});

const abilities = z
  .object({
    start_direct: z.array(role).default(["member", "staff", "admin"]),
    write_to_email: z.array(role).default(["staff", "admin"]),
    invite_by_cc: z.array(role).default(["member", "staff", "admin"]),
    /** Roles that may add people to any conversation; participants may always add to their own. */
    add_participants: z.array(role).default(["staff", "admin"]),
    /** Roles that may remove people from any conversation; owners may from their own, anyone may leave. */
    remove_participants: z.array(role).default(["staff", "admin"]),
    /**
     * Who may start a conversation through which inbox: keys are group names, "*" for every
     * other inbox; values are roles, plus "staged" for people without an account.
     */
    inboxes: z
      .record(z.string().min(1), z.array(z.enum(["staged", "member", "staff", "admin"])))
      .default({ "*": ["staged", "member", "staff", "admin"] }),
  })
  .strict()
  .default({});

/** Bounds on what hostile or broken inbound mail may cost: parsing, retries, storage, guessing. */
const limits = z
  .object({
    /** MIME parts one message may have, counted on the raw bytes before parsing; more get 552 5.3.4. */
    max_mime_parts: z.number().int().positive().default(500),
    /** Header fields one message may have (all its header blocks), counted before parsing; more get 552 5.3.4. */
    max_headers: z.number().int().positive().default(1000),
    /** Bytes of one header block (a References of thousands of ids, say), checked before parsing; more get 552 5.3.4. */
    max_header_size: size.default("64KB"),
    /** 4xx answers to one message (same sender and Message-ID) before it is refused for good with 554 5.3.0. */
    max_temporary_failures: z.number().int().positive().default(5),
    /** How far back those 4xx answers count. */
    temporary_failure_window: duration.default("5d"),
    /** Body bytes kept with a refused message in the mail log, after its header block; 0 keeps no raw bytes at all. */
    refused_excerpt: z
      .union([z.number().int().nonnegative(), z.string()])
      .transform((value, ctx) => {
        const bytes = parseSize(value);
        if (bytes === undefined) {
          ctx.addIssue({ code: z.ZodIssueCode.custom, message: `"${value}" is not a size such as 16KB or 0` });
          return z.NEVER;
        }
        return bytes;
      })
      .default("16KB"),
    /** Refused RCPTs one client address may have in a sliding minute; then every RCPT gets 450 4.7.1. 0: no limit. */
    unknown_recipients_per_minute: z.number().int().nonnegative().default(30),
  })
  .strict()
  .default({});

const log = z
  .object({ level: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info") })
  .strict()
  .default({});

/** DKIM signing (SPEC §4): on when both selector and private_key are set. */
const dkim = z
  .object({
    /** The d= domain; default the gateway's primary domain. */
    domain: domainName.optional(),
    selector: z
      .string()
      .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i, "must be a DNS label such as postern2025")
      .optional(),
    /** Path to the RSA private key, PEM; read once at startup. */
    private_key: z.string().min(1).optional(),
  })
  .strict()
  .superRefine((dkim, ctx) => {
    // Signing needs both; one alone would silently send unsigned mail.
    if (dkim.selector !== undefined && dkim.private_key === undefined) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ["private_key"],
        message: "dkim.selector is set but dkim.private_key is not; set both or neither",
      });
    }
    if (dkim.private_key !== undefined && dkim.selector === undefined) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ["selector"],
        message: "dkim.private_key is set but dkim.selector is not; set both or neither",
      });
    }
  })
  .default({});

/** Sender authentication of inbound mail (SPEC §3): SPF, DKIM and DMARC. */
const auth = z
  .object({
    /** off: not computed; log: computed and recorded in the mail log; enforce: a DMARC fail is refused with 550 5.7.1. */
    mode: z.enum(["off", "log", "enforce"]).default("log"),
    /** authserv-ids of front MTAs whose topmost Authentication-Results header is believed instead of computing. */
    trusted_authserv_ids: z.array(z.string().min(1)).default([]),
    /**
     * IP addresses of front MTAs allowed to send XCLIENT/XFORWARD: behind one, every client is
     * 127.0.0.1, so SPF must see the address the front MTA passes on. Anyone else would forge it.
     */
    trusted_hosts: z.array(z.string().ip()).default([]),
    /**
     * Mail without a reply token (to conversations@, an inbox, an alias) joins a conversation through
     * In-Reply-To/References: "authenticated" only when its From domain passes DMARC aligned;
     * "participant" whenever its From is a participant's address (a Message-ID is no secret, so a forged From can post).
     */
    thread_without_token: z.enum(["authenticated", "participant"]).default("authenticated"),
  })
  .strict()
  .default({});

export const configSchema = z
  .object({
    gateway,
    smtp,
    database,
    outbound,
    staged_users: stagedUsers,
    conversations,
    consent,
    digest,
    reachability,
    bounces,
    attachments,
    abilities,
    log,
    limits,
    dkim,
    auth,
  })
  .strict()
  .superRefine((config, ctx) => {
    if (config.gateway.domain && config.gateway.domains) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ["gateway", "domains"],
        message: "set either gateway.domain or gateway.domains, not both",
      });
    }
  });

export type RawConfig = z.infer<typeof configSchema>;

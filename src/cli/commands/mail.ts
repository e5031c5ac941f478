import type { Command } from "commander";
import { refuse } from "../../errors/refusal.js";
import { findMailLogEntry, listMailLog } from "../../domain/mail-log.repo.js";
import type { MailLogEntry } from "../../domain/records.js";
import { positiveCount } from "../arguments.js";
import type { Tx } from "../../db/store.js";
import { withContext } from "../context.js";
import { iso, printJson, printTable } from "../output.js";

interface MailLogOptions {
  rejected?: boolean;
  limit: number;
  id?: number;
  raw?: boolean;
  json?: boolean;
}

/** `mail log`: the rows it prints (scripts/bench-queries.ts times it). */
export async function mailLogListed(tx: Tx, options: { readonly rejected?: boolean; readonly limit: number }) {
  return (await listMailLog(tx, { ...(options.rejected ? { outcomes: ["rejected"] } : {}), limit: options.limit })).map(rowOf);
}

export function registerMailCommands(program: Command): void {
  const mail = program.command("mail").description("inbound mail");
  mail
    .command("log")
    .description("every inbound message with its outcome and reason, newest first")
    .option("--rejected", "only refused messages")
    .option("--limit <n>", "how many", positiveCount, 100)
    .option("--id <n>", "only this entry", positiveCount)
    .option("--raw", "with --id: print the message's bytes as received (all of them for mail taken in, header block and an excerpt for refused mail)")
    .option("--json", "print JSON")
    .action((options: MailLogOptions, command: Command) =>
      withContext(command.optsWithGlobals(), async ({ read }) => {
        if (options.raw && options.id === undefined) refuse("invalid_input", "--raw shows one message: name it with --id N (the id column of postern mail log).");
        if (options.id !== undefined) return showEntry(await read(({ tx }) => findMailLogEntry(tx, options.id!)), options.id, options);
        const rows = await read(({ tx }) => mailLogListed(tx, options));
        if (options.json) printJson(rows);
        else printTable(rows, ["id", "receivedAt", "outcome", "code", "from", "to", "auth", "reason"]);
      }),
    );
}

/** `--id N`: one entry as a listing row (or its JSON object); `--raw`: the bytes the mail log kept of it. */
function showEntry(entry: MailLogEntry | undefined, id: number, options: MailLogOptions): void {
  if (!entry) return refuse("not_found", `There is no mail log entry ${id}.`);
  if (options.raw) {
    if (!entry.raw || entry.raw.length === 0) {
      refuse(
        "not_found",
        `Mail log entry ${id} (${entry.outcome}) kept no message bytes: it was refused before or while its body arrived, or repeats an earlier entry.`,
      );
    }
    // The bytes as received, not text: a message in ISO-2022-JP or with 8-bit parts must come out unchanged.
    if (!process.stdout.destroyed) process.stdout.write(entry.raw);
    return;
  }
  const row = { ...rowOf(entry), mailFrom: entry.mailFrom, size: entry.size };
  if (options.json) printJson(row);
  else printTable([row], ["id", "receivedAt", "outcome", "code", "from", "to", "auth", "size", "reason"]);
}

function rowOf(m: Omit<MailLogEntry, "raw">) {
  return {
    id: m.id,
    receivedAt: iso(m.receivedAt),
    from: m.fromAddress ?? m.mailFrom,
    to: m.rcptTo,
    messageId: m.messageId,
    outcome: m.outcome,
    reason: m.reason,
    code: m.smtpCode,
    subject: m.subject,
    conversationId: m.conversationId,
    postId: m.postId,
    // SPF/DKIM/DMARC summary (SPEC §3); null when [auth] mode is off or the message was refused before parsing.
    auth: m.authResults,
  };
}

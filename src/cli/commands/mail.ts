import type { Command } from "commander";
import { listMailLog } from "../../domain/mail-log.repo.js";
import { positiveCount } from "../arguments.js";
import { withContext } from "../context.js";
import { iso, printJson, printTable } from "../output.js";

export function registerMailCommands(program: Command): void {
  const mail = program.command("mail").description("inbound mail");
  mail
    .command("log")
    .description("every inbound message with its outcome and reason, newest first")
    .option("--rejected", "only refused messages")
    .option("--limit <n>", "how many", positiveCount, 100)
    .option("--json", "print JSON")
    .action((options: { rejected?: boolean; limit: number; json?: boolean }, command: Command) =>
      withContext(command.optsWithGlobals(), async ({ read }) => {
        const entries = await read(({ tx }) => listMailLog(tx, { ...(options.rejected ? { outcomes: ["rejected"] } : {}), limit: options.limit }));
        const rows = entries.map((m) => ({
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
        }));
        if (options.json) printJson(rows);
        else printTable(rows, ["id", "receivedAt", "outcome", "code", "from", "to", "auth", "reason"]);
      }),
    );
}

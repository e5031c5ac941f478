import { writeFileSync } from "node:fs";
import type { Command } from "commander";
import { calendarFile, listCalendar } from "../../domain/appointments.service.js";
import { withContext } from "../context.js";
import { iso, printJson, printLine, printTable } from "../output.js";

/** `postern calendar`: appointments with their RSVPs (addresses shown: the CLI is the admin's), or an .ics export of them. */
export function registerCalendarCommand(program: Command): void {
  program
    .command("calendar")
    .description("list appointments with their RSVPs, or export them as an .ics file")
    .option("--user <email>", "only the appointments of conversations this person takes part in")
    .option("--ics <file>", "write the listed appointments to FILE as one iCalendar file")
    .option("--json", "print JSON")
    .action((options: { user?: string; ics?: string; json?: boolean }, command: Command) =>
      withContext(command.optsWithGlobals(), async ({ read }) => {
        const entries = await read((ctx) => listCalendar(ctx, options.user));
        if (options.ics) {
          writeFileSync(options.ics, calendarFile(entries));
          printLine(`wrote ${entries.length} ${entries.length === 1 ? "appointment" : "appointments"} to ${options.ics}`);
          return;
        }
        const rows = entries.map(({ appointment: a, conversation, organizer, rsvps }) => ({
          conversationId: conversation.id,
          subject: conversation.subject,
          uid: a.uid,
          start: iso(a.startAt),
          end: iso(a.endAt),
          timezone: a.timezone,
          location: a.location,
          state: a.state,
          sequence: a.sequence,
          organizer: organizer?.email ?? null,
          rsvps: rsvps.map((r) => ({
            email: r.user.email,
            partstat: r.partstat,
            ...(r.counterStartAt !== null && r.counterEndAt !== null ? { proposedStart: iso(r.counterStartAt), proposedEnd: iso(r.counterEndAt) } : {}),
            ...(r.comment ? { comment: r.comment } : {}),
          })),
        }));
        if (options.json) return printJson(rows);
        printTable(
          rows.map((r) => ({ ...r, answers: r.rsvps.map((x) => `${x.email}:${x.partstat}${"proposedStart" in x ? "(proposes new time)" : ""}`) })),
          ["conversationId", "state", "start", "end", "timezone", "location", "sequence", "answers", "subject"],
        );
      }),
    );
}

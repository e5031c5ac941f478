import type { Command } from "commander";
import { actAs } from "../../domain/activity.service.js";
import { scheduleAppointment, unscheduleAppointment } from "../../domain/appointments.service.js";
import { conversationId } from "../arguments.js";
import { withContext } from "../context.js";
import { printLine } from "../output.js";

interface ScheduleOptions {
  readonly start: string;
  readonly end: string;
  readonly location?: string;
  readonly timezone?: string;
  readonly by: string;
}

/** A conversation's appointment: schedule (again, to reschedule) and unschedule; each mails every participant an iCalendar invitation. */
export function registerCalendarCommands(conversations: Command): void {
  conversations
    .command("schedule")
    .description("attach an appointment (or move it) and send every participant an iCalendar invitation; owners, staff and admins taking part")
    .argument("<id>", "conversation id", conversationId)
    .requiredOption("--start <iso>", "start, ISO 8601 (2025-03-10T14:00 is read in --timezone, else UTC; or give Z or an offset)")
    .requiredOption("--end <iso>", "end, ISO 8601, after --start")
    .option("--location <text>", "where")
    .option("--timezone <zone>", "IANA time zone of the appointment, e.g. Europe/Paris (default UTC)")
    .requiredOption("--by <email>", "the organiser, an active participant")
    .action((id: number, options: ScheduleOptions, command: Command) =>
      withContext(command.optsWithGlobals(), async ({ write }) => {
        const { appointment, rescheduled, invited } = await write(async (ctx) => {
          await actAs(ctx, options.by);
          return scheduleAppointment(ctx, id, options);
        });
        printLine(
          `${rescheduled ? "rescheduled" : "scheduled"} the appointment of conversation ${id} (UID ${appointment.uid}, SEQUENCE ${appointment.sequence}): ` +
            `${new Date(appointment.startAt).toISOString()} to ${new Date(appointment.endAt).toISOString()}; invitations queued for ${invited} ${invited === 1 ? "participant" : "participants"}`,
        );
      }),
    );

  conversations
    .command("unschedule")
    .description("cancel the conversation's appointment: every participant gets METHOD:CANCEL")
    .argument("<id>", "conversation id", conversationId)
    .requiredOption("--by <email>", "who cancels it, an owner, staff or admin taking part")
    .action((id: number, options: { by: string }, command: Command) =>
      withContext(command.optsWithGlobals(), async ({ write }) => {
        const { appointment, told } = await write(async (ctx) => {
          await actAs(ctx, options.by);
          return unscheduleAppointment(ctx, id, options.by);
        });
        printLine(`cancelled the appointment of conversation ${id} (UID ${appointment.uid}, SEQUENCE ${appointment.sequence}); cancellations queued for ${told} ${told === 1 ? "participant" : "participants"}`);
      }),
    );
}

// `postern conversations schedule|unschedule` and `postern calendar [--user] [--json] [--ics]`:
// what each prints, what each refuses (one line on stderr), and the exported .ics read back with ical.js.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import ICAL from "ical.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createConversation } from "../../src/domain/conversations.commands.js";
import { addUser } from "../../src/domain/users.service.js";
import { CLI_TIMEOUT_MS, createCliSandbox, expectRefused, type CliSandbox } from "../helpers/cli.js";

const TIMEOUT = 8 * CLI_TIMEOUT_MS;

interface CalendarRow {
  conversationId: number;
  subject: string;
  uid: string;
  start: string;
  end: string;
  timezone: string | null;
  location: string | null;
  state: string;
  sequence: number;
  rsvps: { email: string; partstat: string }[];
}

let cli: CliSandbox;
let id = 0;

beforeAll(async () => {
  cli = await createCliSandbox({ extraToml: "[consent]\nkinds = []" });
  id = await cli.write(async (ctx) => {
    await addUser(ctx, { email: "alice@home.test", name: "Alice" });
    await addUser(ctx, { email: "bob@home.test", name: "Bob" });
    await addUser(ctx, { email: "dave@home.test", name: "Dave" });
    return (await createConversation(ctx, { from: "alice@home.test", to: ["bob@home.test"], subject: "Budget", body: "Hello" })).conversation.id;
  });
}, TIMEOUT);
afterAll(() => cli.dispose());

describe("conversations schedule / unschedule and calendar", () => {
  it(
    "schedules, reschedules, lists as JSON, exports .ics, unschedules, and refuses what does not fit",
    async () => {
      const [badEnd, badZone, outsider, unknown] = await cli.runMany([
        ["conversations", "schedule", String(id), "--start", "2025-03-10T14:00", "--end", "2025-03-10T13:00", "--by", "alice@home.test"],
        ["conversations", "schedule", String(id), "--start", "2025-03-10T14:00", "--end", "2025-03-10T15:00", "--timezone", "Nowhere/Atlantis", "--by", "alice@home.test"],
        ["conversations", "schedule", String(id), "--start", "2025-03-10T14:00", "--end", "2025-03-10T15:00", "--by", "dave@home.test"],
        ["conversations", "unschedule", "999", "--by", "alice@home.test"],
      ]);
      expectRefused(badEnd, /end after it starts/);
      expectRefused(badZone, /not a time zone/);
      expectRefused(outsider, /does not take part/);
      expectRefused(unknown, /No conversation has the id 999/);

      const scheduled = await cli.ok(["conversations", "schedule", String(id), "--start", "2025-03-10T14:00", "--end", "2025-03-10T15:30", "--timezone", "Europe/Paris", "--location", "Room 4", "--by", "alice@home.test"]);
      expect(scheduled).toMatch(/^scheduled the appointment of conversation \d+ \(UID [a-z2-7]{40}@example\.test, SEQUENCE 0\): 2025-03-10T13:00:00\.000Z to 2025-03-10T14:30:00\.000Z; invitations queued for 2 participants\n$/);
      const moved = await cli.ok(["conversations", "schedule", String(id), "--start", "2025-03-11T10:00", "--end", "2025-03-11T11:00", "--timezone", "Europe/Paris", "--location", "Room 4", "--by", "alice@home.test"]);
      expect(moved).toMatch(/^rescheduled .*SEQUENCE 1\)/);

      const [row] = await cli.json<CalendarRow[]>(["calendar", "--json"]);
      expect(row).toMatchObject({
        conversationId: id,
        subject: "Budget",
        start: "2025-03-11T09:00:00.000Z",
        end: "2025-03-11T10:00:00.000Z",
        timezone: "Europe/Paris",
        location: "Room 4",
        state: "scheduled",
        sequence: 1,
      });
      expect(row!.rsvps).toEqual([
        { email: "alice@home.test", partstat: "accepted" },
        { email: "bob@home.test", partstat: "needs-action" },
      ]);
      expect(await cli.json<CalendarRow[]>(["calendar", "--user", "dave@home.test", "--json"])).toEqual([]);
      expect(await cli.json<CalendarRow[]>(["calendar", "--user", "bob@home.test", "--json"])).toHaveLength(1);

      const file = join(cli.dir, "export.ics");
      expect(await cli.ok(["calendar", "--ics", file])).toBe(`wrote 1 appointment to ${file}\n`);
      const calendar = new ICAL.Component(ICAL.parse(readFileSync(file, "utf8")));
      const vevent = calendar.getFirstSubcomponent("vevent")!;
      expect(vevent.getFirstPropertyValue("uid")).toBe(row!.uid);
      expect(vevent.getFirstPropertyValue("sequence")).toBe(1);
      expect(vevent.getFirstProperty("dtstart")?.toICALString()).toBe("DTSTART;TZID=Europe/Paris:20250311T100000");
      expect(vevent.getAllProperties("attendee").map((a) => a.getFirstValue()).sort()).toEqual(["mailto:alice@home.test", "mailto:bob@home.test"]);

      const cancelled = await cli.ok(["conversations", "unschedule", String(id), "--by", "alice@home.test"]);
      expect(cancelled).toMatch(/^cancelled the appointment of conversation \d+ .*SEQUENCE 2\); cancellations queued for 2 participants\n$/);
      const [after] = await cli.json<CalendarRow[]>(["calendar", "--json"]);
      expect(after).toMatchObject({ state: "cancelled", sequence: 2 });
      expect(await cli.ok(["calendar"])).toMatch(/cancelled/);
    },
    TIMEOUT,
  );
});

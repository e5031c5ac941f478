// Appointments' rules (src/domain/appointments.service.ts) on both engines: who may schedule, what
// is refused, what scheduling, rescheduling and cancelling queue, and how calendar answers (REPLY,
// COUNTER, another UID, an older SEQUENCE) become RSVPs and notices.

import { afterEach, describe, expect, it } from "vitest";
import { buildConfig } from "../../src/config/config.js";
import { findAppointmentOfConversation, listRsvps } from "../../src/domain/appointments.repo.js";
import { calendarFile, listCalendar, parseMoment, recordCalendarAnswer, scheduleAppointment, unscheduleAppointment } from "../../src/domain/appointments.service.js";
import { addToConversation, createConversation } from "../../src/domain/conversations.commands.js";
import type { Conversation, User } from "../../src/domain/records.js";
import { Refusal } from "../../src/errors/refusal.js";
import { createTestStore, type TestStore } from "../helpers/database.js";
import { seedUser, T0 } from "../helpers/seed.js";

const stores: TestStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((t) => t.dispose()));
});

interface World {
  readonly t: TestStore;
  readonly conversation: Conversation;
  readonly alice: User;
  readonly bob: User;
  readonly carol: User;
}

async function world(): Promise<World> {
  const t = await createTestStore(buildConfig({ gateway: { domain: "example.test", name: "Acme" }, consent: { kinds: [] } }, "test"));
  stores.push(t);
  const alice = await seedUser(t, "alice@home.test", "Alice");
  const bob = await seedUser(t, "bob@home.test", "Bob");
  const carol = await seedUser(t, "carol@home.test", "Carol");
  await seedUser(t, "dave@home.test", "Dave");
  const { conversation } = await t.write(
    (ctx) => createConversation(ctx, { from: alice.email, to: [bob.email, carol.email], subject: "Budget", body: "Hello" }),
    T0,
  );
  return { t, conversation, alice, bob, carol };
}

async function refusal(promise: Promise<unknown>): Promise<Refusal> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(Refusal);
  return error as Refusal;
}

const appointmentDeliveries = (t: TestStore) =>
  t.read(async ({ tx }) => (await tx.db.query.deliveries.findMany()).filter((d) => d.kind === "appointment"));

describe("scheduling", () => {
  it("creates the appointment with a UID at the domain, asks everyone but the organiser, and queues one copy each", async () => {
    const { t, conversation, alice } = await world();
    const { appointment, rescheduled, invited } = await t.write(
      (ctx) => scheduleAppointment(ctx, conversation.id, { start: "2025-03-10T14:00", end: "2025-03-10T15:00", timezone: "europe/paris", by: alice.email }),
      T0,
    );
    expect(rescheduled).toBe(false);
    expect(invited).toBe(3);
    expect(appointment.uid).toMatch(/^[a-z2-7]{40}@example\.test$/);
    expect(appointment).toMatchObject({ sequence: 0, state: "scheduled", timezone: "Europe/Paris", startAt: Date.UTC(2025, 2, 10, 13, 0), endAt: Date.UTC(2025, 2, 10, 14, 0) });
    const rsvps = await t.read(({ tx }) => listRsvps(tx, appointment.id));
    expect(rsvps.map((r) => [r.userId === alice.id, r.partstat]).sort()).toEqual([[false, "needs-action"], [false, "needs-action"], [true, "accepted"]]);
    expect(await appointmentDeliveries(t)).toHaveLength(3);
  });

  it("rescheduling keeps the UID, raises SEQUENCE, asks again and queues new copies; unscheduling cancels with SEQUENCE + 1", async () => {
    const { t, conversation, alice, bob } = await world();
    const first = await t.write((ctx) => scheduleAppointment(ctx, conversation.id, { start: "2025-03-10T14:00Z", end: "2025-03-10T15:00Z", by: alice.email }), T0);
    await t.write(
      (ctx) => recordCalendarAnswer(ctx, conversation, bob, { method: "REPLY", uid: first.appointment.uid, sequence: 0, partstat: "accepted" }),
      T0,
    );
    const second = await t.write((ctx) => scheduleAppointment(ctx, conversation.id, { start: "2025-03-11T14:00Z", end: "2025-03-11T15:00Z", location: "Room 2", by: alice.email }), T0);
    expect(second.rescheduled).toBe(true);
    expect(second.appointment).toMatchObject({ uid: first.appointment.uid, sequence: 1, location: "Room 2" });
    const rsvps = await t.read(({ tx }) => listRsvps(tx, first.appointment.id));
    expect(rsvps.find((r) => r.userId === bob.id)?.partstat).toBe("needs-action");
    const cancelled = await t.write((ctx) => unscheduleAppointment(ctx, conversation.id, alice.email), T0);
    expect(cancelled.appointment).toMatchObject({ uid: first.appointment.uid, sequence: 2, state: "cancelled" });
    expect(await appointmentDeliveries(t)).toHaveLength(9);
    expect((await refusal(t.write((ctx) => unscheduleAppointment(ctx, conversation.id, alice.email), T0))).reason).toBe("not_found");
  });

  it("someone added after scheduling is invited too; after cancelling, nobody is", async () => {
    const { t, conversation, alice } = await world();
    const { appointment } = await t.write((ctx) => scheduleAppointment(ctx, conversation.id, { start: "2025-03-10T14:00Z", end: "2025-03-10T15:00Z", by: alice.email }), T0);
    await t.write((ctx) => addToConversation(ctx, conversation.id, "dave@home.test", alice.email), T0);
    const dave = (await t.read(({ tx }) => listRsvps(tx, appointment.id))).find((r) => r.userId !== alice.id && r.partstat === "needs-action" && r.sequence === 0);
    expect(dave).toBeDefined();
    expect((await appointmentDeliveries(t)).map((d) => d.toAddress)).toContain("dave@home.test");
    await t.write((ctx) => unscheduleAppointment(ctx, conversation.id, alice.email), T0);
    const before = (await appointmentDeliveries(t)).length;
    await seedUser(t, "erin@home.test", "Erin");
    await t.write((ctx) => addToConversation(ctx, conversation.id, "erin@home.test", alice.email), T0);
    expect(await appointmentDeliveries(t)).toHaveLength(before);
  });

  it("refuses bad times, unknown zones, unknown conversations, outsiders and ordinary members", async () => {
    const { t, conversation, alice, bob } = await world();
    const schedule = (input: { start?: string; end?: string; timezone?: string; by?: string }, id = conversation.id) =>
      t.write((ctx) => scheduleAppointment(ctx, id, { start: input.start ?? "2025-03-10T14:00", end: input.end ?? "2025-03-10T15:00", by: input.by ?? alice.email, ...(input.timezone ? { timezone: input.timezone } : {}) }), T0);
    expect((await refusal(schedule({ end: "2025-03-10T13:00" }))).sentence).toMatch(/end after it starts/);
    expect((await refusal(schedule({ start: "next tuesday" }))).sentence).toMatch(/not an ISO 8601/);
    expect((await refusal(schedule({ start: "2025-02-30T10:00" }))).sentence).toMatch(/not an ISO 8601/);
    expect((await refusal(schedule({ timezone: "Mars/Olympus" }))).sentence).toMatch(/not a time zone/);
    expect((await refusal(schedule({}, 999))).reason).toBe("not_found");
    expect((await refusal(schedule({ by: "dave@home.test" }))).reason).toBe("not_a_participant");
    expect((await refusal(schedule({ by: bob.email }))).reason).toBe("not_allowed");
  });

  it("reads ISO times with Z, with an offset, and as the clock in the zone", () => {
    expect(parseMoment("2025-03-10T14:00Z", null, "--start")).toBe(Date.UTC(2025, 2, 10, 14));
    expect(parseMoment("2025-03-10T14:00:00+01:00", "America/New_York", "--start")).toBe(Date.UTC(2025, 2, 10, 13));
    expect(parseMoment("2025-07-01T09:00", "Europe/Paris", "--start")).toBe(Date.UTC(2025, 6, 1, 7));
    expect(parseMoment("2025-07-01 09:00", null, "--start")).toBe(Date.UTC(2025, 6, 1, 9));
  });
});

describe("calendar answers", () => {
  async function scheduled(): Promise<World & { uid: string }> {
    const w = await world();
    const { appointment } = await w.t.write((ctx) => scheduleAppointment(ctx, w.conversation.id, { start: "2025-03-10T14:00Z", end: "2025-03-10T15:00Z", by: w.alice.email }), T0);
    return { ...w, uid: appointment.uid };
  }
  const rsvpNotices = (t: TestStore) => t.read(async ({ tx }) => (await tx.db.query.notices.findMany()).filter((n) => n.kind === "rsvp"));

  it("a REPLY is recorded and tells the organiser once per change", async () => {
    const { t, conversation, bob, uid } = await scheduled();
    const answer = (partstat: "accepted" | "declined") => t.write((ctx) => recordCalendarAnswer(ctx, conversation, bob, { method: "REPLY", uid, sequence: 0, partstat }), T0);
    expect((await answer("accepted")).recorded).toBe(true);
    expect((await answer("accepted")).recorded).toBe(true);
    expect(await rsvpNotices(t)).toHaveLength(1);
    await answer("declined");
    expect(await rsvpNotices(t)).toHaveLength(2);
  });

  it("a COUNTER keeps the answer and stores the proposed time", async () => {
    const { t, conversation, carol, uid } = await scheduled();
    const result = await t.write(
      (ctx) => recordCalendarAnswer(ctx, conversation, carol, { method: "COUNTER", uid, sequence: 0, partstat: undefined, counterStartAt: Date.UTC(2025, 2, 11, 9), counterEndAt: Date.UTC(2025, 2, 11, 10), comment: "Tuesday?" }),
      T0,
    );
    expect(result.reason).toMatch(/proposes a new time/);
    const appointment = await t.read(({ tx }) => findAppointmentOfConversation(tx, conversation.id));
    const rsvp = (await t.read(({ tx }) => listRsvps(tx, appointment!.id))).find((r) => r.userId === carol.id);
    expect(rsvp).toMatchObject({ partstat: "needs-action", counterStartAt: Date.UTC(2025, 2, 11, 9), counterEndAt: Date.UTC(2025, 2, 11, 10), comment: "Tuesday?" });
    expect(await rsvpNotices(t)).toHaveLength(1);
  });

  it("another UID, an answer to an older SEQUENCE, and answers after cancelling are not recorded", async () => {
    const { t, conversation, alice, bob, uid } = await scheduled();
    const answer = (u: string, sequence: number) => t.write((ctx) => recordCalendarAnswer(ctx, conversation, bob, { method: "REPLY", uid: u, sequence, partstat: "accepted" }), T0);
    expect(await answer("other@example.test", 0)).toMatchObject({ recorded: false, reason: expect.stringMatching(/UID other@example\.test/) });
    await t.write((ctx) => scheduleAppointment(ctx, conversation.id, { start: "2025-03-12T14:00Z", end: "2025-03-12T15:00Z", by: alice.email }), T0);
    expect(await answer(uid, 0)).toMatchObject({ recorded: false, reason: expect.stringMatching(/SEQUENCE 0.*SEQUENCE 1/) });
    expect((await answer(uid, 1)).recorded).toBe(true);
    await t.write((ctx) => unscheduleAppointment(ctx, conversation.id, alice.email), T0);
    expect(await answer(uid, 2)).toMatchObject({ recorded: false, reason: expect.stringMatching(/cancelled/) });
  });
});

describe("the calendar listing", () => {
  it("lists appointments with RSVPs, per user, and exports them as one VCALENDAR", async () => {
    const { t, conversation, alice } = await world();
    await t.write((ctx) => scheduleAppointment(ctx, conversation.id, { start: "2025-03-10T14:00Z", end: "2025-03-10T15:00Z", by: alice.email }), T0);
    const all = await t.read((ctx) => listCalendar(ctx));
    expect(all).toHaveLength(1);
    expect(all[0]!.rsvps.map((r) => `${r.user.email}:${r.partstat}`).sort()).toEqual(["alice@home.test:accepted", "bob@home.test:needs-action", "carol@home.test:needs-action"]);
    expect(await t.read((ctx) => listCalendar(ctx, "dave@home.test"))).toHaveLength(0);
    expect(await t.read((ctx) => listCalendar(ctx, "bob@home.test"))).toHaveLength(1);
    const ics = calendarFile(all);
    expect(ics).toMatch(/^BEGIN:VCALENDAR\r\n/);
    expect(ics).toContain(`UID:${all[0]!.appointment.uid}`);
    expect(ics).toContain("ATTENDEE;CN=\"Bob\"");
  });
});

import { and, asc, eq, gt, sql } from "drizzle-orm";
import { setParam, type Db, type Tables, type Tx } from "../db/store.js";
import type { Appointment, AppointmentState, Partstat, Rsvp } from "./records.js";

/**
 * Appointments' and RSVPs' queries. One appointment per conversation (UNIQUE conversation_id), one
 * answer per participant (primary key): two nodes scheduling at once cannot make two.
 */

export type NewAppointment = Omit<Appointment, "id">;

const p = sql.placeholder;

const insertAppointmentQuery = (db: Db, t: Tables) =>
  db
    .insert(t.appointments)
    .values({
      conversationId: p("conversationId"),
      uid: p("uid"),
      organizerId: p("organizerId"),
      startAt: p("startAt"),
      endAt: p("endAt"),
      timezone: p("timezone"),
      location: p("location"),
      sequence: p("sequence"),
      state: p("state"),
      createdAt: p("createdAt"),
      updatedAt: p("updatedAt"),
    })
    .returning();
const byConversation = (db: Db, t: Tables) => db.select().from(t.appointments).where(eq(t.appointments.conversationId, p("conversationId")));
const byId = (db: Db, t: Tables) => db.select().from(t.appointments).where(eq(t.appointments.id, p("id")));
const all = (db: Db, t: Tables) => db.select().from(t.appointments).orderBy(asc(t.appointments.startAt), asc(t.appointments.id));
// Conditional on the sequence read: of two changes at once, the second finds it moved and fails.
const revise = (db: Db, t: Tables) =>
  db
    .update(t.appointments)
    .set({
      organizerId: setParam("organizerId"),
      startAt: setParam("startAt"),
      endAt: setParam("endAt"),
      timezone: setParam("timezone"),
      location: setParam("location"),
      state: setParam("state"),
      sequence: sql`${t.appointments.sequence} + 1`,
      updatedAt: setParam("now"),
    })
    .where(and(eq(t.appointments.id, p("id")), eq(t.appointments.sequence, p("sequence"))))
    .returning();
const rsvpsOf = (db: Db, t: Tables) => db.select().from(t.rsvps).where(eq(t.rsvps.appointmentId, p("appointmentId"))).orderBy(asc(t.rsvps.userId));
const rsvpOf = (db: Db, t: Tables) =>
  db.select().from(t.rsvps).where(and(eq(t.rsvps.appointmentId, p("appointmentId")), eq(t.rsvps.userId, p("userId"))));
const insertRsvpQuery = (db: Db, t: Tables) =>
  db
    .insert(t.rsvps)
    .values({
      appointmentId: p("appointmentId"),
      userId: p("userId"),
      partstat: p("partstat"),
      counterStartAt: p("counterStartAt"),
      counterEndAt: p("counterEndAt"),
      comment: p("comment"),
      sequence: p("sequence"),
      updatedAt: p("updatedAt"),
    })
    .returning();
const updateRsvpQuery = (db: Db, t: Tables) =>
  db
    .update(t.rsvps)
    .set({
      partstat: setParam("partstat"),
      counterStartAt: setParam("counterStartAt"),
      counterEndAt: setParam("counterEndAt"),
      comment: setParam("comment"),
      sequence: setParam("sequence"),
      updatedAt: setParam("updatedAt"),
    })
    .where(and(eq(t.rsvps.appointmentId, p("appointmentId")), eq(t.rsvps.userId, p("userId"))))
    .returning();
// A newer appointment mail to the same person supersedes this one: only the latest goes out.
const newerDelivery = (db: Db, t: Tables) =>
  db
    .select({ id: t.deliveries.id })
    .from(t.deliveries)
    .where(
      and(
        eq(t.deliveries.kind, "appointment"),
        eq(t.deliveries.appointmentId, p("appointmentId")),
        eq(t.deliveries.recipientId, p("recipientId")),
        gt(t.deliveries.id, p("id")),
      ),
    )
    .limit(1);

export async function insertAppointment(tx: Tx, values: NewAppointment): Promise<Appointment> {
  const row = await tx.one(insertAppointmentQuery, values);
  if (!row) throw new Error("appointment was not inserted");
  return row;
}

export async function findAppointmentOfConversation(tx: Tx, conversationId: number): Promise<Appointment | undefined> {
  return tx.one(byConversation, { conversationId });
}

export async function findAppointment(tx: Tx, id: number): Promise<Appointment | undefined> {
  return tx.one(byId, { id });
}

export async function listAppointments(tx: Tx): Promise<Appointment[]> {
  return tx.all(all, {});
}

export interface AppointmentChange {
  readonly organizerId: number;
  readonly startAt: number;
  readonly endAt: number;
  readonly timezone: string | null;
  readonly location: string | null;
  readonly state: AppointmentState;
}

/** A new version (SEQUENCE + 1); undefined when someone else changed it since `sequence` was read. */
export async function reviseAppointment(tx: Tx, current: Appointment, change: AppointmentChange, now: number): Promise<Appointment | undefined> {
  return tx.one(revise, { id: current.id, sequence: current.sequence, ...change, now });
}

export async function listRsvps(tx: Tx, appointmentId: number): Promise<Rsvp[]> {
  return tx.all(rsvpsOf, { appointmentId });
}

export async function findRsvp(tx: Tx, appointmentId: number, userId: number): Promise<Rsvp | undefined> {
  return tx.one(rsvpOf, { appointmentId, userId });
}

export interface RsvpAnswer {
  readonly partstat: Partstat;
  readonly counterStartAt: number | null;
  readonly counterEndAt: number | null;
  readonly comment: string | null;
  readonly sequence: number;
}

/** Records a participant's answer, replacing the one before (callers hold the conversation's lock). */
export async function saveRsvp(tx: Tx, appointmentId: number, userId: number, answer: RsvpAnswer, now: number): Promise<Rsvp> {
  const values = { appointmentId, userId, ...answer, updatedAt: now };
  const updated = await tx.one(updateRsvpQuery, values);
  if (updated) return updated;
  const inserted = await tx.one(insertRsvpQuery, values);
  if (!inserted) throw new Error("rsvp was not inserted");
  return inserted;
}

export async function hasNewerAppointmentDelivery(tx: Tx, deliveryId: number, appointmentId: number, recipientId: number): Promise<boolean> {
  return (await tx.one(newerDelivery, { id: deliveryId, appointmentId, recipientId })) !== undefined;
}

// What a person reads of an appointment without a calendar (appointmentText), and the organiser's
// `rsvp` notice for an answer and for a proposed new time (noticeBody).

import { describe, expect, it } from "vitest";
import type { Appointment } from "../../src/domain/records.js";
import { noticeBody } from "../../src/outbound/notice-body.js";
import { appointmentText } from "../../src/outbound/render-appointment.js";

const appointment: Appointment = {
  id: 1, conversationId: 1, uid: "u@example.test", organizerId: 1,
  startAt: Date.UTC(2025, 2, 10, 13), endAt: Date.UTC(2025, 2, 10, 14, 30),
  timezone: "Europe/Paris", location: "Room 4", sequence: 0, state: "scheduled", createdAt: 0, updatedAt: 0,
};

describe("appointmentText", () => {
  it("says what, when in the appointment's zone, where and how to answer", () => {
    const text = appointmentText({ appointment, subject: "Budget", organizer: "Alice", replyAddress: "reply+t@example.test", cancelled: false });
    expect(text).toContain('Alice scheduled the appointment "Budget".');
    expect(text).toContain("When: Monday, 10 March 2025 at 14:00 to Monday, 10 March 2025 at 15:30 (Europe/Paris)");
    expect(text).toContain("Where: Room 4");
    expect(text).toContain("Accept, Tentative or Decline");
    expect(text).toContain("reply to reply+t@example.test");
  });

  it("says moved for a reschedule and cancelled for a cancellation", () => {
    expect(appointmentText({ appointment: { ...appointment, sequence: 1 }, subject: "Budget", organizer: "Alice", replyAddress: "r@x", cancelled: false })).toContain("Alice moved the appointment");
    expect(appointmentText({ appointment, subject: "Budget", organizer: "Alice", replyAddress: "r@x", cancelled: true })).toContain('Alice cancelled the appointment "Budget" that was set for');
  });
});

describe("the rsvp notice", () => {
  const base = { kind: "rsvp" as const, subject: "Budget", via: "Acme", about: "Carol", by: null };
  it("tells the organiser the answer", () => {
    expect(noticeBody({ ...base, rsvp: { answer: "accepted", when: "Monday" } }).text).toContain('Carol accepted "Budget" on Monday.');
    expect(noticeBody({ ...base, rsvp: { answer: "tentative", when: "Monday" } }).text).toContain('Carol tentatively accepted "Budget" on Monday.');
  });

  it("shows a proposed new time and the comment", () => {
    const text = noticeBody({ ...base, rsvp: { answer: "needs-action", when: "Monday", proposed: "Tuesday", comment: "Mornings\nare better" } }).text;
    expect(text).toContain('Carol proposes a new time for "Budget": Tuesday, instead of Monday.');
    expect(text).toContain("Their comment: Mornings are better");
  });
});

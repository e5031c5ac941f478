import { addGroup, addGroupMember } from "../../src/domain/groups.service.js";
import { addUser } from "../../src/domain/users.service.js";
import { startTestGateway, type TestGateway } from "./gateway.js";
import type { SinkMessage } from "./smtp-sink.js";

/**
 * A support desk over real SMTP: the group "support" (support@example.test) with two members,
 * Alice and Bob (staff), and Carol, the outside person who writes to it.
 */
export const ALICE = "alice@team.test";
export const BOB = "bob@team.test";
export const CAROL = "carol@customer.test";
export const SUPPORT = "support@example.test";

export async function startDesk(overrides: Parameters<typeof startTestGateway>[0] = {}): Promise<TestGateway> {
  const t = await startTestGateway(overrides);
  await t.write(async (ctx) => {
    await addUser(ctx, { email: ALICE, name: "Alice Agent", role: "staff" });
    await addUser(ctx, { email: BOB, name: "Bob Agent", role: "staff" });
    await addGroup(ctx, { name: "support", inbox: SUPPORT });
    await addGroupMember(ctx, "support", ALICE);
    await addGroupMember(ctx, "support", BOB);
  });
  return t;
}

/** The one message in `messages` sent to `address`; fails when there is none or more. */
export function copyFor(messages: readonly SinkMessage[], address: string): SinkMessage {
  const found = messages.filter((m) => m.envelope.rcptTo.includes(address));
  if (found.length !== 1) throw new Error(`expected one message to ${address}, found ${found.length}`);
  return found[0]!;
}

export function replyToOf(message: SinkMessage): string {
  const address = message.parsed.replyTo?.value[0]?.address;
  if (!address) throw new Error("the message has no Reply-To");
  return address;
}

/** The gateway address of this kind (note, private, reply, leave) the copy's text names, if any. */
export function addressIn(message: SinkMessage, kind: string): string | undefined {
  return new RegExp(`\\b${kind}\\+[a-z2-7]+@example\\.test`).exec(message.parsed.text ?? "")?.[0];
}

/** Carol writes to the desk; resolves with the two members' copies once they arrived. */
export async function carolWrites(t: TestGateway, subject = "My order has not arrived", text = "Order 1234 is late."): Promise<{ alice: SinkMessage; bob: SinkMessage }> {
  const before = t.sink.messages.length;
  await t.send({ from: `"Carol Customer" <${CAROL}>`, to: SUPPORT, subject, text });
  const copies = (await t.sink.waitFor(before + 2)).slice(before);
  return { alice: copyFor(copies, ALICE), bob: copyFor(copies, BOB) };
}

/** Waits for `count` more messages after the first `before`, and answers only those. */
export async function nextMessages(t: TestGateway, before: number, count: number): Promise<SinkMessage[]> {
  return (await t.sink.waitFor(before + count)).slice(before);
}

/** Gives the delivery worker time to send anything it would still send (for "nobody else got it"). */
export async function settle(t: TestGateway, expected: number): Promise<SinkMessage[]> {
  await t.sink.waitFor(expected);
  await new Promise((resolve) => setTimeout(resolve, 600));
  return [...t.sink.messages];
}

// `postern conversations accept|decline ID --as EMAIL` (SPEC §5, §7): answering an invitation from
// the command line, with a one-line refusal for every answer that cannot be given.

import type { QueueEntry as QueueRow } from "../../src/domain/deliveries.repo.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI_TIMEOUT_MS, createCliSandbox, expectRefused, type CliSandbox } from "../helpers/cli.js";

const TIMEOUT = 12 * CLI_TIMEOUT_MS;

interface ConversationView {
  state: string;
  participants: { email: string; state: string }[];
}

let cli: CliSandbox;

beforeAll(async () => {
  cli = await createCliSandbox();
  await cli.runMany([
    ["users", "add", "alice@example.test", "--name", "Alice"],
    ["users", "add", "bob@example.test", "--name", "Bob"],
    ["users", "add", "carol@example.test"],
  ]);
}, TIMEOUT);
afterAll(() => cli?.dispose());

async function create(subject: string): Promise<string> {
  const stdout = await cli.ok(["conversations", "create", "--from", "alice@example.test", "--to", "bob@example.test", "--subject", subject, "--body", "Hello Bob."]);
  const id = /conversation (\d+)/.exec(stdout)?.[1];
  expect(id, stdout).toBeDefined();
  return id!;
}

const show = (id: string) => cli.json<ConversationView>(["conversations", "show", id, "--json"]);

describe("postern conversations accept", () => {
  it("accepts an invitation: the conversation opens, and the initiator is told", { timeout: TIMEOUT }, async () => {
    const id = await create("Lunch");
    expect(await show(id)).toMatchObject({ state: "pending", participants: [{ email: "alice@example.test", state: "active" }, { email: "bob@example.test", state: "invited" }] });
    const queued = await cli.json<QueueRow[]>(["queue", "list", "--json"]);
    // Only the invitation: the first message reaches Bob inside it.
    expect(queued.map((row) => row.to)).toEqual(["bob@example.test"]);

    expect(await cli.ok(["conversations", "accept", id, "--as", "BOB@example.test"])).toBe(
      `bob@example.test accepted the invitation to conversation ${id}; 0 held posts queued for them\n`,
    );
    expect(await show(id)).toMatchObject({ state: "open", participants: [{ state: "active" }, { state: "active" }] });
    expect((await cli.json<QueueRow[]>(["queue", "list", "--json"])).map((row) => row.to).sort()).toEqual(["alice@example.test", "bob@example.test"]);
  });

  it("refuses, one line each: already answered, not invited, unknown id, unknown person", { timeout: TIMEOUT }, async () => {
    const id = (await cli.json<{ id: number }[]>(["conversations", "list", "--json"]))[0]!.id.toString();
    const [again, notInvited, unknownId, unknownUser, badId] = await cli.runMany([
      ["conversations", "accept", id, "--as", "bob@example.test"],
      ["conversations", "accept", id, "--as", "carol@example.test"],
      ["conversations", "decline", "999", "--as", "bob@example.test"],
      ["conversations", "accept", id, "--as", "nobody@example.test"],
      ["conversations", "accept", "first", "--as", "bob@example.test"],
    ]);
    expectRefused(again, /bob@example\.test already accepted the invitation to conversation \d+ \("Lunch"\)\.$/);
    expectRefused(notInvited, /carol@example\.test was not invited to conversation \d+\.$/);
    expectRefused(unknownId, /No conversation has the id 999\./);
    expectRefused(unknownUser, /nobody@example\.test/);
    expectRefused(badId, /whole number/);
  });
});

describe("postern conversations decline", () => {
  it("declines: the conversation is declined, the initiator is told, and it cannot be answered again", { timeout: TIMEOUT }, async () => {
    const id = await create("Dinner");
    const before = await cli.json<QueueRow[]>(["queue", "list", "--json"]);
    expect(await cli.ok(["conversations", "decline", id, "--as", "bob@example.test"])).toBe(
      `bob@example.test declined the invitation to conversation ${id}; the conversation is declined\n`,
    );
    expect((await show(id)).state).toBe("declined");
    const after = await cli.json<QueueRow[]>(["queue", "list", "--json"]);
    expect(after.length - before.length).toBe(1);
    expect(after.filter((row) => !before.some((b) => b.id === row.id)).map((row) => row.to)).toEqual(["alice@example.test"]);

    const [declineAgain, acceptLate] = await cli.runMany([
      ["conversations", "decline", id, "--as", "bob@example.test"],
      ["conversations", "accept", id, "--as", "bob@example.test"],
    ]);
    expectRefused(declineAgain, /was declined already/);
    expectRefused(acceptLate, /was declined already/);
  });
});

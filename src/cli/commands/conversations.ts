import { InvalidArgumentError, Option, type Command } from "commander";
import {
  addToConversation, assignConversation, createConversation, removeFromConversation,
} from "../../domain/conversations.commands.js";
import { listConversationSummaries, participantsWithUsers } from "../../domain/conversations.repo.js";
import { requireConversation } from "../../domain/conversations.service.js";
import { listPosts } from "../../domain/posts.repo.js";
import { findUserById } from "../../domain/users.repo.js";
import { requireUser } from "../../domain/users.service.js";
import { withContext } from "../context.js";
import { iso, printJson, printLine, printTable } from "../output.js";

function conversationId(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError("a conversation id is a whole number.");
  return Number(value);
}

const collect = (value: string, previous: string[] = []) => [...previous, ...value.split(",").map((v) => v.trim()).filter(Boolean)];

export function registerConversationCommands(program: Command): void {
  const conversations = program.command("conversations").alias("threads").description("conversations");

  conversations
    .command("list")
    .description("list conversations (metadata only)")
    .option("--user <email>", "only conversations this user takes or took part in")
    .option("--json", "print JSON")
    .action((options: { user?: string; json?: boolean }, command: Command) =>
      withContext(command.optsWithGlobals(), async ({ read }) => {
        const summaries = await read(async ({ tx }) => {
          const userId = options.user ? (await requireUser(tx, options.user)).id : undefined;
          return listConversationSummaries(tx, userId);
        });
        const rows = summaries.map(({ conversation: c, participants, posts }) => ({
          id: c.id,
          subject: c.subject,
          kind: c.kind,
          state: c.state,
          participants,
          posts,
          updatedAt: iso(c.updatedAt),
        }));
        if (options.json) printJson(rows);
        else printTable(rows, ["id", "kind", "state", "participants", "posts", "subject"]);
      }),
    );

  conversations
    .command("show")
    .description("show a conversation; message bodies only with --bodies")
    .argument("<id>", "conversation id", conversationId)
    .option("--bodies", "include the text of each post (messages are private: ask for them explicitly)")
    .option("--json", "print JSON")
    .action((id: number, options: { bodies?: boolean; json?: boolean }, command: Command) =>
      withContext(command.optsWithGlobals(), async ({ read }) => {
        const view = await read(async ({ tx }) => {
          const c = await requireConversation(tx, id);
          const participants = await participantsWithUsers(tx, id);
          const emails = new Map(participants.map(({ user }) => [user.id, user.email]));
          const emailOf = async (userId: number | null) =>
            userId === null ? null : emails.get(userId) ?? (await findUserById(tx, userId))?.email ?? null;
          const posts = [];
          for (const p of await listPosts(tx, id)) {
            posts.push({ id: p.id, author: await emailOf(p.authorId), createdAt: iso(p.createdAt), ...(options.bodies ? { body: p.body } : {}) });
          }
          return {
            id: c.id,
            subject: c.subject,
            kind: c.kind,
            state: c.state,
            replies: c.replies,
            assignee: await emailOf(c.assigneeId),
            participants: participants.map(({ participant, user }) => ({ email: user.email, role: participant.role, state: participant.state })),
            posts,
          };
        });
        if (options.json) return printJson(view);
        printLine(`conversation ${view.id}: ${view.subject}`);
        printLine(`kind ${view.kind}, state ${view.state}, replies ${view.replies}${view.assignee ? `, assigned to ${view.assignee}` : ""}`);
        printLine("participants:");
        for (const p of view.participants) printLine(`  ${p.email} (${p.role}, ${p.state})`);
        printLine("posts:");
        for (const p of view.posts) {
          printLine(`  #${p.id} ${p.createdAt} ${p.author}`);
          if ("body" in p) for (const line of String(p.body).split("\n")) printLine(`    ${line}`);
        }
      }),
    );

  conversations
    .command("create")
    .description("start a conversation; unknown recipients become staged users")
    .requiredOption("--from <email>", "the author, an active member")
    .requiredOption("--to <email...>", "recipients (repeat, or separate with commas)", collect)
    .requiredOption("--subject <subject>", "subject")
    .requiredOption("--body <text>", "the first message")
    .addOption(new Option("--replies <policy>", "all: every post to everyone; owners: replies reach only the owners").choices(["all", "owners"]).default("all"))
    .action((options: { from: string; to: string[]; subject: string; body: string; replies: "all" | "owners" }, command: Command) =>
      withContext(command.optsWithGlobals(), async ({ write }) => {
        const { conversation, post } = await write((ctx) =>
          createConversation(ctx, { from: options.from, to: options.to, subject: options.subject, body: options.body, replies: options.replies }),
        );
        printLine(`created conversation ${conversation.id} (${conversation.kind}) with post ${post.id}`);
      }),
    );

  conversations
    .command("add")
    .description("add a participant")
    .argument("<id>", "conversation id", conversationId)
    .argument("<email>")
    .requiredOption("--by <email>", "who adds them")
    .action((id: number, email: string, options: { by: string }, command: Command) =>
      withContext(command.optsWithGlobals(), async ({ write }) => {
        const user = await write((ctx) => addToConversation(ctx, id, email, options.by));
        printLine(`${user.email} added to conversation ${id}`);
      }),
    );

  conversations
    .command("remove")
    .description("remove a participant (owners and staff), or leave (yourself)")
    .argument("<id>", "conversation id", conversationId)
    .argument("<email>")
    .requiredOption("--by <email>", "who removes them")
    .action((id: number, email: string, options: { by: string }, command: Command) =>
      withContext(command.optsWithGlobals(), async ({ write }) => {
        await write((ctx) => removeFromConversation(ctx, id, email, options.by));
        printLine(`${email} no longer takes part in conversation ${id}`);
      }),
    );

  conversations
    .command("assign")
    .description("assign an inbox conversation to a member of its group")
    .argument("<id>", "conversation id", conversationId)
    .argument("<email>")
    .action((id: number, email: string, _options, command: Command) =>
      withContext(command.optsWithGlobals(), async ({ write }) => {
        const user = await write((ctx) => assignConversation(ctx, id, email));
        printLine(`conversation ${id} assigned to ${user.email}`);
      }),
    );
}

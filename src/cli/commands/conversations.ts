import { InvalidArgumentError, Option, type Command } from "commander";
import {
  addToConversation, assignConversation, createConversation, removeFromConversation,
} from "../../domain/conversations.commands.js";
import { listConversationSummaries, listPosts, participantsWithUsers } from "../../domain/conversations.repo.js";
import { requireConversation } from "../../domain/conversations.service.js";
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
      withContext(command.optsWithGlobals(), ({ database }) => {
        const userId = options.user ? requireUser(database.db, options.user).id : undefined;
        const rows = listConversationSummaries(database.db, userId).map(({ conversation: c, participants, posts }) => ({
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
      withContext(command.optsWithGlobals(), ({ database }) => {
        const db = database.db;
        const c = requireConversation(db, id);
        const emailOf = (userId: number | null) => (userId ? findUserById(db, userId)?.email ?? null : null);
        const view = {
          id: c.id,
          subject: c.subject,
          kind: c.kind,
          state: c.state,
          replies: c.replies,
          assignee: emailOf(c.assigneeId),
          participants: participantsWithUsers(db, id).map(({ participant, user }) => ({
            email: user.email,
            role: participant.role,
            state: participant.state,
          })),
          posts: listPosts(db, id).map((p) => ({
            id: p.id,
            author: emailOf(p.authorId),
            createdAt: iso(p.createdAt),
            ...(options.bodies ? { body: p.body } : {}),
          })),
        };
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
      withContext(command.optsWithGlobals(), ({ write }) => {
        const { conversation, post } = write((ctx) =>
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
      withContext(command.optsWithGlobals(), ({ write }) => {
        const user = write((ctx) => addToConversation(ctx, id, email, options.by));
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
      withContext(command.optsWithGlobals(), ({ write }) => {
        write((ctx) => removeFromConversation(ctx, id, email, options.by));
        printLine(`${email} no longer takes part in conversation ${id}`);
      }),
    );

  conversations
    .command("assign")
    .description("assign an inbox conversation to a member of its group")
    .argument("<id>", "conversation id", conversationId)
    .argument("<email>")
    .action((id: number, email: string, _options, command: Command) =>
      withContext(command.optsWithGlobals(), ({ write }) => {
        const user = write((ctx) => assignConversation(ctx, id, email));
        printLine(`conversation ${id} assigned to ${user.email}`);
      }),
    );
}

import { Option, type Command } from "commander";
import {
  addToConversation, assignConversation, createConversation, removeFromConversation,
} from "../../domain/conversations.commands.js";
import { actAs } from "../../domain/activity.service.js";
import type { History } from "../../domain/membership.service.js";
import { conversationId } from "../arguments.js";
import { withContext } from "../context.js";
import { registerCalendarCommands } from "./conversations-calendar.js";
import { registerDraftCommands } from "./conversations-drafts.js";
import { registerViewCommands } from "./conversations-views.js";
import { registerConsentCommands } from "./conversations-consent.js";
import { historyOption, registerMembershipCommands } from "./conversations-membership.js";
import { normalizeEmail } from "../../domain/addresses.js";
import { printLine } from "../output.js";

const collect = (value: string, previous: string[] = []) => [...previous, ...value.split(",").map((v) => v.trim()).filter(Boolean)];

export function registerConversationCommands(program: Command): void {
  const conversations = program.command("conversations").alias("threads").description("conversations");

  registerViewCommands(conversations);
  registerDraftCommands(conversations);

  conversations
    .command("create")
    .description("start a conversation; unknown recipients become staged users")
    .requiredOption("--from <email>", "the author, an active member")
    .requiredOption("--to <email...>", "recipients (repeat, or separate with commas)", collect)
    .requiredOption("--subject <subject>", "subject")
    .requiredOption("--body <text>", "the first message")
    .addOption(new Option("--replies <policy>", "all: every post to everyone; owners: replies reach only the owners").choices(["all", "owners"]).default("all"))
    .option("--draft", "keep it a draft: only its author sees it and nothing is sent until `conversations send ID`")
    .action((options: { from: string; to: string[]; subject: string; body: string; replies: "all" | "owners"; draft?: boolean }, command: Command) =>
      withContext(command.optsWithGlobals(), async ({ write }) => {
        const { conversation, post } = await write(async (ctx) => {
          await actAs(ctx, options.from);
          const { from, to, subject, body, replies } = options;
          return createConversation(ctx, { from, to, subject, body, replies, ...(options.draft ? { draft: true } : {}) });
        });
        if (conversation.state === "draft") printLine(`created draft conversation ${conversation.id} (${conversation.kind}) with post ${post.id}; nothing is sent until "postern conversations send ${conversation.id}"`);
        else if (conversation.state === "pending") printLine(`created conversation ${conversation.id} (${conversation.kind}) with post ${post.id}; it is pending until the invitation is accepted`);
        else printLine(`created conversation ${conversation.id} (${conversation.kind}) with post ${post.id}`);
      }),
    );

  conversations
    .command("add")
    .description("add a participant")
    .argument("<id>", "conversation id", conversationId)
    .argument("<email>")
    .requiredOption("--by <email>", "who adds them")
    .option("--history <all|none|N>", "what they receive of the conversation so far (default: conversations.history)", historyOption)
    .action((id: number, email: string, options: { by: string; history?: History }, command: Command) =>
      withContext(command.optsWithGlobals(), async ({ write }) => {
        const user = await write((ctx) => addToConversation(ctx, id, email, options.by, options.history));
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
        const departed = await write((ctx) => removeFromConversation(ctx, id, email, options.by));
        printLine(`${normalizeEmail(email)} ${departed.state === "left" ? "left" : "was removed from"} conversation ${id}`);
      }),
    );
  registerMembershipCommands(conversations);
  registerConsentCommands(conversations);
  registerCalendarCommands(conversations);

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

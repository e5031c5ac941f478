import type { Command } from "commander";
import { acceptAs, declineAs } from "../../domain/consent.service.js";
import { conversationId } from "../arguments.js";
import { withContext } from "../context.js";
import { printLine } from "../output.js";

/** Answering an invitation from the CLI (SPEC §5), as accept+TOKEN@ and decline+TOKEN@ do by email. */
export function registerConsentCommands(conversations: Command): void {
  conversations
    .command("accept")
    .description("accept an invitation: the conversation opens and what was written so far is delivered")
    .argument("<id>", "conversation id", conversationId)
    .requiredOption("--as <email>", "the invited person")
    .action((id: number, options: { as: string }, command: Command) =>
      withContext(command.optsWithGlobals(), async ({ write }) => {
        const { user, delivered } = await write((ctx) => acceptAs(ctx, id, options.as));
        printLine(`${user.email} accepted the invitation to conversation ${id}; ${delivered} held ${delivered === 1 ? "post" : "posts"} queued for them`);
      }),
    );

  conversations
    .command("decline")
    .description("decline an invitation: the person who wrote is told, and nothing they wrote is delivered")
    .argument("<id>", "conversation id", conversationId)
    .requiredOption("--as <email>", "the invited person")
    .action((id: number, options: { as: string }, command: Command) =>
      withContext(command.optsWithGlobals(), async ({ write }) => {
        const { user, conversation } = await write((ctx) => declineAs(ctx, id, options.as));
        printLine(`${user.email} declined the invitation to conversation ${id}${conversation.state === "declined" ? "; the conversation is declined" : ""}`);
      }),
    );
}

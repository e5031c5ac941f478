import type { Command } from "commander";
import { actAs } from "../../domain/activity.service.js";
import { editDraft, sendDraft } from "../../domain/drafts.service.js";
import { conversationId } from "../arguments.js";
import { withContext } from "../context.js";
import { printLine } from "../output.js";

/**
 * Drafts (SPEC §5): `conversations create --draft` writes one, `edit` changes it, `send` launches
 * it. With --as, only the draft's author may, and it counts as their activity; without, it is an
 * admin's command.
 */
export function registerDraftCommands(conversations: Command): void {
  conversations
    .command("edit")
    .description("change a draft's subject or text (a sent conversation never changes)")
    .argument("<id>", "conversation id", conversationId)
    .option("--subject <subject>", "new subject")
    .option("--body <text>", "new text of the first message")
    .option("--as <email>", "the draft's author (anyone else is told there is no such conversation)")
    .action((id: number, options: { subject?: string; body?: string; as?: string }, command: Command) =>
      withContext(command.optsWithGlobals(), async ({ write }) => {
        const { conversation } = await write(async (ctx) => {
          const author = options.as === undefined ? undefined : await actAs(ctx, options.as);
          const edit = { ...(options.subject === undefined ? {} : { subject: options.subject }), ...(options.body === undefined ? {} : { body: options.body }) };
          return editDraft(ctx, id, edit, author);
        });
        printLine(`draft ${conversation.id} updated: ${conversation.subject}`);
      }),
    );

  conversations
    .command("send")
    .description("send a draft: its recipients get it (or an invitation, where consent is required)")
    .argument("<id>", "conversation id", conversationId)
    .option("--as <email>", "the draft's author")
    .action((id: number, options: { as?: string }, command: Command) =>
      withContext(command.optsWithGlobals(), async ({ write }) => {
        const { conversation } = await write(async (ctx) => sendDraft(ctx, id, options.as === undefined ? undefined : await actAs(ctx, options.as)));
        printLine(`sent conversation ${conversation.id}; it is now ${conversation.state}`);
      }),
    );
}

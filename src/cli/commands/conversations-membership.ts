import { InvalidArgumentError, type Command } from "commander";
import { normalizeEmail } from "../../domain/addresses.js";
import { leaveFromCli } from "../../domain/conversations.commands.js";
import type { History } from "../../domain/membership.service.js";
import { conversationId } from "../arguments.js";
import { withContext } from "../context.js";
import { printLine } from "../output.js";

/** `--history all|none|N`: what someone added later receives of the conversation so far. */
export function historyOption(value: string): History {
  if (value === "all" || value === "none") return value;
  if (/^[1-9]\d{0,5}$/.test(value)) return Number(value);
  throw new InvalidArgumentError('give "all", "none", or a number of posts such as 5.');
}

/** Taking part, from the CLI: leaving (adding and removing sit with the other conversation commands). */
export function registerMembershipCommands(conversations: Command): void {
  conversations
    .command("leave")
    .description("stop taking part in a conversation")
    .argument("<id>", "conversation id", conversationId)
    .requiredOption("--as <email>", "who leaves")
    .action((id: number, options: { as: string }, command: Command) =>
      withContext(command.optsWithGlobals(), async ({ write }) => {
        await write((ctx) => leaveFromCli(ctx, id, options.as));
        printLine(`${normalizeEmail(options.as)} left conversation ${id}`);
      }),
    );
}

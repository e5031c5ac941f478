import { Command, CommanderError } from "commander";
import { ConfigError } from "../config/config.js";
import { Refusal } from "../errors/refusal.js";
import { registerCalendarCommand } from "./commands/calendar.js";
import { registerConfigCommands } from "./commands/config.js";
import { registerConversationCommands } from "./commands/conversations.js";
import { registerDbCommands } from "./commands/db.js";
import { registerGroupCommands } from "./commands/groups.js";
import { registerMailCommands } from "./commands/mail.js";
import { registerQueueCommands } from "./commands/queue.js";
import { registerServeCommand } from "./commands/serve.js";
import { registerUserCommands } from "./commands/users.js";
import { exitQuietlyWhenOutputCloses } from "./output.js";

export function buildProgram(): Command {
  const program = new Command("postern")
    .description("Postern: private conversations held purely by email")
    .option("--config <file>", "TOML configuration file (default: $POSTERN_CONFIG, else config/postern.toml, else built-in defaults)")
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({ writeErr: (text) => process.stderr.write(text.split("\n")[0] + "\n") });
  registerServeCommand(program);
  registerConfigCommands(program);
  registerDbCommands(program);
  registerUserCommands(program);
  registerGroupCommands(program);
  registerConversationCommands(program);
  registerMailCommands(program);
  registerQueueCommands(program);
  registerCalendarCommand(program);
  return program;
}

/**
 * Exit 0 on success; otherwise one line on stderr saying why, and a non-zero code. A closed
 * output pipe (`postern mail log | head`) ends any command quietly.
 */
export async function main(argv: string[]): Promise<void> {
  exitQuietlyWhenOutputCloses();
  try {
    await buildProgram().parseAsync(argv);
  } catch (error) {
    process.exitCode = reportError(error);
  }
}

function reportError(error: unknown): number {
  if (error instanceof CommanderError) {
    // Help and version are successes; commander already printed the reason of a usage error.
    return error.exitCode;
  }
  if (error instanceof Refusal || error instanceof ConfigError) {
    process.stderr.write(`postern: ${error.message}\n`);
    return error instanceof ConfigError ? 2 : 1;
  }
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`postern: unexpected error: ${message.split("\n")[0]}\n`);
  return 1;
}

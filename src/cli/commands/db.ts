import type { Command } from "commander";
import { loadConfig } from "../../config/config.js";
import { migrate } from "../../db/database.js";
import { printLine } from "../output.js";

export function registerDbCommands(program: Command): void {
  const db = program.command("db").description("database");
  db.command("migrate")
    .description("create the database or apply pending migrations (serve does this too when it starts)")
    .action(async (_options, command: Command) => {
      const config = loadConfig(command.optsWithGlobals().config);
      const { ran, total, where } = await migrate(config.database);
      printLine(`${where}: ${ran} migration${ran === 1 ? "" : "s"} applied now, ${total} in all; schema up to date`);
    });
}

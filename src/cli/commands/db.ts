import type { Command } from "commander";
import { loadConfig } from "../../config/config.js";
import { migrateDatabase } from "../../db/database.js";
import { printLine } from "../output.js";

export function registerDbCommands(program: Command): void {
  const db = program.command("db").description("database");
  db.command("migrate")
    .description("create the database or apply pending migrations (serve does this too when it starts)")
    .action((_options, command: Command) => {
      const config = loadConfig(command.optsWithGlobals().config);
      const { ran, total } = migrateDatabase({ path: config.database.path, busyTimeoutMs: config.database.busy_timeout });
      printLine(`${config.database.path}: ${ran} migration${ran === 1 ? "" : "s"} applied now, ${total} in all; schema up to date`);
    });
}

import type { Command } from "commander";
import { loadConfig } from "../../config/config.js";
import { appliedMigrationCount, openDatabase } from "../../db/database.js";
import { printLine } from "../output.js";

export function registerDbCommands(program: Command): void {
  const db = program.command("db").description("database");
  db.command("migrate")
    .description("apply pending migrations (serve and every command also do this on open)")
    .action((_options, command: Command) => {
      const config = loadConfig(command.optsWithGlobals().config);
      const database = openDatabase({ path: config.database.path, synchronous: config.database.synchronous });
      try {
        printLine(`${config.database.path}: ${appliedMigrationCount(database.sqlite)} migrations applied, schema up to date`);
      } finally {
        database.close();
      }
    });
}

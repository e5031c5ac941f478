import type { Command } from "commander";
import { loadConfig, maskedUrl } from "../../config/config.js";
import { printJson } from "../output.js";

export function registerConfigCommands(program: Command): void {
  const config = program.command("config").description("configuration");
  config
    .command("check")
    .description("validate the configuration and print the effective values")
    .action((_options, command: Command) => {
      const effective = loadConfig(command.optsWithGlobals().config);
      const { password: _password, ...outbound } = effective.outbound;
      const database = { ...effective.database, ...(effective.database.url ? { url: maskedUrl(effective.database.url) } : {}) };
      printJson({ ...effective, database, outbound: { ...outbound, ...(effective.outbound.password ? { password: "(set)" } : {}) } });
    });
}

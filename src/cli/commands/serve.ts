import type { Command } from "commander";
import { loadConfig } from "../../config/config.js";
import { createLogger } from "../../log.js";

export function registerServeCommand(program: Command): void {
  program
    .command("serve")
    .description("run the SMTP listener and the delivery worker until SIGTERM or SIGINT")
    .action(async (_options, command: Command) => {
      const config = loadConfig(command.optsWithGlobals().config);
      const logger = createLogger(config.log.level);
      // Loaded here, not at the top: the admin commands need none of the SMTP and delivery stack,
      // and each of them starts faster without it.
      const { startGateway } = await import("../../app.js");
      const gateway = await startGateway(config, { logger });
      await new Promise<void>((resolve) => {
        const shutdown = (signal: string) => {
          logger.info({ event: "gateway.stopping", signal }, "draining in-flight work");
          gateway.stop().then(resolve, (error) => {
            logger.error({ event: "gateway.stop_failed", err: error }, "shutdown failed");
            resolve();
          });
        };
        process.once("SIGTERM", () => shutdown("SIGTERM"));
        process.once("SIGINT", () => shutdown("SIGINT"));
      });
    });
}

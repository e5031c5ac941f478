import { InvalidArgumentError, type Command } from "commander";
import { refuse } from "../../errors/refusal.js";
import { listDeliveries, retryDelivery } from "../../domain/deliveries.repo.js";
import { positiveCount } from "../arguments.js";
import { withContext } from "../context.js";
import { printJson, printLine, printTable } from "../output.js";

export function registerQueueCommands(program: Command): void {
  const queue = program.command("queue").description("the outbound delivery queue");
  queue
    .command("list")
    .description("deliveries, newest first")
    .option("--limit <n>", "how many", positiveCount, 100)
    .option("--json", "print JSON")
    .action((options: { limit: number; json?: boolean }, command: Command) =>
      withContext(command.optsWithGlobals(), async ({ read }) => {
        const rows = await read(({ tx }) => listDeliveries(tx, { limit: options.limit }));
        if (options.json) printJson(rows);
        else printTable(rows, ["id", "to", "status", "attempts", "nextAttemptAt", "lastError"]);
      }),
    );
  queue
    .command("retry")
    .description("send a failed or waiting delivery again now")
    .argument("<id>", "delivery id", (v) => {
      if (!/^\d+$/.test(v)) throw new InvalidArgumentError("a delivery id is a whole number.");
      return Number(v);
    })
    .action((id: number, _options, command: Command) =>
      withContext(command.optsWithGlobals(), async ({ write }) => {
        const done = await write(({ tx, now }) => retryDelivery(tx, id, now));
        if (!done) refuse("not_found", `No delivery ${id} is waiting or failed (it may not exist, or was already sent).`);
        printLine(`delivery ${id} queued to be sent now`);
      }),
    );
}

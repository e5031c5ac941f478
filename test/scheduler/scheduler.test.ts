import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { Scheduler, type Job } from "../../src/scheduler/scheduler.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A logger whose lines the test can read. */
function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: "debug" }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

/** Polls until `check` holds, for at most two seconds. */
async function eventually(check: () => boolean): Promise<void> {
  const until = Date.now() + 2000;
  while (!check()) {
    if (Date.now() > until) throw new Error("condition not met in time");
    await sleep(5);
  }
}

let scheduler: Scheduler | undefined;
afterEach(async () => {
  await scheduler?.stop();
  scheduler = undefined;
});

describe("Scheduler", () => {
  it("runs a job at once, then again after each interval, with the injected clock", async () => {
    const seen: number[] = [];
    const job: Job = { name: "tick", intervalMs: 10, run: async (now) => void seen.push(now) };
    let clock = 1_000;
    scheduler = new Scheduler({ logger: capturingLogger().logger, jobs: [job], now: () => clock++ });
    scheduler.start();
    await eventually(() => seen.length >= 3);
    expect(seen.slice(0, 3)).toEqual([1_000, 1_001, 1_002]);
  });

  it("never runs a job twice at once, whether the timer or runNow() starts it", async () => {
    let running = 0;
    let most = 0;
    let runs = 0;
    const job: Job = {
      name: "slow",
      intervalMs: 1,
      async run() {
        running += 1;
        most = Math.max(most, running);
        await sleep(20);
        running -= 1;
        runs += 1;
      },
    };
    scheduler = new Scheduler({ logger: capturingLogger().logger, jobs: [job] });
    scheduler.start();
    await Promise.all([scheduler.runNow(), scheduler.runNow()]);
    await eventually(() => runs >= 4);
    expect(most).toBe(1);
  });

  it("logs a failed run and tries again at the next interval", async () => {
    const { logger, lines } = capturingLogger();
    let calls = 0;
    const job: Job = {
      name: "flaky",
      intervalMs: 5,
      async run() {
        calls += 1;
        if (calls === 1) throw new Error("database busy");
      },
    };
    scheduler = new Scheduler({ logger, jobs: [job] });
    scheduler.start();
    await eventually(() => calls >= 2);
    const failure = lines.find((line) => line.event === "scheduler.job_failed");
    expect(failure).toMatchObject({ job: "flaky", component: "scheduler", err: { message: "database busy" } });
  });

  it("stop() waits for the run in progress, and nothing runs after it", async () => {
    let finished = 0;
    let started = 0;
    const job: Job = {
      name: "drain",
      intervalMs: 1,
      async run() {
        started += 1;
        await sleep(30);
        finished += 1;
      },
    };
    scheduler = new Scheduler({ logger: capturingLogger().logger, jobs: [job] });
    scheduler.start();
    await eventually(() => started >= 1);
    await scheduler.stop();
    expect(finished).toBe(started);
    const after = started;
    await scheduler.runNow();
    await sleep(20);
    expect(started).toBe(after);
  });
});

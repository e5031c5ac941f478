import { Worker } from "node:worker_threads";
import { afterEach, describe, expect, it } from "vitest";
import { ProcessingLanes } from "../../src/concurrency/processing-lanes.js";
import { SharedByteBudget } from "../../src/concurrency/shared-budget.js";

const MB = 1024 * 1024;
const LIMIT = 16 * MB;
const turn = () => new Promise((resolve) => setImmediate(resolve));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("a byte budget shared between threads", () => {
  let thread: Worker | undefined;
  afterEach(async () => {
    await thread?.terminate();
    thread = undefined;
  });

  it("takes bytes while they fit, lets one oversized message run alone, and gives them back", () => {
    const budget = new SharedByteBudget(LIMIT);
    const other = new SharedByteBudget(LIMIT, budget.buffer);
    expect(budget.tryTake(10 * MB)).toBe(true);
    expect(other.tryTake(10 * MB)).toBe(false);
    expect(other.tryTake(6 * MB)).toBe(true);
    expect(budget.used).toBe(16 * MB);
    budget.give(10 * MB);
    other.give(6 * MB);
    expect(other.used).toBe(0);
    expect(other.tryTake(25 * MB)).toBe(true);
    expect(budget.tryTake(300 * 1024)).toBe(false);
  });

  it("makes a large message in one thread wait for a large one in another, and wakes it when that ends", async () => {
    const budget = new SharedByteBudget(LIMIT);
    const lanes = new ProcessingLanes({ smallMessage: 256 * 1024, smallConcurrency: 2, largeBudget: LIMIT }, budget);
    const fixture = new URL("./fixtures/budget-thread.ts", import.meta.url).href;
    const boot = new URL("../../src/outbound/delivery-thread-tsx.mjs", import.meta.url);
    thread = new Worker(boot, { workerData: { entry: fixture, limit: LIMIT, buffer: budget.buffer, size: 10 * MB } });
    const heard: string[] = [];
    thread.on("message", (message: string) => heard.push(message));
    const hear = async (message: string, count = 1) => {
      const deadline = Date.now() + 10_000;
      while (heard.filter((m) => m === message).length < count) {
        if (Date.now() > deadline) throw new Error(`the thread never said "${message}"`);
        await sleep(10);
      }
    };
    await hear("ready");

    // This thread's received message holds 10 MB: the other thread's 10 MB copy waits.
    let finishHere!: () => void;
    const here = lanes.run(10 * MB, () => new Promise<string>((resolve) => (finishHere = () => resolve("here"))));
    await turn();
    thread.postMessage("run");
    await sleep(200);
    expect(heard).not.toContain("started");
    expect(budget.used).toBe(10 * MB);

    finishHere();
    expect(await here).toBe("here");
    await hear("started");

    // And the other way round: the thread's bytes, given back there, wake the lanes here.
    let startedHere = false;
    const second = lanes.run(10 * MB, async () => {
      startedHere = true;
      return "second";
    });
    await sleep(200);
    expect(startedHere).toBe(false);
    thread.postMessage("finish");
    expect(await second).toBe("second");
    await hear("finished");
    expect(budget.used).toBe(0);
  });
});

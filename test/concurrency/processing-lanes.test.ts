import { describe, expect, it } from "vitest";
import { ProcessingLanes } from "../../src/concurrency/processing-lanes.js";
import { fullCollection } from "../../src/concurrency/reclaim.js";

const MB = 1024 * 1024;

/** A piece of work that ends when the test says so, and records when it started. */
function job(started: string[], name: string) {
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  return {
    work: async () => {
      started.push(name);
      await done;
      return name;
    },
    finish,
  };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe("processing lanes", () => {
  const lanes = () => new ProcessingLanes({ smallMessage: 256 * 1024, smallConcurrency: 2, largeBudget: 16 * MB });

  it("works on large messages within the byte budget, in arrival order, the rest waiting", async () => {
    const l = lanes();
    const started: string[] = [];
    const [a, b, c] = ["a", "b", "c"].map((name) => job(started, name));
    const results = [l.run(10 * MB, a!.work), l.run(10 * MB, b!.work), l.run(4 * MB, c!.work)];
    await turn();
    // c would fit beside a, but b came first: nothing overtakes the message at the head of the queue.
    expect(started).toEqual(["a"]);
    expect(l.waiting).toEqual({ small: 0, large: 2 });
    a!.finish();
    await turn();
    expect(started).toEqual(["a", "b", "c"]);
    b!.finish();
    c!.finish();
    expect(await Promise.all(results)).toEqual(["a", "b", "c"]);
  });

  it("runs a message larger than the whole budget alone", async () => {
    const l = lanes();
    const started: string[] = [];
    const [big, next] = ["big", "next"].map((name) => job(started, name));
    const results = [l.run(25 * MB, big!.work), l.run(1 * MB, next!.work)];
    await turn();
    expect(started).toEqual(["big"]);
    big!.finish();
    await turn();
    expect(started).toEqual(["big", "next"]);
    next!.finish();
    await Promise.all(results);
  });

  it("gives small messages a lane of their own that large ones never block", async () => {
    const l = lanes();
    const started: string[] = [];
    const large = [1, 2, 3].map((n) => job(started, `large${n}`));
    const largeResults = large.map((j) => l.run(10 * MB, j.work));
    const small = job(started, "small");
    const smallResult = l.run(2_000, small.work);
    await turn();
    expect(started).toEqual(["large1", "small"]);
    small.finish();
    expect(await smallResult).toBe("small");
    for (const j of large) j.finish();
    await Promise.all(largeResults);
  });

  it("bounds small messages by count too", async () => {
    const l = lanes();
    const started: string[] = [];
    const small = [1, 2, 3].map((n) => job(started, `s${n}`));
    const results = small.map((j) => l.run(1000, j.work));
    await turn();
    expect(started).toEqual(["s1", "s2"]);
    small[0]!.finish();
    await turn();
    expect(started).toEqual(["s1", "s2", "s3"]);
    for (const j of small) j.finish();
    await Promise.all(results);
  });

  it("drops a waiting message whose signal is aborted: it is never worked on, and the next one moves up", async () => {
    const l = lanes();
    const started: string[] = [];
    const [first, dropped, after] = ["first", "dropped", "after"].map((name) => job(started, name));
    const controller = new AbortController();
    const firstResult = l.run(10 * MB, first!.work);
    const droppedResult = l.run(10 * MB, dropped!.work, controller.signal);
    const afterResult = l.run(10 * MB, after!.work);
    controller.abort(new Error("waited too long"));
    await expect(droppedResult).rejects.toThrow("waited too long");
    first!.finish();
    await turn();
    expect(started).toEqual(["first", "after"]);
    after!.finish();
    await Promise.all([firstResult, afterResult]);
    expect(l.waiting).toEqual({ small: 0, large: 0 });
  });

  it("frees the lane when the work fails", async () => {
    const l = lanes();
    await expect(l.run(10 * MB, async () => Promise.reject(new Error("parse failed")))).rejects.toThrow("parse failed");
    expect(await l.run(10 * MB, async () => "next")).toBe("next");
  });
});

describe("memory of large messages", () => {
  it("is given back when a large message is done, before the next one starts", async () => {
    const l = new ProcessingLanes({ smallMessage: 256 * 1024, smallConcurrency: 2, largeBudget: 16 * MB });
    const held = () => process.memoryUsage().arrayBuffers;
    // What parsing or rendering a large message leaves behind: Buffers nothing refers to any more.
    const work = async () => {
      const parts = Array.from({ length: 4 }, () => Buffer.alloc(6 * MB, 0x41));
      await turn();
      return parts.reduce((sum, part) => sum + part.length, 0);
    };
    // V8's flags are the process's: a test in another thread exposing gc at the same moment can
    // leave this thread without it for one try (production tries again on the next message).
    for (let tries = 0; tries < 20 && !fullCollection(); tries++) await turn();
    const before = held();
    const first = l.run(10 * MB, work);
    let garbageAtNextStart = Infinity;
    const second = l.run(10 * MB, async () => {
      // V8 frees the Buffers' memory on a background thread once they are collected: a moment
      // later. Without the collection nothing here allocates, and they would stay for good.
      for (let waited = 0; waited < 1000 && held() - before >= 6 * MB; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
      garbageAtNextStart = held() - before;
      return 0;
    });
    expect(await first).toBe(24 * MB);
    await second;
    expect(garbageAtNextStart).toBeLessThan(6 * MB);
  });
});

describe("processing lanes sharing one large budget", () => {
  it("lets a large copy wait for a large received message, while each side's small ones go on", async () => {
    const shared = new ProcessingLanes({ smallMessage: 256 * 1024, smallConcurrency: 1, largeBudget: 16 * MB });
    const inbound = new ProcessingLanes({ smallMessage: 256 * 1024, smallConcurrency: 2, largeBudget: 16 * MB }, shared);
    const outbound = new ProcessingLanes({ smallMessage: 256 * 1024, smallConcurrency: 2, largeBudget: 16 * MB }, shared);
    const started: string[] = [];
    const [received, copy, smallIn, smallOut] = ["received", "copy", "small in", "small out"].map((name) => job(started, name));
    const results = [
      inbound.run(10 * MB, received!.work),
      outbound.run(10 * MB, copy!.work),
      inbound.run(1000, smallIn!.work),
      outbound.run(1000, smallOut!.work),
    ];
    await turn();
    expect(started).toEqual(["received", "small in", "small out"]);
    received!.finish();
    await turn();
    await turn();
    expect(started).toContain("copy");
    for (const j of [copy, smallIn, smallOut]) j!.finish();
    expect(await Promise.all(results)).toEqual(["received", "copy", "small in", "small out"]);
  });
});

import { Worker } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import { WriteLock } from "../../src/db/sqlite-store.js";

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

describe("WriteLock: turns shared between threads", () => {
  it("serves two locks on one buffer in the order they asked, never both at once", async () => {
    const main = new WriteLock();
    const other = new WriteLock(main.buffer);
    const order: string[] = [];
    let holders = 0;
    const take = async (lock: WriteLock, name: string) => {
      const release = await lock.acquire();
      holders += 1;
      expect(holders).toBe(1);
      order.push(name);
      await sleep(2);
      holders -= 1;
      release();
    };
    // The main side asks three times in a row; the other side's single request, made second, is served second.
    await Promise.all([take(main, "m1"), take(other, "o1"), take(main, "m2"), take(main, "m3")]);
    expect(order).toEqual(["m1", "o1", "m2", "m3"]);
  });

  it("hands the turn to a thread waiting on the same buffer the moment it is released", async () => {
    const main = new WriteLock();
    const release = await main.acquire();
    // A real second thread takes a turn on the shared memory and reports when it got it.
    const thread = new Worker(
      `const { parentPort, workerData } = require("node:worker_threads");
       const cells = new Int32Array(workerData);
       const ticket = Atomics.add(cells, 0, 1);
       while (Atomics.load(cells, 1) !== ticket) Atomics.wait(cells, 1, Atomics.load(cells, 1), 1000);
       parentPort.postMessage("got it");
       Atomics.store(cells, 1, ticket + 1);
       Atomics.notify(cells, 1);`,
      { eval: true, workerData: main.buffer },
    );
    const got = new Promise<string>((resolve) => thread.once("message", resolve));
    await sleep(50);
    let gotIt = false;
    void got.then(() => (gotIt = true));
    await sleep(50);
    expect(gotIt).toBe(false);
    release();
    expect(await got).toBe("got it");
    // The thread passed the turn back: the main side gets it again.
    const again = await main.acquire();
    again();
    await thread.terminate();
  });

  it("skips a turn held past the stall time (a thread that died holding it), and the late release takes no one else's turn", async () => {
    const buffer = new SharedArrayBuffer(8);
    const dead = new WriteLock(buffer, 100);
    const alive = new WriteLock(buffer, 100);
    const neverReleased = await dead.acquire();
    const started = Date.now();
    const release = await alive.acquire();
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    // The stalled holder releasing late must not end the live holder's turn.
    neverReleased();
    const third = new WriteLock(buffer, 10_000);
    let thirdGot = false;
    const thirdTurn = third.acquire().then((r) => {
      thirdGot = true;
      return r;
    });
    await sleep(30);
    expect(thirdGot).toBe(false);
    release();
    (await thirdTurn)();
  });
});

import type { Config } from "../config/config.js";
import type { Store } from "../db/store.js";
import { digestCandidates, makeDigest } from "../domain/digests.service.js";
import type { Logger } from "../log.js";
import type { Job } from "./scheduler.js";

/**
 * Unread digests (SPEC §6), once per `digest.interval`. Every node runs it; the digest's
 * (user, window) key lets only one of them make a user's digest of a window. One transaction per
 * user: a failure for one leaves the others' digests made.
 */
export function digestsJob(deps: {
  readonly store: Store;
  readonly config: Config;
  readonly logger: Logger;
  /** Called after a run queued digests. */
  readonly onQueued?: () => void;
}): Job {
  const log = deps.logger.child({ component: "digests" });
  return {
    name: "digests",
    intervalMs: deps.config.digest.interval,
    async run(now) {
      const candidates = await deps.store.read((tx) => digestCandidates({ tx }));
      let queued = 0;
      for (const userId of candidates) {
        const digest = await deps.store.transaction((tx) => makeDigest({ tx, config: deps.config, now }, userId));
        if (!digest) continue;
        queued += 1;
        log.info({ event: "digest.queued", digestId: digest.id, userId, windowStart: digest.windowStart }, "digest queued");
      }
      if (queued > 0) deps.onQueued?.();
    },
  };
}

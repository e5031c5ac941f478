import type { Config } from "../config/config.js";
import type { Store } from "../db/store.js";
import { expireInvitations } from "../domain/consent.service.js";
import type { Logger } from "../log.js";
import type { Job } from "./scheduler.js";

/** Expiry is counted in days: a minute late is nobody's loss, and each check is a single query. */
export const EXPIRE_INVITATIONS_INTERVAL_MS = 60_000;

/** At most this many invitations per transaction: a backlog drains over a few runs, never in one long lock. */
const BATCH = 100;

/**
 * Expires invitations left unanswered for `consent.expire_after` (SPEC §5) and wakes the delivery
 * worker for the notices it queued. Every node runs it; the domain makes sure only one of them
 * expires a given invitation.
 */
export function expireInvitationsJob(deps: {
  readonly store: Store;
  readonly config: Config;
  readonly logger: Logger;
  /** Called after a run queued notices. */
  readonly onQueued?: () => void;
  readonly intervalMs?: number;
}): Job {
  const log = deps.logger.child({ component: "consent" });
  return {
    name: "expire-invitations",
    intervalMs: deps.intervalMs ?? EXPIRE_INVITATIONS_INTERVAL_MS,
    async run(now) {
      for (;;) {
        const expired = await deps.store.transaction((tx) => expireInvitations({ tx, config: deps.config, now }, BATCH));
        for (const invitation of expired) {
          log.info({ event: "invitation.expired", ...invitation }, "invitation expired; the initiator is told");
        }
        if (expired.length > 0) deps.onQueued?.();
        if (expired.length < BATCH) return;
      }
    },
  };
}

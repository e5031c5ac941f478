import type { Config } from "../config/config.js";
import type { Db } from "../db/database.js";
import { compose, type RenderedDelivery } from "./compose.js";
import * as repo from "./render.repo.js";
import { draftForwardDelivery } from "./render-forward.js";
import { draftPostDelivery } from "./render-post.js";
import { RenderError } from "./render-error.js";

export type { Envelope, RenderedDelivery } from "./compose.js";
export { RenderError } from "./render-error.js";

/**
 * The bytes and envelope of one outbox row, rendered when it is sent (not when it is queued) so a
 * retry always reflects the recipient's current tokens. Throws RenderError when the row can never
 * be sent; any other error is a passing problem (a busy database) worth retrying.
 */
export async function renderDelivery(db: Db, config: Config, deliveryId: number): Promise<RenderedDelivery> {
  const delivery = repo.findDelivery(db, deliveryId);
  if (!delivery) throw new RenderError(`delivery ${deliveryId} does not exist`);
  const draft = delivery.kind === "forward" ? draftForwardDelivery(db, config, delivery) : draftPostDelivery(db, config, delivery);
  return compose(draft);
}

import { queueDeliveries } from "../../domain/deliveries.repo.js";
import { listActiveAdmins } from "../../domain/users.repo.js";
import { displayName } from "../../domain/users.service.js";
import type { AppliedOutcome, InboundContext } from "../inbound.js";

/** postmaster@ and abuse@ (RFC 5321 §4.5.1, RFC 2142): forwarded to every active admin. */
export async function handlePostmaster(ctx: InboundContext, address: string): Promise<AppliedOutcome> {
  const admins = await listActiveAdmins(ctx.tx);
  await queueDeliveries(ctx.tx, admins.map((admin) => ({ kind: "forward", inboundId: ctx.inboundId, recipientId: admin.id, toAddress: admin.email })), ctx.now);
  const reason = admins.length
    ? `mail to ${address} forwarded to ${admins.map(displayName).join(", ")}`
    : `mail to ${address} kept in the mail log: there is no admin to forward it to`;
  return { outcome: "accepted", reason };
}

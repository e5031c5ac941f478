import { Refusal, refuse } from "../errors/refusal.js";
import { refusedUnderEnforce } from "./authenticate.js";
import { handleAlias } from "./handlers/alias.js";
import { handleBounce } from "./handlers/bounce.js";
import { handleFromAddress } from "./handlers/from-address.js";
import { handleDeliveryMode } from "./handlers/delivery-mode.js";
import { handleInbox } from "./handlers/inbox.js";
import { handleAccept, handleDecline } from "./handlers/invitation.js";
import { handleNote } from "./handlers/note.js";
import { handlePrivateReply } from "./handlers/private-reply.js";
import { handleLeave } from "./handlers/leave.js";
import { handlePostmaster } from "./handlers/postmaster.js";
import { handleReply } from "./handlers/reply.js";
import type { AppliedOutcome, InboundContext } from "./inbound.js";
import { primaryRoute, resolveRoute, type Route } from "./route.js";

export type { AppliedOutcome, PreparedInbound } from "./inbound.js";

/**
 * Routes one inbound message and hands it to its handler, inside the caller's transaction:
 * everything it creates commits together or not at all. Throws a Refusal for mail that will not
 * be posted.
 */
export async function applyInbound(ctx: InboundContext): Promise<AppliedOutcome> {
  const route = primaryRoute(await resolveRoutes(ctx));
  if (!route) return refuse("unknown_recipient", "None of the recipients of this message exists here.");
  if (route.type === "bounce") return handleBounce(ctx, route.delivery);
  // postmaster@ and abuse@ exist for automatic mail (DSNs, abuse feedback reports): forward it to
  // the admins like any other. Only Postern's own mail coming back is dropped there too.
  if (route.type === "postmaster" && ctx.inbound.classification.kind === "automatic") return handlePostmaster(ctx, route.address);
  if (ctx.inbound.classification.kind !== "human") {
    return { outcome: "ignored", reason: ctx.inbound.classification.reason };
  }
  // SPEC §3, [auth] mode = "enforce": a From domain that fails DMARC neither starts nor posts to a
  // conversation. postmaster@/abuse@ still take it (reports of abuse often come from broken setups).
  if (route.type !== "postmaster") {
    const refusal = refusedUnderEnforce(ctx.inbound.auth, ctx.config.auth.mode);
    if (refusal) refuse("sender_unauthenticated", refusal);
  }
  switch (route.type) {
    case "postmaster":
      return handlePostmaster(ctx, route.address);
    case "leave":
      return handleLeave(ctx, route.conversation, route.participant);
    case "reply":
      return handleReply(ctx, route.conversation, route.participant);
    case "accept":
      return handleAccept(ctx, route.conversation, route.participant);
    case "decline":
      return handleDecline(ctx, route.conversation, route.participant);
    case "note":
      return handleNote(ctx, route.conversation, route.participant);
    case "private":
      return handlePrivateReply(ctx, route.delivery);
    case "delivery_mode":
      return handleDeliveryMode(ctx, route.conversation, route.participant, route.mode);
    case "from_address":
      return handleFromAddress(ctx);
    case "inbox":
      return handleInbox(ctx, route.group);
    case "alias":
      return handleAlias(ctx, route.user, route.address);
  }
}

/** Every recipient that still routes; a token that died between RCPT and DATA is refused. */
async function resolveRoutes(ctx: InboundContext): Promise<Route[]> {
  const routes: Route[] = [];
  let firstRefusal: Refusal | undefined;
  for (const address of ctx.inbound.rcptTo) {
    try {
      routes.push(await resolveRoute(ctx.tx, ctx.config, address));
    } catch (error) {
      if (!(error instanceof Refusal)) throw error;
      firstRefusal ??= error;
    }
  }
  if (routes.length === 0 && firstRefusal) throw firstRefusal;
  return routes;
}

import { Refusal, refuse } from "../errors/refusal.js";
import { refusedUnderEnforce } from "./authenticate.js";
import { handleAlias } from "./handlers/alias.js";
import { handleBounce } from "./handlers/bounce.js";
import { handleMisdirectedBounce } from "./handlers/misdirected-bounce.js";
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
import { findUserByEmail } from "../domain/users.repo.js";
import { readGroupForward, type GroupForward } from "./group-forward.js";
import { headerTokenRoute, primaryRoute, resolveRoute, type Route } from "./route.js";

export type { AppliedOutcome, PreparedInbound } from "./inbound.js";

/**
 * Routes one inbound message and hands it to its handler, inside the caller's transaction:
 * everything it creates commits together or not at all. Throws a Refusal for mail that will not
 * be posted.
 */
export async function applyInbound(ctx: InboundContext): Promise<AppliedOutcome> {
  const envelopeRoute = primaryRoute(await resolveRoutes(ctx));
  if (!envelopeRoute) return refuse("unknown_recipient", "None of the recipients of this message exists here.");
  if (envelopeRoute.type === "bounce") return handleBounce(ctx, envelopeRoute.delivery);
  // postmaster@ and abuse@ exist for automatic mail (DSNs, abuse feedback reports): forward it to
  // the admins like any other. Only Postern's own mail coming back is dropped there too.
  if (envelopeRoute.type === "postmaster" && ctx.inbound.classification.kind === "automatic") return handlePostmaster(ctx, envelopeRoute.address);
  // Some servers bounce to a copy's From or Reply-To instead of its VERP address: the report still
  // counts when it names one copy beyond doubt (misdirected-bounce.ts); otherwise it is ignored below.
  if (ctx.inbound.classification.kind === "automatic") {
    const bounce = await handleMisdirectedBounce(ctx, envelopeRoute);
    if (bounce) return bounce;
  }
  const forward = await readGroupForward(ctx.tx, ctx.config, ctx.inbound, envelopeRoute);
  if (forward.kind === "loop") return { outcome: "ignored", reason: forward.reason };
  if (forward.kind === "none" && ctx.inbound.classification.kind !== "human") {
    return { outcome: "ignored", reason: ctx.inbound.classification.reason };
  }
  // SPEC §3, [auth] mode = "enforce": a From domain that fails DMARC neither starts nor posts to a
  // conversation. postmaster@/abuse@ still take it (reports of abuse often come from broken setups).
  // A group-forwarded message is judged by the group's own From, the one that was authenticated.
  if (envelopeRoute.type !== "postmaster") {
    const refusal = refusedUnderEnforce(ctx.inbound.auth, ctx.config.auth.mode);
    if (refusal) refuse("sender_unauthenticated", refusal);
  }
  const current: InboundContext = forward.kind === "forwarded" ? { ...ctx, inbound: forward.inbound } : ctx;
  // The token beyond the envelope (SPEC §3): only for mail a relay may have re-addressed.
  const headerRoute = RELAYED_ROUTES.has(envelopeRoute.type) ? await headerTokenRoute(ctx.tx, ctx.config, current.inbound.message) : undefined;
  if (forward.kind === "forwarded" && !headerRoute) await refuseUnverifiedMember(current, forward);
  const outcome = await dispatch(current, headerRoute ?? envelopeRoute);
  const notes = [
    ...(headerRoute ? [`reply address ${headerRoute.address} found in the message's header fields (envelope: ${envelopeRoute.address})`] : []),
    ...(forward.kind === "forwarded" ? [`passed on by ${forward.via}; author ${forward.author.address} from ${forward.field}`] : []),
  ];
  return notes.length ? { ...outcome, reason: `${outcome.reason}; ${notes.join("; ")}` } : outcome;
}

/** Routes a relay or a client may put in the envelope while the message's header fields carry the token. */
const RELAYED_ROUTES = new Set<Route["type"]>(["inbox", "alias", "from_address"]);

/**
 * A group-forwarded message names its author in a header anyone may write: it never posts as a
 * member (or staff, or admin) without their token. Staged people and strangers are what any
 * stranger's From may claim already; members write to the inbox from their own address.
 */
async function refuseUnverifiedMember(ctx: InboundContext, forward: Extract<GroupForward, { kind: "forwarded" }>): Promise<void> {
  const user = await findUserByEmail(ctx.tx, forward.author.address);
  if (user && user.status !== "staged") {
    refuse(
      "sender_unauthenticated",
      `This message was passed on by ${forward.via}, which names ${forward.author.address} as its author (${forward.field}); ` +
        `that cannot be verified, so it is not posted in the name of a member. Write from ${forward.author.address} itself, or answer your own copy of the conversation.`,
    );
  }
}

async function dispatch(ctx: InboundContext, route: Route): Promise<AppliedOutcome> {
  switch (route.type) {
    case "bounce":
      return handleBounce(ctx, route.delivery);
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

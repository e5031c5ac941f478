import { Option, type Command } from "commander";
import { listConversationsFor, markConversationRead, viewConversation } from "../../domain/conversation-views.service.js";
import { findUserById } from "../../domain/users.repo.js";
import { requireUser } from "../../domain/users.service.js";
import { conversationId } from "../arguments.js";
import type { Tx } from "../../db/store.js";
import { withContext } from "../context.js";
import { iso, printJson, printLine, printTable } from "../output.js";

interface ListOptions {
  readonly user?: string;
  readonly as?: string;
  readonly assigned?: string;
  readonly unassigned?: boolean;
  readonly json?: boolean;
}

/**
 * Looking at conversations: lists, one conversation, and marking it read. Metadata by default;
 * message bodies only with --bodies (SPEC §6: messages are private). Views never count as the
 * viewer's activity: an admin looking is not the person acting.
 */
/**
 * `conversations list`: the rows it prints. Exported, with `conversationShown`, so
 * scripts/bench-queries.ts times exactly what the command runs.
 */
export async function conversationsListed(tx: Tx, options: ListOptions) {
  const userOf = (email: string | undefined) => (email === undefined ? undefined : requireUser(tx, email));
  const user = await userOf(options.user);
  const viewer = await userOf(options.as);
  const assignee = await userOf(options.assigned);
  const summaries = await listConversationsFor(tx, {
    ...(user ? { user } : {}),
    ...(viewer ? { viewer } : {}),
    ...(assignee ? { assignee } : {}),
    ...(options.unassigned ? { unassigned: true } : {}),
  });
  return summaries.map(({ conversation: c, participants, posts, assignee, participant, unread }) => ({
    id: c.id,
    subject: c.subject,
    kind: c.kind,
    state: c.state,
    participants,
    posts,
    assignee,
    updatedAt: iso(c.updatedAt),
    ...(participant ? { unread: unread ?? 0, role: participant.role, participantState: participant.state } : {}),
  }));
}

/** `conversations show ID`: what it prints, as its JSON object. */
export async function conversationShown(tx: Tx, id: number, options: { readonly as?: string; readonly bodies?: boolean }) {
  const viewer = options.as === undefined ? undefined : await requireUser(tx, options.as);
  const { conversation: c, participants, posts } = await viewConversation(tx, id, viewer, { bodies: options.bodies ?? false });
  const emails = new Map<number, string | null>(participants.map(({ user }) => [user.id, user.email]));
  // Authors who are no longer participants (rare): looked up once each, not once per post.
  const emailOf = async (userId: number | null) => {
    if (userId === null) return null;
    if (!emails.has(userId)) emails.set(userId, (await findUserById(tx, userId))?.email ?? null);
    return emails.get(userId) ?? null;
  };
  const shown = [];
  for (const p of posts) {
    // A known author is answered without a turn of the event loop: a long conversation has thousands.
    const author = p.authorId === null ? null : emails.has(p.authorId) ? (emails.get(p.authorId) ?? null) : await emailOf(p.authorId);
    const line = { id: p.id, author, createdAt: iso(p.createdAt), state: p.state, note: p.note };
    shown.push(options.bodies ? { ...line, body: p.body } : line);
  }
  return {
    id: c.id,
    subject: c.subject,
    kind: c.kind,
    state: c.state,
    replies: c.replies,
    assignee: await emailOf(c.assigneeId),
    participants: participants.map(({ participant, user }) => ({ email: user.email, role: participant.role, state: participant.state })),
    posts: shown,
  };
}

export function registerViewCommands(conversations: Command): void {
  conversations
    .command("list")
    .description("list conversations (metadata only); drafts only for their author")
    .option("--user <email>", "that person's conversations (\"my conversations\"), with their unread counts and their own drafts")
    .option("--as <email>", "look as this person: their drafts are listed too")
    .option("--assigned <email>", "only inbox conversations assigned to this member")
    .addOption(new Option("--unassigned", "only inbox conversations assigned to nobody").conflicts("assigned"))
    .option("--json", "print JSON")
    .action((options: ListOptions, command: Command) =>
      withContext(command.optsWithGlobals(), async ({ read }) => {
        const rows = await read(({ tx }) => conversationsListed(tx, options));
        if (options.json) return printJson(rows);
        if (options.user) printTable(rows.map((r) => ({ ...r, you: `${r.role ?? "-"}, ${r.participantState ?? "-"}` })), ["id", "kind", "state", "you", "unread", "posts", "subject"]);
        else printTable(rows, ["id", "kind", "state", "participants", "posts", "assignee", "subject"]);
      }),
    );

  conversations
    .command("show")
    .description("show a conversation; message bodies only with --bodies")
    .argument("<id>", "conversation id", conversationId)
    .option("--as <email>", "look as this participant: their drafts, and only the posts they could see")
    .option("--bodies", "include the text of each post (messages are private: ask for them explicitly)")
    .option("--json", "print JSON")
    .action((id: number, options: { as?: string; bodies?: boolean; json?: boolean }, command: Command) =>
      withContext(command.optsWithGlobals(), async ({ read }) => {
        const view = await read(({ tx }) => conversationShown(tx, id, options));
        if (options.json) return printJson(view);
        printLine(`conversation ${view.id}: ${view.subject}`);
        printLine(`kind ${view.kind}, state ${view.state}, replies ${view.replies}${view.assignee ? `, assigned to ${view.assignee}` : ""}`);
        printLine("participants:");
        for (const p of view.participants) printLine(`  ${p.email} (${p.role}, ${p.state})`);
        printLine("posts:");
        for (const p of view.posts) {
          const marks = [p.note ? "(internal note)" : "", p.state === "draft" ? "(draft)" : ""].filter(Boolean).join(" ");
          printLine(`  #${p.id} ${p.createdAt} ${p.author}${marks ? ` ${marks}` : ""}`);
          if ("body" in p) for (const line of String(p.body).split("\n")) printLine(`    ${line}`);
        }
      }),
    );

  conversations
    .command("read")
    .description("mark every post of a conversation read for one participant")
    .argument("<id>", "conversation id", conversationId)
    .requiredOption("--as <email>", "whose posts are marked read")
    .action((id: number, options: { as: string }, command: Command) =>
      withContext(command.optsWithGlobals(), async ({ write }) => {
        const { user, unread } = await write((ctx) => markConversationRead(ctx, id, options.as));
        printLine(`conversation ${id} is read for ${user.email} (${unread} unread ${unread === 1 ? "post" : "posts"} marked read)`);
      }),
    );
}

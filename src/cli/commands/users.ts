import { Option, type Command } from "commander";
import { reachabilityRules, unreachableBecause } from "../../domain/admission.service.js";
import { findUserById, conversationIdsOfUser, listUsers } from "../../domain/users.repo.js";
import { activateUser, addUser, requireUser, setUserSettings, type DeliveryPreference, type Role } from "../../domain/users.service.js";
import type { DomainContext } from "../../domain/context.js";
import type { User } from "../../domain/records.js";
import { withContext } from "../context.js";
import { iso, printJson, printLine, printTable } from "../output.js";

const ROLES = ["member", "staff", "admin"] as const;

/** `users show EMAIL`: what it prints, as its JSON object (scripts/bench-queries.ts times it). */
export async function userShown(ctx: DomainContext, email: string) {
  const { tx } = ctx;
  const user = await requireUser(tx, email);
  const invitedBy = user.invitedById ? (await findUserById(tx, user.invitedById))?.email ?? null : null;
  return {
    email: user.email,
    name: user.name,
    status: user.status,
    role: user.role,
    invitedBy,
    delivery: user.delivery,
    conversations: await conversationIdsOfUser(tx, user.id),
    username: user.username,
    messages: user.messagesEnabled ? "on" : "off",
    lastActiveAt: iso(user.lastActiveAt),
    // Why new conversations cannot reach them (SPEC §6), or null.
    unreachable: unreachableBecause(user, user.email, reachabilityRules(ctx)) ?? null,
    bounceScore: user.bounceScore,
    lastBounceAt: iso(user.lastBounceAt),
    // Since when mail to them is stopped because it kept bouncing (SPEC §3), or null.
    bouncingSince: iso(user.bouncingSince),
    createdAt: iso(user.createdAt),
  };
}

export function registerUserCommands(program: Command): void {
  const users = program.command("users").description("members and staged users");

  users
    .command("list")
    .description("list users")
    .option("--staged", "only staged users (known by email, not signed up)")
    .option("--json", "print JSON")
    .action((options: { staged?: boolean; json?: boolean }, command: Command) =>
      withContext(command.optsWithGlobals(), async ({ read }) => {
        const rows = (await read(({ tx }) => listUsers(tx, { stagedOnly: !!options.staged }))).map((u) => ({
          email: u.email,
          name: u.name,
          status: u.status,
          role: u.role,
          username: u.username,
        }));
        if (options.json) printJson(rows);
        else printTable(rows, ["email", "name", "status", "role", "username"]);
      }),
    );

  users
    .command("show")
    .description("show one user")
    .argument("<email>")
    .option("--json", "print JSON")
    .action((email: string, options: { json?: boolean }, command: Command) =>
      withContext(command.optsWithGlobals(), async ({ read }) => {
        const view = await read((ctx) => userShown(ctx, email));
        if (options.json) printJson(view);
        else for (const [key, value] of Object.entries(view)) printLine(`${key.padEnd(14)} ${Array.isArray(value) ? value.join(", ") || "-" : value ?? "-"}`);
      }),
    );

  users
    .command("add")
    .description("add an active member")
    .argument("<email>")
    .option("--name <name>", "display name")
    .option("--username <username>", "member alias: USERNAME@DOMAIN starts a direct conversation")
    .addOption(new Option("--role <role>", "role").choices(ROLES).default("member"))
    .action((email: string, options: { name?: string; username?: string; role: Role }, command: Command) =>
      withContext(command.optsWithGlobals(), async ({ write }) => {
        const user = await write((ctx) =>
          addUser(ctx, { email, role: options.role, ...(options.name ? { name: options.name } : {}), ...(options.username ? { username: options.username } : {}) }),
        );
        printLine(`added ${describe(user)}`);
      }),
    );

  users
    .command("activate")
    .description("turn a staged user into an active member, keeping their history")
    .argument("<email>")
    .option("--username <username>", "member alias")
    .action((email: string, options: { username?: string }, command: Command) =>
      withContext(command.optsWithGlobals(), async ({ write }) => {
        const user = await write((ctx) => activateUser(ctx, email, options.username));
        printLine(`activated ${describe(user)}`);
      }),
    );

  users
    .command("set")
    .description("change a user's settings")
    .argument("<email>")
    .addOption(new Option("--delivery <mode>", "how conversation mail is delivered").choices(["every", "digest", "none"]))
    .addOption(new Option("--messages <on|off>", "whether the user accepts new conversations").choices(["on", "off"]))
    .addOption(new Option("--role <role>", "role").choices(ROLES))
    .option("--reset-bounces", "reset the bounce score so mail to the address resumes")
    .action(
      (email: string, options: { delivery?: DeliveryPreference; messages?: "on" | "off"; role?: Role; resetBounces?: boolean }, command: Command) =>
        withContext(command.optsWithGlobals(), async ({ write }) => {
          const user = await write(({ tx }) =>
            setUserSettings(tx, email, {
              ...(options.delivery ? { delivery: options.delivery } : {}),
              ...(options.messages ? { messagesEnabled: options.messages === "on" } : {}),
              ...(options.role ? { role: options.role } : {}),
              ...(options.resetBounces ? { resetBounces: true } : {}),
            }),
          );
          printLine(`updated ${describe(user)}: delivery ${user.delivery}, messages ${user.messagesEnabled ? "on" : "off"}, role ${user.role}, bounce score ${user.bounceScore}`);
        }),
    );
}

function describe(user: User): string {
  return `${user.email} (${user.status} ${user.role}${user.username ? `, alias ${user.username}` : ""})`;
}

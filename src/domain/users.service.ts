import type { Config } from "../config/config.js";
import type { Tx } from "../db/store.js";
import { refuse } from "../errors/refusal.js";
import { checkAddress } from "./address-syntax.js";
import { isReservedLocalPart, normalizeEmail, splitAddress } from "./addresses.js";
import type { DomainContext } from "./context.js";
import { findGroupByLocalPart } from "./groups.repo.js";
import type { DeliveryPreference, Role, User } from "./records.js";
import * as repo from "./users.repo.js";

export type { DeliveryPreference, Role };

const USERNAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** An address typed by a person (CLI): normalised, or refused with what is wrong with it. */
export function validEmail(raw: string): string {
  const check = checkAddress(raw);
  if (!check.ok) refuse("invalid_input", `"${raw}" is not an email address: ${check.reason}.`);
  return check.address;
}

export async function requireUser(tx: Tx, email: string): Promise<User> {
  const user = await repo.findUserByEmail(tx, normalizeEmail(email));
  if (!user) refuse("not_found", `No user has the address ${normalizeEmail(email)}.`);
  return user;
}

async function checkUsername(tx: Tx, config: Config, raw: string): Promise<string> {
  const username = raw.toLowerCase();
  if (!USERNAME_PATTERN.test(username)) {
    refuse("invalid_input", `"${raw}" is not a valid username: use lowercase letters, digits, dots, dashes or underscores.`);
  }
  if (isReservedLocalPart(username)) refuse("reserved_name", `The username "${username}" is reserved by Postern.`);
  if (await repo.findUserByUsername(tx, username)) refuse("already_exists", `The username "${username}" is taken.`);
  if (await findGroupByLocalPart(tx, config.domains, username)) {
    refuse("already_exists", `"${username}" is already a group inbox address.`);
  }
  return username;
}

export interface AddUserInput {
  readonly email: string;
  readonly name?: string;
  readonly username?: string;
  readonly role?: Role;
}

/** A full member created by an admin. */
export async function addUser(ctx: DomainContext, input: AddUserInput): Promise<User> {
  const { tx, config, now } = ctx;
  const email = validEmail(input.email);
  if (await repo.findUserByEmail(tx, email)) refuse("already_exists", `A user with the address ${email} already exists.`);
  const username = input.username === undefined ? null : await checkUsername(tx, config, input.username);
  return repo.insertUser(tx, {
    email,
    name: input.name ?? null,
    username,
    status: "active",
    role: input.role ?? "member",
    createdAt: now,
    lastActiveAt: now,
  });
}

/**
 * The user behind a (valid, normalised) address, creating a staged user when there is none.
 * `invitedBy` is recorded so that a staged user who later signs up counts as invited by whoever
 * first brought them in.
 */
export async function findOrStageUser(
  ctx: DomainContext,
  input: { email: string; name?: string | null; invitedBy?: User | null },
): Promise<User> {
  const existing = await repo.findUserByEmail(ctx.tx, input.email);
  if (existing) return existing;
  if (!ctx.config.staged_users.enabled) {
    refuse("staged_users_disabled", `${input.email} has no account here, and this gateway does not accept mail from or to unknown addresses.`);
  }
  return repo.insertUser(ctx.tx, {
    email: input.email,
    name: input.name?.trim() || null,
    status: "staged",
    role: "member",
    invitedById: input.invitedBy?.id ?? null,
    createdAt: ctx.now,
  });
}

/** A staged user known only by address takes the display name their mail gives. */
export async function learnName(tx: Tx, user: User, name: string): Promise<User> {
  if (user.status !== "staged" || user.name || !name.trim()) return user;
  await repo.setUserName(tx, user.id, name.trim());
  return { ...user, name: name.trim() };
}

export async function activateUser(ctx: DomainContext, email: string, username: string | undefined): Promise<User> {
  const user = await requireUser(ctx.tx, email);
  if (user.status === "active") refuse("already_exists", `${user.email} is already an active member.`);
  const patch: repo.UserPatch = {
    status: "active",
    lastActiveAt: ctx.now,
    ...(username === undefined ? {} : { username: await checkUsername(ctx.tx, ctx.config, username) }),
  };
  return repo.updateUser(ctx.tx, user.id, patch);
}

export interface UserSettings {
  readonly delivery?: DeliveryPreference;
  readonly messagesEnabled?: boolean;
  readonly role?: Role;
  readonly resetBounces?: boolean;
}

export async function setUserSettings(tx: Tx, email: string, settings: UserSettings): Promise<User> {
  const user = await requireUser(tx, email);
  const patch: repo.UserPatch = {
    ...(settings.delivery !== undefined ? { delivery: settings.delivery } : {}),
    ...(settings.messagesEnabled !== undefined ? { messagesEnabled: settings.messagesEnabled } : {}),
    ...(settings.role !== undefined ? { role: settings.role } : {}),
    ...(settings.resetBounces ? { bounceScore: 0, lastBounceAt: null, bouncingSince: null } : {}),
  };
  if (Object.keys(patch).length === 0) refuse("invalid_input", "Nothing to change: give at least one setting.");
  return repo.updateUser(tx, user.id, patch);
}

/** How a user is shown in From: their name, else the part of their address before the @. */
export function displayName(user: Pick<User, "name" | "email">): string {
  return user.name?.trim() || splitAddress(user.email)?.local || user.email;
}

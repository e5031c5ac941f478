import type { Config } from "../config/config.js";
import type { Db } from "../db/database.js";
import { refuse } from "../errors/refusal.js";
import type { User } from "../../schema/schema.js";
import { isReservedLocalPart, normalizeEmail, splitAddress } from "./addresses.js";
import { findGroupByLocalPart } from "./groups.repo.js";
import * as repo from "./users.repo.js";

export type Role = User["role"];
export type DeliveryPreference = User["delivery"];

const USERNAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const EMAIL_PATTERN = /^[^\s@<>()[\]\\,;:"]+@[a-z0-9-]+(\.[a-z0-9-]+)+$/i;

export function validEmail(raw: string): string {
  const email = normalizeEmail(raw);
  if (!EMAIL_PATTERN.test(email)) refuse("invalid_input", `"${raw}" is not an email address.`);
  return email;
}

export function requireUser(db: Db, email: string): User {
  const user = repo.findUserByEmail(db, normalizeEmail(email));
  if (!user) refuse("not_found", `No user has the address ${normalizeEmail(email)}.`);
  return user;
}

function checkUsername(db: Db, config: Config, raw: string): string {
  const username = raw.toLowerCase();
  if (!USERNAME_PATTERN.test(username)) {
    refuse("invalid_input", `"${raw}" is not a valid username: use lowercase letters, digits, dots, dashes or underscores.`);
  }
  if (isReservedLocalPart(username)) refuse("reserved_name", `The username "${username}" is reserved by Postern.`);
  if (repo.findUserByUsername(db, username)) refuse("already_exists", `The username "${username}" is taken.`);
  if (findGroupByLocalPart(db, config.domains, username)) {
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
export function addUser(db: Db, config: Config, input: AddUserInput, now: number): User {
  const email = validEmail(input.email);
  if (repo.findUserByEmail(db, email)) refuse("already_exists", `A user with the address ${email} already exists.`);
  const username = input.username === undefined ? null : checkUsername(db, config, input.username);
  return repo.insertUser(db, {
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
 * The user behind an address, creating a staged user when there is none. `invitedBy` is recorded
 * so that a staged user who later signs up counts as invited by whoever first brought them in.
 */
export function findOrStageUser(
  db: Db,
  config: Config,
  input: { email: string; name?: string | null; invitedBy?: User | null },
  now: number,
): User {
  const email = validEmail(input.email);
  const existing = repo.findUserByEmail(db, email);
  if (existing) return existing;
  if (!config.staged_users.enabled) {
    refuse("staged_users_disabled", `${email} has no account here, and this gateway does not accept mail from or to unknown addresses.`);
  }
  return repo.insertUser(db, {
    email,
    name: input.name?.trim() || null,
    status: "staged",
    role: "member",
    invitedById: input.invitedBy?.id ?? null,
    createdAt: now,
  });
}

export function activateUser(db: Db, config: Config, email: string, username: string | undefined, now: number): User {
  const user = requireUser(db, email);
  if (user.status === "active") refuse("already_exists", `${user.email} is already an active member.`);
  const patch: Partial<repo.NewUser> = { status: "active", lastActiveAt: now };
  if (username !== undefined) patch.username = checkUsername(db, config, username);
  return repo.updateUser(db, user.id, patch);
}

export interface UserSettings {
  readonly delivery?: DeliveryPreference;
  readonly messagesEnabled?: boolean;
  readonly role?: Role;
  readonly resetBounces?: boolean;
}

export function setUserSettings(db: Db, email: string, settings: UserSettings): User {
  const user = requireUser(db, email);
  const patch: Partial<repo.NewUser> = {};
  if (settings.delivery !== undefined) patch.delivery = settings.delivery;
  if (settings.messagesEnabled !== undefined) patch.messagesEnabled = settings.messagesEnabled;
  if (settings.role !== undefined) patch.role = settings.role;
  if (settings.resetBounces) patch.bounceScore = 0;
  if (Object.keys(patch).length === 0) refuse("invalid_input", "Nothing to change: give at least one setting.");
  return repo.updateUser(db, user.id, patch);
}

/** How a user is shown in From: their name, else the part of their address before the @. */
export function displayName(user: Pick<User, "name" | "email">): string {
  return user.name?.trim() || splitAddress(user.email)?.local || user.email;
}

import { InvalidArgumentError } from "commander";

/** A commander parser for a count such as --limit: a positive whole number, or a usage error. */
export function positiveCount(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError("expected a whole number of at least 1.");
  return Number(value);
}

/** A commander parser for a conversation id argument. */
export function conversationId(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError("a conversation id is a whole number.");
  return Number(value);
}

import type { SMTPServer, SMTPServerAddress } from "smtp-server";
import { SMTPConnection } from "smtp-server/lib/smtp-connection.js";

const servers = new WeakSet<object>();
let installed = false;

/** RFC 1870's size-value: 1*20DIGIT. */
const SIZE_VALUE = /^\d{1,20}$/;

/**
 * Leaves the check of a SIZE declared at MAIL FROM against smtp.max_message_size to `server`'s
 * onMailFrom (see declaredSize), so that refusal is logged like every other. EHLO still
 * advertises `SIZE <n>`, and DATA past the limit still sets `stream.sizeExceeded`.
 *
 * smtp-server 3.21.6 answers an oversized SIZE itself in SMTPConnection._validateMailParams,
 * before onMailFrom is called. It is replaced once per process: for a server set here it checks
 * the other parameters (and SIZE's syntax) as the library does, but not SIZE's value; every other
 * server (a bench's bare baseline, a test's sink) keeps the library's check. Re-check
 * _validateMailParams and handler_MAIL when upgrading smtp-server.
 */
export function checkDeclaredSizeInMailFrom(server: SMTPServer): void {
  servers.add(server);
  if (installed) return;
  installed = true;
  const validate = SMTPConnection.prototype._validateMailParams;
  SMTPConnection.prototype._validateMailParams = function validateMailParams(this: SMTPConnection, parsed) {
    const args = parsed.args || {};
    if (!servers.has(this._server) || typeof args.SIZE !== "string" || !SIZE_VALUE.test(args.SIZE)) return validate.call(this, parsed);
    const { SIZE: _checkedInOnMailFrom, ...others } = args;
    return validate.call(this, { ...parsed, args: others });
  };
}

/** The SIZE a client declared at MAIL FROM (already checked for syntax), or undefined. */
export function declaredSize(address: SMTPServerAddress): number | undefined {
  const size = address.args ? address.args.SIZE : undefined;
  return typeof size === "string" && SIZE_VALUE.test(size) ? Number(size) : undefined;
}

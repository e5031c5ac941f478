import type { SMTPServer, SMTPServerSession } from "smtp-server";

/** An RFC 3463 status at the start of a reply text ("5.7.1 This reply address ..."). */
const LEADING_STATUS = /^[245]\.\d{1,3}\.\d{1,3} /;

interface ReplySender {
  send(code: number, data?: string | string[], context?: string | false): void;
}

/**
 * ENHANCEDSTATUSCODES (RFC 2034) is advertised, and smtp-server then puts a status on every reply
 * by its reply code alone (550 is always 5.1.1). Postern's own replies already start with the
 * precise status (550 5.7.1 for a sender mismatch, 552 5.3.4 for size): those are sent as they are,
 * so no reply carries two statuses; smtp-server's own replies (503, 501, 250 Accepted) get its status.
 *
 * A workaround: smtp-server has no option for replies that carry their own status, so the
 * connection's `send` is wrapped once per session, from onConnect, before any reply but the greeting.
 */
export function keepOwnEnhancedStatus(server: SMTPServer, session: SMTPServerSession): void {
  const connection = [...server.connections].find((candidate) => candidate.id === session.id) as unknown as ReplySender | undefined;
  if (!connection) return;
  const send = connection.send.bind(connection);
  connection.send = (code, data, context) => {
    const own = typeof data === "string" && LEADING_STATUS.test(data);
    send(code, data, own ? false : context);
  };
}

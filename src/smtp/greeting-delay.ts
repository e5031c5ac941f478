import type { SMTPServer } from "smtp-server";
import { SMTPConnection } from "smtp-server/lib/smtp-connection.js";

/** smtp-server's own wait before the 220, kept for every server that has not set one here. */
const LIBRARY_GREETING_DELAY = 100;

const delays = new WeakMap<object, number>();
let installed = false;

/**
 * Sets how long `server` waits before its 220 greeting (smtp.greeting_delay). A client that talks
 * during the wait still gets smtp-server's "421 You talk too soon"; 0 greets at once.
 *
 * smtp-server hard-codes a 100 ms wait in SMTPConnection.init (3.21.6). Its init is replaced
 * once per process by the same steps with the delay looked up per server; servers not set here
 * (a bench's bare baseline, a test's sink) keep the library's 100 ms. Re-check
 * SMTPConnection.init when upgrading smtp-server: this copies its body.
 */
export function useGreetingDelay(server: SMTPServer, delay: number): void {
  delays.set(server, delay);
  if (installed) return;
  installed = true;
  SMTPConnection.prototype.init = function init(this: SMTPConnection) {
    this._setListeners(() => {
      const { maxClients } = this._server.options;
      if (maxClients && this._server.connections.size > maxClients) {
        return this.send(421, this.name + " Too many connected clients, try again in a moment", false);
      }
      const wait = delays.get(this._server) ?? LIBRARY_GREETING_DELAY;
      if (wait <= 0) return this.connectionReady();
      // Unref'd as the library's is: a pending greeting must not keep the process alive.
      setTimeout(() => this.connectionReady(), wait).unref();
    });
  };
}

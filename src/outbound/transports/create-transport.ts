import type { Config } from "../../config/config.js";
import type { Logger } from "../../log.js";
import { FileTransport } from "./file-transport.js";
import { SmtpTransport, smtpTransportSettings } from "./smtp-transport.js";
import type { Transport } from "./transport.js";
import { TransportThread } from "./transport-thread.js";

export type { OutboundMessage, Transport } from "./transport.js";

export function createTransport(config: Config, logger?: Logger): Transport {
  switch (config.outbound.transport) {
    case "file":
      return new FileTransport(config.outbound.dir);
    case "smtp":
      // Settings are read here either way, so a bad tls_ca stops the start naming the key.
      if (config.outbound.transport_thread) return new TransportThread(smtpTransportSettings(config), logger);
      return new SmtpTransport(smtpTransportSettings(config), logger?.child({ component: "transport" }));
  }
}

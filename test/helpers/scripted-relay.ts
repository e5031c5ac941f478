import net from "node:net";

/**
 * A relay written by hand on raw sockets, for the SMTP client's tests: it answers as scripted and
 * records every chunk it reads, so a test can see which commands arrived together (PIPELINING)
 * and which waited for a reply.
 */
export interface RelayScript {
  /** Announce PIPELINING in the EHLO reply (default true). */
  readonly pipelining?: boolean;
  /** Answer EHLO with 500, as a server that knows only HELO. */
  readonly refuseEhlo?: boolean;
  /** Hold each reply to MAIL FROM this long, to see whether the client waits for it. */
  readonly mailReplyDelayMs?: number;
  /**
   * The reply to MAIL FROM: `n` counts the MAIL commands on this connection from 1. Null drops the
   * connection without a word.
   */
  readonly mailReply?: (n: number) => string | null;
  readonly rcptReply?: (address: string) => string;
  /** The reply after the message's end; null says nothing at all, as a relay that hangs. */
  readonly endReply?: () => string | null;
  /** Sent instead of a greeting. */
  readonly greeting?: string;
}

export interface ReceivedMessage {
  readonly connection: number;
  readonly mailFrom: string;
  readonly rcptTo: readonly string[];
  readonly data: string;
}

export interface ScriptedRelay {
  readonly port: number;
  /** Chunks read, per connection in order of arrival. */
  readonly chunks: string[][];
  /** Command lines read, per connection. */
  readonly commands: string[][];
  readonly messages: ReceivedMessage[];
  /** True for each MAIL whose next command arrived before the MAIL had been answered. */
  readonly sentBeforeMailReply: boolean[];
  close(): Promise<void>;
}

export async function startScriptedRelay(script: RelayScript = {}): Promise<ScriptedRelay> {
  const chunks: string[][] = [];
  const commands: string[][] = [];
  const messages: ReceivedMessage[] = [];
  const sentBeforeMailReply: boolean[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    const connection = chunks.length;
    chunks.push([]);
    commands.push([]);
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
    let buffer = "";
    let inData = false;
    let mails = 0;
    let mailFrom = "";
    let rcptTo: string[] = [];
    /** Replies held back while MAIL's answer is delayed, so they keep their order. */
    let held: string[] | undefined;
    const reply = (text: string): void => {
      if (held) held.push(text);
      else socket.write(text);
    };
    socket.write(script.greeting ?? "220 relay.test ESMTP\r\n");
    socket.on("data", (chunk: Buffer) => {
      const text = chunk.toString("latin1");
      chunks[connection]?.push(text);
      buffer += text;
      for (;;) {
        if (inData) {
          const end = buffer.indexOf("\r\n.\r\n");
          if (end < 0) return;
          messages.push({ connection, mailFrom, rcptTo, data: buffer.slice(0, end + 2) });
          buffer = buffer.slice(end + 5);
          inData = false;
          const answer = script.endReply ? script.endReply() : "250 2.0.0 queued\r\n";
          if (answer !== null) reply(answer);
          continue;
        }
        const newline = buffer.indexOf("\r\n");
        if (newline < 0) return;
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 2);
        commands[connection]?.push(line);
        if (held && sentBeforeMailReply.length > 0) sentBeforeMailReply[sentBeforeMailReply.length - 1] = true;
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === "EHLO") {
          if (script.refuseEhlo) reply("500 5.5.1 unknown command\r\n");
          else reply(`250-relay.test\r\n${script.pipelining === false ? "" : "250-PIPELINING\r\n"}250-SIZE 10240000\r\n250 8BITMIME\r\n`);
        } else if (verb === "HELO") {
          reply("250 relay.test\r\n");
        } else if (verb === "MAIL") {
          mails++;
          rcptTo = [];
          const answer = script.mailReply ? script.mailReply(mails) : "250 2.1.0 ok\r\n";
          if (answer === null) {
            socket.destroy();
            return;
          }
          mailFrom = answer.startsWith("2") ? (/<([^>]*)>/.exec(line)?.[1] ?? "") : "";
          if (script.mailReplyDelayMs) {
            sentBeforeMailReply.push(false);
            held = [answer];
            setTimeout(() => {
              const release = held ?? [];
              held = undefined;
              socket.write(release.join(""));
            }, script.mailReplyDelayMs);
          } else {
            reply(answer);
          }
        } else if (verb === "RCPT") {
          const address = /<([^>]*)>/.exec(line)?.[1] ?? "";
          const answer = script.rcptReply?.(address) ?? "250 2.1.5 ok\r\n";
          if (answer.startsWith("2")) rcptTo.push(address);
          reply(answer);
        } else if (verb === "DATA") {
          if (rcptTo.length === 0 || !mailFrom) {
            reply("554 5.5.1 no valid recipients\r\n");
          } else {
            inData = true;
            reply("354 go ahead\r\n");
          }
        } else if (verb === "RSET") {
          mailFrom = "";
          rcptTo = [];
          reply("250 2.0.0 ok\r\n");
        } else if (verb === "QUIT") {
          socket.end("221 2.0.0 bye\r\n");
          return;
        } else {
          reply("502 5.5.1 unknown command\r\n");
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    chunks,
    commands,
    messages,
    sentBeforeMailReply,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Types of scripts/postfix-instance.mjs (plain JavaScript, so that it runs with node alone). */
export declare const POSTFIX: string;
export declare const POSTQUEUE: string;
export declare const DEFAULT_MESSAGE_SIZE_LIMIT: number;
export declare const RELAY_MESSAGE_SIZE_LIMIT: number;
export declare const MX_PROCESS_LIMIT: number;

export declare function postfixUnavailableReason(): string | undefined;
export declare function postfixVersion(): string;
export declare function freePort(): Promise<number>;

export interface PostfixOptions {
  readonly posternPort: number;
  readonly posternHost?: string;
  readonly posternDomains?: readonly string[];
  readonly mailboxDomain?: string;
  readonly mailboxes?: readonly string[];
  readonly messageSizeLimit?: number;
  readonly mxPort?: number;
  readonly relayPort?: number;
  readonly plainMxPort?: boolean;
  readonly unreachableDomain?: string;
}

export interface PostfixInstance {
  readonly dir: string;
  readonly configDir: string;
  readonly host: "127.0.0.1";
  /** The domain's front door: every transaction passes through Postern (smtpd_proxy_filter). */
  readonly mxPort: number;
  /** Postern's smarthost. */
  readonly relayPort: number;
  /** Only with `plainMxPort: true`: a relay_domains front end without the proxy filter. */
  readonly plainMxPort: number | undefined;
  readonly messageSizeLimit: number;
  readonly mailboxDomain: string;
  /** The mbox file of `user@mailboxDomain`, or "" when nothing was delivered to it. */
  mailbox(address: string): string;
  /** Every non-empty mailbox, as addresses. */
  mailboxes(): string[];
  /** Files in the queues that hold mail (incoming, active, deferred, hold, corrupt, maildrop). */
  queuedFiles(): string[];
  /** `postqueue -c DIR -p`. */
  postqueue(): Promise<string>;
  /** The instance's maillog. */
  log(): string;
  stop(): Promise<void>;
  stopSync(): void;
}

export declare function startPostfix(options: PostfixOptions): Promise<PostfixInstance>;
export declare function stopOnExit(instance: PostfixInstance): () => void;

/** Types of scripts/postgres-cluster.mjs (plain JavaScript, so that CI and developers can run it with node alone). */
export declare const SUPERUSER: string;
export declare class PostgresUnavailableError extends Error {}
export declare function mayInstall(env?: NodeJS.ProcessEnv): boolean;
export declare function findPostgresBinDir(env?: NodeJS.ProcessEnv): string | undefined;
export declare function installPostgres(log?: (line: string) => void): Promise<void>;
export declare function ensurePostgresBinDir(options?: { log?: (line: string) => void }): Promise<string>;
export declare function freePort(): Promise<number>;

export interface Cluster {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly socketDir: string;
  readonly dataDir: string;
  readonly binDir: string;
  stop(): Promise<void>;
  stopSync(): void;
}

export declare function startCluster(options?: { port?: number; log?: (line: string) => void; binDir?: string }): Promise<Cluster>;
export declare function stopOnExit(cluster: Cluster): () => void;

import { configDefaults, defineConfig } from "vitest/config";
import * as cluster from "./scripts/postgres-cluster.mjs";

/**
 * Two projects, both run by `npm test` (vitest run):
 * - sqlite: every test file, on SQLite, as always.
 * - postgres: the integration tests that touch storage, again, on a throwaway PostgreSQL cluster
 *   that test/setup/postgres.ts starts for the run (see scripts/postgres-cluster.mjs).
 * Where PostgreSQL's server binaries are missing (and cannot be installed here), the postgres
 * project is left out and one line says so: a developer without PostgreSQL runs the SQLite suite.
 * `vitest run --project sqlite` / `--project postgres` runs one of them.
 */


/** Test files whose code reads or writes the store: these run on both engines. */
const STORAGE_TESTS = [
  "test/app/**/*.test.ts",
  "test/cli/**/*.test.ts",
  "test/domain/**/*.test.ts",
  // test/db/ tests the SQLite store and migrations themselves; PostgreSQL's have test/db/pg-*.test.ts.
  "test/db/pg-*.test.ts",
  "test/db/conversation-counts.test.ts",
  "test/db/row-mapper.test.ts",
  "test/inbound/handlers/**/*.test.ts",
  "test/inbound/pipeline.test.ts",
  "test/outbound/delivery-worker.test.ts",
  "test/outbound/post-copies.test.ts",
  "test/outbound/render.test.ts",
  "test/outbound/shared-body.test.ts",
  "test/outbound/threading-bounded.test.ts",
  "test/postgres/**/*.test.ts",
  "test/smtp/listener-mail-log.test.ts",
];

function postgresSkipReason(): string | undefined {
  if (cluster.findPostgresBinDir()) return undefined;
  // As root in CI (or with POSTERN_INSTALL_POSTGRES=1) the globalSetup installs Debian's package.
  if (cluster.mayInstall()) return undefined;
  return "no PostgreSQL server binaries (initdb, pg_ctl) in /usr/lib/postgresql/*/bin or pg_config --bindir; install Debian's postgresql package to run it";
}
const skipPostgres = postgresSkipReason();
// Vitest may evaluate this file more than once in a process: say it once.
const noticeKey = Symbol.for("postern.postgresSkipNotice");
if (skipPostgres && !(globalThis as Record<symbol, unknown>)[noticeKey]) {
  (globalThis as Record<symbol, unknown>)[noticeKey] = true;
  console.warn(`PostgreSQL suite skipped: ${skipPostgres}`);
}

export default defineConfig({
  test: {
    // Integration tests open real sockets and SQLite files; two cores, so keep parallelism modest.
    pool: "forks",
    maxWorkers: 2,
    testTimeout: 20_000,
    hookTimeout: 20_000,
    projects: [
      {
        extends: true,
        test: {
          name: "sqlite",
          include: ["test/**/*.test.ts"],
          exclude: [...configDefaults.exclude, "test/postgres/**", "test/db/pg-*.test.ts"],
          env: { POSTERN_TEST_ENGINE: "sqlite" },
        },
      },
      ...(skipPostgres
        ? []
        : [
            {
              extends: true as const,
              test: {
                name: "postgres",
                include: STORAGE_TESTS,
                env: { POSTERN_TEST_ENGINE: "postgres" },
                globalSetup: ["test/setup/postgres.ts"],
              },
            },
          ]),
    ],
  },
});

import { defineConfig } from "drizzle-kit";

/** The PostgreSQL engine's migrations; `drizzle.config.ts` is SQLite's. `npm run db:generate:pg`. */
export default defineConfig({
  dialect: "postgresql",
  schema: "./schema/pg-schema.ts",
  out: "./schema/migrations-pg",
});

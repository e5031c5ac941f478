ALTER TABLE "users" ADD COLUMN "last_bounce_at" bigint;--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "bouncing_since" bigint;
ALTER TABLE "conversations" ADD COLUMN "thread_index" text;--> statement-breakpoint
ALTER TABLE "posts" ADD COLUMN "html" text;
DROP INDEX "posts_conversation_idx";--> statement-breakpoint
CREATE INDEX "deliveries_recipient_status_idx" ON "deliveries" USING btree ("recipient_id","status");--> statement-breakpoint
CREATE INDEX "posts_conversation_idx" ON "posts" USING btree ("conversation_id","id","state","author_id","note","sent_at","created_at");
DROP INDEX `posts_conversation_idx`;--> statement-breakpoint
CREATE INDEX `posts_conversation_idx` ON `posts` (`conversation_id`,`id`,`state`,`author_id`,`note`,`sent_at`,`created_at`);--> statement-breakpoint
CREATE INDEX `deliveries_recipient_status_idx` ON `deliveries` (`recipient_id`,`status`);
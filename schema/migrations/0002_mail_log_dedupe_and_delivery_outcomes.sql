DROP INDEX `posts_source_message_id_unique`;--> statement-breakpoint
CREATE INDEX `posts_source_message_id_idx` ON `posts` (`source_message_id`);--> statement-breakpoint
ALTER TABLE `deliveries` ADD `error_category` text;--> statement-breakpoint
ALTER TABLE `inbound_messages` ADD `dedupe_key` text;--> statement-breakpoint
CREATE UNIQUE INDEX `inbound_messages_dedupe_key_idx` ON `inbound_messages` (`dedupe_key`);
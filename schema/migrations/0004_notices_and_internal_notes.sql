CREATE TABLE `notices` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`kind` text NOT NULL,
	`conversation_id` integer NOT NULL,
	`user_id` integer NOT NULL,
	`by_id` integer,
	`post_id` integer,
	`history` integer,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`conversation_id`) REFERENCES `conversations`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`by_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`post_id`) REFERENCES `posts`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `notices_conversation_idx` ON `notices` (`conversation_id`);--> statement-breakpoint
ALTER TABLE `deliveries` ADD `notice_id` integer REFERENCES notices(id);--> statement-breakpoint
CREATE UNIQUE INDEX `deliveries_notice_recipient_idx` ON `deliveries` (`notice_id`,`recipient_id`) WHERE "deliveries"."notice_id" IS NOT NULL;--> statement-breakpoint
ALTER TABLE `posts` ADD `note` integer DEFAULT false NOT NULL;
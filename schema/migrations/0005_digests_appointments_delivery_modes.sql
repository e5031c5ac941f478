CREATE TABLE `appointments` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`conversation_id` integer NOT NULL,
	`uid` text NOT NULL,
	`organizer_id` integer NOT NULL,
	`start_at` integer NOT NULL,
	`end_at` integer NOT NULL,
	`timezone` text,
	`location` text,
	`sequence` integer DEFAULT 0 NOT NULL,
	`state` text DEFAULT 'scheduled' NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`conversation_id`) REFERENCES `conversations`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`organizer_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `appointments_conversation_id_unique` ON `appointments` (`conversation_id`);--> statement-breakpoint
CREATE UNIQUE INDEX `appointments_uid_unique` ON `appointments` (`uid`);--> statement-breakpoint
CREATE TABLE `digest_posts` (
	`digest_id` integer NOT NULL,
	`post_id` integer NOT NULL,
	PRIMARY KEY(`digest_id`, `post_id`),
	FOREIGN KEY (`digest_id`) REFERENCES `digests`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`post_id`) REFERENCES `posts`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE TABLE `digests` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`user_id` integer NOT NULL,
	`window_start` integer NOT NULL,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `digests_user_window_idx` ON `digests` (`user_id`,`window_start`);--> statement-breakpoint
CREATE TABLE `rsvps` (
	`appointment_id` integer NOT NULL,
	`user_id` integer NOT NULL,
	`partstat` text NOT NULL,
	`counter_start_at` integer,
	`counter_end_at` integer,
	`comment` text,
	`sequence` integer NOT NULL,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`appointment_id`, `user_id`),
	FOREIGN KEY (`appointment_id`) REFERENCES `appointments`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
ALTER TABLE `deliveries` ADD `digest_id` integer REFERENCES digests(id);--> statement-breakpoint
ALTER TABLE `deliveries` ADD `appointment_id` integer REFERENCES appointments(id);--> statement-breakpoint
CREATE UNIQUE INDEX `deliveries_digest_idx` ON `deliveries` (`digest_id`) WHERE "deliveries"."digest_id" IS NOT NULL;--> statement-breakpoint
ALTER TABLE `participants` ADD `delivery` text;
CREATE TABLE `conversation_counts` (
	`conversation_id` integer PRIMARY KEY NOT NULL,
	`sent_posts` integer DEFAULT 0 NOT NULL,
	`sent_notes` integer DEFAULT 0 NOT NULL,
	`last_sent_post_id` integer DEFAULT 0 NOT NULL,
	FOREIGN KEY (`conversation_id`) REFERENCES `conversations`(`id`) ON UPDATE no action ON DELETE cascade
);

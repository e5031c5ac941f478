ALTER TABLE `conversations` ADD `thread_index` text;--> statement-breakpoint
ALTER TABLE `posts` ADD `html` text;
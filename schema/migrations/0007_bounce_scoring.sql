ALTER TABLE `users` ADD `last_bounce_at` integer;--> statement-breakpoint
ALTER TABLE `users` ADD `bouncing_since` integer;
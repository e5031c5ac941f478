CREATE TABLE "conversation_counts" (
	"conversation_id" integer NOT NULL,
	"sent_posts" integer DEFAULT 0 NOT NULL,
	"sent_notes" integer DEFAULT 0 NOT NULL,
	"last_sent_post_id" integer DEFAULT 0 NOT NULL,
	CONSTRAINT "conversation_counts_conversation_id_pk" PRIMARY KEY("conversation_id")
);
--> statement-breakpoint
ALTER TABLE "conversation_counts" ADD CONSTRAINT "conversation_counts_conversation_id_conversations_id_fk" FOREIGN KEY ("conversation_id") REFERENCES "public"."conversations"("id") ON DELETE cascade ON UPDATE no action;
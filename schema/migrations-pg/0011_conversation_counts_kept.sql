-- conversation_counts follows the posts as they are sent, whatever code or node writes them: the
-- same rule as schema/migrations/0012_conversation_counts_kept.sql on SQLite. A post is counted
-- when it is written already sent, or when a draft becomes sent; sent posts cannot be changed or
-- deleted (0001), so nothing is ever taken off. The upsert settles two nodes sending the first
-- posts of a conversation at once. Then the posts sent so far are counted.
CREATE FUNCTION conversation_counts_add_sent_post() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO conversation_counts AS c (conversation_id, sent_posts, sent_notes, last_sent_post_id)
  VALUES (NEW.conversation_id, 1, CASE WHEN NEW.note THEN 1 ELSE 0 END, NEW.id)
  ON CONFLICT (conversation_id) DO UPDATE SET
    sent_posts = c.sent_posts + 1,
    sent_notes = c.sent_notes + EXCLUDED.sent_notes,
    last_sent_post_id = GREATEST(c.last_sent_post_id, EXCLUDED.last_sent_post_id);
  RETURN NULL;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER conversation_counts_post_inserted
AFTER INSERT ON posts
FOR EACH ROW
WHEN (NEW.state = 'sent')
EXECUTE FUNCTION conversation_counts_add_sent_post();
--> statement-breakpoint
CREATE TRIGGER conversation_counts_post_sent
AFTER UPDATE OF state ON posts
FOR EACH ROW
WHEN (OLD.state <> 'sent' AND NEW.state = 'sent')
EXECUTE FUNCTION conversation_counts_add_sent_post();
--> statement-breakpoint
INSERT INTO conversation_counts (conversation_id, sent_posts, sent_notes, last_sent_post_id)
SELECT conversation_id, count(*), sum(CASE WHEN note THEN 1 ELSE 0 END), max(id) FROM posts WHERE state = 'sent' GROUP BY conversation_id;

-- conversation_counts follows the posts as they are sent, whatever code writes them. A post is
-- counted when it is written already sent, or when a draft becomes sent; sent posts cannot be
-- changed or deleted (0001), so nothing is ever taken off. Then the posts sent so far are counted.
CREATE TRIGGER conversation_counts_post_inserted
AFTER INSERT ON posts
WHEN NEW.state = 'sent'
BEGIN
  INSERT INTO conversation_counts (conversation_id, sent_posts, sent_notes, last_sent_post_id)
  VALUES (NEW.conversation_id, 1, NEW.note, NEW.id)
  ON CONFLICT (conversation_id) DO UPDATE SET
    sent_posts = sent_posts + 1,
    sent_notes = sent_notes + excluded.sent_notes,
    last_sent_post_id = max(last_sent_post_id, excluded.last_sent_post_id);
END;
--> statement-breakpoint
CREATE TRIGGER conversation_counts_post_sent
AFTER UPDATE OF state ON posts
WHEN OLD.state <> 'sent' AND NEW.state = 'sent'
BEGIN
  INSERT INTO conversation_counts (conversation_id, sent_posts, sent_notes, last_sent_post_id)
  VALUES (NEW.conversation_id, 1, NEW.note, NEW.id)
  ON CONFLICT (conversation_id) DO UPDATE SET
    sent_posts = sent_posts + 1,
    sent_notes = sent_notes + excluded.sent_notes,
    last_sent_post_id = max(last_sent_post_id, excluded.last_sent_post_id);
END;
--> statement-breakpoint
INSERT INTO conversation_counts (conversation_id, sent_posts, sent_notes, last_sent_post_id)
SELECT conversation_id, count(*), sum(note), max(id) FROM posts WHERE state = 'sent' GROUP BY conversation_id;

-- A sent post is a record of what people received: the database itself refuses to change or delete it.
CREATE TRIGGER posts_sent_are_immutable
BEFORE UPDATE ON posts
WHEN OLD.state = 'sent'
BEGIN
  SELECT RAISE(ABORT, 'a sent post cannot be modified');
END;
--> statement-breakpoint
CREATE TRIGGER posts_sent_cannot_be_deleted
BEFORE DELETE ON posts
WHEN OLD.state = 'sent'
BEGIN
  SELECT RAISE(ABORT, 'a sent post cannot be deleted');
END;

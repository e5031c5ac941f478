-- A sent post is a record of what people received: the database itself refuses to change or delete it.
-- The same rule as schema/migrations/0001_posts_immutable_once_sent.sql on SQLite, with the same messages;
-- the SQLSTATE is in the integrity-constraint class (23000), as SQLite reports RAISE(ABORT) as a constraint error.
CREATE FUNCTION posts_refuse_change_once_sent() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'a sent post cannot be deleted' USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RAISE EXCEPTION 'a sent post cannot be modified' USING ERRCODE = 'integrity_constraint_violation';
END;
$$;
--> statement-breakpoint
CREATE TRIGGER posts_sent_are_immutable
BEFORE UPDATE ON posts
FOR EACH ROW
WHEN (OLD.state = 'sent')
EXECUTE FUNCTION posts_refuse_change_once_sent();
--> statement-breakpoint
CREATE TRIGGER posts_sent_cannot_be_deleted
BEFORE DELETE ON posts
FOR EACH ROW
WHEN (OLD.state = 'sent')
EXECUTE FUNCTION posts_refuse_change_once_sent();

-- What queue.db schema version 2 added on top of v1.sql and v1-late.sql
-- (commit 23a065e, src/queue/queue_db.c: db_upgrade_v2): the dead
-- letters' mailbox and flags, paused_dest. Kept so that
-- tests/integration/test_queue_upgrade.py can build a version 2 queue
-- and upgrade it. Never edit.
ALTER TABLE deadletter ADD COLUMN mailbox TEXT;
ALTER TABLE deadletter ADD COLUMN flags INTEGER NOT NULL DEFAULT 0;
CREATE TABLE paused_dest ( domain TEXT NOT NULL PRIMARY KEY, since INTEGER NOT NULL, reason TEXT);
PRAGMA user_version = 2;

-- What the later releases of queue.db schema version 1 added to it without
-- a version change (commit 00c60c7, src/queue/queue_db.c: schema_delivery
-- and schema_control, CREATE ... IF NOT EXISTS at every open). On top of
-- v1.sql, the last release of version 1. Kept so that
-- tests/integration/test_queue_upgrade.py can build such a queue and
-- upgrade it. Never edit.
CREATE TABLE IF NOT EXISTS deadletter ( id INTEGER PRIMARY KEY, qid TEXT NOT NULL, time INTEGER NOT NULL, created INTEGER NOT NULL, sender TEXT NOT NULL, recipient TEXT NOT NULL, reason TEXT NOT NULL, data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS deadletter_time ON deadletter(time);
CREATE INDEX IF NOT EXISTS recipient_remote_due ON recipient(next_attempt) WHERE mailbox IS NULL AND state < 2;
CREATE TABLE IF NOT EXISTS delay_notice ( rcpt_id INTEGER PRIMARY KEY  REFERENCES recipient(id) ON DELETE CASCADE, time INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS bans ( cidr TEXT NOT NULL PRIMARY KEY, reason TEXT, origin TEXT, created INTEGER NOT NULL, expires INTEGER);
CREATE TABLE IF NOT EXISTS user_state ( user TEXT PRIMARY KEY, state TEXT NOT NULL CHECK (state IN ('active','held','suspended')), reason TEXT, updated INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS watch_traffic ( id INTEGER PRIMARY KEY, sender TEXT NOT NULL, time INTEGER NOT NULL, rcpts INTEGER NOT NULL, ext_rcpts INTEGER NOT NULL, ext_domains TEXT NOT NULL, mail_from TEXT);
CREATE INDEX IF NOT EXISTS watch_traffic_time ON watch_traffic(time);
CREATE TABLE IF NOT EXISTS verify_cache ( address TEXT NOT NULL PRIMARY KEY, result INTEGER NOT NULL CHECK (result IN (0, 1)), reply TEXT NOT NULL, updated INTEGER NOT NULL, expires INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS verify_cache_expires ON verify_cache(expires);

-- queue.db schema version 1 as the first release wrote it: commit af101fb,
-- src/queue/queue_db.c, schema_v1.
-- Kept so that tests/integration/test_queue_upgrade.py can build a
-- populated queue of that version and upgrade it. Never edit.
CREATE TABLE message ( id INTEGER PRIMARY KEY, qid TEXT NOT NULL UNIQUE, created INTEGER NOT NULL, sender TEXT NOT NULL, sender_domain TEXT NOT NULL, helo TEXT NOT NULL, client_ip TEXT NOT NULL, auth_user TEXT, listener TEXT NOT NULL, envid TEXT, ret INTEGER NOT NULL, flags INTEGER NOT NULL, size INTEGER NOT NULL, rcpt_count INTEGER NOT NULL);
CREATE TABLE body ( msg_id INTEGER PRIMARY KEY REFERENCES message(id) ON DELETE CASCADE, data BLOB NOT NULL);
CREATE TABLE recipient ( id INTEGER PRIMARY KEY, msg_id INTEGER NOT NULL REFERENCES message(id) ON DELETE CASCADE, address TEXT NOT NULL, domain TEXT NOT NULL, orcpt TEXT, notify INTEGER NOT NULL, mailbox TEXT, state INTEGER NOT NULL DEFAULT 0 CHECK (state BETWEEN 0 AND 4), attempts INTEGER NOT NULL DEFAULT 0, next_attempt INTEGER NOT NULL DEFAULT 0, last_error TEXT, updated INTEGER NOT NULL);
CREATE TABLE events ( id INTEGER PRIMARY KEY, time INTEGER NOT NULL, type TEXT NOT NULL, client_ip TEXT, user TEXT, session TEXT, detail TEXT);
CREATE INDEX message_created ON message(created);
CREATE INDEX message_sender ON message(sender);
CREATE INDEX message_auth_user ON message(auth_user);
CREATE INDEX message_client_ip ON message(client_ip);
CREATE INDEX recipient_msg ON recipient(msg_id);
CREATE INDEX recipient_domain_state ON recipient(domain, state);
CREATE INDEX recipient_state_next ON recipient(state, next_attempt);
CREATE INDEX recipient_local_due ON recipient(next_attempt) WHERE mailbox IS NOT NULL AND state < 2;
CREATE INDEX events_time ON events(time);
CREATE INDEX events_type ON events(type);
CREATE INDEX events_client_ip ON events(client_ip);
CREATE INDEX events_user ON events(user);
PRAGMA user_version = 1;

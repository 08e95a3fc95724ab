-- What queue.db schema version 3 added on top of v2.sql (commit
-- dbf55a6, src/queue/queue_db.c: db_upgrade_v3): login_nets,
-- with the networks two accounts logged in from. Kept so that
-- tests/integration/test_queue_upgrade.py can build a version 3 queue
-- and upgrade it. Never edit.
CREATE TABLE login_nets ( user TEXT NOT NULL, net TEXT NOT NULL, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL, logins INTEGER NOT NULL, PRIMARY KEY (user, net)) WITHOUT ROWID;
INSERT INTO login_nets(user, net, first_seen, last_seen, logins)
VALUES ('alice', '192.0.2.0/24', CAST(strftime('%s', 'now') AS INTEGER) - 86400,
    CAST(strftime('%s', 'now') AS INTEGER) - 60, 12);
INSERT INTO login_nets(user, net, first_seen, last_seen, logins)
VALUES ('bob', '2001:db8:1::/64', CAST(strftime('%s', 'now') AS INTEGER) - 7200,
    CAST(strftime('%s', 'now') AS INTEGER) - 3600, 3);
PRAGMA user_version = 3;

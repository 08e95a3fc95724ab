-- Mail in a version 1 queue (tests/integration/test_queue_upgrade.py):
-- message 1 to a local mailbox (bob) and a remote recipient, queued;
-- message 2 to a remote recipient, deferred twice and due again;
-- message 3 held (a remote recipient);
-- message 4 to a local mailbox (alice), deferred and due.
-- Columns as version 1 has them; times a minute ago (not expired).
CREATE TEMP TABLE t(now INTEGER);
INSERT INTO t VALUES (CAST(strftime('%s', 'now') AS INTEGER) - 60);

INSERT INTO message(id, qid, created, sender, sender_domain, helo, client_ip,
    auth_user, listener, envid, ret, flags, size, rcpt_count)
SELECT 1, '0a0000000001', now, 'sender@example.org', 'example.org',
    'client.example', '127.0.0.2', NULL, 'mx', NULL, 0, 0, 0, 2 FROM t
UNION ALL SELECT 2, '0a0000000002', now, 'sender@example.org', 'example.org',
    'client.example', '127.0.0.2', NULL, 'mx', 'ENV2', 2, 1, 0, 1 FROM t
UNION ALL SELECT 3, '0a0000000003', now, 'sender@example.org', 'example.org',
    'client.example', '127.0.0.2', 'alice', 'submission', NULL, 0, 0, 0, 1
    FROM t
UNION ALL SELECT 4, '0a0000000004', now, 'friend@outside.example',
    'outside.example', 'mail.outside.example', '192.0.2.7', NULL, 'mx', NULL,
    0, 0, 0, 1 FROM t;

INSERT INTO body(msg_id, data) VALUES
 (1, CAST('Received: from client.example; v1' || char(13, 10) ||
  'From: sender@example.org' || char(13, 10) ||
  'Subject: v1 message one' || char(13, 10) || char(13, 10) ||
  'body of message one' || char(13, 10) AS BLOB)),
 (2, CAST('From: sender@example.org' || char(13, 10) ||
  'Subject: v1 message two' || char(13, 10) || char(13, 10) ||
  'body of message two' || char(13, 10) AS BLOB)),
 (3, CAST('From: alice@example.org' || char(13, 10) ||
  'Subject: v1 message three' || char(13, 10) || char(13, 10) ||
  'body of message three' || char(13, 10) AS BLOB)),
 (4, CAST('From: friend@outside.example' || char(13, 10) ||
  'Subject: v1 message four' || char(13, 10) || char(13, 10) ||
  'body of message four' || char(13, 10) AS BLOB));
UPDATE message SET size = (SELECT length(data) FROM body WHERE msg_id = id);

INSERT INTO recipient(id, msg_id, address, domain, orcpt, notify, mailbox,
    state, attempts, next_attempt, last_error, updated)
SELECT 1, 1, 'bob@example.org', 'example.org', NULL, 0, 'bob', 0, 0, now,
    NULL, now FROM t
UNION ALL SELECT 2, 1, 'carol@remote.test', 'remote.test', NULL, 0, NULL, 0,
    0, now, NULL, now FROM t
UNION ALL SELECT 3, 2, 'dave@remote.test', 'remote.test',
    'rfc822;dave@remote.test', 14, NULL, 1, 2, now,
    '451 4.3.0 try again later', now FROM t
UNION ALL SELECT 4, 3, 'erin@remote.test', 'remote.test', NULL, 0, NULL, 2, 0,
    now, NULL, now FROM t
UNION ALL SELECT 5, 4, 'alice@example.org', 'example.org', NULL, 0, 'alice',
    1, 1, now, 'Maildir: No space left on device', now FROM t;

INSERT INTO events(time, type, client_ip, user, session, detail)
SELECT now, 'auth_fail', '192.0.2.9', 'alice', '00000000000000aa',
    'mech=PLAIN' FROM t;
DROP TABLE t;

-- More of a late version 1 queue: a dead letter (no mailbox or flags
-- columns then), a ban and an account state.
INSERT INTO deadletter(qid, time, created, sender, recipient, reason, data)
VALUES ('0a00000000dd', CAST(strftime('%s', 'now') AS INTEGER) - 30,
    CAST(strftime('%s', 'now') AS INTEGER) - 90, '', 'frank@remote.test',
    '550 5.1.1 no such user',
    CAST('From: MAILER-DAEMON@mx.test.example' || char(13, 10) ||
    'Subject: v1 dead letter' || char(13, 10) || char(13, 10) ||
    'a bounce nobody took' || char(13, 10) AS BLOB));
INSERT INTO bans(cidr, reason, origin, created, expires)
VALUES ('198.51.100.0/24', 'v1 ban', 'admin',
    CAST(strftime('%s', 'now') AS INTEGER), NULL);
INSERT INTO user_state(user, state, reason, updated)
VALUES ('mallory', 'suspended', 'v1 state',
    CAST(strftime('%s', 'now') AS INTEGER));

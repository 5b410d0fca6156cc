-- civkey schema, version 9: delivery workers' claims on outbox rows. Portable like the others.

-- A delivery worker's claim on a message it is attempting: until when (Unix seconds) no other
-- worker takes it. Kept apart from the message's next attempt, so that an operator's retry
-- (which moves the next attempt) never reopens a message a worker is sending.
ALTER TABLE outbox ADD COLUMN claimed_until BIGINT;

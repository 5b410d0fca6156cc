-- civkey schema, version 6: notifications and their delivery. Portable like the others.

-- Informative notifications to the citizen's e-mail address and phone number (on by default; they
-- apply only while the address exists). The language notifications are written in, when known.
ALTER TABLE citizens ADD COLUMN notify_email_informative BIGINT NOT NULL DEFAULT 1;
ALTER TABLE citizens ADD COLUMN notify_phone_informative BIGINT NOT NULL DEFAULT 1;
ALTER TABLE citizens ADD COLUMN locale TEXT;
-- The last event id handed out for the citizen: event ids increase per citizen.
ALTER TABLE citizens ADD COLUMN last_event_id BIGINT NOT NULL DEFAULT 0;

-- Events for the citizen's mobile keys (the stream and the push endpoints). device_id NULL means
-- every device of the citizen; audience names the device setting that lets it through
-- (login | informative | bok_pad); kind is the EventKind as JSON; a BOK request expires.
CREATE TABLE events (
    citizen_id TEXT NOT NULL REFERENCES citizens (id) ON DELETE CASCADE,
    id BIGINT NOT NULL,
    device_id TEXT,
    audience TEXT NOT NULL,
    kind TEXT NOT NULL,
    at BIGINT NOT NULL,
    expires_at BIGINT,
    PRIMARY KEY (citizen_id, id)
);

-- Push rows name their device (an endpoint that is gone is cleared on it); a row past expires_at
-- (a BOK request nobody can answer any more) is given up instead of retried, as is one whose
-- endpoint answered 404/410.
ALTER TABLE outbox ADD COLUMN device_id TEXT;
ALTER TABLE outbox ADD COLUMN expires_at BIGINT;
ALTER TABLE outbox ADD COLUMN gave_up_at BIGINT;

-- 0006: a booking after it is made: cancels and reschedules, queued for the central
-- service like registrations (central-api.md, "Version 1.1"). Never edited once released.
-- Run with foreign keys off (Store::migrate), as SQLite's way of changing a table asks.

-- The registrations table again, for three changes the old one cannot take:
-- - the queue number is unique among the bookings that still stand (cancelled_at IS
--   NULL), so that the number of a booking cancelled before it reached the service can
--   be booked again by this kiosk;
-- - status 'released': cancelled before the central service ever saw it (it never
--   will: its upload row went with the cancellation);
-- - cancelled_at (the applicant cancelled here) and reschedules_left (one, as the
--   service counts them).
-- The row stays the booking as the applicant now holds it: a reschedule changes its
-- date, session, number and ticket in place.
CREATE TABLE registrations_new (
    registration_id       TEXT    PRIMARY KEY,
    group_id              TEXT    NOT NULL REFERENCES groups (group_id),
    position              INTEGER NOT NULL,
    office_id             TEXT    NOT NULL,
    date                  TEXT    NOT NULL,
    session_id            TEXT    NOT NULL,
    kind                  TEXT    NOT NULL CHECK (kind IN ('regular', 'priority')),
    queue_number          INTEGER NOT NULL,
    allocation_id         TEXT    NOT NULL,
    nik_tag               TEXT    NOT NULL,
    application_type      TEXT    NOT NULL,
    passport_type         TEXT    NOT NULL,
    priority_reason       TEXT,
    source                TEXT    NOT NULL CHECK (source IN ('chip', 'manual')),
    applicant             TEXT,
    ticket_name           TEXT,
    masked_nik            TEXT    NOT NULL,
    ticket                TEXT    NOT NULL,
    created_at            TEXT    NOT NULL,
    created_on            TEXT    NOT NULL,
    printed_at            TEXT,
    status                TEXT    NOT NULL DEFAULT 'pending'
                                  CHECK (status IN ('pending', 'accepted', 'rejected', 'released')),
    reject_reason         TEXT,
    receipt               TEXT,
    result_at             TEXT,
    print_attempts        INTEGER NOT NULL DEFAULT 0,
    last_print_attempt_at TEXT,
    child                 INTEGER NOT NULL DEFAULT 0,
    cancelled_at          TEXT,
    reschedules_left      INTEGER NOT NULL DEFAULT 1
) STRICT;
INSERT INTO registrations_new
    (registration_id, group_id, position, office_id, date, session_id, kind, queue_number,
     allocation_id, nik_tag, application_type, passport_type, priority_reason, source,
     applicant, ticket_name, masked_nik, ticket, created_at, created_on, printed_at, status,
     reject_reason, receipt, result_at, print_attempts, last_print_attempt_at, child)
SELECT registration_id, group_id, position, office_id, date, session_id, kind, queue_number,
       allocation_id, nik_tag, application_type, passport_type, priority_reason, source,
       applicant, ticket_name, masked_nik, ticket, created_at, created_on, printed_at, status,
       reject_reason, receipt, result_at, print_attempts, last_print_attempt_at, child
  FROM registrations;
DROP TABLE registrations;
ALTER TABLE registrations_new RENAME TO registrations;
CREATE UNIQUE INDEX registrations_number
    ON registrations (office_id, date, session_id, kind, queue_number)
    WHERE cancelled_at IS NULL;
CREATE INDEX registrations_nik_tag ON registrations (nik_tag);
CREATE INDEX registrations_group ON registrations (group_id, position);
CREATE INDEX registrations_unprinted ON registrations (date) WHERE printed_at IS NULL;

-- Set in its own transaction before an upload request goes out: a registration whose
-- row has no sent_at has never reached the service, and a cancel of it is a release,
-- not a change to send.
ALTER TABLE upload_queue ADD COLUMN sent_at TEXT;

-- Cancels and reschedules the central service has not answered yet, one row per change,
-- written in the transaction that changes the booking here. A row goes only when its
-- answer is stored (change_answers). No foreign key: a change may be of a booking made
-- at another kiosk, found through POST /v1/bookings/find. `body` is the request as the
-- spec writes it (JSON); `before` is a reschedule's booking as it was, restored if the
-- service refuses (JSON; NULL for a cancel and for a booking found at the service);
-- `date` is the latest visit date the change concerns, for the retention rules.
CREATE TABLE change_queue (
    change_id       TEXT    PRIMARY KEY,
    registration_id TEXT    NOT NULL,
    kind            TEXT    NOT NULL CHECK (kind IN ('cancel', 'reschedule')),
    body            TEXT    NOT NULL,
    before          TEXT,
    date            TEXT    NOT NULL,
    created_at      TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT
) STRICT;
CREATE INDEX change_queue_registration ON change_queue (registration_id);

-- The service's answer to each change, so that a change sent again (a lost answer) is
-- answered from here, and a refusal reaches the technician's report. No personal data.
CREATE TABLE change_answers (
    change_id       TEXT    PRIMARY KEY,
    registration_id TEXT    NOT NULL,
    kind            TEXT    NOT NULL CHECK (kind IN ('cancel', 'reschedule')),
    outcome         TEXT    NOT NULL CHECK (outcome IN ('done', 'refused')),
    refusal         TEXT,
    receipt         TEXT,
    date            TEXT    NOT NULL,
    answered_at     TEXT    NOT NULL
) STRICT;

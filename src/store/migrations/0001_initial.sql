-- 0001: the first schema. Migrations are never edited once released: a change is a new file.

-- Small facts the kiosk keeps between runs: the offices' ETag, the blocklist version,
-- the last successful sync.
CREATE TABLE kv (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

-- The offices this kiosk may book for, as the central service last described them
-- (domain::calendar::Office as JSON), so that it books from its cache when offline.
CREATE TABLE offices (
    office_id TEXT PRIMARY KEY,
    body      TEXT NOT NULL
) STRICT;

-- Queue numbers the central service handed this kiosk in advance. A number is free
-- while registration_id is NULL and released = 0; booking takes the lowest free one.
CREATE TABLE held_numbers (
    office_id       TEXT    NOT NULL,
    date            TEXT    NOT NULL,
    session_id      TEXT    NOT NULL,
    kind            TEXT    NOT NULL CHECK (kind IN ('regular', 'priority')),
    number          INTEGER NOT NULL,
    allocation_id   TEXT    NOT NULL,
    registration_id TEXT,
    released        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (office_id, date, session_id, kind, number)
) STRICT;
CREATE INDEX held_numbers_free ON held_numbers (office_id, date, session_id, kind, number)
    WHERE registration_id IS NULL AND released = 0;

-- A family group booked in one kiosk session.
CREATE TABLE groups (
    group_id     TEXT    PRIMARY KEY,
    booking_code TEXT    NOT NULL,
    office_id    TEXT    NOT NULL,
    date         TEXT    NOT NULL,
    session_id   TEXT    NOT NULL,
    language     TEXT    NOT NULL,
    size         INTEGER NOT NULL,
    created_at   TEXT    NOT NULL
) STRICT;

-- One applicant's booking. `applicant` holds the personal data the central service
-- needs and is cleared once the service has accepted or rejected it; `nik_tag` (a keyed
-- hash) stays so that the kiosk can still apply the one-booking and 30-day rules;
-- `ticket_name` and `masked_nik` stay until the visit date, for reprints.
CREATE TABLE registrations (
    registration_id  TEXT    PRIMARY KEY,
    group_id         TEXT    NOT NULL REFERENCES groups (group_id),
    position         INTEGER NOT NULL,
    office_id        TEXT    NOT NULL,
    date             TEXT    NOT NULL,
    session_id       TEXT    NOT NULL,
    kind             TEXT    NOT NULL CHECK (kind IN ('regular', 'priority')),
    queue_number     INTEGER NOT NULL,
    allocation_id    TEXT    NOT NULL,
    nik_tag          TEXT    NOT NULL,
    application_type TEXT    NOT NULL,
    passport_type    TEXT    NOT NULL,
    priority_reason  TEXT,
    source           TEXT    NOT NULL CHECK (source IN ('chip', 'manual')),
    applicant        TEXT,
    ticket_name      TEXT,
    masked_nik       TEXT    NOT NULL,
    ticket           TEXT    NOT NULL,
    created_at       TEXT    NOT NULL,
    created_on       TEXT    NOT NULL,
    printed_at       TEXT,
    status           TEXT    NOT NULL DEFAULT 'pending'
                             CHECK (status IN ('pending', 'accepted', 'rejected')),
    reject_reason    TEXT,
    receipt          TEXT,
    result_at        TEXT,
    UNIQUE (office_id, date, session_id, kind, queue_number)
) STRICT;
CREATE INDEX registrations_nik_tag ON registrations (nik_tag);
CREATE INDEX registrations_group ON registrations (group_id, position);

-- Registrations the central service has not answered yet. A row goes only when its
-- result is stored.
CREATE TABLE upload_queue (
    registration_id TEXT    PRIMARY KEY REFERENCES registrations (registration_id),
    enqueued_at     TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT
) STRICT;

-- What happened, for the maintenance side: never personal data.
CREATE TABLE audit (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     TEXT    NOT NULL,
    event  TEXT    NOT NULL,
    detail TEXT    NOT NULL
) STRICT;

-- The central service's NIK blocklist: keyed hashes and the last day each is blocked.
CREATE TABLE blocklist (
    h     TEXT PRIMARY KEY,
    until TEXT NOT NULL
) STRICT;

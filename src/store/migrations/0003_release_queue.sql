-- 0003: numbers on their way back to the central service. Never edited once released.

-- A number leaves booking (held_numbers.released = 1) in the same transaction that puts
-- it here, before its release is sent; the row goes only once the service has answered.
-- A release whose answer was lost (a broken connection, a kill) may have freed the number
-- at the service: it is sent again until answered (the service counts only what a call
-- frees) and never booked again. Rows of a past date go: the service has those back.
CREATE TABLE release_queue (
    allocation_id TEXT    NOT NULL,
    number        INTEGER NOT NULL,
    date          TEXT    NOT NULL,
    queued_at     TEXT    NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT,
    PRIMARY KEY (allocation_id, number)
) STRICT;

-- 0002: print attempts, so that a reprint is marked COPY. Never edited once released.

-- How many times a ticket's job was sent to the printer (counted just before the bytes
-- go out, so a job cut short by paper out, a pulled cable or a power cut still counts),
-- and when the last one was. A ticket printed when an attempt was made before is a COPY:
-- part of the first one may be in the applicant's hand.
ALTER TABLE registrations ADD COLUMN print_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE registrations ADD COLUMN last_print_attempt_at TEXT;

-- The printer worker looks for tickets still to print every few seconds.
CREATE INDEX registrations_unprinted ON registrations (date) WHERE printed_at IS NULL;

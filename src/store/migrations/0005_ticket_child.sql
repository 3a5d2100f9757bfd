-- 0005: whether a registration is a child's, for the ticket's wording and its documents
-- (`Applicant::is_child`: entered on the keypad with the family card's number). Kept in
-- its own column because the applicant record is cleared once the central service has
-- it, and a ticket printed again later must still be a child's. Never edited once
-- released.
ALTER TABLE registrations ADD COLUMN child INTEGER NOT NULL DEFAULT 0;

-- Registrations booked before this column: the applicant record says it while it is
-- kept (the same test as `Applicant::is_child`, once, for these old rows).
UPDATE registrations SET child = 1
 WHERE applicant IS NOT NULL
   AND json_extract(applicant, '$.source') = 'manual'
   AND json_extract(applicant, '$.kk_number') IS NOT NULL;

-- 0004: the database's own id. Never edited once released.

-- Once the kiosk has held numbers or booked on this database, `store.mark` beside it
-- names this id (store::mark): a database found missing, empty or with another id is
-- then refused at start, since bookings and held numbers would be lost without a word.
INSERT INTO kv (key, value) VALUES ('store_id', lower(hex(randomblob(16))))
    ON CONFLICT (key) DO NOTHING;

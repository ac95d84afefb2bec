-- +goose Up
-- The impact index (migration 00031) gets about two entries per document, so
-- GIN's pending list (fastupdate) saves writers little, while every search
-- must read the whole list: measured on the bench database during a
-- concurrent load, each impact round read ~180 pending-list pages to find
-- 0-22 documents. Insert entries directly instead, and flush what is pending.
ALTER INDEX documents_search_impacts_idx SET (fastupdate = off);
SELECT gin_clean_pending_list('documents_search_impacts_idx'::regclass);

-- +goose Down
ALTER INDEX documents_search_impacts_idx RESET (fastupdate);

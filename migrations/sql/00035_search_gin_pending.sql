-- +goose Up
-- GIN pending lists are read by every query that uses the index, until a
-- vacuum or a full list (gin_pending_list_limit, 4 MB by default) merges
-- them. Measured on the vector bench after ingesting 6,000 photo documents
-- (6,112 pending entries, 45 pages in the tags index): a 0.1% tag-filtered
-- semantic query took 1.33 ms, 0.60 ms once the tags list was merged; a
-- full 4 MB list is 512 pages. So:
-- - tags and props (a handful of keys per document) are written straight
--   into the index, as the impacts index is (00033): a few page updates per
--   row instead of a list every filtered query reads;
-- - the full-text and trigram indexes (dozens of keys per document, where
--   the list is what makes bulk loads affordable) keep it, capped at 256 kB
--   (32 pages): the writer that fills it merges it, in smaller steps.
ALTER INDEX documents_tags_idx SET (fastupdate = off);
ALTER INDEX documents_props_idx SET (fastupdate = off);
ALTER INDEX documents_search_idx SET (gin_pending_list_limit = 256);
ALTER INDEX documents_title_trgm_idx SET (gin_pending_list_limit = 256);
-- Turning fastupdate off keeps what is pending: merge it now.
SELECT gin_clean_pending_list('documents_tags_idx'::regclass);
SELECT gin_clean_pending_list('documents_props_idx'::regclass);

-- +goose Down
ALTER INDEX documents_tags_idx RESET (fastupdate);
ALTER INDEX documents_props_idx RESET (fastupdate);
ALTER INDEX documents_search_idx RESET (gin_pending_list_limit);
ALTER INDEX documents_title_trgm_idx RESET (gin_pending_list_limit);

-- +goose Up
-- Why the embedding sweep left a document without a vector (the embedding
-- service's refusal, or no text), and when it last tried: /readyz shows the
-- latest, so a backlog that does not shrink explains itself. Rows from
-- before this column have an empty reason.
ALTER TABLE embedding_attempts
    ADD COLUMN reason   text NOT NULL DEFAULT '',
    ADD COLUMN tried_at timestamptz NOT NULL DEFAULT now();

-- +goose Down
ALTER TABLE embedding_attempts DROP COLUMN reason, DROP COLUMN tried_at;

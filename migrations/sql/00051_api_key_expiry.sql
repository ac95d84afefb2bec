-- +goose Up
-- A key may expire: past expires_at it is refused (401, "expired"), which
-- lets keys be issued for a period and rotated (create the new key, move
-- clients, revoke the old one). NULL: never expires.
ALTER TABLE api_keys ADD COLUMN expires_at timestamptz;

-- +goose Down
ALTER TABLE api_keys DROP COLUMN expires_at;

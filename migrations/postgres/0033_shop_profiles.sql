-- A shop's public profile and branding, edited by its sellers. Suspension
-- reuses shops.status ('suspended'); suspended_at/reason say when and why.
CREATE TABLE shop_profiles (
    shop_id      TEXT PRIMARY KEY REFERENCES shops(id),
    description  TEXT NOT NULL DEFAULT '',
    logo_url     TEXT,
    banner_url   TEXT,
    accent_color TEXT,
    updated_at   BIGINT NOT NULL
);
ALTER TABLE shops ADD COLUMN suspended_reason TEXT;

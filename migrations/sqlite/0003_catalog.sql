-- Catalog: per-shop hierarchical categories, products, and their variants
-- (the sellable unit: SKU, options, price, stock counters).
CREATE TABLE categories (
    id         TEXT PRIMARY KEY,
    shop_id    TEXT NOT NULL REFERENCES shops(id),
    parent_id  TEXT REFERENCES categories(id),
    slug       TEXT NOT NULL,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (shop_id, slug)
);
CREATE INDEX categories_parent ON categories(parent_id);

CREATE TABLE products (
    id          TEXT PRIMARY KEY,
    shop_id     TEXT NOT NULL REFERENCES shops(id),
    category_id TEXT REFERENCES categories(id),
    title       TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    image_urls  TEXT NOT NULL DEFAULT '[]',
    status      TEXT NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'published')),
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX products_shop ON products(shop_id, id);
CREATE INDEX products_category ON products(category_id);

-- available: sellable now; reserved: held for pending orders or live holds.
-- The CHECKs are the last line of defence: the conditional UPDATEs never let
-- either go below zero in the first place.
CREATE TABLE variants (
    id                TEXT PRIMARY KEY,
    product_id        TEXT NOT NULL REFERENCES products(id),
    shop_id           TEXT NOT NULL REFERENCES shops(id),
    sku               TEXT NOT NULL,
    options           TEXT NOT NULL DEFAULT '{}',
    price             BIGINT NOT NULL CHECK (price >= 0),
    compare_at_price  BIGINT,
    currency          TEXT NOT NULL,
    weight_grams      BIGINT NOT NULL DEFAULT 0,
    image_urls        TEXT NOT NULL DEFAULT '[]',
    available         BIGINT NOT NULL DEFAULT 0 CHECK (available >= 0),
    reserved          BIGINT NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    created_at        BIGINT NOT NULL,
    UNIQUE (shop_id, sku)
);
CREATE INDEX variants_product ON variants(product_id);

-- Full-text index (FTS5, external content) kept in step by triggers.
CREATE VIRTUAL TABLE products_fts USING fts5(title, description, content='products', content_rowid='rowid', tokenize='porter unicode61');
CREATE TRIGGER products_fts_insert AFTER INSERT ON products BEGIN
    INSERT INTO products_fts(rowid, title, description) VALUES (new.rowid, new.title, new.description);
END;
CREATE TRIGGER products_fts_delete AFTER DELETE ON products BEGIN
    INSERT INTO products_fts(products_fts, rowid, title, description) VALUES ('delete', old.rowid, old.title, old.description);
END;
CREATE TRIGGER products_fts_update AFTER UPDATE OF title, description ON products BEGIN
    INSERT INTO products_fts(products_fts, rowid, title, description) VALUES ('delete', old.rowid, old.title, old.description);
    INSERT INTO products_fts(rowid, title, description) VALUES (new.rowid, new.title, new.description);
END;

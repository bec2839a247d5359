-- Per-shop shipping rates (zones of countries × weight bands, free-shipping
-- threshold) as one validated JSON document per shop; the destination country
-- of a cart and of the orders it becomes.
CREATE TABLE shop_shipping (
    shop_id    TEXT PRIMARY KEY REFERENCES shops(id),
    rate_card  TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
ALTER TABLE carts ADD COLUMN ship_to_country TEXT;
ALTER TABLE orders ADD COLUMN ship_to_country TEXT;

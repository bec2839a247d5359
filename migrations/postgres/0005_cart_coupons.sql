-- Carts persist per user; a cart may hold items from several shops.
CREATE TABLE carts (
    user_id     TEXT PRIMARY KEY REFERENCES users(id),
    coupon_code TEXT,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE cart_items (
    user_id    TEXT NOT NULL REFERENCES users(id),
    variant_id TEXT NOT NULL REFERENCES variants(id),
    quantity   BIGINT NOT NULL CHECK (quantity > 0),
    added_at   BIGINT NOT NULL,
    PRIMARY KEY (user_id, variant_id)
);

-- shop_id NULL: platform-wide (created by an admin). used_count only grows
-- through a conditional UPDATE bounded by usage_limit.
CREATE TABLE coupons (
    id                TEXT PRIMARY KEY,
    code              TEXT NOT NULL UNIQUE,
    shop_id           TEXT REFERENCES shops(id),
    kind              TEXT NOT NULL CHECK (kind IN ('percent', 'fixed')),
    amount            BIGINT NOT NULL CHECK (amount > 0),
    currency          TEXT,
    min_spend         BIGINT NOT NULL DEFAULT 0,
    expires_at        BIGINT,
    usage_limit       BIGINT,
    used_count        BIGINT NOT NULL DEFAULT 0,
    once_per_customer BIGINT NOT NULL DEFAULT 0,
    created_at        BIGINT NOT NULL,
    CHECK (usage_limit IS NULL OR used_count <= usage_limit)
);

-- customer_key is the user id for once-per-customer coupons (so the unique
-- constraint allows one use each) and the checkout id otherwise.
CREATE TABLE coupon_redemptions (
    coupon_id    TEXT NOT NULL REFERENCES coupons(id),
    customer_key TEXT NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users(id),
    checkout_id  TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (coupon_id, customer_key)
);

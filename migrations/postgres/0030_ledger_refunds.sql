-- The money ledger: every movement of money (a payment captured, a refund, a
-- platform fee, a seller payout) is one ledger_entries row with postings that
-- sum to zero per currency, written in the transaction of the change it
-- records. An account's balance is the sum of its postings.
CREATE TABLE ledger_entries (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('payment', 'refund', 'platform_fee', 'seller_payout')),
    order_id   TEXT REFERENCES orders(id),
    shop_id    TEXT REFERENCES shops(id),
    currency   TEXT NOT NULL,
    memo       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX ledger_entries_order ON ledger_entries(order_id);

CREATE TABLE ledger_postings (
    id         TEXT PRIMARY KEY,
    entry_id   TEXT NOT NULL REFERENCES ledger_entries(id),
    account    TEXT NOT NULL,
    amount     BIGINT NOT NULL,
    currency   TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX ledger_postings_account ON ledger_postings(account, id);
CREATE INDEX ledger_postings_entry ON ledger_postings(entry_id);

-- Refunds: refunded_amount only grows through a conditional UPDATE bounded by
-- the captured total, so concurrent refunds can never return more than was paid.
ALTER TABLE orders ADD COLUMN refunded_amount BIGINT NOT NULL DEFAULT 0;
ALTER TABLE order_items ADD COLUMN returned_quantity BIGINT NOT NULL DEFAULT 0;

CREATE TABLE refunds (
    id         TEXT PRIMARY KEY,
    order_id   TEXT NOT NULL REFERENCES orders(id),
    amount     BIGINT NOT NULL CHECK (amount > 0),
    currency   TEXT NOT NULL,
    restocked  BIGINT NOT NULL,
    reason     TEXT,
    actor_id   TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX refunds_order ON refunds(order_id, id);

CREATE TABLE refund_items (
    refund_id  TEXT NOT NULL REFERENCES refunds(id),
    variant_id TEXT NOT NULL,
    quantity   BIGINT NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (refund_id, variant_id)
);

-- Customer wallets (store credit). A wallet's balance is the sum of its
-- ledger postings; wallet_balances keeps the same figure as a counter that
-- only changes through a conditional UPDATE (balance + delta >= 0) in the
-- transaction that writes the postings, so concurrent checkouts can never
-- spend more than the balance.

-- SQLite cannot change a CHECK in place: rebuild the two ledger tables
-- (renaming ledger_entries rewrites ledger_postings' foreign key, so both move).
DROP INDEX ledger_entries_order;
DROP INDEX ledger_postings_account;
DROP INDEX ledger_postings_entry;
ALTER TABLE ledger_postings RENAME TO ledger_postings_old;
ALTER TABLE ledger_entries RENAME TO ledger_entries_old;
CREATE TABLE ledger_entries (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('payment', 'refund', 'platform_fee', 'seller_payout', 'store_credit', 'wallet_hold', 'wallet_release')),
    order_id   TEXT REFERENCES orders(id),
    shop_id    TEXT REFERENCES shops(id),
    currency   TEXT NOT NULL,
    memo       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
INSERT INTO ledger_entries (id, kind, order_id, shop_id, currency, memo, created_at)
    SELECT id, kind, order_id, shop_id, currency, memo, created_at FROM ledger_entries_old;
CREATE TABLE ledger_postings (
    id         TEXT PRIMARY KEY,
    entry_id   TEXT NOT NULL REFERENCES ledger_entries(id),
    account    TEXT NOT NULL,
    amount     BIGINT NOT NULL,
    currency   TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
INSERT INTO ledger_postings (id, entry_id, account, amount, currency, created_at)
    SELECT id, entry_id, account, amount, currency, created_at FROM ledger_postings_old;
DROP TABLE ledger_postings_old;
DROP TABLE ledger_entries_old;
CREATE INDEX ledger_entries_order ON ledger_entries(order_id);
CREATE INDEX ledger_postings_account ON ledger_postings(account, id);
CREATE INDEX ledger_postings_entry ON ledger_postings(entry_id);

CREATE TABLE wallet_balances (
    account    TEXT NOT NULL,
    currency   TEXT NOT NULL,
    balance    BIGINT NOT NULL CHECK (balance >= 0),
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (account, currency)
);

-- A payment may be split: wallet_amount from the customer's wallet, the rest
-- (amount - wallet_amount) charged to the card. refunded_amount is the card
-- part given back through the provider; it never exceeds the card part.
ALTER TABLE payments ADD COLUMN wallet_amount BIGINT NOT NULL DEFAULT 0;
ALTER TABLE payments ADD COLUMN refunded_amount BIGINT NOT NULL DEFAULT 0;

-- A refund goes back to the card (through the provider: pending until it
-- answers) and/or to the customer's wallet.
ALTER TABLE refunds ADD COLUMN card_amount BIGINT NOT NULL DEFAULT 0;
ALTER TABLE refunds ADD COLUMN wallet_amount BIGINT NOT NULL DEFAULT 0;
ALTER TABLE refunds ADD COLUMN status TEXT NOT NULL DEFAULT 'succeeded';
ALTER TABLE refunds ADD COLUMN provider_ref TEXT;
ALTER TABLE refunds ADD COLUMN failure TEXT;
UPDATE refunds SET card_amount = amount;

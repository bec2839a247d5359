-- Customer wallets (store credit). A wallet's balance is the sum of its
-- ledger postings; wallet_balances keeps the same figure as a counter that
-- only changes through a conditional UPDATE (balance + delta >= 0) in the
-- transaction that writes the postings, so concurrent checkouts can never
-- spend more than the balance.
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_kind_check;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_kind_check
    CHECK (kind IN ('payment', 'refund', 'platform_fee', 'seller_payout', 'store_credit', 'wallet_hold', 'wallet_release'));

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

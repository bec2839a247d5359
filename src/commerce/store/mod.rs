//! Commerce persistence: `impl Store` blocks, one file per aggregate. Every
//! counter that concurrent requests race for (variant stock, coupon uses,
//! order status, payments, idempotency keys) changes only through a
//! conditional UPDATE or a unique constraint inside the transaction that also
//! writes its record (ledger row, redemption, order event).

mod cart;
mod catalog;
mod coupons;
mod idempotency;
pub mod ledger;
pub mod notifications;
mod orders;
pub mod outbox;
mod refunds;
mod search;
mod shipping;
mod shop_admin;
pub mod stock;

pub use cart::CartLine;
pub use catalog::{CategoryRow, NewProduct, NewVariant, ProductPatch, ProductRow, VariantPatch, VariantRow};
pub use coupons::{CouponRow, NewCoupon};
pub use idempotency::{IdempotencyClaim, StoredResponse};
pub use notifications::NotificationRow;
pub use orders::{WalletUse, DraftLine, OrderDraft, OrderEventRow, OrderItemRow, OrderRow, PaymentRow, PlacedCheckout};
pub use ledger::WalletEntryRow;
pub use refunds::{late_charge_payment_id, late_charge_refund_id, returned_value, PendingRefund, RefundDone, RefundRequest, RefundRow, RefundStart};
pub use outbox::OutboxRow;
pub use search::SearchQuery;
pub use shop_admin::ShopProfile;
pub use stock::{MovementRow, Reservation, StockLevel};

use crate::commerce::order_state::{OrderStatus, TransitionError};
use crate::store::StoreError;

/// What can go wrong in a commerce write, besides the database.
#[derive(Debug, thiserror::Error)]
pub enum CommerceError {
    #[error("only {available} of {sku} left")]
    OutOfStock { variant_id: String, sku: String, available: i64 },
    #[error("this coupon has reached its usage limit")]
    CouponExhausted,
    #[error("you have already used this coupon")]
    CouponAlreadyUsed,
    #[error("not found: {0}")]
    NotFound(&'static str),
    #[error("{source}")]
    Transition { current: OrderStatus, source: TransitionError },
    #[error("this order already has a payment in progress or completed")]
    PaymentExists,
    #[error("at most {refundable} can still be refunded")]
    RefundExceedsCaptured { refundable: i64 },
    #[error("only {returnable} of {sku} can still be returned")]
    ReturnExceedsOrdered { sku: String, returnable: i64 },
    #[error("the reservation is no longer held")]
    ReservationNotHeld,
    #[error("the wallet holds only {balance}")]
    InsufficientWalletBalance { balance: i64 },
    #[error("the wallet covers {wallet} of {total}; a card must pay the rest")]
    CardRequired { wallet: i64, total: i64 },
    #[error("the wallet amount is above the order's total of {total}")]
    WalletAmountAboveTotal { total: i64 },
    #[error("the shop is suspended")]
    ShopSuspended,
    #[error("the payment provider refused the refund: {reason}")]
    RefundFailed { reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for CommerceError {
    fn from(e: sqlx::Error) -> Self {
        CommerceError::Store(e.into())
    }
}

pub type CommerceResult<T> = Result<T, CommerceError>;

/// `$first, $first+1, …` for an IN list of `n` values.
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

//! The order state machine, sans-IO. The shell applies a transition with a
//! conditional UPDATE (`WHERE status = from`) and carries out the returned
//! stock effect and notification in the same transaction.
//!
//! ```text
//! pending_payment ──pay──► paid ──fulfil──► fulfilling ──ship──► shipped ──deliver──► delivered ──complete──► completed
//!       │                   │  └──────────────ship──────────────────▲
//!       └─cancel/expire─► cancelled      paid … completed ──refund──► refunded
//! ```

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    PendingPayment,
    Paid,
    Fulfilling,
    Shipped,
    Delivered,
    Completed,
    Cancelled,
    Refunded,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 8] = [
        OrderStatus::PendingPayment,
        OrderStatus::Paid,
        OrderStatus::Fulfilling,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
        OrderStatus::Completed,
        OrderStatus::Cancelled,
        OrderStatus::Refunded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::PendingPayment => "pending_payment",
            OrderStatus::Paid => "paid",
            OrderStatus::Fulfilling => "fulfilling",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Completed => "completed",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Refunded => "refunded",
        }
    }

    pub fn parse(s: &str) -> Option<OrderStatus> {
        OrderStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderEvent {
    /// The payment provider confirmed the charge.
    PaymentSucceeded,
    /// The customer or the seller cancels an unpaid order.
    Cancel,
    /// The unpaid order outlived its hold.
    Expire,
    StartFulfilment,
    Ship,
    Deliver,
    /// The order is done: its money leaves clearing, `platform_fee_bps` of it to the platform.
    Complete { platform_fee_bps: u32 },
    /// Money back; `restock` returns the units to sellable stock.
    Refund { restock: bool },
}

/// Who asks for an event; the machine checks they may.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Customer,
    Seller,
    System,
}

/// What happens to the order's reserved units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StockEffect {
    None,
    /// Reserved units become sold.
    CommitSale,
    /// Reserved units go back to available.
    ReleaseReservation,
    /// Sold units come back to available (refund-return).
    ReturnSold,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: OrderStatus,
    pub to: OrderStatus,
    pub stock: StockEffect,
    /// The notification kind the customer gets.
    pub notify: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("an order that is {from} cannot be {verb}")]
    Illegal { from: OrderStatus, verb: &'static str },
    #[error("only {who} can ask for this")]
    NotAllowed { who: &'static str },
}

impl OrderEvent {
    fn verb(self) -> &'static str {
        match self {
            OrderEvent::PaymentSucceeded => "paid",
            OrderEvent::Cancel => "cancelled",
            OrderEvent::Expire => "expired",
            OrderEvent::StartFulfilment => "fulfilled",
            OrderEvent::Ship => "shipped",
            OrderEvent::Deliver => "delivered",
            OrderEvent::Complete { .. } => "completed",
            OrderEvent::Refund { .. } => "refunded",
        }
    }

    fn allowed(self, actor: Actor) -> Result<(), TransitionError> {
        let ok = match self {
            OrderEvent::PaymentSucceeded | OrderEvent::Expire => actor == Actor::System,
            OrderEvent::Cancel => true,
            OrderEvent::StartFulfilment | OrderEvent::Ship | OrderEvent::Deliver | OrderEvent::Complete { .. } | OrderEvent::Refund { .. } => {
                actor != Actor::Customer
            }
        };
        if ok {
            Ok(())
        } else if actor == Actor::Customer {
            Err(TransitionError::NotAllowed { who: "the shop's seller" })
        } else {
            Err(TransitionError::NotAllowed { who: "the payment system" })
        }
    }
}

/// The one place that knows which transitions are legal.
pub fn transition(from: OrderStatus, event: OrderEvent, actor: Actor) -> Result<Transition, TransitionError> {
    use OrderStatus::*;
    event.allowed(actor)?;
    let (to, stock, notify) = match (from, event) {
        (PendingPayment, OrderEvent::PaymentSucceeded) => (Paid, StockEffect::CommitSale, "order_paid"),
        (PendingPayment, OrderEvent::Cancel) => (Cancelled, StockEffect::ReleaseReservation, "order_cancelled"),
        (PendingPayment, OrderEvent::Expire) => (Cancelled, StockEffect::ReleaseReservation, "order_expired"),
        (Paid, OrderEvent::StartFulfilment) => (Fulfilling, StockEffect::None, "order_fulfilling"),
        (Paid | Fulfilling, OrderEvent::Ship) => (Shipped, StockEffect::None, "order_shipped"),
        (Shipped, OrderEvent::Deliver) => (Delivered, StockEffect::None, "order_delivered"),
        (Delivered, OrderEvent::Complete { .. }) => (Completed, StockEffect::None, "order_completed"),
        (Paid | Fulfilling | Shipped | Delivered | Completed, OrderEvent::Refund { restock }) => {
            (Refunded, if restock { StockEffect::ReturnSold } else { StockEffect::None }, "order_refunded")
        }
        _ => return Err(TransitionError::Illegal { from, verb: event.verb() }),
    };
    Ok(Transition { from, to, stock, notify })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_happy_path_runs_from_payment_to_completion() {
        let mut status = OrderStatus::PendingPayment;
        for (event, actor) in [
            (OrderEvent::PaymentSucceeded, Actor::System),
            (OrderEvent::StartFulfilment, Actor::Seller),
            (OrderEvent::Ship, Actor::Seller),
            (OrderEvent::Deliver, Actor::Seller),
            (OrderEvent::Complete { platform_fee_bps: 500 }, Actor::Seller),
        ] {
            status = transition(status, event, actor).unwrap().to;
        }
        assert_eq!(status, OrderStatus::Completed);
    }

    #[test]
    fn paying_commits_the_reserved_stock_and_cancelling_releases_it() {
        assert_eq!(transition(OrderStatus::PendingPayment, OrderEvent::PaymentSucceeded, Actor::System).unwrap().stock, StockEffect::CommitSale);
        assert_eq!(transition(OrderStatus::PendingPayment, OrderEvent::Cancel, Actor::Customer).unwrap().stock, StockEffect::ReleaseReservation);
    }

    #[test]
    fn an_unpaid_order_cannot_ship() {
        let err = transition(OrderStatus::PendingPayment, OrderEvent::Ship, Actor::Seller).unwrap_err();
        assert_eq!(err, TransitionError::Illegal { from: OrderStatus::PendingPayment, verb: "shipped" });
    }

    #[test]
    fn a_paid_order_cannot_be_cancelled_only_refunded() {
        assert!(matches!(transition(OrderStatus::Paid, OrderEvent::Cancel, Actor::Seller), Err(TransitionError::Illegal { .. })));
        let t = transition(OrderStatus::Paid, OrderEvent::Refund { restock: true }, Actor::Seller).unwrap();
        assert_eq!((t.to, t.stock), (OrderStatus::Refunded, StockEffect::ReturnSold));
    }

    #[test]
    fn a_customer_cannot_mark_their_own_order_shipped_or_paid() {
        assert!(matches!(transition(OrderStatus::Paid, OrderEvent::Ship, Actor::Customer), Err(TransitionError::NotAllowed { .. })));
        assert!(matches!(transition(OrderStatus::PendingPayment, OrderEvent::PaymentSucceeded, Actor::Customer), Err(TransitionError::NotAllowed { .. })));
    }

    #[test]
    fn terminal_states_accept_nothing_but_a_refund_of_a_completed_order() {
        for status in [OrderStatus::Cancelled, OrderStatus::Refunded] {
            for event in [OrderEvent::PaymentSucceeded, OrderEvent::Ship, OrderEvent::Refund { restock: false }] {
                assert!(transition(status, event, Actor::System).is_err() || transition(status, event, Actor::Seller).is_err());
            }
        }
        assert!(transition(OrderStatus::Completed, OrderEvent::Refund { restock: false }, Actor::Seller).is_ok());
    }

    #[test]
    fn every_status_round_trips_through_its_name() {
        for s in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(s.as_str()), Some(s));
        }
    }
}

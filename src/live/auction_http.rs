//! `/api/v1/rooms/{room}/auctions`: live auctions. The room's seller or a
//! moderator starts one; signed-in viewers bid (the store judges each bid in
//! arrival order); the room task closes it at its persisted deadline and the
//! winner gets an order with a payment window. Events reach viewers on the
//! room's hub channel as `auction.started`, `auction.bid`, `auction.ended`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::auction::{Auction, AuctionRules, IncrementTable};
use super::auction_store::{AuctionError, AuctionRow, NewAuction};
use super::http::{require_room_staff, visible_room};
use super::runtime::AuctionChange;
use crate::api::extract::{AppJson, AuthUser, MaybeAuthUser};
use crate::api::rooms::find_room;
use crate::app::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::signaling::{Event, Hub};
use crate::store::{now_ms, RoomRow};

impl From<AuctionError> for ApiError {
    fn from(e: AuctionError) -> Self {
        let message = e.to_string();
        match e {
            AuctionError::NotFound => ApiError::not_found("auction_not_found", "no auction of this room has this id"),
            AuctionError::Ended => ApiError::conflict("auction_ended", "this auction is over"),
            AuctionError::TooLow { .. } => ApiError::conflict("bid_too_low", message),
            AuctionError::NotAboveOwnMaximum { .. } => ApiError::conflict("bid_not_above_your_maximum", message),
            AuctionError::SellerBid => ApiError::forbidden("seller_cannot_bid", "the room's seller and moderators cannot bid in its auctions"),
            AuctionError::StillRunning => ApiError::conflict("auction_running", "the auction is still running"),
            AuctionError::WinnerMayStillPay => ApiError::conflict("winner_may_still_pay", "the winner's order is paid or can still be paid; offer it to the runner-up once it expired or was cancelled"),
            AuctionError::NoRunnerUp => ApiError::conflict("no_runner_up", message),
            AuctionError::AlreadyOffered => ApiError::conflict("already_offered", message),
            AuctionError::OutOfStock => ApiError::conflict("out_of_stock", "the shop has no unit of this item left"),
            AuctionError::Invalid(m) => ApiError::bad_request("invalid_auction", m),
            AuctionError::Store(e) => e.into(),
        }
    }
}

/// An auction as clients see it. Maximum (proxy) bids stay secret.
#[derive(Serialize, ToSchema)]
pub struct AuctionView {
    pub id: String,
    /// The room's name.
    pub room: String,
    pub variant_id: String,
    pub title: String,
    pub currency: String,
    pub starting_price: i64,
    pub current_price: i64,
    /// The least the next bid must offer.
    pub min_next_bid: i64,
    /// The leading bidder's display name, or null before the first bid.
    pub leader: Option<String>,
    pub bid_count: i64,
    /// The current deadline (unix ms); anti-sniping may move it later.
    pub ends_at: i64,
    /// `running`, `ended` or `cancelled`.
    pub status: String,
    /// True when there is a leader and no reserve, or the price reached it.
    pub reserve_met: bool,
    /// Seconds a late bid extends the deadline to; null in a sudden-death auction.
    pub anti_snipe_secs: Option<i64>,
    pub sudden_death: bool,
    /// Once ended: the winner's display name and the price (null when unsold).
    pub winner: Option<String>,
    pub final_price: Option<i64>,
    /// The winner's order: shown only to the winner and the room's staff.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub winner_order_id: Option<String>,
}

impl AuctionView {
    /// What everyone may see.
    pub fn public(row: &AuctionRow) -> AuctionView {
        AuctionView {
            id: row.id.clone(),
            room: row.room.clone(),
            variant_id: row.variant_id.clone(),
            title: row.title.clone(),
            currency: row.currency.clone(),
            starting_price: row.starting_price,
            current_price: row.current_price,
            min_next_bid: row.min_next_bid(),
            leader: row.leader_name.clone(),
            bid_count: row.bid_count,
            ends_at: row.ends_at,
            status: row.status.clone(),
            reserve_met: row.reserve_met(),
            anti_snipe_secs: row.anti_snipe_ms.map(|ms| ms / 1000),
            sudden_death: row.anti_snipe_ms.is_none(),
            winner: row.winner_name.clone(),
            final_price: row.final_price,
            winner_order_id: None,
        }
    }

    /// What `viewer` may see: the order id too when they won or run the room.
    fn for_viewer(row: &AuctionRow, viewer: &Viewer) -> AuctionView {
        let mut view = AuctionView::public(row);
        let is_winner = viewer.user_id.is_some() && viewer.user_id == row.winner_id;
        if is_winner || viewer.staff {
            view.winner_order_id = row.winner_order_id.clone();
        }
        view
    }
}

struct Viewer {
    user_id: Option<String>,
    staff: bool,
}

async fn viewer_of(
    state: &AppState,
    caller: &MaybeAuthUser,
    room: &RoomRow,
) -> Result<Viewer, ApiError> {
    Ok(match &caller.0 {
        Some(user) => Viewer {
            user_id: Some(user.user_id.clone()),
            staff: user.is_admin
                || state
                    .store
                    .room_rights(room, &user.user_id)
                    .await?
                    .can_moderate(),
        },
        None => Viewer {
            user_id: None,
            staff: false,
        },
    })
}

#[derive(Deserialize, ToSchema)]
pub struct IncrementStep {
    /// From this price on (minor units)...
    pub from: i64,
    /// ...each bid must add at least this much.
    pub step: i64,
}

#[derive(Deserialize, ToSchema)]
pub struct CreateAuctionRequest {
    /// A variant of the room's shop; one unit is held for the winner.
    pub variant_id: String,
    /// Minor units, in the variant's currency.
    pub starting_price: i64,
    /// 10 seconds to 24 hours.
    pub duration_secs: i64,
    /// A bid in the last N seconds extends the deadline to N seconds from that bid (default 10, 1 to 120).
    pub anti_snipe_secs: Option<i64>,
    /// No extensions at all: the deadline never moves (default false).
    #[serde(default)]
    pub sudden_death: bool,
    /// Below this price the item is not sold.
    pub reserve_price: Option<i64>,
    /// The bid increment table; the first step must be `from: 0`. Default: 1.00 under 20.00, 2.50 under 100.00, 5.00 above.
    pub increments: Option<Vec<IncrementStep>>,
}

#[derive(Serialize, ToSchema)]
pub struct AuctionList {
    /// Running auctions first (soonest deadline first), then the latest ended or cancelled ones.
    pub items: Vec<AuctionView>,
}

fn invalid(e: impl ToString) -> ApiError {
    ApiError::bad_request("invalid_auction", e.to_string())
}

/// Start an auction in the room (its seller or moderators); it runs from now for `duration_secs`.
#[utoipa::path(post, path = "/api/v1/rooms/{room}/auctions", tag = "live", security(("bearer" = [])),
    params(("room" = String, Path, description = "room name")), request_body = CreateAuctionRequest,
    responses((status = 201, body = AuctionView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_auction(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(room): Path<String>,
    AppJson(body): AppJson<CreateAuctionRequest>,
) -> Result<(StatusCode, Json<AuctionView>), ApiError> {
    let room = find_room(&state, &room).await?;
    require_room_staff(&state, &caller, &room).await?;
    let increments = match body.increments {
        Some(steps) => IncrementTable::new(steps.into_iter().map(|s| (s.from, s.step)).collect())
            .map_err(invalid)?,
        None => IncrementTable::standard(),
    };
    if body.reserve_price.is_some_and(|r| r <= 0) {
        return Err(invalid("reserve_price must be positive"));
    }
    let rules = AuctionRules {
        starting_price: body.starting_price,
        increments,
        starts_at: now_ms(),
        duration_ms: body.duration_secs.saturating_mul(1000),
        anti_snipe_ms: if body.sudden_death {
            None
        } else {
            Some(body.anti_snipe_secs.unwrap_or(10).saturating_mul(1000))
        },
        reserve_price: body.reserve_price,
    };
    Auction::new(rules.clone(), caller.user_id.clone()).map_err(invalid)?;
    let variant = state
        .store
        .variant_by_id(&body.variant_id)
        .await?
        .filter(|v| v.shop_id == room.shop_id)
        .ok_or_else(|| {
            ApiError::not_found(
                "variant_not_found",
                "no variant of this room's shop has this id",
            )
        })?;
    let title = state
        .store
        .product_by_id(&variant.product_id)
        .await?
        .map(|p| p.title)
        .unwrap_or_else(|| variant.sku.clone());
    let row = state
        .store
        .create_auction(NewAuction {
            room_id: &room.id,
            shop_id: &room.shop_id,
            variant_id: &variant.id,
            title: &title,
            currency: &variant.currency,
            rules: &rules,
            created_by: &caller.user_id,
        })
        .await?;
    state
        .live
        .auction_changed(&room.name, &row.id, AuctionChange::Started);
    Ok((
        StatusCode::CREATED,
        Json(AuctionView::for_viewer(
            &row,
            &Viewer {
                user_id: Some(caller.user_id),
                staff: true,
            },
        )),
    ))
}

/// The room's auctions, running first.
#[utoipa::path(get, path = "/api/v1/rooms/{room}/auctions", tag = "live", params(("room" = String, Path, description = "room name")),
    responses((status = 200, body = AuctionList), (status = 404, body = ErrorBody)))]
pub async fn list_auctions(
    State(state): State<AppState>,
    caller: MaybeAuthUser,
    Path(room): Path<String>,
) -> Result<Json<AuctionList>, ApiError> {
    let room = visible_room(&state, &caller, &room).await?;
    let viewer = viewer_of(&state, &caller, &room).await?;
    let items = state
        .store
        .room_auctions(&room.id)
        .await?
        .iter()
        .map(|row| AuctionView::for_viewer(row, &viewer))
        .collect();
    Ok(Json(AuctionList { items }))
}

#[derive(Deserialize, ToSchema)]
pub struct BidRequest {
    /// What you bid now (minor units); at least the auction's `min_next_bid`.
    pub amount: i64,
    /// Optional proxy: the most you will pay. The server bids for you, one increment at a
    /// time, up to this amount. Secret; at least `amount`.
    pub max_amount: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct BidAck {
    pub accepted: bool,
    pub auction: AuctionView,
    /// Whether you lead after this bid (a higher standing proxy may have answered it).
    pub leading: bool,
}

/// Bid (a signed-in viewer, not the room's staff). Bids are judged in arrival order by the store;
/// a bid in the anti-sniping window moves `ends_at`. A too-low bid is a 409 `bid_too_low`
/// whose body carries `min_next_bid`.
#[utoipa::path(post, path = "/api/v1/rooms/{room}/auctions/{id}/bids", tag = "live", security(("bearer" = [])),
    params(("room" = String, Path, description = "room name"), ("id" = String, Path, description = "auction id")), request_body = BidRequest,
    responses((status = 200, body = BidAck), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn place_bid(
    State(state): State<AppState>,
    caller: AuthUser,
    Path((room, auction_id)): Path<(String, String)>,
    AppJson(body): AppJson<BidRequest>,
) -> Result<Response, ApiError> {
    let room = visible_room(&state, &MaybeAuthUser(Some(caller.clone())), &room).await?;
    if state
        .store
        .room_rights(&room, &caller.user_id)
        .await?
        .can_moderate()
    {
        return Err(AuctionError::SellerBid.into());
    }
    let maximum = body.max_amount.unwrap_or(body.amount);
    if body.amount <= 0 || maximum < body.amount {
        return Err(ApiError::bad_request(
            "invalid_bid",
            "amount must be positive and max_amount, when given, at least amount",
        ));
    }
    state
        .store
        .auction(&auction_id)
        .await?
        .filter(|a| a.room_id == room.id)
        .ok_or(AuctionError::NotFound)?;
    let placed = match state
        .store
        .place_bid(&auction_id, &caller.user_id, body.amount, maximum)
        .await
    {
        Ok(placed) => placed,
        Err(AuctionError::TooLow { minimum }) => {
            let message = format!("the bid must be at least {minimum}");
            let body = json!({"error": {"code": "bid_too_low", "message": message, "min_next_bid": minimum}, "min_next_bid": minimum});
            return Ok((StatusCode::CONFLICT, Json(body)).into_response());
        }
        Err(e) => return Err(e.into()),
    };
    state
        .live
        .auction_changed(&room.name, &auction_id, AuctionChange::Bid);
    let viewer = Viewer {
        user_id: Some(caller.user_id),
        staff: false,
    };
    let ack = BidAck {
        accepted: true,
        auction: AuctionView::for_viewer(&placed.auction, &viewer),
        leading: placed.leading,
    };
    Ok((StatusCode::OK, Json(ack)).into_response())
}

/// Cancel a running auction (its seller or moderators): no winner, its unit goes back to stock.
#[utoipa::path(post, path = "/api/v1/rooms/{room}/auctions/{id}/cancel", tag = "live", security(("bearer" = [])),
    params(("room" = String, Path, description = "room name"), ("id" = String, Path, description = "auction id")),
    responses((status = 200, body = AuctionView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn cancel_auction(
    State(state): State<AppState>,
    caller: AuthUser,
    Path((room, auction_id)): Path<(String, String)>,
) -> Result<Json<AuctionView>, ApiError> {
    let room = staff_auction(&state, &caller, &room, &auction_id).await?;
    if !state.store.cancel_auction(&auction_id).await? {
        return Err(AuctionError::Ended.into());
    }
    state
        .live
        .auction_changed(&room.name, &auction_id, AuctionChange::Cancelled);
    let row = state
        .store
        .auction(&auction_id)
        .await?
        .ok_or(AuctionError::NotFound)?;
    Ok(Json(AuctionView::for_viewer(
        &row,
        &Viewer {
            user_id: Some(caller.user_id),
            staff: true,
        },
    )))
}

/// Second-chance offer (its seller or moderators): once the winner's order expired unpaid or was
/// cancelled, the runner-up gets an order at their own maximum bid with a fresh payment window.
#[utoipa::path(post, path = "/api/v1/rooms/{room}/auctions/{id}/offer-runner-up", tag = "live", security(("bearer" = [])),
    params(("room" = String, Path, description = "room name"), ("id" = String, Path, description = "auction id")),
    responses((status = 200, body = AuctionView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn offer_runner_up(
    State(state): State<AppState>,
    caller: AuthUser,
    Path((room, auction_id)): Path<(String, String)>,
) -> Result<Json<AuctionView>, ApiError> {
    staff_auction(&state, &caller, &room, &auction_id).await?;
    let window = state.live.config().auction_payment_window_ms;
    let now = now_ms();
    let row = state
        .store
        .offer_runner_up(&auction_id, now, window)
        .await?;
    tell_winner(&state.hub, &row, "auction.offer", now + window).await;
    Ok(Json(AuctionView::for_viewer(
        &row,
        &Viewer {
            user_id: Some(caller.user_id),
            staff: true,
        },
    )))
}

/// The room, after checking the caller runs it and the auction is one of its own.
async fn staff_auction(state: &AppState, caller: &AuthUser, room: &str, auction_id: &str) -> Result<RoomRow, ApiError> {
    let room = find_room(state, room).await?;
    require_room_staff(state, caller, &room).await?;
    state.store.auction(auction_id).await?.filter(|a| a.room_id == room.id).ok_or(AuctionError::NotFound)?;
    Ok(room)
}

/// Tells the auction's winner (`auction.won`) or the runner-up (`auction.offer`) on
/// their user channel which order to pay, and by when.
pub async fn tell_winner(hub: &Hub, row: &AuctionRow, kind: &str, pay_by: i64) {
    let (Some(winner), Some(order_id)) = (&row.winner_id, &row.winner_order_id) else { return };
    let data = json!({"auction_id": row.id, "order_id": order_id, "final_price": row.final_price, "currency": row.currency, "pay_by": pay_by, "room": row.room});
    if let Err(e) = hub.push_to_user(winner, Event::new(kind, data)).await {
        tracing::warn!(kind, error = %e, "cannot tell an auction's winner");
    }
}

//! Domain types and rules: no I/O, no framework. Everything the HTTP edge parses ends up here.

/// Declares a setting a client chooses by name from a closed set: each variant has one
/// spelling, in storage and on the wire, its snake_case name (as serde and the schema spell
/// it; the text given for it must be the same). `as_str` gives it,
/// `from_db` reads it back (unknown text is the `#[default]` variant) and `TryFrom<&str>`
/// refuses any other text as a bad `field` with `message`.
macro_rules! named_setting {
    (
        $(#[$meta:meta])*
        pub enum $name:ident for $field:literal, $message:literal {
            $($(#[$variant_meta:meta])* $variant:ident = $text:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug,
            Clone,
            Copy,
            PartialEq,
            Eq,
            Default,
            serde::Serialize,
            serde::Deserialize,
            utoipa::ToSchema,
        )]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$variant_meta])* $variant,)+
        }

        impl $name {
            /// The storage and wire spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }

            /// Reads the stored spelling; unknown text falls back to the default.
            pub fn from_db(raw: &str) -> Self {
                Self::try_from(raw).unwrap_or_default()
            }
        }

        impl TryFrom<&str> for $name {
            type Error = $crate::domain::ValidationError;
            fn try_from(raw: &str) -> Result<Self, Self::Error> {
                match raw {
                    $($text => Ok(Self::$variant),)+
                    _ => Err($crate::domain::ValidationError::new($field, $message)),
                }
            }
        }
    };
}

pub mod brand;
pub mod claim;
pub mod clock;
pub mod delivery;
pub mod draws;
pub mod ids;
pub mod order;
pub mod page;
pub mod product;
pub mod queue;
pub mod round;
pub mod subscription;

/// A value from a client that breaks a rule; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    /// The request field at fault, as the client spelled it.
    pub field: &'static str,
    /// A human sentence saying what is wrong with it.
    pub message: String,
}

impl ValidationError {
    /// Builds an error for `field` with a human-readable `message`.
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// A request that is well-formed but refused by the state of things (HTTP 409).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    /// Not enough stock for the order.
    #[error("the product is sold out")]
    SoldOut,
    /// The sale window has not opened.
    #[error("the sale has not started yet")]
    SaleNotStarted,
    /// The sale window has closed.
    #[error("the sale has ended")]
    SaleEnded,
    /// The order would take the user past the product's per-user limit.
    #[error("the order would exceed the per-user purchase limit")]
    PurchaseLimitExceeded,
    /// The idempotency key was used before with a different request.
    #[error("this Idempotency-Key was used with a different request")]
    IdempotencyKeyReused,
    /// The hold passed before payment.
    #[error("the reservation has expired")]
    ReservationExpired,
    /// The order was canceled.
    #[error("the order was canceled")]
    OrderCanceled,
    /// The order was paid with another payment reference.
    #[error("the order was already paid with another payment reference")]
    AlreadyPaid,
    /// The product's latest round is still sending.
    #[error("a restock round is already in progress for this product")]
    RoundInProgress,
    /// A restock would leave the product with no stock.
    #[error("the product has no stock to restock with")]
    OutOfStock,
    /// The latest round is not CANCELED_BY_ERROR.
    #[error("the latest round was not canceled by an error")]
    NothingToResume,
    /// An entry outside the draw's entry window.
    #[error("the entry window of this draw is closed")]
    EntryClosed,
    /// An entry for a product that is not sold by draw.
    #[error("this product is not sold by draw")]
    NotADraw,
    /// An order for a product that is sold by draw only.
    #[error("this product is sold by draw only: enter the draw instead")]
    DrawOnly,
    /// A change of `sale_mode` on a product that has orders or entries.
    #[error("sale_mode cannot change once the product has orders or entries")]
    SaleModeLocked,
    /// A join before the waiting room opens, or after the product sold out.
    #[error("the waiting room is not open: it opens at queue.opens_at and closes at sell-out")]
    QueueClosed,
    /// A change of `queue.enabled` on a product whose waiting room has members.
    #[error("queue.enabled cannot change once anyone has joined the waiting room")]
    QueueLocked,
    /// A replay of a claim alert whose claim is no longer open.
    #[error("the claim this alert announced is no longer open, so its alert is not sent again")]
    NotReplayable,
}

impl Conflict {
    /// The snake_case code clients match on.
    pub fn code(self) -> &'static str {
        match self {
            Self::SoldOut => "sold_out",
            Self::SaleNotStarted => "sale_not_started",
            Self::SaleEnded => "sale_ended",
            Self::PurchaseLimitExceeded => "purchase_limit_exceeded",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::ReservationExpired => "reservation_expired",
            Self::OrderCanceled => "order_canceled",
            Self::AlreadyPaid => "already_paid",
            Self::RoundInProgress => "round_in_progress",
            Self::OutOfStock => "out_of_stock",
            Self::NothingToResume => "nothing_to_resume",
            Self::EntryClosed => "entry_closed",
            Self::NotADraw => "not_a_draw",
            Self::DrawOnly => "draw_only",
            Self::SaleModeLocked => "sale_mode_locked",
            Self::QueueClosed => "queue_closed",
            Self::QueueLocked => "queue_locked",
            Self::NotReplayable => "not_replayable",
        }
    }
}

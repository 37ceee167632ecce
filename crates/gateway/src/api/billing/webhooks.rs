//! Stripe's webhook endpoint (`POST /v1/billing/stripe/webhook`, no credential: the
//! `Stripe-Signature` header is the proof) and the operators' view of the webhook inbox:
//! events by state (parked for an unknown institution, dead after their retries) and
//! replay.

use crate::api::ApiTags;
use crate::auth::OperatorKey;
use crate::problem::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use poem::web::Data;
use poem::{Request, RequestBody};
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::{Json, ParsePayload, Payload};
use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use std::sync::Arc;
use uuid::Uuid;

/// A Stripe event's raw body: the signature is over these bytes exactly, so they are not
/// parsed before it verifies.
pub struct StripeEventBody(pub Vec<u8>);

impl Payload for StripeEventBody {
    const CONTENT_TYPE: &'static str = "application/json";

    fn check_content_type(content_type: &str) -> bool {
        content_type
            .split(';')
            .next()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            description: Some(
                "A Stripe event object, as Stripe sends it (https://docs.stripe.com/api/events/object).",
            ),
            ..MetaSchema::new("object")
        }))
    }
}

impl ParsePayload for StripeEventBody {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        Ok(Self(
            <Vec<u8> as poem::FromRequest>::from_request(request, body).await?,
        ))
    }
}

/// The request body of Stripe's delivery.
#[derive(poem_openapi::ApiRequest)]
pub enum StripeDelivery {
    Event(StripeEventBody),
}

#[derive(Debug, Clone, Object)]
pub struct EventReceived {
    /// `true`: acknowledged and queued; processing follows asynchronously.
    pub received: bool,
    /// The event id was received before (Stripe delivers at least once): nothing new.
    pub duplicate: bool,
}

#[derive(ApiResponse)]
pub enum EventAcknowledged {
    #[oai(status = 200)]
    Ok(Json<EventReceived>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum InboxState {
    /// Waiting to be processed (or retried).
    Pending,
    Applied,
    /// Of a type or about an object billing does not act on.
    Ignored,
    /// No institution to apply it to (an account nobody connected, metadata that
    /// disagrees): kept until an operator replays it.
    Parked,
    /// Every attempt failed.
    Dead,
}

impl InboxState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Applied => "applied",
            Self::Ignored => "ignored",
            Self::Parked => "parked",
            Self::Dead => "dead",
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct InboxEventView {
    pub event_id: String,
    pub event_type: String,
    #[oai(nullable)]
    pub stripe_account: Option<String>,
    pub object_type: String,
    pub object_id: String,
    /// The institution it was routed to.
    #[oai(nullable)]
    pub tenant_id: Option<Uuid>,
    pub state: String,
    pub attempts: i32,
    /// Why it is parked, dead, ignored or being retried.
    #[oai(nullable)]
    pub last_error: Option<String>,
    /// Stripe's `created` (unix seconds).
    pub stripe_created: i64,
    pub received_at: DateTime<Utc>,
    pub next_attempt_at: DateTime<Utc>,
}

impl From<hub_billing::inbox::InboxEvent> for InboxEventView {
    fn from(e: hub_billing::inbox::InboxEvent) -> Self {
        Self {
            event_id: e.event_id,
            event_type: e.event_type,
            stripe_account: e.stripe_account,
            object_type: e.object_type,
            object_id: e.object_id,
            tenant_id: e.tenant_id,
            state: e.state,
            attempts: e.attempts,
            last_error: e.last_error,
            stripe_created: e.stripe_created,
            received_at: e.received_at,
            next_attempt_at: e.next_attempt_at,
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct InboxEventPage {
    pub items: Vec<InboxEventView>,
    /// Pass as `cursor` for the next page; `null` on the last.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
pub enum InboxListed {
    #[oai(status = 200)]
    Ok(Json<InboxEventPage>),
}

#[derive(ApiResponse)]
pub enum InboxEventAnswered {
    #[oai(status = 200)]
    Ok(Json<InboxEventView>),
}

#[derive(Default)]
pub struct StripeWebhookApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Billing")]
impl StripeWebhookApi {
    /// Receive a Stripe event
    ///
    /// Stripe's webhook endpoint for the platform's Connect events. No credential: the
    /// `Stripe-Signature` header must verify over the raw body under one of the endpoint's
    /// secrets, within 300 seconds of its timestamp (400 `stripe_signature_invalid`
    /// otherwise; nothing is stored). A verified event is stored once per id and
    /// acknowledged at once; it is applied asynchronously.
    #[oai(
        path = "/billing/stripe/webhook",
        method = "post",
        operation_id = "receiveStripeEvent"
    )]
    async fn receive(
        &self,
        state: Data<&Arc<AppState>>,
        #[oai(name = "Stripe-Signature", validator(max_length = 4096))] signature: Header<
            Option<String>,
        >,
        body: StripeDelivery,
    ) -> Result<EventAcknowledged, ApiError> {
        let StripeDelivery::Event(body) = body;
        if body.0.len() > hub_billing::inbox::MAX_BODY_BYTES {
            return Err(hub_billing::BillingError::BadEvent("the body is too large".into()).into());
        }
        let received = state
            .billing
            .receive_event(&body.0, signature.0.as_deref(), Utc::now())
            .await?;
        Ok(EventAcknowledged::Ok(Json(EventReceived {
            received: true,
            duplicate: received.duplicate,
        })))
    }

    /// Stripe events received
    ///
    /// Platform operators: the webhook inbox by state (`parked`: no institution to apply
    /// it to; `dead`: every attempt failed), by event id.
    #[oai(
        path = "/operator/billing/events",
        method = "get",
        operation_id = "listStripeEvents"
    )]
    async fn list(
        &self,
        state: Data<&Arc<AppState>>,
        _auth: OperatorKey,
        /// Only events in this state.
        #[oai(name = "state")]
        in_state: Query<Option<InboxState>>,
        /// Cursor from the previous page's `next_cursor`.
        #[oai(validator(max_length = 300))]
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u64>>,
    ) -> Result<InboxListed, ApiError> {
        let (events, next) = state
            .billing
            .inbox_events(
                in_state.0.map(InboxState::as_str),
                cursor.0.as_deref().filter(|c| !c.is_empty()),
                limit.0.unwrap_or(50),
            )
            .await?;
        Ok(InboxListed::Ok(Json(InboxEventPage {
            items: events.into_iter().map(Into::into).collect(),
            next_cursor: next,
        })))
    }

    /// Replay a Stripe event
    ///
    /// Platform operators: a parked, dead or ignored event is queued again, due now with
    /// its attempts reset (an event parked for an account nobody had connected applies once
    /// the institution connects it). 409 `webhook_event_not_replayable` for a pending or
    /// applied event.
    #[oai(
        path = "/operator/billing/events/:event_id/replay",
        method = "post",
        operation_id = "replayStripeEvent"
    )]
    async fn replay(
        &self,
        state: Data<&Arc<AppState>>,
        _auth: OperatorKey,
        /// A Stripe event id (`evt_…`).
        event_id: Path<String>,
    ) -> Result<InboxEventAnswered, ApiError> {
        let event = state.billing.replay_event(&event_id.0, Utc::now()).await?;
        Ok(InboxEventAnswered::Ok(Json(event.into())))
    }
}

//! `/v1/messaging`: the institution's sender identity (who its mail is from) and the
//! delivery status of its messages, for its admins. No recipient, subject or text is shown.

use crate::api::{ApiTags, etag, require_if_match};
use crate::auth::TenantCredential;
use crate::problem::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use hub_identity::outbox::{
    self, DeliveryState, DeliveryStatus, MarketingMessage, SenderIdentity, SenderUpdate,
};
use poem::web::Data;
use poem_openapi::param::{Header, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use std::sync::Arc;
use uuid::Uuid;

/// Who the institution's mail is from. A field left `null` falls back: the From name to the
/// institution's name, the From address to the platform's sender address; no Reply-To.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct MessageSenderInput {
    /// 1–100 printable characters.
    pub from_name: Option<String>,
    /// On one of the institution's verified domains, or the platform's sending domain.
    pub from_address: Option<String>,
    /// Where replies go; any address.
    pub reply_to: Option<String>,
}

impl Example for MessageSenderInput {
    fn example() -> Self {
        Self {
            from_name: Some("North University Registrar".into()),
            from_address: Some("registrar@north.example.edu".into()),
            reply_to: Some("help@north.example.edu".into()),
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct MessageSenderView {
    #[oai(nullable)]
    pub from_name: Option<String>,
    #[oai(nullable)]
    pub from_address: Option<String>,
    #[oai(nullable)]
    pub reply_to: Option<String>,
    pub revision: i32,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum DeliveryStateView {
    Queued,
    Sending,
    Sent,
    Failed,
    Dead,
}

impl From<DeliveryState> for DeliveryStateView {
    fn from(s: DeliveryState) -> Self {
        match s {
            DeliveryState::Queued => Self::Queued,
            DeliveryState::Sending => Self::Sending,
            DeliveryState::Sent => Self::Sent,
            DeliveryState::Failed => Self::Failed,
            DeliveryState::Dead => Self::Dead,
        }
    }
}

impl From<DeliveryStateView> for DeliveryState {
    fn from(s: DeliveryStateView) -> Self {
        match s {
            DeliveryStateView::Queued => Self::Queued,
            DeliveryStateView::Sending => Self::Sending,
            DeliveryStateView::Sent => Self::Sent,
            DeliveryStateView::Failed => Self::Failed,
            DeliveryStateView::Dead => Self::Dead,
        }
    }
}

/// One message's delivery.
#[derive(Debug, Clone, Object)]
pub struct DeliveryView {
    pub id: Uuid,
    /// What the message is, e.g. `password_reset`.
    pub kind: String,
    /// `essential` or `marketing`.
    pub purpose: String,
    /// `email` or `in_app`.
    pub channel: String,
    pub status: DeliveryStateView,
    pub attempts: i32,
    /// When it is tried next (`failed`), or when a sender's claim lapses (`sending`).
    #[oai(nullable)]
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The SMTP reply code (`smtp_550`) or transport failure (`connection_failed`, `timeout`).
    #[oai(nullable)]
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    #[oai(nullable)]
    pub sent_at: Option<DateTime<Utc>>,
}

impl From<DeliveryStatus> for DeliveryView {
    fn from(d: DeliveryStatus) -> Self {
        Self {
            id: d.id,
            kind: d.kind,
            purpose: d.purpose,
            channel: d.channel,
            status: d.status.into(),
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at,
            last_error: d.last_error,
            created_at: d.created_at,
            sent_at: d.sent_at,
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct DeliveryList {
    /// Newest first.
    pub items: Vec<DeliveryView>,
}

#[derive(ApiResponse)]
pub enum SenderFound {
    #[oai(status = 200)]
    Ok(Json<MessageSenderView>, #[oai(header = "ETag")] String),
}

#[derive(ApiResponse)]
pub enum DeliveriesListed {
    #[oai(status = 200)]
    Ok(Json<DeliveryList>),
}

fn sender_found(s: SenderIdentity) -> SenderFound {
    let tag = etag(s.revision);
    SenderFound::Ok(
        Json(MessageSenderView {
            from_name: s.from_name,
            from_address: s.from_address,
            reply_to: s.reply_to,
            revision: s.revision,
            updated_at: s.updated_at,
        }),
        tag,
    )
}

/// A marketing message to one person (news, offers: anything they may refuse).
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct MarketingMessageInput {
    pub person_id: Uuid,
    /// 1–200 printable characters.
    pub subject: String,
    /// 1–10000 characters.
    pub text: String,
}

impl Example for MarketingMessageInput {
    fn example() -> Self {
        Self {
            person_id: Uuid::nil(),
            subject: "New courses this spring".into(),
            text: "Enrolment for the spring courses opens on Monday.".into(),
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct QueuedMessage {
    pub id: Uuid,
}

#[derive(ApiResponse)]
pub enum MarketingMessageQueued {
    /// Queued; whether it is sent is the consent gate's decision at delivery (see
    /// `/v1/messaging/deliveries`).
    #[oai(status = 202)]
    Accepted(Json<QueuedMessage>),
}

#[derive(Default)]
pub struct MessagingApi;

#[OpenApi(prefix_path = "/v1/messaging", tag = "ApiTags::Messaging")]
impl MessagingApi {
    /// Sender identity
    ///
    /// Requires scope `tenant:admin`.
    #[oai(path = "/sender", method = "get", operation_id = "getMessageSender")]
    async fn get_sender(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
    ) -> Result<SenderFound, ApiError> {
        let identity = &state.identity;
        let found = state
            .tenancy
            .read(&auth.0, move |scope| async move {
                identity.message_sender(&scope).await
            })
            .await?;
        Ok(sender_found(found))
    }

    /// Set the sender identity
    ///
    /// Requires scope `tenant:admin` and `If-Match`. Audited.
    #[oai(path = "/sender", method = "put", operation_id = "updateMessageSender")]
    async fn update_sender(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        /// The `ETag` last read.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: Json<MessageSenderInput>,
    ) -> Result<SenderFound, ApiError> {
        let expected = require_if_match(if_match.0.as_deref())?;
        let input = body.0;
        let scope = state.tenancy.scope(&auth.0).await?;
        let updated = state
            .identity
            .set_message_sender(
                &scope,
                SenderUpdate {
                    from_name: input.from_name,
                    from_address: input.from_address,
                    reply_to: input.reply_to,
                },
                expected,
            )
            .await?;
        scope.commit().await?;
        Ok(sender_found(updated))
    }

    /// Queue a marketing message
    ///
    /// Requires scope `tenant:admin`. Queued whatever the person's consent: at delivery the
    /// consent gate decides (marketing needs a current grant under an accepted policy, and
    /// no processing restriction); a refused message is not sent and ends `dead` with
    /// `last_error` `no_marketing_consent: <reason>`. Audited.
    #[oai(
        path = "/marketing-messages",
        method = "post",
        operation_id = "queueMarketingMessage"
    )]
    async fn queue_marketing(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        body: Json<MarketingMessageInput>,
    ) -> Result<MarketingMessageQueued, ApiError> {
        let input = body.0;
        let scope = state.tenancy.scope(&auth.0).await?;
        let id = state
            .identity
            .queue_marketing_message(
                &scope,
                MarketingMessage {
                    person_id: input.person_id,
                    subject: input.subject,
                    text: input.text,
                },
            )
            .await?;
        scope.commit().await?;
        Ok(MarketingMessageQueued::Accepted(Json(QueuedMessage { id })))
    }

    /// Delivery status of messages
    ///
    /// Requires scope `tenant:admin`. Newest first; kind, status, attempts and last error of
    /// each message, never its recipient or text.
    #[oai(path = "/deliveries", method = "get", operation_id = "listDeliveries")]
    async fn list_deliveries(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        /// Only messages in this state.
        status: Query<Option<DeliveryStateView>>,
        /// 1–200, default 50.
        limit: Query<Option<u64>>,
    ) -> Result<DeliveriesListed, ApiError> {
        let (status, limit) = (status.0.map(Into::into), limit.0.unwrap_or(50));
        let found = state
            .tenancy
            .read(&auth.0, move |scope| async move {
                outbox::deliveries(&scope, status, limit).await
            })
            .await?;
        Ok(DeliveriesListed::Ok(Json(DeliveryList {
            items: found.into_iter().map(Into::into).collect(),
        })))
    }
}

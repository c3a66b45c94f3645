//! Asking the ledger what became of an event: the receipt lookups (by
//! key, or by the event itself) and the reading of their answers.
//! Rationale: the one request-reply exchange of the publisher, used by
//! the retry of late events and by callers (tests, recovery tools).

use crate::error::error;
use crate::{event_headers, Kind, Outgoing, PublishError, Publisher};
use muster_proto::entry::Receipt;
use muster_proto::requests::ReceiptRequest;

impl Publisher {
    /// The ledger's receipt of (source, id), if it recorded the event: the
    /// first entry under the key. `None` too when no ledger answers in
    /// time (it is down or busy): the caller publishes again, which is
    /// always safe.
    pub async fn lookup(&self, source: &str, id: &str) -> Result<Option<Receipt>, PublishError> {
        let request = ReceiptRequest { source: source.to_owned(), id: id.to_owned() };
        let body = serde_json::to_vec(&request).expect("a lookup request encodes");
        let asked = self.client.request(self.topology.lookup_subject(source), body.into());
        self.lookup_reply(source, id, asked).await
    }

    /// The ledger's receipt of this very event, if it recorded it: the
    /// lookup carries the event as published, so a changed event under a
    /// used id gets its own rejection (`duplicate_id_different_content`),
    /// never the original's receipt. `None` as for [`Publisher::lookup`].
    pub async fn lookup_event(&self, event: &Outgoing) -> Result<Option<Receipt>, PublishError> {
        let subject = self.topology.lookup_subject(&event.source);
        let asked = self.client.request_with_headers(subject, event_headers(event), event.payload.clone().into());
        self.lookup_reply(&event.source, &event.id, asked).await
    }

    async fn lookup_reply(
        &self,
        source: &str,
        id: &str,
        asked: impl std::future::Future<Output = Result<async_nats::Message, async_nats::RequestError>>,
    ) -> Result<Option<Receipt>, PublishError> {
        let reply = match tokio::time::timeout(self.config.receipt_wait, asked).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(e)) if e.kind() == async_nats::RequestErrorKind::NoResponders => return Ok(None),
            // Timed out, or the connection is down (a server restarting):
            // not known to be recorded, which a re-publish settles.
            Ok(Err(e)) => {
                tracing::debug!(%source, %id, error = %e, "receipt lookup failed");
                return Ok(None);
            }
            Err(_) => return Ok(None),
        };
        serde_json::from_slice::<Option<Receipt>>(&reply.payload).map_err(|e| {
            error(
                Kind::BadAnswer,
                "the ledger's answer to a receipt lookup",
                format!("{e}: {}", String::from_utf8_lossy(&reply.payload)),
            )
        })
    }
}

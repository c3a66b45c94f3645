//! Receipt lookups: a publisher that missed a receipt asks the ledger
//! (`<prefix>.lookup.<source>`), which answers from its (source, id)
//! index between commits.

use crate::args::LEDGER_CONSUMER;
use crate::intake::intake_events;
use futures_util::StreamExt;
use muster_bus::Topology;
use muster_ledger::{Incoming, Ledger, LedgerError};
use muster_proto::entry::Receipt;
use muster_proto::requests::ReceiptRequest;
use muster_proto::{cloudevents, codec, limits, ReasonCode};
use std::sync::{Arc, RwLock};

/// Answers receipt lookups (from the ledger's (source, id) index) until
/// the returned task is aborted.
pub(crate) async fn serve(
    client: &async_nats::Client,
    topology: &Topology,
    ledger: &Arc<RwLock<Ledger>>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let lookups = client
        .queue_subscribe(topology.lookup_filter(), LEDGER_CONSUMER.into())
        .await
        .map_err(|e| anyhow::anyhow!("subscribing to receipt lookups: {e}"))?;
    Ok(tokio::spawn(answer_all(client.clone(), lookups, ledger.clone())))
}

/// Answers each lookup: the receipt as JSON, `null` when nothing was
/// recorded, or a `{"code", "message"}` object for a request that is not
/// one.
async fn answer_all(client: async_nats::Client, mut requests: async_nats::Subscriber, ledger: Arc<RwLock<Ledger>>) {
    while let Some(request) = requests.next().await {
        let Some(reply) = request.reply else { continue };
        let answer = tokio::task::block_in_place(|| {
            answer(&ledger, &request.subject, request.headers.as_ref(), &request.payload)
        });
        if let Err(error) = client.publish(reply, answer.into()).await {
            tracing::warn!(%error, "could not answer a receipt lookup");
        }
    }
}

/// A lookup refused, with the code and message it is answered with.
struct Refusal(ReasonCode, String);

/// A lookup is either by key (JSON `{"source", "id"}`: the first entry
/// under it, the one in force) or of an event message (the very headers
/// and payload that were published, with an event's content type: the
/// receipt of that content, which for a changed event under a used id is
/// its `duplicate_id_different_content` rejection).
fn answer(ledger: &RwLock<Ledger>, subject: &str, headers: Option<&async_nats::HeaderMap>, payload: &[u8]) -> Vec<u8> {
    let content_type = headers.and_then(|h| h.get(muster_bus::CONTENT_TYPE_HEADER)).map(|v| v.as_str());
    let found = match content_type {
        Some(cloudevents::CONTENT_TYPE | codec::CONTENT_TYPE) => of_message(ledger, subject, headers, payload),
        Some(cloudevents::BATCH_CONTENT_TYPE) => Err(Refusal(
            ReasonCode::MalformedPayload,
            "a lookup names one event: look a batch's events up one at a time".into(),
        )),
        _ => by_key(ledger, subject, payload),
    };
    match found {
        Ok(Ok(receipt)) => serde_json::to_vec(&receipt).expect("a receipt encodes"),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "receipt lookup failed");
            serde_json::json!({ "code": "internal", "message": e.to_string() }).to_string().into_bytes()
        }
        Err(Refusal(code, message)) => {
            serde_json::json!({ "code": code.as_str(), "message": message }).to_string().into_bytes()
        }
    }
}

type Found = Result<Result<Option<Receipt>, LedgerError>, Refusal>;

fn by_key(ledger: &RwLock<Ledger>, subject: &str, payload: &[u8]) -> Found {
    let bad = |message: String| Refusal(ReasonCode::MalformedPayload, message);
    if payload.len() > limits::LOOKUP_REQUEST_BYTES_MAX {
        let limit = limits::LOOKUP_REQUEST_BYTES_MAX;
        return Err(bad(format!("a lookup of {} bytes; the limit is {limit}", payload.len())));
    }
    let request: ReceiptRequest = serde_json::from_slice(payload)
        .map_err(|e| bad(format!("not a receipt lookup ({{\"source\", \"id\"}}): {e}")))?;
    // Only on the source's own subject: a publisher allowed to ask about
    // its own events learns nothing of another's.
    if !Topology::subject_is_of(subject, &request.source) {
        return Err(Refusal(
            ReasonCode::SourceNotOfSubject,
            format!("a lookup of source {:?} on {subject}, which is not its lookup subject", request.source),
        ));
    }
    Ok(ledger.read().expect("ledger lock").receipt(&request.source, &request.id))
}

/// The event a lookup carries, decoded exactly as the intake decodes it
/// (and so bound to the lookup subject's source the same way).
fn of_message(
    ledger: &RwLock<Ledger>,
    subject: &str,
    headers: Option<&async_nats::HeaderMap>,
    payload: &[u8],
) -> Found {
    if payload.len() > limits::PAYLOAD_BYTES_MAX {
        return Err(Refusal(
            ReasonCode::PayloadTooLarge,
            format!("a lookup of {} bytes; the limit is {}", payload.len(), limits::PAYLOAD_BYTES_MAX),
        ));
    }
    let [incoming] = <[Incoming; 1]>::try_from(intake_events(subject, headers, payload)).expect("one event");
    if let Incoming::Undecodable { error, .. } = &incoming {
        if error.code == ReasonCode::SourceNotOfSubject || error.id.is_none() || error.source.is_none() {
            return Err(Refusal(error.code, format!("the event names no key to look up: {}", error.message)));
        }
    }
    Ok(ledger.read().expect("ledger lock").receipt_for(incoming))
}

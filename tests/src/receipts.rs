//! Receipts as the tests read them: out of a publisher's outcomes, off a
//! receipts subscription, and in brief for comparing.

use muster_proto::entry::{Receipt, ReceiptStatus};
use muster_publisher::Outcome;
use std::time::Duration;

/// Every outcome's receipt, in the order they came; an event with none
/// fails the test, naming it.
pub fn receipts(outcomes: Vec<Outcome>) -> Vec<Receipt> {
    outcomes
        .into_iter()
        .map(|o| match o {
            Outcome::Receipt(r) => r,
            Outcome::NoReceipt { source, id, .. } => panic!("no receipt for {source}/{id}"),
        })
        .collect()
}

/// A receipt as (id, status, code, duplicate): what most tests compare.
pub fn brief(receipt: &Receipt) -> (&str, ReceiptStatus, Option<&str>, bool) {
    (receipt.id.as_str(), receipt.status, receipt.code.as_deref(), receipt.duplicate)
}

/// The next receipts message on `subscription`, which must carry exactly
/// one receipt (one event published alone), within 30 s.
pub async fn next_receipt(subscription: &mut async_nats::Subscriber) -> Receipt {
    let message = tokio::time::timeout(Duration::from_secs(30), futures_util::StreamExt::next(subscription))
        .await
        .expect("a receipts message within 30 s")
        .expect("subscribed");
    let mut receipts: Vec<Receipt> = serde_json::from_slice(&message.payload).expect("receipts");
    assert_eq!(receipts.len(), 1, "one event, one receipt");
    receipts.remove(0)
}

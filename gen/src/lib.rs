//! Deterministic, seeded generators of Muster event streams.
//!
//! - [`reform`]: the 2013–2016 police reform of `shared/DOMAIN.md` as a
//!   replayable scenario (shipped in `ops/scenarios/reform/`).
//! - [`synthetic`]: a large ledger for benchmarks (10M events by default),
//!   streamed as JSON Lines and as length-prefixed bincode envelopes.
//!
//! Generation is a plan of dated actions per HR system ([`plan`]), run in
//! timeline order against a small tracker that fills in what the HR system
//! would know (who is posted where) and emitted in the order the events
//! were keyed in. The ledger, not the generator, is the judge of validity:
//! the tests import every generated stream and require it to be accepted.

pub mod org;
pub mod plan;
pub mod reform;
pub mod rng;
pub mod synthetic;

use muster_proto::cloudevents::encode_json;
use muster_proto::wire::Envelope;

/// The events as JSON Lines (the CloudEvents contract), one per line.
pub fn to_jsonl(events: &[Envelope]) -> Vec<u8> {
    let mut out = Vec::new();
    for envelope in events {
        out.extend(encode_json(envelope));
        out.push(b'\n');
    }
    out
}

/// The HR master data as CSV: id, source, sex, born, leading, joined.
pub fn people_csv(people: &[org::Person]) -> String {
    let mut out = String::from("staff,source,sex,born,leading,joined\n");
    for p in people {
        let sex = match p.sex {
            org::Sex::Male => "M",
            org::Sex::Female => "F",
        };
        out.push_str(&format!("{},{},{sex},{},{},{}\n", p.id, p.source, p.born, p.leading, p.joined));
    }
    out
}

//! Least privilege on NATS, written from the topology: the `accounts`
//! block of a nats-server configuration giving each organisation (subject
//! prefix) its five users — HR publisher, ledger, query replica, auditor,
//! witness — each allowed exactly the subjects its role needs under its own
//! prefix, and nothing of another organisation's.
//!
//! `muster nats-accounts PREFIX…` prints it; `ops/nats/accounts.conf`
//! (included by `ops/nats/secure.conf`) is its output for `muster`, and a
//! test keeps the two equal. Rationale: the subjects come from
//! [`Topology`], the one place that names them, so permissions cannot
//! drift from what the services use.
//!
//! A user is `<role>@<prefix>.invalid`, the e-mail address in its TLS
//! client certificate (`verify_and_map`); its replies come on its own
//! inbox prefix, [`inbox_prefix`], so no user reads another's replies.

use crate::Topology;
use std::fmt::Write;

/// The roles, each with what it is for.
pub const ROLES: [(&str, &str); 5] = [
    ("hr-publisher", "An HR system: publishes events and lookups, reads its receipts."),
    ("ledger", "The ledger service (each of them, with --failover)."),
    ("query", "A query replica: reads the feed, serves queries."),
    ("auditor", "An auditor: asks queries."),
    ("witness", "A witness: asks for checkpoints and proofs, publishes its cosignatures and alarms."),
];

/// The NATS user of `role` in the organisation of `prefix`.
pub fn user(role: &str, prefix: &str) -> String {
    format!("{role}@{prefix}.invalid")
}

/// The reply-subject prefix of `role` in the organisation of `prefix`
/// (`MUSTER_NATS_INBOX_PREFIX`).
pub fn inbox_prefix(role: &str, prefix: &str) -> String {
    format!("_INBOX_{prefix}_{role}")
}

/// What `role` may publish and subscribe to, under `topology`.
fn allowed(role: &str, t: &Topology) -> (Vec<String>, Vec<String>, bool) {
    let p = &t.prefix;
    let inbox = format!("{}.>", inbox_prefix(role, p));
    let (intake, feed, dead, checkpoints) =
        (t.intake_stream(), t.feed_stream(), t.deadletter_stream(), t.checkpoints_stream());
    let lease = format!("KV_{}", t.lease_bucket());
    match role {
        "hr-publisher" => (
            vec![format!("{p}.intake.*"), format!("{p}.lookup.*"), format!("$JS.API.STREAM.INFO.{intake}")],
            vec![format!("{p}.receipts.*"), inbox],
            false,
        ),
        "ledger" => {
            let mut publish =
                vec![format!("{p}.receipts.*"), t.feed_subject(), t.deadletter_subject(), t.checkpoints_subject()];
            for stream in [&intake, &feed, &dead, &checkpoints, &lease] {
                publish.push(format!("$JS.API.STREAM.INFO.{stream}"));
                publish.push(format!("$JS.API.STREAM.CREATE.{stream}"));
            }
            // To let publishers batch on an intake made before they could.
            publish.push(format!("$JS.API.STREAM.UPDATE.{intake}"));
            publish.extend([
                format!("$JS.API.STREAM.MSG.GET.{intake}"),
                format!("$JS.API.STREAM.MSG.GET.{feed}"),
                // The durable consumer of the active ledger, the ephemeral
                // ones of standbys.
                format!("$JS.API.CONSUMER.CREATE.{intake}"),
                format!("$JS.API.CONSUMER.CREATE.{intake}.>"),
                format!("$JS.API.CONSUMER.DURABLE.CREATE.{intake}.>"),
                format!("$JS.API.CONSUMER.DELETE.{intake}.>"),
                format!("$JS.API.CONSUMER.INFO.{intake}.>"),
                format!("$JS.API.CONSUMER.MSG.NEXT.{intake}.>"),
                format!("$JS.ACK.{intake}.>"),
                // The lease (failover): the bucket's account check, reads
                // and writes of its key.
                "$JS.API.INFO".into(),
                format!("$JS.API.STREAM.MSG.GET.{lease}"),
                format!("$JS.API.DIRECT.GET.{lease}.>"),
                format!("$KV.{}.>", t.lease_bucket()),
            ]);
            (publish, vec![format!("{p}.lookup.*"), inbox], true)
        }
        "query" => (
            vec![
                format!("$JS.API.STREAM.INFO.{feed}"),
                format!("$JS.API.STREAM.MSG.GET.{feed}"),
                format!("$JS.API.CONSUMER.CREATE.{feed}"),
                format!("$JS.API.CONSUMER.CREATE.{feed}.>"),
                format!("$JS.API.CONSUMER.DELETE.{feed}.>"),
                format!("$JS.API.CONSUMER.INFO.{feed}.>"),
                format!("$JS.API.CONSUMER.MSG.NEXT.{feed}.>"),
                // `checkpoints`: the last messages, read by sequence.
                format!("$JS.API.STREAM.INFO.{checkpoints}"),
                format!("$JS.API.STREAM.MSG.GET.{checkpoints}"),
            ],
            vec![format!("{}.>", t.query_group()), "$SRV.>".into(), inbox],
            true,
        ),
        "auditor" => (vec![format!("{}.>", t.query_group()), "$SRV.>".into()], vec![inbox], false),
        "witness" => (
            vec![format!("{}.>", t.query_group()), t.witness_cosigned_subject(), t.witness_alarm_subject()],
            vec![inbox],
            false,
        ),
        other => unreachable!("no role {other}"),
    }
}

/// `key: { allow: [...] }` at `indent`, one subject a line when there
/// are more than three.
fn allow(out: &mut String, indent: &str, key: &str, subjects: &[String]) {
    let quoted: Vec<String> = subjects.iter().map(|s| format!("\"{s}\"")).collect();
    if quoted.len() <= 3 {
        writeln!(out, "{indent}{key}: {{ allow: [{}] }}", quoted.join(", ")).unwrap();
        return;
    }
    writeln!(out, "{indent}{key}: {{\n{indent}  allow: [").unwrap();
    for subject in quoted {
        writeln!(out, "{indent}    {subject}").unwrap();
    }
    writeln!(out, "{indent}  ]\n{indent}}}").unwrap();
}

/// The `accounts` block for the organisations of `prefixes` (each a
/// valid [`Topology`] prefix), all in one account.
pub fn accounts_conf(prefixes: &[&str]) -> String {
    let mut out = String::new();
    let command = format!("muster nats-accounts {}", prefixes.join(" "));
    writeln!(out, "# Generated by `{command}` (services/bus/src/permissions.rs).").unwrap();
    writeln!(out, "# Do not edit: run it again. One account; per organisation (subject").unwrap();
    writeln!(out, "# prefix) five users, each allowed its role's subjects under its own").unwrap();
    writeln!(out, "# prefix only. A user is the e-mail address in its client certificate.").unwrap();
    writeln!(out, "accounts {{\n  MUSTER {{\n    jetstream: enabled\n    users: [").unwrap();
    for prefix in prefixes {
        let topology = Topology::new(prefix);
        writeln!(out, "      # Organisation `{prefix}`: subjects {prefix}.*, streams {}_*.", topology.stream_prefix)
            .unwrap();
        for (role, what) in ROLES {
            let (publish, subscribe, responses) = allowed(role, &topology);
            writeln!(out, "      # {what}").unwrap();
            writeln!(out, "      {{").unwrap();
            writeln!(out, "        user: \"{}\"", user(role, prefix)).unwrap();
            writeln!(out, "        permissions: {{").unwrap();
            allow(&mut out, "          ", "publish", &publish);
            allow(&mut out, "          ", "subscribe", &subscribe);
            if responses {
                writeln!(out, "          # Replies to the requests it received, and to nothing else.").unwrap();
                writeln!(out, "          allow_responses: true").unwrap();
            }
            writeln!(out, "        }}\n      }}").unwrap();
        }
    }
    writeln!(out, "    ]\n  }}\n}}").unwrap();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_accounts_file_is_the_generated_one() {
        let shipped = include_str!("../../../ops/nats/accounts.conf");
        assert_eq!(shipped, accounts_conf(&["muster"]), "regenerate: muster nats-accounts muster");
    }

    #[test]
    fn every_subject_allowed_is_the_organisations_own() {
        let conf = accounts_conf(&["bureau-a", "bureau-b"]);
        let a = Topology::new("bureau-a");
        // Shared by every organisation, and carrying none's data: the
        // micro-service discovery and the JetStream account check.
        let shared = ["$SRV.>", "$JS.API.INFO"];
        for (role, _) in ROLES {
            let (publish, subscribe, _) = allowed(role, &a);
            for subject in publish.iter().chain(&subscribe) {
                let own = subject.starts_with("bureau-a.")
                    || subject.starts_with(&format!("{}.", inbox_prefix(role, "bureau-a")))
                    || subject.split('.').any(|token| {
                        token.starts_with(&format!("{}_", a.stream_prefix))
                            || token == format!("KV_{}", a.lease_bucket())
                    })
                    || shared.contains(&subject.as_str());
                assert!(own, "{role} of bureau-a may use {subject}, which is not bureau-a's");
                // No wildcard where the organisation's name stands.
                assert!(!subject.starts_with('*') && !subject.starts_with('>'), "{role}: {subject}");
            }
        }
        assert!(conf.contains("\"hr-publisher@bureau-b.invalid\""));
    }
}

//! `proto/README.md` shows real bytes: every CloudEvent example in it is a
//! line of `golden/events.jsonl` (so it decodes, and it is exactly what
//! Muster writes), every event type has an example, and the receipt example
//! reads as a `Receipt`.

use muster_proto::entry::Receipt;
use muster_proto::wire::EventBody;
use std::path::PathBuf;

fn proto_file(relative: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The contents of every ```json block.
fn json_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```json") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(block.trim_end().to_owned());
                current = None;
            }
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn every_event_example_is_a_golden_line_and_every_type_has_one() {
    let readme = proto_file("README.md");
    let golden = proto_file("golden/events.jsonl");
    let golden_lines: Vec<&str> = golden.lines().collect();
    let mut types_shown = Vec::new();
    for block in json_blocks(&readme).iter().filter(|b| b.contains("\"specversion\"")) {
        assert!(golden_lines.contains(&block.as_str()), "README example is not a golden line:\n{block}");
        let value: serde_json::Value = serde_json::from_str(block).unwrap();
        types_shown.push(value["type"].as_str().unwrap().to_owned());
    }
    for type_name in EventBody::TYPES {
        assert!(types_shown.iter().any(|t| t == type_name), "README has no example of {type_name}");
    }
}

#[test]
fn the_receipt_example_is_a_receipt() {
    let readme = proto_file("README.md");
    let receipts: Vec<String> = json_blocks(&readme).into_iter().filter(|b| b.contains("\"duplicate\"")).collect();
    assert_eq!(receipts.len(), 1);
    let receipt: Receipt = serde_json::from_str(&receipts[0]).expect("the README's receipt reads as a Receipt");
    assert_eq!(serde_json::to_string(&receipt).unwrap(), receipts[0], "and is exactly what serde writes");
}

//! `proto/REASON_CODES.md` documents exactly `ReasonCode::ALL`: every code
//! has one row, in the enum's order, and no row names a code that does not
//! exist. Rationale: codes are part of the contract, and a code nobody
//! documented is a code a publisher cannot handle.

use muster_proto::ReasonCode;
use std::path::PathBuf;

/// The table rows of the document: its lines that start with `|`, split
/// into trimmed cells, without the header and the `---` line.
fn table_rows() -> Vec<Vec<String>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("REASON_CODES.md");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    text.lines()
        .filter(|line| line.starts_with('|'))
        .map(|line| line.trim().trim_matches('|').split(" | ").map(|cell| cell.trim().to_owned()).collect::<Vec<_>>())
        .filter(|cells| cells[0] != "Code" && !cells[0].starts_with("---"))
        .collect()
}

fn code_of(row: &[String]) -> &str {
    row[0]
        .strip_prefix('`')
        .and_then(|c| c.strip_suffix('`'))
        .unwrap_or_else(|| panic!("first cell {:?} is not a `code`", row[0]))
}

#[test]
fn the_table_lists_exactly_the_reason_codes_in_order() {
    let documented: Vec<String> = table_rows().iter().map(|row| code_of(row).to_owned()).collect();
    let all: Vec<&str> = ReasonCode::ALL.iter().map(|c| c.as_str()).collect();
    for code in &all {
        assert!(documented.iter().any(|d| d == code), "`{code}` is not documented in REASON_CODES.md");
    }
    for code in &documented {
        assert!(ReasonCode::from_code(code).is_some(), "REASON_CODES.md lists `{code}`, which is not a ReasonCode");
    }
    assert_eq!(documented, all, "REASON_CODES.md lists the codes once each, in ReasonCode::ALL order");
}

#[test]
fn every_row_says_who_produces_the_code_when_and_gives_an_example() {
    for row in table_rows() {
        let code = code_of(&row);
        assert_eq!(row.len(), 4, "`{code}`: expected | Code | Produced by | When | Example message |");
        assert!(["codec", "ledger", "validator"].contains(&row[1].as_str()), "`{code}`: producer {:?}", row[1]);
        assert!(!row[2].is_empty(), "`{code}`: when?");
        assert!(
            row[3].starts_with('`') && row[3].ends_with('`') && row[3].len() > 2,
            "`{code}`: example message in backticks"
        );
    }
}
